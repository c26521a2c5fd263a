"""Building blocks for tests: a response row as the form writes it, teams made from it, and frames made from rows."""

from __future__ import annotations

import pandas as pd

from examples.generate import HEADERS
from tasks.sources import values_to_frame

GOOD_ROW: dict[str, str] = {
    "Timestamp": "6/1/2021 12:30:00",
    "Email Address": "dana@troyea.example.org",
    "Local Association name": "Troy Education Association",
    "State": "New York",
    "State affiliate": "NYSUT",
    "Team lead name": "Dana Whitfield",
    "Team lead email": "Dana@TroyEA.example.org",
    "Team lead phone": "",
    "Team member 2 name": "Luis Ortega",
    "Team member 2 email": "luis@troyea.example.org",
    "Team member 3 name": "",
    "Team member 3 email": "",
    "Team member 4 name": "",
    "Team member 4 email": "",
    "Team member 5 name": "",
    "Team member 5 email": "",
    "ESP job families represented on the team": "Clerical Services, Food Services",
    "Education levels your local serves": "Elementary School, High School",
    "Does your local currently have an ESP mentoring program?": "No",
    "Has your local president approved this application?": "Yes",
    "Can your team commit to the 9-week course schedule?": "Yes",
    "Why does your local want to build an ESP mentoring program?": "To keep new ESPs.",
}


def row(**changes: str) -> list[str]:
    """GOOD_ROW with some answers changed, keyed by header title with spaces as underscores."""
    answers = dict(GOOD_ROW)
    for key, value in changes.items():
        title = next(h for h in HEADERS if h.replace(" ", "_").replace("?", "").replace("-", "_") == key)
        answers[title] = value
    return [answers[h] for h in HEADERS]


def raw_frame(*rows: list[str]) -> pd.DataFrame:
    return values_to_frame([list(HEADERS), *rows])


def numbered_team(i: int, state: str = "OH", **more: str) -> list[str]:
    """Team i: its own local and lead address (lead{i}@local{i}.example.org), which also submitted the form."""
    lead = f"lead{i}@local{i}.example.org"
    answers = {
        "Local_Association_name": f"Local {i} Education Association",
        "State": state,
        "Team_lead_name": f"Lead {i}",
        "Team_lead_email": lead,
        "Email_Address": lead,
    }
    return row(**(answers | more))


def named_team(name: str, state: str, lead: str, stamp: str = "6/1/2021 12:00:00", **more: str) -> list[str]:
    """A team by its local's name and its lead's name, whose address is made from the lead's name at example.org."""
    email = lead.lower().replace(" ", ".") + "@example.org"
    return row(
        Local_Association_name=name, State=state, Team_lead_name=lead, Team_lead_email=email, Timestamp=stamp, **more
    )
