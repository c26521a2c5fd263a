"""Notices: which team gets which notice, rendered from templates/ (jinja2), as email messages.

Rendering is strict (StrictUndefined, tasks/templating.py), so a template that needs a missing value fails at preview,
never at send. A notice says the applicant's case in words written for them: the context holds facts
(status, waitlist position, reason codes worded by templates/notices/reasons.yaml, and the words staff chose
to send, `message_to_team`), never the staff `reasons` text with its notes and names. Header values built
from answers (the subject) lose line breaks and control characters; a recipient that is not a valid
address (CR/LF, extra addresses) gets the notice refused with its reason, never sent.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import unicodedata
import zipfile
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml
from jinja2 import Template, TemplateError
from pydantic import BaseModel

from schemas.columns import (
    INITIAL_DECISION_KINDS,
    INITIAL_KIND_FOR_STATUS,
    LIFECYCLE_KIND_FOR_STATUS,
    LIFECYCLE_KINDS,
    Col,
    Derived,
    InterestCol,
    Kind,
    ReasonCode,
    Status,
)
from schemas.config import CohortConfig, NoticesConfig
from schemas.errors import StaffError, setting
from schemas.form import Form
from schemas.ledger import RunKind
from schemas.lifecycle import Action, Move
from schemas.replies import LINKED_KINDS, Choice
from schemas.states import USPS_STATES
from schemas.store import StoreCol
from schemas.suite import form_checks
from tasks.course_dates import confirm_by_moment, course_start_moment
from tasks.cutoff import DeadlineNotPassedError
from tasks.local_time import date_text, local_time_text
from tasks.messages import Notice, message_id, sender_domain, with_payload
from tasks.reply_tokens import Claim, reply_key, reply_links, unsubscribe_claim, unsubscribe_links
from tasks.sheets import SourceError
from tasks.sources import FileSource, values_to_frame
from tasks.store import action_log
from tasks.teams import current_decisions, team_rows, with_moves
from tasks.templating import TEMPLATES, template_environment
from tasks.validate import is_valid_address

REASON_SENTENCES = TEMPLATES / "notices" / "reasons.yaml"
KIND_FOR_STATUS: dict[str, Kind] = INITIAL_KIND_FOR_STATUS | LIFECYCLE_KIND_FOR_STATUS
DECISION_KINDS: frozenset[str] = INITIAL_DECISION_KINDS | LIFECYCLE_KINDS


class NoticeError(StaffError):
    """A notice cannot be prepared (a template problem, an unreadable interest list)."""


def _notices_section(config: CohortConfig) -> NoticesConfig:
    if config.notices is None:
        raise NoticeError("the cohort config has no `notices` section (subjects, confirm_by, course facts)")
    return config.notices


def common_context(config: CohortConfig) -> dict:
    notices = _notices_section(config)
    sender = parseaddr(config.email.sender)[1]
    return {
        "program": config.program,
        "cohort": config.cohort,
        "reply_to": config.email.reply_to or sender,
        "confirm_by": date_text(notices.confirm_by),
        "deadline": local_time_text(config.deadline, config.timezone),
        "course": {"summary": notices.course_summary, "start_date": date_text(notices.course_start)},
    }


# What filling a template can raise: jinja2's own errors (a missing template, bad syntax, a value the context does
# not have), and those of the Python its expressions run (a filter given the wrong type, a division by zero).
FILL_ERRORS = (TemplateError, TypeError, ValueError, ArithmeticError, LookupError)


def render_notice(kind: str, context: dict, subject_template: str) -> tuple[str, str, str]:
    """(subject, text, html) of one notice; the subject made safe for a header (`header_text`, `fold_safe`)."""
    env = template_environment()
    try:
        subject = env.from_string(subject_template).render(context)
        text = env.get_template(f"notices/{kind}.txt").render(context)
        html = env.get_template(f"notices/{kind}.html").render(context)
    except FILL_ERRORS as exc:
        raise NoticeError(f"the {kind} notice cannot be rendered: {exc.__class__.__name__}: {exc}") from None
    return fold_safe(header_text(subject)), text, html


# Joiners shape scripts and emoji sequences; every other format character (direction marks and overrides,
# zero-width spaces, BOMs) only hides or reorders text in a header.
_KEPT_FORMAT = frozenset("\u200c\u200d")
_HEADER_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # Cs: a lone surrogate cannot be encoded


def _header_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _HEADER_UNSAFE and ch not in _KEPT_FORMAT


def header_text(value: str) -> str:
    """A header value built from answers, safe to fold: each run of line or paragraph separators and control or
    format characters, with the spaces around it, becomes one space, and the ends are stripped; `=?` becomes `= ?`.

    Python's header folding splits on U+2028, U+2029, U+0085 and \\x0b-\\x1e as on CR/LF, so one such character
    in a local name would break every notice of the batch; removed, the notice goes out. And Python decodes an
    RFC 2047 encoded word in a value it is given, so `=?utf-8?q?=0D=0ABcc:_x?=` would put a line break, a forged
    header, on the wire: text from answers never holds the `=?` that starts one.
    """
    return _without_separators(value).replace("=?", "= ?")


def _without_separators(value: str) -> str:
    if value.isprintable():
        return value.strip()
    kept: list[str] = []
    gap = False
    for ch in value:
        if _header_unsafe(ch) or (gap and ch.isspace()):
            gap = True
            continue
        if gap:
            while kept and kept[-1].isspace():
                kept.pop()
            kept.append(" ")
            gap = False
        kept.append(ch)
    return "".join(kept).strip()


# Words longer than this may be written as encoded words too (Python's folder encodes a word it cannot fit).
_LONG_WORD = 40
_SPACE_RUNS = re.compile(r"( +)")


def _encoded_on_the_wire(word: str) -> bool:
    return not word.isascii() or len(word) > _LONG_WORD


def fold_safe(subject: str) -> str:
    """The subject with each space between two words that travel as RFC 2047 encoded words made a no-break space.

    Decoders ignore whitespace between two encoded words, and Python's folder (3.11, 3.12) can fold right at such a
    space, so "Educación Pública" could reach the applicant as "EducaciónPública"; a no-break space looks the same
    and travels inside the encoded word.
    """
    if subject.isascii() and len(subject) <= _LONG_WORD:
        return subject
    parts = _SPACE_RUNS.split(subject)
    for i in range(1, len(parts) - 1, 2):
        if _encoded_on_the_wire(parts[i - 1]) and _encoded_on_the_wire(parts[i + 1]):
            parts[i] = "\u00a0" * len(parts[i])
    return "".join(parts)


def decision_version(status: str, rank: object, codes: list[str], message_to_team: str = "") -> str:
    """What the applicant reads, hashed: a new version is a new notice. A changed waitlist position, reason code or
    message to the team is one; a staff note, a reordered rank of a selected team or a reworded staff reason is not.
    """
    material = status
    if status == Status.WAITLISTED:
        material += f"|{rank}"
    if status in (Status.INVALID, Status.LATE):
        material += "|" + ",".join(sorted(codes))
    if message_to_team:
        material += f"|message:{message_to_team}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def address_refusal(to: str) -> str:
    """Why a notice must not be sent: a recipient that is no valid address (CR/LF, extra addresses)."""
    if not is_valid_address(to):
        return f"recipient is not a valid address: {to[:80]!r}"
    return ""


@functools.cache
def applicant_sentences() -> dict[str, str]:
    """Reason code → the applicant's sentence (jinja2 text), from templates/notices/reasons.yaml, read once."""
    try:
        loaded = yaml.safe_load(REASON_SENTENCES.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise NoticeError(f"cannot read the reason sentences {REASON_SENTENCES}: {exc}") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, str) and v.strip() for v in loaded.values()):
        raise NoticeError(f"{REASON_SENTENCES} must map each reason code to one sentence")
    return {str(code): sentence.strip() for code, sentence in loaded.items()}


