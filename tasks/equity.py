"""Equity at a glance: the teams considered for a seat (the pool: selected and waitlisted, one row per team) against
the teams selected, counted by state, census region, job family, education level, program stage and first time or
returning, each value with its share of its group. Staff see whether a selection leaves a part of the pool out.

A team has one value of a single-valued dimension (an empty answer is NOT_ANSWERED) and counts once for each option
it named of a multi-valued one (schemas/report.MULTI_VALUED), so those shares add up to more than 100%. A dimension
whose column the frame lacks (a form without the question, a purged decisions.csv) is left out. Pure: frames in,
frames out; `previous_teams` is the one file read, for the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from schemas.columns import Col, Derived, Status
from schemas.config import CohortConfig
from schemas.regions import CENSUS_REGION, Region
from schemas.report import MULTI_VALUED, Dimension, EquityCol, EquityValue
from tasks.score import read_team_list

POOL_STATUSES: tuple[str, ...] = (Status.SELECTED, Status.WAITLISTED)
_TEAM = "team"  # the team's row label in the long frame of team_values


def previous_teams(config: CohortConfig) -> frozenset[str] | None:
    """The team keys of the cohort's previous participants list, or None when the cohort has none (then the
    comparison has no first-time dimension)."""
    if config.previous_participants is None:
        return None
    return frozenset(read_team_list(config.previous_participants))


def _single(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.where(text.notna() & (text != ""), EquityValue.NOT_ANSWERED.value).astype(object)


def _multi(values: pd.Series) -> pd.Series:
    """One entry per (team, option named), labelled by the team; a team that named none is NOT_ANSWERED once."""
    named = values.explode().astype("string").str.strip()
    named = named[named.notna() & (named != "")].astype(object)
    pairs = named.rename(EquityCol.VALUE).rename_axis(_TEAM).reset_index().drop_duplicates()
    unnamed = values.index.difference(pd.Index(pairs[_TEAM]))
    return pd.concat(
        [
            pd.Series(pairs[EquityCol.VALUE].to_numpy(), index=pd.Index(pairs[_TEAM])),
            pd.Series(EquityValue.NOT_ANSWERED.value, index=unnamed, dtype=object),
        ]
    )


def team_values(teams: pd.DataFrame, previous: frozenset[str] | None = None) -> pd.DataFrame:
    """One row per (team, dimension, value): `team` is the team's row label in `teams` (one row per team, labels
    unique), `dimension` a Dimension, `value` the team's answer (or its region, or first time / returning)."""
    parts: list[tuple[Dimension, pd.Series]] = []
    if Col.STATE in teams.columns:
        state = _single(teams[Col.STATE])
        parts += [(Dimension.STATE, state), (Dimension.REGION, _single(state.map(CENSUS_REGION)))]
    for dimension, column in (
        (Dimension.JOB_FAMILY, Col.JOB_FAMILIES),
        (Dimension.EDUCATION_LEVEL, Col.EDUCATION_LEVELS),
        (Dimension.PROGRAM_STAGE, Col.PROGRAM_STAGE),
    ):
        if column in teams.columns:
            parts.append((dimension, (_multi if dimension in MULTI_VALUED else _single)(teams[column])))
    if previous is not None and Derived.TEAM_KEY in teams.columns:
        returning = teams[Derived.TEAM_KEY].isin(list(previous))
        first = pd.Series(EquityValue.FIRST_TIME.value, index=teams.index, dtype=object)
        parts.append((Dimension.FIRST_TIME, first.where(~returning, EquityValue.RETURNING.value)))
    frames = [
        pd.DataFrame({_TEAM: values.index, EquityCol.DIMENSION: dimension.value, EquityCol.VALUE: values.to_numpy()})
        for dimension, values in parts
    ]
    if not frames:
        return pd.DataFrame(columns=[_TEAM, EquityCol.DIMENSION, EquityCol.VALUE])
    return pd.concat(frames, ignore_index=True)


def _value_order(dimension: pd.Series, value: pd.Series) -> pd.Series:
    """Regions in the Census Bureau's order, every other value after them as it sorts (the comparison then orders
    each dimension by pool count)."""
    regions = {region.value: i for i, region in enumerate(Region)}
    return value.map(regions).where(dimension == Dimension.REGION).fillna(len(regions))


