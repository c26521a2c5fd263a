"""Retention: `retention:` in the cohort file and `cohort-select purge`. After a real selection, send, decline,
promotion and confirmation (the bundled example, through the command line), the purge leaves no email, name, phone
number or free-text answer of the input in any text column of any table of the store, nor in any file of the output
folders, keeps counts, statuses and the audit (teams pseudonymous, consistently), refuses while the period runs,
an offer is open or another run holds the lease, finishes after a crash and is idempotent. On both backends."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasks.retention
from examples.generate import HEADERS
from flows.cli import main
from schemas.backup import NOTICE_RECORD_FILE, NoticeRecordCol
from schemas.columns import AuditCol, Col, Derived, Status
from schemas.config import ConfigError, RetentionConfig, load_config
from schemas.ledger import ApprovalOutcome, RunKind
from schemas.lifecycle import Action, StaffRequest
from schemas.store import StoreCol
from tasks.audit import audit_trail, write_audit
from tasks.backup import LostStoreError, check_notice_record, write_notice_record
from tasks.decisions import decisions_frame, summarize_selection, write_csv, write_decisions
from tasks.dedupe import name_key
from tasks.delivery import deliver
from tasks.identity import open_cohort_store
from tasks.lease import Lease
from tasks.ledger import ledger
from tasks.notices import plan_notices
from tasks.outbox import write_outbox
from tasks.pipeline import PipelineInputs, run_pipeline
from tasks.promotion import plan_promotion, promote
from tasks.report import write_report
from tasks.retention import (
    Pseudonyms,
    PurgedError,
    PurgeRequest,
    RetentionError,
    add_months,
    period_refusal,
    purge,
    purge_moment,
    purged_csv,
)
from tasks.smtp import smtp_settings
from tasks.sources import FileSource, values_to_frame
from tasks.staff_actions import record_staff_action
from tasks.store import approval_history, metadata, open_store, record_approval, record_selection
from tasks.teams import current_decisions, team_rows
from tests.support.configs import make_config
from tests.support.paths import EXAMPLE_PATH, ROOT
from tests.support.rows import numbered_team, row
from tests.support.selection import run
from tests.support.smtp import SmtpServer

PURGE_AT = "2023-06-09T09:00:00-04:00"  # the bundled call's period (18 months after July 12, 2021) has passed
AFTER = dt.datetime(2021, 6, 8, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
LATER = AFTER + dt.timedelta(days=1)
# The form's answers that are a person's data or free text (the sheet's own titles).
PERSONAL_TITLES = [
    title
    for title in HEADERS
    if any(word in title for word in ("Email", "name", "phone", "Why", "affiliate", "Local Association"))
]


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def personal_values(rows: list[dict[str, str]], interest: Path | None = None) -> set[str]:
    """Every personal or free-text answer of the rows (and the interest list), with the name keys made of locals."""
    found = {row[title].strip() for row in rows for title in PERSONAL_TITLES}
    found |= {name_key(row["Local Association name"]) for row in rows}
    if interest is not None:
        with interest.open(encoding="utf-8") as handle:
            found |= {value.strip() for line in csv.DictReader(handle) for key, value in line.items() if key != "state"}
    return {_norm(value) for value in found if len(value.strip()) >= 4 and not value.strip().isdigit()}


def example_values() -> set[str]:
    with EXAMPLE_PATH.open(encoding="utf-8") as handle:
        return personal_values(list(csv.DictReader(handle)), ROOT / "examples" / "interest-list.csv")


def store_texts(engine: sa.Engine) -> list[str]:
    """Every text value of every column of every table of the store."""
    texts = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for record in conn.execute(sa.select(table)):
                texts += [_norm(value) for value in record if isinstance(value, str)]
    return texts


def file_texts(folder: Path) -> dict[Path, str]:
    return {
        path: _norm(path.read_bytes().decode("utf-8", errors="replace")) for path in folder.rglob("*") if path.is_file()
    }


def leaks(values: set[str], texts: dict[object, str]) -> dict[object, list[str]]:
    found = {where: sorted(v for v in values if v in text) for where, text in texts.items()}
    return {where: hits for where, hits in found.items() if hits}


def dump(engine: sa.Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(sa.select(t))), key=repr) for t in metadata.sorted_tables}


def files_of(folder: Path) -> dict[Path, bytes]:
    """Every file under the folder but the SQLite store's own (which reads and the lease change)."""
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.name.startswith("state.sqlite")}


