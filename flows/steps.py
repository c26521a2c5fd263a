"""Prefect tasks: one per step, each a thin wrapper of the pure function in tasks/ that holds the rules.

Applicant data never goes to Prefect's result storage or cache (persist_result=False, no cache policy).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar
from uuid import UUID

import pandas as pd
from prefect import Task, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from flows.logs import quiet_staff_errors
from schemas.columns import Derived
from schemas.config import CohortConfig, SheetSourceConfig, load_config
from schemas.errors import setting
from schemas.ledger import FROM_SELECTION, ApprovalArtifact, ApprovalOutcome, RunKind
from schemas.lifecycle import Move
from schemas.replies import ReplyCol
from schemas.report import ArtifactKey
from schemas.retention import AfterPurge
from schemas.store import StoreCol
from tasks.approval import ApprovalAnswer, Outcome, Review, approval_counts, outcome, outcome_run_name, samples_markdown
from tasks.artifacts import Artifact, RunFiles, records, selection_artifacts, what_if_artifacts, where_text
from tasks.backup import check_notice_record, write_notice_record
from tasks.cutoff import check_deadline_passed
from tasks.decisions import (
    SelectionSummary,
    decisions_frame,
    summarize_selection,
    without_contacts,
    write_csv,
    write_decisions,
    write_table,
)
from tasks.delivery import deliver, something_to_send, unfinished
from tasks.drift import DriftReport, check_drift
from tasks.equity import equity_table, previous_teams
from tasks.files import check_output_folder
from tasks.identity import open_cohort_store
from tasks.lease import Lease, cohort_lease
from tasks.ledger import DeliveryReport
from tasks.local_time import read_moment, running_as_of
from tasks.notices import NoticePlan, plan_notices
from tasks.outbox import dry_run, for_review
from tasks.overrides import Override, read_file_overrides, read_sheet_overrides, with_extensions
from tasks.pipeline import (
    CUTOFF,
    DEDUPE,
    NORMALIZE,
    OVERRIDES,
    SCORE,
    SELECT,
    STAFF_NOTES,
    VALIDATE,
    PipelineInputs,
    Stage,
)
from tasks.promotion import Promotion, PromotionReport, plan_promotion
from tasks.replies import REPLIES_FILE, read_responses, unsubscribed_addresses
from tasks.report import REPORT_FILE, write_report
from tasks.retention import check_not_purged
from tasks.review_notices import plan_review_notices
from tasks.review_round import (
    AssignmentSummary,
    CollectionSummary,
    assign_round,
    assignment_artifact,
    assignment_summary,
    collect_round,
    collection_summary,
    eligible_teams,
    in_folder,
    progress_artifact,
    read_assignments,
    review_of,
    write_collection,
)
from tasks.sheets import sheet_client
from tasks.simulate import WhatIf, limits_to_try, trying_text, what_if, what_if_equity, write_what_if
from tasks.smtp import check_smtp, smtp_settings
from tasks.sources import input_sha256, source_for, values_to_frame
from tasks.store import record_approval, record_selection
from tasks.validate import IntakeSummary, summarize_intake, write_gx_report
from tasks.worker_checks import check_run_store
from tasks.writeback import write_decisions_to_sheet

P = ParamSpec("P")
R = TypeVar("R")


def private_task(name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A Prefect task that neither persists nor caches its result: applicant data never reaches Prefect's result
    storage. Typed, so each task keeps its function's parameters and result for mypy."""
    return task(name=name, persist_result=False, cache_policy=NONE)


quiet_staff_errors()  # wherever these steps run, a staff error is logged as its message alone


@private_task("load config")
def load_config_task(config_path: str) -> CohortConfig:
    """The cohort file, and (on a worker whose deployment declares its store) a stop before anything is read or
    written when the run would use another store."""
    config = load_config(config_path)
    check_run_store(config, config_path, os.environ)
    return config


@private_task("check the output folder")
def check_output_folder_task(out_dir: str | None) -> None:
    """Before anything is recorded: the folder the run writes into is usable."""
    if out_dir:
        check_output_folder(Path(out_dir), flag=setting("out_dir"))


@private_task("load overrides")
def load_overrides_task(config: CohortConfig, submissions: str | None) -> list[Override]:
    """The Overrides worksheet of the responses spreadsheet, or the configured overrides file."""
    if isinstance(config.source, SheetSourceConfig) and not submissions:
        return read_sheet_overrides(sheet_client(config.source), config.source.key)
    return read_file_overrides(config)


