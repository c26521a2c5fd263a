"""Run the great-expectations suite over the canonical frame and turn failures into per-row reasons."""

from __future__ import annotations

import functools
import os
import re
import string
import unicodedata
from typing import Any

import email_validator
import numpy as np
import pandas as pd
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel

from schemas.columns import LIST_SEPARATOR, YES_NO_FIELDS, Col, Derived, Status
from schemas.config import CohortConfig
from schemas.suite import (
    FAILED_CHECKS,
    REPEATED_HOUR_ADVICE,
    build_expectations,
    failed_check_bits,
    failed_check_codes,
    row_checks,
    yes_no_text,
)
from tasks.cutoff import on_time_at_both_readings
from tasks.local_time import local_time_text
from tasks.normalize import clock_change_trouble, repeated_hour_readings
from tasks.reason_codes import codes_where, no_codes


class ValidationRunError(Exception):
    """Great-expectations could not run the checks, or disagrees with them: a fault to report, not bad input."""


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


# Two fast paths accept addresses without calling email-validator (~30 µs an address); anything else (quoted,
# special-use or internationalised domains, a "--" in the domain, unusual characters) takes the full check.
# Both accept exactly what is_valid_address accepts (tests/test_fast_paths.py).
# Common: plain ASCII in the usual form, at most 64 characters before the @ and 254 in all, not a special-use
# domain, no "--" in the domain (a label with "--" is Punycode or reserved for it: email-validator decides it).
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
_NOT_SPECIAL_USE = "".join(rf"(?<!\.(?i:{re.escape(name)}))" for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)
_COMMON_ADDRESS = re.compile(
    rf"(?=[^@]{{1,64}}@)(?=.{{1,254}}\Z)[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?!.*--){_DOMAIN}{_NOT_SPECIAL_USE}"
)
# Internationalised: letters beyond ASCII before the @ (josé.müller@…), a plain ASCII domain with no "--"
# (no Punycode), already NFC, at most 254 bytes in UTF-8: exactly the ones email-validator accepts.
_INTERNATIONAL_ADDRESS = re.compile(
    rf"([{_ATEXT}\u0080-\U0010ffff]+(?:\.[{_ATEXT}\u0080-\U0010ffff]+)*)@(?!.*--){_DOMAIN}{_NOT_SPECIAL_USE}"
)
_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")


def _international_address(address: str) -> bool:
    match = _INTERNATIONAL_ADDRESS.fullmatch(address)
    if match is None:
        return False
    local_part = match.group(1)
    return (
        _ASCII_RUNS.sub("", local_part).isalpha()
        and unicodedata.is_normalized("NFC", local_part)
        and len(address.encode("utf-8")) <= 254
    )


def valid_addresses(emails: pd.Series) -> pd.Series:
    """is_valid_address for a whole column: each distinct address once, the fast paths first."""
    codes, unique = pd.factorize(emails)
    texts = [value if isinstance(value, str) else None for value in unique.tolist()]
    verdict = np.array([text is not None and _COMMON_ADDRESS.fullmatch(text) is not None for text in texts], bool)
    for i in np.flatnonzero(~verdict).tolist():
        text = texts[i]
        # Without an @, or with nothing after the last one, no address is valid (a common slip: "dana@").
        if text is not None and "@" in text and not text.endswith("@"):
            verdict[i] = _international_address(text) or is_valid_address(text)
    # codes are -1 for a missing value, which takes the False appended last.
    return pd.Series(np.append(verdict, False)[codes], index=emails.index, name=emails.name, dtype=bool)


def _flag(ok: pd.Series, applies: pd.Series) -> pd.Series:
    """True/False where the check applies, missing where it does not (the check then passes)."""
    missing = ~applies.to_numpy(dtype=bool) | ok.isna().to_numpy(dtype=bool)
    return pd.Series(pd.arrays.BooleanArray(ok.to_numpy(dtype=bool, na_value=False), missing), index=ok.index)


def _present(values: pd.Series) -> pd.Series:
    """Whether each row answered: a non-empty list or text, or any value."""
    if values.dtype == object and len(values) and isinstance(values.iloc[0], list):
        filled = values.str.len() > 0
    elif isinstance(values.dtype, pd.StringDtype):
        filled = values.fillna("") != ""
    elif values.dtype == object:
        filled = values.fillna("").astype(str) != ""
    else:
        filled = values.notna()
    return filled.astype(bool)


