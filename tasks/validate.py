"""Run the great-expectations suite over the canonical frame and turn failures into per-row reasons."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import email_validator
import numpy as np
import pandas as pd
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel

from schemas.columns import LIST_SEPARATOR, Col, Derived, Status
from schemas.config import CohortConfig
from schemas.form import Question, bad_column, placeholders, text_column, unknown_column
from schemas.suite import (
    CLOCK,
    CLOCK_OK,
    REPEATED_HOUR_ADVICE,
    Check,
    build_expectations,
    failed_check_codes,
    form_checks,
    full_default_form,
    suite_name,
    valid_column,
    yes_no_text,
)
from tasks.cutoff import on_time_at_both_readings
from tasks.dedupe import name_key
from tasks.files import write_whole
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
    """A Yes/No question's three checks: answered at all, answered Yes or No, and Yes.

    No longer what validate reads: since the checks are GX expectations, the answer as written is checked in-set
    {yes, no} (check_frame). Kept only because tests/test_fast_paths.py holds it to its per-row reference; the two
    can go together.

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


def _blank_to_none(text: pd.Series) -> pd.Series:
    """Text with the unanswered rows missing: what GX's not-null and the other column expectations read."""
    values = text.astype(object)
    return values.where(values.notna() & (values != ""), None)


def _list_count(values: pd.Series) -> pd.Series:
    """How many answers a list holds, missing for none: a list field as GX checks it (answered or not)."""
    counts = values.str.len()
    return counts.astype(object).where(counts > 0, None)


def _yes_no_text(frame: pd.DataFrame, field: str) -> pd.Series:
    """A Yes/No answer as written, without case; a frame made without it (by hand) is read from the booleans."""
    written = frame.get(text_column(field))
    if written is None:
        return frame[field].map({True: "yes", False: "no"}).astype(object).where(frame[field].notna(), None)
    return _blank_to_none(written.str.casefold())


def _clock(frame: pd.DataFrame, clock: pd.Series) -> pd.Series:
    """schemas.suite.CLOCK: where each timestamp stands on the clock (None where there is none)."""
    has_text = (frame[Col.SUBMITTED_AT_TEXT] != "").to_numpy(dtype=bool)
    placed = clock.astype(object).where(clock != "", CLOCK_OK)
    return placed.where(has_text, None)


def _clock_columns(frame: pd.DataFrame, zone: str | None, config: CohortConfig | None) -> dict[str, pd.Series]:
    """The timestamps as decided (the repeated hour settled where it can be), where each stands on the clock, and
    the advice for a time the deadline cannot settle."""
    order = config.timestamp_order if config is not None else "month-first"
    has_text = frame[Col.SUBMITTED_AT_TEXT] != ""
    clock = pd.Series("", index=frame.index, dtype=object)
    unplaced = has_text & frame[Col.SUBMITTED_AT].isna()
    if zone and unplaced.any():
        clock[unplaced] = clock_change_trouble(frame.loc[unplaced, Col.SUBMITTED_AT_TEXT], zone, order)
    submitted, clock, advice = settle_repeated_hour(frame, clock, config)
    return {
        Col.SUBMITTED_AT: submitted,
        CLOCK: _clock(frame, clock),
        REPEATED_HOUR_ADVICE: advice,
        text_column(Col.SUBMITTED_AT): _blank_to_none(frame[Col.SUBMITTED_AT_TEXT]),
    }


def _email_columns(frame: pd.DataFrame, emails: list[Question]) -> dict[str, pd.Series]:
    """Whether each address answer is valid (`<field>_valid`), and a list field's invalid ones (`bad_<field>`).

    All addresses are checked in one call: an address given in several columns is checked once.
    """
    columns: dict[str, pd.Series] = {}
    parts = [frame[q.field].explode().dropna() if q.is_list else frame[q.field] for q in emails]
    verdicts = valid_addresses(pd.concat(parts, ignore_index=True)).to_numpy()
    ends = np.cumsum([len(part) for part in parts])
    for question, part, verdict in zip(emails, parts, np.split(verdicts, ends[:-1]), strict=True):
        ok = pd.Series(verdict, index=part.index)
        if question.is_list:
            bad = part[~ok].map(lambda e: repr(e[:_DISPLAY_LIMIT])).groupby(level=0).agg(", ".join)
            bad = bad.reindex(frame.index)
            columns[bad_column(question.field)] = bad.astype(object).where(bad.notna(), None)
        else:
            columns[valid_column(question.field)] = ok.astype(object).where(part != "", None)
    return columns


