"""After the notices: confirm, decline, withdraw; waitlist offers that expire; the freeze and its drift report.

Decisions change only through recorded actions (who, when, why) on top of the frozen selection, the one the
first decision notices were sent from. A re-run of the selection never flips a notified decision: it reports
what would change (drift) and records nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel

from schemas.columns import INITIAL_KIND_FOR_STATUS, LIFECYCLE_KIND_FOR_STATUS, SEAT_HOLDING, Col, Out, Status
from schemas.config import CohortConfig
from schemas.errors import StaffError
from schemas.ledger import OUT_STATES
from schemas.states import USPS_STATES
from tasks.cutoff import local_time_text
from tasks.decisions import write_table
from tasks.lease import cohort_lease
from tasks.ledger import ledger
from tasks.store import (
    action_log,
    baseline_selection,
    frozen_selection_id,
    record_actions,
    record_moves,
)

# Statuses a team (one notice-bearing row per applicant) can hold.
TEAM_STATUSES = frozenset(INITIAL_KIND_FOR_STATUS) | frozenset(LIFECYCLE_KIND_FOR_STATUS)

# action → (status it leads to, statuses it may start from)
TRANSITIONS: dict[str, tuple[Status, frozenset[Status]]] = {
    "confirm": (Status.CONFIRMED, frozenset({Status.SELECTED, Status.OFFERED})),
    "decline": (Status.DECLINED, frozenset({Status.SELECTED, Status.CONFIRMED, Status.OFFERED, Status.WAITLISTED})),
    "withdraw": (
        Status.WITHDRAWN,
        frozenset({Status.SELECTED, Status.CONFIRMED, Status.OFFERED, Status.WAITLISTED}),
    ),
    "offer": (Status.OFFERED, frozenset({Status.WAITLISTED})),
    "expire": (Status.EXPIRED, frozenset({Status.OFFERED})),
}
STAFF_ACTIONS = ("confirm", "decline", "withdraw")
PROMOTER = "promote-waitlist"


class LifecycleError(StaffError):
    """A decision change staff asked for cannot be made; the message says why and what to do instead."""


# ------------------------------------------------------------------------------------------- teams


def applicant_keys(frame: pd.DataFrame) -> pd.Series:
    """Who a notice goes to: the team key, or the sheet row when the row names no team."""
    named = frame[Out.TEAM_KEY].fillna("").str.split(":", n=1).str[1].fillna("") != ""
    return frame[Out.TEAM_KEY].where(named, "row:" + frame[Col.SOURCE_ROW].astype(str))


def team_rows(decided: pd.DataFrame) -> pd.DataFrame:
    """One row per applicant that gets notices: its latest row that is not a duplicate."""
    rows = decided[decided[Col.STATUS].isin(list(TEAM_STATUSES))].copy()
    rows[Out.APPLICANT] = applicant_keys(rows)
    return rows.sort_values(Col.SOURCE_ROW, kind="mergesort").drop_duplicates(Out.APPLICANT, keep="last")


def apply_actions(decided: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    """The selection as it stands now: each team's latest recorded action sets its status and offer."""
    out = decided.copy()
    out[Out.DECIDED_STATUS] = out[Col.STATUS]
    out[Out.RESPOND_BY] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    if Out.RESERVED_SEAT not in out.columns:
        out[Out.RESERVED_SEAT] = ""
    if log.empty:
        return out
    teams = team_rows(out)
    latest = log.sort_values("id").drop_duplicates("applicant", keep="last").set_index("applicant")
    labels = teams.index[teams[Out.APPLICANT].isin(latest.index)]
    moved = latest.loc[teams.loc[labels, Out.APPLICANT]].set_axis(labels)
    out.loc[labels, Col.STATUS] = moved["to_status"]
    out.loc[labels, Out.RESPOND_BY] = pd.to_datetime(moved["respond_by"], utc=True)
    seat = moved["reserved_seat"].fillna("")
    out.loc[seat.index[seat != ""], Out.RESERVED_SEAT] = seat[seat != ""]
    return out


