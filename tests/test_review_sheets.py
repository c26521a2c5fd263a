"""The review spreadsheet of a Google Sheet call, against the local Sheets API server: one worksheet per reviewer
made with one batchUpdate (cells, protected ranges, dropdowns as the API takes them), answers as text, a second
write after a late change that keeps what reviewers wrote and each worksheet's id, and collection from the
worksheets with every bad cell reported by its address."""

from __future__ import annotations

import email
import email.policy

import pytest

import tasks.sheets
from examples.generate import HEADERS, example_rows
from schemas.review import BadCell, ProblemCol
from tasks.review_collect import collect_tables
from tasks.review_sheets import sheet_tables, worksheet_ids, write_review_sheets
from tests.support.review import AFTER, ROSTER, assignments, review_cohort, review_config, teams
from tests.support.sheets import FakeSheetsServer, client_for

KEY = "review-sheet-0123456789"
HEADER = ["team_key", "local_name", "state", "why_statement", "member_emails", "vision", "readiness", "comment"]


@pytest.fixture
def server():
    with FakeSheetsServer() as fake:
        fake.add_spreadsheet(KEY, {"About": [["Review round 2021"]]}, title="ESP reviews")
        yield fake


def _cells(row: list[str], start: int, end: int) -> list[str]:
    """A stored row's cells start..end (a row is stored without its trailing empty cells)."""
    return (row + [""] * end)[start:end]


def _batch_updates(server: FakeSheetsServer) -> list[dict]:
    return [r.body for r in server.requests if r.method == "POST" and r.path.endswith(":batchUpdate")]


