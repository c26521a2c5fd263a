"""The review round inside a call: which teams it reviews, its files in review.folder, and what the selection takes
from it.

`review assign` gives the eligible teams (valid, on time, not duplicates, after the Overrides) their reviewers and
writes review.folder/assignments.csv and one file per reviewer; `review collect` and the selection read the
reviewers' files back. The selection adds each criterion's combined score (times its weight) to the rubric's points
and says them in each decision's reasons; it refuses to run while an eligible team is short of complete reviews,
unless the run is a preview (the team is marked) or staff excused the team in the Overrides sheet with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gspread
import pandas as pd
from pydantic import BaseModel

from schemas.columns import LIST_SEPARATOR, Col, Derived, Status
from schemas.config import CohortConfig, ReviewConfig, SheetSourceConfig
from schemas.errors import StaffError
from schemas.lifecycle import OverrideAction
from schemas.report import ArtifactKey
from schemas.review import (
    ASSIGNMENTS_FILE,
    PROBLEMS_FILE,
    REVIEWER_PROGRESS_FILE,
    REVIEWS_FILE,
    TEAM_PROGRESS_FILE,
    AssignCol,
    ProgressCol,
    ReviewsCol,
    RosterCol,
    combined_column,
    points_column,
    scores_column,
)
from tasks.artifacts import Artifact, records
from tasks.files import write_whole
from tasks.overrides import Override, team_key
from tasks.review_assign import TEAM_COLUMNS, assign, conflicts, loads, read_roster
from tasks.review_collect import (
    CRITERION,
    SCORE,
    Collection,
    Table,
    collect_tables,
    file_tables,
    require_reviews,
    short_of_reviews,
)
from tasks.review_files import write_reviewer_files
from tasks.review_sheets import sheet_tables, write_review_sheets
from tasks.sheets import sheet_client


class ReviewRoundError(StaffError):
    """The review round's files are not where the cohort file says (review.folder), or not as assign wrote them."""


@dataclass(frozen=True)
class Assigned:
    """What `review assign` made: the assignments, each reviewer's load and the files written."""

    assignments: pd.DataFrame
    roster: pd.DataFrame
    loads: pd.Series
    files: list[Path]  # the reviewer files; none when the round reviews in a spreadsheet
    worksheets: int = 0  # the reviewers' worksheets written in review.spreadsheet


class AssignmentSummary(BaseModel):
    """What `review assign` says: how many teams and reviewers, the loads, the conflicts kept apart, the files."""

    teams: int
    reviewers: int
    per_application: int
    fewest: int  # reviews of the least loaded reviewer
    most: int
    conflicts_avoided: dict[str, int]  # per rule, the (team, reviewer) pairs it ruled out
    folder: str
    files: int
    worksheets: int = 0
    spreadsheet: str = ""

    def as_text(self) -> str:
        avoided = ", ".join(f"{n} {rule}" for rule, n in self.conflicts_avoided.items()) or "none"
        where = (
            f"assignments in {self.folder}; {self.worksheets} reviewer worksheets in the spreadsheet {self.spreadsheet}"
            if self.spreadsheet
            else f"assignments and {self.files} reviewer files in {self.folder}"
        )
        return (
            f"{self.teams} eligible teams, {self.per_application} reviewers each, {self.reviewers} reviewers: "
            f"{self.fewest} to {self.most} reviews per reviewer\n"
            f"pairs ruled out: {avoided}\n{where}"
        )


class CollectionSummary(BaseModel):
    """What `review collect` says: complete reviews against those assigned, the teams still short, the bad cells."""

    assigned: int
    complete: int
    teams: int
    teams_short: int
    discuss: int  # teams whose reviewers' scores of a criterion differ by review.spread_threshold or more
    bad_cells: int
    folder: str

    def as_text(self) -> str:
        return (
            f"{self.complete} of {self.assigned} reviews complete; {self.teams_short} of {self.teams} teams short "
            f"of reviews; {self.discuss} to discuss; {self.bad_cells} cells not used\n"
            f"reviews.csv, review-problems.csv and the progress tables in {self.folder}"
        )


