"""A review round for the review tests: a ReviewConfig, a few teams and their assignment."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from schemas.config import ReviewConfig


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
