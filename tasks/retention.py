"""Retention: once the period after the course start has passed (`retention:` in the cohort file), the call's
applicant personal data is removed from the state store and the output folders, by `cohort-select purge`.

What goes: names, addresses, phone numbers and every free-text answer or note that may name a person (the
staff `reasons` of each decision, staff notes on actions and approvals, subjects, SMTP servers' words), the outbox
messages. What stays: counts, statuses, ranks, scores, reason codes, US states, times, reserve names, the audit of
actions (which staff member or run did what, when) and each team's key made pseudonymous, so counts per team and
the audit still join.

A team key `NY:troy education association` becomes `NY:team-3f9a1c2b4d5e` (an interest-list address `person-…`):
an HMAC-SHA256 whose key is a digest of the personal data of the cohort's first recorded selection with rows. That
key is computed from the store before the purge and written nowhere; the purge then removes what it was made
from, so afterwards nobody can compute it again, and a pseudonym can be neither reversed nor confirmed by trying
names. Until the store's purge has committed, every run computes the same key (a recorded selection never
changes), so a purge cut off midway and run again gives files and store the same pseudonyms.

Order: the files first (each replaced whole or deleted), then the store in one write transaction that also records
the purge as an action of its own (`Action.PURGE`, shown by the audit). A crash between them leaves the store as it
was and the next run finishes both; a run after the store's purge only finishes the files.
"""

from __future__ import annotations

import calendar
import csv
import dataclasses
import datetime as dt
import hashlib
import hmac
import io
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from schemas.backup import NOTICE_RECORD_FILE, NoticeRecordCol
from schemas.columns import LIST_SEPARATOR, POINTS_PREFIX, Col, Derived, Status, WhatIfCol
from schemas.config import CohortConfig
from schemas.errors import StaffError
from schemas.ledger import ApprovalOutcome
from schemas.lifecycle import STAFF_ACTIONS, Action
from schemas.retention import KEPT_FILE_COLUMNS, KEYED_FILE_COLUMNS, AfterPurge, Retention
from schemas.store import StoreCol
from tasks.cells import one_line_cell
from tasks.decisions import SelectionSummary
from tasks.files import OutputError, write_whole
from tasks.lease import hold_lease
from tasks.local_time import date_text, local_time_text
from tasks.report import render_report
from tasks.store import (
    NoSelectionError,
    StoreError,
    action_sequences,
    actions,
    advice,
    approvals,
    decisions,
    leases,
    notices,
    now,
    selections,
    write_transaction,
)
from tasks.teams import current_decisions, team_rows

PURGER = "cohort-select purge"  # how the purge names itself as the lease's holder


class RetentionError(StaffError):
    """The purge cannot run now (the period has not passed, an offer is open, a file cannot be written)."""


class PurgedError(StaffError):
    """The call's applicant data was purged under retention: a step that needs it cannot run."""


# ---------------------------------------------------------------------------------------------------- the period


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later, or that month's last day (August 31 + 6 months: February 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def purge_day(config: CohortConfig) -> dt.date:
    """The first day the call's applicant data may be purged: the course start plus the retention period."""
    if config.notices is None:
        raise RetentionError(
            "the cohort file has no notices section, so the retention period has no course start to run from: add "
            "notices.course_start; nothing was removed"
        )
    return add_months(config.notices.course_start, config.retention.months_after_course_start)


def purge_moment(config: CohortConfig) -> dt.datetime:
    """Midnight at the start of the purge day, in the cohort's zone (DST-correct, from the zone database)."""
    return dt.datetime.combine(purge_day(config), dt.time(), tzinfo=config.zone)


def period_text(config: CohortConfig) -> str:
    start = config.notices.course_start if config.notices else None
    months = config.retention.months_after_course_start
    return f"{months} months after the course start on {date_text(start) if start else '(none)'}"


def period_refusal(config: CohortConfig, as_of: dt.datetime) -> str:
    """Why the purge must wait, or ""."""
    if as_of >= purge_moment(config):
        return ""
    return (
        f"the retention period of cohort {config.cohort} runs until {date_text(purge_day(config))} "
        f"({period_text(config)}): its applicant data can be purged from that day on, and nothing was removed"
    )


