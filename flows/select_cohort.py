"""Selection at the deadline: the steps of tasks/pipeline.py (intake → dedupe → cutoff → overrides → score → select →
staff notes), then decisions for staff."""

from __future__ import annotations

from prefect import flow

from flows.runs import run_name, select_name, staff_failures
from flows.steps import (
    as_of_task,
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


@flow(name="select-cohort", flow_run_name=run_name(select_name))
@staff_failures
def select_cohort(
    config_path: str,
    out_dir: str = "out/decisions",
    submissions: str = "",
    as_of: str = "",
    *,
    preview: bool = False,
) -> SelectionSummary | DriftReport:
    """The whole selection; every input row ends with exactly one status and a reason.

    Once decision notices are out, the selection is frozen: the run reports drift and records nothing.

    Args:
        config_path: The cohort file, e.g. cohorts/esp-2021.yaml: the deadline, capacity, per-state cap, rubric
            and where the responses are.
        out_dir: The folder for decisions.csv, summary.json and report.html; it is made when missing.
        submissions: A CSV or XLSX export of the responses to read instead of the cohort file's source (the
            Google Sheet); leave empty to read the source. With an export, nothing is written back to the sheet.
        as_of: The moment to select as of, on the cohort's clock, like 2021-06-07 10:00 (in the cohort's time
            zone on that date; an offset such as -04:00 is optional). Leave empty for now. Before the deadline
            the selection needs `preview`.
        preview: Turn on for a provisional selection before the deadline: decisions to look at, from which no
            notice can be sent. Off, a run before the deadline stops and says so.
    """
    config = load_config_task(config_path)
    moment = as_of_task(config, as_of)
    check_output_folder_task(out_dir)
    overrides = load_overrides_task(config, submissions)
    config = extensions_task(config, overrides)
    check_deadline_task(config, moment, preview=preview)
    check_not_purged_task(config, AfterPurge.SELECT)
    raw, input_sha = extract_task(config, submissions)
    decided = run_pipeline(raw, PipelineInputs(config, overrides, preview), run_step=in_tasks)  # one task per step
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