def team_statuses(engine: sa.Engine, cohort: str) -> Counter:
    return Counter(team_rows(current_decisions(engine, cohort)[1])[Col.STATUS])


# ------------------------------------------------------------------------------------------------ config, period


def test_the_retention_block_defaults_validates_by_key_and_resolves_its_folders(tmp_path):
    assert RetentionConfig().months_after_course_start == 18 and RetentionConfig().folders == []
    _, path = make_config(tmp_path, 25, retention={"months_after_course_start": 6, "folders": ["out/decisions"]})
    assert load_config(path).retention.folders == [tmp_path / "out" / "decisions"]
    with pytest.raises(ConfigError, match=r"retention\.months_after_course_start: Input should be greater"):
        make_config(tmp_path, 25, retention={"months_after_course_start": 0})
    with pytest.raises(ConfigError, match=r"retention\.month: unknown key"):
        make_config(tmp_path, 25, retention={"month": 6})
    with pytest.raises(ConfigError, match=r"retention: the period runs from notices\.course_start"):
        make_config(tmp_path, 25, retention={"months_after_course_start": 6}, notices=None)
    assert load_config(ROOT / "cohorts" / "esp-2021.yaml").retention.folders[0] == ROOT / "out" / "demo"


def test_the_purge_day_is_the_course_start_plus_the_months_at_midnight_in_the_cohort_zone(tmp_path):
    assert add_months(dt.date(2021, 8, 31), 6) == dt.date(2022, 2, 28)
    assert add_months(dt.date(2023, 8, 31), 6) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2021, 7, 12), 18) == dt.date(2023, 1, 12)
    config, _ = make_config(tmp_path, 25)
    start = purge_moment(config)
    assert start == dt.datetime(2023, 1, 12, 5, 0, tzinfo=dt.UTC)  # midnight EST (no summer time in January)
    said = period_refusal(config, start - dt.timedelta(seconds=1))
    assert said == (
        "the retention period of cohort 2021 runs until January 12, 2023 (18 months after the course start on "
        "July 12, 2021): its applicant data can be purged from that day on, and nothing was removed"
    )
    assert period_refusal(config, start) == ""
    summer, _ = make_config(tmp_path, 25, retention={"months_after_course_start": 12})
    assert purge_moment(summer) == dt.datetime(2022, 7, 12, 4, 0, tzinfo=dt.UTC)  # midnight EDT


def test_pseudonyms_are_stable_keyed_and_keep_the_state_and_row_keys():
    one, other = Pseudonyms(b"k1"), Pseudonyms(b"k2")
    key = "NY:troy education association"
    assert one.of(key) == one.of(key) != other.of(key)
    assert one.of(key).startswith("NY:team-") and "troy" not in one.of(key)
    assert one.of(one.of(key)) == one.of(key)  # a purged value stays as it is
    assert one.of("row:12") == "row:12" and one.of("NY:") == "NY:" and one.of("??:x").startswith("??:team-")
    assert one.of("lee.park@dovercea.example.org").startswith("person-")
    assert Pseudonyms(None).of(key) == "NY:" and Pseudonyms(None).of("a@b.example.org") == ""


# ------------------------------------------------------------------------------------------------ the whole purge


def _write_outputs(config, path: Path, decided: pd.DataFrame, out: Path) -> None:
    """decisions.csv, summary.json, report.html and intake.csv, as the select and intake flows write them."""
    frame = decisions_frame(decided, config, provisional=False)
    summary = summarize_selection(decided, config, path, "in", provisional=False)
    write_decisions(frame, summary, out)
    write_report(frame, summary, config, out)
    write_csv(decided.drop(columns=[Derived.REASON_CODES]), out / "intake.csv")


