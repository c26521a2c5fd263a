"""Notices: which team gets which notice, rendered from templates/ (jinja2), as email messages.

Rendering is strict (StrictUndefined), so a template that needs a missing value fails at preview,
never at send. Recipients and subjects are checked before a message is built: a notice whose address
or subject would carry CR/LF or extra addresses is refused with its reason and never sent.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
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
from schemas.errors import StaffError
from schemas.ledger import RunKind
from schemas.states import USPS_STATES
from tasks.cutoff import DeadlineNotPassedError, local_time_text
from tasks.lifecycle import course_start_moment, current_decisions, team_rows
from tasks.messages import Notice, message_id, sender_domain, with_payload
from tasks.sources import FileSource, values_to_frame
from tasks.validate import REASON_SEPARATOR, is_valid_address

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
KIND_FOR_STATUS: dict[str, Kind] = INITIAL_KIND_FOR_STATUS | LIFECYCLE_KIND_FOR_STATUS
DECISION_KINDS: frozenset[str] = INITIAL_DECISION_KINDS | LIFECYCLE_KINDS


class NoticeError(StaffError):
    """A notice cannot be prepared (a template problem, an unreadable interest list)."""


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
                message_id=message_id(config.cohort_id, row[Out.APPLICANT], kind, version, domain),
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
                message_id=message_id(config.cohort_id, person["email"], "interest", "1", domain),
                refusal=_refusal(person["email"], subject),
            )
        )
    return [with_payload(n, config) for n in made]


def kinds_of(kind: str) -> frozenset[str]:
    """The notice kinds one run handles: every decision notice, only those after a change, or the interest list."""
    return {RunKind.DECISIONS: DECISION_KINDS, RunKind.LIFECYCLE: LIFECYCLE_KINDS}.get(
        RunKind(kind), frozenset({Kind.INTEREST})
    )


class NoticePlan(BaseModel):
    """The notices of one run and what they were planned from: a send delivers them only while the store still
    holds that selection and that sequence of lifecycle actions (tasks/delivery.py)."""

    run: RunKind
    selection_id: int | None
    actions_seq: int
    notices: list[Notice]
    moves: list[dict] = []  # lifecycle changes this plan assumes, recorded by the send that delivers it


def plan_notices(
    engine, config: CohortConfig, kind: str, as_of: dt.datetime, moves: list[dict] | None = None
) -> NoticePlan:
    """Decision notices from the selection as it stands (the frozen one with every recorded change once notices
    are out, plus `moves` not yet recorded; never before the deadline or from a preview), or the interest-list
    notices."""
    run = RunKind(kind)
    head, decided = current_decisions(engine, config.cohort_id, moves or [])
    domain = sender_domain(config)
    decisions = decision_notices(decided, config, domain, as_of)
    plan = {"run": run, "selection_id": head["id"], "actions_seq": head["actions_seen"], "moves": moves or []}
    if run in (RunKind.DECISIONS, RunKind.LIFECYCLE):
        if as_of < config.deadline:
            raise DeadlineNotPassedError(
                "decision notices cannot go out before the deadline "
                f"({local_time_text(config.deadline, config.timezone)})"
            )
        if head["provisional"]:
            raise NoticeError("the latest selection is provisional (--preview): run `cohort-select select` again")
        chosen = decisions if run == RunKind.DECISIONS else [n for n in decisions if n.kind in LIFECYCLE_KINDS]
        return NoticePlan(**plan, notices=chosen)
    if config.interest_list is None:
        raise NoticeError("the cohort config has no `interest_list` file")
    notified = {n.to for n in decisions} | {n.cc for n in decisions if n.cc}
    people = interest_notices(read_interest_list(config.interest_list), notified, config, domain)
    return NoticePlan(**plan, notices=people)
