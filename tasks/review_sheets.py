"""The review spreadsheet of a call whose responses are a Google Sheet: one worksheet per reviewer, titled with the
reviewer's address, holding the same columns as a reviewer file (tasks/review_files.py).

Each worksheet is protected whole except its score and comment cells, which a second protected range opens to that
reviewer alone; each score column has a dropdown of its criterion's scale (data validation, strict). The answers are
written as string values, so no answer is ever run as a formula. Writing again after a late change keeps what each
reviewer wrote for a team they still have, and keeps each worksheet's id, so the link in a reviewer's notice stays
good. All of it is one spreadsheets.batchUpdate: the worksheets are replaced together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable

import gspread
import pandas as pd
from gspread.utils import absolute_range_name

from schemas.columns import Derived
from schemas.config import ReviewConfig, ReviewCriterion
from schemas.review import AssignCol
from tasks.review_collect import Table
from tasks.review_files import entered_in, header, scored_columns, sheet_rows
from tasks.sheets import sheets_errors, worksheets

# A dropdown lists the scale's values up to this many; a longer scale is checked as a number between its ends.
DROPDOWN_LIMIT = 100
_TITLE_LIMIT = 100  # the API's limit on a worksheet title
_REFUSED = "cannot be written: share it with the service account as Editor"


def worksheet_title(email: str) -> str:
    """The reviewer's worksheet: titled with their address, which the roster holds once."""
    return email[:_TITLE_LIMIT]


def worksheet_url(key: str, sheet_id: int) -> str:
    """The link that opens the spreadsheet at the reviewer's worksheet."""
    return f"https://docs.google.com/spreadsheets/d/{key}/edit#gid={sheet_id}"


def _grid(sheet_id: int, rows: tuple[int, int], columns: tuple[int, int]) -> dict:
    """A GridRange: zero-based, the end of each span excluded."""
    return {
        "sheetId": sheet_id,
        "startRowIndex": rows[0],
        "endRowIndex": rows[1],
        "startColumnIndex": columns[0],
        "endColumnIndex": columns[1],
    }


