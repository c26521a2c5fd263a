"""Decisions written back to the responses spreadsheet, in a "Decisions" worksheet, for staff.

One metadata read, at most one structural request (add the worksheet, or grow it), and one values
batch update with valueInputOption=RAW (tasks.sheets.write_values), so applicant text such as
`=HYPERLINK(...)` stays text.
"""

from __future__ import annotations

import gspread
import pandas as pd
from gspread.exceptions import APIError

from tasks.decisions import printable
from tasks.sheets import add_worksheet, resize_worksheet, sheets_errors, worksheets, write_values

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
