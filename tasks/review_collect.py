"""Collecting the reviewers' sheets (their files, or their worksheets of the review spreadsheet): every bad cell
reported by its address and not used, progress per reviewer and per team, and per team and criterion the combined
score, each reviewer's score and the spread that flags a team for discussion (DIR/reviews.csv); and the check the
selection refuses with while a team has fewer reviews than required.

A score is usable when it is a number (a number typed as text counts: spreadsheets keep some numbers so) that is one
of the criterion's allowed values, in the row of a team assigned to that reviewer, listed once. An edited answer
cell (team_key, local_name, state or an answer shown) is reported; the answers are never read back, so the scores
of that row still count.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl  # type: ignore[import-untyped]
import pandas as pd
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from schemas.columns import LIST_SEPARATOR, Derived
from schemas.config import ReviewConfig, ReviewCriterion
from schemas.errors import StaffError
from schemas.review import (
    COMMENT,
    REVIEW_SHEET,
    AssignCol,
    BadCell,
    Combine,
    ProblemCol,
    ProgressCol,
    ReviewsCol,
    combined_column,
    scores_column,
    spread_column,
)
from tasks.review_files import cell_text, header, reviewer_file

CRITERION = "criterion"
SCORE = "score"
MISSING = "missing"  # short_of_reviews: the reviewers whose review of the team is not complete


class ReviewFileError(StaffError):
    """A reviewer's file cannot be opened as a workbook with a `Reviews` sheet."""


class MissingReviewsError(StaffError):
    """The selection cannot run: eligible teams have fewer complete reviews than review.per_application."""


@dataclass(frozen=True)
class Collection:
    """What the reviewer files hold: the usable scores (team_key, reviewer_email, criterion, score), the bad cells,
    progress per reviewer and per team, and reviews.csv's rows."""

    scores: pd.DataFrame
    problems: pd.DataFrame
    reviewer_progress: pd.DataFrame
    team_progress: pd.DataFrame
    reviews: pd.DataFrame


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


# A reviewer's sheet as read: where it is (their file's name, or their worksheet's title) and its rows, header first.
Table = tuple[str, list[Sequence[object]]]


@dataclass
class _Reader:
    """One reviewer's sheet read against the assignment and the teams' answers."""

    email: str
    where: str
    assigned: set[str]
    expected: dict[str, dict[str, str]]
    review: ReviewConfig

    def __post_init__(self) -> None:
        self.problems: list[dict] = []
        self.scores: list[tuple[str, str, str, float]] = []

    def bad(self, row: int, column: int, key: str, name: str, value: object, kind: BadCell) -> None:
        self.problems.append(
            {
                ProblemCol.REVIEWER_EMAIL: self.email,
                ProblemCol.FILE: self.where,
                ProblemCol.CELL: f"{get_column_letter(column)}{row}",
                ProblemCol.TEAM_KEY: key,
                ProblemCol.COLUMN: name,
                ProblemCol.VALUE: cell_text(value),
                ProblemCol.PROBLEM: kind.value,
            }
        )

    def read(self, table: Iterable[Sequence[object]]) -> None:
        rows = iter(table)
        names = [cell_text(v).strip() for v in next(rows, ())]
        at = {name: names.index(name) for name in header(self.review) if name in names}
        for column, name in enumerate(header(self.review), start=1):
            if name not in at:
                self.bad(1, column, "", name, "", BadCell.MISSING_COLUMN)
        if Derived.TEAM_KEY not in at:
            return
        seen: set[str] = set()
        for row_number, row in enumerate(rows, start=2):
            cells = dict.fromkeys(names, None) | {n: row[i] for n, i in at.items() if i < len(row)}
            key = cell_text(cells[Derived.TEAM_KEY]).strip()
            if not key and all(v is None or cell_text(v).strip() == "" for v in row):
                continue
            self._row(row_number, key, cells, at, seen)

    def _row(self, row: int, key: str, cells: dict, at: dict[str, int], seen: set[str]) -> None:
        key_column = at[Derived.TEAM_KEY] + 1
        if key not in self.assigned:
            self.bad(row, key_column, key, Derived.TEAM_KEY, key, BadCell.NOT_ASSIGNED)
            return
        if key in seen:
            self.bad(row, key_column, key, Derived.TEAM_KEY, key, BadCell.REPEATED)
            return
        seen.add(key)
        for name, text in self.expected.get(key, {}).items():
            if name in at and cell_text(cells[name]) != text:
                self.bad(row, at[name] + 1, key, name, cells[name], BadCell.EDITED_ANSWER)
        for criterion in self.review.criteria:
            if criterion.name in at:
                self._score(row, at[criterion.name] + 1, key, criterion, cells[criterion.name])

    def _score(self, row: int, column: int, key: str, criterion: ReviewCriterion, value: object) -> None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return  # not scored yet
        number = _number(value)
        if number is None:
            self.bad(row, column, key, criterion.name, value, BadCell.NOT_A_NUMBER)
        elif not criterion.allows(number):
            self.bad(row, column, key, criterion.name, value, BadCell.OUT_OF_SCALE)
        else:
            self.scores.append((key, self.email, criterion.name, number))


