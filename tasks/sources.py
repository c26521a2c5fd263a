"""Read the form's responses: a file export (CSV/XLSX) or the live Google Sheet through gspread."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import gspread
import numpy as np
import pandas as pd

from schemas.columns import Col
from schemas.config import CohortConfig, FileSourceConfig, SheetSourceConfig
from tasks.gcpause import collector_paused
from tasks.normalize import clean_title, title_key
from tasks.sheets import (
    NOT_SHARED,
    SourceError,
    request_timeout,
    sheet_client,
    sheets_errors,
    worksheet_values,
    worksheets,
)


class ResponseSource(Protocol):
    """Anything that returns the responses sheet as rows of text, the header row first."""

    def read_values(self) -> list[list[str]]: ...


@dataclass(frozen=True)
class FileSource:
    """A CSV or XLSX download of the responses sheet."""

    path: Path

    def read_values(self) -> list[list[str]]:
        if not self.path.is_file():
            raise SourceError(f"responses file not found: {self.path}")
        suffix = self.path.suffix.lower()
        try:
            if suffix == ".csv":
                frame = _read_csv(self.path)
            elif suffix == ".xlsx":
                frame = pd.read_excel(self.path, dtype=str, keep_default_na=False, header=None)
            else:
                raise SourceError(f"{self.path.name}: only .csv and .xlsx exports can be read")
        except pd.errors.EmptyDataError:
            return []
        except (UnicodeDecodeError, pd.errors.ParserError, ValueError, OSError) as exc:
            raise SourceError(f"cannot read {self.path.name}: {exc}") from None
        cells = frame.fillna("").to_numpy(dtype=object)
        with collector_paused():  # a list per row (tasks/gcpause.py)
            return cells.tolist()


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _read_csv(path: Path) -> pd.DataFrame:
    """UTF-8 (with or without a BOM), or UTF-16 with its BOM (Excel's "Unicode text", tab-separated or not)."""
    with path.open("rb") as handle:
        head = handle.read(2)
    text, sep = None, ","
    if head in _UTF16_BOMS:
        try:
            text = path.read_bytes().decode("utf-16")
        except UnicodeDecodeError:
            raise SourceError(f"{path.name} starts like UTF-16 text but is not: save it again as CSV UTF-8") from None
        first = text.split("\n", 1)[0]
        sep = "\t" if "\t" in first and "," not in first else ","
    try:
        source = path if text is None else io.StringIO(text)
        return pd.read_csv(source, dtype=str, keep_default_na=False, header=None, encoding="utf-8-sig", sep=sep)
    except UnicodeDecodeError:
        data = path.read_bytes()
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise SourceError(
                f"{path.name} is not UTF-8 text: line {line} has a byte (0x{data[exc.start]:02x}) that is not "
                "UTF-8. Download the responses again (Google Sheets: File > Download > CSV), or in Excel save "
                'as "CSV UTF-8".'
            ) from None
        raise
    except pd.errors.ParserError:
        # Rows of different lengths (a hand-edited export): the csv module takes them as they are.
        text = path.read_bytes().decode("utf-8-sig") if text is None else text
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
        except csv.Error as exc:
            raise SourceError(f"cannot read {path.name}: {exc}") from None
        return pd.DataFrame(rows, dtype=object)


@dataclass
class SheetSource:
    """The live responses worksheet: one metadata read and one values read, never per-row calls."""

    key: str
    worksheet: str
    client: gspread.Client
    timeout: float = 60.0

    def read_values(self) -> list[list[str]]:
        with request_timeout(self.client, self.timeout), sheets_errors(self.key, "read", NOT_SHARED):
            if self.worksheet not in worksheets(self.client, self.key):
                raise SourceError(f"Google Sheet {self.key} has no worksheet named {self.worksheet!r}")
            return worksheet_values(self.client, self.key, self.worksheet)


def source_for(config: CohortConfig, override: Path | None = None) -> ResponseSource:
    """The configured source, or a file export given on the command line instead."""
    if override is not None:
        return FileSource(override)
    if isinstance(config.source, FileSourceConfig):
        return FileSource(config.source.path)
    sheet: SheetSourceConfig = config.source
    return SheetSource(sheet.key, sheet.worksheet, sheet_client(sheet))


def _blank(row: list) -> bool:
    return not any(str(cell).strip() for cell in row)


def header_index(values: list[list[str]], expected: Iterable[str] = ()) -> int:
    """Which row holds the question titles: the first row that is not blank, unless one of the next few names
    more of the expected questions (a title or banner row above the header)."""
    candidates = [i for i, row in enumerate(values[:50]) if not _blank(row)][:5]
    if not candidates:
        raise SourceError("the responses sheet is empty: it has no header row")
    wanted = {title_key(t) for t in expected}
    if not wanted:
        return candidates[0]
    named = {i: len(wanted & {title_key(c) for c in values[i]}) for i in candidates}
    best = max(candidates, key=lambda i: (named[i], -i))
    return best if named[best] else candidates[0]


def _distinct_names(header: list[str]) -> list[str]:
    """A title that is also the name of the column the pipeline adds (source_row) is renamed, not overwritten."""
    return [f"{t} (sheet column {i + 1})" if t == Col.SOURCE_ROW else t for i, t in enumerate(header)]


def values_to_frame(values: list[list[str]], expected: Iterable[str] = ()) -> pd.DataFrame:
    """Header titles become columns, ragged rows are padded, and every row keeps its sheet row number.

    The header is found with `header_index` (blank or banner rows above it are skipped). Rows with no answer
    at all (blank rows the API or an export leaves) and repeats of the header row are dropped here and nowhere
    else.
    """
    if not values:
        raise SourceError("the responses sheet is empty: it has no header row")
    first = header_index(values, expected)
    header = _distinct_names([clean_title(title) for title in values[first]])
    rows = values[first + 1 :]
    width = max(len(header), max(map(len, rows), default=0))
    # Only the short rows are copied to pad them; full rows go into the grid as they are.
    padded = [row if len(row) == width else [*row, *[""] * (width - len(row))] for row in rows]
    names = header + [f"(unnamed column {i + 1})" for i in range(len(header), width)]
    grid = np.array(padded, dtype=object) if padded else np.empty((0, width), dtype=object)
    frame = pd.DataFrame(grid.reshape(len(padded), width), columns=pd.Index(names), dtype="str")
    if frame.isna().to_numpy().any():
        frame = frame.fillna("")
    frame.insert(0, Col.SOURCE_ROW, range(first + 2, first + len(padded) + 2))
    # A row is answered when some cell has more than whitespace. Column by column, only the rows not yet
    # known to be answered are looked at: most rows are settled by their first cell.
    answered = np.zeros(len(frame), dtype=bool)
    for position in range(1, frame.shape[1]):
        pending = np.flatnonzero(~answered)
        if not len(pending):
            break
        cells = frame.iloc[pending, position]
        filled = (cells != "").to_numpy(dtype=bool, copy=True)
        if filled.any():
            filled[filled] = ~cells[filled].str.isspace().to_numpy(dtype=bool)
        answered[pending[filled]] = True
    titled = [i for i, t in enumerate(header) if t]
    if titled:  # a repeat of the header row (two exports pasted together) is not a response
        probe = frame.iloc[:, titled[0] + 1].map(clean_title) == header[titled[0]]
        if probe.any():
            again = probe.copy()
            for i in titled[1:]:
                again &= frame.iloc[:, i + 1].map(clean_title) == header[i]
            answered &= ~again.to_numpy(dtype=bool)
    if answered.all():
        return frame
    return frame.loc[answered].reset_index(drop=True)


def input_sha256(source: ResponseSource, values: list[list[str]]) -> str:
    """The file's SHA-256 for an export; for a live sheet, of the values read (as canonical JSON)."""
    if isinstance(source, FileSource):
        return hashlib.sha256(source.path.read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode("utf-8")).hexdigest()
