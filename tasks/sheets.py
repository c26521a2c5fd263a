"""The Google Sheets API through gspread: the one place that builds the client, retries, and turns API failures
into messages staff can act on.

What to read and what to write are the callers' rules (tasks/sources.py the responses, tasks/overrides.py the
Overrides worksheet, tasks/writeback.py the Decisions worksheet); this module gives them one request per call:
the worksheets' properties (one metadata read), a worksheet's values, a structural change, a values write.
Each caller wraps its requests in `sheets_errors`, naming what it was doing.
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gspread
import requests
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.utils import absolute_range_name

from schemas.config import SheetSourceConfig
from schemas.errors import StaffError

NOT_SHARED = "not found, or not shared with the service account"


class SourceError(StaffError):
    """Responses could not be read (or decisions written back); the message says which source and what to check."""


class RetryingHTTPClient(HTTPClient):
    """gspread's client with bounded retries of 408/429/5xx and dropped connections.

    gspread's own BackOffHTTPClient retries without a bound on attempts and never retries a timeout.
    """

    attempts: int = 5
    base_delay: float = 1.0
    retry_codes: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, self.attempts + 1):
            try:
                return super().request(*args, **kwargs)
            except APIError as exc:
                if exc.code not in self.retry_codes or attempt == self.attempts:
                    raise
            except (requests.ConnectionError, requests.Timeout):
                if attempt == self.attempts:
                    raise
            jitter = 1 + random.random() / 4  # spreads the retries of runs that failed together  # noqa: S311
            time.sleep(self.base_delay * 2 ** (attempt - 1) * jitter)
        raise AssertionError("unreachable")


def service_account_client(credentials_json: str) -> gspread.Client:
    """A gspread client for a service-account key given as JSON text or as a key file path.

    One client per key and process: a run's reads and its write-back share it (and its access token). A key file
    is read on every call, so a replaced file gets a client of its own. No message quotes the key's text: it is a
    secret, and messages reach logs.
    """
    text = credentials_json.strip().lstrip("\ufeff")
    if not text.startswith("{"):
        if "\n" in text or len(text) > 1024:
            raise SourceError(
                "the service-account key is neither JSON nor the path of a key file: store the key file's whole JSON"
            )
        try:
            text = Path(text).read_text("utf-8-sig").strip()
        except OSError as exc:
            raise SourceError(f"cannot read the service-account key file: {exc.strerror}") from None
    return _client_for_key(text)


def sheet_client(source: SheetSourceConfig) -> gspread.Client:
    """The client of the configured spreadsheet's service account (`service_account_client`)."""
    return service_account_client(source.credentials.reveal())


@functools.lru_cache(maxsize=8)  # a failed build raises, and an exception is not cached
def _client_for_key(text: str) -> gspread.Client:
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"the service-account key is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(info, dict):
        raise SourceError("the service-account key is not a JSON object: store the key file's whole JSON")
    try:
        return gspread.service_account_from_dict(info, http_client=RetryingHTTPClient)
    except (ValueError, KeyError) as exc:
        raise SourceError(f"the service-account key is not usable: {exc}") from None


@contextmanager
def sheets_errors(key: str, doing: str, when_refused: str) -> Iterator[None]:
    """Sheets API failures become one SourceError a staff member can act on, never a traceback."""
    try:
        yield
    except APIError as exc:
        message = exc.error.get("message", "")
        if exc.code in (403, 404):
            raise SourceError(f"Google Sheet {key} {when_refused} ({message})") from None
        raise SourceError(f"Google Sheets API refused the {doing} ({exc.code}): {message}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SourceError(f"Google Sheets API did not answer: {exc.__class__.__name__} (during the {doing})") from None


@contextmanager
def request_timeout(client: gspread.Client, seconds: float | None) -> Iterator[None]:
    """Requests inside wait at most `seconds` for an answer; the client's own timeout is restored after, since the
    client is shared (`service_account_client`)."""
    http = client.http_client
    before = http.timeout
    http.set_timeout(seconds)
    try:
        yield
    finally:
        http.set_timeout(before)


def worksheets(client: gspread.Client, key: str) -> dict[str, dict]:
    """Each worksheet's properties (sheetId, gridProperties) by its title: one metadata read."""
    metadata = client.http_client.fetch_sheet_metadata(key)
    return {sheet["properties"]["title"]: sheet["properties"] for sheet in metadata.get("sheets", [])}


def worksheet_values(client: gspread.Client, key: str, title: str) -> list[list[str]]:
    """The worksheet's cells as text, row by row as the API returns them (trailing blanks left out): one request."""
    body = client.http_client.values_get(key, absolute_range_name(title))
    return [[str(cell) for cell in row] for row in body.get("values", [])]


def add_worksheet(client: gspread.Client, key: str, title: str, grid: dict[str, int]) -> None:
    """A new worksheet of that title and grid size (rowCount, columnCount): one request."""
    request = {"addSheet": {"properties": {"title": title, "gridProperties": grid}}}
    client.http_client.batch_update(key, {"requests": [request]})


def resize_worksheet(client: gspread.Client, key: str, sheet_id: int, grid: dict[str, int]) -> None:
    """The worksheet's grid set to that size (rowCount, columnCount): one request."""
    fields = "gridProperties.rowCount,gridProperties.columnCount"
    request = {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "gridProperties": grid}, "fields": fields}}
    client.http_client.batch_update(key, {"requests": [request]})


def write_values(client: gspread.Client, key: str, title: str, values: list[list[str]]) -> None:
    """The values written from the worksheet's top left cell, as RAW input so no text is run as a formula: one
    request. (gspread's `update_cell` sends USER_ENTERED, which would run `=HYPERLINK(...)`.)"""
    data = [{"range": absolute_range_name(title, "A1"), "values": values}]
    client.http_client.values_batch_update(key, {"valueInputOption": "RAW", "data": data})
