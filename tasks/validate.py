"""Run the great-expectations suite over the canonical frame and turn failures into per-row reasons."""

from __future__ import annotations

import functools
import os
from typing import Any

import email_validator
import pandas as pd
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel

from schemas.columns import Col, Status
from schemas.config import CohortConfig
from schemas.suite import build_expectations
from tasks.normalize import clock_change_trouble

REASON_SEPARATOR = "; "
_DISPLAY_LIMIT = 80


@functools.cache
def is_valid_address(address: str) -> bool:
    """Syntax only (no DNS): a notice can be addressed to it and no header can be forged with it."""
    if any(ch in address for ch in "\r\n\x00,;<>"):
        return False
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


# Plain ASCII addresses in the common form: accepted without calling email-validator, which costs
# ~30 µs an address. Anything else (non-ASCII, quoted, special-use domains) takes the full check.
_COMMON_ADDRESS = (
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64})*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_SPECIAL_USE = r"\.(?:" + "|".join(email_validator.SPECIAL_USE_DOMAIN_NAMES) + r")$"


def valid_addresses(emails: pd.Series) -> pd.Series:
    """is_valid_address for a whole column: a vectorised fast path, the full check for the rest."""
    unique = pd.Series(emails.dropna().unique(), dtype=object).astype(str)
    local_part = unique.str.split("@").str[0]
    common = (
        unique.str.fullmatch(_COMMON_ADDRESS)
        & ~unique.str.lower().str.contains(_SPECIAL_USE, regex=True)
        & (unique.str.len() <= 254)
        & (local_part.str.len() <= 64)
    )
    verdict = pd.Series(True, index=unique.index)
    verdict[~common] = unique[~common].map(is_valid_address)
    lookup = pd.Series(verdict.to_numpy(), index=unique.to_numpy())
    return emails.map(lookup).fillna(False).astype(bool)


def _flag(ok: pd.Series, applies: pd.Series) -> pd.Series:
    """True/False where the check applies, missing where it does not (GX skips missing values)."""
    return ok.astype("boolean").where(applies, pd.NA).astype(object).where(applies, None)


def _present(values: pd.Series) -> pd.Series:
    if values.dtype == object and len(values) and isinstance(values.iloc[0], list):
        filled = values.str.len() > 0
    elif isinstance(values.dtype, pd.StringDtype) or values.dtype == object or values.dtype == "str":
        filled = values.fillna("").astype(str) != ""
    else:
        filled = values.notna()
    return pd.Series(True, index=values.index, dtype=object).where(filled, None)


def check_frame(frame: pd.DataFrame, zone: str | None = None) -> pd.DataFrame:
    """One scalar column per check, as the GX suite expects them."""
    has_text = frame[Col.SUBMITTED_AT_TEXT] != ""
    clock = pd.Series("", index=frame.index, dtype=object)
    unplaced = has_text & frame[Col.SUBMITTED_AT].isna()
    if zone and unplaced.any():
        clock[unplaced] = clock_change_trouble(frame.loc[unplaced, Col.SUBMITTED_AT_TEXT], zone)
    members = frame[Col.MEMBER_EMAILS].explode().dropna()
    bad = members[~valid_addresses(members)]
    bad_members = bad.map(lambda e: repr(e[:_DISPLAY_LIMIT])).groupby(level=0).agg(", ".join)
    bad_members = bad_members.reindex(frame.index)
    state_text = frame[Col.STATE_TEXT].where(frame[Col.STATE_TEXT] != "", None)
    checks = pd.DataFrame(
        {
            Col.SOURCE_ROW: frame[Col.SOURCE_ROW],
            "has_submitted_at": _present(frame[Col.SUBMITTED_AT_TEXT]),
            "submitted_at_ok": _flag(frame[Col.SUBMITTED_AT].notna(), has_text & (clock == "")),
            "submitted_at_not_repeated": _flag(clock != "repeated", clock == "repeated"),
            "submitted_at_not_skipped": _flag(clock != "skipped", clock == "skipped"),
            "has_local_name": _present(frame[Col.LOCAL_NAME]),
            "has_state": _present(frame[Col.STATE_TEXT]),
            "state_check": frame[Col.STATE].astype(object).where(frame[Col.STATE].notna(), state_text),
            "has_submitter_email": _present(frame[Col.SUBMITTER_EMAIL]),
            "submitter_email_ok": _flag(valid_addresses(frame[Col.SUBMITTER_EMAIL]), frame[Col.SUBMITTER_EMAIL] != ""),
            "has_lead_name": _present(frame[Col.LEAD_NAME]),
            "has_lead_email": _present(frame[Col.LEAD_EMAIL]),
            "lead_email_ok": _flag(valid_addresses(frame[Col.LEAD_EMAIL]), frame[Col.LEAD_EMAIL] != ""),
            "bad_member_emails": bad_members.astype(object).where(bad_members.notna(), None),
            Col.TEAM_SIZE: frame[Col.TEAM_SIZE],
            "has_job_families": _present(frame[Col.JOB_FAMILIES]),
            Col.UNKNOWN_JOB_FAMILIES: frame[Col.UNKNOWN_JOB_FAMILIES]
            .astype(object)
            .where(frame[Col.UNKNOWN_JOB_FAMILIES].notna(), None),
            "has_president_approved": _present(frame[Col.PRESIDENT_APPROVED]),
            "president_approved_ok": _flag(
                frame[Col.PRESIDENT_APPROVED].fillna(False), frame[Col.PRESIDENT_APPROVED].notna()
            ),
            "has_commitment": _present(frame[Col.COMMITMENT]),
            "commitment_ok": _flag(frame[Col.COMMITMENT].fillna(False), frame[Col.COMMITMENT].notna()),
        }
    )
    return checks


