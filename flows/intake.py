"""Intake: read the responses, normalize them, validate them: what staff check during the window."""

from __future__ import annotations

from prefect import flow

from flows.runs import intake_name, run_name, staff_failures
from flows.steps import (
    check_output_folder_task,
    extract_task,
    gx_report_task,
    in_tasks,
    load_config_task,
    summarize_intake_task,
)
from tasks.pipeline import INTAKE, PipelineInputs, run_pipeline
from tasks.validate import IntakeSummary


@flow(name="intake", flow_run_name=run_name(intake_name))
@staff_failures
def intake(config_path: str, submissions: str = "", out_dir: str = "") -> IntakeSummary:
    """extract → normalize → validate, then a summary staff can read.

    Args:
        config_path: The cohort file, e.g. cohorts/esp-2021.yaml: where the responses are, the form's questions
            and the rules they are checked against.
        submissions: A CSV or XLSX export of the responses to read instead of the cohort file's source (the
            Google Sheet); leave empty to read the source.
        out_dir: A folder for intake.csv (every row with its status and reasons) and the validation report; it is
            made when missing. Leave empty for the summary alone, with no files written.
    """
    config = load_config_task(config_path)
    check_output_folder_task(out_dir)
    raw, _ = extract_task(config, submissions)
    validated = run_pipeline(raw, PipelineInputs(config), INTAKE, run_step=in_tasks)  # normalize, validate
    docs = gx_report_task(config, out_dir, "intake")
    return summarize_intake_task(validated, out_dir, docs)
