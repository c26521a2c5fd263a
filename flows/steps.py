"""Prefect tasks: one per step, each a thin wrapper of the pure function in tasks/ that holds the rules.

Applicant data never goes to Prefect's result storage or cache (persist_result=False, no cache policy).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from flows.logs import quiet_staff_errors
from schemas.columns import Col, Out
from schemas.config import CohortConfig, Extension, SheetSourceConfig, load_config
from tasks.cutoff import apply_cutoff, check_deadline_passed
from tasks.decisions import (
    SelectionSummary,
    check_output_folder,
    decisions_frame,
    reasons_without_answers,
    summarize_selection,
    write_csv,
    write_decisions,
)
from tasks.dedupe import deduplicate
from tasks.delivery import deliver, something_to_send, unfinished
from tasks.identity import open_cohort_store
from tasks.lease import Lease, cohort_lease
from tasks.ledger import DeliveryReport
from tasks.lifecycle import DriftReport, Promotion, check_drift, plan_promotion
from tasks.normalize import normalize
from tasks.notices import NoticePlan, plan_notices
from tasks.outbox import dry_run
from tasks.overrides import (
    Override,
    add_staff_notes,
    apply_before_selection,
    read_file_overrides,
    read_sheet_overrides,
    with_extensions,
)
from tasks.report import write_report
from tasks.score import score
from tasks.select import select
from tasks.simulate import WhatIf, what_if, write_what_if
from tasks.smtp import check_smtp, smtp_settings
from tasks.sources import input_sha256, service_account_client, source_for, values_to_frame
from tasks.store import record_approval, record_selection
from tasks.validate import IntakeSummary, summarize_intake, validate
from tasks.writeback import write_decisions_to_sheet

PRIVATE = {"persist_result": False, "cache_policy": NONE}
quiet_staff_errors()  # wherever these steps run, a staff error is logged as its message alone


@task(name="load config", **PRIVATE)
def load_config_task(config_path: str) -> CohortConfig:
    return load_config(config_path)


@task(name="check the output folder", **PRIVATE)
def check_output_folder_task(out_dir: str | None) -> None:
    """Before anything is recorded: the folder the run writes into is usable."""
    if out_dir:
        check_output_folder(Path(out_dir))


@task(name="load overrides", **PRIVATE)
def load_overrides_task(config: CohortConfig, submissions: str | None) -> list[Override]:
    """The Overrides worksheet of the responses spreadsheet, or the configured overrides file."""
    if isinstance(config.source, SheetSourceConfig) and not submissions:
        return read_sheet_overrides(service_account_client(config.source.credentials.reveal()), config.source.key)
    return read_file_overrides(config)


@task(name="grant override extensions", **PRIVATE)
def extensions_task(config: CohortConfig, overrides: list[Override]) -> CohortConfig:
    return with_extensions(config, overrides)


@task(name="apply overrides", **PRIVATE)
def apply_overrides_task(
    frame: pd.DataFrame, overrides: list[Override], extensions: Sequence[Extension] = ()
) -> pd.DataFrame:
    """Overrides and extensions that name no row are refused (one message each); then force-decline/select."""
    return apply_before_selection(frame, overrides, extensions)


@task(name="staff notes", **PRIVATE)
def staff_notes_task(decided: pd.DataFrame, overrides: list[Override]) -> pd.DataFrame:
    return add_staff_notes(decided, overrides)


@task(name="check deadline", **PRIVATE)
def check_deadline_task(config: CohortConfig, as_of: dt.datetime, preview: bool) -> None:
    check_deadline_passed(config, as_of, preview)


@task(name="extract", **PRIVATE)
def extract_task(config: CohortConfig, submissions: str | None) -> tuple[pd.DataFrame, str]:
    source = source_for(config, Path(submissions) if submissions else None)
    values = source.read_values()
    return values_to_frame(values, config.columns), input_sha256(source, values)


@task(name="normalize", **PRIVATE)
def normalize_task(raw: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    return normalize(raw, config)


@task(name="validate", **PRIVATE)
def validate_task(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    return validate(frame, config)


@task(name="summarize intake", **PRIVATE)
def summarize_intake_task(validated: pd.DataFrame, out_dir: str | None) -> IntakeSummary:
    summary = summarize_intake(validated)
    get_run_logger().info("Intake summary\n%s", summary.as_text())
    if out_dir:  # reason codes are for notices; staff read the reasons
        write_csv(validated.drop(columns=[Out.REASON_CODES], errors="ignore"), Path(out_dir) / "intake.csv")
    create_markdown_artifact(
        key="intake-summary",
        markdown="## Intake\n\n```\n" + summary.as_text() + "\n```\n",
        description="Rows read, valid and invalid by reason",
    )
    return summary


@task(name="dedupe", **PRIVATE)
def dedupe_task(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    return deduplicate(frame, config)


@task(name="cutoff", **PRIVATE)
def cutoff_task(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    return apply_cutoff(frame, config)


@task(name="score", **PRIVATE)
def score_task(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    return score(frame, config)


@task(name="select", **PRIVATE)
def select_task(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    return select(frame, config)


@task(name="write decisions", **PRIVATE)
def write_decisions_task(decided: pd.DataFrame, config: CohortConfig, summary: SelectionSummary, out_dir: str) -> None:
    decisions = decisions_frame(decided, config, summary.provisional)
    write_decisions(decisions, summary, Path(out_dir))
    write_report(decisions, summary, config, Path(out_dir))
    get_run_logger().info("Selection summary\n%s", summary.as_text())


@task(name="summarize selection", **PRIVATE)
def summarize_task(
    decided: pd.DataFrame, config: CohortConfig, config_path: str, input_sha: str, preview: bool
) -> SelectionSummary:
    return summarize_selection(decided, config, Path(config_path), input_sha, preview)


@task(name="write back to the sheet", **PRIVATE)
def write_back_task(decided: pd.DataFrame, config: CohortConfig, submissions: str | None, preview: bool) -> None:
    """The Decisions worksheet of the responses spreadsheet, when the responses came from it."""
    if submissions or not isinstance(config.source, SheetSourceConfig):
        return
    client = service_account_client(config.source.credentials.reveal())
    write_decisions_to_sheet(client, config.source.key, decisions_frame(decided, config, preview))


@task(name="publish artifacts", **PRIVATE)
def publish_artifacts_task(
    decided: pd.DataFrame, config: CohortConfig, summary: SelectionSummary, out_dir: str
) -> None:
    """A table of decisions (no contact details) and the summary, for staff in the Prefect UI."""
    shown = decisions_frame(decided, config, summary.provisional)
    shown[Col.REASONS] = reasons_without_answers(shown)  # the answers quoted in reasons stay in the files
    columns = ["source_row", "status", "rank", "score", "local_name", "state", "reasons"]
    create_table_artifact(
        key="decisions",
        table=shown[columns].astype(str).to_dict(orient="records"),
        description=f"Decisions for {config.program} {config.cohort}",
    )
    report = Path(out_dir).resolve() / "report.html"
    create_markdown_artifact(
        key="selection-summary", markdown=summary.as_markdown() + f"\nFull report: [{report}](file://{report})\n"
    )


@task(name="record selection", **PRIVATE)
def record_selection_task(decided: pd.DataFrame, config: CohortConfig, summary: SelectionSummary) -> int:
    """The decisions as selected, so notices are sent from exactly what staff reviewed."""
    engine = open_cohort_store(config)
    return record_selection(
        engine, config.cohort_id, decided, summary.input_sha256, summary.config_sha256, summary.provisional
    )


@task(name="plan notices", **PRIVATE)
def plan_notices_task(
    config: CohortConfig, kind: str, as_of: dt.datetime, moves: list[dict] | None = None
) -> NoticePlan:
    """The notices of the decisions as they stand (with `moves` not yet recorded), and what they came from."""
    return plan_notices(open_cohort_store(config), config, kind, as_of, moves)


@task(name="write the outbox", **PRIVATE)
def outbox_task(config: CohortConfig, plan: NoticePlan, out_dir: str) -> DeliveryReport:
    """Every message not yet sent, as .eml files with index.csv, for staff to read; nothing is recorded."""
    return dry_run(open_cohort_store(config), config, plan, Path(out_dir))


@task(name="check the SMTP server", **PRIVATE)
def check_smtp_task(config: CohortConfig, plan: NoticePlan) -> None:
    """Secrets resolved and a session opened (EHLO, STARTTLS, login) before anyone is asked to approve, and only
    when there is something to send."""
    if something_to_send(open_cohort_store(config), config, plan):
        check_smtp(smtp_settings(config))


@task(name="deliver", **PRIVATE)
def deliver_task(config: CohortConfig, plan: NoticePlan, resend_unknown: bool, purpose: str) -> DeliveryReport:
    """Under the cohort's lease: the plan checked current, its changes recorded, each notice claimed and sent."""
    engine = open_cohort_store(config)
    settings = smtp_settings(config) if something_to_send(engine, config, plan) else None  # no secret otherwise
    report = deliver(engine, config, plan, settings, resend_unknown, purpose=purpose)
    get_run_logger().info("%s", report.as_text().splitlines()[0])
    return report


