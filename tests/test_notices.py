"""Notices end to end against a real SMTP server (aiosmtpd on 127.0.0.1) and a SQLite ledger."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
from collections import Counter

import pytest

from schemas.columns import Col
from schemas.ledger import LedgerState
from tasks.delivery import sync_and_send
from tasks.ledger import delivery_report, ledger, sync_ledger
from tasks.notices import DECISION_KINDS, NoticeError, decision_notices, interest_notices, read_interest_list
from tasks.outbox import write_outbox
from tasks.smtp import smtp_settings
from tasks.store import latest_selection
from tests.support import notice_sender
from tests.support.configs import make_config
from tests.support.rows import numbered_team
from tests.support.selection import record
from tests.support.smtp import SmtpServer
from tests.support.warm import warm_process

SENDER_MODULES = ["tests.support.notice_sender"]  # imported once by the forkserver, not by each killed sender

DOMAIN = "example.org"
PENDING, SENT, FAILED, SUPERSEDED, UNKNOWN = (
    LedgerState.PENDING,
    LedgerState.SENT,
    LedgerState.FAILED,
    LedgerState.SUPERSEDED,
    LedgerState.UNKNOWN,
)


def plan(engine, config):
    _, decided = latest_selection(engine, config.cohort)
    return decision_notices(decided, config, DOMAIN)


def send(engine, config, **kwargs):
    planned = plan(engine, config)
    sync_and_send(engine, config, planned, DECISION_KINDS, smtp_settings(config), base_delay=0.01, **kwargs)
    return planned


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def test_each_team_gets_one_notice_with_the_right_recipients_and_content(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port, capacity=2, max_per_state=1)
    rows = [
        numbered_team(1, "OH", Email_Address="helper1@local1.example.org"),
        numbered_team(2, "OH", Timestamp="6/2/2021 12:00:00"),
        numbered_team(3, "TX"),
        numbered_team(4, "Narnia"),
        numbered_team(5, "IL", Timestamp="6/7/2021 10:00:01"),
        numbered_team(3, "TX", Timestamp="5/1/2021 9:00:00"),  # an earlier submission of team 3: a duplicate
    ]
    engine = record(config, rows)
    send(engine, config)
    kinds = Counter(m.message["Subject"].split(" for ")[0].split(":")[0] for m in smtp.received)
    assert len(smtp.received) == 5
    by_to = {m.message["To"]: m for m in smtp.received}
    first = by_to["lead1@local1.example.org"]
    assert first.recipients == ["lead1@local1.example.org", "helper1@local1.example.org"]
    assert first.message["Cc"] == "helper1@local1.example.org"
    assert "Local 1 Education Association" in first.message.get_body(("plain",)).get_content()
    assert "waitlist, in position 1" in by_to["lead2@local2.example.org"].message.get_body(("plain",)).get_content()
    regret = by_to["lead4@local4.example.org"].message.get_body(("plain",)).get_content()
    assert "The state given in the application is not a US state or territory." in regret
    assert "Narnia" not in regret and "State is not a US state" not in regret  # never the staff reasons
    late = by_to["lead5@local5.example.org"].message.get_body(("plain",)).get_content()
    assert "after the deadline" in late
    assert by_to["lead1@local1.example.org"].message["Message-ID"].endswith(f"@{DOMAIN}>")
    assert sum(kinds.values()) == 5


def test_rerun_sends_nothing_twice(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port)
    engine = record(config, [numbered_team(1), numbered_team(2, "TX")])
    send(engine, config)
    send(engine, config)
    assert len(smtp.received) == 2
    assert set(ledger(engine, config.cohort)["state"]) == {SENT}


def test_html_escapes_applicant_text(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port)
    hostile = numbered_team(1, Local_Association_name="<script>alert(1)</script> Education Association")
    engine = record(config, [hostile])
    send(engine, config)
    html = smtp.received[0].message.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_temporary_failures_are_retried(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port)
    engine = record(config, [numbered_team(1), numbered_team(2, "TX"), numbered_team(3, "IL")])
    smtp.handler.rcpt_replies["lead1@local1.example.org"] = ["451 4.3.0 try again later", "452 4.3.1 full"]
    smtp.handler.rcpt_replies["lead2@local2.example.org"] = ["421 4.3.2 closing"]
    smtp.handler.drop_next_mail = 1
    send(engine, config)
    assert sorted(m.message["To"] for m in smtp.received) == [f"lead{i}@local{i}.example.org" for i in (1, 2, 3)]
    rows = ledger(engine, config.cohort).set_index("recipient")
    assert rows.loc["lead1@local1.example.org", "state"] == SENT
    assert rows.loc["lead1@local1.example.org", "attempts"] == 4  # dropped connection, 451, 452, then sent


@pytest.mark.parametrize("reply", ["550 5.1.1 no such user", "553 5.1.3 mailbox name not allowed"])
def test_permanent_failure_is_recorded_and_the_batch_goes_on(tmp_path, smtp, reply):
    config, _ = make_config(tmp_path, smtp.port)
    engine = record(config, [numbered_team(1), numbered_team(2, "TX"), numbered_team(3, "IL")])
    smtp.handler.rcpt_replies["lead2@local2.example.org"] = [reply, reply]
    send(engine, config)
    assert sorted(m.message["To"] for m in smtp.received) == ["lead1@local1.example.org", "lead3@local3.example.org"]
    assert smtp.handler.rcpt_seen.count("lead2@local2.example.org") == 1  # 5xx is never retried in a run
    report = delivery_report(engine, config.cohort, DECISION_KINDS, dry_run=False, outbox=None)
    assert report.counts[FAILED] == 1
    code, words = reply.split(" ", 1)
    assert f"{code} for lead2@local2.example.org: {words}" in report.failed[0]


def test_changed_decision_supersedes_the_unsent_notice(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port, capacity=1)
    engine = record(config, [numbered_team(1), numbered_team(2, "TX", Timestamp="6/2/2021 12:00:00")])
    sync_ledger(engine, config.cohort, plan(engine, config), DECISION_KINDS)
    assert set(ledger(engine, config.cohort)["state"]) == {PENDING}
    bigger, _ = make_config(tmp_path, smtp.port, capacity=2)
    record(bigger, [numbered_team(1), numbered_team(2, "TX", Timestamp="6/2/2021 12:00:00")])
    send(engine, bigger)
    states = ledger(engine, bigger.cohort)
    assert (states["state"] == SUPERSEDED).sum() == 1
    superseded = states[states["state"] == SUPERSEDED].iloc[0]
    assert superseded["kind"] == "waitlisted"
    assert [m.message["Subject"].startswith("Your team is selected") for m in smtp.received] == [True, True]


def test_header_injection_never_reaches_the_wire(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port)
    engine = record(config, [numbered_team(1), numbered_team(2, "TX")])
    _, decided = latest_selection(engine, config.cohort)
    decided.loc[decided[Col.SOURCE_ROW] == 3, Col.LEAD_EMAIL] = "lead2@local2.example.org\r\nBcc: evil@attacker.example"
    decided.loc[decided[Col.SOURCE_ROW] == 2, Col.LOCAL_NAME] = "Local\r\nBcc: evil@attacker.example"
    planned = decision_notices(decided, config, DOMAIN)
    sync_and_send(engine, config, planned, DECISION_KINDS, smtp_settings(config), base_delay=0.01)
    assert len(smtp.received) == 1  # the forged address is refused; the other notice goes out
    for received in smtp.received:
        assert all("evil" not in recipient for recipient in received.recipients)
        for name, value in received.message.items():
            assert "evil" not in str(value), f"{name} carries injected text"
    refused = ledger(engine, config.cohort)
    assert "recipient is not a valid address" in refused.loc[refused["state"] == "refused", "last_error"].iloc[0]


def test_dry_run_outbox_has_every_message_and_an_index(tmp_path):
    config, _ = make_config(tmp_path, 25)
    engine = record(config, [numbered_team(1), numbered_team(2, "TX"), numbered_team(3, "Narnia")])
    outbox = write_outbox(plan(engine, config), tmp_path / "out")
    assert sorted(p.name for p in outbox.glob("*.eml")) == [
        "0001-selected.eml",
        "0002-selected.eml",
        "0003-not_selected.eml",
    ]
    index = (outbox / "index.csv").read_text().splitlines()
    assert index[0] == "file,team,recipient,cc,kind,subject,message_to_team,refused_because"
    assert len(index) == 4
    assert ledger(engine, config.cohort).empty
    first = (outbox / "0001-selected.eml").read_bytes()
    assert first.startswith(b"Date: ") and b"\r\nMessage-ID: " in first  # RFC 5322: Date is required


def test_templates_fail_at_preview_when_a_value_is_missing(tmp_path):
    config, _ = make_config(tmp_path, 25)
    broken = config.model_copy(
        update={
            "notices": config.notices.model_copy(
                update={"subjects": config.notices.subjects | {"selected": "{{ nope }}"}}
            )
        }
    )
    engine = record(config, [numbered_team(1)])
    with pytest.raises(NoticeError, match="'nope' is undefined"):
        plan(engine, broken)


def test_interest_list_once_per_address_and_not_to_applicants(tmp_path):
    config, _ = make_config(tmp_path, 25)
    people = read_interest_list(config.interest_list)
    assert people["email"].tolist().count("terry.gomez@hamiltonea.example.org") == 1
    made = interest_notices(people, {"dana.whitfield@troyea.example.org"}, config, DOMAIN)
    recipients = [n.to for n in made]
    assert "dana.whitfield@troyea.example.org" not in recipients
    assert sorted(recipients) == sorted(set(recipients))
    assert all(n.kind == "interest" and not n.refusal for n in made)


@pytest.mark.parametrize("window", ["data", "mail"])
def test_killed_sender_never_duplicates_and_loses_nothing_silently(tmp_path, window):
    """SIGKILL the sender after the k-th message reaches the server (or at its k-th MAIL), re-run, for every k."""
    teams = [numbered_team(i, state) for i, state in enumerate(["OH", "TX", "IL", "CA", "NY"], start=1)]
    for k in range(1, len(teams) + 1):
        with SmtpServer() as smtp:
            base = tmp_path / f"{window}-{k}"
            base.mkdir()
            config, path = make_config(base, smtp.port)
            engine = record(config, teams)
            kill_at = (smtp.handler, "kill_pid_at_data" if window == "data" else "kill_pid_at_mail")
            process = warm_process(notice_sender.main, str(path), preload=SENDER_MODULES)
            setattr(*kill_at, (process.pid, k))
            process.join(timeout=60)
            assert process.exitcode == -signal.SIGKILL
            setattr(*kill_at, None)
            again = warm_process(notice_sender.main, str(path), preload=SENDER_MODULES)
            again.join(timeout=60)
            assert again.exitcode == 0
            received = Counter(m.message["To"] for m in smtp.received)
            states = ledger(engine, config.cohort).set_index("recipient")["state"]
            assert max(received.values()) == 1, f"k={k}: a notice arrived twice"
            unknown = states[states == UNKNOWN].index.tolist()
            assert len(unknown) <= 1
            for recipient in states.index:
                assert received[recipient] == 1 or recipient in unknown, f"k={k}: {recipient} lost"
            if window == "mail":
                assert not unknown, "a kill before the handover is never ambiguous"
            assert set(states) <= {SENT, UNKNOWN}


def test_unknown_is_resent_only_when_asked_with_the_same_message_id(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port)
    engine = record(config, [numbered_team(1)])
    planned = plan(engine, config)
    sync_ledger(engine, config.cohort, planned, DECISION_KINDS)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE notices SET state = 'sending'")
    send(engine, config)
    assert smtp.received == []
    assert set(ledger(engine, config.cohort)["state"]) == {UNKNOWN}
    send(engine, config, resend_unknown=True)
    assert [m.message["Message-ID"] for m in smtp.received] == [planned[0].message_id]
    assert set(ledger(engine, config.cohort)["state"]) == {SENT}


def _latest_send():
    """The latest send-notices run of the session's Prefect server, and its artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["send-notices"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    return run, found


