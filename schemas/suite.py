"""The great-expectations suite for one response row, with the plain-words reason of every check.

Each check reads one column of a check frame (built in tasks/validate.py) and carries the sentence a
staff member sees when it fails; `{field}` placeholders are filled from the row's own answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.columns import FIELD_LABELS, Col
from schemas.states import USPS_STATES

CheckKind = Literal["present", "absent", "true", "in_states", "between"]


@dataclass(frozen=True)
class Check:
    column: str
    kind: CheckKind
    reason: str


def _present(field: str) -> Check:
    return Check(f"has_{field}", "present", f"{FIELD_LABELS[field]} is missing")


def row_checks(min_team: int, max_team: int) -> tuple[Check, ...]:
    """Every check a row must pass, in the order its reasons are listed."""
    return (
        _present(Col.SUBMITTED_AT),
        Check(
            "submitted_at_ok",
            "true",
            "Timestamp is not a date and time the form writes (M/D/YYYY H:MM:SS): {submitted_at_text!r}",
        ),
        Check(
            "submitted_at_not_repeated",
            "true",
            "Timestamp is in the hour that happens twice when clocks go back, so it cannot tell whether the "
            "response was on time; correct it in the sheet or grant an extension: {submitted_at_text!r}",
        ),
        Check(
            "submitted_at_not_skipped",
            "true",
            "Timestamp is in the hour that clocks skip when they go forward, so the form cannot have written it; "
            "correct it in the sheet: {submitted_at_text!r}",
        ),
        _present(Col.LOCAL_NAME),
        _present(Col.STATE),
        Check("state_check", "in_states", "State is not a US state or territory: {state_text!r}"),
        _present(Col.SUBMITTER_EMAIL),
        Check("submitter_email_ok", "true", "Submitter email is not a valid address: {submitter_email!r}"),
        _present(Col.LEAD_NAME),
        _present(Col.LEAD_EMAIL),
        Check("lead_email_ok", "true", "Team lead email is not a valid address: {lead_email!r}"),
        Check(
            "bad_member_emails",
            "absent",
            "Team member email is not a valid address: {bad_member_emails}",
        ),
        Check(
            Col.TEAM_SIZE,
            "between",
            f"Team size must be {min_team} to {max_team} people (the lead plus team members): " + "it has {team_size}",
        ),
        _present(Col.JOB_FAMILIES),
        Check(
            Col.UNKNOWN_JOB_FAMILIES,
            "absent",
            "ESP job families include options that are not ESP career families: {unknown_job_families}",
        ),
        _present(Col.PRESIDENT_APPROVED),
        Check(
            "president_approved_ok",
            "true",
            "The form says the local president has not approved this application",
        ),
        _present(Col.COMMITMENT),
        Check("commitment_ok", "true", "The team says it cannot commit to the 9-week course schedule"),
    )


def build_expectations(min_team: int, max_team: int) -> list:
    """GX expectation objects for the checks, each carrying its reason in `meta`."""
    import great_expectations as gx

    made = []
    for check in row_checks(min_team, max_team):
        meta = {"reason": check.reason}
        column = str(check.column)
        if check.kind == "present":
            made.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=column, meta=meta))
        elif check.kind == "absent":
            made.append(gx.expectations.ExpectColumnValuesToBeNull(column=column, meta=meta))
        elif check.kind == "true":
            made.append(gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=[True], meta=meta))
        elif check.kind == "in_states":
            made.append(
                gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(USPS_STATES), meta=meta)
            )
        else:
            made.append(
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column=column, min_value=min_team, max_value=max_team, meta=meta
                )
            )
    return made
