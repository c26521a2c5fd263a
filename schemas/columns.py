"""Canonical column names and statuses: defined once here and imported everywhere else."""

from enum import StrEnum


class Col(StrEnum):
    """Canonical columns of the working frame and of every output file."""

    SOURCE_ROW = "source_row"
    SUBMITTED_AT = "submitted_at"
    SUBMITTED_AT_TEXT = "submitted_at_text"
    SUBMITTER_EMAIL = "submitter_email"
    LOCAL_NAME = "local_name"
    STATE = "state"
    STATE_TEXT = "state_text"
    AFFILIATE = "affiliate"
    LEAD_NAME = "lead_name"
    LEAD_EMAIL = "lead_email"
    LEAD_PHONE = "lead_phone"
    MEMBER_NAMES = "member_names"
    MEMBER_EMAILS = "member_emails"
    TEAM_SIZE = "team_size"
    JOB_FAMILIES = "job_families"
    UNKNOWN_JOB_FAMILIES = "unknown_job_families"
    EDUCATION_LEVELS = "education_levels"
    PROGRAM_STAGE = "program_stage"
    PRESIDENT_APPROVED = "president_approved"
    COMMITMENT = "commitment"
    WHY_STATEMENT = "why_statement"
    STATUS = "status"
    REASONS = "reasons"


class Status(StrEnum):
    """Every input row ends in exactly one of these; `valid` is the intake outcome before selection."""

    VALID = "valid"
    INVALID = "invalid"
    SELECTED = "selected"
    WAITLISTED = "waitlisted"
    DUPLICATE = "duplicate"
    LATE = "late"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    CONFIRMED = "confirmed"
    OFFERED = "offered"
    EXPIRED = "expired"


class Kind(StrEnum):
    """Notice kinds: one template pair (templates/notices/<kind>.txt|.html) and one subject each."""

    SELECTED = "selected"
    WAITLISTED = "waitlisted"
    NOT_SELECTED = "not_selected"
    LATE = "late"
    INTEREST = "interest"
    OFFER = "offer"
    OFFER_EXPIRED = "offer_expired"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    REVIEW_ASSIGNMENT = "review_assignment"  # to a reviewer: how many applications, where, by when
    REVIEW_REMINDER = "review_reminder"  # to a reviewer with assignments still unscored, once a day until due
    REPLY_REMINDER = "reply_reminder"  # to a selected or offered team that has not replied, before its reply is due


# The notices to reviewers (not to applicants): the review round's, sent through the same ledger and approval.
REVIEW_KINDS: frozenset[str] = frozenset({Kind.REVIEW_ASSIGNMENT, Kind.REVIEW_REMINDER})

# The notice each decision status gets: the first notices of a selection, then those after a change.
INITIAL_KIND_FOR_STATUS: dict[str, Kind] = {
    Status.SELECTED: Kind.SELECTED,
    Status.WAITLISTED: Kind.WAITLISTED,
    Status.INVALID: Kind.NOT_SELECTED,
    Status.LATE: Kind.LATE,
}
LIFECYCLE_KIND_FOR_STATUS: dict[str, Kind] = {
    Status.OFFERED: Kind.OFFER,
    Status.EXPIRED: Kind.OFFER_EXPIRED,
    Status.CONFIRMED: Kind.CONFIRMED,
    Status.DECLINED: Kind.DECLINED,
    Status.WITHDRAWN: Kind.WITHDRAWN,
}
INITIAL_DECISION_KINDS: frozenset[str] = frozenset(INITIAL_KIND_FOR_STATUS.values())
LIFECYCLE_KINDS: frozenset[str] = frozenset(LIFECYCLE_KIND_FOR_STATUS.values())


# Form fields a cohort's column mapping may target. Several headers may map to a list field.
LIST_FIELDS: frozenset[str] = frozenset({Col.MEMBER_NAMES, Col.MEMBER_EMAILS})
CHECKBOX_FIELDS: frozenset[str] = frozenset({Col.JOB_FAMILIES, Col.EDUCATION_LEVELS})
YES_NO_FIELDS: frozenset[str] = frozenset({Col.PRESIDENT_APPROVED, Col.COMMITMENT})
EMAIL_FIELDS: frozenset[str] = frozenset({Col.SUBMITTER_EMAIL, Col.LEAD_EMAIL})