def with_moves(log: pd.DataFrame, moves: list[dict]) -> pd.DataFrame:
    """The action log as it will be once `moves` are recorded (in memory: nothing is written)."""
    if not moves:
        return log
    log = log.assign(respond_by=pd.to_datetime(log["respond_by"], utc=True))
    first = int(log["id"].max()) + 1 if len(log) else 1
    extra = pd.DataFrame([m | {"id": first + i} for i, m in enumerate(moves)])
    extra["respond_by"] = pd.to_datetime(extra["respond_by"], utc=True)
    return extra if log.empty else pd.concat([log, extra], ignore_index=True)


def current_decisions(engine: sa.Engine, cohort: str, pending: list[dict] | None = None) -> tuple[dict, pd.DataFrame]:
    """The baseline selection (frozen once notices are out) with every recorded action applied, and the moves
    `pending` (computed, not recorded) on top; `actions_seen` is the recorded sequence they start from."""
    head, decided = baseline_selection(engine, cohort)
    log = action_log(engine, cohort)
    return head | {"actions_seen": len(log)}, apply_actions(decided, with_moves(log, pending or []))


def notified_applicants(engine: sa.Engine, cohort: str) -> set[str]:
    """Applicants a decision notice may have reached (sent, or cut off mid-send)."""
    rows = ledger(engine, cohort)
    return set(rows.loc[rows["state"].isin(OUT_STATES), "applicant"])


def _require_frozen(engine: sa.Engine, config: CohortConfig) -> None:
    if frozen_selection_id(engine, config.cohort_id) is None:
        raise LifecycleError(
            f"no decision notice has gone out for cohort {config.cohort} yet, so there is nothing to confirm, "
            "decline, withdraw or promote: before the notices, change a decision with an override "
            "(force-select or force-decline) and run the selection again"
        )


# ------------------------------------------------------------------------------------------- staff actions


def find_team(teams: pd.DataFrame, key: str) -> pd.Series:
    """The team row for a team key from decisions.csv (or `row:N` for a row without a name)."""
    hit = teams[(teams[Out.APPLICANT] == key) | (teams[Out.TEAM_KEY] == key)]
    if hit.empty:
        raise LifecycleError(
            f"no team {key!r} in the selection the notices were sent from: use the team_key column of decisions.csv"
        )
    return hit.iloc[-1]


def staff_move(
    teams: pd.DataFrame, key: str, action: str, reason: str, actor: str, at: dt.datetime, origin: str = ""
) -> dict | None:
    """The recorded move for a staff action, or None when the team already has that status."""
    if action not in STAFF_ACTIONS:
        raise LifecycleError(f"unknown action {action!r}: use one of {', '.join(STAFF_ACTIONS)}")
    if not reason.strip():
        raise LifecycleError(f"a {action} needs a reason (--reason), for the record")
    team = find_team(teams, key)
    target, sources = TRANSITIONS[action]
    status = Status(team[Col.STATUS])
    if status == target:
        return None
    if status not in sources:
        allowed = ", ".join(sorted(sources))
        raise LifecycleError(
            f"team {team[Out.APPLICANT]} is {status}; {action} applies only to a team that is {allowed}"
        )
    return _move(team, action, reason, actor, at) | {"origin": origin}


def _move(team: pd.Series, action: str, reason: str, actor: str, at: dt.datetime, **extra: object) -> dict:
    return {
        "applicant": team[Out.APPLICANT],
        "action": action,
        "from_status": str(team[Col.STATUS]),
        "to_status": TRANSITIONS[action][0].value,
        "actor": actor,
        "reason": reason,
        "at": at,
        "respond_by": None,
        "reserved_seat": "",
        "origin": "",
    } | extra


def record_staff_action(
    engine: sa.Engine, config: CohortConfig, key: str, action: str, reason: str, actor: str, at: dt.datetime
) -> str:
    """Records one confirm / decline / withdraw and says what happened, in a sentence for staff.

    Under the cohort's lease, and by compare-and-set on the action sequence: a change recorded by another run
    first (an expiry, a promotion) is seen, and this action is checked against it.
    """
    _require_frozen(engine, config)
    with cohort_lease(engine, config, f"cohort-select {action} {key}"):
        head, decided = current_decisions(engine, config.cohort_id)
        teams = team_rows(decided)
        move = staff_move(teams, key, action, reason, actor, at)
        team = find_team(teams, key)
        if move is None:
            return f"team {team[Out.APPLICANT]} is already {team[Col.STATUS]}; nothing recorded"
        record_actions(engine, config.cohort_id, [move], _statuses(teams), head["actions_seen"])
    return f"team {move['applicant']}: {move['from_status']} → {move['to_status']} ({actor}: {reason})"


