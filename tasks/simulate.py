"""What-if: the same scored teams under other capacities and per-state caps; nothing stored, nothing sent."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from schemas.columns import Col, Derived, Status, WhatIfCol
from schemas.config import CohortConfig
from schemas.report import EquityCol
from tasks.decisions import write_table
from tasks.equity import compare, equity_display, team_values
from tasks.select import select

# The counts a combination that is not possible leaves blank in what-if.csv.
_COUNTS = (WhatIfCol.SELECTED, WhatIfCol.WAITLISTED, WhatIfCol.CHANGED_VS_CURRENT)


@dataclasses.dataclass(frozen=True)
class WhatIfRow:
    """One (capacity, per-state cap) tried: a row of what-if.csv, each field named after its column (WhatIfCol).

    A combination that is not possible has its `note` and no counts.
    """

    capacity: int
    max_per_state: int
    selected: int | None = None  # how many
    waitlisted: int | None = None  # how many
    score_cutoff: float | None = None  # the lowest selected score; None when nobody is selected
    changed_vs_current: int | None = None  # teams whose status differs from the current config's selection
    selected_per_state: str = ""
    note: str = ""  # why the combination is not possible

    def as_row(self) -> dict[str, object]:
        """Column → value, for the frame of what-if.csv: a count not made is blank, a cut-off not made missing."""
        row = dataclasses.asdict(self)
        return row | {column: "" for column in _COUNTS if row[column] is None}


class WhatIf(BaseModel):
    """The what-if table, as printed and as written to what-if.csv."""

    current_capacity: int
    current_max_per_state: int
    rows: list[WhatIfRow]
    path: str

    def as_text(self) -> str:
        head = (
            f"What if (current config: capacity {self.current_capacity}, at most {self.current_max_per_state} "
            "per state); 'changed' counts teams whose status differs from the current config's selection"
        )
        titles = f"{'capacity':>8} {'per state':>9} {'selected':>8} {'waitlist':>8} {'cut-off':>7} {'changed':>7}"
        lines = [head, titles]
        for row in self.rows:
            tried = f"{row.capacity:>8} {row.max_per_state:>9}"
            if row.note:
                lines.append(f"{tried}  {row.note}")
                continue
            cutoff = "" if row.score_cutoff is None else f"{row.score_cutoff:g}"
            lines.append(f"{tried} {row.selected:>8} {row.waitlisted:>8} {cutoff:>7} {row.changed_vs_current:>7}")
            lines.append(f"{'':>19}selected per state: {row.selected_per_state or '(none)'}")
        lines.append(f"Table: {self.path}")
        return "\n".join(lines)


def _not_possible(config: CohortConfig, capacity: int, cap: int) -> str:
    """Why a combination cannot be selected, or "" when it can."""
    reserved = sum(r.seats for r in config.reserved_seats)
    if capacity < 1 or cap < 1:
        return "not possible: capacity and the per-state cap must be at least 1"
    if reserved > capacity:
        return f"not possible: {reserved} reserved seats exceed the capacity"
    return ""


def selection_under(scored: pd.DataFrame, config: CohortConfig, capacity: int, cap: int) -> pd.DataFrame:
    """The selection of the scored teams with these limits instead of the config's."""
    return select(scored, config.model_copy(update={"capacity": capacity, "max_per_state": cap}))


def what_if(scored: pd.DataFrame, config: CohortConfig, capacities: list[int], caps: list[int]) -> list[WhatIfRow]:
    """One row per (capacity, per-state cap): counts, selected per state, score cut-off, changes vs now."""
    current = select(scored, config)
    rows = []
    for capacity, cap in itertools.product(capacities, caps):
        note = _not_possible(config, capacity, cap)
        if note:
            rows.append(WhatIfRow(capacity=capacity, max_per_state=cap, note=note))
            continue
        decided = selection_under(scored, config, capacity, cap)
        chosen = decided[decided[Col.STATUS] == Status.SELECTED]
        per_state = chosen[Col.STATE].value_counts().sort_index()
        rows.append(
            WhatIfRow(
                capacity=capacity,
                max_per_state=cap,
                selected=len(chosen),
                waitlisted=int((decided[Col.STATUS] == Status.WAITLISTED).sum()),
                score_cutoff=float(chosen[Derived.SCORE].min()) if len(chosen) else None,
                changed_vs_current=int((decided[Col.STATUS] != current[Col.STATUS]).sum()),
                selected_per_state=", ".join(f"{state} {n}" for state, n in per_state.items()),
            )
        )
    return rows


