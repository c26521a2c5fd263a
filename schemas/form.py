"""The application form as data: each question's canonical field, type, whether it must be answered, its options, and
the eligibility rules with the sentence staff read when a row fails one (and, optionally, the applicant's words).

Forms get edited between calls: a renamed question, an added or dropped one, a new option are edits of the cohort
file's `form:` block. A cohort file without one has the 2021 form (`default_form`), its titles taken from `columns`.
The checks every row must pass (schemas/suite.py) are made from the form: one per required answer, one per answer
that must be of its type (an address, a state, a date and time, Yes or No, a number), and one per rule.
"""

from __future__ import annotations

import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.columns import (
    EDUCATION_LEVELS,
    FIELD_LABELS,
    JOB_FAMILIES,
    LIST_FIELDS,
    Col,
)

QuestionType = Literal[
    "text", "paragraph", "email", "us_state", "yes_no", "single_choice", "checkboxes", "timestamp", "number"
]
RuleKind = Literal["equals", "between", "only_options"]

# The types whose answer as written is kept beside the value read from it, for a reason to quote.
TEXT_KEPT: frozenset[str] = frozenset({"timestamp", "us_state", "yes_no", "number"})
# The types with a list of options.
WITH_OPTIONS: frozenset[str] = frozenset({"single_choice", "checkboxes"})
# Fields the pipeline itself reads (dedupe, cutoff, select, notices): every form has a question for each, of this type.
PIPELINE_FIELDS: dict[str, QuestionType] = {
    Col.SUBMITTED_AT: "timestamp",
    Col.SUBMITTER_EMAIL: "email",
    Col.LOCAL_NAME: "text",
    Col.STATE: "us_state",
    Col.LEAD_NAME: "text",
    Col.LEAD_EMAIL: "email",
}
# Fields the pipeline reads when the form has them, of this type (a list field is answered by several questions).
KNOWN_TYPES: dict[str, QuestionType] = PIPELINE_FIELDS | {Col.MEMBER_NAMES: "text", Col.MEMBER_EMAILS: "email"}
# The team size (the lead plus the named members) is counted from these; its rules follow their questions.
TEAM_FIELDS: tuple[str, ...] = (Col.LEAD_NAME, Col.MEMBER_NAMES, Col.MEMBER_EMAILS)
# How a number is written: digits, thousands with commas, an optional decimal part (normalize reads the same).
NUMBER_PATTERN = r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Question(_Model):
    """One question of the form (or, for a list field such as member_names, several titles feeding one list)."""

    field: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str | tuple[str, ...] | None = None  # the sheet's header(s); the default form takes them from `columns`
    type: QuestionType = "text"
    required: bool = False
    options: tuple[str, ...] = ()
    label: str | None = None  # the field's name in a staff reason ("Team lead email")
    invalid: str | None = None  # the staff sentence when the answer is not of its type (a default per type)
    applicant_missing: str | None = None  # the applicant's words when required and left empty
    applicant_invalid: str | None = None  # the applicant's words when not of its type

    @property
    def titles(self) -> tuple[str, ...]:
        if self.title is None:
            return ()
        return (self.title,) if isinstance(self.title, str) else self.title

    @property
    def is_list(self) -> bool:
        return self.field in LIST_FIELDS

    @property
    def name(self) -> str:
        return self.label or FIELD_LABELS.get(self.field) or self.field.replace("_", " ").capitalize()


class When(_Model):
    """The rows a rule applies to: those whose answer to `field` is `equals` (a great-expectations row_condition)."""

    field: str
    equals: bool | int | float | str


class Rule(_Model):
    """An eligibility rule on one field, with the sentence staff read when a row breaks it.

    `equals`: the answer must be `value` (Yes/No questions: "Yes" or "No"); `between`: a number (or the team size,
    bounded by `team_size:`) from `min` to `max`; `only_options`: the answers are among the question's options.
    The sentence may quote the row's own answers: `{field}` (`{field!r}` quoted), `{field_text}` as written,
    `{unknown_field}` the options not on the list, and the rule's `{min}`, `{max}`, `{value}`.
    """

    field: str
    kind: RuleKind
    name: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")  # the reason code is check:<name or field>
    value: bool | int | float | str | None = None
    min: float | None = None
    max: float | None = None
    when: When | None = None
    reason: str = Field(min_length=3)
    applicant: str | None = None  # the applicant's words; else templates/notices/reasons.yaml has them by code
    invalid: bool = True  # False: the row keeps its status and the reason is a flag for staff

    @property
    def code_name(self) -> str:
        return self.name or self.field


