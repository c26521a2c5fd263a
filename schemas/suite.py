"""The checks a response row must pass, made from the cohort's form (schemas/form.py), and the GX suite made from them.

One check per required answer, per answer that must be of its type (an address, a state, a date and time, Yes or No,
a number) and per eligibility rule. Each check is one great-expectations expectation on one column of the frame GX
validates (built in tasks/validate.py: the canonical columns, plus a few derived in Python where the check needs a
computation GX has no expectation for: an address's validity by email-validator, a time in the hour clocks repeat).
Each carries the sentence a staff member sees when it fails (`{field}` placeholders filled from the row's own
answers) and its reason code, the fact a notice words for the applicant (templates/notices/reasons.yaml, or the
form's own `applicant:` words); both are in the expectation's `meta`, so the suite and GX's report say them too.

`failing` evaluates a check over its column in numpy: the same rule GX applies (a missing value passes every kind
but `not_null`; a `condition` limits the check to the rows where another column has a value, GX's row_condition).
It is the plain floor the benchmarks compare GX with, and tests/test_gx_suite.py holds the two to agreeing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from schemas.columns import Col, ReasonCode, check_code, required_code
from schemas.form import (
    DEFAULT_QUESTIONS,
    NUMBER_PATTERN,
    TEAM_FIELDS,
    TEXT_KEPT,
    Form,
    Question,
    Rule,
    bad_column,
    default_form,
    text_column,
    unknown_column,
)
from schemas.states import USPS_STATES

CheckKind = Literal["not_null", "null", "in_set", "not_in_set", "between", "match"]


@dataclass(frozen=True)
class Check:
    """One expectation: `kind` over `column` of the checked frame, with its staff sentence and reason code."""

    name: str  # unique within a suite: `required:lead_email`, `lead_email`, `team_size`
    column: str
    kind: CheckKind
    reason: str
    code: str
    value_set: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    regex: str | None = None
    condition: tuple[str, Any] | None = None  # (column, value): only the rows where that column holds that value
    invalid: bool = True  # False: a flag for staff, the row keeps its status
    applicant: str | None = field(default=None, compare=False)


def yes_no_text(field: str) -> str:
    """The column of the normalized frame holding a Yes/No question's answer as written (`president_approved_text`):
    what a reason quotes when the answer is neither Yes nor No."""
    return text_column(field)


def valid_column(field: str) -> str:
    """The checked frame's column saying whether an email answer is a valid address (None where unanswered)."""
    return f"{field}_valid"


# How a sheet writes its timestamps, by the cohort's `timestamp_order` (also read with AM/PM, or as ISO dates).
TIMESTAMP_PATTERNS = {"month-first": "M/D/YYYY H:MM:SS", "day-first": "D/M/YYYY H:MM:SS"}
# The check frame's column giving, for a time in the repeated hour the deadline cannot settle, its two readings
# and the extension that accepts it (tasks/validate.py).
REPEATED_HOUR_ADVICE = "submitted_at_readings"
# The checked frame's column placing each timestamp on the clock: "ok" (read, or unreadable as a date), "repeated"
# (in the hour clocks repeat, not settled by the deadline), "skipped" (in the hour they skip), None (no answer).
CLOCK = "submitted_at_clock"
CLOCK_OK, CLOCK_REPEATED, CLOCK_SKIPPED = "ok", "repeated", "skipped"
_STATE_CODES = tuple(sorted(USPS_STATES))


