"""The bad-input corpus (tests/corpus/, rebuilt by `python -m tests.support.corpus`) through intake, select and
the outputs.

Every file either is refused with a clear staff error, or runs the whole way, where every answered row ends with
exactly one status (a reason when it is not accepted) and no answer is injected into the decisions CSV, the
intake CSV, the HTML report, a notice's headers or the Decisions sheet. Big cases are made at run time.
"""

from __future__ import annotations

import csv
import email
import email.policy
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from examples.generate import HEADERS
from schemas.columns import Col, Derived, Status
from tasks.decisions import (
    FINAL_STATUSES,
    decisions_frame,
    summarize_selection,
    write_csv,
    write_decisions,
)
from tasks.normalize import MissingQuestionError
from tasks.notices import Notice, plan_notices
from tasks.pipeline import INTAKE, SELECTION, PipelineInputs, run_pipeline
from tasks.report import write_report
from tasks.sources import FileSource, SourceError, values_to_frame
from tasks.store import open_store, record_selection
from tasks.validate import is_valid_address
from tasks.writeback import CELL_LIMIT, DECISIONS_TITLE, decision_values, write_decisions_to_sheet
from tests.support.configs import make_config
from tests.support.corpus import DATES, FORMULAS, answers, line
from tests.support.injection import FORMULA_STARTS, MESSAGE_HEADERS, REPORT_ATTRIBUTES, REPORT_TAGS, ReportParser
from tests.support.moments import AFTER_DEADLINE
from tests.support.paths import CONFIG_PATH, CORPUS_DIR
from tests.support.sheets import FakeSheetsServer, client_for

MEGABYTE = 1_000_000
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")

# Files a staff member must fix: refused with one message naming the problem.
REFUSED = {
    "invalid_utf8.csv": (SourceError, r"invalid_utf8\.csv is not UTF-8 text: line 3 has a byte \(0xe9\)"),
    "duplicated_headers.csv": (MissingQuestionError, r"the question 'Team lead email' more than once"),
    "missing_headers.csv": (MissingQuestionError, r"no question titled 'State' \(for state\)"),
    "headerless.csv": (MissingQuestionError, r"no question titled 'Timestamp' \(for submitted_at\)"),
}
HANDLED = sorted(p.name for p in CORPUS_DIR.iterdir() if p.suffix in (".csv", ".xlsx") and p.name not in REFUSED)


@dataclass
class Run:
    """One corpus input taken the whole way, with every output it produced."""

    values: list[list[str]]
    decided: pd.DataFrame
    decisions: pd.DataFrame
    out: Path
    notices: list[Notice]

    def status(self, source_row: int) -> str:
        return self.decided.set_index(Col.SOURCE_ROW).loc[source_row, Col.STATUS]

    def reasons(self, source_row: int) -> str:
        return self.decided.set_index(Col.SOURCE_ROW).loc[source_row, Col.REASONS]


