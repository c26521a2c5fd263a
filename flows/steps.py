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
from tasks.cutoff import apply_cutoff, check_deadline_passed
from tasks.decisions import SelectionSummary, decisions_frame, summarize_selection, write_csv, write_decisions
from tasks.dedupe import deduplicate
from tasks.normalize import normalize
from tasks.score import score
from tasks.select import select
from tasks.sources import input_sha256, source_for, values_to_frame
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