@private_task("grant override extensions")
def extensions_task(config: CohortConfig, overrides: list[Override]) -> CohortConfig:
    return with_extensions(config, overrides)


@private_task("check retention")
def check_not_purged_task(config: CohortConfig, what: AfterPurge) -> None:
    """A call whose applicant data was purged under retention is not selected, sent or promoted again: that would
    need the names and addresses that are gone, or write them out again from the sheet."""
    check_not_purged(open_cohort_store(config), config, what)


@private_task("check deadline")
def check_deadline_task(config: CohortConfig, as_of: dt.datetime, *, preview: bool) -> None:
    check_deadline_passed(config, as_of, preview=preview)


@private_task("extract")
def extract_task(config: CohortConfig, submissions: str | None) -> tuple[pd.DataFrame, str]:
    source = source_for(config, Path(submissions) if submissions else None)
    values = source.read_values()
    return values_to_frame(values, config.columns), input_sha256(source, values)


def _stage_task(stage: Stage) -> Task[[pd.DataFrame, PipelineInputs], pd.DataFrame]:
    """The stage's pure function as a task of the stage's name, so the Prefect UI shows one task run per step."""
    return private_task(stage.name)(stage.run)


normalize_task = _stage_task(NORMALIZE)
validate_task = _stage_task(VALIDATE)
dedupe_task = _stage_task(DEDUPE)
cutoff_task = _stage_task(CUTOFF)
apply_overrides_task = _stage_task(OVERRIDES)
score_task = _stage_task(SCORE)
select_task = _stage_task(SELECT)
staff_notes_task = _stage_task(STAFF_NOTES)
STAGE_TASKS = {
    stage_task.name: stage_task
    for stage_task in (
        normalize_task,
        validate_task,
        dedupe_task,
        cutoff_task,
        apply_overrides_task,
        score_task,
        select_task,
        staff_notes_task,
    )
}