FORM_FIELDS: frozenset[str] = frozenset(
    {
        Col.SUBMITTED_AT,
        Col.SUBMITTER_EMAIL,
        Col.LOCAL_NAME,
        Col.STATE,
        Col.AFFILIATE,
        Col.LEAD_NAME,
        Col.LEAD_EMAIL,
        Col.LEAD_PHONE,
        Col.MEMBER_NAMES,
        Col.MEMBER_EMAILS,
        Col.JOB_FAMILIES,
        Col.EDUCATION_LEVELS,
        Col.PROGRAM_STAGE,
        Col.PRESIDENT_APPROVED,
        Col.COMMITMENT,
        Col.WHY_STATEMENT,
    }
)

# Fields the pipeline cannot work without: the column mapping must name a header for each.
REQUIRED_FIELDS: frozenset[str] = frozenset(
    {
        Col.SUBMITTED_AT,
        Col.SUBMITTER_EMAIL,
        Col.LOCAL_NAME,
        Col.STATE,
        Col.LEAD_NAME,
        Col.LEAD_EMAIL,
        Col.JOB_FAMILIES,
        Col.PRESIDENT_APPROVED,
        Col.COMMITMENT,
    }
)

# Plain-words names of fields, for reasons a person reads.
FIELD_LABELS: dict[str, str] = {
    Col.SUBMITTED_AT: "Timestamp",
    Col.SUBMITTER_EMAIL: "Submitter email",
    Col.LOCAL_NAME: "Local association name",
    Col.STATE: "State",
    Col.AFFILIATE: "State affiliate",
    Col.LEAD_NAME: "Team lead name",
    Col.LEAD_EMAIL: "Team lead email",
    Col.LEAD_PHONE: "Team lead phone",
    Col.MEMBER_NAMES: "Team member names",
    Col.MEMBER_EMAILS: "Team member emails",
    Col.JOB_FAMILIES: "ESP job families",
    Col.EDUCATION_LEVELS: "Education levels served",
    Col.PROGRAM_STAGE: "Current ESP mentoring program",
    Col.PRESIDENT_APPROVED: "President approval",
    Col.COMMITMENT: "Commitment to the 9-week schedule",
    Col.WHY_STATEMENT: "Why statement",
}

JOB_FAMILIES: tuple[str, ...] = (
    "Clerical Services",
    "Custodial and Maintenance Services",
    "Food Services",
    "Health and Student Services",
    "Paraeducators",
    "Security Services",
    "Skilled Trades",
    "Technical Services",
    "Transportation Services",
)

EDUCATION_LEVELS: tuple[str, ...] = (
    "Early Childhood",
    "Elementary School",
    "Middle School",
    "High School",
    "Higher Education",
)


class Derived(StrEnum):
    """Columns the pipeline derives: added to the canonical frame by the selection and, after the notices, by the
    recorded actions."""

    NAME_KEY = "name_key"
    TEAM_KEY = "team_key"
    STABLE_ID = "stable_id"
    ON_TIME = "on_time"
    EXTENSION = "extension"
    DUPLICATE_OF = "duplicate_of"
    POSSIBLE_DUPLICATE_OF = "possible_duplicate_of"
    SCORE = "score"
    RANK = "rank"  # a selected team's place in the selection order, or a waitlisted team's on the waitlist
    SELECTION_RANK = "selection_rank"  # the rank of a selected team alone (decisions.csv, the artifacts)
    WAITLIST_POSITION = "waitlist_position"  # the rank of a waitlisted team alone
    RESERVED_SEAT = "reserved_seat"
    STAFF_SELECT = "staff_select"
    RESERVES = "reserves"
    APPLICANT = "applicant"
    RESPOND_BY = "respond_by"
    DECIDED_STATUS = "decided_status"  # the status as selected, before any change after the notices
    REASON_CODES = "reason_codes"  # why, as facts a notice can put in the applicant's words (tasks/notices.py)
    MESSAGE_TO_TEAM = "message_to_team"  # words staff chose to send the team (Overrides), shown in the dry run
    STAFF_FLAGS = "staff_flags"  # what the form's flag rules found (a roster shared with another team), for staff
    # The review round's points in staff words ("reviews: vision 4.5, readiness 3.0 (2 reviewers)"), added to the
    # decision's reasons; empty without a review round.
    REVIEW_POINTS = "review_points"


