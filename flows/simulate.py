"""What-if: the selection under other capacities and per-state caps. Nothing is recorded or sent."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.steps import (
    check_output_folder_task,
    extensions_task,
    extract_task,
    in_tasks,
    load_config_task,
    load_overrides_task,
    what_if_task,
)
from schemas.frames import Step
from tasks.pipeline import PipelineInputs, run_pipeline, stages_through
from tasks.simulate import WhatIf


@flow(name="what-if")
def simulate(
    config_path: Annotated[str, Field(description="Path of the cohort YAML file")],
    capacities: Annotated[list[int], Field(description="Capacities to try, e.g. [15, 20, 25]", min_length=1)],
    max_per_state: Annotated[list[int], Field(description="Per-state caps to try, e.g. [1, 2, 3]", min_length=1)],
    out_dir: Annotated[str, Field(description="Folder for what-if.csv")] = "out/what-if",
    submissions: Annotated[
        str | None, Field(description="A CSV or XLSX export to read instead of the configured source")
    ] = None,
) -> WhatIf:
    """The steps of tasks/pipeline.py through score (intake → dedupe → cutoff → overrides → score), then one
    selection per combination of limits."""
    config = load_config_task(config_path)
    check_output_folder_task(out_dir)
    overrides = load_overrides_task(config, submissions)
    config = extensions_task(config, overrides)
    raw, _ = extract_task(config, submissions)
    scored = run_pipeline(raw, PipelineInputs(config, overrides), stages_through(Step.SCORE), run_step=in_tasks)
    return what_if_task(scored, config, capacities, max_per_state, out_dir)