def _lived_cohort(tmp_path: Path, smtp: SmtpServer):
    """The bundled example as staff live it, step by step as the flows run them: selected and written out, its
    decision notices sent (outbox too), a decline, the promotion's offer sent, its confirmation, the interest
    list's dry run and an audit export, all into the purge's folders."""
    config, path = make_config(tmp_path, smtp.port, retention={"folders": ["sel", "n", "interest", "audit"]})
    engine = open_cohort_store(config)
    decided = run_pipeline(
        values_to_frame(FileSource(EXAMPLE_PATH).read_values(), config.columns), PipelineInputs(config)
    )
    record_selection(engine, config.cohort_id, decided, "in", "cfg", provisional=False)
    _write_outputs(config, path, decided, tmp_path / "sel")
    plan = plan_notices(engine, config, RunKind.DECISIONS, AFTER)
    write_outbox(plan.notices, tmp_path / "n")
    settings = smtp_settings(config)
    deliver(engine, config, plan, settings, base_delay=0.01)
    teams = team_rows(current_decisions(engine, config.cohort_id)[1])
    leaving = teams.loc[teams[Col.STATUS] == Status.SELECTED, Derived.APPLICANT].iloc[0]
    record_staff_action(engine, config, StaffRequest(leaving, Action.DECLINE, "Dana Whitfield called", "Pat", LATER))
    promotion = plan_promotion(engine, config, LATER)
    deliver(engine, config, plan_notices(engine, config, RunKind.LIFECYCLE, LATER, promotion.moves), settings)
    offered = promotion.moves[0].applicant
    record_staff_action(engine, config, StaffRequest(offered, Action.CONFIRM, "yes, by phone", "Pat", LATER))
    interest = plan_notices(engine, config, RunKind.INTEREST, LATER)
    write_outbox(interest.notices, tmp_path / "interest")
    deliver(engine, config, interest, settings)
    write_audit(engine, config.cohort_id, tmp_path / "audit" / "audit.csv")
    return config, path, engine


def test_purge_removes_every_personal_value_keeps_counts_and_audit_and_is_idempotent(backend, tmp_path, smtp, capfd):
    config, path, engine = _lived_cohort(tmp_path, smtp)
    values = example_values()
    assert leaks(values, dict(enumerate(store_texts(engine))))  # the scan finds what is there
    assert leaks(values, file_texts(tmp_path))
    before_store, before_files = dump(engine), files_of(tmp_path)
    statuses, trail = team_statuses(engine, config.cohort_id), audit_trail(engine, config.cohort_id)
    notices = ledger(engine, config.cohort_id)
    capfd.readouterr()

    assert main(["purge", "--config", str(path), "--as-of", PURGE_AT]) == 0  # the dry run changes nothing
    said = capfd.readouterr().out
    assert "Dry run: nothing was changed" in said and "60 decision rows" in said and "deleted 50 file(s)" in said
    assert dump(engine) == before_store and files_of(tmp_path) == before_files

    apply = ["purge", "--config", str(path), "--as-of", PURGE_AT, "--apply", "--by", "Pat Reyes"]
    assert main(apply) == 0
    assert "The purge removed" in capfd.readouterr().out
    assert leaks(values, dict(enumerate(store_texts(engine)))) == {}
    assert leaks(values, file_texts(tmp_path)) == {}  # the outputs and, on SQLite, the store's file itself
    assert not list(tmp_path.rglob("*.eml"))

    # Counts, statuses and the ledger's states as they were; the audit the same events, teams pseudonymous.
    assert team_statuses(engine, config.cohort_id) == statuses
    after = ledger(engine, config.cohort_id)
    columns = [StoreCol.KIND, StoreCol.LEDGER_STATE, StoreCol.ATTEMPTS, StoreCol.CREATED_AT]
    assert after[columns].equals(notices[columns])
    assert after[Derived.APPLICANT].str.startswith("person-").sum() == 3  # the interest list's, pseudonymous
    trail_after = audit_trail(engine, config.cohort_id)
    purged = trail_after[trail_after[AuditCol.EVENT] == Action.PURGE]
    assert purged[[AuditCol.ACTOR, AuditCol.STATUS]].to_numpy().tolist() == [["Pat Reyes", "retained → purged"]]
    assert "60 decision rows" in purged[AuditCol.DETAIL].iloc[0]
    kept = trail_after[trail_after[AuditCol.EVENT] != Action.PURGE].reset_index(drop=True)
    same = [AuditCol.AT, AuditCol.ACTOR, AuditCol.EVENT, AuditCol.STATUS]
    assert kept[same].equals(trail[same])
    pairs = set(zip(trail[AuditCol.TEAM], kept[AuditCol.TEAM], strict=True))
    assert len({a for a, _ in pairs}) == len({b for _, b in pairs}) == len(pairs)  # one pseudonym per team
    rewritten = pd.read_csv(tmp_path / "sel" / "decisions.csv", dtype=str, keep_default_na=False)
    stored = team_rows(current_decisions(engine, config.cohort_id)[1])[Derived.TEAM_KEY]
    assert set(stored) <= set(rewritten[Derived.TEAM_KEY])  # the files and the store join on the same keys
    assert (tmp_path / "sel" / "summary.json").read_bytes() == before_files[tmp_path / "sel" / "summary.json"]

    # Idempotent: nothing more to remove, nothing recorded twice.
    store_once, files_once = dump(engine), files_of(tmp_path)
    assert main(apply) == 0
    assert "nothing left to remove" in capfd.readouterr().out
    assert dump(engine) == store_once and files_of(tmp_path) == files_once
    assert len(smtp.received) == 55  # 50 decisions, the decline, the offer, 3 of the interest list; none after


