"""A stateful property test of everything after the deadline: selections and re-runs, sends cut off by a
crash before or after the server took the message, declines, withdrawals, confirmations, promotions and
expiries, in any order hypothesis finds, interleaved as overlapping runs would be: a plan sent after another run
changed the selection or the lifecycle, two promotions computed from one state, two runs claiming one notice.
After every step:

- no team gets two messages for the same decision (kind), and no message goes out twice;
- selected + confirmed + offered never exceed capacity or the per-state cap;
- a decision whose notice may have gone out changes only by a recorded action;
- once a notice is out, the selection it came from stays the baseline;
- nothing after a change is sent once the course has started.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from schemas.columns import LIFECYCLE_KINDS, Col, Derived, Status, check_code
from schemas.config import CohortConfig, ReservedSeats, load_config
from schemas.ledger import MAYBE_DELIVERED, LedgerState
from schemas.lifecycle import SEAT_HOLDING, STAFF_ACTIONS, TRANSITIONS, StaffRequest
from tasks.delivery import deliver
from tasks.drift import check_drift
from tasks.ledger import LedgerWriter, ledger, sync_ledger
from tasks.notices import plan_notices
from tasks.promotion import course_started, plan_promotion, promote
from tasks.select import select
from tasks.smtp import smtp_settings
from tasks.staff_actions import LifecycleError, record_staff_action
from tasks.store import (
    SelectionFrozenError,
    StalePlanError,
    TransitionError,
    action_log,
    frozen_selection_id,
    open_store,
    record_moves,
    record_selection,
    selection_history,
)
from tasks.teams import current_decisions, team_rows
from tests.support.paths import CONFIG_PATH
from tests.support.smtp import SmtpServer

STATES = ("OH", "TX", "IL", "CA")
LEVELS = (["Elementary School"], ["Higher Education"], ["High School", "Higher Education"])
SERVER: SmtpServer | None = None


class Crash(BaseException):
    """The sending process dies here (not an Exception: nothing in the sender catches it)."""


def candidates(n: int, seed: int) -> pd.DataFrame:
    """n scored teams (a few invalid or late), as selection sees them after intake, dedupe, cutoff and score."""
    rng = pd.Series(range(n)).map(lambda i: (seed * 7919 + i * 104729) % 1000)
    base = pd.Timestamp("2021-06-01T12:00:00Z")
    frame = pd.DataFrame(
        {
            Col.SOURCE_ROW: range(2, n + 2),
            Col.STATUS: [Status.VALID.value] * n,
            Col.REASONS: [""] * n,
            Derived.SCORE: (rng % 6).astype(float),
            Col.SUBMITTED_AT: [base + pd.Timedelta(minutes=int(r)) for r in rng],
            Derived.STABLE_ID: [f"id{i:04d}" for i in range(n)],
            Col.STATE: [STATES[int(r) % len(STATES)] for r in rng],
            Col.LOCAL_NAME: [f"Local {i} Education Association" for i in range(n)],
            Col.LEAD_NAME: [f"Lead {i}" for i in range(n)],
            Col.LEAD_EMAIL: [f"lead{i}@local{i}.example.org" for i in range(n)],
            Col.SUBMITTER_EMAIL: [f"lead{i}@local{i}.example.org" for i in range(n)],
            Col.MEMBER_NAMES: [[] for _ in range(n)],
            Col.EDUCATION_LEVELS: [list(LEVELS[int(r) % len(LEVELS)]) for r in rng],
        }
    )
    frame[Derived.TEAM_KEY] = frame[Col.STATE] + ":local " + pd.Series(range(n)).astype(str)
    odd = (rng % 7 == 0).to_numpy()
    frame.loc[odd, Col.STATUS] = Status.INVALID.value
    frame.loc[odd, Col.REASONS] = "Local president has not approved"
    frame[Derived.REASON_CODES] = [[check_code(Col.PRESIDENT_APPROVED)] if o else [] for o in odd]
    return frame


def machine_config(tmp: Path, capacity: int, cap: int, reserve: bool) -> CohortConfig:
    base = load_config(CONFIG_PATH)
    data = base.model_dump()
    data |= {"capacity": capacity, "max_per_state": cap, "state_url": f"sqlite:///{tmp / 'state.sqlite'}"}
    data["email"]["smtp"] = {"host": "127.0.0.1", "port": SERVER.port, "security": "none"}
    data["reserved_seats"] = (
        [ReservedSeats(name="Higher Education", seats=1, field="education_levels", value="Higher Education")]
        if reserve
        else []
    )
    return CohortConfig.model_validate(data)


class AfterTheDeadline(RuleBasedStateMachine):
    @initialize(
        capacity=st.integers(1, 4),
        cap=st.integers(1, 2),
        reserve=st.booleans(),
        n=st.integers(3, 12),
        seed=st.integers(0, 10_000),
        notify=st.booleans(),
    )
    def first_selection(self, capacity: int, cap: int, reserve: bool, n: int, seed: int, notify: bool) -> None:
        SERVER.handler.received.clear()
        self.tmp = Path(tempfile.mkdtemp(prefix="lifecycle-"))
        self.config = machine_config(self.tmp, capacity, cap, reserve)
        self.engine = open_store(self.config.database_url)
        self.clock = self.config.deadline + dt.timedelta(days=1)
        self.inputs = candidates(n, seed)
        self.frozen_id: int | None = None
        self.record(select(self.inputs, self.config))
        if notify:  # most real runs: the decision notices go out right after the selection
            self.send("decisions", "none", 1)

    def record(self, decided: pd.DataFrame) -> None:
        record_selection(self.engine, self.config.cohort, decided, "in", "cfg", provisional=False)

    # ------------------------------------------------------------------------------------------ steps

    @rule(seed=st.integers(0, 10_000), add=st.integers(0, 2))
    def rerun_selection_with_changed_input(self, seed: int, add: int) -> None:
        changed = self.inputs.copy()
        pick = seed % len(changed)
        changed.loc[pick, Derived.SCORE] = float(seed % 9)
        if seed % 3 == 0:
            changed.loc[pick, Col.STATUS] = Status.INVALID.value
            changed.at[pick, Derived.REASON_CODES] = [check_code(Col.COMMITMENT)]
        extra = candidates(len(changed) + add, seed + 1).iloc[len(changed) :]
        self.inputs = pd.concat([changed, extra], ignore_index=True)
        decided = select(self.inputs, self.config)
        before = len(selection_history(self.engine, self.config.cohort))
        drift = check_drift(self.engine, self.config, decided, self.tmp / "drift")
        event(f"re-run: {'frozen, drift ' + str(drift.changes) if drift.frozen else 'recorded'}")
        if drift.frozen:
            assert len(selection_history(self.engine, self.config.cohort)) == before
            with pytest.raises(SelectionFrozenError):  # a run that checked before the freeze cannot record
                self.record(decided)
        else:
            self.record(decided)

    @rule(
        kind=st.sampled_from(["decisions", "lifecycle"]),
        crash=st.sampled_from(["none", "before data", "after data"]),
        at=st.integers(1, 3),
    )
    def send(self, kind: str, crash: str, at: int) -> None:
        planned = plan_notices(self.engine, self.config, kind, self.clock)
        started = course_started(self.config, self.clock)
        seen = len(SERVER.received)
        claims = Counter()
        real_claim = LedgerWriter.claim

        def claim(writer, notice_id):
            claims["claim"] += 1
            if crash == "before data" and claims["claim"] == at:
                raise Crash
            won = real_claim(writer, notice_id)
            if crash == "after data" and claims["claim"] == at:
                raise Crash  # the server is about to take the message; the ledger never hears of it
            return won

        with mock.patch.object(LedgerWriter, "claim", claim):
            try:
                deliver(self.engine, self.config, planned, smtp_settings(self.config), base_delay=0.01)
            except Crash:
                event(f"send: crashed {crash}")
        event(f"send {kind}: {len(SERVER.received) - seen} messages")
        if started:
            late = [m for m in SERVER.received[seen:] if self.kind_of(m) in LIFECYCLE_KINDS]
            assert not late, "a change notice went out after the course started"

    @rule(
        kind=st.sampled_from(["decisions", "lifecycle"]),
        meanwhile=st.sampled_from(["selection", "staff action", "promotion", "nothing"]),
        pick=st.integers(0, 20),
    )
    def another_run_changes_things_between_plan_and_send(self, kind: str, meanwhile: str, pick: int) -> None:
        """A send planned (e.g. then paused for approval) while another run records something: it sends nothing
        unless what it was planned from is still what counts."""
        planned = plan_notices(self.engine, self.config, kind, self.clock)
        changed = False
        if meanwhile == "selection" and frozen_selection_id(self.engine, self.config.cohort) is None:
            self.record(select(self.inputs, self.config))
            changed = True
        elif meanwhile == "staff action" and frozen_selection_id(self.engine, self.config.cohort) is not None:
            before = len(action_log(self.engine, self.config.cohort))
            self.staff_records(STAFF_ACTIONS[pick % 3], pick)
            changed = len(action_log(self.engine, self.config.cohort)) != before
        elif meanwhile == "promotion":
            changed = bool(promote(self.engine, self.config, self.clock).offered)
            changed = changed or len(action_log(self.engine, self.config.cohort)) != planned.actions_seq
        seen = len(SERVER.received)
        try:
            deliver(self.engine, self.config, planned, smtp_settings(self.config), base_delay=0.01)
            assert not changed, "a plan was sent after what it came from changed"
            event("plan then send: sent")
        except StalePlanError:
            assert len(SERVER.received) == seen, "a stale plan sent something"
            event(f"plan then send: stale after {meanwhile}")

    @precondition(lambda self: frozen_selection_id(self.engine, self.config.cohort) is not None)
    @rule(hours=st.sampled_from([0, 72, 96]))
    def two_promotions_computed_from_one_state(self, hours: int) -> None:
        """Both compute from the same state; only the first to record may: the second records nothing."""
        self.clock += dt.timedelta(hours=hours)
        first = plan_promotion(self.engine, self.config, self.clock)
        second = plan_promotion(self.engine, self.config, self.clock)
        assert first.moves == second.moves
        for n, promotion in enumerate((first, second)):
            if not promotion.moves:
                continue
            try:
                record_moves(self.engine, self.config.cohort, promotion.moves, promotion.actions_seen)
                assert n == 0, "the second promotion recorded its moves too"
            except TransitionError:
                assert n == 1
        event(f"two promotions: {len(first.moves)} moves, recorded once")

    @rule()
    def two_runs_claim_one_notice(self) -> None:
        rows = ledger(self.engine, self.config.cohort)
        waiting = rows[rows["state"].isin([LedgerState.PENDING, LedgerState.FAILED])]
        if waiting.empty:
            return
        one, two = LedgerWriter(self.engine, "run-a"), LedgerWriter(self.engine, "run-b")
        try:
            won = [one.claim(int(waiting["id"].iloc[0])), two.claim(int(waiting["id"].iloc[0]))]
        finally:
            one.close()
            two.close()
        assert won == [True, False]
        sync_ledger(self.engine, self.config.cohort, [], [], live_owners=["run-b"])  # run-a is gone: unknown
        event("two claims: one won")

    def kind_of(self, message) -> str:
        rows = ledger(self.engine, self.config.cohort)
        return rows.loc[rows["message_id"] == message.message["Message-ID"], "kind"].iloc[0]

    @precondition(lambda self: frozen_selection_id(self.engine, self.config.cohort) is not None)
    @rule(action=st.sampled_from(STAFF_ACTIONS), pick=st.integers(0, 20))
    def staff_records(self, action: str, pick: int) -> None:
        teams = team_rows(current_decisions(self.engine, self.config.cohort)[1])
        movable = teams[teams[Col.STATUS].isin(list(TRANSITIONS[action][1]))]
        chosen = movable if len(movable) and pick % 4 else teams  # mostly a team the action applies to
        team = chosen[Derived.APPLICANT].iloc[pick % len(chosen)]
        try:
            said = record_staff_action(
                self.engine, self.config, StaffRequest(team, action, "test", "machine", self.clock)
            )
            event(f"staff {action}: {said.split(' (')[0].split(': ')[-1]}")
        except LifecycleError as exc:
            event(f"staff {action} refused: {str(exc)[:40]}")

    @precondition(lambda self: frozen_selection_id(self.engine, self.config.cohort) is not None)
    @rule(action=st.sampled_from(["decline", "withdraw"]), pick=st.integers(0, 20), wait=st.sampled_from([0, 72]))
    def a_seat_holder_leaves_and_promotion_runs(self, action: str, pick: int, wait: int) -> None:
        teams = team_rows(current_decisions(self.engine, self.config.cohort)[1])
        holders = teams[teams[Col.STATUS].isin(list(SEAT_HOLDING))]
        if len(holders):
            team = holders[Derived.APPLICANT].iloc[pick % len(holders)]
            record_staff_action(self.engine, self.config, StaffRequest(team, action, "test", "machine", self.clock))
        self.time_passes_and_promotion_runs(wait)

    @rule(hours=st.sampled_from([0, 1, 24, 71, 72, 96, 0, 24, 72, 900]))
    def time_passes_and_promotion_runs(self, hours: int) -> None:
        self.clock += dt.timedelta(hours=hours)
        report = promote(self.engine, self.config, self.clock)
        event(f"promote: {len(report.expired)} expired, {len(report.offered)} offered")
        if frozen_selection_id(self.engine, self.config.cohort) is None or course_started(self.config, self.clock):
            return
        teams = team_rows(current_decisions(self.engine, self.config.cohort)[1])
        held = teams[teams[Col.STATUS].isin(list(SEAT_HOLDING))]
        if len(held) < self.config.capacity:  # a free seat: no waitlisted team may fit it
            counts = held[Col.STATE].value_counts()
            waiting = teams[teams[Col.STATUS] == Status.WAITLISTED]
            fits = waiting[Col.STATE].map(lambda s: counts.get(s, 0) < self.config.max_per_state)
            assert not fits.any(), "a seat stayed free although a waitlisted team fits it"

    # ------------------------------------------------------------------------------------------ invariants

    @invariant()
    def no_team_gets_two_messages_for_one_decision(self) -> None:
        rows = ledger(self.engine, self.config.cohort)
        meaning = dict(zip(rows["message_id"], zip(rows["applicant"], rows["kind"], strict=True), strict=True))
        ids = Counter(m.message["Message-ID"] for m in SERVER.received)
        assert max(ids.values(), default=0) <= 1
        assert all(m.message["Date"] for m in SERVER.received), "a message without a Date header"
        decisions = Counter(meaning[i] for i in ids)
        assert max(decisions.values(), default=0) <= 1, decisions.most_common(3)

    @invariant()
    def seats_within_capacity_and_caps(self) -> None:
        teams = team_rows(current_decisions(self.engine, self.config.cohort)[1])
        held = teams[teams[Col.STATUS].isin(list(SEAT_HOLDING))]
        assert len(held) <= self.config.capacity
        assert held[Col.STATE].value_counts().max() <= self.config.max_per_state if len(held) else True

    @invariant()
    def notified_decisions_change_only_by_a_recorded_action(self) -> None:
        frozen = frozen_selection_id(self.engine, self.config.cohort)
        if self.frozen_id is not None:
            assert frozen == self.frozen_id
        self.frozen_id = frozen
        rows = ledger(self.engine, self.config.cohort)
        out = set(rows.loc[rows["state"].isin(MAYBE_DELIVERED), "applicant"])
        teams = team_rows(current_decisions(self.engine, self.config.cohort)[1]).set_index(Derived.APPLICANT)
        log = action_log(self.engine, self.config.cohort)
        last = log.drop_duplicates("applicant", keep="last").set_index("applicant")["to_status"]
        for applicant in out & set(teams.index):
            expected = last.get(applicant, teams.at[applicant, Derived.DECIDED_STATUS])
            assert teams.at[applicant, Col.STATUS] == expected
        if out:
            assert frozen is not None

    @invariant()
    def every_team_has_one_known_status(self) -> None:
        decided = current_decisions(self.engine, self.config.cohort)[1]
        assert decided[Col.SOURCE_ROW].is_unique
        assert set(decided[Col.STATUS]) <= {s.value for s in Status} - {Status.VALID.value}

    @invariant()
    def sent_means_received(self) -> None:
        rows = ledger(self.engine, self.config.cohort)
        received = {m.message["Message-ID"] for m in SERVER.received}
        assert set(rows.loc[rows["state"] == LedgerState.SENT, "message_id"]) <= received


@pytest.fixture(scope="module")
def smtp_for_machine():
    global SERVER
    with SmtpServer() as server:
        SERVER = server
        yield server
    SERVER = None


@pytest.mark.no_cover  # many interleavings over lines the example tests cover: not traced
def test_after_the_deadline_state_machine(smtp_for_machine):
    AfterTheDeadline.TestCase.settings = settings(
        max_examples=30, stateful_step_count=18, deadline=None, suppress_health_check=list(HealthCheck)
    )
    AfterTheDeadline.TestCase().runTest()
