"""Teams after the notices: one row per applicant, and its decision as the recorded actions leave it.

Decisions change only through recorded actions (who, when, why) on top of the frozen selection, the one the
first decision notices were sent from. A move is one such action, a row of the store's actions table (Move): computed
by a staff action (tasks/staff_actions.py) or a promotion (tasks/promotion.py), and recorded under the cohort's lease.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import sqlalchemy as sa

from schemas.columns import Col, Derived
from schemas.ledger import MAYBE_DELIVERED
from schemas.lifecycle import TEAM_STATUSES, TRANSITIONS, Action, Move
from schemas.store import DecisionsHead, StoreCol
from tasks.ledger import ledger
from tasks.store import action_log, baseline_selection


def applicant_keys(frame: pd.DataFrame) -> pd.Series:
    """Who a notice goes to: the team key, or the sheet row when the row names no team."""
    named = frame[Derived.TEAM_KEY].fillna("").str.split(":", n=1).str[1].fillna("") != ""
    return frame[Derived.TEAM_KEY].where(named, "row:" + frame[Col.SOURCE_ROW].astype(str))


def team_rows(decided: pd.DataFrame) -> pd.DataFrame:
    """One row per applicant that gets notices: its latest row that is not a duplicate."""
    rows = decided[decided[Col.STATUS].isin(list(TEAM_STATUSES))].copy()
    rows[Derived.APPLICANT] = applicant_keys(rows)
    return rows.sort_values(Col.SOURCE_ROW, kind="mergesort").drop_duplicates(Derived.APPLICANT, keep="last")


def apply_actions(decided: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    """The selection as it stands now: each team's latest recorded action sets its status and offer."""
    out = decided.copy()
    out[Derived.DECIDED_STATUS] = out[Col.STATUS]
    out[Derived.RESPOND_BY] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    if Derived.RESERVED_SEAT not in out.columns:
        out[Derived.RESERVED_SEAT] = ""
    if log.empty:
        return out
    teams = team_rows(out)
    latest = log.sort_values(StoreCol.ID).drop_duplicates(Derived.APPLICANT, keep="last").set_index(Derived.APPLICANT)
    labels = teams.index[teams[Derived.APPLICANT].isin(latest.index)]
    moved = latest.loc[teams.loc[labels, Derived.APPLICANT]].set_axis(labels)
    out.loc[labels, Col.STATUS] = moved[StoreCol.TO_STATUS]
    out.loc[labels, Derived.RESPOND_BY] = pd.to_datetime(moved[Derived.RESPOND_BY], utc=True)
    seat = moved[Derived.RESERVED_SEAT].fillna("")
    out.loc[seat.index[seat != ""], Derived.RESERVED_SEAT] = seat[seat != ""]
    return out


def move_for(team: pd.Series, action: str, reason: str, actor: str, at: dt.datetime) -> Move:
    """The move of `team` by `action` (to the status TRANSITIONS gives), not yet recorded; an offer's respond-by
    time and reserved seat and a staff action's origin are set on it by `dataclasses.replace`."""
    return Move(
        applicant=team[Derived.APPLICANT],
        action=Action(action),
        from_status=str(team[Col.STATUS]),
        to_status=TRANSITIONS[action][0].value,
        actor=actor,
        reason=reason,
        at=at,
    )


def with_moves(log: pd.DataFrame, moves: list[Move]) -> pd.DataFrame:
    """The action log as it will be once `moves` are recorded (in memory: nothing is written)."""
    if not moves:
        return log
    log = log.assign(**{Derived.RESPOND_BY: pd.to_datetime(log[Derived.RESPOND_BY], utc=True)})
    first = int(log[StoreCol.ID].max()) + 1 if len(log) else 1
    extra = pd.DataFrame([m.as_row() | {StoreCol.ID: first + i} for i, m in enumerate(moves)])
    extra[Derived.RESPOND_BY] = pd.to_datetime(extra[Derived.RESPOND_BY], utc=True)
    return extra if log.empty else pd.concat([log, extra], ignore_index=True)


def current_decisions(
    engine: sa.Engine, cohort: str, pending: list[Move] | None = None
) -> tuple[DecisionsHead, pd.DataFrame]:
    """The baseline selection (frozen once notices are out) with every recorded action applied, and the moves
    `pending` (computed, not recorded) on top; `actions_seen` is the recorded sequence they start from."""
    head, decided = baseline_selection(engine, cohort)
    log = action_log(engine, cohort)
    seen = DecisionsHead(**dataclasses.asdict(head), actions_seen=len(log))
    return seen, apply_actions(decided, with_moves(log, pending or []))


def notified_applicants(engine: sa.Engine, cohort: str) -> set[str]:
    """Applicants a decision notice may have reached (sent, or cut off mid-send)."""
    rows = ledger(engine, cohort)
    return set(rows.loc[rows[StoreCol.LEDGER_STATE].isin(MAYBE_DELIVERED), Derived.APPLICANT])
