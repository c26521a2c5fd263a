"""Step contracts: per step of the selection, the columns it reads from the frame it is handed and the columns it adds.

The steps (tasks/pipeline.py) hand one frame on, each adding columns a later one reads: `cutoff` reads `on_time`,
which only `dedupe` makes. Checking the contract where a frame is handed on turns a step run out of order, or a
frame built without a step, into an error naming the step and the missing columns, instead of a KeyError deep in
pandas (or, worse, a column quietly read as absent). A check is a set difference on column names: it costs nothing
next to the step.

Columns a step reads only when they are there (`staff_select`, `extension` in `select`, a Yes/No answer as written
in `validate`) and the columns that depend on the config (the rubric's fields, `points_<criterion>`) are not in the
contracts: the config's own checks cover those.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from schemas.columns import LIST_FIELDS, Col, Derived
from schemas.form import PIPELINE_FIELDS


class Step(StrEnum):
    """The steps of the selection, in order; each name is also the name of the step's Prefect task."""

    NORMALIZE = "normalize"
    VALIDATE = "validate"
    DEDUPE = "dedupe"
    CUTOFF = "cutoff"
    OVERRIDES = "apply overrides"
    SCORE = "score"
    SELECT = "select"
    STAFF_NOTES = "staff notes"


@dataclass(frozen=True)
class Contract:
    """What a step needs in the frame it is handed (`requires`) and what the frame it hands on has (`adds`)."""

    step: Step
    requires: frozenset[str]
    adds: frozenset[str]


class FrameContractError(RuntimeError):
    """A step was handed a frame without the columns it reads, or did not add what it promises: a mistake in how the
    steps are put together, never something staff can correct (so not a StaffError)."""


# Every normalized frame has these: the answers the pipeline reads (every form has a question for each, see
# schemas/form.py), the list fields (empty lists when the form has none), and what normalize derives from the
# answers. The form's other questions depend on the config, whose own checks cover them.
NORMALIZED: frozenset[str] = (
    frozenset(PIPELINE_FIELDS) | LIST_FIELDS | {Col.SOURCE_ROW, Col.SUBMITTED_AT_TEXT, Col.STATE_TEXT, Col.TEAM_SIZE}
)

CONTRACTS: dict[Step, Contract] = {
    contract.step: contract
    for contract in (
        # The raw frame: sheet rows by header title plus their sheet row; a missing question is the config's
        # column mapping against the sheet, refused by normalize as a staff error.
        Contract(Step.NORMALIZE, requires=frozenset({Col.SOURCE_ROW}), adds=NORMALIZED),
        Contract(Step.VALIDATE, requires=NORMALIZED, adds=frozenset({Col.STATUS, Col.REASONS, Derived.REASON_CODES})),
        Contract(
            Step.DEDUPE,
            requires=frozenset(
                {
                    Col.SOURCE_ROW,
                    Col.SUBMITTED_AT,
                    Col.LOCAL_NAME,
                    Col.STATE,
                    Col.LEAD_NAME,
                    Col.LEAD_EMAIL,
                    Col.STATUS,
                    Col.REASONS,
                }
            ),
            adds=frozenset(
                {
                    Derived.NAME_KEY,
                    Derived.TEAM_KEY,
                    Derived.STABLE_ID,
                    Derived.ON_TIME,
                    Derived.EXTENSION,
                    Derived.DUPLICATE_OF,
                    Derived.POSSIBLE_DUPLICATE_OF,
                }
            ),
        ),
        Contract(
            Step.CUTOFF,
            requires=frozenset({Col.SUBMITTED_AT, Col.STATUS, Col.REASONS, Derived.ON_TIME}),
            adds=frozenset({Derived.REASON_CODES}),
        ),
        Contract(
            Step.OVERRIDES,
            requires=frozenset({Col.SOURCE_ROW, Col.STATUS, Col.REASONS, Derived.TEAM_KEY}),
            adds=frozenset({Derived.STAFF_SELECT, Derived.REASON_CODES}),
        ),
        Contract(Step.SCORE, requires=frozenset({Col.STATUS, Derived.TEAM_KEY}), adds=frozenset({Derived.SCORE})),
        Contract(
            Step.SELECT,
            requires=frozenset(
                {Col.SUBMITTED_AT, Col.STATE, Col.STATUS, Col.REASONS, Derived.STABLE_ID, Derived.SCORE}
            ),
            adds=frozenset({Derived.RANK, Derived.RESERVED_SEAT, Derived.RESERVES, Derived.REASON_CODES}),
        ),
        Contract(
            Step.STAFF_NOTES,
            requires=frozenset({Col.SOURCE_ROW, Col.REASONS, Derived.TEAM_KEY}),
            adds=frozenset({Derived.MESSAGE_TO_TEAM}),
        ),
    )
}


def check_requires(frame: pd.DataFrame, step: Step) -> None:
    """The frame handed to `step` has every column the step reads (FrameContractError naming the missing ones)."""
    missing = CONTRACTS[step].requires.difference(frame.columns)
    if missing:
        raise FrameContractError(
            f"step {step.value!r} was handed a frame without the columns it reads: {', '.join(sorted(missing))}"
        )


def check_adds(frame: pd.DataFrame, step: Step) -> None:
    """The frame `step` hands on has every column the step adds (FrameContractError naming the missing ones)."""
    missing = CONTRACTS[step].adds.difference(frame.columns)
    if missing:
        raise FrameContractError(
            f"step {step.value!r} handed on a frame without the columns it adds: {', '.join(sorted(missing))}"
        )
