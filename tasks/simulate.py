"""What-if: the same scored teams under other capacities and per-state caps; nothing stored, nothing sent."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from schemas.columns import Col, Derived, Status, WhatIfCol
from schemas.config import CohortConfig
from tasks.decisions import write_table
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


def what_if(scored: pd.DataFrame, config: CohortConfig, capacities: list[int], caps: list[int]) -> list[WhatIfRow]:
    """One row per (capacity, per-state cap): counts, selected per state, score cut-off, changes vs now."""
    current = select(scored, config)
    rows = []
    for capacity, cap in itertools.product(capacities, caps):
        reserved = sum(r.seats for r in config.reserved_seats)
        if capacity < 1 or cap < 1 or reserved > capacity:
            note = (
                f"not possible: {reserved} reserved seats exceed the capacity"
                if capacity >= 1 and cap >= 1
                else "not possible: capacity and the per-state cap must be at least 1"
            )
            rows.append(WhatIfRow(capacity=capacity, max_per_state=cap, note=note))
            continue
        decided = select(scored, config.model_copy(update={"capacity": capacity, "max_per_state": cap}))
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
