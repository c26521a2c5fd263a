"""The selection's steps in their one order: normalize → validate → dedupe → cutoff → overrides → score → select →
staff notes.

Written once here and run by the flows (each step in its own Prefect task, see flows/steps.py), the benchmarks, the
fault runner and the tests, so none of them can run the steps in another order or leave one out. Each step's
contract (schemas/frames.py) is checked where the frame is handed to it and where it hands the frame on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from schemas.config import CohortConfig
from schemas.frames import Step, check_adds, check_requires
from tasks.cutoff import apply_cutoff
from tasks.dedupe import deduplicate
from tasks.normalize import normalize
from tasks.overrides import Override, add_staff_notes, apply_before_selection
from tasks.review_round import with_review_points
from tasks.score import score
from tasks.select import select
from tasks.validate import validate


@dataclass(frozen=True)
class PipelineInputs:
    """What the steps read besides the frame: the cohort's config (with the extensions the overrides grant, see
    tasks.overrides.with_extensions), the Overrides rows (none unless staff wrote some) and whether the run is
    provisional."""

    config: CohortConfig
    overrides: Sequence[Override] = ()
    # A provisional run (the selection's `preview`, the what-if): a team short of reviews is marked, not refused.
    preview: bool = False


@dataclass(frozen=True)
class Stage:
    """One step: its name (schemas.frames.Step, also its Prefect task's name) and the pure function that does it."""

    step: Step
    run: Callable[[pd.DataFrame, PipelineInputs], pd.DataFrame]

    @property
    def name(self) -> str:
        return self.step.value


def _normalize(raw: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    return normalize(raw, inputs.config)


def _validate(frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    return validate(frame, inputs.config)


def _dedupe(frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    return deduplicate(frame, inputs.config)


def _cutoff(frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    return apply_cutoff(frame, inputs.config)


def _overrides(frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    """Overrides and extensions that name no row are refused (one message each); then force-decline/select."""
    return apply_before_selection(frame, list(inputs.overrides), inputs.config.extensions)


def _score(frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    """The rubric's points, then with a review round the reviewers' (tasks/review_round.py)."""
    scored = score(frame, inputs.config)
    if inputs.config.review is None:
        return scored
    return with_review_points(scored, inputs.config, list(inputs.overrides), preview=inputs.preview)


def _select(frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    return select(frame, inputs.config)


def _staff_notes(frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    return add_staff_notes(frame, list(inputs.overrides))


NORMALIZE = Stage(Step.NORMALIZE, _normalize)
VALIDATE = Stage(Step.VALIDATE, _validate)
DEDUPE = Stage(Step.DEDUPE, _dedupe)
CUTOFF = Stage(Step.CUTOFF, _cutoff)
OVERRIDES = Stage(Step.OVERRIDES, _overrides)
SCORE = Stage(Step.SCORE, _score)
SELECT = Stage(Step.SELECT, _select)
STAFF_NOTES = Stage(Step.STAFF_NOTES, _staff_notes)

INTAKE: tuple[Stage, ...] = (NORMALIZE, VALIDATE)
"""Sheet rows to the validated frame (the intake flow)."""
SELECTION: tuple[Stage, ...] = (DEDUPE, CUTOFF, OVERRIDES, SCORE, SELECT, STAFF_NOTES)
"""The validated frame to decisions."""
STAGES: tuple[Stage, ...] = INTAKE + SELECTION


def stages_through(step: Step, stages: Sequence[Stage] = STAGES) -> tuple[Stage, ...]:
    """The stages up to and including `step` (the what-if flow scores once, then selects under each limit)."""
    names = [stage.step for stage in stages]
    return tuple(stages[: names.index(step) + 1])


StepRunner = Callable[[Stage, pd.DataFrame, PipelineInputs], pd.DataFrame]
"""Runs one stage on a frame: the flows wrap each in its Prefect task, the benchmarks time and measure each."""


def run_stage(stage: Stage, frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
    """The stage's function, nothing around it."""
    return stage.run(frame, inputs)


def run_pipeline(
    frame: pd.DataFrame,
    inputs: PipelineInputs,
    stages: Sequence[Stage] = STAGES,
    run_step: StepRunner = run_stage,
) -> pd.DataFrame:
    """The stages in order on the frame (the raw sheet frame for the whole chain), each stage's contract checked on
    the frame handed to it and on the frame it hands on; `run_step` runs each stage."""
    for stage in stages:
        check_requires(frame, stage.step)
        frame = run_step(stage, frame, inputs)
        check_adds(frame, stage.step)
    return frame