# ------------------------------------------------------------------------------------------------ a small cohort


def _small_cohort(tmp_path: Path, smtp: SmtpServer, **changes):
    """Five teams (two seats), selected, recorded, written out (decisions, report, outbox) and sent."""
    limits = {"capacity": 2, "max_per_state": 1, "retention": {"folders": ["out"]}}
    config, path = make_config(tmp_path, smtp.port, **limits, **changes)
    states = ("OH", "TX", "IL", "CA", "NY")
    rows = [numbered_team(i, state, Team_lead_phone=f"(555) 010-{i:04d}") for i, state in enumerate(states, 1)]
    decided = run(config, *rows)
    engine = open_cohort_store(config)
    record_selection(engine, config.cohort_id, decided, "in", "cfg", provisional=False)
    out = tmp_path / "out"
    _write_outputs(config, path, decided, out)
    plan = plan_notices(engine, config, "decisions", AFTER)
    write_outbox(plan.notices, out)
    deliver(engine, config, plan, smtp_settings(config), base_delay=0.01)
    values = personal_values([dict(zip(HEADERS, r, strict=True)) for r in rows])
    return config, path, engine, values


def _purge(path: Path, *more: str) -> int:
    return main(["purge", "--config", str(path), "--as-of", PURGE_AT, *more])


def test_each_refusal_changes_nothing(backend, tmp_path, smtp, capfd):
    config, path, engine, _ = _small_cohort(tmp_path, smtp)
    before = (dump(engine), files_of(tmp_path))
    assert main(["purge", "--config", str(path), "--as-of", "2023-01-11T23:59:59-05:00", "--apply"]) == 2
    assert "runs until January 12, 2023" in capfd.readouterr().err
    assert (dump(engine), files_of(tmp_path)) == before

    leaving = team_rows(current_decisions(engine, config.cohort_id)[1])
    leaving = leaving.loc[leaving[Col.STATUS] == Status.SELECTED, Derived.APPLICANT].iloc[0]
    record_staff_action(engine, config, StaffRequest(leaving, Action.DECLINE, "cannot attend", "Pat", AFTER))
    promote(engine, config, AFTER)  # the freed seat offered: an offer waits for its answer
    before = (dump(engine), files_of(tmp_path))
    assert _purge(path, "--apply") == 2
    assert "1 team(s) hold an offer not yet answered or expired (" in capfd.readouterr().err
    assert _purge(path) == 0  # the dry run says so too
    assert "REFUSED: 1 team(s) hold an offer not yet answered or expired" in capfd.readouterr().out
    assert (dump(engine), files_of(tmp_path)) == before

    promote(engine, config, dt.datetime(2021, 7, 13, tzinfo=dt.UTC))  # no answer by the course start: expired
    other = Lease(engine, config.cohort_id, "send-notices (another run)", expire_seconds=30)
    assert other.try_take() is None  # another run's lease, as a send on another machine holds it
    assert _purge(path, "--apply") == 2
    assert "another run holds cohort 2021's lease" in capfd.readouterr().err
    assert _purge(path) == 0
    assert "REFUSED: another run holds cohort 2021's lease" in capfd.readouterr().out
    other.release()
    assert (dump(engine)["decisions"], files_of(tmp_path)) == (before[0]["decisions"], before[1])
    assert _purge(path, "--apply") == 0