def test_one_batch_update_makes_each_reviewers_protected_worksheet_with_dropdowns(server):
    review = review_config()
    pairs = [("CA:fresno", "ana@x.org"), ("NY:troy", "ana@x.org"), ("KY:kingston", "bo@x.org")]
    client = client_for(server)
    made = write_review_sheets(client, KEY, assignments(pairs), teams(), review)
    assert made == 2  # a metadata read and the batchUpdate: no worksheet to keep anything from yet
    assert [r.method for r in server.requests] == ["GET", "POST"] and len(_batch_updates(server)) == 1
    assert server.sheet_titles(KEY) == ["About", "ana@x.org", "bo@x.org"]

    ana = server.sheet(KEY, "ana@x.org")
    assert ana.rows[0] == HEADER
    assert ana.rows[1][:5] == ["CA:fresno", "Fresno EA", "CA", '=HYPERLINK("x")', "a@f.org; b@f.org"]
    assert ana.rows[2][0] == "NY:troy" and (ana.row_count, ana.column_count, ana.frozen_rows) == (3, 8, 1)
    kinds = [next(iter(r)) for r in _batch_updates(server)[0]["requests"]]
    assert "formulaValue" not in str(_batch_updates(server)[0])  # every answer is a string value

    whole, own = ana.protected
    scores = {"sheetId": ana.sheet_id, "startRowIndex": 1, "endRowIndex": 3, "startColumnIndex": 5, "endColumnIndex": 8}
    assert whole["range"] == {"sheetId": ana.sheet_id} and whole["unprotectedRanges"] == [scores]
    assert whole["editors"] == {"users": []}
    assert own["range"] == scores and own["editors"] == {"users": ["ana@x.org"]}

    vision = ana.validations[(1, 5)]["condition"]
    assert vision == {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": str(v)} for v in range(1, 6)]}
    readiness = ana.validations[(2, 6)]["condition"]
    assert [v["userEnteredValue"] for v in readiness["values"]][:3] == ["0", "0.5", "1"]
    assert all(ana.validations[(1, c)]["strict"] for c in (5, 6))
    assert (0, 5) not in ana.validations and (1, 7) not in ana.validations  # not the header, not the comment
    assert kinds.count("addSheet") == 2 and kinds.count("setDataValidation") == 4


def test_a_second_write_keeps_what_reviewers_wrote_and_each_worksheets_id(server):
    review = review_config()
    client = client_for(server)
    first = [("CA:fresno", "ana@x.org"), ("NY:troy", "ana@x.org"), ("KY:kingston", "bo@x.org")]
    write_review_sheets(client, KEY, assignments(first), teams(), review)
    ids = worksheet_ids(client, KEY)
    ana = server.sheet(KEY, "ana@x.org")
    ana.set(1, 5, "4")  # the reviewer scores Fresno and comments on Troy
    ana.set(1, 6, "3.5")
    ana.set(2, 7, "Strong plan")
    server.clear_requests()

    later = [("CA:fresno", "ana@x.org"), ("KY:kingston", "ana@x.org"), ("NY:troy", "bo@x.org")]  # a late change
    assert write_review_sheets(client, KEY, assignments(later), teams(), review) == 3
    assert len(_batch_updates(server)) == 1
    assert worksheet_ids(client, KEY) == ids
    ana = server.sheet(KEY, "ana@x.org")
    assert [row[0] for row in ana.rows[1:]] == ["CA:fresno", "KY:kingston"]
    assert _cells(ana.rows[1], 5, 8) == ["4", "3.5", ""]  # kept for the team ana still has
    assert _cells(ana.rows[2], 5, 8) == ["", "", ""]  # Troy's comment left with Troy
    assert len(ana.protected) == 2  # the old protections replaced, not piled up
    assert server.sheet(KEY, "bo@x.org").rows[1][0] == "NY:troy"


def test_collection_reads_the_worksheets_and_names_each_bad_cell(server):
    review = review_config()
    client = client_for(server)
    pairs = [("CA:fresno", "ana@x.org"), ("NY:troy", "ana@x.org"), ("KY:kingston", "bo@x.org")]
    assigned = assignments(pairs)
    write_review_sheets(client, KEY, assigned, teams(), review)
    ana, bo = server.sheet(KEY, "ana@x.org"), server.sheet(KEY, "bo@x.org")
    ana.set(1, 5, "4")
    ana.set(1, 6, "3.5")
    ana.set(2, 5, "great")  # text in a score cell
    ana.set(2, 6, "11")  # outside 0..10
    bo.set(1, 3, "edited")  # an answer changed (by the owner: the range is protected)
    bo.set(1, 5, "2")
    bo.set(1, 6, "7")

    found = collect_tables(sheet_tables(client, KEY, ["ana@x.org", "bo@x.org"]), assigned, teams(), review)
    problems = found.problems.set_index(ProblemCol.CELL)
    assert problems.loc["F3", ProblemCol.PROBLEM] == BadCell.NOT_A_NUMBER
    assert problems.loc["G3", ProblemCol.PROBLEM] == BadCell.OUT_OF_SCALE
    assert problems.loc["D2", ProblemCol.PROBLEM] == BadCell.EDITED_ANSWER
    assert set(found.problems[ProblemCol.FILE]) == {"ana@x.org", "bo@x.org"}
    progress = found.reviewer_progress.set_index("reviewer_email")
    assert progress.loc["ana@x.org", "scored"] == 1 and progress.loc["bo@x.org", "scored"] == 1


RESPONSES_KEY = "1ReviewRoundResponsesSheetKey0123456789"
TAB = "Form Responses 1"


def test_a_sheet_call_assigns_collects_and_links_each_reviewer_to_their_worksheet(
    prefect_server, server, tmp_path, monkeypatch
):
    """The flows end to end on a Google Sheet call: review-assign writes the 8 worksheets, the reviewers score in
    them, review-collect reads 90 of 90, and each assignment notice links the reviewer's own worksheet."""
    from flows.review import review_assign, review_collect
    from flows.send_notices import send_notices

    server.add_spreadsheet(RESPONSES_KEY, {TAB: [list(HEADERS), *example_rows()]})
    monkeypatch.setenv("COHORT_TEST_SHEETS_KEY", "{}")
    monkeypatch.setattr(tasks.sheets, "service_account_client", lambda _key: client_for(server))
    credentials = {"env": "COHORT_TEST_SHEETS_KEY"}
    source = {"kind": "google_sheet", "key": RESPONSES_KEY, "worksheet": TAB, "credentials": credentials}
    config = review_cohort(tmp_path, sheets=(source, KEY))

    assigned = review_assign(config_path=config, return_state=True)
    assert assigned.is_completed(), assigned.message
    summary = assigned.result()
    assert summary.worksheets == 8 and summary.files == 0 and not (tmp_path / "review" / "reviewers").exists()
    emails = sorted(address for _, address, *_ in ROSTER)
    assert server.sheet_titles(KEY) == ["About", *emails]

    for address in emails:  # each reviewer picks a score from each dropdown
        sheet = server.sheet(KEY, address)
        for row in range(1, sheet.row_count):
            sheet.set(row, 4, "4")  # vision (the 2021 cohort shows one answer: why_statement)
            sheet.set(row, 5, "2.5")  # readiness
    collected = review_collect(config_path=config, return_state=True)
    assert collected.is_completed(), collected.message
    done = collected.result()
    assert done.complete == done.assigned == 90 and done.bad_cells == 0

    outbox = tmp_path / "notices"
    state = send_notices(
        config_path=config, out_dir=str(outbox), kind="review-assignments", as_of=AFTER, return_state=True
    )
    assert state.is_completed(), state.message
    ids = worksheet_ids(client_for(server), KEY)
    files = sorted((outbox / "outbox").glob("*.eml"))
    messages = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default) for path in files]
    assert len(messages) == 8
    for message in messages:
        text = message.get_body(("plain",)).get_content()
        link = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid={ids[message['To']]}"
        assert f"Your review sheet: {link}" in text and not list(message.iter_attachments())
