"""Decisions written back to the spreadsheet through gspread, against the local Sheets API server."""

from __future__ import annotations

import pytest

from examples.generate import HEADERS
from tasks.sheets import SourceError
from tasks.sources import SheetSource
from tasks.writeback import DECISIONS_TITLE, write_decisions_to_sheet
from tests.support.rows import named_team
from tests.support.selection import sheet_decisions
from tests.support.sheets import FakeSheetsServer, client_for

KEY = "1WriteBackSpreadsheetKey0123456789"


@pytest.fixture(scope="module")
def server():
    with FakeSheetsServer() as running:
        yield running


@pytest.fixture
def client(server):
    server.reset()
    return client_for(server)


def test_decisions_tab_is_created_and_written_raw(server, client, config):
    server.add_spreadsheet(KEY, {"Form Responses 1": [list(HEADERS)]})
    decisions = sheet_decisions(
        config, named_team('=HYPERLINK("http://x","click")', "NY", "A B"), named_team("B EA", "TX", "C D")
    )
    made = write_decisions_to_sheet(client, KEY, decisions)
    assert made == 3  # metadata, add the worksheet, one values batch update
    assert DECISIONS_TITLE in server.sheet_titles(KEY)
    written = server.values(KEY, DECISIONS_TITLE)
    assert written[0][:5] == ["source_row", "status", "rank", "selection_rank", "waitlist_position"]
    assert written[1][written[0].index("local_name")] == '=HYPERLINK("http://x","click")'  # text, not prefixed
    bodies = [r.body for r in server.requests if r.path.endswith("/values:batchUpdate")]
    assert [b["valueInputOption"] for b in bodies] == ["RAW"]


def test_second_write_replaces_rows_and_costs_two_requests(server, client, config):
    server.add_spreadsheet(KEY, {"Form Responses 1": [list(HEADERS)]})
    write_decisions_to_sheet(
        client, KEY, sheet_decisions(config, named_team("A EA", "NY", "A B"), named_team("B EA", "TX", "C D"))
    )
    server.clear_requests()
    made = write_decisions_to_sheet(client, KEY, sheet_decisions(config, named_team("C EA", "OH", "E F")))
    assert made == 2
    written = [row for row in server.values(KEY, DECISIONS_TITLE) if any(row)]
    assert len(written) == 2  # header and the one decision; the earlier second row is blanked
    assert written[1][written[0].index("local_name")] == "C EA"


def test_read_plus_write_back_is_four_requests(server, client, config):
    server.add_spreadsheet(KEY, {"Form Responses 1": [list(HEADERS)], DECISIONS_TITLE: [["old"]]})
    SheetSource(KEY, "Form Responses 1", client).read_values()
    write_decisions_to_sheet(client, KEY, sheet_decisions(config, named_team("A EA", "NY", "A B")))
    assert len(server.requests) == 4


def test_unwritable_sheet_is_a_clear_error(server, client, config):
    server.add_spreadsheet(KEY, {"Form Responses 1": [list(HEADERS)]})
    server.fail_next(403)
    with pytest.raises(SourceError, match="share it with the service account as Editor"):
        write_decisions_to_sheet(client, KEY, sheet_decisions(config, named_team("A EA", "NY", "A B")))
