"""What-if: the same scored teams under other capacities and per-state caps; nothing stored, nothing sent."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from schemas.columns import Col, Out, Status
from schemas.config import CohortConfig
from tasks.decisions import write_table
from tasks.select import select

WHAT_IF_COLUMNS = (
    "capacity",
    "max_per_state",
    "selected",
    "waitlisted",
    "score_cutoff",
    "changed_vs_current",
    "selected_per_state",
    "note",
)


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
            if row["note"]:
                lines.append(f"{row['capacity']:>8} {row['max_per_state']:>9}  {row['note']}")
                continue
            cutoff = "" if row["score_cutoff"] is None else f"{row['score_cutoff']:g}"
            lines.append(
                f"{row['capacity']:>8} {row['max_per_state']:>9} {row['selected']:>8} {row['waitlisted']:>8} "
                f"{cutoff:>7} {row['changed_vs_current']:>7}"
            )
            lines.append(f"{'':>19}selected per state: {row['selected_per_state'] or '(none)'}")
        lines.append(f"Table: {self.path}")
        return "\n".join(lines)


def what_if(scored: pd.DataFrame, config: CohortConfig, capacities: list[int], caps: list[int]) -> pd.DataFrame:
    """One row per (capacity, per-state cap): counts, selected per state, score cut-off, changes vs now."""
    current = select(scored, config)
    rows = []
    for capacity, cap in itertools.product(capacities, caps):
        row = dict.fromkeys(WHAT_IF_COLUMNS, "") | {"capacity": capacity, "max_per_state": cap}
        reserved = sum(r.seats for r in config.reserved_seats)
        if capacity < 1 or cap < 1 or reserved > capacity:
            row["note"] = (
                f"not possible: {reserved} reserved seats exceed the capacity"
                if capacity >= 1 and cap >= 1
                else "not possible: capacity and the per-state cap must be at least 1"
            )
            row["score_cutoff"] = None
            rows.append(row)
            continue
        decided = select(scored, config.model_copy(update={"capacity": capacity, "max_per_state": cap}))
        chosen = decided[decided[Col.STATUS] == Status.SELECTED]
        per_state = chosen[Col.STATE].value_counts().sort_index()
        row |= {
            "selected": len(chosen),
            "waitlisted": int((decided[Col.STATUS] == Status.WAITLISTED).sum()),
            "score_cutoff": float(chosen[Out.SCORE].min()) if len(chosen) else None,
            "changed_vs_current": int((decided[Col.STATUS] != current[Col.STATUS]).sum()),
            "selected_per_state": ", ".join(f"{state} {n}" for state, n in per_state.items()),
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=list(WHAT_IF_COLUMNS))


def write_what_if(table: pd.DataFrame, config: CohortConfig, out_dir: Path) -> WhatIf:
    path = write_table(table, out_dir / "what-if.csv")
    records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return WhatIf(
        current_capacity=config.capacity,
        current_max_per_state=config.max_per_state,
        rows=records,
        path=str(path),
    )
