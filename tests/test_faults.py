"""The fault matrix: each fault injected, then the run (or its re-run) checked for the same promises.

No notice arrives twice (counted by Message-ID at a real SMTP server); no notice is lost (every notice ends sent,
listed `unknown`, or listed `failed` with the server's words for a permanent refusal); `unknown` appears only where
a message may have been accepted without the ledger knowing; every input row has its decision; a failed store
write leaves nothing half-written. Process kills are real SIGKILLs of a separate process
(tests/support/fault_runner.py).

With FAULT_MATRIX=path set, the outcomes are written there as JSON (the fault matrix in tests/README.md comes from it).
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import tests.support.fault_runner as runner
from schemas.columns import Col
from schemas.ledger import LedgerState
from tasks.decisions import write_csv
from tasks.delivery import deliver
from tasks.files import OutputError
from tasks.ledger import ledger, sync_ledger
from tasks.normalize import normalize
from tasks.notices import DECISION_KINDS, plan_notices
from tasks.pipeline import SELECTION, PipelineInputs, run_pipeline
from tasks.smtp import smtp_settings
from tasks.sources import FileSource, SheetSource, SourceError, values_to_frame
from tasks.store import StoreError, open_store, record_selection
from tasks.validate import validate
from tasks.writeback import DECISIONS_TITLE, decision_values, write_decisions_to_sheet
from tests.support.configs import make_config
from tests.support.paths import ROOT
from tests.support.rows import named_team, numbered_team
from tests.support.selection import record, sheet_decisions
from tests.support.sheets import FakeSheetsServer, client_for
from tests.support.smtp import RecordingHandler, SmtpServer

AS_OF = runner.AS_OF
FAILED, REFUSED, SENT, SUPERSEDED, UNKNOWN = (
    LedgerState.FAILED,
    LedgerState.REFUSED,
    LedgerState.SENT,
    LedgerState.SUPERSEDED,
    LedgerState.UNKNOWN,
)
MATRIX: list[dict] = []


@dataclass
class Outcome:
    """What a fault left behind, once the run (and its re-run) finished."""

    fault: str
    notices: int
    duplicates: int
    lost: int
    unknown: int
    failed: int
    survived: bool = True


@pytest.fixture(scope="module", autouse=True)
def matrix_report():
    yield
    target = os.environ.get("FAULT_MATRIX")
    if target:
        Path(target).write_text(json.dumps(MATRIX, indent=1) + "\n")


def tally(fault: str, engine: sa.Engine, cohort: str, received: list, unknown_allowed: int = 0, failing=()) -> Outcome:
    """Count duplicates and losses from the server's messages and the ledger, and check the promises hold."""
    arrived = Counter(m.message["Message-ID"] for m in received)
    rows = ledger(engine, cohort)
    live = rows[~rows["state"].isin([REFUSED, SUPERSEDED])]
    lost = unknown = failed = 0
    for notice in live.itertuples():
        came = arrived[notice.message_id] > 0
        if notice.state == SENT and came:
            continue
        if notice.state == UNKNOWN:
            unknown += 1
        elif notice.state == FAILED and notice.recipient in failing and notice.last_error.startswith("refused by"):
            failed += 1  # a permanent refusal, listed with the server's words
            assert not came
        else:
            lost += 1
    outcome = Outcome(
        fault=fault,
        notices=len(live),
        duplicates=sum(n - 1 for n in arrived.values()),
        lost=lost,
        unknown=unknown,
        failed=failed,
    )
    outcome.survived = outcome.duplicates == 0 and outcome.lost == 0 and outcome.unknown <= unknown_allowed
    MATRIX.append(asdict(outcome))
    assert outcome.duplicates == 0, outcome
    assert outcome.lost == 0, outcome
    assert outcome.unknown <= unknown_allowed, outcome
    assert live["message_id"].is_unique
    return outcome


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


# ---------------------------------------------------------------------------- process killed at each stage


def _validated(config) -> pd.DataFrame:
    return validate(normalize(values_to_frame(FileSource(config.source.path).read_values()), config), config)


def _store_rows(config) -> list[tuple[int, int]]:
    """(selection id, decisions it holds) for every recorded selection, read straight from the database (SQLite's
    file or PostgreSQL), without opening the store (which would make its tables)."""
    url = config.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table("selections"):
            return []
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT s.id, COUNT(d.source_row) FROM selections s LEFT JOIN decisions d ON d.selection_id = s.id "
                "GROUP BY s.id ORDER BY s.id"
            ).all()
        return [(int(i), int(n)) for i, n in rows]
    finally:
        engine.dispose()