def file_tables(folder: Path, emails: Iterable[str]) -> dict[str, Table]:
    """Each reviewer's file under `folder` that exists (a missing one: nothing scored yet), as rows."""
    tables: dict[str, Table] = {}
    for email in emails:
        path = reviewer_file(folder, email)
        if not path.is_file():
            continue
        try:
            sheet = openpyxl.load_workbook(path, read_only=True, data_only=True)[REVIEW_SHEET]
            tables[email] = (path.name, list(sheet.iter_rows(values_only=True)))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise ReviewFileError(
                f"cannot read the reviewer file {path} (a workbook with a sheet {REVIEW_SHEET!r}): {exc}; "
                "write it again with the review assignment, keeping the reviewer's scores by hand"
            ) from None
    return tables


def collect(folder: Path, assignments: pd.DataFrame, teams: pd.DataFrame, review: ReviewConfig) -> Collection:
    """Read every assigned reviewer's file under `folder` (a missing file: nothing scored yet)."""
    emails = sorted(assignments[AssignCol.REVIEWER_EMAIL].astype(str).unique())
    return collect_tables(file_tables(folder, emails), assignments, teams, review)


def collect_tables(
    tables: dict[str, Table], assignments: pd.DataFrame, teams: pd.DataFrame, review: ReviewConfig
) -> Collection:
    """The reviewers' sheets (files or worksheets, by reviewer email) read against the assignment and the teams'
    answers: each bad cell reported and not used."""
    by_key: dict = teams.drop_duplicates(Derived.TEAM_KEY).set_index(Derived.TEAM_KEY).to_dict("index")
    shown = [name for name in header(review) if name not in {c.name for c in review.criteria} | {COMMENT}]
    expected = {
        key: {name: (key if name == Derived.TEAM_KEY else cell_text(row.get(name))) for name in shown}
        for key, row in by_key.items()
    }
    problems: list[dict] = []
    scores: list[tuple[str, str, str, float]] = []
    for email, mine in assignments.groupby(AssignCol.REVIEWER_EMAIL, sort=True):
        if str(email) not in tables:
            continue
        where, rows = tables[str(email)]
        reader = _Reader(str(email), where, set(mine[AssignCol.TEAM_KEY].astype(str)), expected, review)
        reader.read(rows)
        problems += reader.problems
        scores += reader.scores
    usable = pd.DataFrame(scores, columns=[AssignCol.TEAM_KEY, AssignCol.REVIEWER_EMAIL, CRITERION, SCORE])
    return Collection(
        scores=usable,
        problems=pd.DataFrame(problems, columns=list(ProblemCol)),
        reviewer_progress=_progress(assignments, usable, review, AssignCol.REVIEWER_EMAIL),
        team_progress=_progress(assignments, usable, review, AssignCol.TEAM_KEY),
        reviews=reviews_table(assignments, usable, review),
    )


def _complete(assignments: pd.DataFrame, scores: pd.DataFrame, review: ReviewConfig) -> pd.Series:
    """Per assignment row: whether that reviewer has a usable score of every criterion for that team."""
    counts = scores.groupby([AssignCol.TEAM_KEY, AssignCol.REVIEWER_EMAIL])[CRITERION].nunique()
    index = pd.MultiIndex.from_frame(assignments[[AssignCol.TEAM_KEY, AssignCol.REVIEWER_EMAIL]])
    return pd.Series(counts.reindex(index, fill_value=0).to_numpy() == len(review.criteria), index=assignments.index)


def _progress(assignments: pd.DataFrame, scores: pd.DataFrame, review: ReviewConfig, by: str) -> pd.DataFrame:
    done = _complete(assignments, scores, review)
    table = pd.DataFrame({by: assignments[by], ProgressCol.ASSIGNED: 1, ProgressCol.SCORED: done.astype(int)})
    table = table.groupby(by, sort=True)[[ProgressCol.ASSIGNED, ProgressCol.SCORED]].sum().reset_index()
    table[ProgressCol.REMAINING] = table[ProgressCol.ASSIGNED] - table[ProgressCol.SCORED]
    return table


def combine(scores: pd.DataFrame, method: Combine) -> pd.Series:
    """The combined score per (team_key, criterion) from the usable scores.

    `standardised`: each reviewer's scores of a criterion become z-scores over the teams that reviewer scored (a
    reviewer who gave one score, or the same score to every team, counts as neutral: z = 0), averaged per team and
    put back on the criterion's scale with the mean of all its scores and its pooled spread within reviewers. A
    reviewer whose scores are another's shifted or stretched (a strict or a generous one) gives the same z-scores.
    """
    if scores.empty:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []], names=[AssignCol.TEAM_KEY, CRITERION]))
    if method == Combine.MEAN:
        return scores.groupby([AssignCol.TEAM_KEY, CRITERION])[SCORE].mean()
    by_reviewer = scores.groupby([AssignCol.REVIEWER_EMAIL, CRITERION])[SCORE]
    deviation = scores[SCORE] - by_reviewer.transform("mean")
    spread = deviation.groupby([scores[AssignCol.REVIEWER_EMAIL], scores[CRITERION]]).transform(
        lambda d: float(np.sqrt((d**2).mean()))
    )
    z = (deviation / spread.where(spread > 0)).fillna(0.0)
    # Back on the scale: the criterion's mean score, and its spread within reviewers (the pooled deviation from
    # each reviewer's own mean), so that reviewers who differ only in strictness do not widen it.
    centre = scores.groupby(CRITERION)[SCORE].transform("mean")
    scale = (deviation**2).groupby(scores[CRITERION]).transform("mean").pow(0.5)
    frame = scores.assign(value=centre + scale * z)
    return frame.groupby([AssignCol.TEAM_KEY, CRITERION])["value"].mean()