def _yes_no_checks(frame: pd.DataFrame, field: str) -> dict[str, pd.Series]:
    """A Yes/No question's three checks: answered at all, answered Yes or No (schemas.suite._yes_or_no), and Yes.

    The answer as written (`yes_no_text`) tells a blank from an answer that is neither; a frame without it (made
    by hand) is read from the booleans alone, where both are missing.
    """
    answer = frame[field]
    written = frame.get(yes_no_text(field))
    read = answer.notna().to_numpy(dtype=bool)
    answers_given = read.copy()
    if written is not None and not read.all():
        # Only the answers not read as Yes or No need their text looked at (blank, or neither).
        answers_given[~read] = _present(written[~read]).to_numpy(dtype=bool)
    answered = pd.Series(answers_given, index=frame.index)
    return {
        f"has_{field}": answered,
        f"{field}_yes_or_no": _flag(answer.notna(), answered & answer.isna()),
        f"{field}_ok": _flag(answer.fillna(value=False), answer.notna()),
    }


def settle_repeated_hour(
    frame: pd.DataFrame, clock: pd.Series, config: CohortConfig | None
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Times in the hour that happens twice when clocks go back (`clock` "repeated"), settled where they can be.

    Such a time has two readings an hour apart. When both are on time, or both late, by the cutoff's own rule
    (the deadline and the extensions, tasks.cutoff.on_time_mask), the decision does not depend on which one is
    meant: the row is valid and takes the earlier reading, the first pass through the hour. That is the reading
    Python's zoneinfo gives a wall-clock time by default (fold=0), and of the two it is the one that can never
    make a response later than it was (so never late by the choice of reading, and never behind on the
    earlier-submission tie-break through it). Only a time whose earlier reading is on time and whose later one
    is not stays undecided; its advice names the extension that makes it on time under both readings: one for
    this sheet row until the later reading (an extension's `until` is inclusive).

    Returns (submitted_at with the settled rows filled in, the clock trouble left, the advice per undecided row).
    """
    submitted = frame[Col.SUBMITTED_AT]
    advice = pd.Series(None, index=frame.index, dtype=object)
    repeated = (clock == "repeated").to_numpy(dtype=bool)
    if config is None or not repeated.any():
        return submitted, clock, advice
    rows = frame.loc[repeated]
    earlier, later = repeated_hour_readings(rows[Col.SUBMITTED_AT_TEXT], config.timezone, config.timestamp_order)
    on_time_earlier, on_time_later = on_time_at_both_readings(rows, earlier, later, config)
    agree = (on_time_earlier == on_time_later).to_numpy(dtype=bool)
    submitted, clock = submitted.copy(), clock.copy()
    submitted.loc[rows.index[agree]] = earlier[agree].to_numpy()
    clock.loc[rows.index[agree]] = ""
    zone = config.timezone
    for at in np.flatnonzero(~agree).tolist():
        first, second = earlier.iloc[at], later.iloc[at]
        until = second.tz_convert(zone).isoformat()
        advice.loc[rows.index[at]] = (
            f"{rows[Col.SUBMITTED_AT_TEXT].iloc[at][:_DISPLAY_LIMIT]!r} is on time read as "
            f"{local_time_text(first, zone)} but late read as {local_time_text(second, zone)}. To accept it, "
            "grant this row an extension until its later reading: in the cohort file, under `extensions:`, add "
            f'- {{source_row: {rows[Col.SOURCE_ROW].iloc[at]}, until: "{until}", reason: "<why staff accept it>"}}'
        )
    return submitted, clock, advice


def check_frame(frame: pd.DataFrame, zone: str | None = None, config: CohortConfig | None = None) -> pd.DataFrame:
    """One column per check (see schemas.suite.failing for what each kind holds).

    With the cohort's config, a time in the hour clocks repeat is settled against the deadline where it can be
    (settle_repeated_hour): the frame's `submitted_at` column holds the times the rows are decided by.
    """
    zone = config.timezone if config is not None else zone
    order = config.timestamp_order if config is not None else "month-first"
    has_text = frame[Col.SUBMITTED_AT_TEXT] != ""
    clock = pd.Series("", index=frame.index, dtype=object)
    unplaced = has_text & frame[Col.SUBMITTED_AT].isna()
    if zone and unplaced.any():
        clock[unplaced] = clock_change_trouble(frame.loc[unplaced, Col.SUBMITTED_AT_TEXT], zone, order)
    submitted, clock, advice = settle_repeated_hour(frame, clock, config)
    members = frame[Col.MEMBER_EMAILS].explode().dropna()
    # All addresses checked in one call: an address given in several columns is checked once.
    addresses = [members, frame[Col.SUBMITTER_EMAIL], frame[Col.LEAD_EMAIL]]
    verdicts = valid_addresses(pd.concat(addresses, ignore_index=True)).to_numpy()
    ends = np.cumsum([len(part) for part in addresses])
    member_ok, submitter_ok, lead_ok = (
        pd.Series(part, index=column.index)
        for part, column in zip(np.split(verdicts, ends[:-1]), addresses, strict=True)
    )
    bad = members[~member_ok]
    bad_members = bad.map(lambda e: repr(e[:_DISPLAY_LIMIT])).groupby(level=0).agg(", ".join)
    bad_members = bad_members.reindex(frame.index)
    state_text = frame[Col.STATE_TEXT].where(frame[Col.STATE_TEXT] != "", None)
    checks = pd.DataFrame(
        {
            Col.SOURCE_ROW: frame[Col.SOURCE_ROW],
            "has_submitted_at": _present(frame[Col.SUBMITTED_AT_TEXT]),
            Col.SUBMITTED_AT: submitted,
            "submitted_at_ok": _flag(submitted.notna(), has_text & (clock == "")),
            "submitted_at_not_repeated": _flag(clock != "repeated", clock == "repeated"),
            REPEATED_HOUR_ADVICE: advice,
            "submitted_at_not_skipped": _flag(clock != "skipped", clock == "skipped"),
            "has_local_name": _present(frame[Col.LOCAL_NAME]),
            "has_state": _present(frame[Col.STATE_TEXT]),
            "state_check": frame[Col.STATE].astype(object).where(frame[Col.STATE].notna(), state_text),
            "has_submitter_email": _present(frame[Col.SUBMITTER_EMAIL]),
            "submitter_email_ok": _flag(submitter_ok, frame[Col.SUBMITTER_EMAIL] != ""),
            "has_lead_name": _present(frame[Col.LEAD_NAME]),
            "has_lead_email": _present(frame[Col.LEAD_EMAIL]),
            "lead_email_ok": _flag(lead_ok, frame[Col.LEAD_EMAIL] != ""),
            "bad_member_emails": bad_members.astype(object).where(bad_members.notna(), None),
            Col.TEAM_SIZE: frame[Col.TEAM_SIZE],
            "has_job_families": _present(frame[Col.JOB_FAMILIES]),
            Col.UNKNOWN_JOB_FAMILIES: frame[Col.UNKNOWN_JOB_FAMILIES]
            .astype(object)
            .where(frame[Col.UNKNOWN_JOB_FAMILIES].notna(), None),
            **_yes_no_checks(frame, Col.PRESIDENT_APPROVED),
            **_yes_no_checks(frame, Col.COMMITMENT),
        }
    )
    return checks


@functools.cache
def _gx_suite() -> tuple[Any, Any]:
    """One ephemeral GX context, batch definition and suite per process: building them costs far more than a run.

    Batches are validated directly (not through a stored ValidationDefinition), so no run's results pile up in
    the context's in-memory results store.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("responses")
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all rows")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="response row"))
    for expectation in build_expectations():
        suite.add_expectation(expectation)
    return batch_definition, suite


def failed_rows(checks: pd.DataFrame, min_team: int, max_team: int) -> dict[int, int]:
    """Source row → the bits of the checks it fails (see schemas.suite), for every row GX finds invalid."""
    bits = failed_check_bits(checks, min_team, max_team)
    batch_definition, suite = _gx_suite()
    # Rows are indexed by their sheet row (GX reports unexpected rows by index, naming it): cheaper than an
    # index column, which GX looks up row by row.
    rows = pd.Index(checks[Col.SOURCE_ROW].to_numpy(), name=Col.SOURCE_ROW)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": pd.DataFrame({FAILED_CHECKS: bits}, index=rows)})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE", "return_unexpected_index_query": False})
    found: dict[int, int] = {}
    for outcome in result.results:
        if outcome.exception_info and outcome.exception_info.get("raised_exception"):
            raise ValidationRunError(f"a validation check could not run: {outcome.exception_info['exception_message']}")
        for hit in outcome.result.get("unexpected_index_list") or []:
            found[int(hit[Col.SOURCE_ROW])] = int(hit[FAILED_CHECKS])
    if len(found) != int(np.count_nonzero(bits)):
        raise ValidationRunError(f"GX found {len(found)} invalid rows where the checks found {np.count_nonzero(bits)}")
    return found