def _cell(value: object) -> dict:
    """A CellData: text as a string value (never a formula), a number as a number, nothing as an empty cell."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return {}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"userEnteredValue": {"numberValue": float(value)}}
    return {"userEnteredValue": {"stringValue": str(value)}}


def _entered_cells(written: list) -> list[dict]:
    """What a reviewer wrote, kept: a score read back as text ("3.5") is written as the number it is, so its
    dropdown holds it; the comment (the last column) stays text."""
    *scores, comment = written
    return [_cell(_number_or_text(v)) for v in scores] + [_cell(comment)]


def _number_or_text(value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _condition(criterion: ReviewCriterion) -> dict:
    values = criterion.values
    if len(values) <= DROPDOWN_LIMIT:
        return {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": f"{v:g}"} for v in values]}
    return {
        "type": "NUMBER_BETWEEN",
        "values": [{"userEnteredValue": f"{values[0]:g}"}, {"userEnteredValue": f"{values[-1]:g}"}],
    }


def _protections(sheet_id: int, email: str, scores: dict | None) -> list[dict]:
    """The worksheet protected whole but for its score and comment cells, and those opened to the reviewer alone
    (the spreadsheet's owner and the service account keep their access to both)."""
    whole = {
        "range": {"sheetId": sheet_id},
        "unprotectedRanges": [scores] if scores else [],
        "description": "The applications and their answers: read-only",
        "editors": {"users": []},
    }
    made = [{"addProtectedRange": {"protectedRange": whole}}]
    if scores:
        own = {"range": scores, "description": f"Scores and comments of {email}", "editors": {"users": [email]}}
        made.append({"addProtectedRange": {"protectedRange": own}})
    return made


def _dropdowns(sheet_id: int, height: int, first_scored: int, review: ReviewConfig) -> list[dict]:
    made = []
    for at, criterion in enumerate(review.criteria):
        column = first_scored + at
        rule = {
            "condition": _condition(criterion),
            "inputMessage": criterion.description[:500],
            "strict": True,
            "showCustomUi": True,
        }
        made.append({"setDataValidation": {"range": _grid(sheet_id, (1, height), (column, column + 1)), "rule": rule}})
    return made


def worksheet_requests(
    sheet_id: int, email: str, rows: list[tuple[list, list]], review: ReviewConfig, existing: dict | None = None
) -> list[dict]:
    """The requests that make one reviewer's worksheet: added (or, when `existing` gives its properties and
    protected ranges, its protections removed and its grid resized), every cell written over the whole grid (so
    old values and dropdowns go), protected, the dropdowns added."""
    names = header(review)
    height, width = len(rows) + 1, len(names)
    first_scored = width - len(scored_columns(review))
    grid = {"rowCount": height, "columnCount": width, "frozenRowCount": 1}
    properties = {"sheetId": sheet_id, "title": worksheet_title(email), "gridProperties": grid}
    if existing is None:
        requests: list[dict] = [{"addSheet": {"properties": properties}}]
    else:
        requests = [
            {"deleteProtectedRange": {"protectedRangeId": kept["protectedRangeId"]}}
            for kept in existing.get("protectedRanges", [])
        ]
        fields = "gridProperties.rowCount,gridProperties.columnCount,gridProperties.frozenRowCount"
        requests.append({"updateSheetProperties": {"properties": properties, "fields": fields}})
    cells = [{"values": [_cell(v) for v in names]}]
    cells += [{"values": [_cell(v) for v in answers] + _entered_cells(written)} for answers, written in rows]
    whole = _grid(sheet_id, (0, height), (0, width))
    requests.append({"updateCells": {"range": whole, "rows": cells, "fields": "userEnteredValue,dataValidation"}})
    scores = _grid(sheet_id, (1, height), (first_scored, width)) if rows else None
    return (
        requests
        + _protections(sheet_id, email, scores)
        + (_dropdowns(sheet_id, height, first_scored, review) if rows else [])
    )


def read_worksheets(
    client: gspread.Client, key: str, emails: Iterable[str], present: dict[str, dict]
) -> dict[str, Table]:
    """The worksheets of these reviewers that exist, as rows of text: one values.batchGet (none when no reviewer has
    a worksheet yet)."""
    titles = {email: worksheet_title(email) for email in emails if worksheet_title(email) in present}
    if not titles:
        return {}
    ranges = [absolute_range_name(title) for title in titles.values()]
    answer = client.http_client.values_batch_get(key, ranges)
    tables: dict[str, Table] = {}
    for (email, title), block in zip(titles.items(), answer.get("valueRanges", []), strict=True):
        tables[email] = (title, [list(row) for row in block.get("values", [])])
    return tables


def sheet_tables(client: gspread.Client, key: str, emails: Iterable[str]) -> dict[str, Table]:
    """Each reviewer's worksheet of the review spreadsheet (a missing one: nothing scored yet), as rows: a metadata
    read and one values.batchGet."""
    with sheets_errors(key, "read of the review sheets", "cannot be read: share it with the service account"):
        return read_worksheets(client, key, list(emails), worksheets(client, key))


def worksheet_ids(client: gspread.Client, key: str) -> dict[str, int]:
    """Each worksheet's id by its title (one metadata read): the notices link to the reviewer's own."""
    with sheets_errors(key, "read of the review sheets", "cannot be read: share it with the service account"):
        return {title: int(props["sheetId"]) for title, props in worksheets(client, key).items()}


def _worksheets(client: gspread.Client, key: str) -> dict[str, dict]:
    """Each worksheet by title: its properties and its protected ranges (one metadata read)."""
    metadata = client.http_client.fetch_sheet_metadata(key)
    return {
        sheet["properties"]["title"]: sheet["properties"] | {"protectedRanges": sheet.get("protectedRanges", [])}
        for sheet in metadata.get("sheets", [])
    }


def write_review_sheets(
    client: gspread.Client, key: str, assignments: pd.DataFrame, teams: pd.DataFrame, review: ReviewConfig
) -> int:
    """One worksheet per reviewer of `assignments`, rows sorted by team key, what each reviewer wrote kept; returns
    the number of API requests (a metadata read, a values read when worksheets exist, one batchUpdate)."""
    by_key: dict = teams.drop_duplicates(Derived.TEAM_KEY).set_index(Derived.TEAM_KEY).to_dict("index")
    emails = sorted(assignments[AssignCol.REVIEWER_EMAIL].astype(str).unique())
    with sheets_errors(key, "write of the review sheets", _REFUSED):
        present = _worksheets(client, key)
        kept = read_worksheets(client, key, emails, present)
        next_id = max((int(p["sheetId"]) for p in present.values()), default=0) + 1
        requests: list[dict] = []
        for email in emails:
            existing = present.get(worksheet_title(email))
            if existing is not None:
                sheet_id = int(existing["sheetId"])
            else:
                sheet_id, next_id = next_id, next_id + 1
            mine = assignments[assignments[AssignCol.REVIEWER_EMAIL].astype(str) == email]
            keys = sorted(mine[AssignCol.TEAM_KEY].astype(str))
            written = entered_in(kept[email][1], review) if email in kept else {}
            rows = sheet_rows(keys, [by_key[k] for k in keys], review, written)
            requests += worksheet_requests(sheet_id, email, rows, review, existing)
        client.http_client.batch_update(key, {"requests": requests})
    return 2 + bool(kept)
