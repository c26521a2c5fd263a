"""The declarative rubric: points per criterion (already weighted) and their sum, the score."""

from __future__ import annotations

import pandas as pd

from schemas.columns import POINTS_PREFIX, Col, Derived, ReviewCol, Status
from schemas.config import CohortConfig, Criterion
from schemas.errors import StaffError


class RubricDataError(StaffError):
    """A file the rubric reads (previous participants, reviews) is missing or malformed."""


def points_column(criterion: Criterion) -> str:
    return f"{POINTS_PREFIX}{criterion.name}"


def read_team_list(path) -> set[str]:
    """Team keys (STATE:name key) from a one-column CSV with a `team_key` header."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RubricDataError(f"cannot read previous participants {path}: {exc}") from None
    if Derived.TEAM_KEY not in frame.columns:
        raise RubricDataError(f"{path} needs a `team_key` column (values like NY:troy education association)")
    return set(frame[Derived.TEAM_KEY].str.strip())


def read_reviews(path) -> pd.Series:
    """Average reviewer score per team key, from a CSV with team_key, reviewer, score."""
    try:
        frame = pd.read_csv(path, dtype={Derived.TEAM_KEY: str, ReviewCol.REVIEWER: str}, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise RubricDataError(f"cannot read reviews {path}: {exc}") from None
    missing = {Derived.TEAM_KEY, *ReviewCol} - set(frame.columns)
    if missing:
        raise RubricDataError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
    scores = pd.to_numeric(frame[ReviewCol.SCORE], errors="coerce")
    if scores.isna().any():
        bad = frame.loc[scores.isna(), ReviewCol.SCORE].head(3).tolist()
        raise RubricDataError(f"{path} has scores that are not numbers: {bad}")
    return scores.groupby(frame[Derived.TEAM_KEY].str.strip()).mean()


def map_points(answers: pd.Series, mapping: dict[str, float]) -> pd.Series:
    """A `map` criterion's points: each answer looked up without case or surrounding spaces; no entry scores 0.

    A Yes/No question's answers are booleans after normalizing, looked up as "yes" and "no" (the config allows
    only those keys for such a field; a checkbox or list field is refused there: use `count` or `contains`).
    """
    table = {str(key).strip().casefold(): points for key, points in mapping.items()}
    if isinstance(answers.dtype, pd.BooleanDtype) or answers.dtype == bool:
        words = answers.map({True: "yes", False: "no"}).astype(object)
    else:
        words = answers.astype(str).str.strip().str.casefold()
    return words.map(table).astype(float).fillna(0.0)


def criterion_points(frame: pd.DataFrame, criterion: Criterion, config: CohortConfig) -> pd.Series:
    """Unweighted points for one criterion, vectorised over the frame."""
    if criterion.kind == "count":
        raw = frame[criterion.field].str.len().astype(float) * criterion.points
    elif criterion.kind == "contains":
        exploded = frame[criterion.field].explode()
        hit = (exploded == criterion.value).groupby(level=0).any().reindex(frame.index, fill_value=False)
        raw = hit.astype(float) * criterion.points
    elif criterion.kind == "map":
        raw = map_points(frame[criterion.field], criterion.map or {})
    elif criterion.kind == "number":
        # Points per unit of a number answer (a missing or unreadable one scores 0), capped by max_points below.
        raw = pd.to_numeric(frame[criterion.field], errors="coerce").astype(float).fillna(0.0) * criterion.points
    elif criterion.kind == "first_time":
        previous = read_team_list(config.previous_participants)
        raw = (~frame[Derived.TEAM_KEY].isin(previous)).astype(float) * criterion.points
    else:
        raw = frame[Derived.TEAM_KEY].map(read_reviews(config.reviews)).astype(float).fillna(0.0) * criterion.points
    if criterion.max_points is not None:
        raw = raw.clip(upper=criterion.max_points)
    return raw


def score(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """Scores the candidates (valid, on time, not duplicates); other rows get no points."""
    out = frame.copy()
    candidates = out[Col.STATUS] == Status.VALID
    total = pd.Series(0.0, index=out.index)
    for criterion in config.rubric:
        points = (criterion_points(out.loc[candidates], criterion, config) * criterion.weight).round(2)
        column = points_column(criterion)
        out[column] = points.reindex(out.index)
        total = total.add(points, fill_value=0.0)
    out[Derived.SCORE] = total.round(2).where(candidates)
    return out
