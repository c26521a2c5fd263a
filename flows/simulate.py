"""What-if: the selection under other capacities and per-state caps. Nothing is recorded or sent."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.steps import (
    apply_overrides_task,
    check_output_folder_task,
    cutoff_task,
    dedupe_task,
    extensions_task,
    extract_task,
    load_config_task,
    load_overrides_task,
    normalize_task,
    score_task,
    validate_task,
    what_if_task,
)
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
    """intake → dedupe → cutoff → overrides → score, then one selection per combination of limits."""
    config = load_config_task(config_path)
    check_output_folder_task(out_dir)
    overrides = load_overrides_task(config, submissions)
    config = extensions_task(config, overrides)
    raw, _ = extract_task(config, submissions)
    validated = validate_task(normalize_task(raw, config), config)
    on_time = cutoff_task(dedupe_task(validated, config), config)
    scored = score_task(apply_overrides_task(on_time, overrides, config.extensions), config)
    return what_if_task(scored, config, capacities, max_per_state, out_dir)
