"""Selection at the deadline: intake → dedupe → cutoff → score → select → decisions for staff."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.steps import (
    apply_overrides_task,
    check_deadline_task,
    check_output_folder_task,
    cutoff_task,
    dedupe_task,
    drift_task,
    extensions_task,
    extract_task,
    load_config_task,
    load_overrides_task,
    normalize_task,
    publish_artifacts_task,
    record_selection_task,
    score_task,
    select_task,
    staff_notes_task,
    summarize_task,
    validate_task,
    write_back_task,
    write_decisions_task,
)
from tasks.decisions import SelectionSummary
from tasks.lifecycle import DriftReport


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
    preview: Annotated[bool, Field(description="Allow a provisional selection before the deadline")] = False,
) -> SelectionSummary | DriftReport:
    """The whole selection; every input row ends with exactly one status and a reason.

    Once decision notices are out, the selection is frozen: the run reports drift and records nothing.
    """
    config = load_config_task(config_path)
    check_output_folder_task(out_dir)
    overrides = load_overrides_task(config, submissions)
    config = extensions_task(config, overrides)
    check_deadline_task(config, as_of or dt.datetime.now(dt.UTC), preview)
    raw, input_sha = extract_task(config, submissions)
    validated = validate_task(normalize_task(raw, config), config)
    deduped = dedupe_task(validated, config)
    on_time = cutoff_task(deduped, config)
    eligible = apply_overrides_task(on_time, overrides, config.extensions)
    scored = score_task(eligible, config)
    decided = staff_notes_task(select_task(scored, config), overrides)
    drift = drift_task(decided, config, out_dir)
    if drift.frozen:
        return drift
    summary = summarize_task(decided, config, config_path, input_sha, preview)
    record_selection_task(decided, config, summary)
    write_decisions_task(decided, config, summary, out_dir)
    write_back_task(decided, config, submissions, preview)
    publish_artifacts_task(decided, config, summary, out_dir)
    return summary
