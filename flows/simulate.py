"""What-if: the selection under other capacities and per-state caps. Nothing is recorded or sent."""

from __future__ import annotations

from prefect import flow

from flows.runs import run_name, staff_failures, what_if_name
from flows.steps import (
    check_output_folder_task,
    extensions_task,
    extract_task,
    in_tasks,
    load_config_task,
    load_overrides_task,
    publish_what_if_task,
    what_if_limits_task,
    what_if_task,
)
from schemas.frames import Step
from tasks.pipeline import PipelineInputs, run_pipeline, stages_through
from tasks.simulate import WhatIf


@flow(name="what-if", flow_run_name=run_name(what_if_name))
@staff_failures
def simulate(
    config_path: str,
    capacities: tuple[int, ...] = (),
    max_per_state: tuple[int, ...] = (),
    out_dir: str = "out/what-if",
    submissions: str = "",
) -> WhatIf:
    """The steps of tasks/pipeline.py through score (intake → dedupe → cutoff → overrides → score), then one
    selection per combination of limits.

    Args:
        config_path: The cohort file, e.g. cohorts/esp-2021.yaml: the capacity and per-state cap in force now,
            the rubric and where the responses are.
        capacities: The numbers of seats to try, e.g. 15, 20, 25. Leave empty for the cohort's capacity and a
            quarter of it either side (15, 20, 25 for a capacity of 20).
        max_per_state: The most teams per state to try, e.g. 1, 2, 3. Leave empty for the cohort's cap and one
            either side (1, 2, 3 for a cap of 2).
        out_dir: The folder for what-if.csv, one row per capacity and cap tried; nothing else is written or
            recorded.
        submissions: A CSV or XLSX export of the responses to read instead of the cohort file's source (the
            Google Sheet); leave empty to read the source.
    """
    config = load_config_task(config_path)
    capacities_tried, caps_tried = what_if_limits_task(config, capacities, max_per_state)
    check_output_folder_task(out_dir)
    overrides = load_overrides_task(config, submissions)
    config = extensions_task(config, overrides)
    raw, _ = extract_task(config, submissions)
    inputs = PipelineInputs(config, overrides, preview=True)  # a team short of reviews is marked, not refused
    scored = run_pipeline(raw, inputs, stages_through(Step.SCORE), run_step=in_tasks)
    table = what_if_task(scored, config, capacities_tried, caps_tried, out_dir)
    publish_what_if_task(scored, config, table)
    return table
