"""Decisions written back to the responses spreadsheet, in a "Decisions" worksheet, for staff; after each send,
each team's notice state in its `notice` column (the notice record, tasks/backup.py).

One metadata read, at most one structural request (add the worksheet, or grow it), and one values
batch update with valueInputOption=RAW (tasks.sheets.write_values), so applicant text such as
`=HYPERLINK(...)` stays text. The selection rewrites the worksheet only until the first decision notice is out
(then it is frozen), so the notice column, written after the sends, is never overwritten by a selection.
"""

from __future__ import annotations

import gspread
import pandas as pd
from gspread.exceptions import APIError
from gspread.utils import absolute_range_name, rowcol_to_a1

from schemas.backup import NoticeRecordCol
from schemas.columns import LIST_SEPARATOR, Col, Derived
from tasks.decisions import printable
from tasks.sheets import (
    add_worksheet,
    resize_worksheet,
    sheets_errors,
    worksheet_values,
    worksheets,
    write_values,
)
from tasks.teams import applicant_keys

DECISIONS_TITLE = "Decisions"
CELL_LIMIT = 50_000  # Google Sheets refuses a whole write with one cell longer than this


def fit_cell(text: str) -> str:
    """Text cut to what a sheet cell holds, saying so; decisions.csv keeps it whole."""
    if len(text) <= CELL_LIMIT:
        return text
    note = f" … [cut: {len(text):,} characters in all, whole in decisions.csv]"
    return text[: CELL_LIMIT - len(note)] + note


def decision_values(decisions: pd.DataFrame) -> list[list[str]]:
    """Header plus one row per decision, as text; RAW input keeps it text, so nothing is prefixed."""
    shown = printable(decisions, neutralize=False)
    shown = shown.astype(object).where(shown.notna(), "").astype(str)
    for column in shown.columns:
        long = shown[column].str.len() > CELL_LIMIT
        if long.any():
            shown.loc[long, column] = shown.loc[long, column].map(fit_cell)
    return [list(map(str, shown.columns)), *shown.to_numpy().tolist()]


def write_decisions_to_sheet(
    client: gspread.Client, key: str, decisions: pd.DataFrame, title: str = DECISIONS_TITLE
) -> int:
    """Replace the worksheet's contents with the decisions; returns the number of API requests made."""
    values = decision_values(decisions)
    rows, columns = len(values), max(len(row) for row in values)
    with sheets_errors(key, "write-back", "cannot be written: share it with the service account as Editor"):
        sheets = worksheets(client, key)
        made = 1
        grid = {"rowCount": max(rows, 100), "columnCount": columns}
        if title not in sheets:
            made += 1
            try:
                add_worksheet(client, key, title, grid)
            except APIError as exc:
                # A retry after a lost answer: the first request was applied, so the retry is refused.
                if exc.code != 400 or "already exists" not in str(exc.error.get("message", "")):
                    raise
                made += 1
                sheets = worksheets(client, key)
        if title not in sheets:
            old_rows = rows
        else:
            current = sheets[title]["gridProperties"]
            old_rows = current["rowCount"]
            if current["rowCount"] < rows or current["columnCount"] < columns:
                grow = {
                    "rowCount": max(current["rowCount"], rows),
                    "columnCount": max(current["columnCount"], columns),
                }
                resize_worksheet(client, key, sheets[title]["sheetId"], grow)
                made += 1
        blank = [[""] * columns for _ in range(max(0, old_rows - rows))]
        padded = [row + [""] * (columns - len(row)) for row in values] + blank
        write_values(client, key, title, padded)
        return made + 1


# ---------------------------------------------------------------------------- the notice record


def _row_applicants(values: list[list[str]]) -> list[str]:
    """The applicant (team key, or `row:N`) of each row under the header, as tasks/teams.py makes them."""
    header = values[0] if values else []
    rows = values[1:]

    def cell(row: list[str], name: str) -> str:
        index = header.index(name) if name in header else len(row)
        return row[index] if index < len(row) else ""

    frame = pd.DataFrame(
        {
            Derived.TEAM_KEY: [cell(row, Derived.TEAM_KEY) for row in rows],
            Col.SOURCE_ROW: [cell(row, Col.SOURCE_ROW) for row in rows],
        },
        dtype=object,
    )
    return [str(key) for key in applicant_keys(frame)] if rows else []


