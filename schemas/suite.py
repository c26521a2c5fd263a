"""The checks a response row must pass, with the plain-words reason of every check, and the GX suite.

Each check reads one column of a check frame (built in tasks/validate.py) and carries the sentence a
staff member sees when it fails (`{field}` placeholders are filled from the row's own answers) and its
reason code, the fact a notice words for the applicant (templates/notices/reasons.yaml). Reasons and
codes are both read from the same failed-check bits, so they always name the same checks.

Every check is evaluated over the whole column at once (`failing`); the check frame then carries, per
row, the set of checks it fails as bits of one integer (`FAILED_CHECKS`). The great-expectations suite
validates that column: a row is valid when it fails no check, and GX's unexpected rows (keyed by
`source_row`) with their bits are the invalid rows and their reasons. One expectation instead of one per
check: GX's fixed cost is per expectation (about 2.5 ms each, 45 ms for the whole suite at 1,000 rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from schemas.columns import FIELD_LABELS, Col, ReasonCode, check_code, required_code
from schemas.states import USPS_STATES

CheckKind = Literal["present", "absent", "true", "in_states", "between"]


@dataclass(frozen=True)
class Check:
    column: str
    kind: CheckKind
    reason: str
    code: str


def _present(field: str) -> Check:
    return Check(f"has_{field}", "present", f"{FIELD_LABELS[field]} is missing", required_code(field))


def yes_no_text(field: str) -> str:
    """The column of the normalized frame holding a Yes/No question's answer as written (`president_approved_text`):
    what a reason quotes when the answer is neither Yes nor No."""
    return f"{field}_text"


def _yes_or_no(field: str) -> Check:
    """A Yes/No question answered with something else ("Not yet", "Y"): said as it was, not taken for a blank."""
    return Check(
        f"{field}_yes_or_no",
        "true",
        f"{FIELD_LABELS[field]} is neither Yes nor No: " + "{" + yes_no_text(field) + "!r}",
        check_code(f"{field}_unclear"),
    )


# How a sheet writes its timestamps, by the cohort's `timestamp_order` (also read with AM/PM, or as ISO dates).
TIMESTAMP_PATTERNS = {"month-first": "M/D/YYYY H:MM:SS", "day-first": "D/M/YYYY H:MM:SS"}
# The check frame's column giving, for a time in the repeated hour the deadline cannot settle, its two readings
# and the extension that accepts it (tasks/validate.py).
REPEATED_HOUR_ADVICE = "submitted_at_readings"


def row_checks(min_team: int, max_team: int, timestamp_order: str = "month-first") -> tuple[Check, ...]:
    """Every check a row must pass, in the order its reasons are listed."""
    return (
        _present(Col.SUBMITTED_AT),
        Check(
            "submitted_at_ok",
            "true",
            f"Timestamp is not a date and time the form writes ({TIMESTAMP_PATTERNS[timestamp_order]}): "
            + "{submitted_at_text!r}",
            check_code(Col.SUBMITTED_AT),
        ),
        Check(
            "submitted_at_not_repeated",
            "true",
            "Timestamp is in the hour that happens twice when clocks go back, and the response is on time at one "
            "reading but late at the other: {" + REPEATED_HOUR_ADVICE + "}",
            check_code("submitted_at_repeated"),
        ),
        Check(
            "submitted_at_not_skipped",
            "true",
            "Timestamp is in the hour that clocks skip when they go forward, so the form cannot have written it "
            "(correct it in the sheet): {submitted_at_text!r}",
            check_code("submitted_at_skipped"),
        ),
        _present(Col.LOCAL_NAME),
        _present(Col.STATE),
        Check(
            "state_check", "in_states", "State is not a US state or territory: {state_text!r}", check_code(Col.STATE)
        ),
        _present(Col.SUBMITTER_EMAIL),
        Check(
            "submitter_email_ok",
            "true",
            "Submitter email is not a valid address: {submitter_email!r}",
            check_code(Col.SUBMITTER_EMAIL),
        ),
        _present(Col.LEAD_NAME),
        _present(Col.LEAD_EMAIL),
        Check(
            "lead_email_ok",
            "true",
            "Team lead email is not a valid address: {lead_email!r}",
            check_code(Col.LEAD_EMAIL),
        ),
        Check(
            "bad_member_emails",
            "absent",
            "Team member email is not a valid address: {bad_member_emails}",
            check_code(Col.MEMBER_EMAILS),
        ),
        Check(
            Col.TEAM_SIZE,
            "between",
            f"Team size must be {min_team} to {max_team} people (the lead plus team members): " + "it has {team_size}",
            check_code(Col.TEAM_SIZE),
        ),
        _present(Col.JOB_FAMILIES),
        Check(
            Col.UNKNOWN_JOB_FAMILIES,
            "absent",
            "ESP job families include options that are not ESP career families: {unknown_job_families}",
            check_code(Col.JOB_FAMILIES),
        ),
        _present(Col.PRESIDENT_APPROVED),
        _yes_or_no(Col.PRESIDENT_APPROVED),
        Check(
            "president_approved_ok",
            "true",
            "The form says the local president has not approved this application",
            check_code(Col.PRESIDENT_APPROVED),
        ),
        _present(Col.COMMITMENT),
        _yes_or_no(Col.COMMITMENT),
        Check(
            "commitment_ok",
            "true",
            "The team says it cannot commit to the 9-week course schedule",
            check_code(Col.COMMITMENT),
        ),
    )


FAILED_CHECKS = "failed_checks"
_STATE_CODES = sorted(USPS_STATES)


def failing(check: Check, values: pd.Series, min_team: int, max_team: int) -> np.ndarray:
    """Where rows fail one check, for the whole column at once.

    A check column holds, by kind: `present` whether the row answered; `true` True, False, or missing where the
    check does not apply; `absent` the offending text, or missing; `in_states` the state as given, or missing;
    `between` a number. Missing values pass every kind but `present`, as they do in a GX column expectation.
    """
    if check.kind == "present":
        return ~values.to_numpy(dtype=bool)
    if check.kind == "true":
        return values.eq(other=False).fillna(value=False).to_numpy(dtype=bool)
    if check.kind == "absent":
        return values.notna().to_numpy(dtype=bool)
    if check.kind == "in_states":
        return (values.notna() & ~values.isin(_STATE_CODES)).to_numpy(dtype=bool)
    return (values.notna() & ~values.between(min_team, max_team)).to_numpy(dtype=bool)


def failed_check_bits(checks: pd.DataFrame, min_team: int, max_team: int) -> np.ndarray:
    """Per row, bit k set when the row fails check k of `row_checks` (0 for a row that passes them all)."""
    bits = np.zeros(len(checks), dtype="int64")
    for k, check in enumerate(row_checks(min_team, max_team)):
        bits |= failing(check, checks[check.column], min_team, max_team).astype("int64") << k
    return bits


def failed_check_codes(bits: np.ndarray, min_team: int, max_team: int) -> list[list[str]]:
    """Per row, the codes of the checks set in its failed-check bits, in the order its reasons are listed.

    Read from the very bits the reasons are written from, so a row's codes and reasons name the same checks.
    """
    columns = [np.where(bits & (1 << k), check.code, "") for k, check in enumerate(row_checks(min_team, max_team))]
    return [[str(code) for code in row if code] for row in zip(*columns, strict=True)]


def reason_codes_produced() -> frozenset[str]:
    """Every reason code a row can be given: one per check here, and the later steps' (schemas.columns.ReasonCode).

    Each needs an applicant's sentence in templates/notices/reasons.yaml.
    """
    return frozenset(check.code for check in row_checks(1, 1)) | frozenset(ReasonCode)


def build_expectations() -> list:
    """The GX expectations: every row fails no check."""
    import great_expectations as gx

    return [
        gx.expectations.ExpectColumnValuesToBeInSet(
            column=FAILED_CHECKS, value_set=[0], meta={"reason": "the row fails one or more checks"}
        )
    ]
