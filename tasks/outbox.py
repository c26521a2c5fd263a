"""The dry run: every message a send would deliver, as .eml files with an index, for staff to read first."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from schemas.config import CohortConfig
from schemas.ledger import LedgerState
from tasks.cells import one_line_cell
from tasks.ledger import DeliveryReport, delivery_report, not_sent
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