def in_tasks(stage: Stage, frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    """Runs a stage of tasks.pipeline.run_pipeline in its own task (a StepRunner)."""
    return STAGE_TASKS[stage.name](frame, inputs)


@private_task("write the validation report")
def gx_report_task(config: CohortConfig, out_dir: str | None, run_name: str) -> str | None:
    """The GX suite as JSON and GX's Data Docs of this run's validation (no applicant's answer in either), beside the
    run's outputs; the Data Docs index, or None without an output folder."""
    if not out_dir:
        return None
    index = write_gx_report(config, Path(out_dir), run_name)
    return str(index.resolve()) if index else None


def _docs_link(docs: str | None) -> str:
    """Where the Data Docs are, as text (a browser refuses a file:// link, and the file is on this machine)."""
    return (
        f"\nValidation report (great-expectations Data Docs): {where_text(docs, socket.gethostname())}\n"
        if docs
        else ""
    )


@private_task("summarize intake")
def summarize_intake_task(validated: pd.DataFrame, out_dir: str | None, docs: str | None = None) -> IntakeSummary:
    summary = summarize_intake(validated)
    get_run_logger().info("Intake summary\n%s", summary.as_text())
    if out_dir:  # reason codes are for notices; staff read the reasons
        write_csv(validated.drop(columns=[Derived.REASON_CODES], errors="ignore"), Path(out_dir) / "intake.csv")
    create_markdown_artifact(
        key=ArtifactKey.INTAKE_SUMMARY,
        markdown="## Intake\n\n```\n" + summary.as_text() + "\n```\n" + _docs_link(docs),
        description="Rows read, valid and invalid by reason",
    )
    return summary


@private_task("write decisions")
def write_decisions_task(decided: pd.DataFrame, config: CohortConfig, summary: SelectionSummary, out_dir: str) -> None:
    decisions = decisions_frame(decided, config, provisional=summary.provisional)
    write_decisions(decisions, summary, Path(out_dir))
    write_report(decisions, summary, config, Path(out_dir), equity_table(decided, previous_teams(config)))
    get_run_logger().info("Selection summary\n%s", summary.as_text())


@private_task("summarize selection")
def summarize_task(
    decided: pd.DataFrame, config: CohortConfig, config_path: str, input_sha: str, *, preview: bool
) -> SelectionSummary:
    return summarize_selection(decided, config, Path(config_path), input_sha, provisional=preview)


@private_task("write back to the sheet")
def write_back_task(decided: pd.DataFrame, config: CohortConfig, submissions: str | None, *, preview: bool) -> None:
    """The Decisions worksheet of the responses spreadsheet, when the responses came from it."""
    if submissions or not isinstance(config.source, SheetSourceConfig):
        return
    decisions = decisions_frame(decided, config, provisional=preview)
    write_decisions_to_sheet(sheet_client(config.source), config.source.key, decisions)


def publish(artifacts: list[Artifact]) -> None:
    """Each artifact into the Prefect UI, under its key, on the current flow run."""
    for artifact in artifacts:
        if artifact.table is not None:
            create_table_artifact(key=artifact.key, table=artifact.table, description=artifact.description)
        else:
            create_markdown_artifact(
                key=artifact.key, markdown=artifact.markdown or "", description=artifact.description
            )


@private_task("publish artifacts")
def publish_artifacts_task(
    decided: pd.DataFrame, config: CohortConfig, summary: SelectionSummary, out_dir: str, docs: str | None = None
) -> None:
    """The report's sections for staff in the Prefect UI (tasks/artifacts.py: the summary with where report.html
    is on this machine, the decisions, selected, waitlist, possible duplicates, invalid rows, equity), none with an
    applicant's contact details."""
    files = RunFiles(socket.gethostname(), Path(out_dir).resolve() / REPORT_FILE, docs)
    publish(selection_artifacts(decided, config, summary, files, previous_teams(config)))


@private_task("record selection")
def record_selection_task(decided: pd.DataFrame, config: CohortConfig, summary: SelectionSummary) -> int:
    """The decisions as selected, so notices are sent from exactly what staff reviewed."""
    engine = open_cohort_store(config)
    return record_selection(
        engine,
        config.cohort_id,
        decided,
        summary.input_sha256,
        summary.config_sha256,
        provisional=summary.provisional,
    )


@private_task("plan notices")
def plan_notices_task(
    config: CohortConfig, kind: str, as_of: dt.datetime, moves: list[Move] | None = None
) -> NoticePlan:
    """The notices of the decisions as they stand (with `moves` not yet recorded), and what they came from; or the
    reviewers' notices of the review round."""
    if RunKind(kind) not in FROM_SELECTION:
        return plan_review_notices(open_cohort_store(config), config, RunKind(kind), as_of)
    unsubscribed: frozenset[str] = frozenset()
    if RunKind(kind) == RunKind.INTEREST and config.replies is not None:
        unsubscribed = unsubscribed_addresses(config, read_responses(config))
    return plan_notices(open_cohort_store(config), config, kind, as_of, moves, unsubscribed)


@private_task("write the outbox")
def outbox_task(config: CohortConfig, plan: NoticePlan, out_dir: str) -> DeliveryReport:
    """Every message not yet sent, as .eml files with index.csv, for staff to read; nothing is recorded."""
    return dry_run(open_cohort_store(config), config, plan, Path(out_dir))


@private_task("check the SMTP server")
def check_smtp_task(config: CohortConfig, plan: NoticePlan) -> None:
    """Secrets resolved and a session opened (EHLO, STARTTLS, login) before anyone is asked to approve, and only
    when there is something to send."""
    if something_to_send(open_cohort_store(config), config, plan):
        check_smtp(smtp_settings(config))


@private_task("deliver")
def deliver_task(config: CohortConfig, plan: NoticePlan, *, resend_unknown: bool, purpose: str) -> DeliveryReport:
    """Under the cohort's lease: the plan checked current, its changes recorded, each notice claimed and sent."""
    engine = open_cohort_store(config)
    settings = smtp_settings(config) if something_to_send(engine, config, plan) else None  # no secret otherwise
    report = deliver(engine, config, plan, settings, resend_unknown=resend_unknown, purpose=purpose)
    get_run_logger().info("%s", report.as_text().splitlines()[0])
    return report


@private_task("check notification date")
def notify_by_task(
    config: CohortConfig, plan: NoticePlan, as_of: dt.datetime, report: DeliveryReport
) -> DeliveryReport:
    """Failed, unknown and overdue notices are logged as errors and listed in the report and artifact."""
    report.problems = unfinished(open_cohort_store(config), config, plan, as_of, report)
    for problem in report.problems:
        get_run_logger().error(problem)
    rows = [{StoreCol.LEDGER_STATE: ledger_state, "notices": str(n)} for ledger_state, n in report.counts.items()]
    create_table_artifact(key=ArtifactKey.NOTICES, table=rows, description="Notices by ledger state")
    return report


@contextlib.contextmanager
def run_lease(config: CohortConfig, purpose: str, *, needed: bool) -> Iterator[Lease | None]:
    """The cohort's lease around the steps of a run that records changes (none for a dry run)."""
    if not needed:
        yield None
        return
    with cohort_lease(open_cohort_store(config), config, purpose) as lease:
        yield lease


@private_task("publish the notices for approval")
def publish_outbox_task(
    config: CohortConfig, plan: NoticePlan, preview: DeliveryReport, *, resend_unknown: bool
) -> Review:
    """Every message the send would deliver and every one it holds back (with why), recipients masked, as a table;
    the counts, where the outbox is on this machine and one message of each kind: what staff read before they
    answer, in the Prefect UI."""
    engine = open_cohort_store(config)
    where = f"{Path(preview.outbox).resolve()} on {socket.gethostname()}" if preview.outbox else ""
    found = for_review(engine, config, plan, where, resend_unknown=resend_unknown)
    create_table_artifact(key=ApprovalArtifact.NOTICES, table=found.rows, description=approval_counts(found))
    create_markdown_artifact(
        key=ApprovalArtifact.SAMPLES,
        markdown=samples_markdown(found),
        description="The counts, where the outbox is, and one message of each kind",
    )
    return found


@private_task("record approval")
def record_approval_task(config: CohortConfig, kind: str, flow_run_id: str, answer: ApprovalAnswer) -> bool:
    """Kept in the state store with who answered and their note; only `approved` lets the notices go."""
    engine = open_cohort_store(config)
    record_approval(engine, config.cohort_id, kind, flow_run_id, answer.outcome, answer.note, answer.approver)
    if answer.outcome != ApprovalOutcome.APPROVED:
        by = f" by {answer.approver}" if answer.approver else ""
        get_run_logger().warning("Notices not sent: %s%s. Note: %s", answer.outcome, by, answer.note or "(none)")
    return answer.outcome == ApprovalOutcome.APPROVED


@private_task("say the outcome")
def outcome_task(found: Review, report: DeliveryReport, answer: ApprovalAnswer | None) -> Outcome:
    """The outcome in one log line and at the end of the run's name, so the run list tells a sent run from a
    rejected one or a dry run."""
    said = outcome(found, report, answer)
    get_run_logger().info("%s", said.message)
    if flow_run.id is not None:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run.id))
            client.update_flow_run(run.id, name=outcome_run_name(run.name, said.headline))
    return said