def _missing_as_none(values: pd.Series, instead: pd.Series | None = None) -> pd.Series:
    return values.astype(object).where(values.notna(), instead)


def _answer_columns(frame: pd.DataFrame, question: Question) -> dict[str, pd.Series]:
    """A question's answer as its checks read it (schemas.suite.answer_column and the canonical column)."""
    name, kind = question.field, question.type
    if question.is_list or kind == "checkboxes":
        columns = {name: _list_count(frame[name])}
    elif kind == "yes_no":
        columns = {text_column(name): _yes_no_text(frame, name), name: _missing_as_none(frame[name])}
    elif kind == "number":
        columns = {text_column(name): _blank_to_none(frame[text_column(name)]), name: _missing_as_none(frame[name])}
    elif kind == "us_state":
        text = _blank_to_none(frame[text_column(name)])
        columns = {text_column(name): text, name: _missing_as_none(frame[name], text)}
    else:
        columns = {name: _blank_to_none(frame[name])}
    if unknown_column(name) in frame:
        columns[unknown_column(name)] = _missing_as_none(frame[unknown_column(name)])
    return columns


def _team_of(frame: pd.DataFrame) -> pd.Series:
    """Each row's team as dedupe reads it (state and name key), missing without a state or local name."""
    names = frame[Col.LOCAL_NAME].map(lambda name: name_key(name) if isinstance(name, str) else "")
    state = frame[Col.STATE].astype(object)
    team = state.astype(str) + ":" + names
    return team.where(state.notna() & (names != ""), None)


def _elsewhere(people: pd.DataFrame, others: pd.DataFrame) -> pd.Series:
    """Per row of `people` (row, email, team): the other teams of `others` (email, team) its addresses are on,
    said as `'ann@x.org' also on NY:troy education association` (rows without any: missing)."""
    pairs = people.merge(others, on="email", suffixes=("", "_other"))
    pairs = pairs[pairs["team"] != pairs["team_other"]].drop_duplicates(["row", "email", "team_other"])
    if pairs.empty:
        return pd.Series(dtype=object)
    pairs = pairs.sort_values(["row", "email", "team_other"])
    said = pairs.groupby(["row", "email"], sort=True)["team_other"].agg(", ".join).reset_index()
    said["text"] = said["email"].map(lambda e: repr(e[:_DISPLAY_LIMIT])) + " also on " + said["team_other"]
    return said.groupby("row")["text"].agg(LIST_SEPARATOR.replace(";", ",").join)


def _cross_row_columns(frame: pd.DataFrame, kinds: set[str]) -> dict[str, pd.Series]:
    """For the form's cross-row rules: per row, the people of its roster (the lead and the members) who are on
    another team's too, or missing (schemas.form.CrossRowRule)."""
    team = _team_of(frame)
    listed = frame[Col.MEMBER_EMAILS].explode().dropna()
    members = pd.DataFrame({"row": listed.index, "email": listed.to_numpy()})
    leads = pd.DataFrame({"row": frame.index, "email": frame[Col.LEAD_EMAIL].to_numpy()})
    leads = leads[leads["email"] != ""]
    for part in (members, leads):
        part["team"] = team.reindex(part["row"]).to_numpy()
    members, leads = members.dropna(subset=["team"]), leads.dropna(subset=["team"])
    roster = pd.concat([leads, members], ignore_index=True)
    columns: dict[str, pd.Series] = {}
    if "email_on_two_teams" in kinds:
        found = _elsewhere(roster, roster[["email", "team"]])
        columns["email_on_two_teams"] = found.reindex(frame.index).astype(object).where(lambda v: v.notna(), None)
    if "lead_member_elsewhere" in kinds:
        as_lead = _elsewhere(leads, members[["email", "team"]])
        as_member = _elsewhere(members, leads[["email", "team"]])
        both = pd.concat([as_lead, as_member]).groupby(level=0).agg(LIST_SEPARATOR.replace(";", ",").join)
        columns["lead_member_elsewhere"] = both.reindex(frame.index).astype(object).where(lambda v: v.notna(), None)
    return columns


