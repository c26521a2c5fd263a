"""The live Google Sheet path: SheetSource through a real gspread client against a local Sheets API server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.generate import HEADERS, example_rows, generate_rows, iter_sheet_values
from schemas.columns import Col
from schemas.config import load_config
from tasks.normalize import MissingQuestionError, normalize
from tasks.sheets import RetryingHTTPClient, SourceError
from tasks.sources import SheetSource, values_to_frame
from tests.support.paths import CONFIG_PATH
from tests.support.sheets import FakeSheetsServer, client_for

CONFIG = load_config(CONFIG_PATH)
KEY = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
TAB = "Form Responses 1"
WHY = HEADERS.index("Why does your local want to build an ESP mentoring program?")
COMMIT = HEADERS.index("Can your team commit to the 9-week course schedule?")


@pytest.fixture(scope="module")
def sheets_server() -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer() as server:
        yield server


@pytest.fixture
def server(sheets_server: FakeSheetsServer) -> FakeSheetsServer:
    """The module's server with no queued failures and no recorded requests."""
    sheets_server.reset()
    return sheets_server


@pytest.fixture
def client(server: FakeSheetsServer):
    return client_for(server)


def serve(server: FakeSheetsServer, values: list[list[str]], tab: str = TAB) -> None:
    server.add_spreadsheet(KEY, {tab: values, "Decisions": []}, title="ESP 2021 (Responses)")
    server.clear_requests()


def read(client, tab: str = TAB, key: str = KEY) -> list[list[str]]:
    return SheetSource(key, tab, client).read_values()


def ragged_example_rows() -> list[list[str]]:
    """The bundled example with optional last answers left blank, so the API omits those trailing cells."""
    rows = [list(row) for row in example_rows()]
    for number, row in enumerate(rows):
        if number % 3 == 0:
            row[WHY] = ""
        if number % 9 == 0:
            row[COMMIT] = ""
    return rows


# ---------------------------------------------------------------------------- (a) ragged rows


def test_rows_without_trailing_cells_are_padded_and_keep_sheet_row_numbers(server, client):
    rows = ragged_example_rows()
    served = list(iter_sheet_values(rows))
    assert sum(len(row) < len(HEADERS) for row in served[1:]) >= len(rows) // 3, "the fixture must be ragged"
    serve(server, served)

    values = read(client)

    assert values == served, "the API's ragged rows are returned as they come, header first"
    raw = values_to_frame(values)
    assert list(raw.columns) == [Col.SOURCE_ROW, *HEADERS]
    assert raw[list(HEADERS)].to_numpy().tolist() == rows, "padding restores every blank trailing answer"
    assert raw[Col.SOURCE_ROW].tolist() == list(range(2, len(rows) + 2))

    frame = normalize(raw, CONFIG)
    assert len(frame) == len(rows) == 60
    assert frame[Col.SOURCE_ROW].tolist() == list(range(2, len(rows) + 2))
    blank_why = frame.loc[frame[Col.SOURCE_ROW] == 2, "why_statement"].item()
    assert blank_why == ""


def test_a_staff_column_right_of_the_questions_is_padded_for_every_row(server, client):
    rows = example_rows()[:5]
    served = [[*HEADERS, "Staff notes"], *rows[:2], [*rows[2], "call back"], *rows[3:]]
    serve(server, served)

    raw = values_to_frame(read(client))

    assert raw["Staff notes"].tolist() == ["", "", "call back", "", ""]
    assert len(normalize(raw, CONFIG)) == 5


# ---------------------------------------------------------------------------- (b) blank rows


def test_blank_rows_are_skipped_and_later_rows_keep_their_true_row_numbers(server, client):
    rows = example_rows()[:4]
    served = [list(HEADERS), rows[0], rows[1], [], rows[2], ["", "   "], rows[3], [], [], []]
    serve(server, served)

    values = read(client)

    assert values[-1] == rows[3], "the API leaves trailing empty rows out"
    raw = values_to_frame(values)
    assert raw[Col.SOURCE_ROW].tolist() == [2, 3, 5, 7]
    frame = normalize(raw, CONFIG)
    assert frame[Col.SOURCE_ROW].tolist() == [2, 3, 5, 7]
    assert frame["lead_name"].tolist() == [row[HEADERS.index("Team lead name")] for row in rows]


def test_trailing_empty_rows_in_an_explicit_range_answer_are_skipped():
    """Given an answer that still carries trailing `[]` rows (an explicit A1 range does), they are dropped too."""
    rows = example_rows()[:2]
    raw = values_to_frame([list(HEADERS), rows[0], [], rows[1], [], []])
    assert raw[Col.SOURCE_ROW].tolist() == [2, 4]


def test_a_sheet_with_only_the_header_gives_no_responses(server, client):
    serve(server, [list(HEADERS)])
    raw = values_to_frame(read(client))
    assert raw.empty
    assert normalize(raw, CONFIG).empty


def test_an_empty_worksheet_has_no_values_key_and_is_refused_as_empty(server, client):
    serve(server, [])
    assert read(client) == []
    with pytest.raises(SourceError, match="no header row"):
        values_to_frame([])