KILLS = [
    ("after-read", 0),
    ("after-select", 0),
    ("mid-write", 0),
    ("mid-record", 0),
    ("after-sync", 0),
    ("mid-send", 3),
    ("after-accept", 3),
]


@pytest.mark.parametrize(("stage", "k"), KILLS, ids=[stage for stage, _ in KILLS])
def test_a_killed_run_then_a_rerun_sends_each_notice_once_and_decides_every_row(tmp_path, smtp, stage, k):
    config, config_path = make_config(tmp_path, smtp.port)
    validated = _validated(config)
    pickled = tmp_path / "validated.pickle"
    pickled.write_bytes(pickle.dumps(validated))
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "tests.support.fault_runner",
        str(config_path),
        str(pickled),
        str(out),
        stage,
        str(k),
    ]
    killed = subprocess.run(command, cwd=ROOT, timeout=120, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]

    # What the kill left: never a half-written file or selection.
    before = _store_rows(config)
    assert all(count == len(validated) for _, count in before), f"a half-recorded selection: {before}"
    if stage in ("after-read", "after-select", "mid-write"):
        assert not (out / "decisions.csv").exists()  # never a half-written one
    if stage in ("after-read", "after-select", "mid-record"):
        assert before == []  # the selection is recorded whole or not at all
    if stage == "mid-write":
        assert len(before) == 1  # recorded before its files are written, so no file shows an unrecorded selection
    if stage in ("after-read", "after-select", "mid-write", "mid-record"):
        assert smtp.received == []
    if stage == "mid-send":
        assert len(smtp.received) == k
    if stage == "after-accept":
        assert len(smtp.received) == k  # the k-th arrived; the ledger never heard

    runner.run(str(config_path), None, str(out))  # the re-run staff start
    engine = open_store(config.database_url)
    decisions = pd.read_csv(out / "decisions.csv", dtype=str, keep_default_na=False)
    assert decisions[Col.SOURCE_ROW].astype(int).tolist() == validated[Col.SOURCE_ROW].tolist()
    after = _store_rows(config)
    assert after and all(count == len(validated) for _, count in after)
    outcome = tally(
        f"killed {stage}", engine, config.cohort, smtp.received, unknown_allowed=int(stage == "after-accept")
    )
    assert outcome.unknown == int(stage == "after-accept"), "unknown only when the server may have the message"
    assert outcome.notices >= 45


# ---------------------------------------------------------------------------- SMTP replies and dropped connections


class DroppingHandler(RecordingHandler):
    """Also drops the connection while a message's DATA is in flight: the server never accepts that message."""

    drop_at_data: int = 0
    refuse_data_to: str = ""  # a content filter that always refuses messages to this address

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_data_to in envelope.rcpt_tos:
            return "550 5.7.1 message refused"
        if self.drop_at_data:
            self.drop_at_data -= 1
            server.transport.close()
            return "421 closing"
        return await super().handle_DATA(server, session, envelope)


TEAMS = [numbered_team(i, state) for i, state in enumerate(["OH", "TX", "IL", "CA", "NY", "WA"], start=1)]
LEAD2 = "lead2@local2.example.org"
LEAD4 = "lead4@local4.example.org"


def _smtp_fault(handler: RecordingHandler, fault: str) -> tuple[int, tuple[str, ...]]:
    """Arm the server; returns (unknown notices allowed, recipients refused for good)."""
    if fault == "421 at MAIL, connection closed":
        handler.drop_next_mail = 2
    elif fault in ("421 at RCPT", "451 at RCPT", "452 at RCPT"):
        code = fault.split()[0]
        handler.rcpt_replies[LEAD2] = [f"{code} 4.3.0 try again later"]
        handler.rcpt_replies[LEAD4] = [f"{code} 4.3.0 try again later"] * 2
    elif fault in ("421 at DATA", "451 at DATA", "452 at DATA"):
        handler.data_replies = [f"{fault.split()[0]} 4.3.0 try again later"] * 2
    elif fault == "4xx on every attempt of a run":
        handler.rcpt_replies[LEAD2] = ["451 4.3.0 busy"] * 4
    elif fault == "550 for some recipients":
        handler.rcpt_replies[LEAD2] = ["550 5.1.1 no such user"] * 2  # in both runs: the address is gone
        handler.rcpt_replies[LEAD4] = ["550 5.1.1 no such user"] * 2
        return 0, (LEAD2, LEAD4)
    elif fault == "553 for some recipients":
        handler.rcpt_replies[LEAD2] = ["553 5.1.3 mailbox name not allowed"] * 2
        return 0, (LEAD2,)
    elif fault == "550 at DATA":
        handler.refuse_data_to = "lead1@local1.example.org"
        return 0, ("lead1@local1.example.org",)
    elif fault == "connection dropped during DATA":
        handler.drop_at_data = 1
        return 1, ()
    return 0, ()