@private_task("hold notified decisions")
def drift_task(decided: pd.DataFrame, config: CohortConfig, out_dir: str) -> DriftReport:
    """After the notices the selection is frozen: a re-run writes drift.csv and records nothing."""
    drift = check_drift(open_cohort_store(config), config, decided, Path(out_dir))
    if drift.frozen:
        get_run_logger().warning("%s", drift.as_text())
        create_markdown_artifact(
            key=ArtifactKey.SELECTION_DRIFT,
            markdown=f"## Selection frozen\n\n```\n{drift.as_text()}\n```\n",
            description="What a re-run would change; nothing was recorded",
        )
    return drift


@private_task("read the reply form")
def read_replies_task(config: CohortConfig) -> pd.DataFrame | None:
    """The reply form's responses, when the cohort file has a reply form (`replies:`)."""
    return read_responses(config) if config.replies is not None else None


@private_task("publish the replies")
def publish_replies_task(config: CohortConfig, report: PromotionReport, out_dir: str) -> None:
    """What became of each response row (replies.csv in the outbox folder, and a table artifact), for staff."""
    if config.replies is None:
        return
    table = pd.DataFrame(report.replies, columns=list(ReplyCol))
    write_table(table, Path(out_dir) / REPLIES_FILE)
    for column in (ReplyCol.TEAM, ReplyCol.CHOICE, ReplyCol.WHY):
        table[column] = without_contacts(table[column])
    counts = ", ".join(f"{n} {outcome}" for outcome, n in report.replies_by_outcome().items()) or "none"
    description = f"Replies from the reply form: {len(table)} rows ({counts}); a refused or late row is not applied"
    create_table_artifact(key=ArtifactKey.REPLIES, table=records(table), description=description)