CROSS_ROW_KINDS = ("email_on_two_teams", "lead_member_elsewhere")


class CrossRowRule(_Model):
    """An integrity rule across rows: the same person on two teams' rosters (`email_on_two_teams`) or a team lead
    named as a member of another team (`lead_member_elsewhere`). A team is a local in a state (rows of one team,
    its resubmissions, share their people). Each row involved gets the reason, a flag for staff; `invalid: true`
    makes it a reason to refuse those rows. The sentence may quote `{email_on_two_teams}` (or
    `{lead_member_elsewhere}`): each address and the other teams it is on."""

    kind: Literal["email_on_two_teams", "lead_member_elsewhere"]  # CROSS_ROW_KINDS
    reason: str = Field(min_length=3)
    applicant: str | None = None
    invalid: bool = False

    @property
    def code_name(self) -> str:
        return self.kind


class Form(_Model):
    """The questions in the order their checks are listed in a reason, the rules, and the cross-row rules."""

    questions: tuple[Question, ...] = Field(min_length=1)
    rules: tuple[Rule, ...] = ()
    cross_row: tuple[CrossRowRule, ...] = ()

    def question(self, field: str) -> Question | None:
        for question in self.questions:
            if question.field == field:
                return question
        return None

    @property
    def fields(self) -> dict[str, Question]:
        return {question.field: question for question in self.questions}


def text_column(field: str) -> str:
    """The column of the normalized frame holding a question's answer as written (`state_text`), for the types
    whose value is read from it (TEXT_KEPT)."""
    return f"{field}_text"


def unknown_column(field: str) -> str:
    """The column of the normalized frame naming a checkbox answer's options that are not on the form's list."""
    return f"unknown_{field}"


def bad_column(field: str) -> str:
    """The column naming the addresses of a list of emails that are not valid addresses (`bad_member_emails`)."""
    return f"bad_{field}"


def _question(field: str, kind: QuestionType, **more: object) -> Question:
    return Question.model_validate({"field": field, "type": kind, **more})


# The 2021 form, in the order its checks are listed in a row's reasons.
DEFAULT_QUESTIONS: tuple[Question, ...] = (
    _question(Col.SUBMITTED_AT, "timestamp", required=True),
    _question(Col.LOCAL_NAME, "text", required=True),
    _question(Col.STATE, "us_state", required=True),
    _question(Col.AFFILIATE, "text"),
    _question(Col.SUBMITTER_EMAIL, "email", required=True),
    _question(Col.LEAD_NAME, "text", required=True),
    _question(Col.LEAD_EMAIL, "email", required=True),
    _question(Col.LEAD_PHONE, "text"),
    _question(Col.MEMBER_NAMES, "text"),
    _question(
        Col.MEMBER_EMAILS,
        "email",
        invalid="Team member email is not a valid address: {" + bad_column("member_emails") + "}",
    ),
    _question(Col.JOB_FAMILIES, "checkboxes", required=True, options=JOB_FAMILIES),
    _question(Col.EDUCATION_LEVELS, "checkboxes", options=EDUCATION_LEVELS),
    _question(Col.PROGRAM_STAGE, "single_choice", options=("No", "In development", "Yes, established")),
    _question(Col.PRESIDENT_APPROVED, "yes_no", required=True),
    _question(Col.COMMITMENT, "yes_no", required=True),
    _question(Col.WHY_STATEMENT, "paragraph"),
)
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        field=Col.TEAM_SIZE,
        kind="between",
        reason="Team size must be {min} to {max} people (the lead plus team members): it has {team_size}",
    ),
    Rule(
        field=Col.JOB_FAMILIES,
        kind="only_options",
        reason="ESP job families include options that are not ESP career families: {unknown_job_families}",
    ),
    Rule(
        field=Col.PRESIDENT_APPROVED,
        kind="equals",
        value="Yes",
        reason="The form says the local president has not approved this application",
    ),
    Rule(
        field=Col.COMMITMENT,
        kind="equals",
        value="Yes",
        reason="The team says it cannot commit to the 9-week course schedule",
    ),
)


def default_form(columns: dict[str, str]) -> Form:
    """The 2021 form, with the questions `columns` maps (titles from it) and the rules on those questions."""
    titles: dict[str, list[str]] = {}
    for header, field in columns.items():
        titles.setdefault(field, []).append(header)
    questions = []
    for question in DEFAULT_QUESTIONS:
        if question.field in titles:
            found = titles[question.field]
            title: str | tuple[str, ...] = tuple(found) if question.is_list else found[0]
            questions.append(question.model_copy(update={"title": title}))
    present = {question.field for question in questions} | {Col.TEAM_SIZE}
    return Form(questions=tuple(questions), rules=tuple(rule for rule in DEFAULT_RULES if rule.field in present))