def overrides_moves(teams: pd.DataFrame, overrides: list, at: dt.datetime, done: set[str]) -> list[dict]:
    """confirm / decline / withdraw rows of the Overrides sheet not applied before (same action, team, note)."""
    moves = []
    current = teams.copy()
    for override in overrides:
        if override.action not in STAFF_ACTIONS:
            continue
        key = override.team or f"row:{override.source_row}"
        if override.source_row is not None and not override.team:
            hit = current[current[Col.SOURCE_ROW] == override.source_row]
            key = hit[Out.APPLICANT].iloc[-1] if len(hit) else key
        origin = f"overrides:{override.action}:{key}:{override.note}"
        if origin in done:
            continue
        actor = override.by or f"Overrides sheet row {override.row}"
        try:
            move = staff_move(current, key, override.action, override.note or "(no note)", actor, at, origin)
        except LifecycleError as exc:
            raise LifecycleError(f"Overrides row {override.row}: {exc}") from None
        if move is not None:
            moves.append(move)
            current.loc[current[Out.APPLICANT] == move["applicant"], Col.STATUS] = move["to_status"]
    return moves


def _statuses(teams: pd.DataFrame) -> dict[str, str]:
    return dict(zip(teams[Out.APPLICANT], teams[Col.STATUS].astype(str), strict=True))


# ------------------------------------------------------------------------------------------- promotion


class PromotionReport(BaseModel):
    """What one promotion run did: staff actions from the sheet, expired offers, new offers, free seats."""

    staff_actions: list[str] = []
    expired: list[str] = []
    offered: list[str] = []
    free_seats: int = 0
    note: str = ""
    dry_run: bool = False

    def as_text(self) -> str:
        lines = [f"Free seats after this run: {self.free_seats}"]
        if self.dry_run and (self.staff_actions or self.expired or self.offered):
            lines.insert(0, "Dry run: nothing is recorded and no clock starts; with send, this run would record:")
        sections = (("Staff actions", self.staff_actions), ("Expired", self.expired), ("Offered", self.offered))
        for title, items in sections:
            lines.append(f"{title}: {len(items)}")
            lines += [f"  - {item}" for item in items]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def course_start_moment(config: CohortConfig) -> dt.datetime | None:
    """Midnight at the start of the course day, in the cohort's zone: no offer or notice reaches past it."""
    if config.notices is None:
        return None
    return dt.datetime.combine(config.notices.course_start, dt.time(), tzinfo=config.zone)


def course_started(config: CohortConfig, as_of: dt.datetime) -> bool:
    start = course_start_moment(config)
    return start is not None and as_of >= start


def held_seats(teams: pd.DataFrame) -> pd.DataFrame:
    return teams[teams[Col.STATUS].isin(list(SEAT_HOLDING))]


def expiry_moves(teams: pd.DataFrame, config: CohortConfig, as_of: dt.datetime) -> list[dict]:
    """Offers whose respond-by time has passed without an answer."""
    offered = teams[(teams[Col.STATUS] == Status.OFFERED) & (teams[Out.RESPOND_BY] <= pd.Timestamp(as_of))]
    return [
        _move(team, "expire", f"no answer by {local_time_text(team[Out.RESPOND_BY], config.timezone)}", PROMOTER, as_of)
        for _, team in offered.iterrows()
    ]


