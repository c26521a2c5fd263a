"""Runs that overlap, as real processes: `cohort-select` commands started at the same moment on one state store,
against a real SMTP server (aiosmtpd on 127.0.0.1) that takes 0.1–0.5 s over each message.

Each case ends with every notice received exactly once (counted by Message-ID at the server), nothing lost
(every notice the ledger holds is sent, or refused for a recorded reason), and seats given once.
`CONCURRENCY=path` writes what each case tried and received (the concurrent-runs table of tests/README.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from flows.cli import main
from schemas.columns import Col, Derived, Status
from schemas.config import load_config
from schemas.ledger import LedgerState
from schemas.replies import APPLICANT
from tasks.ledger import ledger
from tasks.store import action_log, frozen_selection_id, latest_selection, open_store
from tasks.teams import current_decisions, team_rows
from tests.support.configs import make_config, reply_form
from tests.support.moments import AFTER, AFTER_DEADLINE, LATER
from tests.support.paths import ROOT
from tests.support.review import review_cohort
from tests.support.rows import numbered_team
from tests.support.scenarios import free_a_seat, selected_and_sent
from tests.support.selection import record
from tests.support.smtp import SmtpServer

RESULTS: list[dict] = []
# The cases that race the store itself also run on PostgreSQL (tests/conftest.py `backend`), where two runs'
# transactions really overlap: every race of real processes here (two sends, a send and a promote, two promotes, a
# staff confirm and an expiry), runs opening a new store and filling its ledger at one instant, and two senders on
# one batch (the claims). The lifecycle's compare-and-set on both backends: tests/test_lifecycle.py.
BOTH_BACKENDS = pytest.mark.usefixtures("backend")


@pytest.fixture(scope="module", autouse=True)
def results_table():
    yield
    target = os.environ.get("CONCURRENCY")
    if target:
        Path(target).write_text(json.dumps(RESULTS, indent=1) + "\n")


@pytest.fixture
def slow_smtp():
    with SmtpServer() as server:
        server.handler.delay = (0.1, 0.5)
        yield server


def _env() -> dict[str, str]:
    """The test's Prefect server for the child processes, so none starts a server of its own."""
    from prefect.settings import get_current_settings

    return os.environ | {"PREFECT_API_URL": str(get_current_settings().api.url)}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", *args]