def form_columns(form: Form) -> dict[str, str]:
    """The sheet's titles → canonical fields, as `columns` writes them."""
    return {title: question.field for question in form.questions for title in question.titles}


_FIELDS = string.Formatter()


def placeholders(sentence: str) -> list[str]:
    """The names a sentence fills from the row (`{lead_email!r}` → lead_email); an unparsable one raises ValueError."""
    return [name for _, name, _, _ in _FIELDS.parse(sentence) if name is not None]


Problems = list[tuple[str, str]]
_OWN_NAMES = (Col.TEAM_SIZE, Col.SOURCE_ROW, Col.STATUS, Col.REASONS)


def _own_name(field: str) -> bool:
    """A field name the pipeline uses for its own columns (team_size, unknown_*, *_text, …)."""
    return (
        field in _OWN_NAMES
        or field.startswith(("unknown_", "bad_", "points_"))
        or field.endswith(("_text", "_valid", "_clock", "_readings"))
    )


def _type_problems(question: Question) -> Problems:
    """What is wrong with a question's type and options."""
    problems: Problems = []
    wanted = KNOWN_TYPES.get(question.field)
    if wanted is not None and question.type != wanted:
        problems.append(("type", f"{question.field} is read by the pipeline as {wanted}, not {question.type}"))
    if question.type == "timestamp" and question.field != Col.SUBMITTED_AT:
        problems.append(("type", f"only submitted_at is a timestamp (the form's own), not {question.field}"))
    if question.type in WITH_OPTIONS and not question.options:
        problems.append(("options", f"a {question.type} question needs its options"))
    if question.type not in WITH_OPTIONS and question.options:
        problems.append(("options", f"only single_choice and checkboxes questions have options, not {question.type}"))
    if len(set(question.options)) != len(question.options):
        problems.append(("options", "an option is listed twice"))
    if _own_name(question.field):
        problems.append(("field", f"{question.field!r} is a name the pipeline gives its own columns"))
    return problems


def _title_problems(question: Question, at: int, titles: dict[str, str]) -> Problems:
    """What is wrong with a question's titles (`titles`: each title seen so far, without case, → its key)."""
    problems: Problems = []
    if not question.titles:
        problems.append(("title", "missing key: the question's title in the sheet's header row"))
    if len(question.titles) > 1 and not question.is_list:
        problems.append(("title", f"several titles feed only a list field ({', '.join(sorted(LIST_FIELDS))})"))
    for title in question.titles:
        folded = " ".join(title.split()).casefold()
        if folded in titles:
            problems.append(("title", f"{title!r} is already the title of {titles[folded]}"))
        titles.setdefault(folded, f"form.questions.{at}")
    return problems


def _sentence_problems(sentence: str, allowed: set[str]) -> list[str]:
    """What is wrong with a staff sentence: a placeholder that names no answer, or one that cannot be read."""
    try:
        named = set(placeholders(sentence))
    except ValueError as exc:
        return [f"is not a sentence with {{placeholders}}: {exc}"]
    return [f"{{{name}}} is not an answer the sentence can quote" for name in sorted(named - allowed)]


def _question_problems(form: Form) -> Problems:
    problems: Problems = []
    seen: dict[str, int] = {}
    titles: dict[str, str] = {}
    allowed = quotable(form)
    for at, question in enumerate(form.questions):
        key = f"form.questions.{at}"
        if question.field in seen:
            problems.append(
                (f"{key}.field", f"{question.field!r} is already the field of form.questions.{seen[question.field]}")
            )
        seen.setdefault(question.field, at)
        found = _title_problems(question, at, titles) + _type_problems(question)
        if question.invalid is not None:
            found += [("invalid", message) for message in _sentence_problems(question.invalid, allowed)]
        problems += [(f"{key}.{name}", message) for name, message in found]
    for field, kind in PIPELINE_FIELDS.items():
        if field not in seen:
            problems.append(("form.questions", f"has no {field} question (type {kind}): the pipeline reads it"))
    return problems