def check_frame(frame: pd.DataFrame, zone: str | None = None, config: CohortConfig | None = None) -> pd.DataFrame:
    """The frame great-expectations validates: a column for each column a check of the form reads (see
    schemas.suite.failing for what each kind of check reads), and, for the reasons, the bad addresses of list
    fields and the repeated-hour advice.

    With the cohort's config, a time in the hour clocks repeat is settled against the deadline where it can be
    (settle_repeated_hour): the frame's `submitted_at` column holds the times the rows are decided by.
    """
    zone = config.timezone if config is not None else zone
    questions = list((config.the_form if config is not None else full_default_form()).questions)
    columns: dict[str, pd.Series] = {}
    if Col.SUBMITTED_AT_TEXT in frame:
        columns |= _clock_columns(frame, zone, config)
    emails = [q for q in questions if q.type == "email" and q.field in frame]
    if emails:
        columns |= _email_columns(frame, emails)
    for question in questions:
        if question.field in frame and question.type != "timestamp":
            columns |= _answer_columns(frame, question)
    if Col.TEAM_SIZE in frame:
        columns[Col.TEAM_SIZE] = frame[Col.TEAM_SIZE]
    if config is not None and config.the_form.cross_row:
        columns |= _cross_row_columns(frame, {rule.kind for rule in config.the_form.cross_row})
    checked = pd.DataFrame(columns, index=frame.index)
    checked.insert(0, Col.SOURCE_ROW, frame[Col.SOURCE_ROW])
    return checked


# What GX keeps of a failing row: its source_row only, never the value (no applicant answer in a result or report).
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [Col.SOURCE_ROW],
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 0,
    "return_unexpected_index_query": False,
}


@functools.cache
def gx_context() -> Any:
    """One ephemeral GX context and batch definition per process: building them costs far more than a run."""
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
    return context, batch_definition


@functools.lru_cache(maxsize=32)
def gx_suite(checks: tuple[Check, ...]) -> Any:
    """The GX suite of these checks (one expectation each), made once per process for each form."""
    import great_expectations as gx

    context, _ = gx_context()
    name = suite_name(checks)
    try:
        return context.suites.get(name)
    except Exception:  # noqa: BLE001 - GX raises its own not-found error class, which differs between versions
        suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in build_expectations(checks):
        suite.add_expectation(expectation)
    return suite


def _checked_columns(checked: pd.DataFrame, checks: tuple[Check, ...]) -> pd.DataFrame:
    """The columns the checks read, indexed by sheet row (GX reports unexpected rows by the index, naming it:
    cheaper than an index column, which GX looks up row by row)."""
    wanted = dict.fromkeys(
        [check.column for check in checks] + [check.condition[0] for check in checks if check.condition]
    )
    present = [name for name in wanted if name in checked]
    rows = pd.Index(checked[Col.SOURCE_ROW].to_numpy(), name=Col.SOURCE_ROW)
    return pd.DataFrame({name: checked[name].array for name in present}, index=rows)