@functools.cache
def _sentence_template(code: str) -> Template:
    sentences = applicant_sentences()
    if code not in sentences:
        raise NoticeError(
            f"reason code {code!r} has no sentence for the applicant: add one to {REASON_SENTENCES.name} "
            "(templates/notices)"
        )
    return template_environment().from_string(sentences[code])


def applicant_reasons(codes: list[str], facts: dict, own: dict[str, str] | None = None) -> list[str]:
    """The applicant's sentence for each reason code, in order; a code without one stops the run (NoticeError).

    `own`: the cohort form's own words for its checks (schemas.form: `applicant:`), which come first.
    """
    made = []
    for code in codes:
        try:
            if own and str(code) in own:
                made.append(template_environment().from_string(own[str(code)]).render(facts))
                continue
            made.append(_sentence_template(str(code)).render(facts))
        except FILL_ERRORS as exc:  # e.g. a sentence naming a fact there is none of
            raise NoticeError(f"the sentence for reason code {code!r} cannot be filled: {exc}") from None
    return made


def form_sentences(config: CohortConfig) -> dict[str, str]:
    """Reason code → the applicant's words the cohort's form gives for its checks (the others are in reasons.yaml)."""
    return _form_sentences(config.the_form, config.team_size.min, config.team_size.max, config.timestamp_order)


