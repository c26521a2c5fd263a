"""Notices: which team gets which notice, rendered from templates/ (jinja2), as email messages.

Rendering is strict (StrictUndefined), so a template that needs a missing value fails at preview,
never at send. Recipients and subjects are checked before a message is built: a notice whose address
or subject would carry CR/LF or extra addresses is refused with its reason and never sent.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import functools
import hashlib
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel

from schemas.columns import (
    INITIAL_DECISION_KINDS,
    INITIAL_KIND_FOR_STATUS,
    LIFECYCLE_KIND_FOR_STATUS,
    LIFECYCLE_KINDS,
    Col,
    Kind,
    Out,
    Status,
)
from schemas.config import CohortConfig
from schemas.states import USPS_STATES
from tasks.cutoff import DeadlineNotPassedError, local_time_text
from tasks.lifecycle import course_start_moment, current_decisions, team_rows
from tasks.sources import FileSource, values_to_frame
from tasks.store import message_id
from tasks.validate import REASON_SEPARATOR, is_valid_address

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
KIND_FOR_STATUS: dict[str, Kind] = INITIAL_KIND_FOR_STATUS | LIFECYCLE_KIND_FOR_STATUS
DECISION_KINDS: frozenset[str] = INITIAL_DECISION_KINDS | LIFECYCLE_KINDS


class NoticeError(Exception):
    """A notice cannot be prepared (a template problem, an unreadable interest list)."""


class Notice(BaseModel):
    """One message to one applicant; `refusal` says why it must not be sent, if so."""

    applicant: str
    kind: str
    version: str
    to: str
    cc: str = ""
    subject: str
    text: str
    html: str
    message_id: str
    refusal: str = ""
    payload: bytes = b""  # the message as sent, built once when the notice is planned


@functools.cache
def template_environment() -> Environment:
    """One environment per process: templates compile once."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=True,
    )


def _date_text(day) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def _common_context(config: CohortConfig) -> dict:
    if config.notices is None:
        raise NoticeError("the cohort config has no `notices` section (subjects, confirm_by, course facts)")
    sender = parseaddr(config.email.sender)[1]
    return {
        "program": config.program,
        "cohort": config.cohort,
        "reply_to": config.email.reply_to or sender,
        "confirm_by": _date_text(config.notices.confirm_by),
        "deadline": local_time_text(config.deadline, config.timezone),
        "course": {"summary": config.notices.course_summary, "start_date": _date_text(config.notices.course_start)},
    }


def _render(kind: str, context: dict, subject_template: str) -> tuple[str, str, str]:
    env = template_environment()
    try:
        subject = env.from_string(subject_template).render(context)
        text = env.get_template(f"notices/{kind}.txt").render(context)
        html = env.get_template(f"notices/{kind}.html").render(context)
    except Exception as exc:  # jinja2 raises several types; all mean the template cannot be filled
        raise NoticeError(f"the {kind} notice cannot be rendered: {exc.__class__.__name__}: {exc}") from None
    return subject, text, html


def decision_version(status: str, rank: object, reasons: str) -> str:
    """What the notice says: a changed waitlist position or reason is a new version, a reordered rank is not."""
    material = status
    if status == Status.WAITLISTED:
        material += f"|{rank}"
    if status in (Status.INVALID, Status.LATE):
        material += f"|{reasons}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def _refusal(to: str, subject: str) -> str:
    if not is_valid_address(to):
        return f"recipient is not a valid address: {to[:80]!r}"
    if any(ch in subject for ch in "\r\n\x00"):
        return "subject would carry a line break from the application"
    return ""


def decision_notices(
    decided: pd.DataFrame, config: CohortConfig, domain: str, as_of: dt.datetime | None = None
) -> list[Notice]:
    """One notice per team for its current decision (its latest row that is not a duplicate), in sheet order.

    A notice after a change (offer, confirmation, …) is refused once the course has started (as of `as_of`).
    """
    base = _common_context(config)
    rows = team_rows(decided)
    start = course_start_moment(config)
    too_late = as_of is not None and start is not None and as_of >= start
    made = []
    for row in rows.to_dict(orient="records"):
        kind = KIND_FOR_STATUS[Status(row[Col.STATUS])]
        reasons = [r for r in str(row[Col.REASONS]).split(REASON_SEPARATOR) if r]
        rank = None if pd.isna(row[Out.RANK]) else int(row[Out.RANK])
        respond_by = row.get(Out.RESPOND_BY)
        respond_text = "" if respond_by is None or pd.isna(respond_by) else local_time_text(respond_by, config.timezone)
        context = base | {
            "team": {
                "lead_name": row[Col.LEAD_NAME] or "team lead",
                "local_name": row[Col.LOCAL_NAME] or "your local",
                "state": USPS_STATES.get(row[Col.STATE] or "", row[Col.STATE] or ""),
                "member_names": list(row[Col.MEMBER_NAMES] or []),
            },
            "decision": {
                "status": row[Col.STATUS],
                "rank": rank,
                "reason": row[Col.REASONS],
                "reasons": reasons,
                "respond_by": respond_text,
                "reserved_seat": row.get(Out.RESERVED_SEAT) or "",
            },
        }
        subject, text, html = _render(kind, context, config.notices.subjects[kind])
        to = str(row[Col.LEAD_EMAIL] or "")
        cc = str(row[Col.SUBMITTER_EMAIL] or "")
        cc = "" if cc == to or not is_valid_address(cc) else cc  # an unusable cc never holds back the lead's notice
        version = decision_version(row[Col.STATUS], rank, str(row[Col.REASONS]))
        refusal = _refusal(to, subject)
        if too_late and kind in LIFECYCLE_KINDS and not refusal:
            refusal = f"the course started on {_date_text(config.notices.course_start)}: no notice after the start"
        made.append(
            Notice(
                applicant=row[Out.APPLICANT],
                kind=kind,
                version=version,
                to=to,
                cc=cc,
                subject=subject,
                text=text,
                html=html,
                message_id=message_id(config.cohort, row[Out.APPLICANT], kind, version, domain),
                refusal=refusal,
            )
        )
    return [with_payload(n, config) for n in made]