class DriftCol(StrEnum):
    """Columns of drift.csv besides the team's own (applicant, source_row, local_name, state)."""

    NOTIFIED = "notified"  # yes: a decision notice may have reached the team
    DECIDED = "decided"  # the status as frozen
    NOW = "now"  # the status after the recorded actions
    WOULD_BE = "would_be"  # the status a fresh selection gives
    CHANGE = "change"
    WOULD_BE_REASONS = "would_be_reasons"
    STAFF_ACTION = "staff_action"  # what staff may do about it


class WhatIfCol(StrEnum):
    """Columns of what-if.csv: one row per (capacity, per-state cap) tried."""

    CAPACITY = "capacity"
    MAX_PER_STATE = "max_per_state"
    SELECTED = "selected"  # how many
    WAITLISTED = "waitlisted"  # how many
    SCORE_CUTOFF = "score_cutoff"  # the lowest selected score
    CHANGED_VS_CURRENT = "changed_vs_current"  # teams whose status differs from the current config's selection
    SELECTED_PER_STATE = "selected_per_state"
    NOTE = "note"  # why the combination is not possible


class ReviewCol(StrEnum):
    """Columns of a reviewers CSV (a `reviews` criterion) besides `team_key`: one reviewer's score of one team."""

    REVIEWER = "reviewer"
    SCORE = "score"


class InterestCol(StrEnum):
    """Columns of the interest list (people not yet ready to apply), read without case; name and email required."""

    NAME = "name"
    EMAIL = "email"
    LOCAL = "local"
    STATE = "state"
    DATE = "date"


class AuditCol(StrEnum):
    """Columns of the audit trail (audit.csv), one row per event."""

    AT = "at"
    ACTOR = "actor"
    EVENT = "event"
    TEAM = "team"
    STATUS = "status"
    DETAIL = "detail"


class ReasonCode(StrEnum):
    """Why a row has its status, as facts: notices word each for the applicant (templates/notices/reasons.yaml),
    so the staff `reasons` text, with its notes and names, never has to reach an applicant.

    Validation adds one code per failed check (`check_code`, `required_code`), named in schemas/suite.py.
    """

    SELECTED = "selected"
    RESERVED_SEAT = "reserved_seat"  # besides `selected`: the team holds one of the cohort's reserved seats
    STAFF_SELECTED = "staff_selected"  # besides `selected`: the seat came from a force-select override
    STATE_CAP = "state_cap"  # waitlisted: its state already had max_per_state selected teams
    SEATS_FILLED = "seats_filled"  # waitlisted: every seat went to a higher-ranked team
    LATE = "late"
    STAFF_DECLINED = "staff_declined"  # a force-decline override
    NOT_ACCEPTED = "not_accepted"  # an invalid decision recorded without codes (by an older version): said generally


CHECK_CODE_PREFIX = "check:"


def check_code(name: str) -> str:
    """The code of a failed validation check: `check:lead_email`."""
    return f"{CHECK_CODE_PREFIX}{name}"


def required_code(field: str) -> str:
    """The code of a required answer left empty: `check:required:lead_email`."""
    return check_code(f"required:{field}")


POINTS_PREFIX = "points_"

# Between the items of one text a person reads: the reasons of a row (Col.REASONS, split again by the summaries),
# the options of a list cell, the rows a row may duplicate, the refused copies of a notice.
LIST_SEPARATOR = "; "