def test_a_send_planned_before_the_purge_and_approved_after_it_sends_nothing(backend, tmp_path, smtp):
    config, path, engine, _ = _small_cohort(tmp_path, smtp)
    plan = plan_notices(engine, config, "decisions", AFTER)  # as a send paused for approval holds it
    received = len(smtp.received)
    assert _purge(path, "--apply") == 0
    with pytest.raises(PurgedError, match="purged on June 9, 2023 under retention; nothing can be sent"):
        deliver(engine, config, plan, smtp_settings(config), base_delay=0.01)
    assert len(smtp.received) == received


def test_after_the_purge_reading_steps_work_and_steps_needing_applicant_data_refuse(
    backend, prefect_server, tmp_path, smtp, capfd
):
    _, path, _, _ = _small_cohort(tmp_path, smtp)
    assert _purge(path, "--apply") == 0
    assert main(["audit", "--config", str(path), "--out", str(tmp_path / "audit.csv")]) == 0
    capfd.readouterr()
    refused = {
        "nothing can be sent": ["notify", "--config", str(path), "--out", str(tmp_path / "n2"), "--send"],
        "nothing can be promoted or sent": ["promote", "--config", str(path), "--out", str(tmp_path / "p2")],
        "the selection cannot be run again": ["select", "--config", str(path), "--out", str(tmp_path / "s2")],
        "no decision can change": ["withdraw", "--config", str(path), "--team", "row:2", "--reason", "x"],
    }
    for words, command in refused.items():
        assert main([*command, "--as-of", PURGE_AT]) == 2
        err = capfd.readouterr().err
        assert f"this call's applicant data was purged on June 9, 2023 under retention; {words}" in err
    assert not (tmp_path / "s2" / "decisions.csv").exists() and not (tmp_path / "n2" / "outbox").exists()


KILLER = """
import os, signal, sys
import tasks.retention
from flows.cli import main
tasks.retention.purge_store = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
main(["purge", "--config", sys.argv[1], "--as-of", sys.argv[2], "--apply"])
"""


def test_a_purge_killed_between_the_files_and_the_store_is_finished_by_the_next_run(backend, tmp_path, smtp, capfd):
    config, path, engine, values = _small_cohort(tmp_path, smtp, lease={"wait_seconds": 0, "expire_seconds": 2})
    before = dump(engine)
    killed = subprocess.run([sys.executable, "-c", KILLER, str(path), PURGE_AT], cwd=ROOT, env=os.environ.copy())
    assert killed.returncode == -9
    assert leaks(values, file_texts(tmp_path / "out")) == {}  # the files were done
    assert dump(engine)["decisions"] == before["decisions"]  # the store untouched (its lease row is the dead run's)
    assert leaks(values, dict(enumerate(store_texts(engine))))
    assert _purge(path, "--apply") == 2  # at once: the dead run's lease has not expired yet
    assert "another run holds cohort 2021's lease" in capfd.readouterr().err
    time.sleep(2.1)
    assert _purge(path, "--apply") == 0
    assert leaks(values, dict(enumerate(store_texts(engine)))) == {}
    stored = set(team_rows(current_decisions(engine, config.cohort_id)[1])[Derived.TEAM_KEY])
    written = set(pd.read_csv(tmp_path / "out" / "decisions.csv", dtype=str)[Derived.TEAM_KEY])
    assert stored == written  # the file rewritten by the killed run carries the store's pseudonyms


