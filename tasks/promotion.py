"""Promotion from the waitlist: the Overrides sheet's staff actions, expiries of unanswered offers, and an offer of
each free seat to the best-ranked waitlisted team that keeps the per-state cap and the reserved seats valid."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Hashable, Mapping
from typing import cast

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel

from schemas.columns import Col, Derived, Status
from schemas.config import CohortConfig
from schemas.lifecycle import SEAT_HOLDING, Action, Move
from schemas.replies import ReplyCol, ReplyOutcome
from schemas.states import USPS_STATES
from schemas.store import StoreCol
from tasks.course_dates import confirm_by_moment, course_start_moment, course_started
from tasks.lease import cohort_lease
from tasks.local_time import date_text, local_time_text
from tasks.replies import judge_replies, unconfirmed
from tasks.reply_tokens import reply_key
from tasks.staff_actions import overrides_moves
from tasks.store import action_log, baseline_selection, frozen_selection_id, record_moves
from tasks.teams import apply_actions, move_for, team_rows, with_moves

PROMOTER = "promote-waitlist"  # the actor of the offers and expiries: the flow that makes them


class PromotionReport(BaseModel):
    """What one promotion run did: staff actions from the sheet, expired offers, new offers, free seats."""

    staff_actions: list[str] = []
    replies: list[dict[str, str]] = []  # one row per response row of the reply form (schemas/replies.ReplyCol)
    expired: list[str] = []
    offered: list[str] = []
    unconfirmed: list[str] = []  # past confirm-by with no reply, when staff decide (replies.expire_unconfirmed off)
    free_seats: int = 0
    note: str = ""
    dry_run: bool = False

    def replies_by_outcome(self) -> dict[str, int]:
        return dict(Counter(row[ReplyCol.OUTCOME] for row in self.replies))

    def as_text(self) -> str:
        lines = [f"Free seats after this run: {self.free_seats}"]
        if self.dry_run and (self.staff_actions or self.expired or self.offered or self.replies):
            lines.insert(0, "Dry run: nothing is recorded and no clock starts; with send, this run would record:")
        if self.replies:
            counts = ", ".join(f"{n} {outcome}" for outcome, n in self.replies_by_outcome().items())
            lines.append(f"Replies from the form: {len(self.replies)} rows ({counts})")
            lines += [
                f"  - row {row[ReplyCol.ROW]}: {row[ReplyCol.OUTCOME]}, {row[ReplyCol.WHY]}"
                for row in self.replies
                if row[ReplyCol.OUTCOME] in (ReplyOutcome.REFUSED, ReplyOutcome.LATE)
            ]
        sections = (("Staff actions", self.staff_actions), ("Expired", self.expired), ("Offered", self.offered))
        for title, items in sections:
            lines.append(f"{title}: {len(items)}")
            lines += [f"  - {item}" for item in items]
        if self.unconfirmed:
            lines.append(
                f"Selected, past confirm-by, no reply: {len(self.unconfirmed)} (staff decide: decline or withdraw "
                "in the Overrides sheet, or confirm)"
            )
            lines += [f"  - {team}" for team in self.unconfirmed]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def held_seats(teams: pd.DataFrame) -> pd.DataFrame:
    return teams[teams[Col.STATUS].isin(list(SEAT_HOLDING))]


def expiry_moves(teams: pd.DataFrame, config: CohortConfig, as_of: dt.datetime) -> list[Move]:
    """Offers whose respond-by time has passed without an answer."""
    offered = teams[(teams[Col.STATUS] == Status.OFFERED) & (teams[Derived.RESPOND_BY] <= pd.Timestamp(as_of))]
    return [
        move_for(
            team,
            Action.EXPIRE,
            f"no answer by {local_time_text(team[Derived.RESPOND_BY], config.timezone)}",
            PROMOTER,
            as_of,
        )
        for _, team in offered.iterrows()
    ]


def offer_moves(teams: pd.DataFrame, config: CohortConfig, as_of: dt.datetime) -> list[Move]:
    """Each free seat to the best-ranked waitlisted team that keeps the per-state cap and reserved seats valid."""
    respond_by = as_of + dt.timedelta(hours=config.waitlist.offer_hours)
    start = course_start_moment(config)
    if start is not None:
        respond_by = min(respond_by, start)
    if respond_by <= as_of:
        return []
    held = held_seats(teams)
    per_state = held[Col.STATE].value_counts().to_dict()
    holders = held[Derived.RESERVED_SEAT].value_counts().to_dict()
    waiting = teams[teams[Col.STATUS] == Status.WAITLISTED].sort_values(Derived.RANK, kind="mergesort")
    free = config.capacity - len(held)
    moves = []
    while free > 0:
        open_to = waiting[waiting[Col.STATE].map(lambda s: per_state.get(s, 0) < config.max_per_state)]
        if open_to.empty:
            break
        team, seat = _next_offer(open_to, config, holders)
        why = f"a seat is free (capacity {config.capacity}); waitlist position {int(team[Derived.RANK])}, "
        why += "the best-ranked team"
        state = USPS_STATES.get(team[Col.STATE], team[Col.STATE])
        why += f" that keeps {state} within {config.max_per_state} per state"
        if seat:
            why += f" (reserved seat: {seat})"
        offer = move_for(team, Action.OFFER, why, PROMOTER, as_of)
        moves.append(dataclasses.replace(offer, respond_by=respond_by, reserved_seat=seat))
        per_state[team[Col.STATE]] = per_state.get(team[Col.STATE], 0) + 1
        holders[seat] = holders.get(seat, 0) + 1
        waiting = waiting.drop(index=team.name)
        free -= 1
    return moves


def _next_offer(open_to: pd.DataFrame, config: CohortConfig, holders: Mapping[Hashable, int]) -> tuple[pd.Series, str]:
    """A reserve short of its seats takes the best qualifying team first; otherwise the best team."""
    for reserve in config.reserved_seats:
        if holders.get(reserve.name, 0) >= reserve.seats:
            continue
        qualifying = open_to[open_to[Derived.RESERVES].map(lambda names, r=reserve.name: r in names)]
        if not qualifying.empty:
            return qualifying.iloc[0], reserve.name
    return open_to.iloc[0], ""


class Promotion(BaseModel):
    """What a promotion run would record, computed from the store without writing to it."""

    report: PromotionReport
    moves: list[Move] = []
    actions_seen: int = 0


def lapse_moves(teams: pd.DataFrame, config: CohortConfig, as_of: dt.datetime) -> tuple[list[Move], list[str]]:
    """Past confirm-by with a reply form: the selected teams that never replied become expired when the cohort file
    says so (replies.expire_unconfirmed), else they are listed for staff (the second item)."""
    due = confirm_by_moment(config)
    if config.replies is None or due is None or as_of < due:
        return [], []
    silent = unconfirmed(teams)
    if not config.replies.expire_unconfirmed:
        return [], list(silent[Derived.APPLICANT])
    why = f"no confirmation by {date_text((due - dt.timedelta(days=1)).date())}"
    return [move_for(team, Action.EXPIRE, why, PROMOTER, as_of) for _, team in silent.iterrows()], []


def plan_promotion(
    engine: sa.Engine,
    config: CohortConfig,
    as_of: dt.datetime,
    overrides: list | None = None,
    responses: pd.DataFrame | None = None,
    *,
    dry_run: bool = False,
) -> Promotion:
    """Staff actions from the Overrides sheet, then the teams' replies from the reply form (`responses`), then
    expiries (and lapsed selections), then offers for free seats, each computed on the decisions the previous ones
    leave; nothing is recorded here (the send that delivers their notices records them, tasks/delivery.py), so a
    dry run or a run that fails later starts no clock."""
    report = PromotionReport(dry_run=dry_run)
    cohort = config.cohort_id
    if frozen_selection_id(engine, cohort) is None:
        report.note = "No decision notice has gone out yet: nothing to confirm, decline or promote."
        return Promotion(report=report)
    _, baseline = baseline_selection(engine, cohort)
    log = action_log(engine, cohort)
    done = set(log.get(StoreCol.ORIGIN, pd.Series(dtype=str)).fillna(""))

    def teams_after(moves: list[Move]) -> pd.DataFrame:
        return team_rows(apply_actions(baseline, with_moves(log, moves)))

    staff = overrides_moves(teams_after([]), overrides or [], as_of, done)
    report.staff_actions = [f"{m.applicant}: {m.action} ({m.actor}: {m.reason})" for m in staff]
    replied: list[Move] = []
    if config.replies is not None and responses is not None:
        basis = with_moves(log, staff)  # a staff action of this run changes the decision a code must answer
        judged = judge_replies(responses, baseline, log, teams_after(staff), config, reply_key(config), as_of, basis)
        replied = judged.moves
        table = judged.table
        if dry_run:
            table = table.replace({ReplyCol.OUTCOME: {ReplyOutcome.APPLIED: ReplyOutcome.TO_APPLY}})
        report.replies = [{str(k): str(v) for k, v in row.items()} for row in table.to_dict("records")]
    teams = teams_after(staff + replied)
    lapsed, report.unconfirmed = lapse_moves(teams, config, as_of) if responses is not None else ([], [])
    expired = expiry_moves(teams, config, as_of) + lapsed
    report.expired = [f"{m.applicant}: {m.reason}" for m in expired]
    teams = teams_after(staff + replied + expired)
    offers: list[Move] = []
    if course_started(config, as_of):
        report.note = "The course has started: no more offers are made."
    else:
        offers = offer_moves(teams, config, as_of)
        report.offered = [  # every offer has its respond-by time
            f"{m.applicant}: respond by {local_time_text(cast(dt.datetime, m.respond_by), config.timezone)}; {m.reason}"
            for m in offers
        ]
        report.free_seats = config.capacity - len(held_seats(teams)) - len(offers)
    return Promotion(report=report, moves=staff + replied + expired + offers, actions_seen=len(log))


def promote(
    engine: sa.Engine, config: CohortConfig, as_of: dt.datetime, overrides: list | None = None
) -> PromotionReport:
    """Compute and record a promotion now, under the cohort's lease (for callers without notices to send)."""
    with cohort_lease(engine, config, PROMOTER):
        promotion = plan_promotion(engine, config, as_of, overrides)
        record_moves(engine, config.cohort_id, promotion.moves, promotion.actions_seen)
    return promotion.report