def assignment_summary(eligible: pd.DataFrame, assigned: Assigned, config: CohortConfig) -> AssignmentSummary:
    review = review_of(config)
    found = conflicts(eligible.reset_index(drop=True), assigned.roster)
    ruled_out = {rule.value: int(matrix.sum()) for rule, matrix in found.by_rule().items()}
    return AssignmentSummary(
        teams=len(eligible),
        reviewers=len(assigned.loads),
        per_application=review.per_application,
        fewest=int(assigned.loads.min()) if len(assigned.loads) else 0,
        most=int(assigned.loads.max()) if len(assigned.loads) else 0,
        conflicts_avoided=ruled_out,
        folder=str(review.folder),
        files=len(assigned.files),
        worksheets=assigned.worksheets,
        spreadsheet=review.spreadsheet or "",
    )


def collection_summary(collection: Collection, config: CohortConfig, out: Path) -> CollectionSummary:
    review = review_of(config)
    reviews = collection.reviews
    return CollectionSummary(
        assigned=int(collection.reviewer_progress[ProgressCol.ASSIGNED].sum()),
        complete=int(collection.reviewer_progress[ProgressCol.SCORED].sum()),
        teams=len(reviews),
        teams_short=int((reviews[ReviewsCol.REVIEWS] < review.per_application).sum()),
        discuss=int((reviews[ReviewsCol.DISCUSS] != "").sum()),
        bad_cells=len(collection.problems),
        folder=str(out),
    )


def in_folder(config: CohortConfig, folder: str) -> CohortConfig:
    """The config with the round's folder moved to `folder` (a command's --out), or as it is when `folder` is empty."""
    if not folder:
        return config
    review = review_of(config)
    return config.model_copy(update={"review": review.model_copy(update={"folder": Path(folder)})})


def review_of(config: CohortConfig) -> ReviewConfig:
    """The cohort's review round; a staff error naming the key when the cohort file has none."""
    if config.review is None:
        raise ReviewRoundError(f"the cohort file of {config.cohort!r} has no `review:` section (the review round)")
    return config.review


def eligible_teams(frame: pd.DataFrame) -> pd.DataFrame:
    """The teams the round reviews: the rows still valid after dedupe, cutoff and the Overrides (one per team)."""
    return frame.loc[frame[Col.STATUS] == Status.VALID].drop_duplicates(Derived.TEAM_KEY)


def assign_round(eligible: pd.DataFrame, config: CohortConfig) -> Assigned:
    """Reviewers for every eligible team, written to review.folder: assignments.csv and each reviewer's file (which
    keeps what the reviewer already wrote for a team they still have)."""
    review = review_of(config)
    roster = read_roster(review.roster)
    assignments = assign(eligible[list(TEAM_COLUMNS)], roster, review.per_application)
    write_whole(review.folder / ASSIGNMENTS_FILE, assignments.to_csv(index=False, lineterminator="\n"))
    reviewers = loads(assignments, roster)
    if review.spreadsheet is not None:
        write_review_sheets(review_client(config), review.spreadsheet, assignments, eligible, review)
        written = int(assignments[AssignCol.REVIEWER_EMAIL].nunique())
        return Assigned(assignments=assignments, roster=roster, loads=reviewers, files=[], worksheets=written)
    files = write_reviewer_files(review.folder, assignments, eligible, review)
    return Assigned(assignments=assignments, roster=roster, loads=reviewers, files=files)


def review_client(config: CohortConfig) -> gspread.Client:
    """The Sheets client of the review spreadsheet: the source's service account (schemas/config.py requires a
    google_sheet source for review.spreadsheet)."""
    if not isinstance(config.source, SheetSourceConfig):
        raise ReviewRoundError("review.spreadsheet needs a google_sheet source, whose credentials open it")
    return sheet_client(config.source)


def reviewer_tables(config: CohortConfig, assignments: pd.DataFrame) -> dict[str, Table]:
    """Every assigned reviewer's sheet as it is now: their worksheet of review.spreadsheet, or their file under
    review.folder (one missing: nothing scored yet)."""
    review = review_of(config)
    emails = sorted(assignments[AssignCol.REVIEWER_EMAIL].astype(str).unique())
    if review.spreadsheet is not None:
        return sheet_tables(review_client(config), review.spreadsheet, emails)
    return file_tables(review.folder, emails)


