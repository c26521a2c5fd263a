"""Intake: read the responses, normalize them, validate them: what staff check during the window."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from pydantic import Field

from schemas.config import CohortConfig, load_config
from tasks.decisions import write_csv
from tasks.normalize import normalize
from tasks.sources import source_for, values_to_frame
from tasks.validate import IntakeSummary, summarize_intake, validate

# Applicant data never goes to Prefect's result storage or cache.
PRIVATE = {"persist_result": False, "cache_policy": NONE}


@task(name="load config", **PRIVATE)
def load_config_task(config_path: str) -> CohortConfig:
    return load_config(config_path)


@task(name="extract", **PRIVATE)
def extract_task(config: CohortConfig, submissions: str | None) -> pd.DataFrame:
    source = source_for(config, Path(submissions) if submissions else None)
    return values_to_frame(source.read_values())


@task(name="normalize", **PRIVATE)
def normalize_task(raw: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    return normalize(raw, config)


@task(name="validate", **PRIVATE)
def validate_task(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    return validate(frame, config)


@task(name="summarize intake", **PRIVATE)
def summarize_task(validated: pd.DataFrame, out_dir: str | None) -> IntakeSummary:
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


@flow(name="intake", log_prints=True)
def intake(
    config_path: Annotated[str, Field(description="Path of the cohort YAML file")],
    submissions: Annotated[
        str | None, Field(description="A CSV or XLSX export to read instead of the configured source")
    ] = None,
    out_dir: Annotated[str | None, Field(description="Folder for intake.csv (rows with status, reasons)")] = None,
) -> IntakeSummary:
    """extract → normalize → validate, then a summary staff can read."""
    config = load_config_task(config_path)
    raw = extract_task(config, submissions)
    frame = normalize_task(raw, config)
    validated = validate_task(frame, config)
    return summarize_task(validated, out_dir)
