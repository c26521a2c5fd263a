"""Backups and a lost store: `cohort-select backup` / `restore` on both backends, and a send that refuses to run
when the notice record outside the store (the Decisions tab, the outbox's notices-sent.csv) shows notices the
store does not know.

Real parts: the store on SQLite and on the session's PostgreSQL cluster (`backend`), a writer in its own process,
aiosmtpd on 127.0.0.1 (tests/support/smtp.py), the Sheets API on 127.0.0.1 (tests/support/sheets.py).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

import tasks.sheets
from examples.generate import HEADERS, example_rows
from flows.cli import EXIT_STAFF_ERROR, main
from schemas.backup import BACKUP_FORMAT, BACKUP_INFO_TABLE, BackupInfo, NoticeRecordCol
from schemas.columns import Derived, Kind
from schemas.ledger import LedgerState
from schemas.store import StoreCol
from tasks.backup import (
    LostStoreError,
    check_store_knows,
    known_to_store,
    record_cells,
    record_of,
    unknown_to_store,
    write_notice_record,
)
from tasks.lease import Lease
from tasks.ledger import ledger, not_sent
from tasks.notices import plan_notices
from tasks.outbox import read_notice_record as read_outbox_record
from tasks.outbox import write_notice_record as write_outbox_record
from tasks.store import actions as actions_table
from tasks.store import latest_selection, open_store, record_selection, selection_history
from tasks.writeback import DECISIONS_TITLE, read_notice_record_from_sheet, write_notice_record_to_sheet
from tests.support.configs import make_config
from tests.support.moments import AFTER, AFTER_DEADLINE, LATER
from tests.support.paths import ROOT
from tests.support.postgres import PASSWORD
from tests.support.scenarios import free_a_seat, selected_and_sent
from tests.support.sheets import FakeSheetsServer, client_for
from tests.support.smtp import SmtpServer
from tests.support.store_writer import DECISIONS, decisions_frame

SHEET_KEY = "1BackupAndALostStoreSheetKey0123456789"
TAB = "Form Responses 1"

# ---------------------------------------------------------------------------- the check, pure (hypothesis)

APPLICANTS = st.sampled_from(["NY:troy education association", "OH:local 1 education association", "row:7", "a@b.org"])
KINDS = st.sampled_from(sorted(Kind))
RECORDS = st.dictionaries(APPLICANTS, st.frozensets(KINDS, min_size=1), max_size=4)


@given(recorded=RECORDS, more=RECORDS)
def test_a_store_that_knows_everything_recorded_or_more_passes(recorded, more):
    """The store knows every recorded notice, and perhaps more (the record not yet written after a crash)."""
    known = {a: recorded.get(a, frozenset()) | more.get(a, frozenset()) for a in {*recorded, *more}}
    assert unknown_to_store(recorded, known) == []
    check_store_knows(recorded, known, where="the record", store="sqlite:///s", config_path="c.yaml")


@given(known=RECORDS, applicant=APPLICANTS, kind=KINDS, others=RECORDS)
def test_any_recorded_notice_missing_from_the_store_refuses(known, applicant, kind, others):
    """Whatever else the record and the store hold, one recorded notice the store lacks stops the send."""
    known = {a: kinds - {kind} if a == applicant else kinds for a, kinds in known.items()}
    recorded = {a: kinds & known.get(a, frozenset()) for a, kinds in others.items()}
    recorded[applicant] = recorded.get(applicant, frozenset()) | {kind}
    assert (applicant, kind) in unknown_to_store(recorded, known)
    with pytest.raises(LostStoreError, match=r"cohort-select restore --config c\.yaml --from BACKUP"):
        check_store_knows(recorded, known, where="the record", store="sqlite:///s", config_path="c.yaml")


LEDGER_ROWS = st.lists(
    st.tuples(APPLICANTS, KINDS, st.sampled_from(sorted(LedgerState)), st.integers(0, 10**6)), max_size=12
)


@given(rows=LEDGER_ROWS)
def test_the_record_written_from_a_ledger_reads_back_as_what_the_ledger_knows(rows):
    """The cells a send writes (record_cells) read back (record_of) as exactly the ledger's possibly delivered
    notices, so a store whose record it wrote itself always passes."""
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                StoreCol.ID: i,
                Derived.APPLICANT: a,
                StoreCol.KIND: k,
                StoreCol.LEDGER_STATE: s,
                StoreCol.UPDATED_AT: pd.Timestamp("2021-06-08T13:00:00Z") + pd.Timedelta(seconds=t),
            }
            for i, (a, k, s, t) in enumerate(rows)
        ],
        columns=[StoreCol.ID, Derived.APPLICANT, StoreCol.KIND, StoreCol.LEDGER_STATE, StoreCol.UPDATED_AT],
    )
    assert record_of(record_cells(frame, "America/New_York")) == known_to_store(frame)


# ---------------------------------------------------------------------------- backup while another process writes


def _file_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        per_selection = conn.execute(
            "SELECT s.id, COUNT(d.source_row) FROM selections s LEFT JOIN decisions d ON d.selection_id = s.id "
            "GROUP BY s.id"
        ).fetchall()
        cohorts = {row[0] for row in conn.execute("SELECT DISTINCT cohort FROM selections")}
    assert {n for _, n in per_selection} <= {DECISIONS}, "every selection in the backup is whole"
    return {"selections": len(per_selection), "cohorts": len(cohorts)}


def test_a_backup_taken_while_another_process_writes_is_one_moment_of_the_store(backend, tmp_path, capfd):
    config, path = make_config(tmp_path, 25)
    engine = open_store(config.database_url)
    record_selection(engine, "another-call", decisions_frame(prefix="Elsewhere"), "in", "cfg", provisional=False)
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.store_writer", config.database_url, config.cohort_id],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
        seen = []
        for i in range(3):
            before = len(selection_history(engine, config.cohort_id)) // DECISIONS
            target = tmp_path / f"backup-{i}.sqlite"
            assert main(["backup", "--config", str(path), "--to", str(target)]) == 0
            after = len(selection_history(engine, config.cohort_id)) // DECISIONS
            counts = _file_counts(target)
            assert before <= counts["selections"] <= after, "the backup is the store as of one moment"
            assert counts["cohorts"] == 1, "another call's data stays out of the backup"
            seen.append(counts["selections"])
            time.sleep(0.1)
    finally:
        writer.kill()
        writer.wait()
    assert seen == sorted(seen) and seen[0] < seen[-1], "the writer went on writing while the backups were taken"
    out = capfd.readouterr().out.strip().splitlines()
    assert len([line for line in out if line.startswith("Backed up cohort 2021")]) == 3
    assert f"{seen[-1]} selection(s), {seen[-1] * DECISIONS} decisions" in out[-1]
    assert PASSWORD not in "\n".join(out)
    last = tmp_path / "backup-2.sqlite"
    assert not Path(f"{last}-wal").exists(), "the backup is one file"
    assert b"Elsewhere" not in last.read_bytes(), "no page of the file keeps another call's rows"
    opened = open_store(f"sqlite:///{last}")  # a backup is a store itself
    _, decided = latest_selection(opened, config.cohort_id)
    assert len(decided) == DECISIONS


# ---------------------------------------------------------------------------- a lost store, then a restore


def _wipe(config) -> None:
    """The store lost: its file deleted, or its database dropped and made again empty (as a DBA would)."""
    url = sa.make_url(config.database_url)
    if url.get_backend_name() == "sqlite":
        store = Path(str(url.database))
        for part in store.parent.glob(store.name + "*"):
            part.unlink()
        return
    from tests.support.postgres import SUPERUSER

    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {url.database} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {url.database} OWNER {SUPERUSER} TEMPLATE template0")
    admin.dispose()


def _notify(path: Path, out: Path) -> list[str]:
    return ["notify", "--config", str(path), "--as-of", AFTER, "--out", str(out), "--send"]


def _sheet_source(monkeypatch, sheets: FakeSheetsServer) -> dict:
    """A Google Sheet source served by the local Sheets API (the client is the real gspread one)."""
    sheets.add_spreadsheet(SHEET_KEY, {TAB: [list(HEADERS), *example_rows()]})
    monkeypatch.setenv("COHORT_TEST_SHEETS_KEY", "{}")
    monkeypatch.setattr(tasks.sheets, "service_account_client", lambda _key: client_for(sheets))
    return {
        "kind": "google_sheet",
        "key": SHEET_KEY,
        "worksheet": TAB,
        "credentials": {"env": "COHORT_TEST_SHEETS_KEY"},
    }


def test_a_send_on_a_lost_store_refuses_naming_restore_and_after_the_restore_sends_nothing_twice(
    backend, prefect_server, tmp_path, capfd
):
    """A file source: the record is the outbox's notices-sent.csv. The store is lost after the notices, staff run
    the selection again (the empty store cannot know the notices went), and the send refuses, in the Prefect run
    and on the command line; the restore needs --replace then, and the send after it sends nothing again."""
    from flows.send_notices import send_notices

    with SmtpServer() as smtp:
        config, path = selected_and_sent(tmp_path, smtp)
        sent = len(smtp.received)
        assert sent == 50
        record = tmp_path / "n" / "outbox" / "notices-sent.csv"
        assert record.read_text().count("\n2021,") == 50 and ",selected sent 20" in record.read_text()
        where = f"the notice record {record}"
        backup = tmp_path / "after-send.sqlite"
        assert main(["backup", "--config", str(path), "--to", str(backup)]) == 0
        capfd.readouterr()

        _wipe(config)
        assert main(["select", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "sel")]) == 0
        capfd.readouterr()
        state = send_notices(
            config_path=str(path),
            out_dir=str(tmp_path / "n"),
            send=True,
            as_of=AFTER,
            require_approval=False,
            return_state=True,
        )
        assert state.is_failed()
        message = str(state.message)
        assert where in message and "records 50 notice(s) to 50 team(s) as sent" in message
        assert f"cohort-select restore --config {path} --from BACKUP" in message
        assert "Traceback" not in message and len(smtp.received) == sent
        assert ledger(open_store(config.database_url), config.cohort_id).empty, "nothing was planned"
        code = main(_notify(path, tmp_path / "n"))
        err = capfd.readouterr().err
        assert code == EXIT_STAFF_ERROR and f"cohort-select notify: {where} records 50 notice(s)" in err
        assert "Traceback" not in err and PASSWORD not in err and len(smtp.received) == sent

        code = main(["restore", "--config", str(path), "--from", str(backup)])
        assert code == EXIT_STAFF_ERROR
        assert "already holds data of cohort 2021 (selections: 1)" in capfd.readouterr().err
        assert main(["restore", "--config", str(path), "--from", str(backup), "--replace"]) == 0
        said = capfd.readouterr().out.strip().splitlines()
        assert len(said) == 1 and said[0].startswith("Restored cohort 2021 into ") and PASSWORD not in said[0]
        assert "51 notices (50 sent)" in said[0]
        engine = open_store(config.database_url)
        waiting = not_sent(engine, config.cohort_id, plan_notices(engine, config, "decisions", AFTER_DEADLINE).notices)
        assert len(waiting) == 1 and waiting[0].refusal, "the send plans nothing new (only the refused address)"
        assert main(_notify(path, tmp_path / "n")) == 0
        assert len(smtp.received) == sent, "no notice went twice"
        assert "Sent over SMTP by this run: 0" in capfd.readouterr().out


def _tab_notices(sheets: FakeSheetsServer) -> dict[str, str]:
    """Team key → its `notice` cell in the Decisions tab, for the rows that have one."""
    tab = sheets.values(SHEET_KEY, DECISIONS_TITLE)
    notice, team = tab[0].index(NoticeRecordCol.NOTICE), tab[0].index(Derived.TEAM_KEY)
    return {row[team]: row[notice] for row in tab[1:] if notice < len(row) and row[notice]}


def test_the_decisions_tab_records_each_teams_notices_and_a_lost_store_is_refused_by_it(
    prefect_server, tmp_path, capfd, monkeypatch
):
    """A Google Sheet source (the local Sheets API): the send, and promote's send, write each team's notices in
    the Decisions tab; a selection re-run on a lost store leaves that column, and the send refuses by it. (The
    record is the sheet's, so the store's backend does not matter here: the file-source case runs on both.)"""
    with SmtpServer() as smtp, FakeSheetsServer() as sheets:
        config, path = selected_and_sent(tmp_path, smtp, source=_sheet_source(monkeypatch, sheets))
        cells = _tab_notices(sheets)
        assert len(cells) == 50 and len(smtp.received) == 50
        assert sum(cell.startswith("selected sent 20") for cell in cells.values()) == 20, cells
        assert all(cell.count(" sent ") == 1 for cell in cells.values())
        backup = tmp_path / "after-send.sqlite"
        assert main(["backup", "--config", str(path), "--to", str(backup)]) == 0

        _wipe(config)
        assert main(["select", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "sel")]) == 0
        assert _tab_notices(sheets) == cells, "the selection's write-back leaves the notice column as it was"
        capfd.readouterr()
        code = main(_notify(path, tmp_path / "n"))
        err = capfd.readouterr().err
        assert code == EXIT_STAFF_ERROR and len(smtp.received) == 50
        assert f"cohort-select notify: the Decisions tab of Google Sheet {SHEET_KEY} records 50 notice(s)" in err

        assert main(["restore", "--config", str(path), "--from", str(backup), "--replace"]) == 0
        leaving = free_a_seat(path, config)
        assert main(["promote", "--config", str(path), "--as-of", LATER, "--out", str(tmp_path / "p"), "--send"]) == 0
        assert len(smtp.received) == 52  # the decline and the offer, nothing twice
        after = _tab_notices(sheets)
        assert after[leaving].split("; ")[1].startswith("declined sent 20"), after[leaving]
        offered = [team for team, cell in after.items() if "offer sent" in cell]
        assert len(offered) == 1 and after[offered[0]].startswith("waitlisted sent")


# ---------------------------------------------------------------------------- restore refusals


def _edited(good: Path, copy: Path, key: BackupInfo, value: str) -> Path:
    """A copy of a good backup with one backup_info value changed; for the schema, `value` is a statement that
    adds a column, and the schema names it too (a backup from a newer version)."""
    copy.write_bytes(good.read_bytes())
    info = f"UPDATE {BACKUP_INFO_TABLE} SET value = ? WHERE key = ?"  # noqa: S608 - the tests' own table name
    with sqlite3.connect(copy) as conn:
        if key == BackupInfo.SCHEMA:
            conn.execute(value)
            schema = json.loads(dict(conn.execute(f"SELECT key, value FROM {BACKUP_INFO_TABLE}").fetchall())[key])  # noqa: S608
            schema["notices"].append("delivered_by")
            value = json.dumps(schema)
        conn.execute(info, (value, key.value))
    return copy


def _store_summary(config) -> tuple[int, int]:
    engine = open_store(config.database_url)
    return len(selection_history(engine, config.cohort_id)), len(ledger(engine, config.cohort_id))


def test_restore_refuses_what_is_no_backup_a_newer_one_another_cohorts_and_a_store_with_data(backend, tmp_path, capfd):
    config, path = make_config(tmp_path, 25, lease={"wait_seconds": 0.5, "expire_seconds": 3})
    engine = open_store(config.database_url)
    record_selection(engine, config.cohort_id, decisions_frame(), "in", "cfg", provisional=False)
    good = tmp_path / "good.sqlite"
    assert main(["backup", "--config", str(path), "--to", str(good)]) == 0
    record_selection(engine, config.cohort_id, decisions_frame(8), "in2", "cfg", provisional=False)
    capfd.readouterr()
    before = _store_summary(config)

    text = tmp_path / "notes.txt"
    text.write_text("not a backup\n")
    store = tmp_path / "a-store.sqlite"
    open_store(f"sqlite:///{store}").dispose()
    newer = _edited(
        good, tmp_path / "newer.sqlite", BackupInfo.SCHEMA, "ALTER TABLE notices ADD COLUMN delivered_by TEXT"
    )
    later_format = _edited(good, tmp_path / "later-format.sqlite", BackupInfo.FORMAT, str(BACKUP_FORMAT + 1))
    other = _edited(good, tmp_path / "other.sqlite", BackupInfo.COHORT, "esp-2019")
    later_revision = _edited(good, tmp_path / "later-revision.sqlite", BackupInfo.REVISION, "9999")
    listed = tmp_path / "listed-schema.sqlite"
    no_notices = tmp_path / "no-notices.sqlite"
    not_a_mapping = f"UPDATE {BACKUP_INFO_TABLE} SET value = '[1]' WHERE key = 'schema'"  # noqa: S608
    for copy, statement in ((listed, not_a_mapping), (no_notices, "DROP TABLE notices")):
        copy.write_bytes(good.read_bytes())
        with sqlite3.connect(copy) as conn:
            conn.execute(statement)

    refusals = {
        text: f"{text} is not a cohort-select backup (it is not a SQLite file)",
        store: f"{store} is not a cohort-select backup (a SQLite file without backup_info",
        tmp_path / "missing.sqlite": "is not a file",
        newer: f"{newer} was written by a newer cohort-select (its store has column notices.delivered_by",
        later_format: f"was written by a newer cohort-select (backup format {BACKUP_FORMAT + 1}",
        other: f"{other} is a backup of cohort 'esp-2019', not of '2021'",
        later_revision: f"{later_revision} was written by a newer cohort-select (schema revision 9999; this checkout",
        good: "already holds data of cohort 2021 (selections: 2): nothing was restored; to replace it",
        listed: f"{listed} is not a cohort-select backup (its backup_info is incomplete)",
        no_notices: f"{no_notices} is not a cohort-select backup (OperationalError: no such table: notices)",
    }
    for file, words in refusals.items():
        code = main(["restore", "--config", str(path), "--from", str(file)])
        printed = capfd.readouterr()
        assert code == EXIT_STAFF_ERROR, (file, printed)
        lines = printed.err.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (words, lines)
        assert "Traceback" not in printed.err and PASSWORD not in printed.err
        assert _store_summary(config) == before, f"{file.name}: the store is as it was"

    running = Lease(engine, config.cohort_id, "send-notices (pid 1 on another machine)", 30)
    assert running.try_take() is None  # a send holds the cohort: a restore waits, then does nothing
    code = main(["restore", "--config", str(path), "--from", str(good), "--replace"])
    running.release()
    assert code == EXIT_STAFF_ERROR and "another run holds cohort 2021's lease" in capfd.readouterr().err
    assert _store_summary(config) == before

    assert main(["restore", "--config", str(path), "--from", str(good), "--replace"]) == 0
    assert _store_summary(config) == (DECISIONS, 0), "replaced: the backup's one selection, as it was"


def test_a_restore_keeps_other_cohorts_and_renumbers_onto_a_store_that_holds_them(backend, tmp_path, capfd):
    """Another call's rows in the store keep their ids; the restored ones get new ids, in their old order, and the
    decisions follow their selection."""
    config, path = make_config(tmp_path, 25)
    engine = open_store(config.database_url)
    for n in (10, 20):
        record_selection(engine, config.cohort_id, decisions_frame(n), "in", "cfg", provisional=False)
    backup = tmp_path / "b.sqlite"
    assert main(["backup", "--config", str(path), "--to", str(backup)]) == 0
    _wipe(config)
    engine = open_store(config.database_url)
    for n in (3, 4, 5):
        record_selection(engine, "another-call", decisions_frame(n, prefix="Other"), "in", "cfg", provisional=False)
    assert main(["restore", "--config", str(path), "--from", str(backup)]) == 0
    history = selection_history(engine, config.cohort_id)
    sizes = history.groupby(StoreCol.SELECTION_ID).size()
    assert list(sizes) == [10, 20] and min(sizes.index) > 3
    assert len(selection_history(engine, "another-call")) == 12
    assert "2 selection(s), 30 decisions" in capfd.readouterr().out


def test_backup_of_a_store_without_the_cohort_is_refused_and_leaves_the_last_backup(backend, tmp_path, capfd):
    _, path = make_config(tmp_path, 25)
    target = tmp_path / "last-good.sqlite"
    target.write_bytes(b"the last good backup")
    assert main(["backup", "--config", str(path), "--to", str(target)]) == EXIT_STAFF_ERROR
    err = capfd.readouterr().err
    assert "holds nothing for cohort 2021" in err and "was not written" in err
    assert target.read_bytes() == b"the last good backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".last-good")] == []
    if backend == "sqlite":  # a backup over the store's own file is refused before anything is read
        code = main(["backup", "--config", str(path), "--to", str(tmp_path / "state.sqlite")])
        assert code == EXIT_STAFF_ERROR and "is the state store itself" in capfd.readouterr().err


def test_a_notice_record_the_sheets_api_refuses_is_one_problem_of_the_send(tmp_path, monkeypatch):
    """The notices are sent either way: the record that could not be written is named, and the next send writes it."""
    with FakeSheetsServer() as sheets:
        config, _ = make_config(tmp_path, 25, source=_sheet_source(monkeypatch, sheets))
        sheets.fail_next(503, count=5)  # every attempt of the first request
        problem = write_notice_record(open_store(config.database_url), config, tmp_path / "n")
    where = f"the Decisions tab of Google Sheet {SHEET_KEY}"
    assert problem.startswith(f"the notices are recorded in the state store, but {where} could not be written (")
    assert "Google Sheets API refused the write of the notice record (503)" in problem
    assert "run the send again to write it" in problem


# ---------------------------------------------------------------------------- the two records, without a run


def test_the_notice_column_goes_beside_the_decisions_raw_on_every_row_of_a_team_and_reads_back():
    decisions = [
        ["source_row", "status", "team_key", "staff note"],
        ["2", "selected", "NY:a education association", "called"],
        ["3", "duplicate", "NY:a education association"],
        ["4", "invalid", ""],
        ["5", "waitlisted", "TX:b education association"],
    ]
    first = {
        "NY:a education association": "selected sent 2021-06-08 09:00 EDT",
        "row:4": "not_selected sent 2021-06-08 09:00 EDT",
        "TX:b education association": "waitlisted maybe sent 2021-06-08 09:01 EDT",
        "=OH:not in the tab": "late sent 2021-06-08 09:02 EDT",
    }
    with FakeSheetsServer() as server:
        client = client_for(server)
        server.add_spreadsheet(SHEET_KEY, {TAB: [list(HEADERS)], DECISIONS_TITLE: decisions})
        assert write_notice_record_to_sheet(client, SHEET_KEY, first) == 3  # metadata, values, one batch update
        tab = server.values(SHEET_KEY, DECISIONS_TITLE)
        assert tab[0] == ["source_row", "status", "team_key", "staff note", "notice"]
        assert [row[4] for row in tab[1:5]] == [first["NY:a education association"]] * 2 + [
            first["row:4"],
            first["TX:b education association"],
        ]
        assert tab[1][3] == "called" and tab[5][2:5] == ["=OH:not in the tab", "", first["=OH:not in the tab"]]
        assert {r.body["valueInputOption"] for r in server.requests if r.path.endswith(":batchUpdate")} == {"RAW"}
        assert record_of(read_notice_record_from_sheet(client, SHEET_KEY)) == record_of(first)

        later = {"NY:a education association": first["NY:a education association"] + "; confirmed sent 2021-06-09"}
        write_notice_record_to_sheet(client, SHEET_KEY, later)
        assert read_notice_record_from_sheet(client, SHEET_KEY) == {
            "NY:a education association": "; ".join([later["NY:a education association"]] * 2)
        }, "a team no longer recorded is blanked"

        server.add_spreadsheet(SHEET_KEY, {TAB: [list(HEADERS)]})  # no Decisions tab (a selection from a file)
        assert read_notice_record_from_sheet(client, SHEET_KEY) == {}
        write_notice_record_to_sheet(client, SHEET_KEY, first)
        assert server.values(SHEET_KEY, DECISIONS_TITLE)[0] == ["notice", "team_key"]
        assert read_notice_record_from_sheet(client, SHEET_KEY) == first


def test_the_outbox_record_keeps_other_cohorts_and_reads_back_text_a_spreadsheet_would_run(tmp_path):
    ours = {"NY:a education association": "selected sent 2021-06-08 09:00 EDT", "=1+1@x.org": "interest sent x"}
    write_outbox_record(tmp_path, "esp-2020", {"OH:old": "selected sent 2020-06-08 09:00 EDT"})
    write_outbox_record(tmp_path, "2021", {"TX:gone": "late sent 2021-06-08 09:00 EDT"})
    written = write_outbox_record(tmp_path, "2021", ours)
    assert "'=1+1@x.org" in written.read_text()  # safe to open in a spreadsheet
    assert read_outbox_record(tmp_path, "2021") == ours
    assert read_outbox_record(tmp_path, "esp-2020") == {"OH:old": "selected sent 2020-06-08 09:00 EDT"}


def test_a_backup_from_before_the_purge_is_refused_and_one_past_the_period_says_the_purge_is_due(
    backend, tmp_path, capfd
):
    """A restore must not bring back what the retention purge removed: refused (with --replace too, nothing
    changed) when the store records the purge and the backup does not; a store with no purge record (a lost one)
    takes it, and the restore says the purge is due; a backup taken after the purge restores as usual."""
    config, path = make_config(tmp_path, 25)
    engine = open_store(config.database_url)
    record_selection(engine, config.cohort_id, decisions_frame(), "in", "cfg", provisional=False)
    before_purge = tmp_path / "before-purge.sqlite"
    assert main(["backup", "--config", str(path), "--to", str(before_purge)]) == 0
    capfd.readouterr()
    restore = ["restore", "--config", str(path), "--from", str(before_purge), "--replace"]
    assert main(restore) == 0  # the course started in 2021: its 18 months have passed, and nothing is purged
    assert "so its applicant data is due to be purged: run `cohort-select purge --apply`" in capfd.readouterr().out

    assert main(["purge", "--config", str(path), "--as-of", "2023-06-09T09:00:00-04:00", "--apply"]) == 0
    capfd.readouterr()
    with engine.connect() as conn:
        before = [dict(r) for r in conn.execute(sa.select(actions_table).order_by(actions_table.c.id)).mappings()]
    held = _store_summary(config)
    for command in (restore, restore[:-1]):
        assert main(command) == EXIT_STAFF_ERROR
        lines = capfd.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "records that cohort 2021's applicant data was purged under retention" in lines[0]
        with engine.connect() as conn:
            after = [dict(r) for r in conn.execute(sa.select(actions_table).order_by(actions_table.c.id)).mappings()]
        assert after == before and _store_summary(config) == held

    after_purge = tmp_path / "after-purge.sqlite"
    assert main(["backup", "--config", str(path), "--to", str(after_purge)]) == 0
    assert main(["restore", "--config", str(path), "--from", str(after_purge), "--replace"]) == 0
    assert "due to be purged" not in capfd.readouterr().out
