"""The freeze and its drift report: a re-run of the selection never flips a notified decision.

Once a decision notice is out, the selection it came from is frozen; a re-run reports, team by team, what it would
change (drift.csv) and records nothing. A notified decision changes only by a staff action or a promotion.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel

from schemas.columns import Col, Derived, DriftCol, Status
from schemas.config import CohortConfig
from schemas.lifecycle import SEAT_HOLDING
from tasks.decisions import write_table
from tasks.store import frozen_selection_id
from tasks.teams import current_decisions, notified_applicants, team_rows


class DriftReport(BaseModel):
    """A selection re-run after the notices: nothing recorded; what would change is listed for staff."""

    frozen: bool
    selection_id: int | None = None
    changes: int = 0
    path: str | None = None
    lines: list[str] = []

    def as_text(self) -> str:
        if not self.frozen:
            return "The selection is not frozen: no decision notice has gone out."
        head = (
            f"The selection is frozen (selection {self.selection_id}: decision notices have gone out). "
            "Nothing was recorded or changed."
        )
        if not self.changes:
            return head + "\nThe responses and overrides give the same decisions: no drift."
        body = "\n".join(f"  - {line}" for line in self.lines[:20])
        more = f"\n  … and {self.changes - 20} more" if self.changes > 20 else ""
        return (
            f"{head}\n{self.changes} team(s) would change (drift report: {self.path}):\n{body}{more}\n"
            "A notified decision changes only by a staff action: cohort-select confirm / decline / withdraw, "
            "or the promote-waitlist flow for freed seats."
        )


DRIFT_COLUMNS = (Derived.APPLICANT, Col.SOURCE_ROW, Col.LOCAL_NAME, Col.STATE, *DriftCol)

GONE = "no longer in the responses"


def drift(current: pd.DataFrame, rerun: pd.DataFrame, notified: set[str]) -> pd.DataFrame:
    """Team by team, where a fresh selection disagrees with the frozen one (status, or waitlist position).

    Teams are matched by team key, then by sheet row (an edited state or name changes the key).
    """
    before = team_rows(current).set_index(Derived.APPLICANT)
    after = team_rows(rerun).set_index(Derived.APPLICANT)
    both = before.index.intersection(after.index)
    pairs = pd.DataFrame({"was": both, "will": both})
    gone, new = before.index.difference(after.index), after.index.difference(before.index)
    by_row = pd.merge(
        pd.DataFrame({"was": gone, Col.SOURCE_ROW: before.loc[gone, Col.SOURCE_ROW].to_numpy()}),
        pd.DataFrame({"will": new, Col.SOURCE_ROW: after.loc[new, Col.SOURCE_ROW].to_numpy()}),
        on=Col.SOURCE_ROW,
    )
    pairs = pd.concat([pairs, by_row[["was", "will"]]], ignore_index=True)
    b, a = before.loc[pairs["was"]].reset_index(), after.loc[pairs["will"]].reset_index()
    moved = a[Col.STATUS].astype(str) != b[Derived.DECIDED_STATUS].astype(str)
    reranked = (a[Col.STATUS] == Status.WAITLISTED) & (b[Derived.DECIDED_STATUS] == Status.WAITLISTED)
    reranked &= a[Derived.RANK].astype("Int64").fillna(-1) != b[Derived.RANK].astype("Int64").fillna(-1)
    rekeyed = pairs["was"] != pairs["will"]
    rows = []
    for i in pairs.index[(moved | reranked | rekeyed).to_numpy()]:
        was, will = b.loc[i], a.loc[i]
        key, rekey = cast(str, pairs.at[i, "was"]), cast(str, pairs.at[i, "will"])  # applicant keys
        change = f"{was[Derived.DECIDED_STATUS]} → {will[Col.STATUS]}"
        if will[Col.STATUS] == was[Derived.DECIDED_STATUS]:
            change = "no status change"
            if reranked[i]:
                change = f"waitlist position {int(was[Derived.RANK])} → {int(will[Derived.RANK])}"
        if rekeyed[i]:
            change += f" (team key now {rekey})"
        decided = was[Derived.DECIDED_STATUS]
        rows.append(_drift_row(key, will, decided, was[Col.STATUS], change, notified=key in notified))
    for key in new.difference(pd.Index(pairs["will"])):
        will = after.loc[key]
        change = "new since the notices: not part of the frozen selection"
        rows.append(_drift_row(key, will, "", "", change, notified=False))
    for key in gone.difference(pd.Index(pairs["was"])):
        was = before.loc[key]
        rows.append(_drift_row(key, was, was[Derived.DECIDED_STATUS], was[Col.STATUS], GONE, notified=key in notified))
    frame = pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))
    return frame.sort_values([Col.SOURCE_ROW, Derived.APPLICANT], kind="mergesort").reset_index(drop=True)


def _drift_row(key: str, row: pd.Series, decided: str, now: str, change: str, *, notified: bool) -> dict:
    gone = change == GONE
    would_be = "" if gone else str(row[Col.STATUS])
    if now in SEAT_HOLDING and would_be not in SEAT_HOLDING:
        hint = "if this team should lose its place: cohort-select withdraw"
    elif would_be == Status.SELECTED and now not in SEAT_HOLDING:
        hint = "a seat changes hands only when one is freed (decline / withdraw), by waitlist order"
    else:
        hint = "none needed unless staff decide otherwise; nothing is sent for this change"
    return {
        Derived.APPLICANT: key,
        Col.SOURCE_ROW: int(row[Col.SOURCE_ROW]),
        Col.LOCAL_NAME: row[Col.LOCAL_NAME],
        Col.STATE: row[Col.STATE],
        DriftCol.NOTIFIED: "yes" if notified else "no",
        DriftCol.DECIDED: decided,
        DriftCol.NOW: now,
        DriftCol.WOULD_BE: would_be,
        DriftCol.CHANGE: change,
        DriftCol.WOULD_BE_REASONS: "" if gone else str(row[Col.REASONS]),
        DriftCol.STAFF_ACTION: hint,
    }


def check_drift(engine: sa.Engine, config: CohortConfig, rerun: pd.DataFrame, out_dir: Path) -> DriftReport:
    """Not frozen: nothing to do. Frozen: drift.csv in out_dir, and nothing recorded."""
    frozen = frozen_selection_id(engine, config.cohort_id)
    if frozen is None:
        return DriftReport(frozen=False)
    _, current = current_decisions(engine, config.cohort_id)
    found = drift(current, rerun, notified_applicants(engine, config.cohort_id))
    path = write_table(found, out_dir / "drift.csv")
    lines = [
        f"{r[Derived.APPLICANT]} (row {r[Col.SOURCE_ROW]}): {r[DriftCol.CHANGE]}"
        + (" [notified]" if r[DriftCol.NOTIFIED] == "yes" else "")
        for r in found.to_dict(orient="records")
    ]
    return DriftReport(frozen=True, selection_id=frozen, changes=len(found), path=str(path), lines=lines)
