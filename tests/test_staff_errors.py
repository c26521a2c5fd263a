"""Problems staff can fix are one message, exit 2, and nothing written: output paths, odd headers, a damaged
store, a bad SMTP_PORT, and no traceback in the command's output or the Prefect run's logs."""

from __future__ import annotations

import datetime as dt

import pytest

from examples.generate import HEADERS
from flows.cli import EXIT_STAFF_ERROR, main
from flows.select_cohort import select_cohort
from schemas.columns import Col, Status
from tasks.cutoff import DeadlineNotPassedError, check_deadline_passed
from tasks.local_time import MomentError, read_moment
from tasks.normalize import normalize
from tasks.smtp import SmtpSettingsError, smtp_settings
from tasks.sources import values_to_frame
from tasks.store import StoreError, latest_selection, open_store, selection_history
from tasks.validate import validate
from tests.support.configs import make_config
from tests.support.prefect_server import run_logs_now
from tests.support.rows import GOOD_ROW, numbered_team, row
from tests.support.selection import record

AFTER = "2021-06-08T09:00:00-04:00"


def _one_message(capfd, code: int, *expected: str) -> str:
    printed = capfd.readouterr()
    assert code == EXIT_STAFF_ERROR, printed.err[-1500:]
    assert "Traceback" not in printed.err + printed.out
    for words in expected:
        assert words in printed.err
    return printed.err


@pytest.mark.parametrize("command", ["select", "notify", "simulate", "promote", "intake"])
def test_out_pointing_at_a_file_is_one_message_and_records_nothing(prefect_server, tmp_path, capfd, command):
    config, path = make_config(tmp_path, 25)
    if command != "select":
        assert main(["select", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "sel")]) == 0
        capfd.readouterr()
    engine = open_store(config.database_url)
    before = len(selection_history(engine, config.cohort_id))
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("staff notes\n")
    args = {
        "select": ["--as-of", AFTER],
        "notify": ["--as-of", AFTER],
        "simulate": ["--capacity", "15,20", "--max-per-state", "2"],
        "promote": ["--as-of", AFTER],
        "intake": [],
    }[command]
    code = main([command, "--config", str(path), *args, "--out", str(a_file)])
    _one_message(capfd, code, f"`out_dir` (--out on the command line) {a_file} is a file, not a folder")
    assert a_file.read_text() == "staff notes\n"
    assert len(selection_history(engine, config.cohort_id)) == before  # select checked before recording
    nested = a_file / "sub"
    code = main([command, "--config", str(path), *args, "--out", str(nested)])
    _one_message(capfd, code, f"lies under {a_file}, which is a file")


def test_audit_to_a_folder_or_under_a_file_is_one_message(prefect_server, tmp_path, capfd):
    config, path = make_config(tmp_path, 25)
    record(config, [numbered_team(1)])
    _one_message(capfd, main(["audit", "--config", str(path), "--out", str(tmp_path)]), "is a folder")
    (tmp_path / "f").write_text("x")
    _one_message(capfd, main(["audit", "--config", str(path), "--out", str(tmp_path / "f" / "a.csv")]), "a file")


def _frame(values, config):
    return validate(normalize(values_to_frame(values, config.columns), config), config)


def test_a_column_titled_like_a_canonical_column_is_read_as_an_answer(config):
    headers = [*HEADERS, "source_row", "status"]
    frame = _frame([headers, [*row(), "99", "selected"]], config)
    assert frame[Col.SOURCE_ROW].tolist() == [2]
    assert frame[Col.STATUS].tolist() == [Status.VALID]


def test_titles_with_non_breaking_or_repeated_spaces_or_other_case_still_match(config):
    odd = [t.replace(" ", "\u00a0", 1) if i % 2 else t.upper().replace(" ", "  ") for i, t in enumerate(HEADERS)]
    frame = _frame([odd, row()], config)
    assert frame[Col.STATUS].tolist() == [Status.VALID]
    assert frame[Col.LOCAL_NAME].tolist() == [GOOD_ROW["Local Association name"]]


def test_a_blank_first_row_or_a_banner_row_above_the_header_keeps_sheet_row_numbers(config):
    blank = _frame([[""] * len(HEADERS), list(HEADERS), row()], config)
    assert blank[Col.SOURCE_ROW].tolist() == [3] and blank[Col.STATUS].tolist() == [Status.VALID]
    later = row(Timestamp="6/2/2021 9:00:00")
    banner = _frame([["ESP peer mentoring: 2021 applications"], list(HEADERS), row(), later], config)
    assert banner[Col.SOURCE_ROW].tolist() == [3, 4]
    repeated = _frame([list(HEADERS), row(), list(HEADERS), later], config)
    assert repeated[Col.SOURCE_ROW].tolist() == [2, 4]  # the pasted header is not a response