def read_notice_record_from_sheet(client: gspread.Client, key: str, title: str = DECISIONS_TITLE) -> dict[str, str]:
    """Applicant → its `notice` cell in the Decisions worksheet (none when the worksheet or the column is not
    there); a team's rows are joined. One metadata read and one values read."""
    with sheets_errors(key, "read of the notice record", "cannot be read: share it with the service account"):
        if title not in worksheets(client, key):
            return {}
        values = worksheet_values(client, key, title)
    if not values or NoticeRecordCol.NOTICE not in values[0]:
        return {}
    column = values[0].index(NoticeRecordCol.NOTICE)
    cells: dict[str, list[str]] = {}
    for applicant, row in zip(_row_applicants(values), values[1:], strict=True):
        text = row[column].strip() if column < len(row) else ""
        if text:
            cells.setdefault(applicant, []).append(text)
    return {applicant: LIST_SEPARATOR.join(texts) for applicant, texts in cells.items()}


def write_notice_record_to_sheet(
    client: gspread.Client, key: str, cells: dict[str, str], title: str = DECISIONS_TITLE
) -> int:
    """Each team's notice cell written in the Decisions worksheet's `notice` column (added after the last column
    when missing), on every row of the team, blank on the others; a team with no row gets one of its own (team key
    and notice). Only that column and those rows are written (RAW), so staff's other columns stay as they are.
    Returns the number of API requests: a metadata read, a values read, a resize when the grid is too small, one
    values batch update (a missing worksheet is added instead of read)."""
    with sheets_errors(
        key, "write of the notice record", "cannot be written: share it with the service account as Editor"
    ):
        sheets = worksheets(client, key)
        made = 1
        if title in sheets:
            values = worksheet_values(client, key, title)
            made += 1
        else:
            values = []
        written = list(values[0]) if values else []
        header = written + [n for n in (NoticeRecordCol.NOTICE, Derived.TEAM_KEY) if n not in written]
        notice, team = header.index(NoticeRecordCol.NOTICE), header.index(Derived.TEAM_KEY)
        applicants = _row_applicants([header, *values[1:]])
        missing = [applicant for applicant in cells if applicant not in set(applicants)]
        width = len(header)
        added = [_new_row(width, team, notice, applicant, cells[applicant]) for applicant in missing]
        rows = 1 + len(applicants) + len(added)
        grid = {"rowCount": max(rows, 100), "columnCount": width}
        if title not in sheets:
            add_worksheet(client, key, title, grid)
            made += 1
        else:
            current = sheets[title]["gridProperties"]
            if current["rowCount"] < rows or current["columnCount"] < width:
                grow = {"rowCount": max(current["rowCount"], rows), "columnCount": max(current["columnCount"], width)}
                resize_worksheet(client, key, sheets[title]["sheetId"], grow)
                made += 1
        column = [[NoticeRecordCol.NOTICE.value], *[[fit_cell(cells.get(a, ""))] for a in applicants]]
        data = [(rowcol_to_a1(1, notice + 1), column)]
        if Derived.TEAM_KEY not in written:  # a worksheet the selection did not write: its header too
            data.append(("A1", [header]))
        if added:
            data.append((rowcol_to_a1(2 + len(applicants), 1), added))
        write_ranges(client, key, title, data)
        return made + 1


def _new_row(width: int, team: int, notice: int, applicant: str, cell: str) -> list[str]:
    row = [""] * width
    row[team], row[notice] = applicant, fit_cell(cell)
    return row


def write_ranges(client: gspread.Client, key: str, title: str, data: list[tuple[str, list[list[str]]]]) -> None:
    """Several blocks of values (each from its top left cell, e.g. "P1") in one request, as RAW input."""
    body = [{"range": absolute_range_name(title, start), "values": values} for start, values in data]
    client.http_client.values_batch_update(key, {"valueInputOption": "RAW", "data": body})
