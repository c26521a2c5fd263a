"""Selection against capacity, the per-state cap and reserved seats, in one deterministic order.

Order: score (high first), then earlier submission, then the stable id. Reserved seats are filled
first, each from the best-ranked qualifying teams; the remaining seats go down the order, skipping a
team whose state is at its cap. Everyone left is waitlisted in the same order.
"""

from __future__ import annotations

import pandas as pd

from schemas.columns import LIST_SEPARATOR, Col, Derived, ReasonCode, Status
from schemas.config import CohortConfig
from schemas.states import USPS_STATES
from tasks.reason_codes import code_lists, codes_column, codes_where

STAFF_SELECTED = "staff decision"


def selection_order(candidates: pd.DataFrame) -> pd.Index:
    """Candidates' index labels, best first."""
    ordered = candidates.assign(_neg=-candidates[Derived.SCORE]).sort_values(
        ["_neg", Col.SUBMITTED_AT, Derived.STABLE_ID], kind="mergesort"
    )
    return ordered.index


def _reserved_picks(candidates: pd.DataFrame, order: pd.Index, config: CohortConfig) -> dict[object, str]:
    """Index label → reserve name, for the teams that take reserved seats."""
    picks: dict[object, str] = {}
    per_state: dict[str, int] = {}
    if Derived.STAFF_SELECT in candidates.columns:
        for label in order:
            state = str(candidates.at[label, Col.STATE])
            forced = bool(candidates.at[label, Derived.STAFF_SELECT])
            if forced and len(picks) < config.capacity and per_state.get(state, 0) < config.max_per_state:
                picks[label] = STAFF_SELECTED
                per_state[state] = per_state.get(state, 0) + 1
    for reserve in config.reserved_seats:
        qualifies = candidates[reserve.field].map(lambda chosen, v=reserve.value: v in chosen)
        taken = 0
        for label in order:
            if taken == reserve.seats:
                break
            state = str(candidates.at[label, Col.STATE])
            full = len(picks) >= config.capacity or per_state.get(state, 0) >= config.max_per_state
            if label in picks or not qualifies[label] or full:
                continue
            picks[label] = reserve.name
            per_state[state] = per_state.get(state, 0) + 1
            taken += 1
    return picks


def reserves_qualified(frame: pd.DataFrame, config: CohortConfig) -> pd.Series:
    """The reserves each row qualifies for, kept with the decision so a freed reserved seat can be refilled."""
    names: pd.Series = pd.Series([[] for _ in range(len(frame))], index=frame.index, dtype=object)
    for reserve in config.reserved_seats:
        hit = frame[reserve.field].map(lambda chosen, v=reserve.value: isinstance(chosen, list) and v in chosen)
        names = names.where(~hit, names.map(lambda got, n=reserve.name: [*got, n]))
    return names