@functools.lru_cache(maxsize=16)
def _form_sentences(form: Form, low: int, high: int, order: str) -> dict[str, str]:
    return {check.code: check.applicant for check in form_checks(form, low, high, order) if check.applicant}


def _sentence_facts(row: dict, config: CohortConfig, base: dict) -> dict:
    """What a reason sentence may name: the team's state and reserved seat, the cohort's limits and deadline."""
    return {
        "state": USPS_STATES.get(row[Col.STATE] or "", row[Col.STATE] or ""),
        "reserve": row.get(Derived.RESERVED_SEAT) or "",
        "capacity": config.capacity,
        "max_per_state": config.max_per_state,
        "deadline": base["deadline"],
        "team_size": {"min": config.team_size.min, "max": config.team_size.max},
        "program": config.program,
        "cohort": config.cohort,
    }


def _reason_codes(row: dict) -> list[str]:
    codes = row.get(Derived.REASON_CODES)
    return [str(code) for code in codes] if isinstance(codes, list | tuple) else []


def message_to_team(row: dict) -> str:
    """The words staff chose to send the team, line by line with control and format characters removed."""
    message = row.get(Derived.MESSAGE_TO_TEAM)
    if not isinstance(message, str):
        return ""
    return "\n".join(_without_separators(line) for line in message.strip().splitlines()).strip()


def _codes_of_status(status: str) -> list[str]:
    """The codes a regret falls back on when its decision has none (recorded before decisions had codes: a frozen
    selection cannot be recorded again, so its notices must still be possible)."""
    fallback: dict[str, list[str]] = {
        Status.LATE: [ReasonCode.LATE.value],
        Status.INVALID: [ReasonCode.NOT_ACCEPTED.value],
    }
    return fallback.get(status, [])


def _applicant_facts(row: dict, rank: int | None, config: CohortConfig, base: dict) -> dict:
    """The `decision` of a notice's context: only facts the applicant may read."""
    codes = _reason_codes(row) or _codes_of_status(row[Col.STATUS])
    respond_by = row.get(Derived.RESPOND_BY)
    respond_text = "" if respond_by is None or pd.isna(respond_by) else local_time_text(respond_by, config.timezone)
    return {
        "status": row[Col.STATUS],
        "rank": rank,
        "codes": codes,
        "reasons": applicant_reasons(codes, _sentence_facts(row, config, base), form_sentences(config)),
        "message_to_team": message_to_team(row),
        "respond_by": respond_text,
        # An expiry of a selection left unconfirmed (replies.expire_unconfirmed), not of an offer.
        "was_selected": row.get(Derived.DECIDED_STATUS) == Status.SELECTED,
    }


def notice_key(row: dict) -> tuple[str, str]:
    """The kind and version of a team's notice for its decision in `row` (a team row), as decision_notices makes
    it: what a reply code answers (tasks/replies.py)."""
    rank = None if pd.isna(row[Derived.RANK]) else int(row[Derived.RANK])
    codes = _reason_codes(row) or _codes_of_status(row[Col.STATUS])
    kind = KIND_FOR_STATUS[Status(row[Col.STATUS])]
    return kind, decision_version(row[Col.STATUS], rank, codes, message_to_team(row))


def _team_context(row: dict) -> dict:
    return {
        "lead_name": row[Col.LEAD_NAME] or "team lead",
        "local_name": row[Col.LOCAL_NAME] or "your local",
        "state": USPS_STATES.get(row[Col.STATE] or "", row[Col.STATE] or ""),
        "member_names": list(row[Col.MEMBER_NAMES] or []),
    }


