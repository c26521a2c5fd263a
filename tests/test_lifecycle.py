"""After the notices: confirm / decline / withdraw, waitlist offers that expire, the freeze and its drift report,
what-if tables and the audit trail; against a SQLite store and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from collections import Counter

import pytest

from flows.cli import main
from schemas.columns import Col, Derived, Kind, Status, WhatIfCol
from schemas.config import ReservedSeats
from schemas.frames import Step
from schemas.ledger import RunKind
from schemas.lifecycle import Action, Move, StaffRequest
from schemas.store import DecisionsHead, Freeze, SelectionHead, StoreCol
from tasks.audit import audit_trail, write_audit
from tasks.delivery import deliver
from tasks.drift import check_drift
from tasks.notices import NoticePlan, plan_notices
from tasks.overrides import Override
from tasks.pipeline import PipelineInputs, run_pipeline, stages_through
from tasks.promotion import Promotion, plan_promotion, promote
from tasks.simulate import WhatIfRow, what_if, what_if_table
from tasks.smtp import smtp_settings
from tasks.staff_actions import LifecycleError, record_staff_action
from tasks.store import action_log, actions, freezes, open_store, record_selection, selection_history, selections
from tasks.teams import current_decisions, team_rows
from tests.support.configs import make_config
from tests.support.rows import numbered_team, raw_frame
from tests.support.selection import run
from tests.support.smtp import SmtpServer

AFTER = dt.datetime(2021, 6, 14, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def decide(config, rows):
    return run(config, *rows)


def teams_in_order() -> list[list[str]]:
    """Five teams, ranked by submission time: OH, OH, TX, IL, CA (the same score each)."""
    states = ["OH", "OH", "TX", "IL", "CA"]
    return [numbered_team(i, state, Timestamp=f"6/{i}/2021 12:00:00") for i, state in enumerate(states, start=1)]


def key(i: int, state: str) -> str:
    return f"{state}:local {i} education association"


def sent_notices(engine, config, smtp, as_of=AFTER, kind="decisions"):
    plan = plan_notices(engine, config, kind, as_of)
    deliver(engine, config, plan, smtp_settings(config), base_delay=0.01)
    return plan.notices


def statuses(engine, config) -> dict[str, str]:
    _, decided = current_decisions(engine, config.cohort)
    rows = team_rows(decided)
    return dict(zip(rows[Derived.APPLICANT], rows[Col.STATUS], strict=True))


def received_kinds(smtp) -> Counter:
    return Counter((m.message["To"], m.message["Subject"]) for m in smtp.received)


def selected_setup(tmp_path, smtp, **changes):
    config, path = make_config(tmp_path, smtp.port, capacity=2, max_per_state=1, **changes)
    engine = open_store(config.database_url)
    decided = decide(config, teams_in_order())
    record_selection(engine, config.cohort, decided, "in", "cfg", provisional=False)
    sent_notices(engine, config, smtp)
    return config, path, engine


def test_decline_frees_a_seat_for_the_best_waitlisted_team_within_the_cap(tmp_path, smtp, backend):
    config, _, engine = selected_setup(tmp_path, smtp)
    assert statuses(engine, config)[key(1, "OH")] == Status.SELECTED
    assert statuses(engine, config)[key(3, "TX")] == Status.SELECTED
    assert len(smtp.received) == 5

    said = record_staff_action(
        engine, config, StaffRequest(key(3, "TX"), "decline", "lead took another job", "dana", AFTER)
    )
    assert "selected → declined" in said
    report = promote(engine, config, AFTER + dt.timedelta(hours=1))
    now = statuses(engine, config)
    # Team 2 (OH) ranks first on the waitlist but Ohio already holds its one seat: team 4 (IL) gets the offer.
    assert now[key(2, "OH")] == Status.WAITLISTED
    assert now[key(4, "IL")] == Status.OFFERED
    assert len(report.offered) == 1 and "Illinois within 1 per state" in report.offered[0]
    assert report.free_seats == 0

    sent_notices(engine, config, smtp, AFTER + dt.timedelta(hours=1), kind="lifecycle")
    sent_notices(engine, config, smtp, AFTER + dt.timedelta(hours=2), kind="lifecycle")  # a re-run sends nothing
    new = smtp.received[5:]
    assert sorted(m.message["To"] for m in new) == ["lead3@local3.example.org", "lead4@local4.example.org"]
    offer = next(m for m in new if m.message["To"] == "lead4@local4.example.org")
    body = offer.message.get_body(("plain",)).get_content()
    assert "A seat is open" in offer.message["Subject"]
    assert "by 6:00:00 AM EDT on June 17, 2021" in body  # 72 hours after 10:00 UTC on June 14, in New York time


def test_an_unanswered_offer_expires_and_passes_to_the_next_team(tmp_path, smtp, backend):
    config, _, engine = selected_setup(tmp_path, smtp)
    record_staff_action(engine, config, StaffRequest(key(3, "TX"), "decline", "no longer available", "dana", AFTER))
    promote(engine, config, AFTER)
    assert statuses(engine, config)[key(4, "IL")] == Status.OFFERED

    early = promote(engine, config, AFTER + dt.timedelta(hours=71))
    assert early.expired == [] and early.offered == []
    later = promote(engine, config, AFTER + dt.timedelta(hours=72))
    now = statuses(engine, config)
    assert now[key(4, "IL")] == Status.EXPIRED
    assert now[key(5, "CA")] == Status.OFFERED
    assert len(later.expired) == 1 and len(later.offered) == 1

    sent_notices(engine, config, smtp, AFTER + dt.timedelta(hours=72), kind="lifecycle")
    subjects = {m.message["To"]: m.message["Subject"] for m in smtp.received[5:]}
    assert "expired" in subjects["lead4@local4.example.org"]
    assert "A seat is open" in subjects["lead5@local5.example.org"]
    # The expired offer's notice went once, the first offer once: no (recipient, subject) twice.
    assert max(received_kinds(smtp).values()) == 1


def test_confirm_and_the_errors_staff_can_act_on(tmp_path, smtp, backend):
    config, _, engine = selected_setup(tmp_path, smtp)
    assert "confirmed" in record_staff_action(
        engine, config, StaffRequest(key(1, "OH"), "confirm", "replied", "dana", AFTER)
    )
    again = record_staff_action(engine, config, StaffRequest(key(1, "OH"), "confirm", "replied twice", "dana", AFTER))
    assert "already confirmed" in again
    record_staff_action(engine, config, StaffRequest(key(3, "TX"), "decline", "no", "dana", AFTER))
    with pytest.raises(LifecycleError, match="is declined; confirm applies only to a team that is offered, selected"):
        record_staff_action(engine, config, StaffRequest(key(3, "TX"), "confirm", "changed mind", "dana", AFTER))
    with pytest.raises(LifecycleError, match=r"no team 'XX:nobody'.*team_key column of decisions\.csv"):
        record_staff_action(engine, config, StaffRequest("XX:nobody", "decline", "?", "dana", AFTER))
    with pytest.raises(LifecycleError, match="needs a reason"):
        record_staff_action(engine, config, StaffRequest(key(1, "OH"), "withdraw", " ", "dana", AFTER))
    assert len(action_log(engine, config.cohort)) == 2


def test_before_the_notices_a_change_goes_through_an_override(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port, capacity=2, max_per_state=1)
    engine = open_store(config.database_url)
    record_selection(engine, config.cohort, decide(config, teams_in_order()), "in", "cfg", provisional=False)
    with pytest.raises(LifecycleError, match=r"no decision notice has gone out.*force-decline"):
        record_staff_action(engine, config, StaffRequest(key(1, "OH"), "decline", "no", "dana", AFTER))
    assert "nothing to confirm" in promote(engine, config, AFTER).note


def test_a_freed_reserved_seat_goes_to_a_qualifying_team(tmp_path, smtp, backend):
    reserve = ReservedSeats(name="Higher Education", seats=1, field="education_levels", value="Higher Education")
    config, _ = make_config(tmp_path, smtp.port, capacity=2, max_per_state=2, reserved_seats=[reserve.model_dump()])
    rows = teams_in_order()
    higher = "Elementary School, Higher Education"
    rows[4] = numbered_team(5, "CA", Timestamp="6/5/2021 12:00:00", Education_levels_your_local_serves=higher)
    rows[1] = numbered_team(2, "OH", Timestamp="6/2/2021 12:00:00", Education_levels_your_local_serves=higher)
    engine = open_store(config.database_url)
    record_selection(engine, config.cohort, decide(config, rows), "in", "cfg", provisional=False)
    sent_notices(engine, config, smtp)
    now = statuses(engine, config)
    assert now[key(2, "OH")] == Status.SELECTED  # the reserved seat
    assert now[key(3, "TX")] == Status.WAITLISTED and now[key(5, "CA")] == Status.WAITLISTED

    record_staff_action(
        engine, config, StaffRequest(key(2, "OH"), "withdraw", "president withdrew approval", "sam", AFTER)
    )
    report = promote(engine, config, AFTER)
    now = statuses(engine, config)
    # TX ranks above CA on the waitlist, but only CA serves Higher Education: the reserve stays filled.
    assert now[key(5, "CA")] == Status.OFFERED and now[key(3, "TX")] == Status.WAITLISTED
    assert "(reserved seat: Higher Education)" in report.offered[0]


def test_no_offer_and_no_change_notice_after_the_course_starts(tmp_path, smtp):
    config, _, engine = selected_setup(tmp_path, smtp)
    started = dt.datetime(2021, 7, 12, 4, 0, tzinfo=dt.UTC)  # midnight July 12 in New York
    record_staff_action(engine, config, StaffRequest(key(3, "TX"), "decline", "no", "dana", started))
    report = promote(engine, config, started)
    assert report.offered == [] and "course has started" in report.note
    planned = sent_notices(engine, config, smtp, started, kind="lifecycle")
    assert [n.kind for n in planned] == [Kind.DECLINED]
    assert "course started on July 12, 2021" in planned[0].refusal
    assert len(smtp.received) == 5

    # An offer made just before the start never asks for an answer after it.
    (tmp_path / "b").mkdir()
    config, _, engine = selected_setup(tmp_path / "b", smtp)
    eve = started - dt.timedelta(hours=10)
    record_staff_action(engine, config, StaffRequest(key(3, "TX"), "decline", "no", "dana", eve))
    assert "respond by 12:00:00 AM EDT on July 12, 2021" in promote(engine, config, eve).offered[0]


def test_rerun_after_the_notices_reports_drift_and_records_nothing(tmp_path, smtp):
    config, _, engine = selected_setup(tmp_path, smtp)
    before = len(selection_history(engine, config.cohort))
    rows = teams_in_order()
    rows[0] = numbered_team(1, "OH", Timestamp="6/1/2021 12:00:00", State="Narnia")  # an edited response: now invalid
    rows.append(numbered_team(6, "WA", Timestamp="6/7/2021 10:00:01"))  # a late row
    report = check_drift(engine, config, decide(config, rows), tmp_path / "out")
    assert report.frozen and report.changes >= 3
    with open(report.path, newline="", encoding="utf-8") as handle:
        drift = {row["applicant"]: row for row in csv.DictReader(handle)}
    edited = drift[key(1, "OH")]
    assert edited["change"].startswith("selected → invalid (team key now") and edited["notified"] == "yes"
    assert "cohort-select withdraw" in drift[key(1, "OH")]["staff_action"]
    assert drift[key(6, "WA")]["change"].startswith("new since the notices")
    assert len(selection_history(engine, config.cohort)) == before
    assert statuses(engine, config)[key(1, "OH")] == Status.SELECTED
    sent_notices(engine, config, smtp)
    assert len(smtp.received) == 5

    same = check_drift(engine, config, decide(config, teams_in_order()), tmp_path / "same")
    assert same.frozen and same.changes == 0 and "no drift" in same.as_text()


def test_overrides_sheet_actions_are_recorded_once(tmp_path, smtp):
    config, _, engine = selected_setup(tmp_path, smtp)
    rows = [
        Override(row=2, team=key(1, "OH"), action="confirm", note="phoned", by="lee"),
        Override(row=3, team=key(3, "TX"), action="decline", note="email of June 13", by="lee"),
    ]
    first = promote(engine, config, AFTER, rows)
    second = promote(engine, config, AFTER + dt.timedelta(hours=1), rows)
    assert len(first.staff_actions) == 2 and second.staff_actions == []
    log = action_log(engine, config.cohort)
    assert list(log["action"]) == ["confirm", "decline", "offer"]
    assert list(log["actor"][:2]) == ["lee", "lee"]
    bad = [Override(row=4, team=key(3, "TX"), action="confirm", note="oops", by="lee")]
    with pytest.raises(LifecycleError, match="Overrides row 4: team TX:local 3 education association is declined"):
        promote(engine, config, AFTER, bad)


def test_what_if_counts_selected_cutoff_and_changes(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port, capacity=2, max_per_state=1)
    scored = run_pipeline(raw_frame(*teams_in_order()), PipelineInputs(config), stages_through(Step.SCORE))
    table = what_if_table(what_if(scored, config, [1, 2, 4], [1, 2])).set_index(["capacity", "max_per_state"])
    assert table.loc[(2, 1), "changed_vs_current"] == 0
    assert table.loc[(2, 1), "selected_per_state"] == "OH 1, TX 1"
    assert table.loc[(2, 2), "selected_per_state"] == "OH 2"
    assert table.loc[(2, 2), "changed_vs_current"] == 2  # team 2 in, team 3 out
    assert table.loc[(4, 1), "selected"] == 4 and table.loc[(4, 2), "waitlisted"] == 1
    assert table.loc[(4, 2), "score_cutoff"] == table.loc[(2, 1), "score_cutoff"]  # equal scores: ties by time
    assert table.loc[(1, 1), "selected"] == 1

    reserve = ReservedSeats(name="Higher Education", seats=2, field="education_levels", value="Higher Education")
    reserved = config.model_copy(update={"reserved_seats": [reserve]})
    impossible = what_if_table(what_if(scored, reserved, [1], [1])).iloc[0]
    assert "2 reserved seats exceed the capacity" in impossible["note"]


def test_audit_has_every_decision_notice_and_action_with_actor(tmp_path, smtp, backend):
    config, _, engine = selected_setup(tmp_path, smtp)
    record_staff_action(engine, config, StaffRequest(key(3, "TX"), "decline", '=HYPERLINK("x")', "dana", AFTER))
    promote(engine, config, AFTER)
    trail = audit_trail(engine, config.cohort)
    events = Counter(trail["event"])
    assert events["decision"] == 5 and events["notice sent"] == 5 and events["selection recorded"] == 1
    assert events["decline"] == 1 and events["offer"] == 1 and events["freeze"] == 1
    decline = trail[trail["event"] == "decline"].iloc[0]
    assert decline["actor"] == "dana" and decline["status"] == "selected → declined"
    assert trail["at"].is_monotonic_increasing

    path, count = write_audit(engine, config.cohort, tmp_path / "audit.csv")
    text = path.read_text(encoding="utf-8")
    assert count == len(trail) and "'=HYPERLINK" in text  # formula-safe when opened in a spreadsheet


def test_cli_decline_promote_and_audit(tmp_path, smtp, prefect_server, capfd):
    _, path, _engine = selected_setup(tmp_path, smtp)
    args = ["--config", str(path), "--team", key(3, "TX")]
    when = ["--as-of", "2021-06-14T09:00:00+00:00"]
    assert main(["decline", *args, "--reason", "lead moved", "--by", "dana", *when]) == 0
    assert "selected → declined (dana: lead moved)" in capfd.readouterr().out
    assert main(["confirm", *args, "--reason", "x"]) == 2
    assert "is declined; confirm applies only" in capfd.readouterr().err

    out = tmp_path / "promote"
    as_of = "2021-06-14T10:00:00+00:00"
    assert main(["promote", "--config", str(path), "--out", str(out), "--send", "--as-of", as_of]) == 0
    printed = capfd.readouterr().out
    assert "Offered: 1" in printed and "IL:local 4 education association" in printed
    assert len(smtp.received) == 7  # 5 decisions, then the decline acknowledgement and the offer

    assert main(["audit", "--config", str(path), "--out", str(tmp_path / "audit.csv")]) == 0
    assert "events in" in capfd.readouterr().out
    assert (tmp_path / "audit.csv").read_text(encoding="utf-8").count("lead moved") == 1


def test_cli_simulate_prints_and_writes_the_table_and_records_nothing(tmp_path, smtp, prefect_server, capfd):
    _, path = make_config(tmp_path, smtp.port)
    out = tmp_path / "what-if"
    args = ["simulate", "--config", str(path), "--capacity", "15,20,25", "--max-per-state", "1,2,3", "--out", str(out)]
    assert main(args) == 0
    printed = capfd.readouterr().out
    assert "What if (current config: capacity 20, at most 2 per state)" in printed
    with (out / "what-if.csv").open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 9
    current = next(r for r in table if r["capacity"] == "20" and r["max_per_state"] == "2")
    assert current["changed_vs_current"] == "0" and current["selected"] == "20"
    assert not (tmp_path / "state.sqlite").exists()  # nothing recorded
    with pytest.raises(SystemExit):
        main(["simulate", "--config", str(path), "--capacity", "0,x", "--max-per-state", "1"])
    assert "not a comma-separated list of whole numbers: '0,x'" in capfd.readouterr().err


def test_cli_select_after_the_notices_only_reports_drift(tmp_path, smtp, prefect_server, capfd):
    config, path, engine = selected_setup(tmp_path, smtp)
    out = tmp_path / "rerun"
    assert main(["select", "--config", str(path), "--out", str(out), "--as-of", "2021-06-15T09:00:00-04:00"]) == 0
    printed = capfd.readouterr().out
    assert "The selection is frozen (selection 1" in printed and "Nothing was recorded or changed" in printed
    assert (out / "drift.csv").is_file() and not (out / "decisions.csv").exists()
    assert len(selection_history(engine, config.cohort)["selection_id"].unique()) == 1


def test_two_runs_never_give_away_one_seat(tmp_path, smtp, backend):
    from tasks.promotion import offer_moves
    from tasks.store import TransitionError, record_actions

    config, _, engine = selected_setup(tmp_path, smtp)
    record_staff_action(engine, config, StaffRequest(key(3, "TX"), "decline", "no", "dana", AFTER))
    head, decided = current_decisions(engine, config.cohort)
    teams = team_rows(decided)
    stale = offer_moves(teams, config, AFTER)  # computed by a run that is about to be overtaken
    promote(engine, config, AFTER)  # another run offers the seat first
    current = dict(zip(teams[Derived.APPLICANT], teams[Col.STATUS], strict=True))
    with pytest.raises(TransitionError, match="another run recorded a decision change"):
        record_actions(engine, config.cohort, stale, current, head.actions_seen)
    assert Counter(statuses(engine, config).values())[Status.OFFERED] == 1


def test_moves_heads_and_what_if_rows_are_named_after_their_columns():
    def names(record) -> list[str]:
        return [field.name for field in dataclasses.fields(record)]

    filled_in = {StoreCol.ID, StoreCol.COHORT, StoreCol.RECORDED_AT}  # by the store, when it records a move
    assert names(Move) == [column.name for column in actions.columns if column.name not in filled_in]
    assert names(SelectionHead) == [column.name for column in selections.columns]
    assert names(DecisionsHead) == [*names(SelectionHead), "actions_seen"]
    assert names(Freeze) == [column.name for column in freezes.columns]
    assert names(WhatIfRow) == list(WhatIfCol)


def test_a_promotion_and_its_notices_keep_their_moves_through_json(tmp_path, smtp, backend):
    config, _, engine = selected_setup(tmp_path, smtp)
    record_staff_action(engine, config, StaffRequest(key(3, "TX"), "decline", "no", "dana", AFTER))
    promotion = plan_promotion(engine, config, AFTER)
    assert [(m.action, m.respond_by is not None) for m in promotion.moves] == [(Action.OFFER, True)]
    assert Promotion.model_validate_json(promotion.model_dump_json()) == promotion
    plan = plan_notices(engine, config, RunKind.LIFECYCLE, AFTER, promotion.moves)
    assert NoticePlan.model_validate_json(plan.model_dump_json()).moves == plan.moves == promotion.moves
