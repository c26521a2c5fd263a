"""The dry run: every message a send would deliver, as .eml files with an index, for staff to read first; what a
send would deliver and hold back, for the approval (tasks/approval.py); and, for a file source, the notice record
beside the outbox (what was sent, written after each send: tasks/backup.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from email.utils import parseaddr
from pathlib import Path

import sqlalchemy as sa

from schemas.backup import NOTICE_RECORD_FILE, NoticeRecordCol
from schemas.columns import Derived
from schemas.config import CohortConfig
from schemas.ledger import LedgerState
from schemas.store import StoreCol
from tasks.approval import Review, review
from tasks.cells import FORMULA_STARTS, one_line_cell
from tasks.files import OutputError, write_whole
from tasks.ledger import DeliveryReport, delivery_report, ledger, not_sent
from tasks.messages import Notice, dated
from tasks.notices import NoticePlan, kinds_of

INDEX_COLUMNS = ("file", "team", "recipient", "cc", "kind", "subject", "message_to_team", "refused_because")


def write_outbox(planned: list[Notice], out_dir: Path, moment: dt.datetime | None = None) -> Path:
    """Every message as an .eml file (dated now) plus index.csv (team, recipient, kind, subject, staff message,
    refusal)."""
    outbox = out_dir / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    for old in outbox.glob("*.eml"):
        old.unlink()
    stamp = moment or dt.datetime.now(dt.UTC)
    with (outbox / "index.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(INDEX_COLUMNS)
        for number, notice in enumerate(planned, start=1):
            name = f"{number:04d}-{notice.kind}.eml"
            if not notice.refusal:
                (outbox / name).write_bytes(dated(notice.payload, stamp))
            cells = (notice.applicant, notice.to, notice.cc, notice.kind, notice.subject, notice.message_to_team)
            writer.writerow([name if not notice.refusal else "", *(one_line_cell(v) for v in (*cells, notice.refusal))])
    return outbox


def dry_run(engine: sa.Engine, config: CohortConfig, plan: NoticePlan, out_dir: Path) -> DeliveryReport:
    """The outbox of every notice not yet sent, for staff to review; nothing is recorded."""
    waiting = not_sent(engine, config.cohort_id, plan.notices)
    outbox = write_outbox(waiting, out_dir)
    report = delivery_report(engine, config.cohort_id, kinds_of(plan.run), dry_run=True, outbox=str(outbox))
    report.refused = [f"{n.applicant} {n.to} ({n.kind}): {n.refusal}" for n in waiting if n.refusal]
    report.counts[LedgerState.REFUSED] = len(report.refused)
    report.counts["would send"] = len(waiting) - len(report.refused)
    return report


# Why a planned notice that the ledger already holds does not go with this send (a send claims only pending and
# failed notices, and unknown ones when asked: tasks/delivery.py).
HELD_BECAUSE: dict[str, str] = {
    LedgerState.UNKNOWN: "a run was cut off while sending it, so it may have arrived: resent only with resend_unknown",
    LedgerState.SENDING: "another run is sending it now",
    LedgerState.SUPERSEDED: "the ledger holds it as superseded (its decision changed before it went out)",
    LedgerState.REFUSED: "the ledger holds it as refused",
}


def for_review(
    engine: sa.Engine, config: CohortConfig, plan: NoticePlan, outbox: str = "", *, resend_unknown: bool
) -> Review:
    """What a send of the plan would deliver and what it holds back, with why, for staff to approve."""
    rows = ledger(engine, config.cohort_id)
    keys = zip(rows[Derived.APPLICANT], rows[StoreCol.KIND], rows[StoreCol.VERSION], strict=True)
    words = zip(rows[StoreCol.LEDGER_STATE], rows[StoreCol.LAST_ERROR].fillna(""), strict=True)
    held = {
        key: f"{HELD_BECAUSE[state]}: {error}" if error and state == LedgerState.REFUSED else HELD_BECAUSE[state]
        for key, (state, error) in zip(keys, words, strict=True)
        if state in HELD_BECAUSE and not (resend_unknown and state == LedgerState.UNKNOWN)
    }
    program = [parseaddr(address)[1] for address in (config.email.sender, config.email.reply_to or "")]
    return review(not_sent(engine, config.cohort_id, plan.notices), held, program, outbox)


# ---------------------------------------------------------------------------- the notice record


def notice_record_path(out_dir: Path) -> Path:
    """The notice record of a file source: beside the outbox's index.csv, which each dry run rewrites."""
    return out_dir / "outbox" / NOTICE_RECORD_FILE


def _plain(cell: str) -> str:
    """A cell as written before `one_line_cell` kept it from running as a formula."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def _record_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a notice record file as written (none when there is no file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise OutputError(f"cannot read the notice record {path} ({exc}); nothing was sent") from None
    return list(csv.DictReader(text.splitlines()))


def read_notice_record(out_dir: Path, cohort: str) -> dict[str, str]:
    """Applicant → its notice cell in the outbox's notice record, for this cohort (none when there is no record)."""
    return {
        _plain(row.get(NoticeRecordCol.TEAM) or ""): _plain(row.get(NoticeRecordCol.NOTICE) or "")
        for row in _record_rows(notice_record_path(out_dir))
        if _plain(row.get(NoticeRecordCol.COHORT) or "") == cohort
    }


def write_notice_record(out_dir: Path, cohort: str, cells: dict[str, str]) -> Path:
    """The cohort's rows of the outbox's notice record replaced by `cells` (one row per applicant), other cohorts'
    rows kept as they are; the file is replaced whole."""
    path = notice_record_path(out_dir)
    others = [row for row in _record_rows(path) if _plain(row.get(NoticeRecordCol.COHORT) or "") != cohort]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(NoticeRecordCol))
    for row in others:
        writer.writerow([row.get(column) or "" for column in NoticeRecordCol])
    for applicant, cell in sorted(cells.items()):
        writer.writerow([one_line_cell(value) for value in (cohort, applicant, cell)])
    return write_whole(path, buffer.getvalue())