def reply_due(row: dict, kind: str, config: CohortConfig) -> dt.datetime | None:
    """When a team's reply to its notice of `kind` is due: confirm-by for a selection, respond-by for an offer."""
    if kind == Kind.SELECTED:
        return confirm_by_moment(config)
    respond_by = row.get(Derived.RESPOND_BY)
    return None if respond_by is None or pd.isna(respond_by) else pd.Timestamp(respond_by).to_pydatetime()


def _reply_facts(row: dict, kind: str, version: str, config: CohortConfig, key: bytes | None) -> dict:
    """The team's reply links (`decision.reply.confirm`, `.decline`) and when its reply is due, for a notice that
    carries them; empty without a reply form."""
    if key is None or config.replies is None or kind not in LINKED_KINDS:
        return {}
    links = reply_links(config.replies, key, Claim(config.cohort_id, row[Derived.APPLICANT], kind, version))
    due = reply_due(row, kind, config)
    if kind == Kind.SELECTED:
        shown = date_text(_notices_section(config).confirm_by)  # the confirm-by day, as `confirm_by` says it
    else:
        shown = "" if due is None else local_time_text(due, config.timezone)
    return {
        "confirm": links[Choice.CONFIRM],
        "decline": links[Choice.DECLINE],
        "by": shown,
        "seat": kind == Kind.OFFER,  # an offered seat, or a place of the selection
        "lapses": kind == Kind.SELECTED and config.replies.expire_unconfirmed,  # silence loses the place
    }


def decision_notices(
    decided: pd.DataFrame, config: CohortConfig, domain: str, as_of: dt.datetime | None = None
) -> list[Notice]:
    """One notice per team for its current decision (its latest row that is not a duplicate), in sheet order; with
    a reply form, the selected and offer notices carry the team's reply links.

    A notice after a change (offer, confirmation, …) is refused once the course has started (as of `as_of`).
    """
    base = common_context(config)
    notices = _notices_section(config)
    rows = team_rows(decided)
    start = course_start_moment(config)
    too_late = as_of is not None and start is not None and as_of >= start
    key = reply_key(config) if config.replies is not None else None
    made = []
    for row in rows.to_dict(orient="records"):
        kind, version = notice_key(row)
        rank = None if pd.isna(row[Derived.RANK]) else int(row[Derived.RANK])
        decision = _applicant_facts(row, rank, config, base)
        decision["reply"] = _reply_facts(row, kind, version, config, key)
        context = base | {"team": _team_context(row), "decision": decision}
        subject, text, html = render_notice(kind, context, notices.subjects[kind])
        refusal = ""
        if too_late and kind in LIFECYCLE_KINDS:
            refusal = f"the course started on {date_text(notices.course_start)}: no notice after the start"
        made.append(_team_notice(row, config, domain, (kind, version), (subject, text, html), refusal))
    return [with_payload(n, config) for n in made]


def _team_notice(
    row: dict, config: CohortConfig, domain: str, key: tuple[str, str], rendered: tuple[str, str, str], refusal: str
) -> Notice:
    """A notice to the team's lead (the submitter in cc when usable), refused when the lead's address is not one."""
    kind, version = key
    subject, text, html = rendered
    to = str(row[Col.LEAD_EMAIL] or "")
    cc = str(row[Col.SUBMITTER_EMAIL] or "")
    cc = "" if cc == to or not is_valid_address(cc) else cc  # an unusable cc never holds back the lead's notice
    return Notice(
        applicant=row[Derived.APPLICANT],
        kind=kind,
        version=version,
        to=to,
        cc=cc,
        subject=subject,
        text=text,
        html=html,
        message_id=message_id(config.cohort_id, row[Derived.APPLICANT], kind, version, domain),
        refusal=address_refusal(to) or refusal,
        people=[name for name in [row[Col.LEAD_NAME], *(row[Col.MEMBER_NAMES] or [])] if name],
    )


def offers_made_at(engine: sa.Engine, cohort: str, moves: list[Move]) -> dict[str, dt.datetime]:
    """When each team's latest offer was made (recorded, or among `moves`), on the call's clock (the offer's `at`,
    the moment its run was made as of): its reply reminders come after it."""
    log = with_moves(action_log(engine, cohort), moves)
    offers = log[log[StoreCol.ACTION] == Action.OFFER].drop_duplicates(Derived.APPLICANT, keep="last")
    made = pd.to_datetime(offers[StoreCol.AT], utc=True)  # a store that keeps no zone (SQLite) keeps UTC
    return {str(team): at.to_pydatetime() for team, at in zip(offers[Derived.APPLICANT], made, strict=True)}