def test_a_fault_inside_the_store_transaction_leaves_the_store_whole(backend, tmp_path, smtp, monkeypatch):
    config, _, engine, values = _small_cohort(tmp_path, smtp)
    before = dump(engine)

    def fail(*args):
        raise RuntimeError("the fault")  # after every row is updated, before the record and the commit

    monkeypatch.setattr(tasks.retention, "_record_text", fail)
    with pytest.raises(RuntimeError):
        purge(engine, config, PurgeRequest(dt.datetime.fromisoformat(PURGE_AT), "Pat", apply=True))
    assert dump(engine) == before
    monkeypatch.undo()
    purge(engine, config, PurgeRequest(dt.datetime.fromisoformat(PURGE_AT), "Pat", apply=True))
    assert leaks(values, dict(enumerate(store_texts(engine)))) == {}
    assert leaks(values, file_texts(tmp_path / "out")) == {}


# ------------------------------------------------------------------------------------------------ generated rosters

_LETTERS = "abcdefghijklmnopqrstuvwxyzéøßñ"
names = st.text(alphabet=_LETTERS + " '-", min_size=3, max_size=24).map(lambda s: "Zø" + s.strip() + "ß")
phones = st.from_regex(r"\(\d{3}\) \d{3}-\d{4}", fullmatch=True)


@st.composite
def rosters(draw):
    """Two to six teams with drawn names, addresses, phone numbers and answers (some of them duplicates or invalid)."""
    teams = []
    for i in range(draw(st.integers(min_value=2, max_value=6))):
        lead, local, why = draw(names), draw(names), draw(names)
        email = draw(st.sampled_from([f"{lead.replace(' ', '.')}@x{i}.example.org", "not an address " + lead]))
        teams.append(
            row(
                Local_Association_name=local + " Education Association",
                State=draw(st.sampled_from(["Ohio", "TX", "New York", "Narnia"])),
                Team_lead_name=lead,
                Team_lead_email=email,
                Email_Address=f"{draw(names).replace(' ', '_')}@y{i}.example.org",
                Team_lead_phone=draw(phones),
                Team_member_2_name=draw(names),
                Team_member_2_email=f"{draw(names).replace(' ', '_')}@z{i}.example.org",
                Why_does_your_local_want_to_build_an_ESP_mentoring_program=why,
                Timestamp=f"6/{1 + i % 5}/2021 12:00:00",
            )
        )
    return teams


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(teams=rosters())
def test_no_personal_value_of_a_generated_roster_survives_the_purge(tmp_path_factory, teams):
    tmp_path = tmp_path_factory.mktemp("roster")
    config, path = make_config(tmp_path, 25, retention={"folders": ["out"]})
    decided = run(config, *teams)
    engine = open_store(config.database_url)
    record_selection(engine, config.cohort_id, decided, "in", "cfg", provisional=False)
    out = tmp_path / "out"
    _write_outputs(config, path, decided, out)
    values = personal_values([dict(zip(HEADERS, r, strict=True)) for r in teams])
    phones = {_norm(r[HEADERS.index("Team lead phone")]) for r in teams}
    values = {v for v in values if any(ch in v for ch in "øß")} | phones  # what was drawn (not the fixed row)
    assert leaks(values, file_texts(out))
    purge(engine, config, PurgeRequest(dt.datetime.fromisoformat(PURGE_AT), "Pat", apply=True))
    assert leaks(values, dict(enumerate(store_texts(engine)))) == {}
    assert leaks(values, file_texts(tmp_path)) == {}


def test_a_csv_that_is_not_the_pipelines_is_left_alone():
    assert purged_csv("name,notes\nDana,call back\n", Pseudonyms(b"k")) is None
    purged = purged_csv("source_row,status,lead_email,points_x\n2,selected,a@b.example.org,1.5\n", Pseudonyms(b"k"))
    assert purged == "source_row,status,lead_email,points_x\n2,selected,,1.5\n"