def test_cli_notify_dry_run_then_send(prefect_server, tmp_path, smtp, capfd):
    from flows.cli import EXIT_NOTICES_UNFINISHED, main

    config, path = make_config(tmp_path, smtp.port)
    after = "2021-06-08T09:00:00-04:00"
    assert main(["select", "--config", str(path), "--as-of", after, "--out", str(tmp_path / "sel")]) == 0
    assert main(["notify", "--config", str(path), "--as-of", after, "--out", str(tmp_path / "n")]) == 0
    assert smtp.received == []
    assert (tmp_path / "n" / "outbox" / "index.csv").is_file()
    dry, artifacts = _latest_send()
    table = json.loads(next(a.data for a in artifacts if a.key == "notices-for-approval"))
    would = [row for row in table if not row["refused_because"]]
    assert dry.name.endswith(f": dry run: {len(would)} would send")
    assert dry.state.message.startswith(f"dry run: {len(would)} would send: ") and "; refused: 1" in dry.state.message
    assert table[0]["recipient"] == "j***@" and "not a valid address: 'j***@'" in table[0]["refused_because"]
    assert all(re.fullmatch(r".\*\*\*@[a-z0-9.-]+", row["recipient"]) for row in would)
    code = main(["notify", "--config", str(path), "--as-of", after, "--out", str(tmp_path / "n"), "--send"])
    printed = capfd.readouterr()
    assert code == 0, printed.err
    sent_once = Counter(m.message["To"] for m in smtp.received)
    assert max(sent_once.values()) == 1
    assert len(sent_once) >= 45
    sent, _ = _latest_send()
    assert len(sent_once) == len(would)
    assert sent.name.endswith(f": sent {len(would)}") and sent.state.message.startswith(f"sent {len(would)}: ")
    late = main(["notify", "--config", str(path), "--as-of", "2021-06-22T09:00:00-04:00", "--out", str(tmp_path / "n")])
    assert late == EXIT_NOTICES_UNFINISHED  # the refused 'jane@' notice was never sent
    assert "the notification date June 21 2021 has passed" in capfd.readouterr().err
    early = main(
        ["notify", "--config", str(path), "--as-of", "2021-06-07T09:00:00-04:00", "--out", str(tmp_path / "n")]
    )
    assert early == 2
    assert "cannot go out before the deadline" in capfd.readouterr().err
    assert dt.date(2021, 6, 21) == config.notify_by


