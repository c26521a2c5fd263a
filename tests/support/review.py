"""A review round for the review tests: a ReviewConfig, a few teams and their assignment."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import yaml

from schemas.config import ReviewConfig
from schemas.review import REVIEW_SHEET
from tests.support.paths import CONFIG_PATH, EXAMPLE_PATH


def review_config(**changes) -> ReviewConfig:
    data = {
        "roster": "reviewers.csv",
        "criteria": [
            {"name": "vision", "description": "How clear is the reason?", "scale": [1, 2, 3, 4, 5]},
            {"name": "readiness", "description": "Is the team ready?", "scale": {"min": 0, "max": 10, "step": 0.5}},
        ],
        "due": dt.datetime(2021, 6, 14, 17, 0),
        "spread_threshold": 2,
        "answers": ["why_statement", "member_emails"],
    }
    return ReviewConfig.model_validate(data | changes)


def teams() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "team_key": ["CA:fresno", "KY:kingston", "NY:troy"],
            "source_row": [2, 3, 4],
            "local_name": ["Fresno EA", "Kingston Education Association", "Troy Education Assn"],
            "state": ["CA", "KY", "NY"],
            "why_statement": ['=HYPERLINK("x")', "Members asked for it.", "We lose new paraeducators."],
            "member_emails": [["a@f.org", "b@f.org"], [], ["c@t.org"]],
        }
    )


def assignments(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    rows = {"CA:fresno": 2, "KY:kingston": 3, "NY:troy": 4}
    return pd.DataFrame(
        [(key, rows[key], email, email.split("@")[0].title()) for key, email in pairs],
        columns=["team_key", "source_row", "reviewer_email", "reviewer_name"],
    )


AFTER = "2021-06-08 09:00"
ROSTER = [  # name, email, state, affiliate: 8 reviewers across states, one with a cap
    ("Ana Ruiz", "ana@nea.example.org", "CA", "California Teachers Association", ""),
    ("Bo Chen", "bo@nea.example.org", "NY", "NYSUT", ""),
    ("Cy Park", "cy@nea.example.org", "TX", "Texas State Teachers Association", ""),
    ("Di Okafor", "di@nea.example.org", "IL", "Illinois Education Association", ""),
    ("Ed Moss", "ed@nea.example.org", "WA", "Washington Education Association", ""),
    ("Flo Dane", "flo@nea.example.org", "ME", "Maine Education Association", ""),
    ("Gus Lind", "gus@nea.example.org", "KY", "Kentucky Education Association", "10"),
    ("Hal Ivey", "hal@nea.example.org", "PA", "PSEA", ""),
]


def review_cohort(
    folder, overrides: str | None = None, smtp_port: int | None = None, sheets: tuple[dict, str] | None = None
) -> str:
    """The bundled 2021 cohort with the 8-reviewer roster and 2 criteria, its store and files under `folder`;
    `sheets`: a google_sheet source and the key of the review spreadsheet."""
    data = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    data["state_url"] = f"sqlite:///{folder / 'state.sqlite'}"
    for key in ("previous_participants", "interest_list"):
        data[key] = str((CONFIG_PATH.parent / data[key]).resolve())
    data["source"]["path"] = str(EXAMPLE_PATH)
    pd.DataFrame(ROSTER, columns=["name", "email", "state", "affiliate", "cap"]).to_csv(
        folder / "reviewers.csv", index=False
    )
    data["review"] = {
        "roster": "reviewers.csv",
        "folder": "review",
        "criteria": [
            {"name": "vision", "description": "How clear is the reason?", "scale": [1, 2, 3, 4, 5], "weight": 1},
            {"name": "readiness", "description": "Is the team ready?", "scale": {"min": 0, "max": 5, "step": 0.5}},
        ],
        "due": "2021-06-14 17:00",
        "spread_threshold": 2,
    }
    if sheets is not None:
        data["source"] = sheets[0]
        data["review"]["spreadsheet"] = sheets[1]
    if smtp_port is not None:
        data["email"]["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
    if overrides:
        (folder / "overrides.csv").write_text(overrides, encoding="utf-8")
        data["overrides"] = "overrides.csv"
    path = folder / "esp-2021.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def fill_reviews(folder, skip: tuple[str, str] | None = None) -> None:
    """Every reviewer scores every team: vision from the team key's length, readiness 3.5 (`skip`: one review left
    empty, as (team_key, reviewer_email))."""
    for path in sorted((folder / "review" / "reviewers").glob("*.xlsx")):
        book = openpyxl.load_workbook(path)
        sheet = book[REVIEW_SHEET]
        header = [cell.value for cell in sheet[1]]
        vision, readiness = header.index("vision") + 1, header.index("readiness") + 1
        for row in range(2, sheet.max_row + 1):
            key = sheet.cell(row, 1).value
            if skip and key == skip[0] and path.stem == skip[1]:
                continue
            sheet.cell(row, vision).value = 1 + len(str(key)) % 5
            sheet.cell(row, readiness).value = 3.5
        book.save(path)