def run_suite(checked: pd.DataFrame, checks: tuple[Check, ...]) -> tuple[dict[str, list[int]], Any]:
    """GX's validation of the checked frame: check name → the sheet rows failing it, and GX's own result."""
    from great_expectations.validator.v1_validator import Validator

    _, batch_definition = gx_context()
    suite = gx_suite(checks)
    # The validator GX's Batch.validate makes, without fetching the batch once more (GX fingerprints a batch by
    # hashing the whole frame each time it is fetched).
    batch = {"dataframe": _checked_columns(checked, checks)}
    result = Validator(batch_definition, RESULT_FORMAT, batch).validate_expectation_suite(suite)
    found: dict[str, list[int]] = {}
    for outcome in result.results:
        if outcome.exception_info and outcome.exception_info.get("raised_exception"):
            raise ValidationRunError(f"a validation check could not run: {outcome.exception_info['exception_message']}")
        name = str((outcome.expectation_config.meta or {}).get("check")) if outcome.expectation_config else ""
        rows: list[int] = []
        for hit in outcome.result.get("unexpected_index_list") or []:
            listed = hit[Col.SOURCE_ROW]
            rows += [int(row) for row in listed] if isinstance(listed, list) else [int(listed)]
        found[name] = rows
    missing = [check.name for check in checks if check.name not in found]
    if missing:
        raise ValidationRunError(f"GX gave no result for the check(s) {', '.join(missing)}")
    _LATEST[suite.name] = result
    return found, result


# The latest GX result of each suite in this process, for the report of the run that made it (write_gx_report).
_LATEST: dict[str, Any] = {}
REPORT_FOLDER = "validation"
SUITE_FILE = "suite.json"
DOCS_FOLDER = "docs"