def test_other_files_are_named_and_left_alone_leftovers_deleted_and_staff_notes_removed(tmp_path):
    config, _ = make_config(tmp_path, 25, retention={"folders": ["out", "missing"]})
    engine = open_cohort_store(config)
    record_selection(engine, config.cohort_id, run(config, numbered_team(1)), "in", "cfg", provisional=False)
    record_approval(engine, config.cohort_id, "decisions", "run-1", ApprovalOutcome.REJECTED, "Lead 1 asked to wait")
    record_approval(engine, config.cohort_id, "decisions", "run-2", ApprovalOutcome.TIMED_OUT, "no answer within 60 s")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("call lead1@local1.example.org back\n")
    (out / "photo.bin").write_bytes(b"\0\0lead1@local1.example.org")
    (out / ".decisions.csv.partial").write_text("source_row,lead_email\n2,lead1@local1.example.org\n")
    (out / "report.html").write_text("<p>Lead 1</p>")  # no decisions.csv or summary.json beside it to draw it from
    (out / "broken.csv").write_text('source_row,lead_email\n"2,lead1@local1.example.org\n')
    report = purge(engine, config, PurgeRequest(dt.datetime.fromisoformat(PURGE_AT), "Pat", apply=True))
    folder, missing = report.folders
    assert folder.untouched == ["broken.csv", "notes.txt"] and folder.deleted == 2 and not missing.found
    assert sorted(p.name for p in out.iterdir()) == ["broken.csv", "notes.txt", "photo.bin"]
    assert "left alone, not written by cohort-select but holding applicant data: broken.csv, notes.txt" in (
        report.as_text()
    )
    notes = {row.flow_run_id: row.note for row in approval_history(engine, config.cohort_id).itertuples()}
    assert notes == {"run-1": "(removed under retention)", "run-2": "no answer within 60 s"}
    with pytest.raises(RetentionError, match="has no notices section"):
        purge(engine, config.model_copy(update={"notices": None}), PurgeRequest(AFTER, "Pat"))


def test_a_store_with_no_selection_has_nothing_to_make_pseudonyms_from(tmp_path):
    config, _ = make_config(tmp_path, 25)
    report = purge(open_cohort_store(config), config, PurgeRequest(dt.datetime.fromisoformat(PURGE_AT), "Pat"))
    assert report.dry_run and report.teams == {} and set(report.store.values()) == {0}


def test_a_purge_leaves_another_cohorts_outputs_and_notice_record_rows_in_a_shared_folder(
    backend, tmp_path, smtp, capfd
):
    """A cohort file copied with its retention.folders: 2022 writes into 2021's output folder (and its shared
    notices-sent.csv); 2021's purge rewrites only 2021's rows, names the folder, and 2022's lost-store check still
    refuses a store that does not know 2022's notices."""
    config, path, engine, _ = _small_cohort(tmp_path, smtp)
    out = tmp_path / "out"
    assert write_notice_record(engine, config, out) == ""
    (tmp_path / "b").mkdir()
    other, other_path = make_config(
        tmp_path / "b",
        smtp.port,
        cohort="2022",
        id="esp-2022",
        capacity=2,
        max_per_state=1,
        retention={"folders": [str(out)]},
    )
    decided = run(other, *[numbered_team(i, state) for i, state in enumerate(("WA", "OR", "MI"), 11)])
    other_engine = open_cohort_store(other)
    record_selection(other_engine, other.cohort_id, decided, "in", "cfg", provisional=False)
    _write_outputs(other, other_path, decided, out)
    plan = plan_notices(other_engine, other, "decisions", AFTER)
    write_outbox(plan.notices, out)
    deliver(other_engine, other, plan, smtp_settings(other), base_delay=0.01)
    assert write_notice_record(other_engine, other, out) == ""
    record = out / "outbox" / NOTICE_RECORD_FILE
    lines = record.read_text(encoding="utf-8").splitlines()
    theirs = [line for line in lines if line.startswith("esp-2022,")]
    assert len(theirs) == 3 and len([line for line in lines if line.startswith("2021,")]) == 5
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p != record}

    assert _purge(path, "--apply") == 0
    said = capfd.readouterr().out
    assert "its outputs are cohort 2022's (its summary.json), so they were left as they are" in said
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p != record} == before
    after = record.read_text(encoding="utf-8").splitlines()
    assert [line for line in after if line.startswith("esp-2022,")] == theirs  # line for line
    mine = list(csv.DictReader(line for line in after if not line.startswith("esp-2022,")))
    assert len(mine) == 5 and all(":team-" in r[NoticeRecordCol.TEAM] and not r[NoticeRecordCol.NOTICE] for r in mine)
    lost = open_store(f"sqlite:///{tmp_path / 'lost.sqlite'}")
    with pytest.raises(LostStoreError, match="records 3 notice"):
        check_notice_record(lost, other, str(other_path), out)
