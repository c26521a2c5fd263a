"""The cohort configuration: one YAML file per cohort, checked by pydantic before anything runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from schemas.columns import (
    CHECKBOX_FIELDS,
    FORM_FIELDS,
    INITIAL_DECISION_KINDS,
    LIFECYCLE_KINDS,
    LIST_FIELDS,
    REQUIRED_FIELDS,
    REVIEW_KINDS,
    YES_NO_FIELDS,
    Col,
    Kind,
)
from schemas.deployment import Env
from schemas.errors import StaffError
from schemas.form import Form, Question, default_form, form_columns, form_problems
from schemas.review import Combine

# The validation context's key telling the rubric that the file has a `form:` block, whose questions it names.
FORM_GIVEN = "form given"


class ConfigError(StaffError):
    """The cohort file cannot be used; the message names each key and its problem."""


class SecretError(StaffError):
    """A secret the config refers to cannot be found where the config says it is."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Model):
    """Where a secret lives: never the secret itself."""

    env: str | None = None
    prefect_secret: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [name for name in ("env", "prefect_secret", "file") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of env, prefect_secret or file")
        return self

    def reveal(self) -> str:
        """The secret's value, read at the moment it is needed."""
        if self.env:
            if self.env not in os.environ:
                raise SecretError(f"environment variable {self.env} is not set")
            return os.environ[self.env]
        if self.file:
            try:
                return self.file.read_text(encoding="utf-8")
            except OSError as exc:
                raise SecretError(f"cannot read secret file {self.file}: {exc.strerror}") from None
        return _prefect_secret(self.prefect_secret or "")


def _prefect_secret(name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        value = cast(Secret, Secret.load(name)).get()
    except ValueError as exc:
        raise SecretError(f"Prefect Secret block {name!r} not found: {exc}") from None
    # A key file's JSON pasted into a Secret block comes back as a mapping: hand it on as JSON again.
    return value if isinstance(value, str) else json.dumps(value)


class StateStoreConfig(_Model):
    """A state store on a database server, its password kept elsewhere (a Secret block, an environment variable):
    the cohort file, which staff share and commit, never holds it."""

    url: str = Field(min_length=1)  # e.g. postgresql+psycopg://cohort@db.example.org:5432/cohorts
    password: SecretRef

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, url: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError("is not a database URL such as postgresql+psycopg://user@host:5432/database") from None
        if parsed.password is not None:
            raise ValueError("holds a password: give it as `password:` (a secret reference) instead")
        return url

    def with_password(self) -> str:
        """The URL to connect with: the password read now, from where the reference says."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).set(password=self.password.reveal()).render_as_string(hide_password=False)


class FileSourceConfig(_Model):
    kind: Literal["file"]
    path: Path

    @field_validator("path")
    @classmethod
    def _known_suffix(cls, path: Path) -> Path:
        if path.suffix.lower() not in {".csv", ".xlsx"}:
            raise ValueError(f"must end in .csv or .xlsx, got {path.name!r}")
        return path


class SheetSourceConfig(_Model):
    kind: Literal["google_sheet"]
    key: str = Field(min_length=10)
    worksheet: str = Field(min_length=1)
    credentials: SecretRef


SourceConfig = Annotated[FileSourceConfig | SheetSourceConfig, Field(discriminator="kind")]


class SmtpConfig(_Model):
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None


class EmailConfig(_Model):
    sender: str
    reply_to: str | None = None
    smtp: SmtpConfig = SmtpConfig()


class TeamSize(_Model):
    min: int = Field(default=2, ge=1)
    max: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> TeamSize:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


class DedupeConfig(_Model):
    fuzzy_threshold: float = Field(default=90, ge=50, le=100)


class Extension(_Model):
    """A staff-granted extension for one sheet row or one team, with the reason recorded in its decision."""

    source_row: int | None = Field(default=None, ge=2)
    team: str | None = None
    until: dt.datetime | None = None
    reason: str = Field(min_length=3)

    @model_validator(mode="after")
    def _one_target(self) -> Extension:
        if (self.source_row is None) == (self.team is None):
            raise ValueError("give exactly one of source_row or team")
        state, colon, name = (self.team or "").partition(":")
        if self.team is not None and not (colon and state.strip() and name.strip()):
            raise ValueError(
                f"team {self.team!r} is not a team key: write it STATE:local name, as in the team_key column of "
                "decisions.csv (e.g. NY:troy education association)"
            )
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("until has no time zone offset")
        return self


CriterionKind = Literal["count", "map", "contains", "first_time", "reviews", "number"]


class Criterion(_Model):
    """One rubric line: points from an answer, times a weight; the decision records the result."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: CriterionKind
    field: str | None = None
    points: float = 1.0
    max_points: float | None = None
    weight: float = Field(default=1.0, ge=0)
    map: dict[str, float] | None = None
    value: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_yaml_booleans(cls, data: object) -> object:
        """An unquoted `No:` (or Yes, On, Off, True, False) map key is read by YAML as a boolean, not as the answer:
        refused, asking for quotes, rather than guessed."""
        if isinstance(data, dict) and isinstance(data.get("map"), dict):
            read = [str(key).lower() for key in data["map"] if isinstance(key, bool)]
            if read:
                raise ValueError(
                    f"criterion {data.get('name')!r}: YAML reads a map key written No, Yes, Off, On, False or True "
                    f"without quotes as a boolean ({' and '.join(read)} here), not as the answer; quote every "
                    'answer in the map, e.g. {"No": 3, "Yes, established": 0}'
                )
        return data

    @model_validator(mode="after")
    def _complete(self) -> Criterion:
        """What every criterion of its kind needs, whatever the form."""
        if self.kind in {"count", "map", "contains", "number"} and not self.field:
            raise ValueError(f"a {self.kind} criterion needs `field`")
        if self.kind == "map" and not self.map:
            raise ValueError("a map criterion needs `map` (answer: points)")
        if self.kind == "contains" and not self.value:
            raise ValueError("a contains criterion needs `value`")
        return self

    @model_validator(mode="after")
    def _fits_kind(self, info: ValidationInfo) -> Criterion:
        if info.context and info.context.get(FORM_GIVEN):
            return self  # the fields are the form's questions: CohortConfig checks them against it
        if self.kind == "number":
            raise ValueError("a number criterion needs a number question: give the form in `form:`")
        if self.field and self.field not in FORM_FIELDS:
            raise ValueError(f"field {self.field!r} is not a form field (one of {', '.join(sorted(FORM_FIELDS))})")
        if self.kind in {"count", "contains"} and self.field not in LIST_FIELDS | CHECKBOX_FIELDS:
            raise ValueError(f"a {self.kind} criterion needs a list field, and {self.field} is not one")
        if self.kind == "map" and self.field in LIST_FIELDS | CHECKBOX_FIELDS:
            raise ValueError(
                f"criterion {self.name!r}: a map criterion scores one answer, and {self.field} is a list of "
                "options, so it would always score 0; use kind `count` (points per option chosen) or kind "
                "`contains` with `value` (points when one option is chosen)"
            )
        if self.kind == "map" and self.field in YES_NO_FIELDS:
            other = sorted(str(key) for key in self.map or {} if str(key).strip().casefold() not in ("yes", "no"))
            if other:
                raise ValueError(
                    f"criterion {self.name!r}: {self.field} is a Yes/No question, so the map's keys can only be "
                    f'"Yes" and "No"; {", ".join(map(repr, other))} would never match'
                )
        return self


class ReservedSeats(_Model):
    """Seats kept for teams whose answer in `field` includes `value` (e.g. Higher Education locals)."""

    name: str = Field(min_length=1)
    seats: int = Field(ge=1)
    field: str
    value: str

    @field_validator("field")
    @classmethod
    def _list_field(cls, name: str, info: ValidationInfo) -> str:
        if not (info.context and info.context.get(FORM_GIVEN)) and name not in LIST_FIELDS | CHECKBOX_FIELDS:
            raise ValueError(f"{name!r} is not a checkbox or list field")
        return name


# The subject keys a cohort file may write, as Literal types built from the Kind vocabulary so that a misspelt
# kind is refused by name. A type checker cannot follow a Literal built at run time, so it sees plain text.
DECISION_NOTICE_KINDS: tuple[str, ...] = (*sorted(INITIAL_DECISION_KINDS), Kind.INTEREST.value)
if TYPE_CHECKING:
    NoticeKind: TypeAlias = str
    LifecycleKind: TypeAlias = str
    ReviewKind: TypeAlias = str
else:
    NoticeKind = Literal[DECISION_NOTICE_KINDS]
    LifecycleKind = Literal[tuple(sorted(LIFECYCLE_KINDS))]
    ReviewKind = Literal[(*sorted(REVIEW_KINDS), Kind.REPLY_REMINDER.value)]
LIFECYCLE_SUBJECTS: dict[str, str] = {
    Kind.OFFER: "A seat is open for your team: {{ program }} ({{ cohort }})",
    Kind.OFFER_EXPIRED: (
        "{% if decision.was_selected %}Your team's place has lapsed{% else %}Your seat offer has expired{% endif %}: "
        "{{ program }} ({{ cohort }})"
    ),
    Kind.CONFIRMED: "Your team's place is confirmed: {{ program }} ({{ cohort }})",
    Kind.DECLINED: "Your team has declined its place: {{ program }} ({{ cohort }})",
    Kind.WITHDRAWN: "Your application to {{ program }} ({{ cohort }}) is withdrawn",
}
# The reply reminder: {{ decision.reply_by }} (when the team's reply is due) besides the decision notices' words.
REPLY_SUBJECTS: dict[str, str] = {
    Kind.REPLY_REMINDER: "Please reply by {{ decision.reply_by }}: {{ program }} ({{ cohort }})",
}
# The reviewers' notices: {{ review.assigned }}, {{ review.remaining }} and {{ review.due }} besides the above.
REVIEW_SUBJECTS: dict[str, str] = {
    Kind.REVIEW_ASSIGNMENT: "Your review assignment: {{ review.assigned }} applications ({{ program }}, {{ cohort }})",
    Kind.REVIEW_REMINDER: "Reminder: {{ review.remaining }} applications to review by {{ review.due }}",
}


class NoticesConfig(_Model):
    """What the notices say: subjects (jinja2: {{ program }}, {{ cohort }}, {{ team.local_name }}) and course facts."""

    confirm_by: dt.date
    course_start: dt.date
    course_summary: str = Field(min_length=1)
    subjects: dict[NoticeKind | LifecycleKind | ReviewKind, str]

    @field_validator("subjects")
    @classmethod
    def _every_kind(cls, subjects: dict[str, str]) -> dict[str, str]:
        """The decision kinds must be written; the after-notice kinds (offer, …) and the reviewers' have defaults."""
        missing = sorted(set(DECISION_NOTICE_KINDS) - set(subjects))
        if missing:
            raise ValueError(f"needs a subject for {', '.join(missing)}")
        return {
            str(kind): text for kind, text in (LIFECYCLE_SUBJECTS | REPLY_SUBJECTS | REVIEW_SUBJECTS | subjects).items()
        }


class RepliesConfig(_Model):
    """Applicants answer for themselves through a Google Form: the selected and offer notices carry a personal link
    (the form's prefilled link with a reply code and the choice), the form's responses land in `responses` (a sheet,
    or a CSV/XLSX export), and the promote-waitlist flow records each valid reply as the team's own action.

    The reply code binds the cohort, the team and the decision it answers, signed with `secret` (HMAC-SHA256): a
    Secret block or an environment variable, never the key itself in this file."""

    # The form's address as its "Get pre-filled link" gives it, up to the `?`.
    form_url: str = Field(pattern=r"^https://docs\.google\.com/forms/")
    # The prefilled link's field ids (entry.NNN) of the reply-code question and the choice question.
    token_entry: str = Field(pattern=r"^entry\.\d+$")
    choice_entry: str = Field(pattern=r"^entry\.\d+$")
    # The choice question's two options, as the form writes them.
    confirm_choice: str = Field(default="Confirm", min_length=1)
    decline_choice: str = Field(default="Decline", min_length=1)
    # The third option: to hear no more (the interest notice's unsubscribe link and List-Unsubscribe header).
    unsubscribe_choice: str = Field(default="Unsubscribe", min_length=1)
    responses: SourceConfig
    # The responses sheet's column titles (the form's question titles).
    timestamp_column: str = "Timestamp"
    token_column: str = "Reply code"  # noqa: S105 -- a question's title, not a secret
    choice_column: str = "Your answer"
    secret: SecretRef
    # Hours before a team's reply is due (confirm-by, or an offer's respond-by) when a team that has not replied
    # gets a reminder, once for each.
    remind: list[int] = Field(default_factory=list)
    # At confirm-by, a selected team that never replied: true makes it `expired` (its seat goes to the waitlist, and
    # the team gets that notice); false (the default) lists it for staff, who decide.
    expire_unconfirmed: bool = False

    @field_validator("remind")
    @classmethod
    def _hours(cls, hours: list[int]) -> list[int]:
        if any(h <= 0 for h in hours) or len(set(hours)) != len(hours):
            raise ValueError("give distinct whole numbers of hours before the reply is due, e.g. [72, 24]")
        return sorted(hours, reverse=True)

    @model_validator(mode="after")
    def _distinct_choices(self) -> RepliesConfig:
        choices = [c.casefold() for c in (self.confirm_choice, self.decline_choice, self.unsubscribe_choice)]
        if len(set(choices)) != len(choices):
            raise ValueError("confirm_choice, decline_choice and unsubscribe_choice must differ")
        if self.token_entry == self.choice_entry:
            raise ValueError("token_entry and choice_entry must be different fields of the form")
        return self


class WaitlistConfig(_Model):
    """Offers to waitlisted teams when a seat frees up: how long a team has to answer."""

    offer_hours: int = Field(default=72, ge=1, le=24 * 60)


class LeaseConfig(_Model):
    """One run per cohort sends notices or records changes: how long another run waits for it, and how long a
    holder that stopped answering (crashed, killed) keeps the lease before it expires."""

    wait_seconds: float = Field(default=120, ge=0, le=3600)
    expire_seconds: float = Field(default=60, ge=2, le=3600)


def _criterion_problems(criterion: Criterion, fields: dict[str, Question]) -> list[tuple[str, str]]:
    """What is wrong with a rubric criterion for the form's question it names."""
    if not criterion.field:
        return []
    question = fields.get(criterion.field)
    if question is None:
        return [("field", f"{criterion.field!r} is not a field of a question in form.questions")]
    listed = question.is_list or question.type == "checkboxes"
    if criterion.kind in ("count", "contains") and not listed:
        return [("kind", f"a {criterion.kind} criterion needs a list field, and {criterion.field} is {question.type}")]
    if criterion.kind == "map" and listed:
        return [("kind", f"a map criterion scores one answer, and {criterion.field} is a list: use count or contains")]
    if criterion.kind == "number" and question.type != "number":
        return [("kind", f"a number criterion needs a number question, and {criterion.field} is {question.type}")]
    if criterion.kind == "map" and question.type == "yes_no":
        other = sorted(str(k) for k in criterion.map or {} if str(k).strip().casefold() not in ("yes", "no"))
        if other:
            return [("map", f'{criterion.field} is a Yes/No question: its keys can only be "Yes" and "No"')]
    return []


class _FormTitles(dict):
    """`columns` as made from a form's questions: checked with the form, not against the 2021 fields."""


class FormProblems(ValueError):
    """Every mistake in the form definition, each with its key: one line of the config error each."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))
        self.problems = problems


class RetentionConfig(_Model):
    """How long applicant personal data is kept once the course has started, and the output folders that the purge
    (`cohort-select purge`) cleans besides the state store. The default, 18 months, keeps the data through the
    course and the next year's call, when this call's outcomes are still asked about, and no longer."""

    months_after_course_start: int = Field(default=18, ge=1, le=120)
    # Relative to the cohort file, like every path in it; `purge --folder DIR` adds more for one run.
    folders: list[Path] = []


# The most values a scale may have: each is one entry of the score cells' dropdown.
MAX_SCALE_VALUES = 101


class ScaleRange(_Model):
    """A scale written as its ends and step: min 1, max 5, step 0.5 allows 1, 1.5, … 5."""

    min: float
    max: float
    step: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _steps_fit(self) -> ScaleRange:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        steps = (self.max - self.min) / self.step
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(
                f"max ({self.max:g}) is not min ({self.min:g}) plus a whole number of steps ({self.step:g})"
            )
        if round(steps) + 1 > MAX_SCALE_VALUES:
            raise ValueError(f"has {round(steps) + 1} values; a dropdown takes at most {MAX_SCALE_VALUES}")
        return self


def _scale_form(scale: object) -> str | None:
    """Which way a scale is written: a list of the allowed values, or its ends (min, max, step)."""
    if isinstance(scale, list | tuple):
        return "values"
    if isinstance(scale, dict | ScaleRange):
        return "range"
    return None


# Tagged, so that a mistake is reported under the one way the scale was written (`scale.values`, `scale.range`).
Scale = Annotated[
    Annotated[list[float], Tag("values")] | Annotated[ScaleRange, Tag("range")],
    Discriminator(
        _scale_form,
        custom_error_type="scale",
        custom_error_message="give a list of the allowed values ([1, 2, 3, 4, 5]) or {min: 1, max: 5, step: 1}",
    ),
]


class ReviewCriterion(_Model):
    """One thing reviewers score: its name (a column of the reviewer's file), the words reviewers read, the allowed
    scores (a list, or min/max/step) and its weight in the selection's score."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    scale: Scale
    weight: float = Field(default=1.0, ge=0)

    @field_validator("scale")
    @classmethod
    def _distinct_values(cls, scale: list[float] | ScaleRange) -> list[float] | ScaleRange:
        if isinstance(scale, list):
            if len(scale) < 2:
                raise ValueError("needs at least two allowed values (or min and max)")
            if len(set(scale)) != len(scale):
                raise ValueError("lists a value twice")
            if len(scale) > MAX_SCALE_VALUES:
                raise ValueError(f"has {len(scale)} values; a dropdown takes at most {MAX_SCALE_VALUES}")
        return scale

    @property
    def values(self) -> tuple[float, ...]:
        """Every allowed score, lowest first."""
        if isinstance(self.scale, list):
            return tuple(sorted(self.scale))
        count = round((self.scale.max - self.scale.min) / self.scale.step) + 1
        return tuple(round(self.scale.min + i * self.scale.step, 9) for i in range(count))

    def allows(self, score: float) -> bool:
        """Whether `score` is one of the allowed values (to within rounding of the step)."""
        return any(abs(score - value) <= 1e-9 for value in self.values)


class ReviewConfig(_Model):
    """The review round: who reviews (a roster file), how many reviews each application gets, what they score, by
    when, how the scores are combined, and how far apart two reviewers' scores may be before the team is flagged for
    discussion."""

    roster: Path
    # The round's folder, relative to the cohort file: `review assign` writes assignments.csv and
    # reviewers/<reviewer>.xlsx there; `review collect` and the selection read the reviewers' files from it.
    folder: Path = Path("review")
    per_application: int = Field(default=2, ge=1)
    criteria: list[ReviewCriterion] = Field(min_length=1)
    # On the cohort's clock: `2021-06-14 17:00` is 17:00 in the cohort's timezone; an offset is optional and must agree.
    due: dt.datetime
    combine: Combine = Combine.MEAN
    # In the scale's own units: a criterion whose highest and lowest reviewer scores differ by this much or more.
    spread_threshold: float = Field(gt=0)
    # The answers each reviewer sees, one column each, in this order (form fields).
    answers: list[str] = Field(default_factory=lambda: [Col.WHY_STATEMENT.value], min_length=1)
    # A call whose responses are a Google Sheet reviews in a spreadsheet too: the key of the review spreadsheet
    # (shared with the source's service account as Editor), one worksheet per reviewer. Without it, reviewer files.
    spreadsheet: str | None = Field(default=None, min_length=10)

    @field_validator("roster")
    @classmethod
    def _roster_suffix(cls, path: Path) -> Path:
        if path.suffix.lower() not in {".csv", ".xlsx"}:
            raise ValueError(f"must end in .csv or .xlsx, got {path.name!r}")
        return path

    @field_validator("due", mode="before")
    @classmethod
    def _has_a_time(cls, due: object) -> object:
        """A date alone would mean midnight at the start of that day, which is rarely what "due June 14" means."""
        if isinstance(due, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", due):
            raise ValueError(f"{due.strip()!r} has no time: write the moment it is due, e.g. {due.strip()} 17:00")
        if isinstance(due, dt.date) and not isinstance(due, dt.datetime):
            raise ValueError(f"{due.isoformat()!r} has no time: write the moment it is due, e.g. {due} 17:00")
        return due

    @model_validator(mode="after")
    def _distinct_names(self) -> ReviewConfig:
        names = [criterion.name for criterion in self.criteria]
        doubled = sorted({name for name in names if names.count(name) > 1})
        if doubled:
            raise ValueError(f"criteria need distinct names; {', '.join(doubled)} is given more than once")
        if len(set(self.answers)) != len(self.answers):
            raise ValueError("answers lists a field twice")
        return self

    def due_moment(self, zone: ZoneInfo) -> dt.datetime:
        """The due moment, aware: a time without an offset is read on `zone`'s clock on that date."""
        return self.due if self.due.tzinfo is not None else self.due.replace(tzinfo=zone)


def _due_problems(review: ReviewConfig, zone: ZoneInfo) -> list[tuple[str, str]]:
    """A due time that the cohort's clock skips or shows twice, or whose offset is not the clock's on that date."""
    due = review.due
    if due.tzinfo is not None:
        local = due.astimezone(zone)
        if local.utcoffset() != due.utcoffset():
            return [("review.due", f"offset of {due.isoformat()} does not match {zone.key} then ({local.isoformat()})")]
        return []
    readings = {due.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1)}
    back = due.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    if back != due:
        return [("review.due", f"{due:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks go forward over it)")]
    if len(readings) > 1:
        return [("review.due", f"{due:%Y-%m-%d %H:%M} happens twice in {zone.key}: give its offset")]
    return []


def _review_sheet_problems(review: ReviewConfig, source: FileSourceConfig | SheetSourceConfig) -> list[tuple[str, str]]:
    """A sheet source reviews in a spreadsheet (with the source's credentials); a file source in reviewer files."""
    if isinstance(source, SheetSourceConfig) and review.spreadsheet is None:
        return [("review.spreadsheet", "the responses are a Google Sheet: give the key of the review spreadsheet")]
    if not isinstance(source, SheetSourceConfig) and review.spreadsheet is not None:
        return [("review.spreadsheet", "needs a google_sheet source, whose credentials open it; leave it out")]
    return []


def _review_field_problems(review: ReviewConfig, fields: frozenset[str] | set[str]) -> list[tuple[str, str]]:
    """The answers shown to reviewers name fields the form has."""
    return [
        (f"review.answers.{at}", f"{field!r} is not a field of the form (one of {', '.join(sorted(fields))})")
        for at, field in enumerate(review.answers)
        if field not in fields
    ]


# When a cohort file gives no `opens`: the window is taken to open four weeks before the deadline's day, long enough
# for the intake check's mornings to cover a typical call without a date staff must remember to write.
OPENS_BEFORE_DEADLINE = dt.timedelta(weeks=4)


class CohortConfig(_Model):
    """One cohort's call: dates, limits, the form's columns, where responses and state live."""

    program: str = Field(min_length=1)
    cohort: str = Field(min_length=1)
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    timezone: str
    # How the sheet writes the day of a slash timestamp: 6/7/2021 is June 7 month-first, 6 July day-first.
    timestamp_order: Literal["month-first", "day-first"] = "month-first"
    deadline: dt.datetime
    # The first day of the application window, on the cohort's clock: the served and deployed intake check runs each
    # morning from then until the deadline (tasks/deployments.py). Optional: OPENS_BEFORE_DEADLINE before the
    # deadline's day when the file does not say.
    opens: dt.date | None = None
    notify_by: dt.date
    capacity: int = Field(ge=1)
    max_per_state: int = Field(ge=1)
    team_size: TeamSize = TeamSize()
    # The form's questions and rules (schemas/form.py); without it, the 2021 form with the titles of `columns`.
    form: Form | None = None
    columns: dict[str, str]
    source: SourceConfig
    email: EmailConfig
    state_dir: Path = Path("state")
    dedupe: DedupeConfig = DedupeConfig()
    extensions: list[Extension] = []
    rubric: list[Criterion] = []
    reserved_seats: list[ReservedSeats] = []
    previous_participants: Path | None = None
    reviews: Path | None = None
    # The review round (assignment, reviewer files, collection); optional: without it no review is asked for.
    review: ReviewConfig | None = None
    # Applicants' replies through a Google Form; without it, staff record each reply (Overrides, CLI).
    replies: RepliesConfig | None = None
    notices: NoticesConfig | None = None
    waitlist: WaitlistConfig = WaitlistConfig()
    lease: LeaseConfig = LeaseConfig()
    retention: RetentionConfig = RetentionConfig()
    interest_list: Path | None = None
    overrides: Path | None = None
    # A URL (SQLite, or a server without a password), or {url: ..., password: {env: NAME} | {prefect_secret: NAME}}.
    state_url: str | StateStoreConfig | None = None

    @property
    def cohort_id(self) -> str:
        """The key of everything the state store keeps for this call: `id` when given, else the cohort name.

        Set `id` to keep a call's ledger when its `program` or `cohort` name is changed (see tasks/identity.py).
        """
        return self.id or self.cohort

    @property
    def database_url(self) -> str:
        """The state store: `state_url` (or COHORT_STATE_URL) if given, else SQLite under state_dir.

        A password behind a secret reference is read each time, so a rotated one is used by the next step.
        """
        if os.environ.get(Env.STATE_URL):
            return os.environ[Env.STATE_URL]
        if isinstance(self.state_url, StateStoreConfig):
            return self.state_url.with_password()
        return self.state_url or f"sqlite:///{self.state_dir / 'state.sqlite'}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def window_opens(self) -> dt.date:
        """The application window's first day: `opens`, or OPENS_BEFORE_DEADLINE before the deadline's day."""
        return self.opens or self.deadline.astimezone(self.zone).date() - OPENS_BEFORE_DEADLINE

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not a time zone name such as America/New_York") from None
        return name

    @field_validator("deadline")
    @classmethod
    def _aware(cls, deadline: dt.datetime) -> dt.datetime:
        if deadline.tzinfo is None or deadline.utcoffset() is None:
            raise ValueError("has no time zone offset; write it like 2021-06-07T10:00:00-04:00")
        return deadline

    @model_validator(mode="before")
    @classmethod
    def _columns_from_form(cls, data: object) -> object:
        """With a `form:` block, the sheet's titles are its questions' own; `columns` is made from them."""
        if not isinstance(data, dict) or not isinstance(data.get("form"), dict):
            return data
        if "columns" in data:
            raise ValueError("columns: give each question's title in form.questions (title:), not also in columns")
        try:
            columns = form_columns(Form.model_validate(data["form"]))
        except ValueError:
            columns = {}  # the form's own errors are reported under its keys
        return {**data, "columns": _FormTitles(columns)}

    @field_validator("columns", mode="before")
    @classmethod
    def _known_fields(cls, columns: object) -> object:
        if isinstance(columns, _FormTitles) or not isinstance(columns, dict):
            return dict(columns) if isinstance(columns, _FormTitles) else columns
        unknown = sorted({f for f in columns.values() if f not in FORM_FIELDS})
        if unknown:
            raise ValueError(f"maps to unknown field(s) {', '.join(unknown)}")
        missing = sorted(REQUIRED_FIELDS - set(columns.values()))
        if missing:
            raise ValueError(f"has no header for required field(s) {', '.join(missing)}")
        doubled = sorted(
            f for f in set(columns.values()) if f not in LIST_FIELDS and list(columns.values()).count(f) > 1
        )
        if doubled:
            raise ValueError(f"maps several headers to the single field(s) {', '.join(doubled)}")
        return columns

    @model_validator(mode="after")
    def _dates_agree(self) -> CohortConfig:
        if self.form is not None:
            problems = form_problems(self.form) + self._fields_used(self.form)
            if problems:
                raise FormProblems(problems)
        local = self.deadline.astimezone(self.zone)
        if local.utcoffset() != self.deadline.utcoffset():
            raise ValueError(
                f"deadline offset {self.deadline.isoformat()} does not match {self.timezone} on that "
                f"date (it is {local.isoformat()} there)"
            )
        names = [c.name for c in self.rubric]
        if len(set(names)) != len(names):
            raise ValueError("rubric criteria need distinct names")
        if sum(r.seats for r in self.reserved_seats) > self.capacity:
            raise ValueError("reserved_seats add up to more than capacity")
        kinds = {c.kind for c in self.rubric}
        if "first_time" in kinds and self.previous_participants is None:
            raise ValueError("a first_time criterion needs `previous_participants` (a CSV of team keys)")
        if "reviews" in kinds and self.reviews is None:
            raise ValueError("a reviews criterion needs `reviews` (a CSV of team, reviewer, score)")
        if self.opens is not None and self.opens >= local.date():
            raise ValueError(f"opens {self.opens.isoformat()} is not before the deadline {local.date().isoformat()}")
        if self.notify_by < local.date():
            raise ValueError(
                f"notify_by {self.notify_by.isoformat()} is before the deadline {local.date().isoformat()}"
            )
        return self

    @model_validator(mode="after")
    def _review_fits(self) -> CohortConfig:
        """The review's due time is one moment on the cohort's clock, and its answers are the form's fields."""
        if self.review is not None:
            fields = set(self.form.fields) if self.form is not None else FORM_FIELDS
            problems = _due_problems(self.review, self.zone) + _review_field_problems(self.review, fields)
            problems += _review_sheet_problems(self.review, self.source)
            if problems:
                raise FormProblems(problems)
        return self

    @model_validator(mode="after")
    def _retention_has_a_start(self) -> CohortConfig:
        if "retention" in self.model_fields_set and self.notices is None:
            raise ValueError(
                "retention: the period runs from notices.course_start, and this file has no notices section"
            )
        return self

    @property
    def review_due(self) -> dt.datetime | None:
        """When the reviews are due, aware, on the cohort's clock; None without a review round."""
        return self.review.due_moment(self.zone) if self.review is not None else None

    @property
    def the_form(self) -> Form:
        """The form the rows answer: the `form:` block, or the 2021 form with the titles of `columns`."""
        return self.form if self.form is not None else default_form(self.columns)

    def _fields_used(self, form: Form) -> list[tuple[str, str]]:
        """The rubric and the reserved seats name questions of the form, of a type they can read."""
        fields = form.fields
        problems = [
            (f"rubric.{at}.{key}", message)
            for at, criterion in enumerate(self.rubric)
            for key, message in _criterion_problems(criterion, fields)
        ]
        for at, seats in enumerate(self.reserved_seats):
            question = fields.get(seats.field)
            if question is None or not (question.is_list or question.type == "checkboxes"):
                problems.append(
                    (f"reserved_seats.{at}.field", f"{seats.field!r} is not a checkbox or list question of the form")
                )
        return problems

    def resolve(self, base: Path) -> CohortConfig:
        """Paths in the file are relative to the file; make them absolute once."""
        updates: dict[str, object] = {"state_dir": base / self.state_dir}
        env_dir = os.environ.get(Env.STATE_DIR)
        if env_dir:
            updates["state_dir"] = Path(env_dir)
        for name in ("previous_participants", "reviews", "interest_list", "overrides"):
            if getattr(self, name) is not None:
                updates[name] = base / getattr(self, name)
        if self.retention.folders:
            folders = [Path(os.path.normpath(base / folder)) for folder in self.retention.folders]  # as the purge says
            updates["retention"] = self.retention.model_copy(update={"folders": folders})
        if self.review is not None:
            moved = {"roster": base / self.review.roster, "folder": base / self.review.folder}
            updates["review"] = self.review.model_copy(update=moved)
        if isinstance(self.source, FileSourceConfig):
            updates["source"] = self.source.model_copy(update={"path": base / self.source.path})
        if self.replies is not None and isinstance(self.replies.responses, FileSourceConfig):
            moved_responses = self.replies.responses.model_copy(update={"path": base / self.replies.responses.path})
            updates["replies"] = self.replies.model_copy(update={"responses": moved_responses})
        return self.model_copy(update=updates)


class _NoDatesLoader(yaml.SafeLoader):
    """A safe loader that leaves dates as text, so pydantic alone decides what a date means."""


_NoDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-after")) or "(top)"
    key = key.replace("source.file.", "source.").replace("source.google_sheet.", "source.")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "missing key"
    elif error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling)"
    return f"{key}: {message}"


def _problems(error: ErrorDetails) -> list[str]:
    """One line per problem: a form definition's mistakes each under its own key."""
    found = (error.get("ctx") or {}).get("error")
    if isinstance(found, FormProblems):
        return [f"{key}: {message}" for key, message in found.problems]
    return [_describe(error)]


def parse_config(data: object, origin: str = "config") -> CohortConfig:
    """A checked config from already-parsed YAML; ConfigError lists every problem by key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of keys at the top level")
    try:
        return CohortConfig.model_validate(data, context={FORM_GIVEN: data.get("form") is not None})
    except ValidationError as exc:
        problems = "\n".join(f"  - {line}" for e in exc.errors() for line in _problems(e))
        raise ConfigError(f"{origin} is not a usable cohort config:\n{problems}") from None


def read_config_data(path: Path) -> object:
    """A cohort YAML file as parsed, not yet checked, its dates left as text (for a tool that writes a changed copy
    of the file, such as the demo's)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read cohort config {path}: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_NoDatesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None


def load_config(path: str | Path) -> CohortConfig:
    """Read, check and resolve a cohort YAML file."""
    path = Path(path)
    return parse_config(read_config_data(path), origin=str(path)).resolve(path.resolve().parent)