def run_values(values: list[list[str]], tmp_path: Path, **config_changes) -> Run:
    """Intake → select → decisions.csv, intake.csv, report.html, the store and planned notices, as the flows do."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config, config_path = make_config(tmp_path, 25, **config_changes)
    validated = run_pipeline(values_to_frame(values), PipelineInputs(config), INTAKE)
    out = tmp_path / "out"
    write_csv(validated, out / "intake.csv")
    decided = run_pipeline(validated, PipelineInputs(config), SELECTION)
    summary = summarize_selection(decided, config, config_path, "in", provisional=False)
    decisions = decisions_frame(decided, config, provisional=False)
    write_decisions(decisions, summary, out)
    write_report(decisions, summary, config, out)
    engine = open_store(config.database_url)
    record_selection(engine, config.cohort, decided, "in", "cfg", provisional=False)
    notices = plan_notices(engine, config, "decisions", AFTER_DEADLINE).notices
    engine.dispose()
    return Run(values, decided, decisions, out, notices)


def run_file(name: str, tmp_path: Path, **config_changes) -> Run:
    return run_values(FileSource(CORPUS_DIR / name).read_values(), tmp_path, **config_changes)


# ---------------------------------------------------------------------------- what every run must satisfy


def check_every_row_has_one_outcome(run: Run) -> None:
    answered = [n for n, cells in enumerate(run.values[1:], start=2) if any(str(c).strip() for c in cells)]
    assert run.decided[Col.SOURCE_ROW].tolist() == answered
    assert run.decided[Col.STATUS].isin(FINAL_STATUSES).all()
    not_accepted = run.decided[Col.STATUS].isin([Status.INVALID, Status.DUPLICATE, Status.LATE])
    assert (run.decided.loc[not_accepted, Col.REASONS] != "").all(), "a row not accepted has no reason"


def check_csv_is_formula_safe(path: Path, rows: int) -> None:
    data = path.read_bytes()
    assert b"\r" not in data, f"{path.name}: a bare carriage return starts a new row in a spreadsheet"
    limit = csv.field_size_limit(16 * MEGABYTE)  # a spreadsheet has no such limit; the csv module does
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            table = list(csv.reader(handle))
    finally:
        csv.field_size_limit(limit)
    assert len(table) == rows + 1
    assert {len(row) for row in table} == {len(table[0])}, f"{path.name}: a row was split"
    risky = [cell for row in table for cell in row if cell.startswith(FORMULA_STARTS)]
    assert not risky, f"{path.name}: cells a spreadsheet would run: {risky[:3]}"


def check_report_is_escaped(run: Run) -> None:
    html = (run.out / "report.html").read_text(encoding="utf-8")
    parser = ReportParser()
    parser.feed(html)
    assert parser.tags <= REPORT_TAGS, f"markup from an answer: {parser.tags - REPORT_TAGS}"
    assert parser.attributes <= REPORT_ATTRIBUTES, f"attributes from an answer: {parser.attributes - REPORT_ATTRIBUTES}"
    cells = set(parser.cells)
    for name in run.decisions[Col.LOCAL_NAME].fillna(""):
        as_read = re.sub("\r\n?", "\n", name)  # HTML parsing turns CR LF and CR into LF
        assert as_read in cells, f"{name[:60]!r} is not shown as text in its own cell"


def check_notice_headers(run: Run) -> None:
    for notice in run.notices:
        if notice.refusal:
            assert not notice.payload
            continue
        assert is_valid_address(notice.to) and (not notice.cc or is_valid_address(notice.cc))
        head = notice.payload.split(b"\r\n\r\n", 1)[0].decode("utf-8")
        names = {ln.split(":", 1)[0].casefold() for ln in head.split("\r\n") if ln and not ln[0].isspace()}
        assert names <= MESSAGE_HEADERS, f"injected headers: {names - MESSAGE_HEADERS}"
        parsed = email.message_from_bytes(notice.payload, policy=email.policy.default)
        assert parsed["To"] == notice.to
        assert (parsed["Cc"] or "") == notice.cc
        assert not any(ch in str(value) for value in parsed.values() for ch in "\r\n\x00")


def check_sheet_values(run: Run) -> None:
    values = decision_values(run.decisions)
    assert all(isinstance(cell, str) and len(cell) <= CELL_LIMIT for row in values for cell in row)
    assert len(values) == len(run.decisions) + 1


def check_run(run: Run) -> None:
    check_every_row_has_one_outcome(run)
    check_csv_is_formula_safe(run.out / "decisions.csv", len(run.decided))
    check_csv_is_formula_safe(run.out / "intake.csv", len(run.decided))
    check_report_is_escaped(run)
    check_notice_headers(run)
    check_sheet_values(run)


# ---------------------------------------------------------------------------- the corpus files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Each corpus file run once for the module: the general checks and the file's own checks share the run."""
    made: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in made:
            made[name] = run_file(name, tmp_path_factory.mktemp(name.replace(".", "-")))
        return made[name]

    return get


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_files_staff_must_fix_are_refused_with_one_clear_message(tmp_path, name):
    error, message = REFUSED[name]
    with pytest.raises(error, match=message) as caught:
        run_file(name, tmp_path)
    assert caught.value.__suppress_context__ or caught.value.__cause__ is None, "no library traceback attached"


@pytest.mark.parametrize("name", HANDLED)
def test_every_other_file_runs_the_whole_way_and_nothing_is_injected(corpus, name):
    check_run(corpus(name))


def test_formulas_in_every_text_field_stay_text(corpus):
    run = corpus("formula_injection.csv")
    for n in range(2, 2 + len(FORMULAS)):
        assert run.status(n) in (Status.SELECTED, Status.WAITLISTED)
    written = pd.read_csv(run.out / "decisions.csv", dtype=str, keep_default_na=False)
    assert written.loc[0, Col.LOCAL_NAME] == "'" + FORMULAS[0] + " 1"
    assert written.loc[5, Col.LEAD_NAME] == "'=1+1 6"  # the leading CR was trimmed; the formula stays text
    intake = pd.read_csv(run.out / "intake.csv", dtype=str, keep_default_na=False)
    assert intake.loc[0, Col.MEMBER_NAMES] == f"'{FORMULAS[0]} 1; Ann Lee\n{FORMULAS[0]}"  # CR became LF, quoted
    hostile = run.reasons(8)
    for reason in ("Timestamp is not a date", "State is not a US state", "Team lead email is not a valid address"):
        assert reason in hostile


