"""The review round end to end on the bundled 2021 example, under the session's Prefect test server: a roster of 8
reviewers and 2 criteria go assign → filled reviewer files → collect → select, and each decision's reasons carry
the review points; a selection while a team is short of reviews is refused, a preview marks it, an excuse lets
it through."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from flows.review import review_assign, review_collect
from flows.select_cohort import select_cohort
from schemas.review import ASSIGNMENTS_FILE, REVIEWS_FILE, AssignCol
from tests.support.prefect_server import run_artifacts
from tests.support.review import AFTER, ROSTER, fill_reviews, review_cohort


@pytest.fixture(scope="module")
def assigned(prefect_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("review-round")
    config = review_cohort(folder)
    state = review_assign(config_path=config, return_state=True)
    assert state.is_completed(), state.message
    return folder, config, state.result()


def test_assign_covers_every_eligible_team_twice_with_balanced_loads_and_no_conflict(assigned):
    folder, _, summary = assigned
    assignments = pd.read_csv(folder / "review" / ASSIGNMENTS_FILE)
    per_team = assignments.groupby(AssignCol.TEAM_KEY)[AssignCol.REVIEWER_EMAIL].nunique()
    assert summary.teams == len(per_team) == 45 and set(per_team) == {2}  # 20 selected + 25 waitlisted before review
    loads = assignments[AssignCol.REVIEWER_EMAIL].value_counts()
    uncapped = loads.drop("gus@nea.example.org")
    assert uncapped.max() - uncapped.min() <= 1 and loads["gus@nea.example.org"] <= 10
    states = {email: state for _, email, state, _, _ in ROSTER}
    team_states = assignments[AssignCol.TEAM_KEY].str.split(":").str[0]
    assert not (team_states == assignments[AssignCol.REVIEWER_EMAIL].map(states)).any()
    assert summary.conflicts_avoided["same state"] > 0 and summary.files == 8


def test_a_selection_short_of_reviews_is_refused_marked_in_preview_and_goes_on_when_excused(assigned, tmp_path):
    folder, config, _ = assigned
    assignments = pd.read_csv(folder / "review" / ASSIGNMENTS_FILE)
    team, reviewer = assignments.iloc[0][[AssignCol.TEAM_KEY, AssignCol.REVIEWER_EMAIL]]
    fill_reviews(folder, skip=(team, reviewer))
    refused = select_cohort(config_path=config, out_dir=str(tmp_path / "a"), as_of=AFTER, return_state=True)
    assert refused.is_failed()
    assert f"{team} has 1 of 2 (waiting for {reviewer})" in refused.message
    preview = select_cohort(
        config_path=config, out_dir=str(tmp_path / "b"), as_of=AFTER, preview=True, return_state=True
    )
    assert preview.is_completed(), preview.message
    decided = pd.read_csv(tmp_path / "b" / "decisions.csv")
    marked = decided.loc[decided["team_key"] == team, "reasons"].iloc[0]
    assert "preview: 1 of 2 reviews complete" in marked

    fill_reviews(folder)  # the missing review is written
    collected = review_collect(config_path=config, return_state=True)
    assert collected.is_completed(), collected.message
    summary = collected.result()
    assert summary.complete == summary.assigned == 90 and summary.teams_short == 0 and summary.bad_cells == 0
    reviews = pd.read_csv(folder / "review" / REVIEWS_FILE)
    assert set(reviews["reviews"]) == {2} and set(reviews["review_readiness"]) == {3.5}
    final = select_cohort(config_path=config, out_dir=str(tmp_path / "c"), as_of=AFTER, return_state=True)
    assert final.is_completed(), final.message
    decided = pd.read_csv(tmp_path / "c" / "decisions.csv")
    chosen = decided[decided["status"].isin(["selected", "waitlisted"])]
    vision = chosen["team_key"].str.len() % 5 + 1
    assert all(
        f"reviews: vision {v:g}, readiness 3.5 (2 reviewers)" in reasons
        for v, reasons in zip(vision, chosen["reasons"], strict=True)
    )
    # decisions.csv, the report and the reviews artifact carry the points, each reviewer's scores and the flags.
    assert list(chosen["points_review_vision"]) == list(vision.astype(float))
    assert all(len(cell.split("; ")) == 2 for cell in chosen["scores_readiness"])
    assert set(chosen["discuss"].fillna("")) == {""}  # two equal scores: nothing to discuss
    report = (tmp_path / "c" / "report.html").read_text(encoding="utf-8")
    assert '<h2 id="reviews">Reviews: combined scores' in report and "points review vision" in report
    published = run_artifacts(final.state_details.flow_run_id)
    rows = published["reviews"]
    assert len(rows) == len(chosen) and all("@" not in str(row) for row in rows), str(rows[0])
    first = chosen.loc[chosen["team_key"] == rows[0]["team_key"]].iloc[0]
    assert rows[0]["scores_vision"] == first["scores_vision"]
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ \d(; [A-Z][a-z]+ [A-Z][a-z]+ \d)", first["scores_vision"])


def test_an_excused_team_goes_on_with_the_reviews_it_has(prefect_server, tmp_path):
    config = review_cohort(tmp_path, overrides="team,action,note,by\n")
    assert review_assign(config_path=config, return_state=True).is_completed()
    assignments = pd.read_csv(tmp_path / "review" / ASSIGNMENTS_FILE)
    team, reviewer = assignments.iloc[0][[AssignCol.TEAM_KEY, AssignCol.REVIEWER_EMAIL]]
    fill_reviews(tmp_path, skip=(team, reviewer))
    with (tmp_path / "overrides.csv").open("a", encoding="utf-8") as overrides:
        overrides.write(f"{team},excuse-review,reviewer ill,Pat\n")  # written after the assignment, as staff would
    state = select_cohort(config_path=config, out_dir=str(tmp_path / "out"), as_of=AFTER, return_state=True)
    assert state.is_completed(), state.message
    decided = pd.read_csv(tmp_path / "out" / "decisions.csv")
    reasons = decided.loc[decided["team_key"] == team, "reasons"].iloc[0]
    assert "(1 reviewer)" in reasons and "missing reviews excused: reviewer ill (Pat)" in reasons
