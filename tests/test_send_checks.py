"""What a send checks before it asks or sends: SMTP reachable and logged in, the cohort's identity, a dry run
that records nothing; and how it ends when the server is down."""

from __future__ import annotations

import datetime as dt
import time

import yaml

from flows.cli import EXIT_STAFF_ERROR, main
from schemas.ledger import LedgerState
from tasks.delivery import deliver
from tasks.ledger import ledger
from tasks.notices import plan_notices
from tasks.smtp import smtp_settings
from tasks.store import action_log, approval_history, open_store
from tasks.teams import current_decisions, team_rows
from tests.support.configs import make_config
from tests.support.moments import AFTER, LATER
from tests.support.rows import numbered_team
from tests.support.scenarios import free_a_seat, selected_and_sent
from tests.support.selection import record
from tests.support.smtp import SmtpServer, free_port

AS_OF = dt.datetime.fromisoformat(AFTER)


def test_a_missing_smtp_password_fails_before_approval_is_asked(prefect_server, tmp_path, capfd, monkeypatch):
    """The shipped cohort file logs in as a user whose password comes from SMTP_PASSWORD: unset, the send stops
    before it pauses for approval, naming the variable; nothing is sent and no approval is recorded."""
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    config, path = make_config(tmp_path, 25)
    data = yaml.safe_load(path.read_text())
    data["email"]["smtp"] = {"host": "127.0.0.1", "port": free_port(), "security": "none"} | {
        "username": "esp-mentoring@example.org",
        "password": {"env": "SMTP_PASSWORD"},
    }
    path.write_text(yaml.safe_dump(data))
    assert main(["select", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "sel")]) == 0
    from flows.send_notices import send_notices

    state = send_notices(config_path=str(path), out_dir=str(tmp_path / "n"), send=True, as_of=AFTER, return_state=True)
    assert state.is_failed()
    assert "environment variable SMTP_PASSWORD is not set" in state.message
    engine = open_store(config.database_url)
    assert approval_history(engine, config.cohort_id).empty  # it never paused: nobody was asked
    assert ledger(engine, config.cohort_id).empty
    code = main(["notify", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "n"), "--send"])
    err = capfd.readouterr().err
    assert code == EXIT_STAFF_ERROR
    assert "SMTP_PASSWORD" in err and "Traceback" not in err


def test_an_unreachable_server_stops_the_send_within_30_seconds(tmp_path):
    config, _ = make_config(tmp_path, free_port())  # nothing listens there
    teams = [numbered_team(i, state) for i, state in enumerate(["OH", "TX", "IL", "CA", "NY"], start=1)]
    engine = record(config, teams)
    plan = plan_notices(engine, config, "decisions", AS_OF)
    started = time.monotonic()
    report = deliver(engine, config, plan, smtp_settings(config), base_delay=1.0)
    assert time.monotonic() - started < 30  # one notice tried with backoff (1 + 2 + 4 s), then the batch stops
    assert report.counts[LedgerState.SENT] == 0
    assert "could not be reached" in report.problems[0]
    assert "5 notices not sent" in report.problems[1]
    assert set(ledger(engine, config.cohort_id)["state"]) <= {LedgerState.PENDING, LedgerState.FAILED}


def test_promote_without_send_records_nothing_and_starts_no_clock(prefect_server, tmp_path, capfd):
    with SmtpServer() as smtp:
        config, path = selected_and_sent(tmp_path, smtp)
        free_a_seat(path, config)
        engine = open_store(config.database_url)
        before = len(action_log(engine, config.cohort_id))
        assert main(["promote", "--config", str(path), "--as-of", LATER, "--out", str(tmp_path / "dry")]) == 0
        out = capfd.readouterr().out
        assert "Dry run: nothing is recorded" in out and "Offered: 1" in out
        assert len(action_log(engine, config.cohort_id)) == before
        assert list((tmp_path / "dry" / "outbox").glob("*-offer.eml"))  # staff can read the offer first
        # A promote that fails (here: a moment before the deadline) records nothing either.
        early = "2021-06-01T09:00:00-04:00"
        assert main(["promote", "--config", str(path), "--as-of", early, "--send", "--out", str(tmp_path / "x")]) == 2
        assert len(action_log(engine, config.cohort_id)) == before
        # Sent days later, the offer's clock starts then, and no team is told of an offer it never had.
        days_later = "2021-06-12T09:00:00-04:00"
        promote = ["promote", "--config", str(path), "--as-of", days_later, "--send", "--out", str(tmp_path / "p")]
        assert main(promote) == 0
        log = action_log(engine, config.cohort_id)
        assert log["action"].tolist()[before:] == ["offer"]
        kinds = ledger(engine, config.cohort_id)["kind"].tolist()
        assert "offer_expired" not in kinds
        respond_by = team_rows(current_decisions(engine, config.cohort_id)[1])["respond_by"].dropna()
        assert respond_by.min() > dt.datetime.fromisoformat(days_later)


def test_a_promote_with_nothing_to_send_needs_no_smtp_secret(prefect_server, tmp_path, monkeypatch):
    with SmtpServer() as smtp:
        _config, path = selected_and_sent(tmp_path, smtp)
    data = yaml.safe_load(path.read_text())
    data["email"]["smtp"] |= {"username": "esp-mentoring@example.org", "password": {"env": "SMTP_PASSWORD"}}
    path.write_text(yaml.safe_dump(data))
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    assert main(["promote", "--config", str(path), "--as-of", LATER, "--send", "--out", str(tmp_path / "p")]) == 0


def test_renaming_the_cohort_after_the_notices_is_refused_unless_its_id_is_given(prefect_server, tmp_path, capfd):
    with SmtpServer() as smtp:
        config, path = selected_and_sent(tmp_path, smtp)
        sent = len(smtp.received)
        data = yaml.safe_load(path.read_text())
        data["cohort"] = "2021 (spring)"
        path.write_text(yaml.safe_dump(data))
        notify = ["notify", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "n"), "--send"]
        assert main(notify) == EXIT_STAFF_ERROR
        err = capfd.readouterr().err
        assert "add `id: 2021` to the cohort file" in err and "Traceback" not in err
        data["id"] = "2021"  # the explicit migration: the same call under its new name
        path.write_text(yaml.safe_dump(data))
        assert main(notify) == 0
        assert len(smtp.received) == sent  # nothing was sent again
        engine = open_store(config.database_url)
        assert set(ledger(engine, "2021")["state"]) <= {LedgerState.SENT, LedgerState.REFUSED}
        data["program"] = "ESP Peer Mentoring"  # a renamed program with the id kept: still the same ledger
        path.write_text(yaml.safe_dump(data))
        assert main(notify) == 0
        assert len(smtp.received) == sent