def test_forged_addresses_get_reasons_and_their_notices_are_refused(corpus):
    run = corpus("email_injection.csv")
    for n in range(2, 9):
        assert run.status(n) == Status.INVALID
    assert "Team lead email is not a valid address: 'lead1@local1.example.org\\r\\nbcc:" in run.reasons(2)
    assert "Submitter email is not a valid address" in run.reasons(7)
    assert "Team member email is not a valid address" in run.reasons(8)
    assert run.status(9) == Status.SELECTED
    by_row = {n.applicant: n for n in run.notices}
    forged = [n for key, n in by_row.items() if any(f"local {i} " in key for i in range(1, 6))]
    assert len(forged) == 5 and all(n.refusal for n in forged)  # a forged lead address: the notice is refused
    (cc_forged,) = [n for key, n in by_row.items() if "local 6 " in key]
    assert (cc_forged.to, cc_forged.cc, cc_forged.refusal) == ("lead6@local6.example.org", "", "")  # lead only
    sendable = [n for n in run.notices if not n.refusal]
    assert sendable and all("attacker" not in n.to + n.cc for n in sendable)
    assert all(b"attacker" not in n.payload.split(b"\r\n\r\n")[0] for n in sendable)


def test_a_line_break_in_a_subject_from_an_answer_is_taken_out_and_the_notice_goes(tmp_path):
    notices = yaml.safe_load(CONFIG_PATH.read_text())["notices"]
    notices["subjects"]["selected"] = "Selected: {{ team.local_name }}"
    values = [list(HEADERS), line(answers(1, **{"Local Association name": "Local 1\r\nBcc: evil@attacker.example"}))]
    values.append(line(answers(2, **{"Local Association name": "Local 2\u2028Education\x0bAssociation\x85"})))
    run = run_values(values, tmp_path, notices=notices)
    check_run(run)
    assert [n.refusal for n in run.notices] == ["", ""]
    assert [n.subject for n in run.notices] == [
        "Selected: Local 1 Bcc: evil@attacker.example",
        "Selected: Local 2 Education Association",
    ]


def test_nul_bytes_are_removed(corpus):
    run = corpus("nul_bytes.csv")
    assert run.status(2) == Status.SELECTED
    assert run.decided.loc[0, Col.LOCAL_NAME] == "Local 1 Education Association"
    for path in run.out.iterdir():
        assert b"\x00" not in path.read_bytes(), path.name


def test_look_alike_names_are_flagged_for_staff_not_merged(corpus):
    run = corpus("confusables.csv")
    assert (run.decided[Col.STATUS] != Status.DUPLICATE).all()
    flagged = run.decided.set_index(Col.SOURCE_ROW)[Derived.POSSIBLE_DUPLICATE_OF]
    assert flagged.loc[3] != "" and flagged.loc[4] != ""


def test_direction_overrides_are_removed_everywhere(corpus):
    run = corpus("bidi_overrides.csv")
    assert run.decided.loc[0, Col.LOCAL_NAME] == "Local 1 AE"
    texts = [p.read_text(encoding="utf-8") for p in run.out.iterdir()]
    texts += [n.payload.decode("utf-8", errors="replace") for n in run.notices]
    assert not any(BIDI.search(text) for text in texts)


def test_emoji_are_kept_and_an_emoji_address_travels_as_utf8(corpus):
    run = corpus("emoji.csv")
    assert "🍎" in run.decided.loc[0, Col.LOCAL_NAME]
    assert (run.decided[Col.STATUS] == Status.SELECTED).all()
    smiley = next(n for n in run.notices if n.to.startswith("dana😀"))
    assert smiley.payload.decode("utf-8").count("To: dana😀@local3.example.org") == 1