def offer_moves(teams: pd.DataFrame, config: CohortConfig, as_of: dt.datetime) -> list[dict]:
    """Each free seat to the best-ranked waitlisted team that keeps the per-state cap and reserved seats valid."""
    respond_by = as_of + dt.timedelta(hours=config.waitlist.offer_hours)
    start = course_start_moment(config)
    if start is not None:
        respond_by = min(respond_by, start)
    if respond_by <= as_of:
        return []
    held = held_seats(teams)
    per_state = held[Col.STATE].value_counts().to_dict()
    holders = held[Out.RESERVED_SEAT].value_counts().to_dict()
    waiting = teams[teams[Col.STATUS] == Status.WAITLISTED].sort_values(Out.RANK, kind="mergesort")
    free = config.capacity - len(held)
    moves = []
    while free > 0:
        open_to = waiting[waiting[Col.STATE].map(lambda s: per_state.get(s, 0) < config.max_per_state)]
        if open_to.empty:
            break
        team, seat = _next_offer(open_to, config, holders)
        why = f"a seat is free (capacity {config.capacity}); waitlist position {int(team[Out.RANK])}, "
        why += "the best-ranked team"
        state = USPS_STATES.get(team[Col.STATE], team[Col.STATE])
        why += f" that keeps {state} within {config.max_per_state} per state"
        if seat:
            why += f" (reserved seat: {seat})"
        moves.append(_move(team, "offer", why, PROMOTER, as_of, respond_by=respond_by, reserved_seat=seat))
        per_state[team[Col.STATE]] = per_state.get(team[Col.STATE], 0) + 1
        holders[seat] = holders.get(seat, 0) + 1
        waiting = waiting.drop(index=team.name)
        free -= 1
    return moves


def _next_offer(open_to: pd.DataFrame, config: CohortConfig, holders: dict[str, int]) -> tuple[pd.Series, str]:
    """A reserve short of its seats takes the best qualifying team first; otherwise the best team."""
    for reserve in config.reserved_seats:
        if holders.get(reserve.name, 0) >= reserve.seats:
            continue
        qualifying = open_to[open_to[Out.RESERVES].map(lambda names, r=reserve.name: r in names)]
        if not qualifying.empty:
            return qualifying.iloc[0], reserve.name
    return open_to.iloc[0], ""


class Promotion(BaseModel):
    """What a promotion run would record, computed from the store without writing to it."""

    report: PromotionReport
    moves: list[dict] = []
    actions_seen: int = 0


def plan_promotion(
    engine: sa.Engine, config: CohortConfig, as_of: dt.datetime, overrides: list | None = None, dry_run: bool = False
) -> Promotion:
    """Staff actions from the Overrides sheet, then expiries, then offers for free seats, each computed on the
    state the previous ones leave; nothing is recorded here (the send that delivers their notices records them,
    tasks/delivery.py), so a dry run or a run that fails later starts no clock."""
    report = PromotionReport(dry_run=dry_run)
    cohort = config.cohort_id
    if frozen_selection_id(engine, cohort) is None:
        report.note = "No decision notice has gone out yet: nothing to confirm, decline or promote."
        return Promotion(report=report)
    _, baseline = baseline_selection(engine, cohort)
    log = action_log(engine, cohort)
    done = set(log.get("origin", pd.Series(dtype=str)).fillna(""))

    def teams_after(moves: list[dict]) -> pd.DataFrame:
        return team_rows(apply_actions(baseline, with_moves(log, moves)))

    staff = overrides_moves(teams_after([]), overrides or [], as_of, done)
    report.staff_actions = [f"{m['applicant']}: {m['action']} ({m['actor']}: {m['reason']})" for m in staff]
    teams = teams_after(staff)
    expired = expiry_moves(teams, config, as_of)
    report.expired = [f"{m['applicant']}: {m['reason']}" for m in expired]
    teams = teams_after(staff + expired)
    offers: list[dict] = []
    if course_started(config, as_of):
        report.note = "The course has started: no more offers are made."
    else:
        offers = offer_moves(teams, config, as_of)
        report.offered = [
            f"{m['applicant']}: respond by {local_time_text(m['respond_by'], config.timezone)}; {m['reason']}"
            for m in offers
        ]
        report.free_seats = config.capacity - len(held_seats(teams)) - len(offers)
    return Promotion(report=report, moves=staff + expired + offers, actions_seen=len(log))