def read_assignments(review: ReviewConfig) -> pd.DataFrame:
    """review.folder/assignments.csv as `review assign` wrote it."""
    path = review.folder / ASSIGNMENTS_FILE
    if not path.is_file():
        raise ReviewRoundError(
            f"no assignments at {path} (review.folder): run the review assignment first "
            "(`cohort-select review assign`, or the review-assign deployment)"
        )
    try:
        assignments = pd.read_csv(path, dtype={AssignCol.TEAM_KEY: str, AssignCol.REVIEWER_EMAIL: str})
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ReviewRoundError(f"cannot read the assignments {path}: {exc}") from None
    missing = [c for c in AssignCol if c not in assignments.columns]
    if missing:
        raise ReviewRoundError(f"{path} lacks the column(s) {', '.join(missing)}: run the review assignment again")
    return assignments


def collect_round(eligible: pd.DataFrame, config: CohortConfig) -> Collection:
    """Every assigned reviewer's file under review.folder, read and checked against the teams' answers."""
    review = review_of(config)
    assignments = read_assignments(review)
    return collect_tables(reviewer_tables(config, assignments), assignments, eligible, review)


def write_collection(collection: Collection, out: Path) -> list[Path]:
    """reviews.csv, the bad cells and both progress tables in `out`, each file whole or not at all."""
    tables = {
        REVIEWS_FILE: collection.reviews,
        PROBLEMS_FILE: collection.problems,
        REVIEWER_PROGRESS_FILE: collection.reviewer_progress,
        TEAM_PROGRESS_FILE: collection.team_progress,
    }
    return [write_whole(out / name, table.to_csv(index=False, lineterminator="\n")) for name, table in tables.items()]


def excused_teams(overrides: list[Override], eligible: pd.DataFrame) -> dict[str, str]:
    """Team key → the staff's reason, for every `excuse-review` row of the Overrides sheet (by team or source_row)."""
    excused: dict[str, str] = {}
    for override in overrides:
        if override.action != OverrideAction.EXCUSE_REVIEW:
            continue
        if override.source_row is not None:
            hit = eligible.loc[eligible[Col.SOURCE_ROW] == override.source_row, Derived.TEAM_KEY]
        else:
            hit = pd.Series([team_key(override.team)])
        excused |= dict.fromkeys(hit.astype(str), override.said())
    return excused


def with_review_points(
    scored: pd.DataFrame, config: CohortConfig, overrides: list[Override], *, preview: bool
) -> pd.DataFrame:
    """The scored frame with each review criterion's points added to the score and the review points in words.

    A team short of complete reviews stops the run (MissingReviewsError naming the teams and the reviewers they
    wait for) unless the run is a preview, which marks it, or staff excused it (an `excuse-review` override), which
    lets it go on with the reviews it has. A criterion no reviewer scored gives 0 points, said in the words.
    """
    review = review_of(config)
    out = scored.copy()
    candidates = out[Col.STATUS] == Status.VALID
    eligible = eligible_teams(out)
    assignments = read_assignments(review)
    collection = collect_tables(reviewer_tables(config, assignments), assignments, eligible, review)
    excused = excused_teams(overrides, eligible)
    short = short_of_reviews(eligible[Derived.TEAM_KEY], assignments, collection.scores, review)
    if not preview:
        require_reviews(short[~short[ReviewsCol.TEAM_KEY].isin(set(excused))])
    table = collection.reviews.set_index(ReviewsCol.TEAM_KEY)
    keys = out.loc[candidates, Derived.TEAM_KEY]
    total = out[Derived.SCORE].copy()
    for criterion in review.criteria:
        combined = keys.map(table[combined_column(criterion.name)]) if len(table) else keys.map(lambda _: None)
        points = (pd.to_numeric(combined, errors="coerce").fillna(0.0) * criterion.weight).round(2)
        out[points_column(criterion.name)] = points.reindex(out.index)
        total = total.add(points.reindex(out.index).fillna(0.0), fill_value=0.0)
    out[Derived.SCORE] = total.round(2).where(candidates)
    for criterion in review.criteria:
        given = keys.map(named_scores(collection.scores, assignments, criterion.name))
        out[scores_column(criterion.name)] = given.reindex(out.index).fillna("")
    discuss = keys.map(table[ReviewsCol.DISCUSS]) if len(table) else keys.map(lambda _: "")
    out[ReviewsCol.DISCUSS.value] = discuss.reindex(out.index).fillna("")
    out[Derived.REVIEW_POINTS] = ""
    short_by_key = short.set_index(ReviewsCol.TEAM_KEY)
    out.loc[candidates, Derived.REVIEW_POINTS] = [
        review_words(key, table, short_by_key, excused, review) for key in keys
    ]
    return out