def reviews_table(assignments: pd.DataFrame, scores: pd.DataFrame, review: ReviewConfig) -> pd.DataFrame:
    """reviews.csv: per assigned team, the complete reviews against those required, and per criterion the combined
    score, each reviewer's score (`email=score` items) and the spread; `discuss` names the criteria whose spread
    reached review.spread_threshold."""
    teams = assignments.drop_duplicates(AssignCol.TEAM_KEY).sort_values(AssignCol.TEAM_KEY)
    table = pd.DataFrame(
        {ReviewsCol.TEAM_KEY: teams[AssignCol.TEAM_KEY], ReviewsCol.SOURCE_ROW: teams[AssignCol.SOURCE_ROW]}
    )
    done = assignments[_complete(assignments, scores, review)]
    table[ReviewsCol.REVIEWS] = (
        table[ReviewsCol.TEAM_KEY].map(done[AssignCol.TEAM_KEY].value_counts()).fillna(0).astype(int)
    )
    table[ReviewsCol.REQUIRED] = review.per_application
    combined = combine(scores, review.combine)
    discuss: list[list[str]] = [[] for _ in range(len(table))]
    for criterion in review.criteria:
        mine = scores[scores[CRITERION] == criterion.name].sort_values([AssignCol.TEAM_KEY, AssignCol.REVIEWER_EMAIL])
        grouped = mine.groupby(AssignCol.TEAM_KEY)[SCORE]
        spread = (grouped.max() - grouped.min()).reindex(table[ReviewsCol.TEAM_KEY])
        items: dict[str, list[str]] = {}
        for key, email, value in zip(
            mine[AssignCol.TEAM_KEY], mine[AssignCol.REVIEWER_EMAIL], mine[SCORE], strict=True
        ):
            items.setdefault(key, []).append(f"{email}={value:g}")
        of_criterion = combined[combined.index.get_level_values(CRITERION) == criterion.name].droplevel(CRITERION)
        table[combined_column(criterion.name)] = of_criterion.reindex(table[ReviewsCol.TEAM_KEY]).round(3).to_numpy()
        table[scores_column(criterion.name)] = [
            LIST_SEPARATOR.join(items.get(key, [])) for key in table[ReviewsCol.TEAM_KEY]
        ]
        table[spread_column(criterion.name)] = spread.to_numpy()
        for at, flagged in enumerate(spread.fillna(0).to_numpy() >= review.spread_threshold):
            if flagged:
                discuss[at].append(criterion.name)
    table[ReviewsCol.DISCUSS] = [LIST_SEPARATOR.join(names) for names in discuss]
    return table.reset_index(drop=True)


def short_of_reviews(
    eligible: pd.Series, assignments: pd.DataFrame, scores: pd.DataFrame, review: ReviewConfig
) -> pd.DataFrame:
    """The eligible teams (team keys) with fewer complete reviews than review.per_application, sorted by key:
    team_key, reviews, required and `missing`, the reviewers whose review is not complete (`none assigned` for a
    team the assignment does not list)."""
    mine = assignments[assignments[AssignCol.TEAM_KEY].isin(set(eligible))]
    done = _complete(mine, scores, review)
    rows = []
    for key in sorted(set(eligible.astype(str))):
        theirs = mine[mine[AssignCol.TEAM_KEY] == key]
        complete = int(done[theirs.index].sum())
        if complete < review.per_application:
            waiting = sorted(theirs.loc[~done[theirs.index], AssignCol.REVIEWER_EMAIL])
            rows.append((key, complete, review.per_application, LIST_SEPARATOR.join(waiting) or "none assigned"))
    return pd.DataFrame(rows, columns=[ReviewsCol.TEAM_KEY, ReviewsCol.REVIEWS, ReviewsCol.REQUIRED, MISSING])


def require_reviews(short: pd.DataFrame) -> None:
    """Refuses the selection while a team is short of reviews, naming each team and the reviewers it waits for."""
    if short.empty:
        return
    lines = [
        f"{row.team_key} has {row.reviews} of {row.required} (waiting for {getattr(row, MISSING)})"
        for row in short.itertuples()
    ]
    raise MissingReviewsError(
        f"{len(short)} eligible team(s) have fewer complete reviews than review.per_application: {'; '.join(lines)}; "
        "collect the missing reviews (or excuse them in the Overrides sheet with a reason) before the selection"
    )