def what_if_equity(
    scored: pd.DataFrame, config: CohortConfig, rows: list[WhatIfRow], previous: frozenset[str] | None = None
) -> pd.DataFrame:
    """The equity comparison (tasks/equity.py) for each possible combination of `rows` (once each, in their order):
    the pool is the same scored teams each time (every candidate), the selected group that combination's. Columns:
    capacity and max_per_state (WhatIfCol), then the comparison's."""
    pool = scored[scored[Col.STATUS] == Status.VALID]
    long = team_values(pool, previous)
    tables = []
    tried = dict.fromkeys((row.capacity, row.max_per_state) for row in rows if not row.note)
    for capacity, cap in tried:
        decided = selection_under(scored, config, capacity, cap)
        selected = decided.index[decided[Col.STATUS] == Status.SELECTED]
        table = compare(long, len(pool), list(selected))
        table.insert(0, WhatIfCol.MAX_PER_STATE, cap)
        table.insert(0, WhatIfCol.CAPACITY, capacity)
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=[WhatIfCol.CAPACITY, WhatIfCol.MAX_PER_STATE, *EquityCol])
    return pd.concat(tables, ignore_index=True)


def limits_text(capacity: pd.Series, cap: pd.Series) -> pd.Series:
    """A combination as staff read it: "capacity 15, at most 2 per state"."""
    return "capacity " + capacity.astype(str) + ", at most " + cap.astype(str) + " per state"


def what_if_equity_display(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison of every combination side by side, as text: one row per (dimension, value) with the pool's
    teams and share, then one column per combination with its selected teams and share ("3 (15%)")."""
    keys = [EquityCol.DIMENSION, EquityCol.VALUE]
    if table.empty:
        return pd.DataFrame(columns=[*keys, EquityCol.POOL, EquityCol.POOL_SHARE])
    first = table[
        (table[WhatIfCol.CAPACITY] == table[WhatIfCol.CAPACITY].iloc[0])
        & (table[WhatIfCol.MAX_PER_STATE] == table[WhatIfCol.MAX_PER_STATE].iloc[0])
    ]
    pool = equity_display(first)[[*keys, EquityCol.POOL, EquityCol.POOL_SHARE]]
    shown = equity_display(table)
    cells = shown[EquityCol.SELECTED] + " (" + shown[EquityCol.SELECTED_SHARE] + ")"
    limits = limits_text(table[WhatIfCol.CAPACITY], table[WhatIfCol.MAX_PER_STATE])
    wide = (
        pd.DataFrame({EquityCol.DIMENSION: shown[EquityCol.DIMENSION], EquityCol.VALUE: shown[EquityCol.VALUE]})
        .assign(_limits=limits, _cell=cells)
        .pivot(index=keys, columns="_limits", values="_cell")
    )
    order = list(dict.fromkeys(limits))
    return pool.merge(wide[order].reset_index(), on=keys, how="left", validate="one_to_one").rename_axis(columns=None)


def what_if_table(rows: list[WhatIfRow]) -> pd.DataFrame:
    """The rows as the frame of what-if.csv, in WhatIfCol's order."""
    return pd.DataFrame([row.as_row() for row in rows], columns=list(WhatIfCol))


def write_what_if(rows: list[WhatIfRow], config: CohortConfig, out_dir: Path) -> WhatIf:
    path = write_table(what_if_table(rows), out_dir / "what-if.csv")
    return WhatIf(
        current_capacity=config.capacity,
        current_max_per_state=config.max_per_state,
        rows=rows,
        path=str(path),
    )


def limits_to_try(config: CohortConfig, capacities: Sequence[int], caps: Sequence[int]) -> tuple[list[int], list[int]]:
    """The capacities and per-state caps a what-if tries: those given, or for a list left empty the cohort's own
    with a quarter of the capacity, and one cap, either side (capacity 20, cap 2: 15, 20, 25 and 1, 2, 3), so the
    form's defaults fit every cohort."""
    step = max(1, round(config.capacity / 4))
    around_capacity = sorted({max(1, config.capacity - step), config.capacity, config.capacity + step})
    cap = config.max_per_state
    return list(capacities) or around_capacity, list(caps) or sorted({max(1, cap - 1), cap, cap + 1})


def trying_text(capacities: list[int], caps: list[int]) -> str:
    """'Trying capacities 15, 20, 25 and per-state caps 1, 2, 3': what a what-if run says it tries."""
    return f"Trying capacities {', '.join(map(str, capacities))} and per-state caps {', '.join(map(str, caps))}"