def test_dates_in_other_forms_and_impossible_dates_get_reasons(corpus):
    run = corpus("dates.csv")
    expected = {"3/14/2021 2:30:00": "Timestamp is in the hour that clocks skip when they go forward"}
    for n, (text, what) in enumerate(DATES, start=2):
        if text == "2021-06-01 12:30:00":
            assert run.status(n) == Status.SELECTED, what
            continue
        if text == "11/7/2021 1:30:00":  # the repeated hour, but both readings are after June 7: decided late
            assert run.status(n) == Status.LATE, what
            continue
        assert run.status(n) == Status.INVALID, what
        reason = expected.get(text, "Timestamp is not a date and time the form writes (M/D/YYYY H:MM:SS)")
        assert run.reasons(n).startswith(reason), what
        assert run.reasons(n).endswith(f": {text!r}"), what


def test_negative_and_huge_numbers_are_text_or_get_reasons(corpus):
    run = corpus("numbers.csv")
    for n in range(2, 10):
        assert run.reasons(n).startswith("Timestamp is not a date and time the form writes"), n
    assert run.reasons(10) == "State is not a US state or territory: '-1'"
    assert run.status(11) == Status.SELECTED
    assert run.decided.loc[9, Col.LOCAL_NAME] == "1e308"
    xlsx = corpus("numbers.xlsx")
    assert xlsx.status(2) == Status.SELECTED  # a real date cell
    for n in (3, 4, 5):  # a number where the date should be: -1, 1e308, an Excel serial day
        assert xlsx.reasons(n).startswith("Timestamp is not a date and time the form writes"), n


def test_utf16_and_bom_files_are_decoded(corpus):
    utf16 = corpus("utf16_tab.csv")
    assert utf16.decided.loc[0, Col.LEAD_NAME] == "Zoë Ñúñez"
    assert (utf16.decided[Col.STATUS] == Status.SELECTED).all()
    boms = corpus("boms.csv")
    assert (boms.decided[Col.STATUS] == Status.SELECTED).all()


def test_extra_columns_and_ragged_rows_are_read(corpus):
    run = corpus("extra_columns.csv")
    assert [run.status(n) for n in (2, 3)] == [Status.SELECTED, Status.SELECTED]
    assert "Team lead name is missing" in run.reasons(4)
    unmapped = corpus("duplicated_unmapped_headers.csv")
    assert (unmapped.decided[Col.STATUS] == Status.SELECTED).all()


# ---------------------------------------------------------------------------- made at run time


def test_one_megabyte_cells_in_every_field(tmp_path):
    big = {title: f"{title[:1]}" * MEGABYTE for title in HEADERS}
    big["Team lead email"] = "x" * MEGABYTE + "@local1.example.org"
    why = {"Why does your local want to build an ESP mentoring program?": "w" * MEGABYTE}
    values = [list(HEADERS), line(big), line(answers(2, **why))]
    run = run_values(values, tmp_path)
    check_run(run)
    assert run.status(2) == Status.INVALID
    assert len(run.reasons(2)) < 2_000, "reasons quote a cut-down answer"
    assert run.status(3) == Status.SELECTED
    assert len(pd.read_csv(run.out / "decisions.csv", dtype=str).loc[0, Col.LOCAL_NAME]) == MEGABYTE


def test_a_megabyte_cell_is_cut_to_fit_the_decisions_sheet(tmp_path):
    values = [list(HEADERS), line(answers(1, **{"Local Association name": FORMULAS[0] + "a" * MEGABYTE}))]
    run = run_values(values, tmp_path)
    key = "1CorpusWriteBackKey0123456789"
    with FakeSheetsServer() as server:
        server.add_spreadsheet(key, {"Form Responses 1": [list(HEADERS)]})
        write_decisions_to_sheet(client_for(server), key, run.decisions)
        written = server.values(key, DECISIONS_TITLE)
        bodies = [r.body for r in server.requests if r.path.endswith("/values:batchUpdate")]
    assert [b["valueInputOption"] for b in bodies] == ["RAW"]
    name = written[1][written[0].index(Col.LOCAL_NAME)]
    assert len(name) == CELL_LIMIT and name.startswith(FORMULAS[0])  # RAW: stored as text, not run
    assert name.endswith("whole in decisions.csv]")


def test_fifty_thousand_empty_rows(tmp_path):
    empty = [""] * len(HEADERS)
    values = [list(HEADERS), line(answers(1)), *[empty] * 25_000, line(answers(2)), *[["", " "]] * 25_000]
    values.append(line(answers(3)))
    run = run_values(values, tmp_path)
    check_run(run)
    assert run.decided[Col.SOURCE_ROW].tolist() == [2, 25_003, 50_004]
    assert (run.decided[Col.STATUS] == Status.SELECTED).all()