def test_interest_notices_are_sent_once_per_address(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port)
    engine = record(config, [numbered_team(1)])
    _, _decided = latest_selection(engine, config.cohort)
    people = read_interest_list(config.interest_list)
    for _ in range(2):
        planned = interest_notices(people, {"lead1@local1.example.org"}, config, DOMAIN)
        sync_and_send(engine, config, planned, {"interest"}, smtp_settings(config), base_delay=0.01)
    received = Counter(m.message["To"] for m in smtp.received)
    assert set(received.values()) == {1}
    assert len(received) == people["email"].nunique()


def test_an_unusable_submitter_address_does_not_hold_back_the_leads_notice(tmp_path, smtp):
    config, _ = make_config(tmp_path, smtp.port)
    engine = record(config, [numbered_team(1, Email_Address="not-an-address@")])
    planned = send(engine, config)
    assert [(n.to, n.cc, n.refusal) for n in planned] == [("lead1@local1.example.org", "", "")]
    assert [m.recipients for m in smtp.received] == [["lead1@local1.example.org"]]
    body = smtp.received[0].message.get_body(("plain",)).get_content()
    assert "The email address of the person who submitted the application is not a valid email address." in body
    assert "not-an-address@" not in body  # the answer itself is never quoted to the applicant


def test_a_cc_refused_at_rcpt_never_blocks_the_leads_notice(tmp_path, smtp):
    """550 for the submitter's address: the lead's notice goes without it (and without its Cc header), and the
    refusal is recorded and reported by team; a refused lead is reported by team."""
    config, _ = make_config(tmp_path, smtp.port)
    rows = [numbered_team(1, Email_Address="helper1@local1.example.org"), numbered_team(2, "TX")]
    engine = record(config, rows)
    smtp.handler.rcpt_replies["helper1@local1.example.org"] = ["550 5.1.1 no such user"] * 4
    smtp.handler.rcpt_replies["lead2@local2.example.org"] = ["550 5.1.1 no such user"] * 4
    for _ in range(2):  # the retry of a run changes nothing: the lead got it once, the cc never
        send(engine, config)
    assert [m.recipients for m in smtp.received] == [["lead1@local1.example.org"]]
    assert smtp.received[0].message["Cc"] is None
    report = delivery_report(engine, config.cohort, DECISION_KINDS, dry_run=False, outbox=None)
    assert report.counts[SENT] == 1
    refused_cc = "OH:local 1 education association (selected): cc helper1@local1.example.org: 550 5.1.1 no such user"
    assert report.cc_refused == [refused_cc]
    assert report.failed[0].startswith("TX:local 2 education association lead2@local2.example.org (selected)")
