"""Files staff open: CSVs safe to open in a spreadsheet, with lists and times in readable form."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from schemas.columns import Col

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: pd.Series) -> pd.Series:
    """Text a spreadsheet would run as a formula gets a leading apostrophe, so it stays text."""
    text = text.astype(str)
    risky = text.str.startswith(_FORMULA_STARTS)
    return text.where(~risky, "'" + text)


def printable(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists joined with '; ', times as ISO-8601 UTC, missing as empty, every text cell made safe."""
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            out[name] = column.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("")
        elif column.dtype == object and column.map(lambda v: isinstance(v, list)).any():
            out[name] = spreadsheet_safe(column.map(lambda v: "; ".join(v) if isinstance(v, list) else ""))
        elif pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            out[name] = column
        else:
            out[name] = spreadsheet_safe(column.astype(object).where(column.notna(), "").astype(str))
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write the frame for staff, ordered by sheet row, byte-identical for the same input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    printable(frame.sort_values(Col.SOURCE_ROW)).to_csv(path, index=False, lineterminator="\n")
    return path