def _at_once(*commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Start every command before waiting for any."""
    env = _env()
    running = [
        subprocess.Popen(c, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    done = []
    for process in running:
        out, err = process.communicate(timeout=240)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


def _backend(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


def _check_once_and_nothing_lost(case: str, config, smtp: SmtpServer, runs: list[subprocess.CompletedProcess]):
    engine = open_store(config.database_url)
    rows = ledger(engine, config.cohort_id)
    received = Counter(m.message["Message-ID"] for m in smtp.received)
    duplicates = sum(n - 1 for n in received.values())
    live = rows[rows["state"] != LedgerState.SUPERSEDED]
    lost = live[(live["state"] != LedgerState.REFUSED) & ~live["message_id"].isin(received)]
    RESULTS.append(
        {
            "case": case,
            "backend": _backend(config.database_url),
            "runs": len(runs),
            "exit codes": [r.returncode for r in runs],
            "messages received": sum(received.values()),
            "distinct": len(received),
            "duplicates": duplicates,
            "lost": len(lost),
        }
    )
    assert duplicates == 0, f"{case}: {received.most_common(3)}"
    assert lost.empty, f"{case}: not sent: {lost[['applicant', 'kind', 'state', 'last_error']].to_dict('records')}"
    assert set(live["state"]) <= {LedgerState.SENT, LedgerState.REFUSED}
    assert all(m.message["Date"] for m in smtp.received)
    return engine, rows


@BOTH_BACKENDS
def test_two_sends_at_once_deliver_each_notice_once(prefect_server, tmp_path, slow_smtp):
    config, path = make_config(tmp_path, slow_smtp.port)
    assert main(["select", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "sel")]) == 0
    notify = ["notify", "--config", str(path), "--as-of", AFTER, "--send"]
    runs = _at_once(_cli(*notify, "--out", str(tmp_path / "a")), _cli(*notify, "--out", str(tmp_path / "b")))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-800:] for r in runs]
    engine, rows = _check_once_and_nothing_lost("two notify --send at once", config, slow_smtp, runs)
    assert len(slow_smtp.received) == (rows["state"] == LedgerState.SENT).sum() >= 45
    by_run = [int(r.stdout.split("Sent over SMTP by this run: ")[1].split()[0]) for r in runs]
    assert sum(by_run) == len(slow_smtp.received)  # each run says what it sent itself, not the ledger's total
    head, _ = latest_selection(engine, config.cohort_id)
    assert frozen_selection_id(engine, config.cohort_id) == head.id


@BOTH_BACKENDS
def test_a_send_and_a_promote_at_once(prefect_server, tmp_path, slow_smtp):
    config, path = selected_and_sent(tmp_path, slow_smtp)
    free_a_seat(path, config)
    before = len(slow_smtp.received)
    runs = _at_once(
        _cli("notify", "--config", str(path), "--as-of", LATER, "--send", "--out", str(tmp_path / "a")),
        _cli("promote", "--config", str(path), "--as-of", LATER, "--send", "--out", str(tmp_path / "b")),
    )
    # The promote sends the decline and the offer; a send planned before the offer was recorded sends nothing
    # (it says decisions changed) or runs first and sends the decline; either way each notice arrives once.
    assert runs[1].returncode == 0, runs[1].stderr[-800:]
    assert runs[0].returncode == 0 or "decisions changed after these notices were planned" in runs[0].stderr
    _engine, rows = _check_once_and_nothing_lost("notify --send and promote --send at once", config, slow_smtp, runs)
    assert Counter(rows.loc[rows["kind"].isin(["declined", "offer"]), "kind"]) == {"declined": 1, "offer": 1}
    assert len(slow_smtp.received) - before == 2


@BOTH_BACKENDS
def test_two_promotes_at_once_make_each_offer_once(prefect_server, tmp_path, slow_smtp):
    config, path = selected_and_sent(tmp_path, slow_smtp)
    free_a_seat(path, config)
    promote = ["promote", "--config", str(path), "--as-of", LATER, "--send"]
    runs = _at_once(_cli(*promote, "--out", str(tmp_path / "a")), _cli(*promote, "--out", str(tmp_path / "b")))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-800:] for r in runs]
    engine, rows = _check_once_and_nothing_lost("two promote --send at once", config, slow_smtp, runs)
    log = action_log(engine, config.cohort_id)
    assert (log["action"] == "offer").sum() == 1
    assert Counter(rows.loc[rows["kind"].isin(["declined", "offer"]), "kind"]) == {"declined": 1, "offer": 1}


@BOTH_BACKENDS
def test_a_staff_confirm_racing_an_expiry(prefect_server, tmp_path, slow_smtp):
    """The team replied in time and staff record it while the morning promote finds the offer past due: the one
    recorded first wins, and the other says why it did nothing; the seat is never given twice."""
    config, path = selected_and_sent(tmp_path, slow_smtp, waitlist={"offer_hours": 24})
    free_a_seat(path, config)
    assert main(["promote", "--config", str(path), "--as-of", LATER, "--send", "--out", str(tmp_path / "p")]) == 0
    engine = open_store(config.database_url)
    teams = team_rows(current_decisions(engine, config.cohort_id)[1])
    offered = teams.loc[teams[Col.STATUS] == Status.OFFERED, Derived.APPLICANT].iloc[0]
    past_due = "2021-06-10T10:00:00-04:00"
    runs = _at_once(
        _cli("confirm", "--config", str(path), "--team", offered, "--reason", "phoned", "--as-of", LATER),
        _cli("promote", "--config", str(path), "--as-of", past_due, "--send", "--out", str(tmp_path / "q")),
    )
    assert runs[1].returncode == 0, runs[1].stderr[-800:]
    log = action_log(engine, config.cohort_id)
    mine = log[log["applicant"] == offered]
    if runs[0].returncode == 0:  # the confirm was recorded first: no expiry, no second offer for that seat
        assert mine["action"].tolist() == ["offer", "confirm"]
        assert (log["action"] == "offer").sum() == 1
    else:  # the expiry was recorded first: the confirm is refused with the reason, and records nothing
        assert "is expired" in runs[0].stderr, runs[0].stderr[-800:]
        assert mine["action"].tolist() == ["offer", "expire"]
    teams = team_rows(current_decisions(engine, config.cohort_id)[1])
    held = teams[teams[Col.STATUS].isin([Status.SELECTED, Status.CONFIRMED, Status.OFFERED])]
    assert len(held) <= config.capacity
    assert held[Col.STATE].value_counts().max() <= config.max_per_state
    _check_once_and_nothing_lost("staff confirm and promote (expiry) at once", config, slow_smtp, runs)


@BOTH_BACKENDS
def test_without_the_lease_the_claim_alone_sends_each_notice_once(tmp_path, slow_smtp):
    """Two senders on one batch at the same moment, each on its own connections (as when a stalled holder's
    lease expired and another run took over): every notice is claimed by one of them and arrives once."""
    import threading

    from tasks.delivery import to_send
    from tasks.ledger import LedgerWriter, sync_ledger
    from tasks.notices import kinds_of, plan_notices
    from tasks.smtp import Retry, send_batch, smtp_settings

    config, _ = make_config(tmp_path, slow_smtp.port)
    teams = [numbered_team(i, state) for i, state in enumerate(["OH", "TX", "IL", "CA", "NY", "WA"], 1)]
    engine = record(config, teams)
    plan = plan_notices(engine, config, "decisions", AFTER_DEADLINE)
    sync_ledger(engine, config.cohort_id, plan.notices, kinds_of(plan.run))
    batch = to_send(engine, config.cohort_id, plan.notices, resend_unknown=False)

    def sender(owner: str) -> None:
        writer = LedgerWriter(engine, owner)
        try:
            send_batch(writer, batch, config, smtp_settings(config), retry=Retry(base_delay=0.01))
        finally:
            writer.close()

    threads = [threading.Thread(target=sender, args=(owner,)) for owner in ("run-a", "run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    rows = ledger(engine, config.cohort_id)
    received = Counter(m.message["Message-ID"] for m in slow_smtp.received)
    RESULTS.append(
        {
            "case": "two senders on one batch, no lease (the claim alone)",
            "backend": _backend(config.database_url),
            "runs": 2,
            "messages received": sum(received.values()),
            "distinct": len(received),
            "duplicates": sum(n - 1 for n in received.values()),
            "lost": int((rows["state"] != LedgerState.SENT).sum()),
            "claims by run": dict(Counter(rows["claimed_by"])),
        }
    )
    assert set(received.values()) == {1} and len(received) == len(batch) == 6
    assert set(rows["state"]) == {LedgerState.SENT}


def _together(count: int, work) -> list[BaseException]:
    """`work(i)` in `count` threads released at the same instant; the errors they raised."""
    import threading

    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@BOTH_BACKENDS
def test_runs_opening_a_new_store_and_filling_its_ledger_at_the_same_instant(tmp_path, backend):
    """The store's own writes raced, without the lease: four runs making the tables of a new store, then four
    runs adding the same planned notices to the ledger. Each write transaction holds the store's write lock, so
    none fails (no duplicate table, no duplicate notice, no IntegrityError) and the ledger holds each notice once."""
    from tasks.ledger import sync_ledger
    from tasks.notices import kinds_of, plan_notices

    if backend == "sqlite":  # a new file each time: its switch to WAL is where a new SQLite store's openings meet
        for attempt in range(60):
            url = f"sqlite:///{tmp_path / f'new-{attempt}.sqlite'}"
            assert _together(4, lambda _, u=url: open_store(u).dispose()) == []
    config, _ = make_config(tmp_path, 25)
    assert _together(4, lambda _: open_store(config.database_url).dispose()) == []
    teams = [numbered_team(i, state) for i, state in enumerate(["OH", "TX", "IL", "CA", "NY", "WA"], 1)]
    engine = record(config, teams)
    plan = plan_notices(engine, config, "decisions", AFTER_DEADLINE)
    many = [n.model_copy(update={"applicant": f"{n.applicant}-{i}"}) for i in range(50) for n in plan.notices]
    for round_ in range(3):
        batch = [n.model_copy(update={"version": f"{n.version}-{round_}"}) for n in many]
        engines = [open_store(config.database_url) for _ in range(4)]
        errors = _together(4, lambda i, b=batch, e=engines: sync_ledger(e[i], config.cohort_id, b, kinds_of(plan.run)))
        assert errors == [], [str(e) for e in errors]
        for other in engines:
            other.dispose()
    rows = ledger(engine, config.cohort_id)
    assert rows.groupby(["applicant", "kind", "version"]).size().max() == 1
    assert (rows["state"] == LedgerState.PENDING).sum() == len(many)  # each round's plan supersedes the last
    RESULTS.append(
        {"case": "four ledger syncs of one plan at once, three times", "backend": _backend(config.database_url)}
    )


def test_two_reviewer_sends_at_once_tell_and_remind_each_reviewer_once(prefect_server, tmp_path, slow_smtp):
    """The review round's notices race like the decision notices: two `review notify --send` at once tell each of
    the 8 reviewers once, then two `review remind --send` at once remind each once."""
    path = review_cohort(tmp_path, smtp_port=slow_smtp.port)
    assert main(["review", "assign", "--config", path]) == 0
    config = load_config(path)
    notify = ["review", "notify", "--config", path, "--as-of", AFTER, "--send"]
    runs = _at_once(_cli(*notify, "--out", str(tmp_path / "a")), _cli(*notify, "--out", str(tmp_path / "b")))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-800:] for r in runs]
    _check_once_and_nothing_lost("two review notify --send at once", config, slow_smtp, runs)
    assert len(slow_smtp.received) == 8

    remind = ["review", "remind", "--config", path, "--as-of", "2021-06-09 09:00", "--send"]
    runs = _at_once(_cli(*remind, "--out", str(tmp_path / "c")), _cli(*remind, "--out", str(tmp_path / "d")))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-800:] for r in runs]
    _check_once_and_nothing_lost("two review remind --send at once", config, slow_smtp, runs)
    reminded = [m.message["To"] for m in slow_smtp.received[8:]]
    assert sorted(reminded) == sorted({m.message["To"] for m in slow_smtp.received[:8]})


def test_two_reply_runs_at_once_apply_each_response_row_once(prefect_server, tmp_path, slow_smtp, monkeypatch):
    """Two `replies --send` at once on one reply sheet (a CSV export here, which both processes read): each valid
    row is recorded once as the team's action, and its notice and the offer it frees are each sent once."""
    monkeypatch.setenv("COHORT_REPLY_KEY", "a-test-reply-key-of-forty-characters-00")
    responses = tmp_path / "replies.csv"
    responses.write_text("Timestamp,Reply code,Your answer\n")
    replies = reply_form({"kind": "file", "path": str(responses)})
    config, path = selected_and_sent(tmp_path, slow_smtp, replies=replies)
    codes = []
    for received in slow_smtp.received:
        text = received.message.get_body(("plain",)).get_content()
        found = re.search(r"entry\.1111=([^&\s]+)&entry\.2222=Confirm", text)
        if found:
            codes.append(found.group(1))
    assert len(codes) == 20
    lines = [f"6/10/2021 10:0{i}:00,{code},{'Decline' if i == 0 else 'Confirm'}" for i, code in enumerate(codes[:3])]
    with responses.open("a") as sheet:
        sheet.write("\n".join(lines) + "\n")
    sent = len(slow_smtp.received)
    command = ["replies", "--config", str(path), "--as-of", "2021-06-12 09:00", "--send"]
    runs = _at_once(_cli(*command, "--out", str(tmp_path / "a")), _cli(*command, "--out", str(tmp_path / "b")))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-800:] for r in runs]
    _check_once_and_nothing_lost("two replies --send at once", config, slow_smtp, runs)
    log = action_log(open_store(config.database_url), config.cohort_id)
    own = log[log["actor"] == APPLICANT]
    assert sorted(own["action"]) == ["confirm", "confirm", "decline"] and own["origin"].is_unique
    kinds = Counter(m.message["Subject"].split(":")[0] for m in slow_smtp.received[sent:])
    assert sum(kinds.values()) == 4 and kinds["A seat is open for your team"] == 1, kinds