def reply_reminders(
    decided: pd.DataFrame,
    config: CohortConfig,
    domain: str,
    as_of: dt.datetime,
    offered_at: Mapping[str, dt.datetime] | None = None,
) -> list[Notice]:
    """A reply_reminder for each selected or offered team (no reply recorded) whose reply is not yet due but whose
    latest reminder moment (`replies.remind` hours before) has come: one per team, decision and moment.

    A moment at or before the team's decision began (its offer, `offered_at` by team; the deadline, after which the
    first notices go, for a selection) is no reminder: an offer is never reminded in the run that makes it."""
    offered_at = offered_at or {}
    if config.replies is None or not config.replies.remind:
        return []
    base = common_context(config)
    notices = _notices_section(config)
    key = reply_key(config)
    made = []
    for row in team_rows(decided).to_dict(orient="records"):
        kind, version = notice_key(row)
        due = reply_due(row, kind, config) if kind in LINKED_KINDS else None
        if due is None or as_of >= due:
            continue
        start = offered_at.get(row[Derived.APPLICANT]) if kind == Kind.OFFER else config.deadline
        passed = [
            hours
            for hours in config.replies.remind
            if due - dt.timedelta(hours=hours) <= as_of and (start is None or due - dt.timedelta(hours=hours) > start)
        ]
        if not passed:
            continue
        hours = min(passed)  # the latest moment that has come; an earlier one not yet sent is superseded by it
        rank = None if pd.isna(row[Derived.RANK]) else int(row[Derived.RANK])
        decision = _applicant_facts(row, rank, config, base)
        decision["reply"] = _reply_facts(row, kind, version, config, key)
        decision["reply_by"] = decision["reply"]["by"]
        context = base | {"team": _team_context(row), "decision": decision}
        rendered = render_notice(Kind.REPLY_REMINDER, context, notices.subjects[Kind.REPLY_REMINDER])
        reminder = (Kind.REPLY_REMINDER.value, f"{kind}:{version}:{hours}h")
        made.append(_team_notice(row, config, domain, reminder, rendered, ""))
    return [with_payload(n, config) for n in made]


def read_interest_list(path: Path) -> pd.DataFrame:
    """The "not yet ready" list: name, email, local, state, date; one row per address (first kept)."""
    try:
        frame = values_to_frame(FileSource(path).read_values())
    except (SourceError, LookupError, zipfile.BadZipFile) as exc:  # openpyxl: KeyError for a zip that is no workbook
        raise NoticeError(f"cannot read the interest list {path}: {exc}") from None
    frame.columns = [str(c).strip().casefold() for c in frame.columns]
    missing = {InterestCol.NAME, InterestCol.EMAIL} - set(frame.columns)
    if missing:
        raise NoticeError(f"the interest list {path} lacks column(s) {', '.join(sorted(missing))}")
    for column in (InterestCol.LOCAL, InterestCol.STATE, InterestCol.DATE):
        if column not in frame.columns:
            frame[column] = ""
    frame[InterestCol.EMAIL] = frame[InterestCol.EMAIL].str.strip().str.lower()
    frame[InterestCol.NAME] = frame[InterestCol.NAME].str.strip()
    return frame[frame[InterestCol.EMAIL] != ""].drop_duplicates(InterestCol.EMAIL, keep="first")