def offer_refusal(teams: pd.DataFrame) -> str:
    """Offers still waiting for an answer: the team's reply, or the expiry the promotion records, must come first."""
    open_offers = sorted(teams.loc[teams[Col.STATUS] == Status.OFFERED, Derived.APPLICANT])
    if not open_offers:
        return ""
    return (
        f"{len(open_offers)} team(s) hold an offer not yet answered or expired ({', '.join(open_offers)}): record "
        "the answer (cohort-select confirm or decline) or run `cohort-select promote --send`, which records the "
        "expiry, then purge; nothing was removed"
    )


# ---------------------------------------------------------------------------------------------------- pseudonyms

_HEX = 12
_PSEUDONYM = re.compile(rf"^(?:[A-Z?]{{2}}:{Retention.TEAM}|{Retention.PERSON})[0-9a-f]{{{_HEX}}}$")
_TEAM_KEY = re.compile(r"^([A-Z?]{2}):(.*)$", re.DOTALL)  # STATE:name key (?? for a row without a state)
_ROW_KEY = re.compile(r"^row:\d+$")  # the applicant key tasks/teams.py gives a row that names no team: kept
# The decision columns the pseudonyms' key is made from: every one of them is emptied or replaced by the purge.
KEY_MATERIAL = (
    Col.SOURCE_ROW,
    Derived.TEAM_KEY,
    Col.LOCAL_NAME,
    Col.LEAD_NAME,
    Col.LEAD_EMAIL,
    Col.SUBMITTER_EMAIL,
    Col.MEMBER_NAMES,
    Col.REASONS,
)


@dataclasses.dataclass(frozen=True)
class Pseudonyms:
    """Team keys (and interest-list addresses) as pseudonyms; `key` is None once the store is purged (it can no
    longer be made), and then a name is dropped instead."""

    key: bytes | None

    def digest(self, value: str) -> str:
        return hmac.new(self.key or b"", value.encode("utf-8"), hashlib.sha256).hexdigest()[:_HEX]

    def of(self, value: str) -> str:
        """The pseudonym of a team key or address; a row key (row:N), a key naming no local and a pseudonym stay."""
        if not value or _ROW_KEY.match(value) or _PSEUDONYM.match(value):
            return value
        team = _TEAM_KEY.match(value)
        if team is not None and not team.group(2):
            return value
        if self.key is None:
            return f"{team.group(1)}:" if team is not None else ""
        if team is not None:
            return f"{team.group(1)}:{Retention.TEAM}{self.digest(value)}"
        return f"{Retention.PERSON}{self.digest(value)}"


def pseudonym_key(cohort: str, rows: Iterable[Mapping[str, Any]]) -> bytes | None:
    """The key of the pseudonyms: a SHA-256 digest of the cohort id and the personal data of `rows` (the decisions
    of the first selection that has any, in sheet order). None without rows: there is no secret to make it from."""
    material = [[str(row[column]) for column in KEY_MATERIAL] for row in rows]
    if not material:
        return None
    return hashlib.sha256(json.dumps([cohort, material], ensure_ascii=False).encode("utf-8")).digest()


# ---------------------------------------------------------------------------------------------------- store rows


def _removed(text: object) -> object:
    """Free text replaced by the retention mark; nothing stays nothing."""
    return Retention.REMOVED.value if isinstance(text, str) and text else text


def _codes(value: object) -> list[str]:
    codes = json.loads(value) if isinstance(value, str) and value else []
    return [str(code) for code in codes] if isinstance(codes, list) else []


def purged_decision(row: Mapping[str, Any], names: Pseudonyms) -> dict[str, object]:
    """A decision row without its applicant's data: status, rank, score, state and reason codes stay."""
    message = row.get(Derived.MESSAGE_TO_TEAM)
    return {
        Derived.TEAM_KEY: names.of(str(row[Derived.TEAM_KEY])),
        Col.REASONS: Retention.REASON_CODES + (LIST_SEPARATOR.join(_codes(row.get(Derived.REASON_CODES))) or "none"),
        Col.LOCAL_NAME: "",
        Col.LEAD_NAME: "",
        Col.LEAD_EMAIL: "",
        Col.SUBMITTER_EMAIL: "",
        Col.MEMBER_NAMES: "[]",
        Derived.MESSAGE_TO_TEAM: "" if message is not None else None,
    }


def _message_id(value: str, names: Pseudonyms) -> str:
    """A Message-ID is a plain digest of the team key (tasks/messages.py), so it is replaced too; the domain stays."""
    if value.startswith(f"<{Retention.MESSAGE}"):
        return value
    domain = value.rstrip(">").rpartition("@")[2]
    return f"<{Retention.MESSAGE}{names.digest(value)}@{domain}>"