def promote(
    engine: sa.Engine, config: CohortConfig, as_of: dt.datetime, overrides: list | None = None
) -> PromotionReport:
    """Compute and record a promotion now, under the cohort's lease (for callers without notices to send)."""
    with cohort_lease(engine, config, "promote-waitlist"):
        promotion = plan_promotion(engine, config, as_of, overrides)
        record_moves(engine, config.cohort_id, promotion.moves, promotion.actions_seen)
    return promotion.report


# ------------------------------------------------------------------------------------------- drift


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


DRIFT_COLUMNS = (
    Out.APPLICANT,
    Col.SOURCE_ROW,
    Col.LOCAL_NAME,
    Col.STATE,
    "notified",
    "decided",
    "now",
    "would_be",
    "change",
    "would_be_reasons",
    "staff_action",
)


def drift(current: pd.DataFrame, rerun: pd.DataFrame, notified: set[str]) -> pd.DataFrame:
    """Team by team, where a fresh selection disagrees with the frozen one (status, or waitlist position).

    Teams are matched by team key, then by sheet row (an edited state or name changes the key).
    """
    before = team_rows(current).set_index(Out.APPLICANT)
    after = team_rows(rerun).set_index(Out.APPLICANT)
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
    moved = a[Col.STATUS].astype(str) != b[Out.DECIDED_STATUS].astype(str)
    reranked = (a[Col.STATUS] == Status.WAITLISTED) & (b[Out.DECIDED_STATUS] == Status.WAITLISTED)
    reranked &= a[Out.RANK].astype("Int64").fillna(-1) != b[Out.RANK].astype("Int64").fillna(-1)
    rekeyed = pairs["was"] != pairs["will"]
    rows = []
    for i in pairs.index[(moved | reranked | rekeyed).to_numpy()]:
        was, will, key = b.loc[i], a.loc[i], pairs.at[i, "was"]
        change = f"{was[Out.DECIDED_STATUS]} → {will[Col.STATUS]}"
        if will[Col.STATUS] == was[Out.DECIDED_STATUS]:
            change = "no status change"
            if reranked[i]:
                change = f"waitlist position {int(was[Out.RANK])} → {int(will[Out.RANK])}"
        if rekeyed[i]:
            change += f" (team key now {pairs.at[i, 'will']})"
        rows.append(_drift_row(key, will, was[Out.DECIDED_STATUS], was[Col.STATUS], change, key in notified))
    for key in new.difference(pairs["will"]):
        will = after.loc[key]
        rows.append(_drift_row(key, will, "", "", "new since the notices: not part of the frozen selection", False))
    for key in gone.difference(pairs["was"]):
        was = before.loc[key]
        rows.append(_drift_row(key, was, was[Out.DECIDED_STATUS], was[Col.STATUS], GONE, key in notified))
    frame = pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))
    return frame.sort_values([Col.SOURCE_ROW, Out.APPLICANT], kind="mergesort").reset_index(drop=True)


GONE = "no longer in the responses"


def _drift_row(key: str, row: pd.Series, decided: str, now: str, change: str, notified: bool) -> dict:
    gone = change == GONE
    would_be = "" if gone else str(row[Col.STATUS])
    if now in SEAT_HOLDING and would_be not in SEAT_HOLDING:
        hint = "if this team should lose its place: cohort-select withdraw"
    elif would_be == Status.SELECTED and now not in SEAT_HOLDING:
        hint = "a seat changes hands only when one is freed (decline / withdraw), by waitlist order"
    else:
        hint = "none needed unless staff decide otherwise; nothing is sent for this change"
    return {
        Out.APPLICANT: key,
        Col.SOURCE_ROW: int(row[Col.SOURCE_ROW]),
        Col.LOCAL_NAME: row[Col.LOCAL_NAME],
        Col.STATE: row[Col.STATE],
        "notified": "yes" if notified else "no",
        "decided": decided,
        "now": now,
        "would_be": would_be,
        "change": change,
        "would_be_reasons": "" if gone else str(row[Col.REASONS]),
        "staff_action": hint,
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
        f"{r[Out.APPLICANT]} (row {r[Col.SOURCE_ROW]}): {r['change']}"
        + (" [notified]" if r["notified"] == "yes" else "")
        for r in found.to_dict(orient="records")
    ]
    return DriftReport(frozen=True, selection_id=frozen, changes=len(found), path=str(path), lines=lines)
