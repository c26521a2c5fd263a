"""Collecting the reviewer files: each kind of bad cell reported by address and not used, progress, the combined
scores (mean and standardised), disagreement flags, and the refusal while a team is short of reviews."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.review import REVIEW_SHEET, BadCell, Combine
from tasks.review_collect import (
    CRITERION,
    SCORE,
    MissingReviewsError,
    collect,
    combine,
    require_reviews,
    short_of_reviews,
)
from tasks.review_files import write_reviewer_files
from tests.support.review import assignments, review_config, teams

PAIRS = [
    ("CA:fresno", "ana@x.org"),
    ("NY:troy", "ana@x.org"),
    ("KY:kingston", "ana@x.org"),
    ("CA:fresno", "bo@x.org"),
    ("NY:troy", "bo@x.org"),
    ("KY:kingston", "bo@x.org"),
]


def _fill(path, cells: dict[str, object]) -> None:
    book = openpyxl.load_workbook(path)
    sheet = book[REVIEW_SHEET]
    for address, value in cells.items():
        sheet[address] = value
    book.save(path)


def test_every_bad_cell_is_reported_and_not_used(tmp_path):
    review = review_config()
    assigned = assignments(PAIRS)
    ana, bo = write_reviewer_files(tmp_path, assigned, teams(), review)
    # Ana's rows: 2 CA:fresno, 3 KY:kingston, 4 NY:troy; columns F vision (1-5), G readiness (0-10 by 0.5).
    _fill(
        ana, {"F2": 4, "G2": "7.5", "F3": 9, "G3": 7.25, "F4": "great", "G4": 5, "D3": "Rewritten", "A5": "TX:austin"}
    )
    _fill(ana, {"F5": 5, "G5": 5})
    _fill(bo, {"F2": 2, "G2": 3, "F3": 5, "G3": 10, "F4": 3, "G4": 4, "A6": "CA:fresno", "F6": 1, "G6": 1})
    found = collect(tmp_path, assigned, teams(), review)
    problems = {(p.file, p.cell): (p.problem, p.value) for p in found.problems.itertuples()}
    assert problems == {
        ("ana@x.org.xlsx", "F3"): (BadCell.OUT_OF_SCALE, "9"),
        ("ana@x.org.xlsx", "G3"): (BadCell.OUT_OF_SCALE, "7.25"),
        ("ana@x.org.xlsx", "F4"): (BadCell.NOT_A_NUMBER, "great"),
        ("ana@x.org.xlsx", "D3"): (BadCell.EDITED_ANSWER, "Rewritten"),
        ("ana@x.org.xlsx", "A5"): (BadCell.NOT_ASSIGNED, "TX:austin"),
        ("bo@x.org.xlsx", "A6"): (BadCell.REPEATED, "CA:fresno"),
    }
    used = found.scores.set_index(["team_key", "reviewer_email", CRITERION])[SCORE]
    assert used.to_dict() == {
        ("CA:fresno", "ana@x.org", "vision"): 4,
        ("CA:fresno", "ana@x.org", "readiness"): 7.5,  # a number typed as text counts
        ("NY:troy", "ana@x.org", "readiness"): 5,
        **{("CA:fresno", "bo@x.org", "vision"): 2, ("CA:fresno", "bo@x.org", "readiness"): 3},
        **{("KY:kingston", "bo@x.org", "vision"): 5, ("KY:kingston", "bo@x.org", "readiness"): 10},
        **{("NY:troy", "bo@x.org", "vision"): 3, ("NY:troy", "bo@x.org", "readiness"): 4},
    }
    progress = found.reviewer_progress.set_index("reviewer_email")
    assert progress.loc["ana@x.org"].tolist() == [3, 1, 2] and progress.loc["bo@x.org"].tolist() == [3, 3, 0]
    teams_done = found.team_progress.set_index("team_key")["scored"].to_dict()
    assert teams_done == {"CA:fresno": 2, "KY:kingston": 1, "NY:troy": 1}
    reviews = found.reviews.set_index("team_key")
    assert reviews.loc["CA:fresno", "review_vision"] == 3.0
    assert reviews.loc["CA:fresno", "scores_vision"] == "ana@x.org=4; bo@x.org=2"
    assert reviews.loc["CA:fresno", "spread_readiness"] == 4.5
    assert reviews.loc["CA:fresno", "discuss"] == "vision; readiness"  # spreads 2 and 4.5 reach the threshold 2
    assert reviews.loc["NY:troy", "discuss"] == ""
    assert reviews["reviews"].to_dict() == {"CA:fresno": 2, "KY:kingston": 1, "NY:troy": 1}
    # The selection's check: Kingston and Troy wait for Ana.
    short = short_of_reviews(teams()["team_key"], assigned, found.scores, review)
    assert short.values.tolist() == [["KY:kingston", 1, 2, "ana@x.org"], ["NY:troy", 1, 2, "ana@x.org"]]
    with pytest.raises(MissingReviewsError) as refused:
        require_reviews(short)
    assert "KY:kingston has 1 of 2 (waiting for ana@x.org); NY:troy has 1 of 2" in str(refused.value)
    assert "review.per_application" in str(refused.value)


def test_missing_files_columns_and_unassigned_teams(tmp_path):
    review = review_config()
    assigned = assignments(PAIRS[:2])
    [ana] = write_reviewer_files(tmp_path, assigned, teams(), review)
    book = openpyxl.load_workbook(ana)
    book[REVIEW_SHEET].delete_cols(7)  # readiness gone
    book.save(ana)
    found = collect(tmp_path, assignments(PAIRS), teams(), review)
    assert found.problems[["cell", "column", "problem"]].values.tolist() == [
        ["G1", "readiness", BadCell.MISSING_COLUMN]
    ]
    assert found.reviewer_progress.set_index("reviewer_email")["scored"].to_dict() == {"ana@x.org": 0, "bo@x.org": 0}
    eligible = pd.Series(["CA:fresno", "KY:kingston", "NY:troy", "WA:tacoma"])
    short = short_of_reviews(eligible, assignments(PAIRS), found.scores, review).set_index("team_key")
    assert short.loc["WA:tacoma"].tolist() == [0, 2, "none assigned"]
    assert short.loc["CA:fresno", "missing"] == "ana@x.org; bo@x.org"
    require_reviews(short.iloc[0:0])  # nothing short: the selection may run


def _scores(pairs: dict[str, list[float]]) -> pd.DataFrame:
    rows = [(f"T{i}", reviewer, "vision", s) for reviewer, scores in pairs.items() for i, s in enumerate(scores)]
    return pd.DataFrame(rows, columns=["team_key", "reviewer_email", CRITERION, SCORE])


def _order(combined: pd.Series) -> list[str]:
    values = combined.xs("vision", level=CRITERION)
    return sorted(values.index, key=lambda team: (-round(values[team], 9), team))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(3, 8), min_size=3, max_size=12),
    st.lists(st.integers(-1, 1), min_size=12, max_size=12),
    st.integers(1, 2),
    st.integers(1, 2),
)
def test_a_strict_and_a_lenient_reviewer_give_the_order_of_two_neutral_ones(quality, noise, strict, lenient):
    first = [float(q) for q in quality]
    second = [float(q + n) for q, n in zip(quality, noise, strict=False)]
    neutral = combine(_scores({"a": first, "b": second}), Combine.STANDARDISED)
    skewed = combine(
        # The strict reviewer gives less and uses less of the scale; the lenient one more of both.
        _scores({"a": [s / 2 - strict for s in first], "b": [s * 1.5 + lenient for s in second]}),
        Combine.STANDARDISED,
    )
    assert _order(skewed) == _order(neutral)
    # Standardised scores are on the criterion's scale: their mean is the mean of all scores.
    assert abs(neutral.mean() - (sum(first) + sum(second)) / (2 * len(first))) < 1e-9


def test_the_plain_mean_lets_the_scale_a_reviewer_uses_change_the_order():
    # What standardising corrects: with b's scores stretched, the mean follows b alone; standardised, T0 and T1 tie.
    neutral = {"a": [5.0, 4.0, 1.0], "b": [4.0, 5.0, 1.0]}
    stretched = {"a": [5.0, 4.0, 1.0], "b": [4.0 * 3, 5.0 * 3, 1.0 * 3]}
    assert _order(combine(_scores(neutral), Combine.MEAN)) == ["T0", "T1", "T2"]
    assert _order(combine(_scores(stretched), Combine.MEAN)) == ["T1", "T0", "T2"]
    assert _order(combine(_scores(stretched), Combine.STANDARDISED)) == ["T0", "T1", "T2"]