def purged_notice(row: Mapping[str, Any], names: Pseudonyms) -> dict[str, object]:
    """A ledger row without addresses, subject, Message-ID or the server's words: kind, state, attempts, times stay."""
    return {
        Derived.APPLICANT: names.of(str(row[Derived.APPLICANT])),
        StoreCol.RECIPIENT: _removed(row[StoreCol.RECIPIENT]),
        StoreCol.CC: _removed(row[StoreCol.CC]),
        StoreCol.SUBJECT: _removed(row[StoreCol.SUBJECT]),
        StoreCol.LAST_ERROR: _removed(row[StoreCol.LAST_ERROR]),
        StoreCol.CC_REFUSED: _removed(row[StoreCol.CC_REFUSED]),
        StoreCol.MESSAGE_ID: _message_id(str(row[StoreCol.MESSAGE_ID]), names),
    }


def purged_action(row: Mapping[str, Any], names: Pseudonyms) -> dict[str, object]:
    """An action keeps who did what and when; a staff action's reason (free text that may name people) goes, the
    reason of an offer or expiry (the promotion's own words, made from ranks, states and times) stays."""
    applicant = names.of(str(row[Derived.APPLICANT]))
    written_by_staff = row[StoreCol.ACTION] in STAFF_ACTIONS
    origin = str(row[StoreCol.ORIGIN] or "")
    return {
        Derived.APPLICANT: applicant,
        StoreCol.REASON: _removed(row[StoreCol.REASON]) if written_by_staff else row[StoreCol.REASON],
        # An Overrides row's origin holds its team key and note: the kind of origin and the action stay.
        StoreCol.ORIGIN: f"{origin.partition(':')[0]}:{row[StoreCol.ACTION]}:{applicant}" if origin else "",
    }


def purged_approval(row: Mapping[str, Any], _names: Pseudonyms) -> dict[str, object]:
    """An approval keeps its outcome and time; a staff note goes, the time-out's own words stay."""
    note = row[StoreCol.NOTE]
    return {StoreCol.NOTE: note if row[StoreCol.OUTCOME] == ApprovalOutcome.TIMED_OUT else _removed(note)}


# The tables that hold applicant data, each with its key columns and its purge.
_PURGES = (
    (decisions, (StoreCol.SELECTION_ID, Col.SOURCE_ROW), purged_decision),
    (notices, (StoreCol.ID,), purged_notice),
    (actions, (StoreCol.ID,), purged_action),
    (approvals, (StoreCol.ID,), purged_approval),
)
TABLE_WORDS = {
    decisions.name: "decision rows",
    notices.name: "notices",
    actions.name: "actions",
    approvals.name: "approvals",
}


Row = dict[str, Any]


def _rows(conn: sa.Connection, table: sa.Table, cohort: str) -> list[Row]:
    if table is decisions:
        query = (
            sa.select(decisions)
            .join(selections, selections.c.id == decisions.c.selection_id)
            .where(selections.c.cohort == cohort)
            .order_by(decisions.c.selection_id, decisions.c.source_row)
        )
    else:
        query = sa.select(table).where(table.c.cohort == cohort).order_by(table.c.id)
    return [dict(row) for row in conn.execute(query).mappings()]


def _key_rows(conn: sa.Connection, cohort: str) -> list[Row]:
    """The decisions of the cohort's first recorded selection that has any: a recorded selection never changes."""
    first = conn.execute(
        sa.select(sa.func.min(decisions.c.selection_id))
        .join(selections, selections.c.id == decisions.c.selection_id)
        .where(selections.c.cohort == cohort)
    ).scalar()
    if first is None:
        return []
    query = sa.select(decisions).where(decisions.c.selection_id == first).order_by(decisions.c.source_row)
    return [dict(row) for row in conn.execute(query).mappings()]


Change = tuple[dict[str, object], dict[str, object]]  # (the row's key, the values that change)


def store_changes(conn: sa.Connection, cohort: str, names: Pseudonyms) -> dict[str, list[Change]]:
    """Table name → the rows with applicant data and what the purge writes in them (read only)."""
    found: dict[str, list[Change]] = {}
    for table, key, purge_row in _PURGES:
        changes = []
        for row in _rows(conn, table, cohort):
            new = purge_row(row, names)
            diff = {column: value for column, value in new.items() if row[column] != value}
            if diff:
                changes.append(({str(column): row[column] for column in key}, diff))
        found[table.name] = changes
    return found


