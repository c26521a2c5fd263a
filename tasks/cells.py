"""Cells of the CSVs staff open in a spreadsheet: text that a spreadsheet would run as a formula stays text.

One rule says what would run: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return (the starts OWASP
lists for CSV injection) gets a leading apostrophe, which keeps it text.

Line breaks are each file's own: decisions.csv and the other tables keep an answer's line breaks (`spreadsheet_safe`),
since staff read the answers whole; the outbox's index.csv lists one message per line and its cells are header
values (addresses, a subject), so a line break in one is read as a space (`one_line_cell`).
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: pd.Series) -> pd.Series:
    """Text a spreadsheet would run as a formula gets a leading apostrophe, so it stays text.

    A carriage return inside the text becomes a line feed: the CSV writer quotes a cell with a line feed,
    but writes a bare carriage return unquoted, and a spreadsheet starts a new row there (whose first cell
    could be a formula).
    """
    text = text.astype(str)
    risky = text.str.startswith(FORMULA_STARTS)
    return text.where(~risky, "'" + text).str.replace("\r\n?", "\n", regex=True)


def one_line_cell(text: str) -> str:
    """The text on one line (each CR and LF a space), with the apostrophe when a spreadsheet would run it."""
    text = text.replace("\r", " ").replace("\n", " ")
    return "'" + text if text.startswith(FORMULA_STARTS) else text