# ---------------------------------------------------------------------------- (c) renamed question


def test_a_missing_mapped_question_is_named(server, client):
    gone = HEADERS.index("Team lead email")
    served = [[cell for i, cell in enumerate(row) if i != gone] for row in iter_sheet_values(example_rows()[:3])]
    serve(server, served)

    raw = values_to_frame(read(client))

    with pytest.raises(MissingQuestionError, match="'Team lead email' \\(for lead_email\\)"):
        normalize(raw, CONFIG)


# ---------------------------------------------------------------------------- (d) (e) retries


@pytest.mark.parametrize("status", [429, 503])
def test_a_transient_error_is_retried_and_the_read_succeeds(server, client, status):
    rows = example_rows()[:3]
    serve(server, list(iter_sheet_values(rows)))
    server.fail_next(status)

    values = read(client)

    assert values[1:] == rows
    assert server.pending_failures == 0
    first, second = server.requests[:2]
    assert first == second, "the refused request is sent again"


def test_a_429_then_a_503_on_the_values_read_are_both_retried(server, client):
    rows = example_rows()[:3]
    serve(server, list(iter_sheet_values(rows)))
    unfailed = len(server.requests)
    read(client)
    normal = len(server.requests) - unfailed
    server.clear_requests()

    server.fail_next(429)
    server.fail_next(503)
    values = read(client)

    assert values[1:] == rows
    assert len(server.requests) == normal + 2


def test_persistent_server_errors_end_in_a_source_error_after_bounded_attempts(server, client):
    serve(server, list(iter_sheet_values(example_rows()[:3])))
    server.fail_next(500, count=RetryingHTTPClient.attempts + 3)

    with pytest.raises(SourceError, match=r"refused the read \(500\): Internal error encountered") as caught:
        read(client)

    assert type(caught.value) is SourceError
    assert caught.value.__suppress_context__, "no gspread traceback chained onto the message"
    assert len(server.requests) == RetryingHTTPClient.attempts
    server.reset()


def test_an_unreachable_api_ends_in_a_source_error():
    with FakeSheetsServer() as gone:
        client = client_for(gone)
    with pytest.raises(SourceError, match="did not answer: ConnectionError"):
        read(client)


# ---------------------------------------------------------------------------- (f) not found


def test_an_unknown_spreadsheet_key_says_to_share_it_with_the_service_account(server, client):
    with pytest.raises(SourceError, match="not shared with the service account") as caught:
        read(client, key="no-such-spreadsheet")
    assert "no-such-spreadsheet" in str(caught.value)
    assert len(server.requests) == 1, "a 404 is not retried"


def test_a_spreadsheet_not_shared_with_the_service_account_is_a_source_error(server, client):
    serve(server, [list(HEADERS)])
    server.fail_next(403)
    with pytest.raises(SourceError, match="not shared with the service account"):
        read(client)


def test_an_unknown_worksheet_is_named(server, client):
    serve(server, [list(HEADERS)])
    with pytest.raises(SourceError, match="no worksheet named 'Form Responses 2'"):
        read(client, tab="Form Responses 2")
    assert not any("/values/" in request.path for request in server.requests)


def test_a_read_leaves_the_shared_clients_timeout_as_it_was(server, client):
    """The client is shared with the Overrides read and the write-back, which keep their own timeout."""
    serve(server, [list(HEADERS)])
    assert SheetSource(KEY, TAB, client, timeout=5.0).read_values() == [list(HEADERS)]
    assert client.http_client.timeout is None


def test_a_worksheet_title_with_an_apostrophe_is_read(server, client):
    rows = example_rows()[:2]
    serve(server, list(iter_sheet_values(rows)), tab="Dana's responses")
    assert read(client, tab="Dana's responses")[1:] == rows


# ---------------------------------------------------------------------------- (g) request count


def _read_and_record(server: FakeSheetsServer, client, rows: int) -> list[tuple[str, str]]:
    serve(server, list(iter_sheet_values(generate_rows(rows, seed=7))))
    values = read(client)
    assert len(values) == rows + 1
    assert values_to_frame(values)[Col.SOURCE_ROW].iloc[-1] == rows + 1
    return [(request.method, request.path) for request in server.requests]


def test_a_read_never_makes_per_row_calls(server, client):
    small = _read_and_record(server, client, 60)
    large = _read_and_record(server, client, 5000)

    assert small == large, "the same requests whatever the row count"
    assert all(method == "GET" for method, _ in small)
    values_reads = [path for _, path in small if "/values/" in path]
    assert values_reads == [f"/v4/spreadsheets/{KEY}/values/%27Form%20Responses%201%27"]
    assert len(small) == 2


@pytest.mark.parametrize("rows", [60, 5000])
def test_a_read_is_one_metadata_request_and_one_values_request(server, client, rows):
    requests = _read_and_record(server, client, rows)
    assert requests == [
        ("GET", f"/v4/spreadsheets/{KEY}"),
        ("GET", f"/v4/spreadsheets/{KEY}/values/%27Form%20Responses%201%27"),
    ]