@pytest.mark.sqlite_only(
    "a damaged SQLite file; a PostgreSQL server keeps its own files: its failures as one message are "
    "tests/test_faults.py test_postgres_* and tests/test_store_backends.py"
)
def test_a_damaged_page_in_the_state_store_is_one_message(prefect_server, tmp_path, capfd):
    config, path = make_config(tmp_path, 25)
    engine = record(config, [numbered_team(i, s) for i, s in enumerate(["OH", "TX", "IL", "CA"] * 30, start=1)])
    engine.dispose()
    store = tmp_path / "state.sqlite"
    data = bytearray(store.read_bytes())
    for page in range(3, len(data) // 4096):  # every page past the schema: the decisions' rows
        data[page * 4096 : page * 4096 + 100] = b"\xff" * 100
    store.write_bytes(bytes(data))
    for extra in tmp_path.glob("state.sqlite-*"):
        extra.unlink()
    with pytest.raises(StoreError, match=r"is damaged .*malformed.*Restore it from a backup"):
        latest_selection(open_store(config.database_url), config.cohort_id)
    code = main(["notify", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "n")])
    _one_message(capfd, code, "is damaged")


@pytest.mark.parametrize("port", ["smtp", "0", "70000", "25x"])
def test_a_bad_smtp_port_names_the_variable(tmp_path, monkeypatch, port):
    config, _ = make_config(tmp_path, 25)
    monkeypatch.setenv("SMTP_PORT", port)
    with pytest.raises(SmtpSettingsError, match=f"SMTP_PORT is '{port}', not a port number"):
        smtp_settings(config)


def test_a_staff_error_in_a_flow_prints_one_message_and_no_traceback(prefect_server, tmp_path, capfd):
    _, path = make_config(tmp_path, 25)
    early = (dt.datetime.fromisoformat(AFTER) - dt.timedelta(days=7)).isoformat()
    err = _one_message(capfd, main(["select", "--config", str(path), "--as-of", early, "--out", str(tmp_path / "s")]))
    assert err.count("the deadline has not passed") == 1


EARLY = "2021-06-07 09:59"  # a minute before the bundled cohort's deadline, on its clock


def _failed_run(path, out, as_of: str):
    """A selection run as the Prefect UI starts one (the flow itself): its final state and its log lines."""
    state = select_cohort(config_path=str(path), out_dir=str(out), as_of=as_of, return_state=True)
    assert state.is_failed(), state
    return state, run_logs_now(state.state_details.flow_run_id)


def test_a_run_stopped_by_a_staff_error_ends_failed_with_its_sentence_once_and_no_traceback(
    prefect_server, tmp_path, capfd
):
    """Before the deadline without `preview`: the state message is the sentence itself (not "Flow run encountered
    an exception: …"), the run's logs hold it once (not the task's failure, the flow's, each final state) and no
    traceback; its words fit the UI's form and the command line. A command run first, which prints the sentence
    itself and logs none, leaves the runs after it as they are."""
    config, path = make_config(tmp_path, 25)
    with pytest.raises(DeadlineNotPassedError) as raised:
        check_deadline_passed(config, read_moment(EARLY, config.timezone), preview=False)
    sentence = str(raised.value)
    assert sentence.endswith("turn on `preview` (--preview on the command line) for a provisional selection")
    assert "Use --preview" not in sentence and ". " not in sentence

    code = main(["select", "--config", str(path), "--as-of", EARLY, "--out", str(tmp_path / "cli")])
    assert _one_message(capfd, code).count(sentence) == 1

    state, logs = _failed_run(path, tmp_path / "ui", EARLY)
    assert state.message == sentence
    assert [line for line in logs if "deadline" in line] == [sentence]
    assert not any("Traceback" in line or "DeadlineNotPassedError" in line for line in logs), logs
    assert any(line.startswith("Running as of 2021-06-07 09:59 EDT") for line in logs)
    assert not (tmp_path / "ui").exists() or not any((tmp_path / "ui").iterdir())


def test_a_moment_that_cannot_be_read_fails_the_run_naming_the_parameter(prefect_server, tmp_path, capfd):
    config, path = make_config(tmp_path, 25)
    with pytest.raises(MomentError) as raised:
        read_moment("8 June 9am", config.timezone)
    sentence = str(raised.value)
    assert sentence.startswith("`as_of` (--as-of on the command line) '8 June 9am' is not a date and time")
    state, logs = _failed_run(path, tmp_path / "ui", "8 June 9am")
    assert state.message == sentence
    assert [line for line in logs if "is not a date and time" in line] == [sentence]
    assert not any("Traceback" in line for line in logs)
    code = main(["select", "--config", str(path), "--as-of", "8 June 9am", "--out", str(tmp_path / "cli")])
    assert _one_message(capfd, code).count(sentence) == 1
    code = main(["confirm", "--config", str(path), "--team", "row:2", "--reason", "x", "--as-of", "8 June 9am"])
    assert _one_message(capfd, code).count(sentence) == 1  # a staff action reads --as-of the same way
