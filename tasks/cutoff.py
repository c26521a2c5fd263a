"""The deadline: on time iff submitted_at <= deadline (aware datetimes), plus staff-granted extensions."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from schemas.columns import Col, Derived, ReasonCode, Status
from schemas.config import CohortConfig
from schemas.errors import StaffError, setting
from tasks.local_time import local_time_text
from tasks.reason_codes import codes_added, codes_column


class DeadlineNotPassedError(StaffError):
    """A selection was asked for before the deadline, without `preview`."""


def check_deadline_passed(config: CohortConfig, as_of: dt.datetime, *, preview: bool) -> None:
    """Refuse a final selection while applications may still arrive."""
    if as_of.tzinfo is None:
        raise DeadlineNotPassedError(f"{setting('as_of')} needs a time zone: write it like 2021-06-07 10:00")
    if as_of < config.deadline and not preview:
        raise DeadlineNotPassedError(
            f"the deadline has not passed: it is {local_time_text(config.deadline, config.timezone)} and the "
            f"run is as of {local_time_text(as_of, config.timezone)}; turn on {setting('preview')} for a "
            "provisional selection"
        )


def on_time_mask(
    frame: pd.DataFrame, config: CohortConfig, submitted: pd.Series | None = None
) -> tuple[pd.Series, pd.Series]:
    """(on time, extension reason) per row; rows without a readable timestamp are not on time.

    `submitted` (aligned with the frame) stands for the rows' submitted_at: the same rule for another reading.
    """
    submitted = frame[Col.SUBMITTED_AT] if submitted is None else submitted
    on_time = (submitted <= pd.Timestamp(config.deadline)).fillna(value=False).astype(bool)
    reason = pd.Series("", index=frame.index, dtype=object)
    for grant in config.extensions:
        if grant.source_row is not None:
            target = frame[Col.SOURCE_ROW] == grant.source_row
        else:
            target = frame[Derived.TEAM_KEY] == grant.team
        if grant.until is not None:
            target &= (submitted <= pd.Timestamp(grant.until)).fillna(value=False)
        used = target & ~on_time
        reason[used] = f"On time by staff extension: {grant.reason}"
        on_time = on_time | target
    return on_time.astype(bool), reason


def on_time_at_both_readings(
    frame: pd.DataFrame, earlier: pd.Series, later: pd.Series, config: CohortConfig
) -> tuple[pd.Series, pd.Series]:
    """Whether each row is on time at its earlier reading and at its later one (a time in the hour clocks repeat),
    by the very rule of on_time_mask: the deadline and every extension, by sheet row or by the row's team key."""
    keyed = frame
    if Derived.TEAM_KEY not in frame.columns and any(grant.team is not None for grant in config.extensions):
        from tasks.dedupe import add_team_keys  # tasks.dedupe imports this module

        keyed = add_team_keys(frame)
    return on_time_mask(keyed, config, earlier)[0], on_time_mask(keyed, config, later)[0]


def apply_cutoff(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """Valid rows submitted after the deadline become `late` (code `late`) and say when they came in."""
    out = frame.copy()
    late = (out[Col.STATUS] == Status.VALID) & ~out[Derived.ON_TIME]
    out[Derived.REASON_CODES] = codes_added(codes_column(out), late, ReasonCode.LATE)
    if late.any():
        stamps = out.loc[late, Col.SUBMITTED_AT].map(lambda t: local_time_text(t, config.timezone))
        out.loc[late, Col.STATUS] = Status.LATE.value
        out.loc[late, Col.REASONS] = (
            "Late: submitted at "
            + stamps
            + f", after the deadline of {local_time_text(config.deadline, config.timezone)}"
        )
    return out