SMTP_FAULTS = [
    "421 at MAIL, connection closed",
    "421 at RCPT",
    "451 at RCPT",
    "452 at RCPT",
    "421 at DATA",
    "451 at DATA",
    "452 at DATA",
    "4xx on every attempt of a run",
    "550 for some recipients",
    "553 for some recipients",
    "550 at DATA",
    "connection dropped during DATA",
]


@pytest.mark.parametrize("fault", SMTP_FAULTS)
def test_smtp_faults_never_duplicate_or_lose_a_notice(tmp_path, fault):
    server = SmtpServer()
    server.handler = DroppingHandler()
    server.controller.handler = server.handler
    with server:
        config, _ = make_config(tmp_path, server.port)
        engine = record(config, TEAMS)
        unknown_allowed, refused_for_good = _smtp_fault(server.handler, fault)
        settings = smtp_settings(config)
        planned = plan_notices(engine, config, "decisions", AS_OF)
        first = deliver(engine, config, planned, settings, base_delay=0.01)
        assert len(first.unknown) == unknown_allowed
        # The next run staff start: what failed is retried; an unknown notice only when staff ask.
        deliver(engine, config, planned, settings, base_delay=0.01, resend_unknown=bool(unknown_allowed))
        received = list(server.received)
    outcome = tally(f"SMTP {fault}", engine, config.cohort, received, unknown_allowed, refused_for_good)
    assert outcome.notices == len(TEAMS)
    assert outcome.failed == len(refused_for_good)
    assert len(received) == len(TEAMS) - len(refused_for_good)
    if refused_for_good:
        assert all("refused by the server: 5" in line for line in first.failed), first.failed


# ---------------------------------------------------------------------------- Sheets API errors and timeouts


