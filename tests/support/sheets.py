"""A local stand-in for the Google Sheets API v4, enough for gspread 6.2.1 to read and write a spreadsheet.

`FakeSheetsServer` answers on 127.0.0.1 with the JSON shapes the real API sends (spreadsheet metadata, values
get with trailing empty cells and rows omitted, values batchUpdate/update/clear, spreadsheet batchUpdate with
addSheet/updateSheetProperties/deleteSheet/updateCells/addProtectedRange/deleteProtectedRange/setDataValidation,
values batchGet, Google's error body), keeps sheets in memory, records every request
and can be told to fail the next requests (429, 503, ...). `client_for(server)` is a real `gspread.Client` whose
requests to sheets.googleapis.com and www.googleapis.com are sent to the server instead; production code is
unchanged. Nothing here depends on pytest.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

import gspread
import requests
from google.auth.credentials import AnonymousCredentials
from requests.adapters import HTTPAdapter

from tasks.sheets import RetryingHTTPClient

GOOGLE_HOSTS = ("https://sheets.googleapis.com/", "https://www.googleapis.com/")
DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26
CELL_LIMIT = 50_000  # the real API refuses a write with a longer cell

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_MESSAGES = {
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: (
        "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' "
        "of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'."
    ),
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "The service is currently unavailable.",
}
_PLAIN_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CELL = re.compile(r"([A-Za-z]*)([0-9]*)")
_ROUTE = re.compile(r"/v4/spreadsheets/(?P<key>[^/:]+)(?P<rest>.*)")
_VALUES_ROUTE = re.compile(r"/values/(?P<range>.+?)(?::(?P<verb>clear|append))?")


class RequestRecord(NamedTuple):
    """One request as the server saw it: method, decoded-free raw path, query string and JSON body (or None)."""

    method: str
    path: str
    query: str
    body: Any


class ApiError(Exception):
    """Raised inside a handler: becomes a Google-shaped error response."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or _STATUS_MESSAGES.get(status, HTTPStatus(status).phrase)


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Google's error JSON: {"error": {"code", "message", "status"}}."""
    return {
        "error": {
            "code": status,
            "message": message or _STATUS_MESSAGES.get(status, HTTPStatus(status).phrase),
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


# ---------------------------------------------------------------------------- A1 notation


def column_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_index(letters: str) -> int:
    """A → 0, Z → 25, AA → 26."""
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - ord("A") + 1
    return index - 1


def quote_title(title: str) -> str:
    """A sheet title as the API writes it in a range: quoted (with '' for ') unless it is a plain word."""
    if _PLAIN_TITLE.fullmatch(title) and not re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_range(text: str) -> tuple[str | None, str | None]:
    """`'Form Responses 1'!A1:Z` → ("Form Responses 1", "A1:Z"); an unquoted word may be a title or a range."""
    if text.startswith("'"):
        parts: list[str] = []
        i = 1
        while True:
            j = text.find("'", i)
            if j < 0:
                raise ApiError(400, f"Unable to parse range: {text}")
            if text[j + 1 : j + 2] == "'":
                parts.append(text[i:j] + "'")
                i = j + 2
                continue
            parts.append(text[i:j])
            rest = text[j + 1 :]
            break
        title = "".join(parts)
        if not rest:
            return title, None
        if rest.startswith("!") and len(rest) > 1:
            return title, rest[1:]
        raise ApiError(400, f"Unable to parse range: {text}")
    if "!" in text:
        title, a1 = text.split("!", 1)
        return title, a1
    return text, None


def _cell(text: str, whole: str) -> tuple[int | None, int | None]:
    match = _CELL.fullmatch(text)
    if not match or not text:
        raise ApiError(400, f"Unable to parse range: {whole}")
    letters, digits = match.groups()
    if digits and int(digits) < 1:
        raise ApiError(400, f"Unable to parse range: {whole}")
    return (column_index(letters) if letters else None), (int(digits) - 1 if digits else None)


def parse_a1(a1: str, whole: str) -> tuple[int, int, int | None, int | None]:
    """`B2:D` → (row 1, col 1, last row None = to the end, last col 3), zero-based and inclusive."""
    pieces = a1.split(":")
    if len(pieces) > 2:
        raise ApiError(400, f"Unable to parse range: {whole}")
    start_col, start_row = _cell(pieces[0], whole)
    end_col, end_row = _cell(pieces[1], whole) if len(pieces) == 2 else (start_col, start_row)
    return start_row or 0, start_col or 0, end_row, end_col


# ---------------------------------------------------------------------------- the in-memory spreadsheet


class Sheet:
    """One worksheet: grid size and ragged rows of text (a missing cell is an empty one)."""

    def __init__(self, sheet_id: int, title: str, index: int, rows: list[list[str]], grid: tuple[int, int]) -> None:
        self.sheet_id = sheet_id
        self.title = title
        self.index = index
        self.rows = [list(row) for row in rows]
        self.row_count, self.column_count = grid
        self.frozen_rows = 0
        self.protected: list[dict[str, Any]] = []  # ProtectedRange objects, with their protectedRangeId
        self.validations: dict[tuple[int, int], dict[str, Any]] = {}  # (row, column) -> DataValidationRule

    def properties(self) -> dict[str, Any]:
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.row_count, "columnCount": self.column_count}
            | ({"frozenRowCount": self.frozen_rows} if self.frozen_rows else {}),
        }

    def bounds(self, a1: str | None, whole: str) -> tuple[int, int, int, int]:
        """The range clipped to the grid, zero-based and inclusive; a start outside the grid is an error."""
        if a1 is None:
            return 0, 0, self.row_count - 1, self.column_count - 1
        row0, col0, row1, col1 = parse_a1(a1, whole)
        row1 = self.row_count - 1 if row1 is None else min(row1, self.row_count - 1)
        col1 = self.column_count - 1 if col1 is None else min(col1, self.column_count - 1)
        if row0 >= self.row_count or col0 >= self.column_count:
            raise self.grid_error(row0, col0)
        if row1 < row0 or col1 < col0:
            raise ApiError(400, f"Unable to parse range: {whole}")
        return row0, col0, row1, col1

    def grid_error(self, row: int, col: int) -> ApiError:
        return ApiError(
            400,
            f"Range ({quote_title(self.title)}!{column_letters(col)}{row + 1}) exceeds grid limits. "
            f"Max rows: {self.row_count}, max columns: {self.column_count}",
        )

    def a1(self, row0: int, col0: int, row1: int, col1: int) -> str:
        start = f"{column_letters(col0)}{row0 + 1}"
        end = f"{column_letters(col1)}{row1 + 1}"
        return f"{quote_title(self.title)}!{start}" + ("" if start == end else f":{end}")

    def read(self, row0: int, col0: int, row1: int, col1: int) -> list[list[str]]:
        """The API's answer: trailing empty cells of each row and trailing empty rows left out."""
        values = []
        for row in self.rows[row0 : row1 + 1]:
            cells = list(row[col0 : col1 + 1])
            while cells and cells[-1] == "":
                cells.pop()
            values.append(cells)
        while values and not values[-1]:
            values.pop()
        return values

    def write(self, row0: int, col0: int, values: list[list[Any]]) -> tuple[int, int, int]:
        """Write from (row0, col0); None leaves a cell as it is. Returns (rows, columns, cells) written."""
        height = len(values)
        width = max((len(row) for row in values), default=0)
        if height and width and (row0 + height > self.row_count or col0 + width > self.column_count):
            raise self.grid_error(row0 + height - 1, col0 + width - 1)
        too_long = [value for row in values for value in row if isinstance(value, str) and len(value) > CELL_LIMIT]
        if too_long:
            raise ApiError(
                400, f"Your input contains more than the maximum of {CELL_LIMIT} characters in a single cell."
            )
        cells = 0
        for r, row in enumerate(values):
            for c, value in enumerate(row):
                if value is None:
                    continue
                self.set(row0 + r, col0 + c, cell_text(value))
                cells += 1
        return height, width, cells

    def clear(self, row0: int, col0: int, row1: int, col1: int) -> None:
        for r in range(row0, min(row1 + 1, len(self.rows))):
            row = self.rows[r]
            for c in range(col0, min(col1 + 1, len(row))):
                row[c] = ""

    def set(self, row: int, col: int, text: str) -> None:
        while len(self.rows) <= row:
            self.rows.append([])
        cells = self.rows[row]
        while len(cells) <= col:
            cells.append("")
        cells[col] = text


