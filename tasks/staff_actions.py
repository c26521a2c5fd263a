"""Staff actions after the notices: a team confirmed, declined, or was withdrawn, with who, when and why.

They come from the command line (`cohort-select confirm|decline|withdraw`) or from the Overrides sheet's rows of
those actions, which the promote-waitlist flow records once each. Before the notices there is nothing to act on:
a decision is changed then by an override (force-select or force-decline) and the selection is run again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import sqlalchemy as sa

from schemas.columns import Col, Derived, Status
from schemas.config import CohortConfig
from schemas.errors import StaffError
from schemas.lifecycle import STAFF_ACTIONS, TRANSITIONS, Move, StaffRequest
from schemas.retention import AfterPurge
from tasks.lease import cohort_lease
from tasks.retention import check_not_purged
from tasks.store import frozen_selection_id, record_actions
from tasks.teams import current_decisions, move_for, team_rows


class LifecycleError(StaffError):
    """A decision change staff asked for cannot be made; the message says why and what to do instead."""


def _require_frozen(engine: sa.Engine, config: CohortConfig) -> None:
    if frozen_selection_id(engine, config.cohort_id) is None:
        raise LifecycleError(
            f"no decision notice has gone out for cohort {config.cohort} yet, so there is nothing to confirm, "
            "decline, withdraw or promote: before the notices, change a decision with an override "
            "(force-select or force-decline) and run the selection again"
        )


def find_team(teams: pd.DataFrame, key: str) -> pd.Series:
    """The team row for a team key from decisions.csv (or `row:N` for a row without a name)."""
    hit = teams[(teams[Derived.APPLICANT] == key) | (teams[Derived.TEAM_KEY] == key)]
    if hit.empty:
        raise LifecycleError(
            f"no team {key!r} in the selection the notices were sent from: use the team_key column of decisions.csv"
        )
    return hit.iloc[-1]


def staff_move(teams: pd.DataFrame, request: StaffRequest) -> Move | None:
    """The recorded move for a staff action, or None when the team already has that status."""
    action, reason = request.action, request.reason
    if action not in STAFF_ACTIONS:
        raise LifecycleError(f"unknown action {action!r}: use one of {', '.join(STAFF_ACTIONS)}")
    if not reason.strip():
        raise LifecycleError(f"a {action} needs a reason (--reason), for the record")
    team = find_team(teams, request.team)
    target, sources = TRANSITIONS[action]
    status = Status(team[Col.STATUS])
    if status == target:
        return None
    if status not in sources:
        allowed = ", ".join(sorted(sources))
        raise LifecycleError(
            f"team {team[Derived.APPLICANT]} is {status}; {action} applies only to a team that is {allowed}"
        )
    return dataclasses.replace(move_for(team, action, reason, request.actor, request.at), origin=request.origin)


def record_staff_action(engine: sa.Engine, config: CohortConfig, request: StaffRequest) -> str:
    """Records one confirm / decline / withdraw and says what happened, in a sentence for staff.

    Under the cohort's lease, and by compare-and-set on the action sequence: a change recorded by another run
    first (an expiry, a promotion) is seen, and this action is checked against it.
    """
    check_not_purged(engine, config, AfterPurge.CHANGE)
    _require_frozen(engine, config)
    with cohort_lease(engine, config, f"cohort-select {request.action} {request.team}"):
        head, decided = current_decisions(engine, config.cohort_id)
        teams = team_rows(decided)
        move = staff_move(teams, request)
        team = find_team(teams, request.team)
        if move is None:
            return f"team {team[Derived.APPLICANT]} is already {team[Col.STATUS]}; nothing recorded"
        record_actions(engine, config.cohort_id, [move], _statuses(teams), head.actions_seen)
    return f"team {move.applicant}: {move.from_status} → {move.to_status} ({request.actor}: {request.reason})"


def overrides_moves(teams: pd.DataFrame, overrides: list, at: dt.datetime, done: set[str]) -> list[Move]:
    """confirm / decline / withdraw rows of the Overrides sheet not applied before (same action, team, note)."""
    moves = []
    current = teams.copy()
    for override in overrides:
        if override.action not in STAFF_ACTIONS:
            continue
        key = override.team or f"row:{override.source_row}"
        if override.source_row is not None and not override.team:
            hit = current[current[Col.SOURCE_ROW] == override.source_row]
            key = hit[Derived.APPLICANT].iloc[-1] if len(hit) else key
        origin = f"overrides:{override.action}:{key}:{override.note}"
        if origin in done:
            continue
        actor = override.by or f"Overrides sheet row {override.row}"
        try:
            request = StaffRequest(key, override.action, override.note or "(no note)", actor, at, origin)
            move = staff_move(current, request)
        except LifecycleError as exc:
            raise LifecycleError(f"Overrides row {override.row}: {exc}") from None
        if move is not None:
            moves.append(move)
            current.loc[current[Derived.APPLICANT] == move.applicant, Col.STATUS] = move.to_status
    return moves


def _statuses(teams: pd.DataFrame) -> dict[str, str]:
    return dict(zip(teams[Derived.APPLICANT], teams[Col.STATUS].astype(str), strict=True))
