"""Selection at the deadline: the steps of tasks/pipeline.py (intake → dedupe → cutoff → overrides → score → select →
staff notes), then decisions for staff."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.steps import (
    check_deadline_task,
    check_not_purged_task,
    check_output_folder_task,
    drift_task,
    extensions_task,
    extract_task,
    gx_report_task,
    in_tasks,
    load_config_task,
    load_overrides_task,
    publish_artifacts_task,
    record_selection_task,
    summarize_task,
    write_back_task,
    write_decisions_task,
)
from schemas.retention import AfterPurge
from tasks.decisions import SelectionSummary
from tasks.drift import DriftReport
from tasks.pipeline import PipelineInputs, run_pipeline


@flow(name="select-cohort")
def select_cohort(
    config_path: Annotated[str, Field(description="Path of the cohort YAML file")],
    out_dir: Annotated[str, Field(description="Folder for decisions.csv and summary.json")] = "out/decisions",
    submissions: Annotated[
        str | None, Field(description="A CSV or XLSX export to read instead of the configured source")
    ] = None,
    as_of: Annotated[
        dt.datetime | None, Field(description="Run as if at this moment (ISO-8601 with offset); default now")
    ] = None,
    *,
    preview: Annotated[bool, Field(description="Allow a provisional selection before the deadline")] = False,
) -> SelectionSummary | DriftReport:
    """The whole selection; every input row ends with exactly one status and a reason.

    Once decision notices are out, the selection is frozen: the run reports drift and records nothing.
    """
    config = load_config_task(config_path)
    check_output_folder_task(out_dir)
    overrides = load_overrides_task(config, submissions)
    config = extensions_task(config, overrides)
    check_deadline_task(config, as_of or dt.datetime.now(dt.UTC), preview=preview)
    check_not_purged_task(config, AfterPurge.SELECT)
    raw, input_sha = extract_task(config, submissions)
    decided = run_pipeline(raw, PipelineInputs(config, overrides), run_step=in_tasks)  # one task per step
    docs = gx_report_task(config, out_dir, "select")
    drift = drift_task(decided, config, out_dir)
    if drift.frozen:
        return drift
    summary = summarize_task(decided, config, config_path, input_sha, preview=preview)
    record_selection_task(decided, config, summary)
    write_decisions_task(decided, config, summary, out_dir)
    write_back_task(decided, config, submissions, preview=preview)
    publish_artifacts_task(decided, config, summary, out_dir, docs)
    return summary