@private_task("promote from the waitlist")
def promote_task(
    config: CohortConfig,
    overrides: list[Override],
    as_of: dt.datetime,
    responses: pd.DataFrame | None = None,
    *,
    send: bool,
) -> Promotion:
    """Staff actions from the Overrides sheet, the teams' replies, expired offers, then offers for the free seats,
    computed; the send records them with their notices, and a dry run records nothing."""
    promotion = plan_promotion(open_cohort_store(config), config, as_of, overrides, responses, dry_run=not send)
    get_run_logger().info("Promotion\n%s", promotion.report.as_text())
    create_markdown_artifact(
        key=ArtifactKey.PROMOTION, markdown=f"## Waitlist promotion\n\n```\n{promotion.report.as_text()}\n```\n"
    )
    return promotion


@private_task("what if")
def what_if_task(
    scored: pd.DataFrame, config: CohortConfig, capacities: list[int], caps: list[int], out_dir: str
) -> WhatIf:
    """Selections under other limits, written to what-if.csv; nothing recorded or sent."""
    table = write_what_if(what_if(scored, config, capacities, caps), config, Path(out_dir))
    get_run_logger().info("%s", table.as_text())
    return table


@private_task("publish what-if artifacts")
def publish_what_if_task(scored: pd.DataFrame, config: CohortConfig, table: WhatIf) -> None:
    """The what-if table and the equity comparison of every combination tried, for staff in the Prefect UI."""
    equity = what_if_equity(scored, config, table.rows, previous_teams(config))
    publish(what_if_artifacts(table, equity, config))


@private_task("check the notice record")
def check_notice_record_task(config: CohortConfig, config_path: str, out_dir: str) -> None:
    """Before a send plans anything: every notice recorded outside the store (the Decisions tab, or the outbox's
    notice record) is known to the store; a lost, emptied or wrong store stops the send, naming the restore."""
    check_notice_record(open_cohort_store(config), config, config_path, Path(out_dir))


@private_task("record the notices outside the store")
def record_notices_task(config: CohortConfig, out_dir: str, report: DeliveryReport) -> DeliveryReport:
    """After a send: each team's notice state written where staff keep their own copy; a failed write is one of
    the report's problems (the notices were sent)."""
    problem = write_notice_record(open_cohort_store(config), config, Path(out_dir))
    if problem:
        get_run_logger().warning("%s", problem)
        report.problems = [*report.problems, problem]
    return report


@private_task("as of")
def as_of_task(config: CohortConfig, as_of: str | None) -> dt.datetime:
    """The moment the run is made as of: `as_of` read on the cohort's clock ("2021-06-07 10:00"), or now, and said
    back as the run's first line, so staff see which moment the run took their text for."""
    moment = read_moment(as_of, config.timezone) if as_of else dt.datetime.now(dt.UTC)
    get_run_logger().info("%s", running_as_of(moment, config.timezone, now=not as_of))
    return moment


@private_task("limits to try")
def what_if_limits_task(
    config: CohortConfig, capacities: Sequence[int], caps: Sequence[int]
) -> tuple[list[int], list[int]]:
    """The capacities and per-state caps to try: those given, or around the cohort's own (tasks/simulate.py)."""
    tried = limits_to_try(config, capacities, caps)
    get_run_logger().info("%s", trying_text(*tried))
    return tried


@private_task("assign reviewers")
def assign_reviewers_task(screened: pd.DataFrame, config: CohortConfig) -> AssignmentSummary:
    """The eligible teams' reviewers, written to review.folder (assignments.csv and each reviewer's file)."""
    eligible = eligible_teams(screened)
    assigned = assign_round(eligible, config)
    summary = assignment_summary(eligible, assigned, config)
    get_run_logger().info("%s", summary.as_text())
    publish([assignment_artifact(assigned, summary)])
    return summary


@private_task("collect reviews")
def collect_reviews_task(screened: pd.DataFrame, config: CohortConfig) -> CollectionSummary:
    """The reviewers' files read back: reviews.csv, the bad cells and the progress tables in review.folder."""
    eligible = eligible_teams(screened)
    review = review_of(config)
    collection = collect_round(eligible, config)
    write_collection(collection, review.folder)
    summary = collection_summary(collection, config, review.folder)
    get_run_logger().info("%s", summary.as_text())
    publish([progress_artifact(collection, read_assignments(review), summary)])
    return summary


@private_task("review folder")
def review_folder_task(config: CohortConfig, out_dir: str) -> CohortConfig:
    """The config with the review round's folder moved to `out_dir` when one is given (a command's --out)."""
    return in_folder(config, out_dir)
