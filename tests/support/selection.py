"""Sheet rows taken through the pure selection steps (tasks/pipeline.py), in this process: to decisions, to the store,
to the sheet."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from schemas.columns import Col
from tasks.decisions import decisions_frame
from tasks.overrides import Override
from tasks.pipeline import PipelineInputs, run_pipeline
from tasks.store import open_store, record_selection
from tests.support.rows import raw_frame


def run(config, *rows: list[str], overrides: Sequence[Override] = ()) -> pd.DataFrame:
    """The pure pipeline from sheet rows to decisions, as the flow runs it (with these Overrides rows)."""
    return run_pipeline(raw_frame(*rows), PipelineInputs(config, overrides))


def by_row(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index(Col.SOURCE_ROW)


def record(config, rows: list[list[str]]):
    """The rows selected and recorded as the cohort's selection in its state store; returns the store's engine."""
    decided = run(config, *rows)
    engine = open_store(config.database_url)
    record_selection(engine, config.cohort, decided, "in", "cfg", provisional=False)
    return engine


def sheet_decisions(config, *rows: list[str]) -> pd.DataFrame:
    """The decisions of the rows as written to the Decisions sheet."""
    return decisions_frame(run(config, *rows), config, provisional=False)
