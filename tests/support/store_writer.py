"""A process that keeps writing to a state store, for backups taken while another run writes.

`python -m tests.support.store_writer URL COHORT` records selections of DECISIONS decisions each, one
transaction apiece (the store's own `record_selection`), until it is stopped; it prints `started` after its first.
`decisions_frame(n)` is such a selection's decisions, made directly (no pipeline): tests use it to put data in a
store quickly.
"""

from __future__ import annotations

import sys

import pandas as pd

from schemas.columns import Col, Derived, Status
from tasks.store import open_store, record_selection

DECISIONS = 60


def decisions_frame(n: int = DECISIONS, prefix: str = "Local") -> pd.DataFrame:
    """n decided rows with every column the store keeps: the first half selected, the rest waitlisted."""
    rows = []
    for i in range(n):
        selected = i < n // 2
        rows.append(
            {
                Col.SOURCE_ROW: i + 2,
                Derived.TEAM_KEY: f"OH:{prefix.lower()} {i} education association",
                Col.STATUS: Status.SELECTED if selected else Status.WAITLISTED,
                Derived.RANK: None if selected else i - n // 2 + 1,
                Derived.SCORE: float(n - i),
                Col.REASONS: "selected" if selected else "waitlisted: seats filled",
                Col.LOCAL_NAME: f"{prefix} {i} Education Association",
                Col.STATE: "OH",
                Col.LEAD_NAME: f"Lead {i}",
                Col.LEAD_EMAIL: f"lead{i}@{prefix.lower()}{i}.example.org",
                Col.SUBMITTER_EMAIL: f"lead{i}@{prefix.lower()}{i}.example.org",
                Col.MEMBER_NAMES: [f"Member {i}"],
                Derived.RESERVED_SEAT: "",
                Derived.RESERVES: [],
                Derived.REASON_CODES: ["selected"] if selected else ["seats_filled"],
                Derived.MESSAGE_TO_TEAM: "",
            }
        )
    return pd.DataFrame(rows)


def main(url: str, cohort: str) -> None:
    engine = open_store(url)
    frame = decisions_frame()
    started = False
    while True:
        record_selection(engine, cohort, frame, "in", "cfg", provisional=False)
        if not started:
            print("started", flush=True)
            started = True


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
