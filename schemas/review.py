"""The review round's vocabulary, defined once: the roster's columns, the assignment's, the reviewer file's sheet and
columns, the kinds of bad cell collection reports, the ways scores are combined and the columns of reviews.csv."""

from __future__ import annotations

from enum import StrEnum

from schemas.columns import Col, Derived


class RosterCol(StrEnum):
    """Columns of the reviewer roster (CSV or XLSX), read without case; `cap` may be left out or left empty."""

    NAME = "name"
    EMAIL = "email"
    STATE = "state"
    AFFILIATE = "affiliate"
    CAP = "cap"


ROSTER_REQUIRED: tuple[str, ...] = (RosterCol.NAME, RosterCol.EMAIL, RosterCol.STATE, RosterCol.AFFILIATE)


class AssignCol(StrEnum):
    """Columns of assignments.csv: one row per (team, reviewer)."""

    TEAM_KEY = Derived.TEAM_KEY.value
    SOURCE_ROW = Col.SOURCE_ROW.value
    REVIEWER_EMAIL = "reviewer_email"
    REVIEWER_NAME = "reviewer_name"


class Combine(StrEnum):
    """How reviewers' scores of one criterion become a team's score.

    `mean`: the plain mean of the scores. `standardised`: each reviewer's scores of a criterion are first turned into
    z-scores over the teams that reviewer scored, then put back on the scale with the mean and spread of all scores
    of that criterion, so a strict and a generous reviewer count the same.
    """

    MEAN = "mean"
    STANDARDISED = "standardised"


class Conflict(StrEnum):
    """Why a reviewer may not review a team."""

    STATE = "same state"
    AFFILIATE = "same affiliate"
    EMAIL = "shares an email with the team"


# The reviewer file: DIR/reviewers/<reviewer>.xlsx with one sheet; its fixed columns, then the answers shown, then one
# column per criterion (named as the criterion), then the comment.
REVIEWERS_FOLDER = "reviewers"
# The round's files in review.folder (assignments) and in a collection's output folder (the rest).
ASSIGNMENTS_FILE = "assignments.csv"
REVIEWS_FILE = "reviews.csv"
PROBLEMS_FILE = "review-problems.csv"
REVIEWER_PROGRESS_FILE = "review-progress-reviewers.csv"
TEAM_PROGRESS_FILE = "review-progress-teams.csv"
REVIEW_SHEET = "Reviews"
SHEET_FIXED: tuple[str, ...] = (Derived.TEAM_KEY, Col.LOCAL_NAME, Col.STATE)
COMMENT = "comment"


class BadCell(StrEnum):
    """The kinds of cell in a reviewer's file that collection reports and does not use."""

    OUT_OF_SCALE = "outside the scale"
    NOT_A_NUMBER = "text in a score cell"
    NOT_ASSIGNED = "team not assigned to this reviewer"
    EDITED_ANSWER = "answer column edited"
    REPEATED = "team listed more than once"
    MISSING_COLUMN = "column missing"


class ProblemCol(StrEnum):
    """Columns of the per-cell problem list of a collection (one row per bad cell)."""

    REVIEWER_EMAIL = AssignCol.REVIEWER_EMAIL.value
    FILE = "file"
    CELL = "cell"  # the spreadsheet address, e.g. D4
    TEAM_KEY = Derived.TEAM_KEY.value
    COLUMN = "column"
    VALUE = "value"
    PROBLEM = "problem"


class ProgressCol(StrEnum):
    """Columns of the progress tables: per reviewer and per team, assigned and fully scored."""

    ASSIGNED = "assigned"
    SCORED = "scored"  # assignments with a usable score for every criterion
    REMAINING = "remaining"


class ReviewsCol(StrEnum):
    """Columns of reviews.csv besides the per-criterion ones (`REVIEWS_COLUMN_*` below): one row per team."""

    TEAM_KEY = Derived.TEAM_KEY.value
    SOURCE_ROW = Col.SOURCE_ROW.value
    REVIEWS = "reviews"  # reviewers who scored every criterion of the team
    REQUIRED = "required"
    DISCUSS = "discuss"  # the criteria whose spread between reviewers reached review.spread_threshold


def combined_column(criterion: str) -> str:
    """reviews.csv: the team's combined score of one criterion."""
    return f"review_{criterion}"


def scores_column(criterion: str) -> str:
    """reviews.csv: each reviewer's score of one criterion, as `email=score` items."""
    return f"scores_{criterion}"


def spread_column(criterion: str) -> str:
    """reviews.csv: the highest minus the lowest reviewer score of one criterion."""
    return f"spread_{criterion}"


def points_column(criterion: str) -> str:
    """The decisions frame: a team's points from one review criterion (its combined score times its weight)."""
    return f"points_review_{criterion}"


def decision_columns(criteria: list[str]) -> list[str]:
    """The review's columns of decisions.csv, for these criteria: each one's points, each reviewer's scores of it,
    then the criteria to discuss."""
    return [*map(points_column, criteria), *map(scores_column, criteria), ReviewsCol.DISCUSS.value]
