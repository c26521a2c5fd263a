"""The cohort file's `review:` section: optional, read on the cohort's clock, and each mistake refused by its key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from schemas.config import ConfigError, load_config
from schemas.review import Combine
from tests.support.paths import CONFIG_PATH


def _review(**changes) -> dict:
    review = {
        "roster": "reviewers.csv",
        "criteria": [
            {"name": "vision", "description": "How clear is the local's reason?", "scale": [1, 2, 3, 4, 5]},
            {"name": "readiness", "description": "Is the team ready?", "scale": {"min": 0, "max": 10, "step": 0.5}},
        ],
        "due": "2021-06-14 17:00",
        "spread_threshold": 2,
    }
    review.update(changes)
    return review


def _load(tmp_path: Path, review: dict | None):
    data = yaml.safe_load(CONFIG_PATH.read_text())
    if review is not None:
        data["review"] = review
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


def test_a_call_without_a_review_round_loads_as_before(tmp_path):
    config = _load(tmp_path, None)
    assert config.review is None
    assert config.review_due is None


def test_review_section_defaults_scales_and_due_on_the_cohort_clock(tmp_path):
    config = _load(tmp_path, _review())
    review = config.review
    assert review is not None
    assert review.per_application == 2
    assert review.combine == Combine.MEAN
    assert review.roster == tmp_path / "reviewers.csv"
    assert review.answers == ["why_statement"]
    vision, readiness = review.criteria
    assert vision.values == (1, 2, 3, 4, 5)
    assert readiness.values[:3] == (0, 0.5, 1) and readiness.values[-1] == 10 and len(readiness.values) == 21
    assert readiness.allows(7.5) and not readiness.allows(7.25) and not vision.allows(6)
    # 17:00 in New York in June is EDT, 21:00 UTC.
    assert config.review_due == dt.datetime(2021, 6, 14, 21, 0, tzinfo=dt.UTC)
    winter = _load(tmp_path, _review(due="2021-12-14 17:00"))
    assert winter.review_due == dt.datetime(2021, 12, 14, 22, 0, tzinfo=dt.UTC)
    offset = _load(tmp_path, _review(due="2021-06-14T17:00:00-04:00", combine="standardised"))
    assert offset.review_due == config.review_due
    assert offset.review is not None and offset.review.combine == Combine.STANDARDISED


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"roster": "reviewers.txt"}, "review.roster: must end in .csv or .xlsx"),
        ({"per_application": 0}, "review.per_application: Input should be greater than or equal to 1"),
        ({"criteria": []}, "review.criteria: List should have at least 1 item"),
        ({"combine": "median"}, "review.combine: Input should be 'mean' or 'standardised'"),
        ({"spread_threshold": 0}, "review.spread_threshold: Input should be greater than 0"),
        ({"due": "2021-06-14"}, "review.due: '2021-06-14' has no time: write the moment it is due"),
        ({"due": "2021-06-14T17:00:00-05:00"}, "review.due: offset of 2021-06-14T17:00:00-05:00 does not match"),
        ({"due": "2021-03-14 02:30"}, "review.due: 2021-03-14 02:30 does not exist in America/New_York"),
        ({"due": "2021-11-07 01:30"}, "review.due: 2021-11-07 01:30 happens twice in America/New_York"),
        ({"answers": ["why_statement", "shoe_size"]}, "review.answers.1: 'shoe_size' is not a field of the form"),
        ({"reviewers": 3}, "review.reviewers: unknown key"),
    ],
)
def test_review_mistakes_name_the_key(tmp_path, changes, expected):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, _review(**changes))
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        ({"scale": [1, 2, 2]}, "review.criteria.0.scale: lists a value twice"),
        ({"scale": [3]}, "needs at least two allowed values"),
        ({"scale": {"min": 5, "max": 1}}, "review.criteria.0.scale.range: min (5) must be below max (1)"),
        ({"scale": "1 to 5"}, "review.criteria.0.scale: give a list of the allowed values ([1, 2, 3, 4, 5]) or {min"),
        ({"scale": [1, "high"]}, "review.criteria.0.scale.values.1: Input should be a valid number"),
        ({"scale": {"min": 1, "max": 5, "step": 3}}, "max (5) is not min (1) plus a whole number of steps (3)"),
        ({"scale": {"min": 0, "max": 1000}}, "has 1001 values; a dropdown takes at most 101"),
        ({"name": "Vision Score"}, "review.criteria.0.name: String should match pattern"),
        ({"description": ""}, "review.criteria.0.description: String should have at least 1 character"),
        ({"weight": -1}, "review.criteria.0.weight: Input should be greater than or equal to 0"),
    ],
)
def test_criterion_mistakes_name_the_key(tmp_path, criterion, expected):
    review = _review()
    review["criteria"][0].update(criterion)
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, review)
    assert expected in str(caught.value)


def test_doubled_criterion_names_are_refused(tmp_path):
    review = _review()
    review["criteria"][1]["name"] = "vision"
    with pytest.raises(ConfigError, match="review: criteria need distinct names; vision is given more than once"):
        _load(tmp_path, review)


def test_the_review_spreadsheet_goes_with_a_sheet_source_and_only_with_one(tmp_path):
    with pytest.raises(ConfigError, match=r"review\.spreadsheet: needs a google_sheet source"):
        _load(tmp_path, _review(spreadsheet="1ReviewSpreadsheetKey0123"))
    data = yaml.safe_load(CONFIG_PATH.read_text())
    data["source"] = {"kind": "google_sheet", "key": "1ResponsesKey012345", "worksheet": "Form Responses 1"}
    data["source"]["credentials"] = {"env": "COHORT_TEST_SHEETS_KEY"}
    data["review"] = _review()
    path = tmp_path / "sheet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"review\.spreadsheet: the responses are a Google Sheet"):
        load_config(path)
    data["review"] = _review(spreadsheet="1ReviewSpreadsheetKey0123")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert load_config(path).review.spreadsheet == "1ReviewSpreadsheetKey0123"