class SlowSheetsServer(FakeSheetsServer):
    """Follows a plan, one step per request: answer normally (None), fail with a status (int), or apply the request
    and answer late (float seconds: a client timeout loses the answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: collections.deque[int | float | None] = collections.deque()

    def start(self) -> SlowSheetsServer:
        super().start()
        self._httpd.handle_error = lambda *args: None  # the client went away: a lost answer, not an error
        return self

    def _handle(self, method, raw_path, body):
        step = self.plan.popleft() if self.plan else None
        if isinstance(step, int):
            self.fail_next(step)
        answer = super()._handle(method, raw_path, body)
        if isinstance(step, float):
            time.sleep(step)
        return answer


KEY = "1FaultMatrixSpreadsheetKey0123456789"
TAB = "Form Responses 1"
TIMEOUT = 0.2
LATE = 0.6


@pytest.fixture(scope="module")
def sheets():
    with SlowSheetsServer() as server:
        yield server


def _arm_sheets(server: SlowSheetsServer, fault: str, skip: int = 0) -> None:
    """The fault hits the request after `skip` good ones."""
    server.plan.extend([None] * skip + [LATE if fault == "timeout" else int(fault)])


SHEET_FAULTS = ["429", "500", "503", "timeout"]


@pytest.mark.parametrize("fault", SHEET_FAULTS)
def test_a_sheets_error_or_timeout_on_the_read_is_retried_and_every_row_is_read(sheets, fault):
    from examples.generate import example_rows, iter_sheet_values

    served = list(iter_sheet_values(example_rows()))
    sheets.reset()
    sheets.plan.clear()
    sheets.add_spreadsheet(KEY, {TAB: served})
    _arm_sheets(sheets, fault, skip=1)  # the values read, after the metadata read
    values = SheetSource(KEY, TAB, client_for(sheets), timeout=TIMEOUT).read_values()
    assert values == served
    assert len(values_to_frame(values)) == 60
    MATRIX.append(asdict(Outcome(f"Sheets read: {fault}", 0, 0, 0, 0, 0)))


def test_a_sheets_read_that_always_times_out_is_one_clear_error(sheets):
    sheets.reset()
    sheets.add_spreadsheet(KEY, {TAB: [["Timestamp"]]})
    client = client_for(sheets)
    sheets.plan.extend([LATE] * client.http_client.attempts)
    with pytest.raises(SourceError, match=r"did not answer: ReadTimeout \(during the read\)"):
        SheetSource(KEY, TAB, client, timeout=TIMEOUT).read_values()
    MATRIX.append(asdict(Outcome("Sheets read: timeout on every attempt (clear error)", 0, 0, 0, 0, 0)))


@pytest.mark.parametrize("fault", SHEET_FAULTS)
@pytest.mark.parametrize("request_hit", ["add worksheet", "values write"])
def test_a_sheets_error_or_timeout_on_the_write_back_is_retried_and_every_decision_is_written(
    sheets, config, fault, request_hit
):
    sheets.reset()
    sheets.add_spreadsheet(KEY, {TAB: [["Timestamp"]]})
    decisions = sheet_decisions(
        config, *(named_team(f"Local {i} EA", s, f"Lead {i}") for i, s in enumerate(["NY", "TX", "OH"]))
    )
    client = client_for(sheets)
    client.http_client.set_timeout(TIMEOUT)
    _arm_sheets(sheets, fault, skip=1 if request_hit == "add worksheet" else 2)
    write_decisions_to_sheet(client, KEY, decisions)
    written = [row for row in sheets.values(KEY, DECISIONS_TITLE) if any(row)]
    assert written == decision_values(decisions)
    assert sheets.sheet_titles(KEY).count(DECISIONS_TITLE) == 1
    MATRIX.append(asdict(Outcome(f"Sheets write-back ({request_hit}): {fault}", 0, 0, 0, 0, 0)))


# ---------------------------------------------------------------------------- the state store locked or full


def _limited(engine: sa.Engine, pragma: str) -> sa.Engine:
    """The same store, its connections made anew with one more PRAGMA (a short busy wait, a size limit)."""
    engine.dispose()
    sa.event.listen(engine, "connect", lambda connection, _: connection.execute(pragma))
    return engine


def _pages(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA page_count").scalar()


class Locker:
    """Another program holding the store's write lock (as a second cohort-select or a DB browser would)."""

    def __init__(self, config) -> None:
        path = config.database_url.removeprefix("sqlite:///")
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def __enter__(self) -> Locker:
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


SQLITE_LOCK_AND_FULL = pytest.mark.sqlite_only(
    "SQLite's own lock and size limit (PRAGMA busy_timeout, max_page_count); on PostgreSQL: "
    "test_postgres_a_lock_held_elsewhere_*, test_postgres_a_statement_that_runs_too_long_*"
)


@SQLITE_LOCK_AND_FULL
@pytest.mark.parametrize("fault", ["locked", "full"])
def test_the_store_locked_or_full_while_recording_a_selection_writes_none_of_it(tmp_path, backend, fault):
    config, _ = make_config(tmp_path, 25)
    validated = _validated(config)
    engine = open_store(config.database_url)
    decided = run_pipeline(validated, PipelineInputs(config), SELECTION)
    if fault == "locked":
        engine = _limited(engine, "PRAGMA busy_timeout = 100")
        with (
            Locker(config),
            pytest.raises(StoreError, match=r"not recorded \(nothing was written\): database is locked"),
        ):
            record_selection(engine, config.cohort, decided, "in", "cfg", provisional=False)
    else:
        engine = _limited(engine, f"PRAGMA max_page_count = {_pages(engine)}")
        with pytest.raises(StoreError, match=r"not recorded \(nothing was written\): database or disk is full"):
            record_selection(engine, config.cohort, decided, "in", "cfg", provisional=False)
    assert _store_rows(config) == []
    engine.dispose()
    recorded = open_store(config.database_url)
    record_selection(recorded, config.cohort, decided, "in", "cfg", provisional=False)  # once the fault is gone
    assert [count for _, count in _store_rows(config)] == [len(validated)]
    MATRIX.append(asdict(Outcome(f"store {fault} while recording the selection", 0, 0, 0, 0, 0)))


