"""The vocabulary of what staff read about a selection: the report's sections (report.html's headings, which are also
the titles of the Prefect artifacts that show them), the artifacts' keys, and the columns of the equity comparison.

A section read in the Prefect UI and in report.html has one name, written here, so staff find the same thing under
the same words in both."""

from enum import StrEnum


class Section(StrEnum):
    """The report's sections, in the report's order; each artifact of a section is titled with its name."""

    COUNTS = "Counts by status"
    SELECTED = "Selected teams, in rank order"
    WAITLIST = "Waitlist, in order"
    POSSIBLE_DUPLICATES = "Possible duplicates to confirm"
    INVALID = "Invalid rows and their reasons"
    REVIEWS = "Reviews: combined scores, each reviewer's, and the teams to discuss"
    PER_STATE = "Selected per state"
    SCORES = "Score distribution (selected and waitlisted)"
    EQUITY = "Equity at a glance: applicant pool and selected"
    DECISIONS = "Every decision"
    WHAT_IF = "What if: the selection under other limits"
    WHAT_IF_EQUITY = "Equity at a glance under other limits"


class ArtifactKey(StrEnum):
    """Keys of the artifacts the flows publish (Prefect keys: lowercase, digits, dashes); a send's approval
    artifacts are in schemas/ledger.ApprovalArtifact."""

    INTAKE_SUMMARY = "intake-summary"
    NOTICES = "notices"  # a send's notices by ledger state
    SELECTION_DRIFT = "selection-drift"
    PROMOTION = "promotion"
    REPLIES = "replies"  # what became of each response row of the reply form
    REVIEW_ASSIGNMENT = "review-assignment"  # each reviewer's load
    REVIEW_PROGRESS = "review-progress"  # per reviewer: assigned, complete, remaining

    SELECTION_SUMMARY = "selection-summary"  # counts, limits and where the full report is
    DECISIONS = "decisions"
    SELECTED = "selected-teams"
    WAITLIST = "waitlist"
    POSSIBLE_DUPLICATES = "possible-duplicates"
    INVALID = "invalid-rows"
    REVIEWS = "reviews"
    EQUITY = "equity"
    WHAT_IF = "what-if"
    WHAT_IF_EQUITY = "what-if-equity"


class SectionCol(StrEnum):
    """Columns a section adds to the decision columns (schemas/columns.py)."""

    MAY_DUPLICATE = "may_duplicate"  # the rows a possible duplicate names, each with its local and status


class Dimension(StrEnum):
    """What the equity comparison counts teams by, in its order. A team has one value of a single-valued dimension
    and any number of a multi-valued one (MULTI_VALUED)."""

    REGION = "region"  # the US census region of the state (schemas/regions.py)
    STATE = "state"
    JOB_FAMILY = "job family"
    EDUCATION_LEVEL = "education level"
    PROGRAM_STAGE = "program stage"
    FIRST_TIME = "first time or returning"


# Checkbox answers: a team counts once for each option it named, so these dimensions' shares add up to more than 100%.
MULTI_VALUED: frozenset[Dimension] = frozenset({Dimension.JOB_FAMILY, Dimension.EDUCATION_LEVEL})


class EquityValue(StrEnum):
    """Values the comparison gives a team besides its own answers."""

    NOT_ANSWERED = "(not answered)"
    FIRST_TIME = "first time"
    RETURNING = "returning"  # on the cohort's previous participants list


class EquityCol(StrEnum):
    """Columns of the equity comparison: one row per (dimension, value); shares are fractions of the group's teams.
    The what-if comparison has these for each limit tried, with its WhatIfCol.CAPACITY and MAX_PER_STATE."""

    DIMENSION = "dimension"
    VALUE = "value"
    POOL = "pool"  # teams considered for a seat (selected or waitlisted) with this value
    POOL_SHARE = "pool_share"
    SELECTED = "selected"  # selected teams with this value
    SELECTED_SHARE = "selected_share"
    DIFFERENCE = "difference"  # selected_share - pool_share