def read_interest_list(path: Path) -> pd.DataFrame:
    """The "not yet ready" list: name, email, local, state, date; one row per address (first kept)."""
    try:
        frame = values_to_frame(FileSource(path).read_values())
    except Exception as exc:
        raise NoticeError(f"cannot read the interest list {path}: {exc}") from None
    frame.columns = [str(c).strip().casefold() for c in frame.columns]
    missing = {"name", "email"} - set(frame.columns)
    if missing:
        raise NoticeError(f"the interest list {path} lacks column(s) {', '.join(sorted(missing))}")
    for column in ("local", "state", "date"):
        if column not in frame.columns:
            frame[column] = ""
    frame["email"] = frame["email"].str.strip().str.lower()
    frame["name"] = frame["name"].str.strip()
    return frame[frame["email"] != ""].drop_duplicates("email", keep="first")


def interest_notices(
    people: pd.DataFrame, already_notified: set[str], config: CohortConfig, domain: str
) -> list[Notice]:
    """The future-opportunities notice for each address not already getting a decision notice."""
    base = _common_context(config)
    made = []
    for person in people[~people["email"].isin(already_notified)].to_dict(orient="records"):
        context = base | {"person": {"name": person["name"] or "colleague", "local": person["local"].strip()}}
        subject, text, html = _render("interest", context, config.notices.subjects["interest"])
        made.append(
            Notice(
                applicant=person["email"],
                kind="interest",
                version="1",
                to=person["email"],
                subject=subject,
                text=text,
                html=html,
                message_id=message_id(config.cohort, person["email"], "interest", "1", domain),
                refusal=_refusal(person["email"], subject),
            )
        )
    return [with_payload(n, config) for n in made]


def build_message(notice: Notice, config: CohortConfig) -> EmailMessage:
    """A multipart/alternative message (plain text + HTML) with the notice's fixed Message-ID."""
    message = EmailMessage()
    message["From"] = config.email.sender
    message["To"] = notice.to
    if notice.cc:
        message["Cc"] = notice.cc
    if config.email.reply_to:
        message["Reply-To"] = config.email.reply_to
    message["Subject"] = notice.subject
    message["Message-ID"] = notice.message_id
    message.set_content(notice.text)
    message.add_alternative(notice.html, subtype="html")
    return message


def needs_smtputf8(notice: Notice) -> bool:
    """Internationalized addresses (zoë@…) must travel as UTF-8 (RFC 6531), never as encoded words."""
    return not (notice.to + notice.cc).isascii()


def message_bytes(notice: Notice, config: CohortConfig) -> bytes:
    """The message as it goes on the wire and into the outbox."""
    policy = email.policy.SMTPUTF8 if needs_smtputf8(notice) else email.policy.SMTP
    return build_message(notice, config).as_bytes(policy=policy)


def with_payload(notice: Notice, config: CohortConfig) -> Notice:
    """The notice with its wire bytes, so the outbox and the sender use the very same message."""
    if notice.refusal:
        return notice
    return notice.model_copy(update={"payload": message_bytes(notice, config)})


def sender_domain(config: CohortConfig) -> str:
    address = parseaddr(config.email.sender)[1]
    try:
        return Address(addr_spec=address).domain or "cohort-select.local"
    except (ValueError, IndexError):
        return "cohort-select.local"


def kinds_of(kind: str) -> frozenset[str]:
    """The notice kinds one run handles: every decision notice, only those after a change, or the interest list."""
    return {"decisions": DECISION_KINDS, "lifecycle": LIFECYCLE_KINDS}.get(kind, frozenset({Kind.INTEREST}))


def plan_notices(engine, config: CohortConfig, kind: str, as_of: dt.datetime) -> list[Notice]:
    """Decision notices from the selection as it stands (the frozen one with every recorded change once notices
    are out; never before the deadline or from a preview), or the interest-list notices."""
    head, decided = current_decisions(engine, config.cohort)
    domain = sender_domain(config)
    decisions = decision_notices(decided, config, domain, as_of)
    if kind in ("decisions", "lifecycle"):
        if as_of < config.deadline:
            raise DeadlineNotPassedError(
                "decision notices cannot go out before the deadline "
                f"({local_time_text(config.deadline, config.timezone)})"
            )
        if head["provisional"]:
            raise NoticeError("the latest selection is provisional (--preview): run `cohort-select select` again")
        return decisions if kind == "decisions" else [n for n in decisions if n.kind in LIFECYCLE_KINDS]
    if config.interest_list is None:
        raise NoticeError("the cohort config has no `interest_list` file")
    notified = {n.to for n in decisions} | {n.cc for n in decisions if n.cc}
    return interest_notices(read_interest_list(config.interest_list), notified, config, domain)