def suite_json(checks: tuple[Check, ...]) -> str:
    """The suite as GX JSON (without GX's random expectation ids, so the same form writes the same file): what
    `gx.ExpectationSuite(**json.load(f))` reads back."""
    made = gx_suite(checks).to_json_dict()
    made.pop("id", None)
    for expectation in made.get("expectations", []):
        expectation.pop("id", None)
    return json.dumps(made, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_gx_report(config: CohortConfig, out_dir: Path, run_name: str) -> Path | None:
    """The suite as GX JSON and GX's Data Docs of the latest validation of it, under `out_dir/validation/`; the
    Data Docs index, or None when nothing was validated in this process (an empty sheet).

    GX kept only each failing row's source_row (RESULT_FORMAT), so the docs hold no applicant's answer: rules,
    counts of failing rows, sheet row numbers.
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    checks = form_checks_of(config)
    folder = out_dir / REPORT_FOLDER
    write_whole(folder / SUITE_FILE, suite_json(checks))
    result = _LATEST.get(gx_suite(checks).name)
    if result is None:
        return None
    context, _ = gx_context()
    suite_id = ExpectationSuiteIdentifier(name=result.suite_name)
    run = RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC))
    result_id = ValidationResultIdentifier(suite_id, run, "responses")
    site = f"run {run_name} {id(result)}"
    docs = folder / DOCS_FOLDER
    context.validation_results_store.set(result_id, result)
    context.add_data_docs_site(
        site_name=site,
        site_config={
            "class_name": "SiteBuilder",
            # GX refuses a relative folder (`--out out/x`); the docs' own links stay relative to it.
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    try:
        context.build_data_docs(site_names=[site], resource_identifiers=[result_id, suite_id])
    finally:
        context.delete_data_docs_site(site)
        context.validation_results_store.remove_key(result_id)
    return docs / "index.html"


def failed_rows(checked: pd.DataFrame, checks: tuple[Check, ...]) -> dict[int, int]:
    """Source row → the bits of the checks it fails (bit k: check k), for every row GX finds failing a check."""
    found, _ = run_suite(checked, checks)
    failures: dict[int, int] = {}
    for k, check in enumerate(checks):
        for row in found[check.name]:
            failures[row] = failures.get(row, 0) | (1 << k)
    return failures


def _display_values(frame: pd.DataFrame, checks: pd.DataFrame, field: str, rows: np.ndarray) -> list:
    """One answer of these rows (positions) cut to a readable length, for filling reason templates."""
    if field in checks and field not in frame:
        values = checks[field].iloc[rows]
    elif field in frame and not (frame[field].dtype == object or isinstance(frame[field].dtype, pd.StringDtype)):
        # A number read from an answer is said as a person writes it: 9, not 9.0.
        return [int(v) if isinstance(v, float) and v.is_integer() else v for v in frame[field].iloc[rows].tolist()]
    else:
        values = frame[field].iloc[rows].str.slice(0, _DISPLAY_LIMIT)
    # An answer never carries the reason separator, so a reason is never split inside an answer.
    return values.str.replace(r"; +", ";", regex=True).tolist()


def form_checks_of(config: CohortConfig) -> tuple[Check, ...]:
    """The checks of the cohort's form, in the order a row's reasons list them."""
    return form_checks(config.the_form, config.team_size.min, config.team_size.max, config.timestamp_order)


def validate(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """The frame with `status` (valid/invalid), `reasons` and `reason_codes`; failing rows are kept, never dropped.

    The answers as written that serve the reasons only (Yes/No and number questions) are not carried on.
    """
    form = config.the_form
    kept = [text_column(q.field) for q in form.questions if q.type in ("yes_no", "number")]
    out = frame.drop(columns=kept, errors="ignore")
    out[Col.STATUS] = Status.VALID.value
    out[Col.REASONS] = ""
    out[Derived.REASON_CODES] = no_codes(out.index)
    checks = form_checks_of(config)
    if any(not check.invalid for check in checks):
        out[Derived.STAFF_FLAGS] = ""
    if out.empty:
        _LATEST.pop(suite_name(checks), None)  # nothing validated: no report of an earlier run stands for this one
        return out
    checked = check_frame(frame, config.timezone, config)
    settled = frame[Col.SUBMITTED_AT].isna() & checked[Col.SUBMITTED_AT].notna()
    if settled.any():  # times in the repeated hour that the deadline settles (see settle_repeated_hour)
        out.loc[settled, Col.SUBMITTED_AT] = checked.loc[settled, Col.SUBMITTED_AT]
    failures = failed_rows(checked, checks)
    if not failures:
        return out
    at = pd.Index(frame[Col.SOURCE_ROW]).get_indexer(list(failures))
    bits = np.fromiter(failures.values(), dtype="int64", count=len(failures))
    texts: list[tuple[list[str], list[bool]]] = [([], []) for _ in at]
    for k, check in enumerate(checks):
        hit = np.flatnonzero(bits & (1 << k))
        if not len(hit):
            continue
        rows = at[hit]
        fields = placeholders(check.reason)
        shown = {name: _display_values(frame, checked, name, rows) for name in dict.fromkeys(fields)}
        for j, i in enumerate(hit.tolist()):
            texts[i][0].append(check.reason.format(**{name: values[j] for name, values in shown.items()}))
            texts[i][1].append(not check.invalid)
    blocking_bits = sum(1 << k for k, check in enumerate(checks) if check.invalid)
    reasons = [[text for text, flag in zip(row, flagged, strict=True) if not flag] for row, flagged in texts]
    joined = pd.Series([LIST_SEPARATOR.join(row) for row in reasons], index=list(failures))
    bad = out[Col.SOURCE_ROW].isin(joined.index[(bits & blocking_bits) != 0])
    out.loc[bad, Col.REASONS] = out.loc[bad, Col.SOURCE_ROW].map(joined)
    out.loc[bad, Col.STATUS] = Status.INVALID.value
    codes = pd.Series(failed_check_codes(bits & blocking_bits, checks), index=list(failures))
    out[Derived.REASON_CODES] = codes_where(out[Derived.REASON_CODES], bad, out[Col.SOURCE_ROW].map(codes))
    if Derived.STAFF_FLAGS in out:  # the flags for staff: a column of their own, which later steps leave alone
        flags = pd.Series(
            [
                LIST_SEPARATOR.join(text for text, flag in zip(row, flagged, strict=True) if flag)
                for row, flagged in texts
            ],
            index=list(failures),
        )
        out[Derived.STAFF_FLAGS] = out[Col.SOURCE_ROW].map(flags).fillna("")
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