def answer_column(question: Question) -> str:
    """Where the checked frame holds whether (and what) a question was answered: the answer as written for the types
    read from it, else the canonical column (a list field: how many it names, None for none)."""
    return text_column(question.field) if question.type in TEXT_KEPT else question.field


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _with_parameters(sentence: str, **parameters: object) -> str:
    for name, value in parameters.items():
        if value is not None:
            shown = _number(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
            sentence = sentence.replace("{" + name + "}", shown)
    return sentence


def _type_checks(question: Question, timestamp_order: str) -> list[Check]:
    field, label = question.field, question.name
    if question.type == "timestamp":
        return [
            Check(
                field,
                field,
                "not_null",
                question.invalid
                or f"{label} is not a date and time the form writes ({TIMESTAMP_PATTERNS[timestamp_order]}): "
                + "{"
                + text_column(field)
                + "!r}",
                check_code(field),
                condition=(CLOCK, CLOCK_OK),
                applicant=question.applicant_invalid,
            ),
            Check(
                f"{field}_repeated",
                CLOCK,
                "not_in_set",
                "Timestamp is in the hour that happens twice when clocks go back, and the response is on time at one "
                "reading but late at the other: {" + REPEATED_HOUR_ADVICE + "}",
                check_code(f"{field}_repeated"),
                value_set=(CLOCK_REPEATED,),
            ),
            Check(
                f"{field}_skipped",
                CLOCK,
                "not_in_set",
                "Timestamp is in the hour that clocks skip when they go forward, so the form cannot have written it "
                "(correct it in the sheet): {" + text_column(field) + "!r}",
                check_code(f"{field}_skipped"),
                value_set=(CLOCK_SKIPPED,),
            ),
        ]
    sentence: str | None = None
    check: Check | None = None
    if question.type == "us_state":
        sentence = f"{label} is not a US state or territory: " + "{" + text_column(field) + "!r}"
        check = Check(field, field, "in_set", "", check_code(field), value_set=_STATE_CODES)
    elif question.type == "email" and question.is_list:
        sentence = f"{label} include addresses that are not valid: " + "{" + bad_column(field) + "}"
        check = Check(field, bad_column(field), "null", "", check_code(field))
    elif question.type == "email":
        sentence = f"{label} is not a valid address: " + "{" + field + "!r}"
        check = Check(field, valid_column(field), "in_set", "", check_code(field), value_set=(True,))
    elif question.type == "yes_no":
        sentence = f"{label} is neither Yes nor No: " + "{" + text_column(field) + "!r}"
        check = Check(
            f"{field}_unclear",
            text_column(field),
            "in_set",
            "",
            check_code(f"{field}_unclear"),
            value_set=("no", "yes"),
        )
    elif question.type == "number":
        sentence = f"{label} is not a number: " + "{" + text_column(field) + "!r}"
        check = Check(
            f"{field}_unclear", text_column(field), "match", "", check_code(f"{field}_unclear"), regex=NUMBER_PATTERN
        )
    if check is None or sentence is None:
        return []
    return [
        Check(
            check.name,
            check.column,
            check.kind,
            question.invalid or sentence,
            check.code,
            value_set=check.value_set,
            regex=check.regex,
            applicant=question.applicant_invalid,
        )
    ]


def _rule_check(rule: Rule, form: Form, min_team: int, max_team: int) -> Check:
    question = form.question(rule.field)
    condition = None
    if rule.when is not None:
        other = form.question(rule.when.field)
        value: Any = rule.when.equals
        if other is not None and other.type == "yes_no":
            value = str(value).casefold() == "yes" if isinstance(value, str) else bool(value)
        condition = (rule.when.field, value)
    common: dict[str, Any] = {"condition": condition, "invalid": rule.invalid, "applicant": rule.applicant}
    name, code = rule.code_name, check_code(rule.code_name)
    if rule.kind == "between":
        low, high = (min_team, max_team) if rule.field == Col.TEAM_SIZE else (rule.min, rule.max)
        reason = _with_parameters(rule.reason, min=low, max=high)
        return Check(name, rule.field, "between", reason, code, min=low, max=high, **common)
    if rule.kind == "only_options":
        if question is not None and question.type == "checkboxes":
            return Check(name, unknown_column(rule.field), "null", rule.reason, code, **common)
        options = question.options if question is not None else ()
        return Check(name, rule.field, "in_set", rule.reason, code, value_set=options, **common)
    wanted: Any = rule.value
    if question is not None and question.type == "yes_no":
        wanted = str(rule.value).casefold() == "yes"
    reason = _with_parameters(rule.reason, value=rule.value)
    return Check(name, rule.field, "in_set", reason, code, value_set=(wanted,), **common)


def form_checks(form: Form, min_team: int, max_team: int, timestamp_order: str = "month-first") -> tuple[Check, ...]:
    """Every check of the form, in the order a row's reasons list them: question by question (required, then of its
    type, then the rules on it); the team size's rules after the last of the team's questions."""
    fields = [question.field for question in form.questions]
    team_after = max((fields.index(f) for f in TEAM_FIELDS if f in fields), default=len(fields) - 1)
    checks: list[Check] = []
    for at, question in enumerate(form.questions):
        if question.required:
            checks.append(
                Check(
                    f"required:{question.field}",
                    answer_column(question),
                    "not_null",
                    f"{question.name} is missing",
                    required_code(question.field),
                    applicant=question.applicant_missing,
                )
            )
        checks += _type_checks(question, timestamp_order)
        checks += [_rule_check(rule, form, min_team, max_team) for rule in form.rules if rule.field == question.field]
        if at == team_after:
            checks += [
                _rule_check(rule, form, min_team, max_team) for rule in form.rules if rule.field == Col.TEAM_SIZE
            ]
    for rule in form.cross_row:
        checks.append(
            Check(
                rule.kind,
                rule.kind,
                "null",
                rule.reason,
                check_code(rule.kind),
                invalid=rule.invalid,
                applicant=rule.applicant,
            )
        )
    return tuple(checks)


def full_default_form() -> Form:
    """The 2021 form with every question (titles do not matter to its checks)."""
    columns = {}
    for question in DEFAULT_QUESTIONS:
        for n in range(4 if question.is_list else 1):
            columns[f"{question.field} {n}"] = question.field
    return default_form(columns)


def row_checks(
    min_team: int, max_team: int, timestamp_order: str = "month-first", form: Form | None = None
) -> tuple[Check, ...]:
    """Every check a row must pass, in the order its reasons are listed (the 2021 form unless another is given)."""
    return form_checks(form or full_default_form(), min_team, max_team, timestamp_order)


def _applies(check: Check, checked: pd.DataFrame) -> np.ndarray:
    if check.condition is None:
        return np.ones(len(checked), dtype=bool)
    column, value = check.condition
    return checked[column].eq(value).fillna(value=False).to_numpy(dtype=bool)


def failing(check: Check, checked: pd.DataFrame) -> np.ndarray:
    """Where rows fail one check, for the whole column at once: what GX's expectation of the check finds.

    A missing value passes every kind but `not_null`, as it does in a GX column expectation.
    """
    values = checked[check.column]
    present = values.notna().to_numpy(dtype=bool)
    if check.kind == "not_null":
        fails = ~present
    elif check.kind == "null":
        fails = present
    elif check.kind in ("in_set", "not_in_set"):
        inside = values.isin(list(check.value_set)).to_numpy(dtype=bool)
        fails = present & (~inside if check.kind == "in_set" else inside)
    elif check.kind == "between":
        number = pd.to_numeric(values, errors="coerce").astype(float)
        low = -np.inf if check.min is None else check.min
        high = np.inf if check.max is None else check.max
        fails = present & ~number.between(low, high).to_numpy(dtype=bool)
    else:
        matched = values.astype(object).where(values.notna(), "").astype(str).str.fullmatch(check.regex or "")
        fails = present & ~matched.to_numpy(dtype=bool)
    return fails & _applies(check, checked)


def failed_check_bits(checked: pd.DataFrame, checks: tuple[Check, ...]) -> np.ndarray:
    """Per row, bit k set when the row fails check k (0 for a row that passes them all): the numpy floor."""
    bits = np.zeros(len(checked), dtype=object if len(checks) > 62 else "int64")
    for k, check in enumerate(checks):
        bits |= failing(check, checked).astype(bits.dtype) << k
    return bits


def failed_check_codes(bits: np.ndarray, checks: tuple[Check, ...]) -> list[list[str]]:
    """Per row, the codes of the checks set in its failed-check bits, in the order its reasons are listed.

    Read from the very bits the reasons are written from, so a row's codes and reasons name the same checks.
    """
    columns = [np.where(bits & (1 << k), check.code, "") for k, check in enumerate(checks)]
    return [[str(code) for code in row if code] for row in zip(*columns, strict=True)]


def reason_codes_produced(form: Form | None = None) -> frozenset[str]:
    """Every reason code a row can be given: one per check of the form, and the later steps' (ReasonCode).

    Each needs an applicant's sentence in templates/notices/reasons.yaml, or the form's own. A flag for staff (a
    check with `invalid` false) gives no code: the applicant never reads it.
    """
    checks = row_checks(1, 1, form=form)
    return frozenset(check.code for check in checks if check.invalid) | frozenset(ReasonCode)


def suite_name(checks: tuple[Check, ...]) -> str:
    """A name for the suite of these checks, the same for the same checks."""
    return "response rows " + hashlib.sha256(repr(checks).encode()).hexdigest()[:12]


def build_expectations(checks: tuple[Check, ...]) -> list:
    """One GX expectation per check, carrying its name, staff sentence and reason code in `meta`."""
    import great_expectations as gx

    made: list[Any] = []
    for check in checks:
        said = f"{check.reason} (reason code `{check.code}`" + ("" if check.invalid else "; a flag for staff") + ")"
        kwargs: dict[str, Any] = {
            "column": check.column,
            "meta": {
                "check": check.name,
                "reason": check.reason,
                "code": check.code,
                "invalid": check.invalid,
            },
            # Data Docs show an expectation's notes beside it: the sentence staff read when a row fails it.
            "notes": said,
        }
        if check.condition is not None:
            column, value = check.condition
            kwargs |= {"row_condition": f"{column} == {value!r}", "condition_parser": "pandas"}
        if check.kind == "not_null":
            made.append(gx.expectations.ExpectColumnValuesToNotBeNull(**kwargs))
        elif check.kind == "null":
            made.append(gx.expectations.ExpectColumnValuesToBeNull(**kwargs))
        elif check.kind == "in_set":
            made.append(gx.expectations.ExpectColumnValuesToBeInSet(value_set=list(check.value_set), **kwargs))
        elif check.kind == "not_in_set":
            made.append(gx.expectations.ExpectColumnValuesToNotBeInSet(value_set=list(check.value_set), **kwargs))
        elif check.kind == "between":
            made.append(
                gx.expectations.ExpectColumnValuesToBeBetween(min_value=check.min, max_value=check.max, **kwargs)
            )
        else:
            made.append(gx.expectations.ExpectColumnValuesToMatchRegex(regex=rf"\A(?:{check.regex})\Z", **kwargs))
    return made