@task(name="check notification date", **PRIVATE)
def notify_by_task(
    config: CohortConfig, plan: NoticePlan, as_of: dt.datetime, report: DeliveryReport
) -> DeliveryReport:
    """Failed, unknown and overdue notices are logged as errors and listed in the report and artifact."""
    report.problems = unfinished(open_cohort_store(config), config, plan, as_of, report)
    for problem in report.problems:
        get_run_logger().error(problem)
    rows = [{"state": state, "notices": str(n)} for state, n in report.counts.items()]
    create_table_artifact(key="notices", table=rows, description="Notices by ledger state")
    return report


@contextlib.contextmanager
def run_lease(config: CohortConfig, purpose: str, needed: bool) -> Iterator[Lease | None]:
    """The cohort's lease around the steps of a run that records changes (none for a dry run)."""
    if not needed:
        yield None
        return
    with cohort_lease(open_cohort_store(config), config, purpose) as lease:
        yield lease


@task(name="publish outbox for review", **PRIVATE)
def publish_outbox_task(preview: DeliveryReport) -> None:
    """Counts and where to read the messages: no addresses in the artifact."""
    lines = [f"| {state} | {n} |" for state, n in preview.counts.items()]
    create_markdown_artifact(
        key="notices-for-approval",
        markdown="## Notices waiting for approval\n\n| state | notices |\n| --- | --- |\n"
        + "\n".join(lines)
        + f"\n\nRead every message in `{preview.outbox}` (index.csv lists them), then approve or reject.\n",
    )