_FIELDS = string.Formatter()


def _display_values(frame: pd.DataFrame, checks: pd.DataFrame, field: str, rows: np.ndarray) -> list:
    """One answer of these rows (positions) cut to a readable length, for filling reason templates."""
    if field == Col.TEAM_SIZE:
        return frame[Col.TEAM_SIZE].iloc[rows].tolist()
    if field in ("bad_member_emails", REPEATED_HOUR_ADVICE):
        values = checks[field].iloc[rows]
    else:
        values = frame[field].iloc[rows].str.slice(0, _DISPLAY_LIMIT)
    # An answer never carries the reason separator, so a reason is never split inside an answer.
    return values.str.replace(r"; +", ";", regex=True).tolist()


def validate(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """The frame with `status` (valid/invalid), `reasons` and `reason_codes`; failing rows are kept, never dropped.

    The Yes/No answers as written (`yes_no_text`) serve the reasons only and are not carried on.
    """
    out = frame.drop(columns=[yes_no_text(field) for field in sorted(YES_NO_FIELDS)], errors="ignore")
    out[Col.STATUS] = Status.VALID.value
    out[Col.REASONS] = ""
    out[Derived.REASON_CODES] = no_codes(out.index)
    if out.empty:
        return out
    checks = check_frame(frame, config.timezone, config)
    settled = frame[Col.SUBMITTED_AT].isna() & checks[Col.SUBMITTED_AT].notna()
    if settled.any():  # times in the repeated hour that the deadline settles (see settle_repeated_hour)
        out.loc[settled, Col.SUBMITTED_AT] = checks.loc[settled, Col.SUBMITTED_AT]
    failures = failed_rows(checks, config.team_size.min, config.team_size.max)
    if not failures:
        return out
    at = pd.Index(frame[Col.SOURCE_ROW]).get_indexer(list(failures))
    bits = np.fromiter(failures.values(), dtype="int64", count=len(failures))
    texts: list[list[str]] = [[] for _ in at]
    for k, check in enumerate(row_checks(config.team_size.min, config.team_size.max, config.timestamp_order)):
        hit = np.flatnonzero(bits & (1 << k))
        if not len(hit):
            continue
        rows = at[hit]
        fields = [name for _, name, _, _ in _FIELDS.parse(check.reason) if name]
        shown = {name: _display_values(frame, checks, name, rows) for name in dict.fromkeys(fields)}
        for j, i in enumerate(hit.tolist()):
            texts[i].append(check.reason.format(**{name: values[j] for name, values in shown.items()}))
    joined = pd.Series([LIST_SEPARATOR.join(row) for row in texts], index=list(failures))
    bad = out[Col.SOURCE_ROW].isin(joined.index)
    out.loc[bad, Col.REASONS] = out.loc[bad, Col.SOURCE_ROW].map(joined)
    out.loc[bad, Col.STATUS] = Status.INVALID.value
    codes = pd.Series(failed_check_codes(bits, config.team_size.min, config.team_size.max), index=list(failures))
    out[Derived.REASON_CODES] = codes_where(out[Derived.REASON_CODES], bad, out[Col.SOURCE_ROW].map(codes))
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
    kinds = invalid[Col.REASONS].str.split(LIST_SEPARATOR).explode().map(reason_kind)
    counts = kinds.value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return IntakeSummary(
        rows_read=len(validated),
        valid=int((validated[Col.STATUS] == Status.VALID).sum()),
        invalid=len(invalid),
        invalid_by_reason={str(kind): int(n) for kind, n in ordered},
    )
