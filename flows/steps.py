"""Prefect tasks: one per step, each a thin wrapper of the pure function in tasks/ that holds the rules.

Applicant data never goes to Prefect's result storage or cache (persist_result=False, no cache policy).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from schemas.config import CohortConfig, load_config
from tasks.cutoff import DeadlineNotPassedError, apply_cutoff, check_deadline_passed, local_time_text
from tasks.decisions import SelectionSummary, decisions_frame, summarize_selection, write_csv, write_decisions
from tasks.dedupe import deduplicate
from tasks.delivery import (
    DeliveryReport,
    delivery_report,
    send_notices,
    smtp_settings,
    sync_ledger,
    unsent_after,
    write_outbox,
)
from tasks.normalize import normalize
from tasks.notices import (
    DECISION_KINDS,
    Notice,
    NoticeError,
    decision_notices,
    interest_notices,
    read_interest_list,
    sender_domain,
)
from tasks.score import score
from tasks.select import select
from tasks.sources import input_sha256, source_for, values_to_frame
from tasks.store import latest_selection, ledger, open_store, record_selection
from tasks.validate import IntakeSummary, summarize_intake, validate

PRIVATE = {"persist_result": False, "cache_policy": NONE}


@task(name="load config", **PRIVATE)
def load_config_task(config_path: str) -> CohortConfig:
    return load_config(config_path)


@task(name="check deadline", **PRIVATE)
def check_deadline_task(config: CohortConfig, as_of: dt.datetime, preview: bool) -> None:
    check_deadline_passed(config, as_of, preview)


@task(name="extract", **PRIVATE)
def extract_task(config: CohortConfig, submissions: str | None) -> tuple[pd.DataFrame, str]:
    source = source_for(config, Path(submissions) if submissions else None)
    values = source.read_values()
    return values_to_frame(values), input_sha256(source, values)


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
    if out_dir:
        write_csv(validated, Path(out_dir) / "intake.csv")
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
def write_decisions_task(
    decided: pd.DataFrame, config: CohortConfig, config_path: str, input_sha: str, preview: bool, out_dir: str
) -> SelectionSummary:
    summary = summarize_selection(decided, config, Path(config_path), input_sha, preview)
    write_decisions(decisions_frame(decided, config, preview), summary, Path(out_dir))
    get_run_logger().info("Selection summary\n%s", summary.as_text())
    return summary


@task(name="publish artifacts", **PRIVATE)
def publish_artifacts_task(decided: pd.DataFrame, config: CohortConfig, summary: SelectionSummary) -> None:
    """A table of decisions (no contact details) and the summary, for staff in the Prefect UI."""
    shown = decisions_frame(decided, config, summary.provisional)
    columns = ["source_row", "status", "rank", "score", "local_name", "state", "reasons"]
    create_table_artifact(
        key="decisions",
        table=shown[columns].astype(str).to_dict(orient="records"),
        description=f"Decisions for {config.program} {config.cohort}",
    )
    create_markdown_artifact(key="selection-summary", markdown=summary.as_markdown())


@task(name="record selection", **PRIVATE)
def record_selection_task(decided: pd.DataFrame, config: CohortConfig, summary: SelectionSummary) -> int:
    """The decisions as selected, so notices are sent from exactly what staff reviewed."""
    engine = open_store(config.database_url)
    return record_selection(
        engine, config.cohort, decided, summary.input_sha256, summary.config_sha256, summary.provisional
    )


def _kinds(kind: str) -> frozenset[str]:
    return DECISION_KINDS if kind == "decisions" else frozenset({"interest"})


@task(name="plan notices", **PRIVATE)
def plan_notices_task(config: CohortConfig, kind: str, as_of: dt.datetime) -> list[Notice]:
    """Decision notices from the latest recorded selection, or the interest-list notices."""
    engine = open_store(config.database_url)
    head, decided = latest_selection(engine, config.cohort)
    domain = sender_domain(config)
    decisions = decision_notices(decided, config, domain)
    if kind == "decisions":
        if as_of < config.deadline:
            raise DeadlineNotPassedError(
                "decision notices cannot go out before the deadline "
                f"({local_time_text(config.deadline, config.timezone)})"
            )
        if head["provisional"]:
            raise NoticeError("the latest selection is provisional (--preview): run `cohort-select select` again")
        return decisions
    if config.interest_list is None:
        raise NoticeError("the cohort config has no `interest_list` file")
    notified = {n.to for n in decisions} | {n.cc for n in decisions if n.cc}
    return interest_notices(read_interest_list(config.interest_list), notified, config, domain)


@task(name="deliver", **PRIVATE)
def deliver_task(
    config: CohortConfig, planned: list[Notice], kind: str, send: bool, resend_unknown: bool, out_dir: str
) -> DeliveryReport:
    """Dry run: the outbox of what is not yet sent. Send: ledger first, then SMTP, one connection."""
    engine = open_store(config.database_url)
    kinds = _kinds(kind)
    if not send:
        rows = ledger(engine, config.cohort)
        done = {(r.applicant, r.kind, r.version) for r in rows[rows["state"] == "sent"].itertuples()}
        waiting = [n for n in planned if (n.applicant, n.kind, n.version) not in done]
        outbox = write_outbox(waiting, config, Path(out_dir))
        report = delivery_report(engine, config.cohort, kinds, dry_run=True, outbox=outbox)
        report.counts["would send"] = sum(1 for n in waiting if not n.refusal)
        report.refused = [f"{n.to} ({n.kind}): {n.refusal}" for n in waiting if n.refusal]
        report.counts["refused"] = len(report.refused)
        return report
    sync_ledger(engine, config.cohort, planned, kinds)
    send_notices(engine, config.cohort, planned, config, smtp_settings(config), resend_unknown=resend_unknown)
    return delivery_report(engine, config.cohort, kinds, dry_run=False, outbox=None)


@task(name="check notification date", **PRIVATE)
def notify_by_task(
    config: CohortConfig, planned: list[Notice], kind: str, as_of: dt.datetime, report: DeliveryReport
) -> DeliveryReport:
    """After the notification date, unsent decision notices are a failure that names them."""
    problems = [f"{len(report.failed)} notices failed"] if report.failed else []
    if report.unknown:
        problems.append(f"{len(report.unknown)} notices are unknown (see the list; --resend-unknown sends them)")
    if kind == "decisions" and as_of.astimezone(config.zone).date() > config.notify_by:
        engine = open_store(config.database_url)
        unsent = unsent_after(engine, config.cohort, planned)
        if len(unsent):
            listed = [
                f"{r.recipient} ({r.kind}{', refused: ' + r.refused if r.refused else ''})" for r in unsent.itertuples()
            ]
            names = ", ".join(listed[:10]) + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")
            day = f"{config.notify_by:%B} {config.notify_by.day} {config.notify_by.year}"
            problems.append(f"{len(unsent)} notices unsent and the notification date {day} has passed: {names}")
    for problem in problems:
        get_run_logger().error(problem)
    report.problems = problems
    rows = [{"state": state, "notices": str(n)} for state, n in report.counts.items()]
    create_table_artifact(key="notices", table=rows, description="Notices by ledger state")
    return report