@SQLITE_LOCK_AND_FULL
@pytest.mark.parametrize("fault", ["locked", "full"])
def test_the_store_locked_or_full_while_filling_the_ledger_changes_nothing_and_sends_nothing(
    tmp_path, smtp, backend, fault
):
    config, _ = make_config(tmp_path, smtp.port)
    engine = record(config, TEAMS * 1)
    planned = plan_notices(engine, config, "decisions", AS_OF)
    many = [n.model_copy(update={"applicant": f"{n.applicant}-{i}"}) for i in range(40) for n in planned.notices]
    if fault == "locked":
        engine = _limited(engine, "PRAGMA busy_timeout = 100")
        with Locker(config), pytest.raises(StoreError, match=r"nothing was changed.*database is locked"):
            sync_ledger(engine, config.cohort, many, DECISION_KINDS)
    else:
        engine = _limited(engine, f"PRAGMA max_page_count = {_pages(engine)}")
        with pytest.raises(StoreError, match=r"nothing was changed.*database or disk is full"):
            sync_ledger(engine, config.cohort, many, DECISION_KINDS)
    assert ledger(engine, config.cohort).empty
    engine.dispose()
    engine = open_store(config.database_url)
    deliver(engine, config, planned, smtp_settings(config), base_delay=0.01)
    tally(f"store {fault} while filling the ledger", engine, config.cohort, smtp.received)


@SQLITE_LOCK_AND_FULL
def test_the_store_locked_mid_batch_stops_the_send_and_the_rerun_finishes_it(tmp_path, backend):
    """The lock is taken when the server has the 2nd message: its `sent` cannot be recorded, so it is unknown."""

    class LockingHandler(RecordingHandler):
        locker: Locker | None = None

        async def handle_DATA(self, server, session, envelope):
            answer = await super().handle_DATA(server, session, envelope)
            if len(self.received) == 2 and self.locker is None:
                self.locker = Locker(config).__enter__()
            return answer

    server = SmtpServer()
    server.handler = LockingHandler()
    server.controller.handler = server.handler
    with server:
        config, _ = make_config(tmp_path, server.port)
        engine = record(config, TEAMS)
        planned = plan_notices(engine, config, "decisions", AS_OF)
        short = _limited(open_store(config.database_url), "PRAGMA busy_timeout = 100")
        with pytest.raises(StoreError, match="ledger could not be updated: database is locked"):
            deliver(short, config, planned, smtp_settings(config), base_delay=0.01)
        assert len(server.received) == 2
        server.handler.locker.__exit__()
        short.dispose()
        report = deliver(engine, config, planned, smtp_settings(config), base_delay=0.01)
        assert len(report.unknown) == 1 and LEAD2 in report.unknown[0]
        received = list(server.received)
    tally("store locked mid-batch, after the server accepted a message", engine, config.cohort, received, 1)


# ---------------------------------------------------------------------------- PostgreSQL: locks, timeouts, kills


class TableLocker:
    """Another session holding a table lock on the PostgreSQL store (a migration, a DBA's LOCK TABLE)."""

    def __init__(self, cluster, database: str, table: str) -> None:
        import psycopg

        self.conn = psycopg.connect(cluster.url(database).replace("+psycopg", ""))
        self.table = table

    def __enter__(self) -> TableLocker:
        self.conn.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")  # type: ignore[call-overload]
        return self

    def __exit__(self, *exc) -> None:
        self.conn.rollback()
        self.conn.close()


@pytest.fixture
def pg_store(postgres_cluster, tmp_path, monkeypatch):
    """A fresh PostgreSQL database as the config's store, its schema made; (cluster, database name, config)."""
    database = postgres_cluster.new_database()
    monkeypatch.setenv("COHORT_STATE_URL", postgres_cluster.url(database))
    config, config_path = make_config(tmp_path, 25)
    open_store(config.database_url).dispose()
    return postgres_cluster, database, config, config_path


def _short(cluster, database: str, options: str) -> sa.Engine:
    return open_store(cluster.url(database, options=options))