def compare(long: pd.DataFrame, pool_teams: int, selected: Sequence[object]) -> pd.DataFrame:
    """The comparison from team_values' long frame: for each (dimension, value) the pool's teams and the selected
    teams (those labelled in `selected`), each with its share of its group (NaN for an empty group), and the
    difference of the shares. Dimensions in Dimension's order, each with its largest pool count first."""
    keys = [EquityCol.DIMENSION, EquityCol.VALUE]
    chosen = long[_TEAM].isin(list(selected))
    pool = long.groupby(keys, sort=False).size()
    picked = long[chosen].groupby(keys, sort=False).size().reindex(pool.index, fill_value=0)
    n_selected = len(set(selected))
    table = pool.rename(EquityCol.POOL).to_frame().assign(**{EquityCol.SELECTED: picked}).reset_index()
    table[EquityCol.POOL_SHARE] = table[EquityCol.POOL] / pool_teams if pool_teams else float("nan")
    table[EquityCol.SELECTED_SHARE] = table[EquityCol.SELECTED] / n_selected if n_selected else float("nan")
    table[EquityCol.DIFFERENCE] = table[EquityCol.SELECTED_SHARE] - table[EquityCol.POOL_SHARE]
    order = {dimension.value: i for i, dimension in enumerate(Dimension)}
    table = table.assign(
        _dimension=table[EquityCol.DIMENSION].map(order),
        _region=_value_order(table[EquityCol.DIMENSION], table[EquityCol.VALUE]),
        _pool=-table[EquityCol.POOL],
    ).sort_values(["_dimension", "_region", "_pool", EquityCol.VALUE], kind="mergesort")
    columns = [
        EquityCol.DIMENSION,
        EquityCol.VALUE,
        EquityCol.POOL,
        EquityCol.POOL_SHARE,
        EquityCol.SELECTED,
        EquityCol.SELECTED_SHARE,
        EquityCol.DIFFERENCE,
    ]
    return table[columns].reset_index(drop=True).astype({EquityCol.POOL: "int64", EquityCol.SELECTED: "int64"})


def equity_table(decided: pd.DataFrame, previous: frozenset[str] | None = None) -> pd.DataFrame:
    """The selection's comparison: the pool is every selected or waitlisted team, the selected group its selected
    teams (`decided` is the selection's frame, or decisions.csv read back)."""
    pool = decided[decided[Col.STATUS].isin(POOL_STATUSES)].reset_index(drop=True)
    selected = pool.index[pool[Col.STATUS] == Status.SELECTED]
    return compare(team_values(pool, previous), len(pool), list(selected))


def share_text(share: pd.Series) -> pd.Series:
    """Shares as whole percentages ("15%"), an undefined one (an empty group) as "–"."""
    return share.mul(100).round().astype("Int64").astype(str).add("%").where(share.notna(), "–")


def difference_text(difference: pd.Series) -> pd.Series:
    """A difference of shares in whole percentage points, signed ("+5 pts", "-3 pts", "0 pts"), "–" when undefined."""
    points = difference.mul(100).round().astype("Int64")
    signed = points.astype(str).where(points <= 0, "+" + points.astype(str))
    return (signed + " pts").where(difference.notna(), "–")


def dimension_text(dimension: pd.Series) -> pd.Series:
    """The dimension as staff read it: a multi-valued one says that a team counts once per value it named."""
    multi = dimension.isin([d.value for d in MULTI_VALUED])
    return dimension.where(~multi, dimension + " (counted once per value named)")


def equity_display(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison as text for staff (the report and the Prefect UI): shares as percentages, the difference in
    points, the multi-valued dimensions saying how they count."""
    return pd.DataFrame(
        {
            EquityCol.DIMENSION: dimension_text(table[EquityCol.DIMENSION]),
            EquityCol.VALUE: table[EquityCol.VALUE].astype(str),
            EquityCol.POOL: table[EquityCol.POOL].astype(str),
            EquityCol.POOL_SHARE: share_text(table[EquityCol.POOL_SHARE]),
            EquityCol.SELECTED: table[EquityCol.SELECTED].astype(str),
            EquityCol.SELECTED_SHARE: share_text(table[EquityCol.SELECTED_SHARE]),
            EquityCol.DIFFERENCE: difference_text(table[EquityCol.DIFFERENCE]),
        }
    )