def _rule_problems(form: Form) -> Problems:
    problems: Problems = []
    codes: dict[str, str] = {}
    fields = form.fields
    allowed = quotable(form) | {"min", "max", "value"}
    for at, rule in enumerate(form.rules):
        key = f"form.rules.{at}"
        question = fields.get(rule.field)
        if rule.field != Col.TEAM_SIZE and question is None:
            problems.append((f"{key}.field", f"{rule.field!r} is not a field of a question in form.questions"))
            continue
        kind = "number" if question is None else question.type
        found = _rule_fits(rule, kind, question)
        if rule.code_name in codes:
            found.append(
                ("name", f"two rules give the reason check:{rule.code_name} ({codes[rule.code_name]}): name one")
            )
        codes.setdefault(rule.code_name, key)
        if rule.when is not None:
            other = fields.get(rule.when.field)
            if other is None:
                found.append(("when.field", f"{rule.when.field!r} is not a field of a question"))
            elif other.is_list or other.type == "checkboxes":
                found.append(("when.field", f"{rule.when.field} is a list; a condition needs one answer"))
        found += [("reason", message) for message in _sentence_problems(rule.reason, allowed)]
        problems += [(f"{key}.{name}", message) for name, message in found]
    for at, cross in enumerate(form.cross_row):
        problems += [(f"form.cross_row.{at}.reason", message) for message in _sentence_problems(cross.reason, allowed)]
    kinds = [cross.kind for cross in form.cross_row]
    problems += [
        (f"form.cross_row.{at}.kind", f"{kind} is given twice")
        for at, kind in enumerate(kinds)
        if kinds.index(kind) != at
    ]
    return problems


def form_problems(form: Form) -> Problems:
    """Every mistake in a form definition, as (key, what is wrong): each is one line of the config error."""
    return _question_problems(form) + _rule_problems(form)


def quotable(form: Form) -> set[str]:
    """The columns a reason may quote: the form's fields, their answers as written, unknown options, bad addresses."""
    names: set[str] = {Col.TEAM_SIZE}
    for question in form.questions:
        names.add(question.field)
        if question.type in TEXT_KEPT:
            names.add(text_column(question.field))
        if question.type == "checkboxes":
            names.add(unknown_column(question.field))
        if question.is_list and question.type == "email":
            names.add(bad_column(question.field))
    if Col.SUBMITTED_AT in names:
        names.add("submitted_at_readings")
    return names | set(CROSS_ROW_KINDS)


def _equals_problems(rule: Rule, kind: str, question: Question | None) -> Problems:
    if rule.value is None:
        return [("value", "an equals rule needs `value`")]
    if kind == "yes_no" and str(rule.value).casefold() not in ("yes", "no"):
        return [("value", f'{rule.field} is a Yes/No question: value is "Yes" or "No", not {rule.value!r}')]
    if kind == "single_choice" and question is not None and rule.value not in question.options:
        return [("value", f"{rule.value!r} is not one of the options of {rule.field}")]
    if kind == "checkboxes":
        return [("kind", f"{rule.field} is a checkbox question: use only_options")]
    if kind == "number" and isinstance(rule.value, str):
        return [("value", f"{rule.field} is a number: value is a number, not {rule.value!r}")]
    return []


def _between_problems(rule: Rule, kind: str) -> Problems:
    if kind != "number":
        return [("kind", f"a between rule needs a number question or team_size, and {rule.field} is {kind}")]
    if rule.field == Col.TEAM_SIZE:
        if rule.min is not None or rule.max is not None:
            return [("min", "the team size rule takes its bounds from `team_size:` (min, max)")]
        return []
    if rule.min is None and rule.max is None:
        return [("min", "a between rule needs `min`, `max` or both")]
    if rule.min is not None and rule.max is not None and rule.min > rule.max:
        return [("min", f"min ({rule.min:g}) is larger than max ({rule.max:g})")]
    return []


def _rule_fits(rule: Rule, kind: str, question: Question | None) -> Problems:
    """What is wrong with a rule for a question of this type."""
    if question is not None and question.is_list:
        return [("field", f"{rule.field} is a list of names or emails; a rule needs one answer or the team size")]
    if rule.kind == "equals":
        problems = _equals_problems(rule, kind, question)
    elif rule.kind == "between":
        problems = _between_problems(rule, kind)
    elif kind not in WITH_OPTIONS:
        problems = [("kind", f"only_options needs a single_choice or checkboxes question, and {rule.field} is {kind}")]
    else:
        problems = []
    if rule.kind != "equals" and rule.value is not None:
        problems.append(("value", f"only an equals rule has `value`, not {rule.kind}"))
    if rule.kind != "between" and (rule.min is not None or rule.max is not None):
        problems.append(("min", f"only a between rule has `min` and `max`, not {rule.kind}"))
    return problems