def select(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """Selected / waitlisted with rank and a reason a person can read, for every candidate."""
    out = frame.copy()
    out[Derived.RANK] = pd.array([pd.NA] * len(out), dtype="Int64")
    out[Derived.RESERVED_SEAT] = ""
    out[Derived.RESERVES] = reserves_qualified(out, config)
    out[Derived.REASON_CODES] = codes_column(out)
    candidates = out.loc[out[Col.STATUS] == Status.VALID]
    if candidates.empty:
        return out
    order = selection_order(candidates)
    reserved = _reserved_picks(candidates, order, config)
    ordered = candidates.loc[order]
    held = pd.Series(ordered.index.isin(list(reserved)), index=order)
    reserved_per_state = ordered.loc[held, Col.STATE].value_counts()
    open_seats = config.capacity - int(held.sum())
    rest = ordered.loc[~held]
    cap_left = config.max_per_state - rest[Col.STATE].map(reserved_per_state).fillna(0).astype(int)
    within_cap = rest.groupby(Col.STATE, sort=False).cumcount() < cap_left
    general = rest.index[within_cap.to_numpy()][: max(open_seats, 0)]
    chosen = set(general) | set(reserved)

    selected = [label for label in order if label in chosen]
    waitlisted = [label for label in order if label not in chosen]
    out.loc[selected, Col.STATUS] = Status.SELECTED.value
    out.loc[selected, Derived.RANK] = range(1, len(selected) + 1)
    out.loc[waitlisted, Col.STATUS] = Status.WAITLISTED.value
    out.loc[waitlisted, Derived.RANK] = range(1, len(waitlisted) + 1)
    for label, name in reserved.items():
        out.at[label, Derived.RESERVED_SEAT] = name
    decided = selected + waitlisted
    out.loc[decided, Col.REASONS] = _reasons(out.loc[decided], config, len(selected))
    in_decided = pd.Series(out.index.isin(decided), index=out.index)
    decided_codes = _reason_codes(out.loc[decided], config)
    out[Derived.REASON_CODES] = codes_where(out[Derived.REASON_CODES], in_decided, decided_codes)
    if Derived.REVIEW_POINTS in out.columns:
        reviewed = out.index.isin(decided) & (out[Derived.REVIEW_POINTS].fillna("") != "")
        out.loc[reviewed, Col.REASONS] = (
            out.loc[reviewed, Col.REASONS] + LIST_SEPARATOR + out.loc[reviewed, Derived.REVIEW_POINTS]
        )
    if Derived.EXTENSION in out.columns:
        extended = out.index.isin(decided) & (out[Derived.EXTENSION].fillna("") != "")
        granted = out.loc[extended, Derived.EXTENSION]
        out.loc[extended, Col.REASONS] = out.loc[extended, Col.REASONS] + LIST_SEPARATOR + granted
    return out


def _capped(decided: pd.DataFrame, config: CohortConfig) -> pd.Series:
    """Whether each row's state already has max_per_state selected teams (why a waitlisted team waits)."""
    selected_per_state = decided.loc[decided[Col.STATUS] == Status.SELECTED, Col.STATE].value_counts()
    return decided[Col.STATE].map(selected_per_state).fillna(0) >= config.max_per_state


def _reason_codes(decided: pd.DataFrame, config: CohortConfig) -> pd.Series:
    """The facts of `_reasons`: selected (and how it holds its seat), or why waitlisted (state cap, seats filled)."""
    selected = decided[Col.STATUS] == Status.SELECTED
    seat = decided[Derived.RESERVED_SEAT]
    waiting = pd.Series(ReasonCode.SEATS_FILLED.value, index=decided.index).where(
        ~_capped(decided, config), ReasonCode.STATE_CAP.value
    )
    first = waiting.where(~selected, ReasonCode.SELECTED.value)
    held = pd.Series("", index=decided.index).where(seat == "", ReasonCode.RESERVED_SEAT.value)
    held = held.where(seat != STAFF_SELECTED, ReasonCode.STAFF_SELECTED.value).where(selected, "")
    return code_lists(first, held)


def _reasons(decided: pd.DataFrame, config: CohortConfig, n_selected: int) -> pd.Series:
    """'Selected: rank 4 of 20, 11.5 points' / 'Waitlisted: Illinois already has 2 selected teams …'."""
    status = decided[Col.STATUS]
    points = decided[Derived.SCORE].map("{:g} points".format)
    rank = decided[Derived.RANK].astype(str)
    seat = decided[Derived.RESERVED_SEAT].where(
        decided[Derived.RESERVED_SEAT] == "", " (reserved seat: " + decided[Derived.RESERVED_SEAT] + ")"
    )
    state_name = decided[Col.STATE].map(lambda code: USPS_STATES.get(code, code))
    capped = _capped(decided, config)
    chosen = "Selected: rank " + rank + f" of {n_selected}, " + points + seat
    at_cap = (
        "Waitlisted: " + state_name + f" already has {config.max_per_state} selected teams (the limit per state); "
        "waitlist position " + rank + ", " + points
    )
    full = f"Waitlisted: all {config.capacity} seats are filled by higher-ranked teams; waitlist position " + rank
    full = full + ", " + points
    return chosen.where(status == Status.SELECTED, at_cap.where(capped, full))