def _max_selection(conn: sa.Connection, cohort: str) -> int | None:
    return conn.execute(sa.select(sa.func.max(selections.c.id)).where(selections.c.cohort == cohort)).scalar()


@dataclasses.dataclass(frozen=True)
class PurgeRecord:
    """The purge as the actions table holds it."""

    at: dt.datetime
    actor: str


def purge_record(engine: sa.Engine, cohort: str) -> PurgeRecord | None:
    """When and by whom the cohort's applicant data was purged, or None."""
    with engine.connect() as conn:
        return _purge_record(conn, cohort)


def _purge_record(conn: sa.Connection, cohort: str) -> PurgeRecord | None:
    row = conn.execute(
        sa.select(actions.c.at, actions.c.actor)
        .where(actions.c.cohort == cohort, actions.c.action == Action.PURGE)
        .order_by(actions.c.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)  # SQLite gives UTC back without its zone
    return PurgeRecord(at=at, actor=row.actor)


def check_not_purged(engine: sa.Engine, config: CohortConfig, what: AfterPurge) -> None:
    """PurgedError once the call's applicant data is purged: sending, promoting, selecting again or changing a
    decision would need the names and addresses that are gone (or would write them out again from the sheet)."""
    record = purge_record(engine, config.cohort_id)
    if record is not None:
        day = record.at.astimezone(config.zone).date()
        raise PurgedError(f"this call's applicant data was purged on {date_text(day)} under retention; {what}")


# ---------------------------------------------------------------------------------------------------- the files

_PARTIAL = re.compile(r"^\..+\.partial$")  # a file tasks/files.py was writing when its run stopped
_EML = ".eml"
_CSV = ".csv"
_REPORT = "report.html"
_DECISIONS = "decisions.csv"
_SUMMARY = "summary.json"
_SCAN_BYTES = 20_000_000


def purged_table(frame: pd.DataFrame, names: Pseudonyms) -> pd.DataFrame:
    """An output table with its personal columns emptied and its team keys pseudonymous (schemas/retention.py)."""
    out = frame.copy()
    for column in frame.columns:
        if column in KEYED_FILE_COLUMNS:
            out[column] = frame[column].map(names.of)
        elif column not in KEPT_FILE_COLUMNS and not str(column).startswith(POINTS_PREFIX):
            out[column] = ""
    return out


def read_output_csv(text: str) -> pd.DataFrame | None:
    """A CSV this pipeline wrote, read as text; None for any other (no column of ours that says whose it is)."""
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    columns = {str(c) for c in frame.columns}
    if not columns & (KEYED_FILE_COLUMNS | {Col.SOURCE_ROW}) and not set(WhatIfCol) <= columns:
        return None
    return frame


def purged_csv(text: str, names: Pseudonyms) -> str | None:
    """The purged text of an output CSV, or None when the file is not one of this pipeline's."""
    frame = read_output_csv(text)
    if frame is None:
        return None
    return purged_table(frame, names).to_csv(index=False, lineterminator="\n")


def purged_notice_record(text: str, cohort: str, names: Pseudonyms) -> str:
    """notices-sent.csv with only `cohort`'s rows purged (its team pseudonymous, its notice cell emptied, its cohort
    id kept so the row still says whose it is): the file holds several cohorts' rows by design (tasks/outbox.py),
    and another cohort's rows are kept line for line, so its lost-store check reads them as before."""
    lines = text.splitlines(keepends=True)
    out = lines[:1]
    mine = one_line_cell(cohort)
    for line in lines[1:]:
        cells = next(csv.reader([line]), [])
        row = dict(zip(list(NoticeRecordCol), cells, strict=False))
        if row.get(NoticeRecordCol.COHORT) != mine:
            out.append(line)
            continue
        buffer = io.StringIO()
        team = names.of(row.get(NoticeRecordCol.TEAM, ""))
        csv.writer(buffer, lineterminator="\n").writerow([mine, one_line_cell(team), ""])
        out.append(buffer.getvalue())
    return "".join(out)


def folder_owner(folder: Path) -> str:
    """The cohort whose selection last wrote `folder` (the `cohort` of its summary.json), or "" when it has none."""
    text = _read(folder / _SUMMARY)
    try:
        return SelectionSummary.model_validate_json(text).cohort if text else ""
    except ValidationError:
        return ""


def purged_report(decisions_text: str, summary_text: str, config: CohortConfig) -> str | None:
    """report.html drawn again from the purged decisions.csv and summary.json beside it (counts, per state, scores,
    the waitlist by pseudonymous team); None when they are not there to draw it from."""
    frame = read_output_csv(decisions_text)
    try:
        summary = SelectionSummary.model_validate_json(summary_text)
    except ValidationError:
        return None
    needed = {Col.SOURCE_ROW, Col.STATUS, Derived.RANK, Derived.SCORE, Col.REASONS, Col.STATE, Derived.TEAM_KEY}
    if frame is None or not needed <= set(frame.columns):
        return None
    for column in (Col.SOURCE_ROW, Derived.RANK):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    frame[Derived.SCORE] = pd.to_numeric(frame[Derived.SCORE], errors="coerce")
    frame[Col.LOCAL_NAME] = frame[Derived.TEAM_KEY]  # the report's "local" column shows the pseudonymous team
    return render_report(frame, summary, config)


@dataclasses.dataclass(frozen=True)
class FileChange:
    path: Path
    text: str | None  # the purged content; None: the file is deleted


@dataclasses.dataclass
class FolderPlan:
    """What the purge does in one output folder."""

    folder: Path
    found: bool
    changes: list[FileChange] = dataclasses.field(default_factory=list)
    untouched: list[Path] = dataclasses.field(default_factory=list)  # not the pipeline's, holding applicant data
    owner: str = ""  # another cohort, when its selection wrote the folder's outputs: they are left alone


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def holds_any(path: Path, values: frozenset[str]) -> bool:
    """Whether a text file holds one of the applicant values (compared without case); binary files are not read."""
    try:
        data = path.read_bytes()[:_SCAN_BYTES]
    except OSError:
        return False
    if b"\0" in data[:4096]:
        return False
    text = data.decode("utf-8", errors="replace").casefold()
    return any(value in text for value in values)


def _plan_notice_record(plan: FolderPlan, path: Path, cohort: str, names: Pseudonyms) -> None:
    record = _read(path)
    if record is not None and (rows := purged_notice_record(record, cohort, names)) != record:
        plan.changes.append(FileChange(path, rows))


def _plan_other(plan: FolderPlan, path: Path, values: frozenset[str]) -> None:
    """A file the purge does not change: listed when it holds applicant data (summary.json and report.html hold
    none of their own)."""
    if path.name not in (_REPORT, _SUMMARY) and values and holds_any(path, values):
        plan.untouched.append(path)


def _plan_report(plan: FolderPlan, path: Path, purged: Mapping[Path, str], config: CohortConfig) -> None:
    summary = _read(path.with_name(_SUMMARY))
    drawn = purged_report(purged.get(path.with_name(_DECISIONS), ""), summary or "", config)
    if drawn is None or drawn != _read(path):
        plan.changes.append(FileChange(path, drawn))


def plan_folder(folder: Path, names: Pseudonyms, config: CohortConfig, values: frozenset[str]) -> FolderPlan:
    """Each file of an output folder (and its outbox) and what the purge does with it, computed without writing:
    the pipeline's CSVs rewritten, report.html drawn again, messages (.eml) and half-written files deleted, and
    any other file holding applicant data listed and left alone (it is not the pipeline's to change).

    Only this cohort's: in notices-sent.csv only its rows are purged, and a folder whose summary.json names
    another cohort (a cohort file copied with its retention.folders) keeps every other file as it is."""
    if not folder.is_dir():
        return FolderPlan(folder, found=False)
    owner = folder_owner(folder)
    plan = FolderPlan(folder, found=True, owner="" if owner in ("", config.cohort) else owner)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    purged: dict[Path, str] = {}
    for path in files:
        if path.name == NOTICE_RECORD_FILE:
            _plan_notice_record(plan, path, config.cohort_id, names)
        elif plan.owner:
            _plan_other(plan, path, values)
        elif path.suffix == _EML or _PARTIAL.match(path.name):
            plan.changes.append(FileChange(path, None))
        elif path.suffix == _CSV and (text := _read(path)) is not None and (new := purged_csv(text, names)):
            purged[path] = new
            if new != text:
                plan.changes.append(FileChange(path, new))
        else:
            _plan_other(plan, path, values)
    for path in [] if plan.owner else files:
        if path.name == _REPORT:
            _plan_report(plan, path, purged, config)
    plan.changes.sort(key=lambda change: (change.text is None, str(change.path)))  # rewrites first, then deletions
    return plan


def apply_folder(plan: FolderPlan) -> tuple[int, int]:
    """Each change made: a rewrite replaces the file whole (written beside it, then renamed), a deletion unlinks.
    Returns (rewritten, deleted)."""
    rewritten = deleted = 0
    for change in plan.changes:
        if change.text is None:
            try:
                change.path.unlink(missing_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot delete {change.path} ({exc.strerror})") from None
            deleted += 1
        else:
            write_whole(change.path, change.text)
            rewritten += 1
    return rewritten, deleted


# ---------------------------------------------------------------------------------------------------- the purge


@dataclasses.dataclass(frozen=True)
class PurgeRequest:
    """A purge as staff ask for it: when (for the period), who, which folders besides the config's, for real or not."""

    as_of: dt.datetime
    actor: str
    folders: tuple[Path, ...] = ()
    apply: bool = False


class FolderReport(BaseModel):
    folder: str
    found: bool
    rewritten: list[str] = []
    deleted: int = 0
    untouched: list[str] = []
    owner: str = ""


class PurgeReport(BaseModel):
    """What the purge removed (or, in a dry run, would remove), what it keeps, and why it would be refused."""

    cohort: str
    dry_run: bool
    period: str
    purge_from: str
    purged_on: str = ""  # a purge recorded before this run: when and by whom
    refusals: list[str] = []
    store: dict[str, int] = {}
    folders: list[FolderReport] = []
    teams: dict[str, int] = {}
    compacted: str = ""
    not_covered: list[str] = []

    def as_text(self) -> str:
        lines = [f"Retention of cohort {self.cohort}: {self.period}, so from {self.purge_from}."]
        if self.purged_on:
            lines.append(
                f"Its applicant data was purged on {self.purged_on}; the state store has nothing left to remove."
            )
        verb = "would remove" if self.dry_run else "removed"
        lines.append(
            ("Dry run: nothing was changed. With --apply, the purge " if self.dry_run else "The purge ")
            + f"{verb} names, addresses, phone numbers and free text from:"
        )
        if not self.purged_on:
            store = ", ".join(f"{n} {TABLE_WORDS.get(table, table)}" for table, n in self.store.items())
            lines.append(f"  the state store: {store}")
        for folder in self.folders:
            lines.append(f"  {folder.folder}: " + _folder_words(folder))
        lines.append(
            "It keeps counts, statuses, ranks, scores, reason codes, US states, times, the audit of actions and "
            "pseudonymous team keys."
        )
        if self.teams:
            lines.append("Teams by status: " + ", ".join(f"{status} {n}" for status, n in self.teams.items()))
        if self.compacted:
            lines.append(self.compacted)
        lines.append("Not touched (delete or archive them yourself): " + "; ".join(self.not_covered))
        lines += [f"REFUSED: {refusal}" for refusal in self.refusals]
        return "\n".join(lines)


def _folder_words(folder: FolderReport) -> str:
    if not folder.found:
        return "not found (nothing to do)"
    parts = []
    if folder.owner:
        parts.append(
            f"its outputs are cohort {folder.owner}'s (its summary.json), so they were left as they are and only "
            f"this cohort's rows of {NOTICE_RECORD_FILE} are purged: remove the folder from this cohort file's "
            "retention.folders, and give each cohort its own output folder"
        )
    if folder.rewritten:
        parts.append("rewritten " + ", ".join(folder.rewritten))
    if folder.deleted:
        parts.append(f"deleted {folder.deleted} file(s) (messages, half-written files)")
    if not parts:
        parts.append("nothing left to remove")
    if folder.untouched:
        parts.append(
            "left alone, not written by cohort-select but holding applicant data: " + ", ".join(folder.untouched)
        )
    return "; ".join(parts)


def not_covered(config: CohortConfig) -> list[str]:
    """What holds applicant data and is not the purge's to remove: the inputs, backups, Prefect's records."""
    source = getattr(config.source, "path", None)
    responses = f"the responses file {source}" if source else "the responses Google Sheet (and its Decisions tab)"
    return [
        responses,
        *([f"the interest list {config.interest_list}"] if config.interest_list else []),
        *([f"the overrides file {config.overrides}"] if config.overrides else []),
        *([f"the reviewers file {config.reviews}"] if config.reviews else []),
        "backups of the state store",
        "the mail server's logs and the recipients' mailboxes",
        "Prefect's run logs and artifacts of this call (delete its flow runs on the Prefect server)",
    ]


@dataclasses.dataclass
class _Survey:
    """The store and the folders read, and what the purge would do to them."""

    record: PurgeRecord | None
    names: Pseudonyms
    max_selection: int | None
    store: dict[str, list[Change]]
    plans: list[FolderPlan]
    refusals: list[str]
    teams: dict[str, int]


def _personal_values(rows: Iterable[Mapping[str, Any]], notice_rows: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The applicant values the store holds, for finding other files that hold them (long enough to mean one)."""
    found: set[str] = set()
    for row in rows:
        found.update(str(row[c]) for c in (Col.LOCAL_NAME, Col.LEAD_NAME, Col.LEAD_EMAIL, Col.SUBMITTER_EMAIL))
        found.update(str(name) for name in json.loads(row[Col.MEMBER_NAMES] or "[]"))
    for row in notice_rows:
        found.update(str(row[c] or "") for c in (StoreCol.RECIPIENT, StoreCol.CC))
    return frozenset(value.casefold() for value in found if len(value) >= 5)


def _team_counts(engine: sa.Engine, cohort: str) -> tuple[dict[str, int], pd.DataFrame]:
    try:
        _, decided = current_decisions(engine, cohort)
    except NoSelectionError:
        return {}, pd.DataFrame({Derived.APPLICANT: [], Col.STATUS: []})
    teams = team_rows(decided)
    return {str(k): int(v) for k, v in teams[Col.STATUS].value_counts().sort_index().items()}, teams


def _lease_refusal(engine: sa.Engine, cohort: str) -> str:
    with engine.connect() as conn:
        row = conn.execute(sa.select(leases).where(leases.c.cohort == cohort)).mappings().first()
    if row is None:
        return ""
    expires = row[StoreCol.EXPIRES_AT]
    if (expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)) <= now():
        return ""
    return (
        f"another run holds cohort {cohort}'s lease ({row[StoreCol.HOLDER]}): it is sending notices or recording "
        "changes; purge when it has finished; nothing was removed"
    )


def _survey(engine: sa.Engine, config: CohortConfig, request: PurgeRequest) -> _Survey:
    cohort = config.cohort_id
    with engine.connect() as conn:
        record = _purge_record(conn, cohort)
        names = Pseudonyms(None if record else pseudonym_key(cohort, _key_rows(conn, cohort)))
        store = {} if record else store_changes(conn, cohort, names)
        values = (
            frozenset() if record else _personal_values(_rows(conn, decisions, cohort), _rows(conn, notices, cohort))
        )
        max_selection = _max_selection(conn, cohort)
    counts, teams = _team_counts(engine, cohort)
    refusals = [] if record else [period_refusal(config, request.as_of), offer_refusal(teams)]
    if not request.apply:
        refusals.append(_lease_refusal(engine, cohort))
    folders = dict.fromkeys([*config.retention.folders, *request.folders])  # in order, each once
    plans = [plan_folder(folder, names, config, values) for folder in folders]
    return _Survey(record, names, max_selection, store, plans, [r for r in refusals if r], counts)


def _record_text(config: CohortConfig, store: Mapping[str, int], rewritten: int, deleted: int) -> str:
    tables = ", ".join(f"{n} {TABLE_WORDS[table]}" for table, n in store.items())
    return (
        f"applicant personal data removed under retention ({period_text(config)}): state store {tables}; "
        f"files {rewritten} rewritten, {deleted} deleted"
    )


def purge_store(
    engine: sa.Engine,
    config: CohortConfig,
    survey: _Survey,
    files: tuple[int, int],
    actor: str,
    at: dt.datetime,
) -> dict[str, int]:
    """The store's purge and its record, in one write transaction: all of it or none. Returns rows changed per table.

    Computed again from what the transaction reads; a selection recorded since the survey (only a call with no
    notice out can record one) may have written files the survey did not see: then nothing is changed.
    """
    cohort = config.cohort_id
    try:
        with write_transaction(engine) as conn:
            if _purge_record(conn, cohort) is not None:
                raise RetentionError("another purge of this cohort finished first; nothing more was removed")
            if _max_selection(conn, cohort) != survey.max_selection:
                raise RetentionError(
                    "a selection was recorded while the purge ran, and its files may not be covered: the state store "
                    "was not changed; run the purge again"
                )
            names = Pseudonyms(pseudonym_key(cohort, _key_rows(conn, cohort)))
            found = store_changes(conn, cohort, names)
            for table, _, _ in _PURGES:
                for row_key, diff in found[table.name]:
                    where = [table.c[column] == value for column, value in row_key.items()]
                    conn.execute(table.update().where(*where).values(diff))
            counts = {table: len(changes) for table, changes in found.items()}
            conn.execute(
                actions.insert().values(
                    {
                        StoreCol.COHORT: cohort,
                        Derived.APPLICANT: "",
                        StoreCol.ACTION: Action.PURGE.value,
                        StoreCol.FROM_STATUS: Retention.RETAINED.value,
                        StoreCol.TO_STATUS: Retention.PURGED.value,
                        StoreCol.ACTOR: actor,
                        StoreCol.REASON: _record_text(config, counts, *files),
                        StoreCol.AT: at.astimezone(dt.UTC),
                        StoreCol.RECORDED_AT: now(),
                        Derived.RESERVED_SEAT: "",
                        StoreCol.ORIGIN: "",
                    }
                )
            )
            # A plan of notices made before the purge no longer matches the action sequence (where there is one
            # row for it; else the sequence is the count of actions, which the insert moved).
            conn.execute(
                action_sequences.update()
                .where(action_sequences.c.cohort == cohort)
                .values(seq=action_sequences.c.seq + 1)
            )
    except OperationalError as exc:
        raise StoreError(
            "the output files were purged, but the state store was not changed "
            f"({advice(exc)}): run the purge again to finish"
        ) from None
    return counts


def compact_store(engine: sa.Engine) -> str:
    """The old versions of the purged rows removed from the database files too: SQLite's VACUUM rewrites the file
    without its free pages and the WAL is emptied; PostgreSQL's VACUUM FULL rewrites the purged tables. Says what
    was done, for the report (a refusal, e.g. a role that does not own the tables, is said, not raised)."""
    try:
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                raw.close()
            return "The store file was compacted (VACUUM): the removed values are not left in its free pages."
        if engine.dialect.name == "postgresql":
            tables = ", ".join(table.name for table, _, _ in _PURGES)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM (FULL) {tables}")
            return (
                "The purged tables were rewritten (VACUUM FULL): old row versions are gone from them; the server's "
                "write-ahead log and its backups keep theirs until they are recycled or expire."
            )
    except (SQLAlchemyError, sqlite3.Error) as exc:
        return (
            f"The store could not be compacted ({exc.__class__.__name__}): the database's own cleanup removes the old "
            "versions later."
        )
    return ""


def purge(engine: sa.Engine, config: CohortConfig, request: PurgeRequest) -> PurgeReport:
    """`cohort-select purge`: a dry run lists what would be removed; `apply` removes it, under the cohort's lease
    (no send, promotion or staff action meanwhile; refused at once if another run holds it), the files first,
    then the store in one transaction that records the purge. Run again, it only finishes what is left."""
    if not request.apply:
        return _report(config, _survey(engine, config, request), dry_run=True)
    with hold_lease(engine, config.cohort_id, PURGER, 0, config.lease.expire_seconds):
        survey = _survey(engine, config, request)
        if survey.refusals:
            raise RetentionError(survey.refusals[0])
        files = [apply_folder(plan) for plan in survey.plans]
        totals = (sum(f[0] for f in files), sum(f[1] for f in files))
        report = _report(config, survey, dry_run=False)
        if survey.record is None:
            report.store = purge_store(engine, config, survey, totals, request.actor, request.as_of)
            report.compacted = compact_store(engine)
    return report


def _report(config: CohortConfig, survey: _Survey, *, dry_run: bool) -> PurgeReport:
    purged_on = ""
    if survey.record is not None:
        purged_on = f"{local_time_text(survey.record.at, config.timezone)} by {survey.record.actor}"
    return PurgeReport(
        cohort=config.cohort,
        dry_run=dry_run,
        period=period_text(config),
        purge_from=date_text(purge_day(config)),
        purged_on=purged_on,
        refusals=survey.refusals,
        store={table: len(changes) for table, changes in survey.store.items()},
        folders=[
            FolderReport(
                folder=str(plan.folder),
                found=plan.found,
                rewritten=[str(c.path.relative_to(plan.folder)) for c in plan.changes if c.text is not None],
                deleted=sum(1 for c in plan.changes if c.text is None),
                untouched=[str(p.relative_to(plan.folder)) for p in plan.untouched],
                owner=plan.owner,
            )
            for plan in survey.plans
        ],
        teams=survey.teams,
        not_covered=not_covered(config),
    )
