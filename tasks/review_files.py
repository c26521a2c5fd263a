"""The reviewer files of a file-source call: DIR/reviewers/<reviewer>.xlsx, one sheet `Reviews` listing the
reviewer's assigned applications (their answers, which the sheet's protection keeps from casual edits) with one
score column per criterion, each cell's dropdown (openpyxl data validation) holding the criterion's scale, and a
comment column. Writing again after a late change keeps every score and comment already entered for a team the
reviewer still has."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pandas as pd
from openpyxl.styles import Protection  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.datavalidation import DataValidation  # type: ignore[import-untyped]

from schemas.columns import LIST_SEPARATOR, Derived
from schemas.config import ReviewConfig, ReviewCriterion
from schemas.review import COMMENT, REVIEW_SHEET, REVIEWERS_FOLDER, SHEET_FIXED, AssignCol
from tasks.files import OutputError

# A list validation's formula is at most 255 characters (Excel's limit): a longer scale is checked as a range.
_LIST_LIMIT = 255
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def reviewer_file(folder: Path, email: str) -> Path:
    """The reviewer's file: named for the address, with any character a file name should not hold as `_`."""
    return folder / REVIEWERS_FOLDER / f"{_UNSAFE.sub('_', email)}.xlsx"


def header(review: ReviewConfig) -> list[str]:
    """team_key, local_name, state, the answers shown, one column per criterion, comment."""
    return [*SHEET_FIXED, *review.answers, *(c.name for c in review.criteria), COMMENT]


def cell_text(value: object) -> str:
    """An answer as the reviewer reads it: a list (member emails, checkboxes) joined, a missing one empty."""
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(str(v) for v in value)
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return str(value)


def _validation(criterion: ReviewCriterion) -> DataValidation:
    values = ",".join(f"{v:g}" for v in criterion.values)
    common = {
        "allow_blank": True,
        "showErrorMessage": True,
        "errorTitle": f"{criterion.name}: not on the scale",
        "promptTitle": criterion.name,
        "prompt": criterion.description[:255],
        "showInputMessage": True,
    }
    if len(values) + 2 <= _LIST_LIMIT:
        return DataValidation(type="list", formula1=f'"{values}"', error=f"Choose one of {values}", **common)
    low, high = criterion.values[0], criterion.values[-1]
    return DataValidation(
        type="decimal",
        operator="between",
        formula1=f"{low:g}",
        formula2=f"{high:g}",
        error=f"From {low:g} to {high:g}",
        **common,
    )


def _entered(path: Path, review: ReviewConfig) -> dict[str, dict[str, object]]:
    """What the reviewer wrote so far in their file, per team key."""
    if not path.is_file():
        return {}
    try:
        sheet = openpyxl.load_workbook(path, read_only=True, data_only=True)[REVIEW_SHEET]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise OutputError(f"cannot read {path} to keep its scores ({exc}); nothing was written") from None
    return entered_in(sheet.iter_rows(values_only=True), review)


def entered_in(table: Iterable[Sequence[object]], review: ReviewConfig) -> dict[str, dict[str, object]]:
    """What a reviewer wrote so far in a sheet's rows (header first), per team key: each criterion's cell and the
    comment, as they are; the first row of a team counts."""
    rows = iter(table)
    names = [str(v) if v is not None else "" for v in next(rows, ())]
    kept = scored_columns(review)
    if Derived.TEAM_KEY not in names:
        return {}
    at = {name: names.index(name) for name in kept if name in names}
    key_at = names.index(Derived.TEAM_KEY)
    found: dict[str, dict[str, object]] = {}
    for row in rows:
        if key_at < len(row) and row[key_at]:
            found.setdefault(str(row[key_at]), {name: row[i] for name, i in at.items() if i < len(row)})
    return found


def write_reviewer_files(
    folder: Path, assignments: pd.DataFrame, teams: pd.DataFrame, review: ReviewConfig
) -> list[Path]:
    """One file per reviewer of `assignments`, its rows the reviewer's teams sorted by key; returns the paths."""
    by_key: dict = teams.drop_duplicates(Derived.TEAM_KEY).set_index(Derived.TEAM_KEY).to_dict("index")
    written = []
    for email, mine in assignments.groupby(AssignCol.REVIEWER_EMAIL, sort=True):
        path = reviewer_file(folder, str(email))
        keys = sorted(mine[AssignCol.TEAM_KEY].astype(str))
        _write(path, [by_key[key] for key in keys], keys, review, _entered(path, review))
        written.append(path)
    return written


def scored_columns(review: ReviewConfig) -> list[str]:
    """The columns a reviewer writes: one per criterion, then the comment (the last columns of the header)."""
    return [c.name for c in review.criteria] + [COMMENT]


def sheet_rows(keys: list[str], teams: list[dict], review: ReviewConfig, kept: dict) -> list[tuple[list, list]]:
    """Per team in `keys` order: its answer cells as text (team key first), then what the reviewer wrote so far
    (`kept`, by team key) in the scored columns, None where nothing was."""
    names = header(review)
    scored = scored_columns(review)
    shown = names[1 : len(names) - len(scored)]
    return [
        ([key, *(cell_text(team.get(name)) for name in shown)], [kept.get(key, {}).get(name) for name in scored])
        for key, team in zip(keys, teams, strict=True)
    ]


def _write(path: Path, teams: list[dict], keys: list[str], review: ReviewConfig, kept: dict) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = REVIEW_SHEET
    names = header(review)
    sheet.append(names)
    scored = scored_columns(review)
    for row, (answers, written) in enumerate(sheet_rows(keys, teams, review, kept), start=2):
        for column, text in enumerate(answers, start=1):
            cell = sheet.cell(row=row, column=column, value=text)
            cell.data_type = "s"  # written as text, never run as a formula
        for column, value in enumerate(written, start=len(answers) + 1):
            cell = sheet.cell(row=row, column=column, value=value)
            if isinstance(cell.value, str):
                cell.data_type = "s"
            cell.protection = Protection(locked=False)
    last = len(keys) + 1
    for at, criterion in enumerate(review.criteria):
        letter = get_column_letter(len(names) - len(scored) + 1 + at)
        validation = _validation(criterion)
        sheet.add_data_validation(validation)
        if keys:
            validation.add(f"{letter}2:{letter}{last}")
    sheet.freeze_panes = "B2"
    sheet.protection.sheet = True  # answers locked; the score and comment cells are not
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        book.save(partial)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({exc.strerror}); the previous file, if any, is unchanged") from None