@functools.cache
def _validation_definition(min_team: int, max_team: int) -> Any:
    """One ephemeral GX context and suite per process: building them costs far more than a run."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("responses")
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all rows")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="response row"))
    for expectation in build_expectations(min_team, max_team):
        suite.add_expectation(expectation)
    return context.validation_definitions.add(gx.ValidationDefinition(data=batch, suite=suite, name="intake"))


def failed_rows(checks: pd.DataFrame, min_team: int, max_team: int) -> list[tuple[str, list[int]]]:
    """(reason template, failing source rows) for each check, in the suite's order."""
    definition = _validation_definition(min_team, max_team)
    result = definition.run(
        batch_parameters={"dataframe": checks},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [Col.SOURCE_ROW]},
    )
    failures = []
    for outcome in result.results:
        if outcome.exception_info and outcome.exception_info.get("raised_exception"):
            raise RuntimeError(f"a validation check could not run: {outcome.exception_info['exception_message']}")
        rows = [int(hit[Col.SOURCE_ROW]) for hit in outcome.result.get("unexpected_index_list") or []]
        failures.append((outcome.expectation_config.meta["reason"], rows))
    return failures


_QUOTED = (Col.SUBMITTED_AT_TEXT, Col.STATE_TEXT, Col.SUBMITTER_EMAIL, Col.LEAD_EMAIL)


def _display_values(frame: pd.DataFrame, checks: pd.DataFrame) -> pd.DataFrame:
    """The row's answers cut to a readable length, for filling reason templates."""
    shown = pd.DataFrame({Col.SOURCE_ROW: frame[Col.SOURCE_ROW]})
    for column in _QUOTED:
        shown[column] = frame[column].str.slice(0, _DISPLAY_LIMIT)
    shown[Col.TEAM_SIZE] = frame[Col.TEAM_SIZE]
    shown["bad_member_emails"] = checks["bad_member_emails"]
    shown[Col.UNKNOWN_JOB_FAMILIES] = frame[Col.UNKNOWN_JOB_FAMILIES].str.slice(0, _DISPLAY_LIMIT)
    for column in (*_QUOTED, "bad_member_emails", Col.UNKNOWN_JOB_FAMILIES):
        # An answer never carries the reason separator, so a reason is never split inside an answer.
        shown[column] = shown[column].str.replace(r"; +", ";", regex=True)
    return shown.set_index(Col.SOURCE_ROW)


def validate(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """The frame with `status` (valid/invalid) and `reasons`; failing rows are kept, never dropped."""
    out = frame.copy()
    out[Col.STATUS] = Status.VALID.value
    out[Col.REASONS] = ""
    if out.empty:
        return out
    checks = check_frame(frame, config.timezone)
    failures = failed_rows(checks, config.team_size.min, config.team_size.max)
    shown = _display_values(frame, checks)
    reasons: dict[int, list[str]] = {}
    for template, rows in failures:
        for row in rows:
            reasons.setdefault(row, []).append(template.format(**shown.loc[row].to_dict()))
    if reasons:
        joined = pd.Series({row: REASON_SEPARATOR.join(texts) for row, texts in reasons.items()})
        bad = out[Col.SOURCE_ROW].isin(joined.index)
        out.loc[bad, Col.REASONS] = out.loc[bad, Col.SOURCE_ROW].map(joined)
        out.loc[bad, Col.STATUS] = Status.INVALID.value
    return out


class IntakeSummary(BaseModel):
    """What intake found, for the log, the CLI and a Prefect artifact."""

    rows_read: int
    valid: int
    invalid: int
    invalid_by_reason: dict[str, int]

    def as_text(self) -> str:
        lines = [f"Rows read: {self.rows_read}", f"Valid:     {self.valid}", f"Invalid:   {self.invalid}"]
        for reason, count in self.invalid_by_reason.items():
            lines.append(f"  {count:>4}  {reason}")
        return "\n".join(lines)


def reason_kind(reason: str) -> str:
    """A reason without the row's own value, so reasons can be counted."""
    return reason.split(": ")[0]


def summarize_intake(validated: pd.DataFrame) -> IntakeSummary:
    """Counts of outcomes and of invalid rows by reason (a row may have several reasons)."""
    invalid = validated[validated[Col.STATUS] == Status.INVALID]
    kinds = invalid[Col.REASONS].str.split(REASON_SEPARATOR).explode().map(reason_kind)
    counts = kinds.value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return IntakeSummary(
        rows_read=len(validated),
        valid=int((validated[Col.STATUS] == Status.VALID).sum()),
        invalid=len(invalid),
        invalid_by_reason={str(kind): int(n) for kind, n in ordered},
    )
