"""The next call's lists from this one (`cohort-select carry-forward --from A --to B`): its interest list gains this
call's interest list, its participants' team leads and, when staff choose, the leads of the waitlisted teams that
never got a seat; its previous-participants list gains this call's participants, so the next rubric counts them as
returning. Nobody who asked to hear no more (an unsubscribe in this call's reply form) is carried, and one carried
before is taken off the next list; nobody already on it is added twice, and running it again adds nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from schemas.columns import Col, Derived, InterestCol, Status
from schemas.config import CohortConfig
from schemas.errors import StaffError
from tasks.decisions import write_table
from tasks.identity import open_cohort_store
from tasks.notices import read_interest_list
from tasks.replies import read_responses, unsubscribed_addresses
from tasks.score import read_team_list
from tasks.teams import current_decisions, team_rows

# The teams that took part. With a reply form, the teams that confirmed: a selected team that stayed silent did not.
# Without one, confirmations are what staff recorded, which they may not have done for every team, so a selected
# team that neither declined nor was withdrawn counts too.
PARTICIPATED_WITH_REPLIES = frozenset({Status.CONFIRMED})
PARTICIPATED = frozenset({Status.CONFIRMED, Status.SELECTED})
# A waitlisted team that never got a seat: still waitlisted, or its offer expired unanswered.
NEVER_SEATED = frozenset({Status.WAITLISTED, Status.EXPIRED})


class CarryForwardError(StaffError):
    """The next call's files cannot take the lists (a key missing from its cohort file, a list that is no CSV)."""


class CarryReport(BaseModel):
    """What carry-forward added to the next call's files, and what it left out."""

    interest_added: int
    participants_added: int
    unsubscribed_left_out: int
    already_listed: int
    interest_list: str
    previous_participants: str

    def as_text(self) -> str:
        return (
            f"{self.interest_added} added to the interest list {self.interest_list} ({self.already_listed} already "
            f"on it, {self.unsubscribed_left_out} left out: they asked to hear no more)\n"
            f"{self.participants_added} added to the previous participants {self.previous_participants}"
        )


def _csv_path(path: Path | None, key: str) -> Path:
    if path is None:
        raise CarryForwardError(f"the next call's cohort file has no `{key}`: give it a CSV file to carry into")
    if path.suffix.lower() != ".csv":
        raise CarryForwardError(f"{key}: carry-forward writes CSV files, and {path.name} is not one")
    return path


def _leads(teams: pd.DataFrame, day: str) -> pd.DataFrame:
    """The team leads of `teams` as interest-list rows."""
    return pd.DataFrame(
        {
            InterestCol.NAME: teams[Col.LEAD_NAME].fillna("").astype(str),
            InterestCol.EMAIL: teams[Col.LEAD_EMAIL].fillna("").astype(str).str.strip().str.lower(),
            InterestCol.LOCAL: teams[Col.LOCAL_NAME].fillna("").astype(str),
            InterestCol.STATE: teams[Col.STATE].fillna("").astype(str),
            InterestCol.DATE: day,
        }
    )


def carried_people(source: CohortConfig, *, waitlisted: bool, today: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the people to carry into the next interest list, the participating teams), from this call's store."""
    engine = open_cohort_store(source)
    teams = team_rows(current_decisions(engine, source.cohort_id)[1])  # NoSelectionError before any selection
    took_part = PARTICIPATED_WITH_REPLIES if source.replies is not None else PARTICIPATED
    participants = teams[teams[Col.STATUS].isin(list(took_part))]
    day = f"{today.month}/{today.day}/{today.year}"
    people = [_leads(participants, day)]
    if source.interest_list is not None:
        people.insert(0, read_interest_list(source.interest_list))
    if waitlisted:
        decided = teams[Derived.DECIDED_STATUS] if Derived.DECIDED_STATUS in teams.columns else teams[Col.STATUS]
        never = teams[(decided == Status.WAITLISTED) & teams[Col.STATUS].isin(list(NEVER_SEATED))]
        people.append(_leads(never, day))
    frame = pd.concat(people, ignore_index=True).reindex(columns=list(InterestCol), fill_value="")
    frame = frame[frame[InterestCol.EMAIL].str.strip() != ""]
    return frame.drop_duplicates(InterestCol.EMAIL, keep="first"), participants


def _team_keys(path: Path) -> list[str]:
    """The previous participants' team keys in the file's order (checked as the rubric reads them)."""
    if not path.is_file():
        return []
    read_team_list(path)  # the file's problems in the rubric's words
    return list(pd.read_csv(path, dtype=str, keep_default_na=False)[Derived.TEAM_KEY].str.strip())


def carry_forward(source: CohortConfig, target: CohortConfig, *, waitlisted: bool, today: dt.date) -> CarryReport:
    """This call's interest list, participants (and never-seated waitlisted teams) into the next call's files."""
    interest_path = _csv_path(target.interest_list, "interest_list")
    previous_path = _csv_path(target.previous_participants, "previous_participants")
    people, participants = carried_people(source, waitlisted=waitlisted, today=today)
    gone = unsubscribed_addresses(source, read_responses(source)) if source.replies is not None else frozenset()
    leaving = people[InterestCol.EMAIL].str.casefold().isin(gone)
    kept = people[~leaving]
    existing = (
        read_interest_list(interest_path)
        if interest_path.is_file()
        else pd.DataFrame(columns=list(InterestCol), dtype=str)
    )
    # Someone already carried to the next list who has since asked this call to stop hears no more either.
    stopped = existing[InterestCol.EMAIL].str.casefold().isin(gone)
    existing = existing[~stopped]
    known = set(existing[InterestCol.EMAIL].str.casefold())
    new = kept[~kept[InterestCol.EMAIL].str.casefold().isin(known)]
    write_table(pd.concat([existing.reindex(columns=list(InterestCol)), new], ignore_index=True), interest_path)
    before = _team_keys(previous_path)
    keys = [k for k in dict.fromkeys(participants[Derived.TEAM_KEY].astype(str)) if k not in set(before)]
    write_table(pd.DataFrame({Derived.TEAM_KEY: before + keys}), previous_path)
    return CarryReport(
        interest_added=len(new),
        participants_added=len(keys),
        unsubscribed_left_out=int(leaving.sum() + stopped.sum()),
        already_listed=len(kept) - len(new),
        interest_list=str(interest_path),
        previous_participants=str(previous_path),
    )
