"""Intake: read the responses, normalize them, validate them: what staff check during the window."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

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


@flow(name="intake")
def intake(
    config_path: Annotated[str, Field(description="Path of the cohort YAML file")],
    submissions: Annotated[
        str | None, Field(description="A CSV or XLSX export to read instead of the configured source")
    ] = None,
    out_dir: Annotated[
        str | None, Field(description="Folder for intake.csv (rows with status, reasons) and the validation report")
    ] = None,
) -> IntakeSummary:
    """extract → normalize → validate, then a summary staff can read."""
    config = load_config_task(config_path)
    check_output_folder_task(out_dir)
    raw, _ = extract_task(config, submissions)
    validated = run_pipeline(raw, PipelineInputs(config), INTAKE, run_step=in_tasks)  # normalize, validate
    docs = gx_report_task(config, out_dir, "intake")
    return summarize_intake_task(validated, out_dir, docs)
