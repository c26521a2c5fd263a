"""What-if: the same scored teams under other capacities and per-state caps; nothing stored, nothing sent."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from schemas.columns import Col, Derived, Status, WhatIfCol
from schemas.config import CohortConfig
from tasks.decisions import write_table
from tasks.select import select


class WhatIf(BaseModel):
    """The what-if table, as printed and as written to what-if.csv."""

    current_capacity: int
    current_max_per_state: int
    rows: list[dict]
    path: str

    def as_text(self) -> str:
        head = (
            f"What if (current config: capacity {self.current_capacity}, at most {self.current_max_per_state} "
            "per state); 'changed' counts teams whose status differs from the current config's selection"
        )
        titles = f"{'capacity':>8} {'per state':>9} {'selected':>8} {'waitlist':>8} {'cut-off':>7} {'changed':>7}"
        lines = [head, titles]
        for row in self.rows:
            tried = f"{row[WhatIfCol.CAPACITY]:>8} {row[WhatIfCol.MAX_PER_STATE]:>9}"
            if row[WhatIfCol.NOTE]:
                lines.append(f"{tried}  {row[WhatIfCol.NOTE]}")
                continue
            cutoff = "" if row[WhatIfCol.SCORE_CUTOFF] is None else f"{row[WhatIfCol.SCORE_CUTOFF]:g}"
            lines.append(
                f"{tried} {row[WhatIfCol.SELECTED]:>8} {row[WhatIfCol.WAITLISTED]:>8} "
                f"{cutoff:>7} {row[WhatIfCol.CHANGED_VS_CURRENT]:>7}"
            )
            lines.append(f"{'':>19}selected per state: {row[WhatIfCol.SELECTED_PER_STATE] or '(none)'}")
        lines.append(f"Table: {self.path}")
        return "\n".join(lines)


def what_if(scored: pd.DataFrame, config: CohortConfig, capacities: list[int], caps: list[int]) -> pd.DataFrame:
    """One row per (capacity, per-state cap): counts, selected per state, score cut-off, changes vs now."""
    current = select(scored, config)
    rows = []
    for capacity, cap in itertools.product(capacities, caps):
        row = dict.fromkeys(WhatIfCol, "") | {WhatIfCol.CAPACITY: capacity, WhatIfCol.MAX_PER_STATE: cap}
        reserved = sum(r.seats for r in config.reserved_seats)
        if capacity < 1 or cap < 1 or reserved > capacity:
            row[WhatIfCol.NOTE] = (
                f"not possible: {reserved} reserved seats exceed the capacity"
                if capacity >= 1 and cap >= 1
                else "not possible: capacity and the per-state cap must be at least 1"
            )
            row[WhatIfCol.SCORE_CUTOFF] = None
            rows.append(row)
            continue
        decided = select(scored, config.model_copy(update={"capacity": capacity, "max_per_state": cap}))
        chosen = decided[decided[Col.STATUS] == Status.SELECTED]
        per_state = chosen[Col.STATE].value_counts().sort_index()
        row |= {
            WhatIfCol.SELECTED: len(chosen),
            WhatIfCol.WAITLISTED: int((decided[Col.STATUS] == Status.WAITLISTED).sum()),
            WhatIfCol.SCORE_CUTOFF: float(chosen[Derived.SCORE].min()) if len(chosen) else None,
            WhatIfCol.CHANGED_VS_CURRENT: int((decided[Col.STATUS] != current[Col.STATUS]).sum()),
            WhatIfCol.SELECTED_PER_STATE: ", ".join(f"{state} {n}" for state, n in per_state.items()),
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=list(WhatIfCol))


def write_what_if(table: pd.DataFrame, config: CohortConfig, out_dir: Path) -> WhatIf:
    path = write_table(table, out_dir / "what-if.csv")
    records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return WhatIf(
        current_capacity=config.capacity,
        current_max_per_state=config.max_per_state,
        rows=records,
        path=str(path),
    )