def test_postgres_a_lock_held_elsewhere_is_a_message_within_the_lock_timeout(
    pg_store, monkeypatch, prefect_server, capfd
):
    """The counterpart of SQLite's `locked`: the lock timeout turns a wait that would never end into one message,
    and nothing is half-written."""
    cluster, database, config, config_path = pg_store
    decided = run_pipeline(_validated(config), PipelineInputs(config), SELECTION)
    engine = _short(cluster, database, "-c lock_timeout=300ms")
    with TableLocker(cluster, database, "decisions"):
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"not recorded \(nothing was written\): .*lock timeout.*another run"):
            record_selection(engine, config.cohort, decided, "in", "cfg", provisional=False)
        assert time.monotonic() - started < 5
    assert _store_rows(config) == []
    record_selection(engine, config.cohort, decided, "in", "cfg", provisional=False)
    assert [count for _, count in _store_rows(config)] == [len(decided)]
    # `notify` with the ledger's table locked elsewhere: one message and the exit code for staff, not a hang.
    from flows.cli import EXIT_STAFF_ERROR, main

    monkeypatch.setenv("COHORT_STATE_URL", cluster.url(database, options="-c lock_timeout=300ms"))
    with TableLocker(cluster, database, "notices"):
        started = time.monotonic()
        code = main(["notify", "--config", str(config_path), "--as-of", runner.AS_OF.isoformat(), "--out", "o"])
        assert code == EXIT_STAFF_ERROR
        assert time.monotonic() - started < 30
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert err.count("cohort-select notify: ") == 1 and "lock timeout" in err, err[-2000:]
    MATRIX.append(asdict(Outcome("PostgreSQL: a table locked elsewhere (lock timeout)", 0, 0, 0, 0, 0)))


def test_postgres_a_statement_that_runs_too_long_is_a_message_and_writes_nothing(pg_store, smtp, tmp_path):
    """The counterpart of SQLite's `full`: a statement the server does not finish (a full disk, a stuck server)
    ends at the statement timeout; the ledger is unchanged, nothing is sent, and the next run sends everything."""
    cluster, database, _, _ = pg_store
    config, _ = make_config(tmp_path, smtp.port)
    engine = record(config, TEAMS)
    planned = plan_notices(engine, config, "decisions", AS_OF)
    stuck = _short(cluster, database, "-c lock_timeout=0 -c statement_timeout=300ms")
    with (
        TableLocker(cluster, database, "notices"),
        pytest.raises(StoreError, match=r"nothing was changed.*statement timeout.*did not answer in time"),
    ):
        sync_ledger(stuck, config.cohort, planned.notices, DECISION_KINDS)
    assert ledger(engine, config.cohort).empty
    assert smtp.received == []
    deliver(engine, config, planned, smtp_settings(config), base_delay=0.01)
    tally("PostgreSQL: a statement past its timeout while filling the ledger", engine, config.cohort, smtp.received)


def test_postgres_a_killed_connection_mid_write_leaves_nothing_half_written(pg_store):
    """The server ends the store's connection while a selection is half inserted (pg_terminate_backend, as a
    restart or a DBA would): one message, nothing recorded, and the next write, on a new connection, works."""
    cluster, database, config, _ = pg_store
    decided = run_pipeline(_validated(config), PipelineInputs(config), SELECTION)
    engine = open_store(config.database_url)
    waiting = f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}' AND wait_event_type = 'Lock'"  # noqa: S608

    def kill_the_waiting_writer() -> None:
        for _ in range(200):
            pids = cluster.execute(waiting)
            if pids:
                cluster.execute(f"SELECT pg_terminate_backend({pids[0][0]})")
                return
            time.sleep(0.05)

    import threading

    with TableLocker(cluster, database, "decisions"):  # the selection row goes in, its decisions wait
        killer = threading.Thread(target=kill_the_waiting_writer)
        killer.start()
        with pytest.raises(
            StoreError, match=r"not recorded \(nothing was written\): .*the connection to the state store was lost"
        ):
            record_selection(engine, config.cohort, decided, "in", "cfg", provisional=False)
        killer.join()
    assert _store_rows(config) == []
    record_selection(engine, config.cohort, decided, "in", "cfg", provisional=False)
    assert [count for _, count in _store_rows(config)] == [len(decided)]
    MATRIX.append(asdict(Outcome("PostgreSQL: the connection killed mid-write", 0, 0, 0, 0, 0)))


def test_a_full_disk_while_writing_decisions_leaves_the_previous_file_whole(tmp_path, monkeypatch, config):
    frame = _validated(config)
    path = tmp_path / "intake.csv"
    write_csv(frame, path)
    before = path.read_bytes()

    def full(self, text, *args, **kwargs):
        with self.open("w") as handle:
            handle.write(text[:100])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OutputError, match=r"cannot write .*intake.csv \(No space left on device\); the previous file"):
        write_csv(frame.head(3), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intake.csv"]
    MATRIX.append(asdict(Outcome("disk full while writing decisions.csv", 0, 0, 0, 0, 0)))