def named_scores(scores: pd.DataFrame, assignments: pd.DataFrame, criterion: str) -> pd.Series:
    """Team key → each reviewer's score of the criterion by the reviewer's name ("Ana Ruiz 4; Bo Chen 3.5"), as
    decisions.csv, the report and the artifact show them (reviews.csv names reviewers by address)."""
    names = assignments.drop_duplicates(AssignCol.REVIEWER_EMAIL).set_index(AssignCol.REVIEWER_EMAIL)
    mine = scores[scores[CRITERION] == criterion].sort_values([AssignCol.TEAM_KEY, AssignCol.REVIEWER_EMAIL])
    who = mine[AssignCol.REVIEWER_EMAIL].map(names[AssignCol.REVIEWER_NAME]).fillna(mine[AssignCol.REVIEWER_EMAIL])
    said = who.astype(str) + " " + mine[SCORE].map(lambda value: f"{value:g}")
    return said.groupby(mine[AssignCol.TEAM_KEY]).agg(LIST_SEPARATOR.join)


def review_words(
    key: str, table: pd.DataFrame, short: pd.DataFrame, excused: dict[str, str], review: ReviewConfig
) -> str:
    """'reviews: vision 4.5, readiness 3 (2 reviewers)', with what is missing, for the decision's reasons."""
    parts = []
    for criterion in review.criteria:
        value = table[combined_column(criterion.name)].get(key) if len(table) else None
        parts.append(f"{criterion.name} {value:g}" if pd.notna(value) else f"{criterion.name} not scored (0 points)")
    complete = int(table[ReviewsCol.REVIEWS].get(key, 0)) if len(table) else 0
    words = f"reviews: {', '.join(parts)} ({complete} reviewer{'s' if complete != 1 else ''})"
    discuss = str(table[ReviewsCol.DISCUSS].get(key, "") or "") if len(table) else ""
    if discuss:
        words += f"{LIST_SEPARATOR}reviewers differ by {review.spread_threshold:g} or more on {discuss}: to discuss"
    if key in short.index:
        if key in excused:
            words += f"{LIST_SEPARATOR}missing reviews excused: {excused[key]}"
        else:
            words += (
                f"{LIST_SEPARATOR}preview: {complete} of {review.per_application} reviews complete; the final "
                "selection waits for the rest"
            )
    return words


def assignment_artifact(assigned: Assigned, summary: AssignmentSummary) -> Artifact:
    """Each reviewer's load by name (the UI shows no reviewer's address), and the figures in the description."""
    names = assigned.roster.set_index(RosterCol.EMAIL)[RosterCol.NAME]
    table = pd.DataFrame(
        {
            AssignCol.REVIEWER_NAME.value: names.reindex(assigned.loads.index).to_numpy(),
            ProgressCol.ASSIGNED.value: assigned.loads.to_numpy(),
        }
    )
    return Artifact(ArtifactKey.REVIEW_ASSIGNMENT, summary.as_text(), table=records(table))


def progress_artifact(collection: Collection, assignments: pd.DataFrame, summary: CollectionSummary) -> Artifact:
    """Per reviewer (by name): assigned, complete and remaining reviews; the figures in the description."""
    names = assignments.drop_duplicates(AssignCol.REVIEWER_EMAIL).set_index(AssignCol.REVIEWER_EMAIL)
    progress = collection.reviewer_progress.copy()
    named = progress[AssignCol.REVIEWER_EMAIL].map(names[AssignCol.REVIEWER_NAME])
    progress.insert(0, AssignCol.REVIEWER_NAME.value, named)
    return Artifact(
        ArtifactKey.REVIEW_PROGRESS, summary.as_text(), table=records(progress.drop(columns=AssignCol.REVIEWER_EMAIL))
    )