def interest_notices(
    people: pd.DataFrame,
    already_notified: set[str],
    config: CohortConfig,
    domain: str,
    unsubscribed: frozenset[str] = frozenset(),
) -> list[Notice]:
    """The future-opportunities notice for each address not already getting a decision notice; with a reply form,
    each carries its unsubscribe link and List-Unsubscribe header, and one to an address that asked to hear no
    more (`unsubscribed`, casefolded) is refused."""
    base = common_context(config)
    subject_template = _notices_section(config).subjects[Kind.INTEREST]
    key = reply_key(config) if config.replies is not None else None
    made = []
    for person in people[~people[InterestCol.EMAIL].isin(already_notified)].to_dict(orient="records"):
        email, name, local = person[InterestCol.EMAIL], person[InterestCol.NAME], person[InterestCol.LOCAL]
        link, headers = _unsubscribe(config, key, email)
        context = base | {"person": {"name": name or "colleague", "local": local.strip()}, "unsubscribe": link}
        subject, text, html = render_notice(Kind.INTEREST, context, subject_template)
        refusal = address_refusal(email)
        if not refusal and email.casefold() in unsubscribed:
            refusal = "the address asked to hear no more (the reply form's unsubscribe)"
        made.append(
            Notice(
                applicant=email,
                kind=Kind.INTEREST,
                version="1",
                to=email,
                subject=subject,
                text=text,
                html=html,
                message_id=message_id(config.cohort_id, email, Kind.INTEREST, "1", domain),
                refusal=refusal,
                people=[name] if name else [],
                headers=headers,
            )
        )
    return [with_payload(n, config) for n in made]


def _unsubscribe(config: CohortConfig, key: bytes | None, address: str) -> tuple[str, dict[str, str]]:
    """The unsubscribe link for the message and its List-Unsubscribe headers (one-click, RFC 8058); none without
    a reply form."""
    if key is None or config.replies is None:
        return "", {}
    link, one_click = unsubscribe_links(config.replies, key, unsubscribe_claim(config, address))
    return link, {"List-Unsubscribe": f"<{one_click}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


RUN_KINDS: dict[RunKind, frozenset[str]] = {
    RunKind.DECISIONS: DECISION_KINDS,
    RunKind.LIFECYCLE: LIFECYCLE_KINDS | {Kind.REPLY_REMINDER},
    RunKind.INTEREST: frozenset({Kind.INTEREST}),
    RunKind.REVIEW_ASSIGNMENTS: frozenset({Kind.REVIEW_ASSIGNMENT}),
    RunKind.REVIEW_REMINDERS: frozenset({Kind.REVIEW_REMINDER}),
}


def kinds_of(kind: str) -> frozenset[str]:
    """The notice kinds one run handles: every decision notice, only those after a change, the interest list, or
    one of the reviewers' kinds."""
    return RUN_KINDS[RunKind(kind)]


class NoticePlan(BaseModel):
    """The notices of one run and what they were planned from: a send delivers them only while the store still
    holds that selection and that sequence of lifecycle actions (tasks/delivery.py)."""

    run: RunKind
    selection_id: int | None
    actions_seq: int
    notices: list[Notice]
    moves: list[Move] = []  # lifecycle changes this plan assumes, recorded by the send that delivers it


def plan_notices(
    engine,
    config: CohortConfig,
    kind: str,
    as_of: dt.datetime,
    moves: list[Move] | None = None,
    unsubscribed: frozenset[str] = frozenset(),
) -> NoticePlan:
    """Decision notices from the selection as it stands (the frozen one with every recorded change once notices
    are out, plus `moves` not yet recorded; never before the deadline or from a preview), or the interest-list
    notices."""
    run = RunKind(kind)
    head, decided = current_decisions(engine, config.cohort_id, moves)
    domain = sender_domain(config)
    decisions = decision_notices(decided, config, domain, as_of)
    moves = moves or []
    if run in (RunKind.DECISIONS, RunKind.LIFECYCLE):
        if as_of < config.deadline:
            raise DeadlineNotPassedError(
                "decision notices cannot go out before the deadline "
                f"({local_time_text(config.deadline, config.timezone)})"
            )
        if head.provisional:
            raise NoticeError(
                f"the latest selection is provisional (made with {setting('preview')}): run the selection again "
                "without it, after the deadline"
            )
        if run == RunKind.DECISIONS:
            chosen = decisions
        else:
            later = [n for n in decisions if n.kind in LIFECYCLE_KINDS]
            offered_at = offers_made_at(engine, config.cohort_id, moves)
            chosen = later + reply_reminders(decided, config, domain, as_of, offered_at)
    else:
        if config.interest_list is None:
            raise NoticeError("the cohort config has no `interest_list` file")
        notified = {n.to for n in decisions} | {n.cc for n in decisions if n.cc}
        people = read_interest_list(config.interest_list)
        chosen = interest_notices(people, notified, config, domain, unsubscribed)
    seq = head.actions_seen + len(moves)
    return NoticePlan(run=run, selection_id=head.id, actions_seq=seq, notices=chosen, moves=moves)