@task(name="record approval", **PRIVATE)
def record_approval_task(config: CohortConfig, kind: str, flow_run_id: str, outcome: str, note: str) -> bool:
    """Kept in the state store with the note; only `approved` lets the notices go."""
    record_approval(open_cohort_store(config), config.cohort_id, kind, flow_run_id, outcome, note)
    if outcome != "approved":
        get_run_logger().warning("Notices not sent: %s. Note: %s", outcome, note or "(none)")
    return outcome == "approved"


@task(name="hold notified decisions", **PRIVATE)
def drift_task(decided: pd.DataFrame, config: CohortConfig, out_dir: str) -> DriftReport:
    """After the notices the selection is frozen: a re-run writes drift.csv and records nothing."""
    drift = check_drift(open_cohort_store(config), config, decided, Path(out_dir))
    if drift.frozen:
        get_run_logger().warning("%s", drift.as_text())
        create_markdown_artifact(
            key="selection-drift",
            markdown=f"## Selection frozen\n\n```\n{drift.as_text()}\n```\n",
            description="What a re-run would change; nothing was recorded",
        )
    return drift


@task(name="promote from the waitlist", **PRIVATE)
def promote_task(config: CohortConfig, overrides: list[Override], as_of: dt.datetime, send: bool) -> Promotion:
    """Staff actions from the Overrides sheet, expired offers, then offers for the free seats, computed; the send
    records them with their notices, and a dry run records nothing."""
    promotion = plan_promotion(open_cohort_store(config), config, as_of, overrides, dry_run=not send)
    get_run_logger().info("Promotion\n%s", promotion.report.as_text())
    create_markdown_artifact(
        key="promotion", markdown=f"## Waitlist promotion\n\n```\n{promotion.report.as_text()}\n```\n"
    )
    return promotion


@task(name="what if", **PRIVATE)
def what_if_task(
    scored: pd.DataFrame, config: CohortConfig, capacities: list[int], caps: list[int], out_dir: str
) -> WhatIf:
    """Selections under other limits, written to what-if.csv; nothing recorded or sent."""
    table = write_what_if(what_if(scored, config, capacities, caps), config, Path(out_dir))
    get_run_logger().info("%s", table.as_text())
    return table