def cell_text(value: Any) -> str:
    """What the API reads back (FORMATTED_VALUE) for a written JSON value."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Spreadsheet:
    def __init__(self, key: str, title: str, sheets: dict[str, list[list[str]]]) -> None:
        self.key = key
        self.title = title
        self.time_zone = "America/New_York"  # the spreadsheet's setting (File, Settings): its form's timestamps
        self.sheets: list[Sheet] = []
        for title_, rows in sheets.items():
            self.add_sheet(title_, rows)

    def add_sheet(
        self,
        title: str,
        rows: list[list[str]] | None = None,
        sheet_id: int | None = None,
        index: int | None = None,
        grid: tuple[int | None, int | None] = (None, None),
    ) -> Sheet:
        rows = rows or []
        if any(sheet.title.casefold() == title.casefold() for sheet in self.sheets):
            raise ApiError(
                400,
                f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists. '
                "Please enter another name.",
            )
        if sheet_id is None:
            sheet_id = 0 if not self.sheets else max(sheet.sheet_id for sheet in self.sheets) + 1
        elif any(sheet.sheet_id == sheet_id for sheet in self.sheets):
            raise ApiError(
                400,
                f"Invalid requests[0].addSheet: A sheet with the id {sheet_id} already exists. Please enter another.",
            )
        width = max((len(row) for row in rows), default=0)
        row_count = grid[0] if grid[0] is not None else max(DEFAULT_ROWS, len(rows))
        column_count = grid[1] if grid[1] is not None else max(DEFAULT_COLUMNS, width)
        sheet = Sheet(sheet_id, title, len(self.sheets), rows, (row_count, column_count))
        self.sheets.insert(len(self.sheets) if index is None else index, sheet)
        self.reindex()
        return sheet

    def reindex(self) -> None:
        for position, sheet in enumerate(self.sheets):
            sheet.index = position

    def sheet_by_id(self, sheet_id: int) -> Sheet:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        raise ApiError(400, f"Invalid requests[0]: No grid with id: {sheet_id}")

    def resolve(self, text: str) -> tuple[Sheet, str | None]:
        """The sheet and A1 part a range names; an unquoted bare A1 range means the first sheet."""
        title, a1 = split_range(text)
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet, a1
        if a1 is None and title and _CELL_RANGE.fullmatch(title) and self.sheets:
            return self.sheets[0], title
        raise ApiError(400, f"Unable to parse range: {text}")

    def metadata(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.key,
            "properties": {
                "title": self.title,
                "locale": "en_US",
                "autoRecalc": "ON_CHANGE",
                "timeZone": self.time_zone,
            },
            "sheets": [
                {"properties": sheet.properties()} | ({"protectedRanges": sheet.protected} if sheet.protected else {})
                for sheet in self.sheets
            ],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.key}/edit",
        }


_CELL_RANGE = re.compile(r"[A-Za-z]*[0-9]*(:[A-Za-z]*[0-9]*)?")


# ---------------------------------------------------------------------------- the server


class FakeSheetsServer:
    """Google Sheets API v4 on 127.0.0.1 (port chosen by the OS), served from a daemon thread.

    >>> server = FakeSheetsServer().start()
    >>> server.add_spreadsheet("key1", {"Form Responses 1": [["Timestamp"], ["6/1/2021 9:00:00"]]})
    >>> server.fail_next(429)          # the next request gets a 429, the one after it succeeds
    >>> len(server.requests)           # every request: method, path, query, JSON body
    >>> server.stop()
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._spreadsheets: dict[str, Spreadsheet] = {}
        self._failures: deque[tuple[int, Any]] = deque()
        self.requests: list[RequestRecord] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeSheetsServer:
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-sheets", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeSheetsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake Sheets server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- state

    def add_spreadsheet(self, key: str, sheets: dict[str, list[list[str]]], title: str = "Responses") -> None:
        """Serve spreadsheet `key` with these worksheets (title → rows of text, header first); replaces any."""
        with self._lock:
            self._spreadsheets[key] = Spreadsheet(key, title, sheets)

    def remove_spreadsheet(self, key: str) -> None:
        with self._lock:
            self._spreadsheets.pop(key, None)

    def values(self, key: str, title: str) -> list[list[str]]:
        """A copy of a worksheet's stored rows, as written (not trimmed)."""
        with self._lock:
            sheet, _ = self._spreadsheets[key].resolve(quote_title(title))
            return [list(row) for row in sheet.rows]

    def sheet(self, key: str, title: str) -> Sheet:
        """The stored worksheet itself (its rows, protected ranges and validations), for a test to read or to
        write into as a person in the browser would."""
        with self._lock:
            return self._spreadsheets[key].resolve(quote_title(title))[0]

    def set_time_zone(self, key: str, zone: str) -> None:
        with self._lock:
            self._spreadsheets[key].time_zone = zone

    def sheet_titles(self, key: str) -> list[str]:
        with self._lock:
            return [sheet.title for sheet in self._spreadsheets[key].sheets]

    def fail_next(self, status: int, count: int = 1, body: Any = None) -> None:
        """The next `count` requests (of any kind) get `status`: Google's error JSON, or `body` if given
        (a str is sent as text/html, anything else as JSON). Calls queue up: fail_next(429); fail_next(503)."""
        with self._lock:
            for _ in range(count):
                self._failures.append((status, body))

    def reset(self) -> None:
        """Forget recorded requests and queued failures (spreadsheets stay)."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    @property
    def pending_failures(self) -> int:
        with self._lock:
            return len(self._failures)

    # -- dispatch (called from handler threads)

    def _handle(self, method: str, raw_path: str, body: Any) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        with self._lock:
            self.requests.append(RequestRecord(method, parts.path, parts.query, body))
            if self._failures:
                status, failure = self._failures.popleft()
                return status, failure if failure is not None else error_body(status)
            try:
                return 200, self._route(method, parts.path, parse_qs(parts.query), body)
            except ApiError as exc:
                return exc.status, error_body(exc.status, exc.message)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        match = _ROUTE.fullmatch(path)
        if not match:
            raise ApiError(404, f"fake Sheets server: no route for {method} {path}")
        key, rest = unquote(match["key"]), match["rest"]
        spreadsheet = self._spreadsheets.get(key)
        if spreadsheet is None:
            raise ApiError(404)
        if rest == "" and method == "GET":
            if query.get("includeGridData", ["false"])[0].lower() == "true":
                raise ApiError(400, "fake Sheets server: includeGridData=true is not served")
            return spreadsheet.metadata()
        if rest == ":batchUpdate" and method == "POST":
            return self._batch_update(spreadsheet, body or {})
        if rest == "/values:batchUpdate" and method == "POST":
            return self._values_batch_update(spreadsheet, body or {})
        if rest == "/values:batchGet" and method == "GET":
            blocks = [self._values_get(spreadsheet, text, query) for text in query.get("ranges", [])]
            return {"spreadsheetId": spreadsheet.key, "valueRanges": blocks}
        values = _VALUES_ROUTE.fullmatch(rest)
        if values:
            range_text = unquote(values["range"])
            verb = values["verb"]
            if method == "GET" and verb is None:
                return self._values_get(spreadsheet, range_text, query)
            if method == "PUT" and verb is None:
                return self._values_update(spreadsheet, range_text, body or {})
            if method == "POST" and verb == "clear":
                return self._values_clear(spreadsheet, range_text)
        raise ApiError(404, f"fake Sheets server: no route for {method} {path}")

    def _values_get(self, spreadsheet: Spreadsheet, range_text: str, query: dict[str, list[str]]) -> Any:
        if query.get("majorDimension", ["ROWS"])[0] != "ROWS":
            raise ApiError(400, "fake Sheets server: only majorDimension=ROWS is served")
        sheet, a1 = spreadsheet.resolve(range_text)
        bounds = sheet.bounds(a1, range_text)
        answer: dict[str, Any] = {"range": sheet.a1(*bounds), "majorDimension": "ROWS"}
        values = sheet.read(*bounds)
        if values:
            answer["values"] = values
        return answer

    def _write(self, spreadsheet: Spreadsheet, range_text: str, values: list[list[Any]]) -> dict[str, Any]:
        sheet, a1 = spreadsheet.resolve(range_text)
        row0, col0, _, _ = sheet.bounds(a1, range_text)
        rows, columns, cells = sheet.write(row0, col0, values)
        written = sheet.a1(row0, col0, row0 + max(rows, 1) - 1, col0 + max(columns, 1) - 1)
        return {
            "spreadsheetId": spreadsheet.key,
            "updatedRange": written,
            "updatedRows": rows,
            "updatedColumns": columns,
            "updatedCells": cells,
        }

    @staticmethod
    def _check_rows(body: dict[str, Any]) -> list[list[Any]]:
        if body.get("majorDimension") not in (None, "ROWS"):
            raise ApiError(400, "fake Sheets server: only majorDimension=ROWS is served")
        return body.get("values") or []

    def _values_update(self, spreadsheet: Spreadsheet, range_text: str, body: dict[str, Any]) -> Any:
        return self._write(spreadsheet, range_text, self._check_rows(body))

    def _values_batch_update(self, spreadsheet: Spreadsheet, body: dict[str, Any]) -> Any:
        if body.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "Invalid valueInputOption: must be RAW or USER_ENTERED")
        saved = copy.deepcopy(spreadsheet.sheets)
        try:
            responses = [self._write(spreadsheet, item["range"], self._check_rows(item)) for item in body["data"]]
        except ApiError:
            spreadsheet.sheets = saved
            raise
        sheets = {response["updatedRange"].rsplit("!", 1)[0] for response in responses}
        return {
            "spreadsheetId": spreadsheet.key,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len(sheets),
            "responses": responses,
        }

    def _values_clear(self, spreadsheet: Spreadsheet, range_text: str) -> Any:
        sheet, a1 = spreadsheet.resolve(range_text)
        bounds = sheet.bounds(a1, range_text)
        sheet.clear(*bounds)
        return {"spreadsheetId": spreadsheet.key, "clearedRange": sheet.a1(*bounds)}

    def _batch_update(self, spreadsheet: Spreadsheet, body: dict[str, Any]) -> Any:
        saved = copy.deepcopy(spreadsheet.sheets)
        try:
            replies = [self._apply(spreadsheet, request) for request in body.get("requests", [])]
        except ApiError:
            spreadsheet.sheets = saved
            raise
        return {"spreadsheetId": spreadsheet.key, "replies": replies}

    @staticmethod
    def _apply(spreadsheet: Spreadsheet, request: dict[str, Any]) -> dict[str, Any]:
        (kind, spec), *others = request.items()
        if others:
            raise ApiError(400, "Invalid requests: each request must hold exactly one kind")
        if kind == "addSheet":
            props = spec.get("properties", {})
            grid = props.get("gridProperties", {})
            title = props.get("title") or f"Sheet{len(spreadsheet.sheets) + 1}"
            sheet = spreadsheet.add_sheet(
                title,
                sheet_id=props.get("sheetId"),
                index=props.get("index"),
                grid=(grid.get("rowCount", DEFAULT_ROWS), grid.get("columnCount", DEFAULT_COLUMNS)),
            )
            sheet.frozen_rows = grid.get("frozenRowCount", 0)
            return {"addSheet": {"properties": sheet.properties()}}
        if kind == "updateSheetProperties":
            props = spec["properties"]
            sheet = spreadsheet.sheet_by_id(props.get("sheetId", 0))
            # A FieldMask names nested fields with dots (gridProperties.rowCount), as Google documents it.
            fields = {f.strip().replace(".", "/") for f in spec.get("fields", "").split(",") if f.strip()}
            grid = props.get("gridProperties", {})
            if fields & {"*", "title"} and "title" in props:
                sheet.title = props["title"]
            if fields & {"*", "gridProperties", "gridProperties/rowCount"} and "rowCount" in grid:
                sheet.row_count = grid["rowCount"]
                del sheet.rows[sheet.row_count :]
            if fields & {"*", "gridProperties", "gridProperties/columnCount"} and "columnCount" in grid:
                sheet.column_count = grid["columnCount"]
                sheet.rows = [row[: sheet.column_count] for row in sheet.rows]
            if fields & {"*", "gridProperties", "gridProperties/frozenRowCount"} and "frozenRowCount" in grid:
                sheet.frozen_rows = grid["frozenRowCount"]
            if fields & {"*", "index"} and "index" in props:
                spreadsheet.sheets.remove(sheet)
                spreadsheet.sheets.insert(props["index"], sheet)
                spreadsheet.reindex()
            return {}
        if kind == "deleteSheet":
            sheet = spreadsheet.sheet_by_id(spec["sheetId"])
            if len(spreadsheet.sheets) == 1:
                raise ApiError(400, "Invalid requests[0].deleteSheet: You can't remove all the sheets in a document.")
            spreadsheet.sheets.remove(sheet)
            spreadsheet.reindex()
            return {}
        if kind in _CELL_REQUESTS:
            return _CELL_REQUESTS[kind](spreadsheet, spec)
        raise ApiError(400, f"fake Sheets server: batchUpdate request {kind!r} is not implemented")


# ------------------------------------------------------------------ cells, protected ranges and data validation


def _grid_range(spreadsheet: Spreadsheet, grid: dict[str, Any], at: str) -> tuple[Sheet, int, int, int, int]:
    """A GridRange as the API reads it: a sheetId that exists, half-open spans within the grid (unset = to the
    edge); zero-based (row0, row1, col0, col1) with the ends excluded."""
    unknown = set(grid) - {"sheetId", "startRowIndex", "endRowIndex", "startColumnIndex", "endColumnIndex"}
    if unknown:
        raise ApiError(400, f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at '{at}'")
    sheet = spreadsheet.sheet_by_id(grid.get("sheetId", 0))
    row0, row1 = grid.get("startRowIndex", 0), grid.get("endRowIndex", sheet.row_count)
    col0, col1 = grid.get("startColumnIndex", 0), grid.get("endColumnIndex", sheet.column_count)
    if not (0 <= row0 <= row1 <= sheet.row_count and 0 <= col0 <= col1 <= sheet.column_count):
        raise ApiError(400, f"Invalid {at}: range ({row0}:{row1}, {col0}:{col1}) exceeds grid limits of {sheet.title}")
    return sheet, row0, row1, col0, col1


_VALUE_KINDS = {"stringValue", "numberValue", "boolValue", "formulaValue"}


def _update_cells(spreadsheet: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
    """updateCells: exactly one of `range` and `start`; `fields` required; with a range, the listed fields of the
    cells the rows do not cover are cleared. userEnteredValue and dataValidation are kept."""
    if ("range" in spec) == ("start" in spec):
        raise ApiError(400, "Invalid requests[0].updateCells: exactly one of range or start must be set")
    fields = {f.strip() for f in spec.get("fields", "").split(",") if f.strip()}
    if not fields:
        raise ApiError(400, "Invalid requests[0].updateCells: At least one field must be specified in 'fields'")
    rows = spec.get("rows", [])
    if "range" in spec:
        sheet, row0, row1, col0, col1 = _grid_range(spreadsheet, spec["range"], "requests[0].updateCells.range")
    else:
        start = spec["start"]
        sheet = spreadsheet.sheet_by_id(start.get("sheetId", 0))
        row0, col0 = start.get("rowIndex", 0), start.get("columnIndex", 0)
        row1 = row0 + len(rows)
        col1 = col0 + max((len(r.get("values", [])) for r in rows), default=0)
        if row1 > sheet.row_count or col1 > sheet.column_count:
            raise sheet.grid_error(row1 - 1, col1 - 1)
    for r in range(row0, row1):
        given = rows[r - row0].get("values", []) if r - row0 < len(rows) else []
        if "range" in spec and len(given) > col1 - col0:
            raise ApiError(400, "Invalid requests[0].updateCells: the rows are wider than the range")
        for c in range(col0, col1):
            cell = given[c - col0] if c - col0 < len(given) else {}
            if fields & {"*", "userEnteredValue"}:
                _enter(sheet, r, c, cell.get("userEnteredValue"))
            if fields & {"*", "dataValidation"}:
                rule = cell.get("dataValidation")
                if rule is None:
                    sheet.validations.pop((r, c), None)
                else:
                    sheet.validations[(r, c)] = _checked_rule(rule)
    if "range" in spec and len(rows) > row1 - row0:
        raise ApiError(400, "Invalid requests[0].updateCells: more rows than the range holds")
    return {}


def _enter(sheet: Sheet, row: int, column: int, value: dict[str, Any] | None) -> None:
    if value is None:
        if row < len(sheet.rows) and column < len(sheet.rows[row]):
            sheet.rows[row][column] = ""
        return
    kinds = set(value)
    if len(kinds) != 1 or not kinds <= _VALUE_KINDS:
        raise ApiError(400, f"Invalid ExtendedValue: exactly one of {sorted(_VALUE_KINDS)} must be set")
    (kind,) = kinds
    if kind == "formulaValue":
        raise ApiError(400, "fake Sheets server: formulas are not evaluated")
    sheet.set(row, column, cell_text(value[kind]))


_CONDITIONS = {"ONE_OF_LIST": None, "NUMBER_BETWEEN": 2, "NUMBER_GREATER": 1, "NUMBER_LESS": 1}


def _checked_rule(rule: dict[str, Any]) -> dict[str, Any]:
    condition = rule.get("condition") or {}
    kind = condition.get("type")
    if kind not in _CONDITIONS:
        raise ApiError(400, f"Invalid DataValidationRule: condition type {kind!r} is not served")
    values = condition.get("values", [])
    if not all(set(v) == {"userEnteredValue"} and isinstance(v["userEnteredValue"], str) for v in values):
        raise ApiError(400, "Invalid ConditionValue: each value must be {userEnteredValue: string}")
    wanted = _CONDITIONS[kind]
    if (wanted is None and not values) or (wanted is not None and len(values) != wanted):
        raise ApiError(400, f"Invalid BooleanCondition: {kind} takes {wanted or 'one or more'} values")
    unknown = set(rule) - {"condition", "inputMessage", "strict", "showCustomUi"}
    if unknown:
        raise ApiError(400, f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at 'rule'")
    return copy.deepcopy(rule)


def _set_data_validation(spreadsheet: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
    sheet, row0, row1, col0, col1 = _grid_range(spreadsheet, spec["range"], "requests[0].setDataValidation.range")
    rule = _checked_rule(spec["rule"]) if spec.get("rule") else None
    for r in range(row0, row1):
        for c in range(col0, col1):
            if rule is None:
                sheet.validations.pop((r, c), None)
            else:
                sheet.validations[(r, c)] = rule
    return {}


def _add_protected_range(spreadsheet: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
    protected = copy.deepcopy(spec["protectedRange"])
    sheet = _grid_range(spreadsheet, protected["range"], "requests[0].addProtectedRange.protectedRange.range")[0]
    for inner in protected.get("unprotectedRanges", []):
        if _grid_range(spreadsheet, inner, "unprotectedRanges")[0] is not sheet:
            raise ApiError(400, "Invalid ProtectedRange: unprotected ranges must lie in the protected sheet")
    if protected.get("warningOnly") and "editors" in protected:
        raise ApiError(400, "Invalid ProtectedRange: editors are not supported with warningOnly protection")
    ids = [p["protectedRangeId"] for s in spreadsheet.sheets for p in s.protected]
    protected["protectedRangeId"] = max(ids, default=1000) + 1
    protected.setdefault("editors", {"users": []})
    sheet.protected.append(protected)
    return {"addProtectedRange": {"protectedRange": protected}}


def _delete_protected_range(spreadsheet: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
    for sheet in spreadsheet.sheets:
        for protected in sheet.protected:
            if protected["protectedRangeId"] == spec["protectedRangeId"]:
                sheet.protected.remove(protected)
                return {}
    raise ApiError(
        400, f"Invalid requests[0].deleteProtectedRange: No protected range with id: {spec['protectedRangeId']}"
    )


_CELL_REQUESTS = {
    "updateCells": _update_cells,
    "setDataValidation": _set_data_validation,
    "addProtectedRange": _add_protected_range,
    "deleteProtectedRange": _delete_protected_range,
}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSheetsServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            self._send(400, error_body(400, "Invalid JSON payload received."))
            return
        status, answer = self.fake._handle(self.command, self.path, body)
        self._send(status, answer)

    def _send(self, status: int, answer: Any) -> None:
        if isinstance(answer, str):
            data, kind = answer.encode("utf-8"), "text/html; charset=UTF-8"
        else:
            data, kind = json.dumps(answer).encode("utf-8"), "application/json; charset=UTF-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


# ---------------------------------------------------------------------------- pointing gspread at it


class LocalRedirectAdapter(HTTPAdapter):
    """Sends a request for a Google API host to the local server instead: same path and query, no proxy."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        kwargs["proxies"] = {}
        return super().send(request, **kwargs)


class FastRetryingHTTPClient(RetryingHTTPClient):
    """The production retrying client with millisecond back-off, so a retried test costs nothing."""

    base_delay = 0.01


def client_for(
    server: FakeSheetsServer, http_client: type[RetryingHTTPClient] = FastRetryingHTTPClient
) -> gspread.Client:
    """A real gspread client (anonymous credentials) whose Google API requests go to `server`."""
    client = gspread.Client(auth=AnonymousCredentials(), http_client=http_client)
    session = client.http_client.session
    session.trust_env = False
    adapter = LocalRedirectAdapter(server.base_url)
    for prefix in GOOGLE_HOSTS:
        session.mount(prefix, adapter)
    return client
