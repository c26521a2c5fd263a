"""Rule tests on small hand-made rows: dedupe, deadline, scoring, selection and decisions."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from schemas.columns import Col, Derived, Status
from schemas.config import ConfigError, Criterion, Extension, ReservedSeats, parse_config
from tasks.cells import spreadsheet_safe
from tasks.cutoff import DeadlineNotPassedError, check_deadline_passed
from tasks.decisions import decisions_frame, printable
from tasks.dedupe import name_key
from tasks.local_time import local_time_text
from tasks.score import RubricDataError
from tests.support.rows import named_team
from tests.support.selection import by_row, run

# -------------------------------------------------------------------------------------------- dedupe


def test_name_keys_fold_case_space_and_abbreviations():
    assert name_key("  troy education assn ") == name_key("Troy Education Association")
    assert name_key("Troy EA") == "troy education association"
    assert name_key("ＴＲＯＹ Education Association") == name_key("Troy Education Association")  # NFKC
    assert name_key("District 1 ESP") != name_key("District 13 ESP")


def test_name_variant_with_same_lead_is_one_team_latest_kept(config):
    out = by_row(
        run(
            config,
            named_team("Troy Education Association", "NY", "Dana Whitfield", "5/20/2021 10:00:00"),
            named_team("  troy education assn ", "New York", "Dana Whitfield", "6/2/2021 9:00:00"),
        )
    )
    assert out.loc[2, Col.STATUS] == Status.DUPLICATE
    assert out.loc[2, Derived.DUPLICATE_OF] == 3
    assert "row 3 is the one used" in out.loc[2, Col.REASONS]
    assert out.loc[3, Col.STATUS] == Status.SELECTED


def test_fuzzy_name_with_same_lead_email_is_merged(config):
    out = by_row(
        run(
            config,
            named_team("Springfield Education Association", "IL", "Ana Ruiz", "5/20/2021 10:00:00"),
            named_team("Springfeild Education Association", "IL", "Ana Ruiz", "5/21/2021 10:00:00"),
        )
    )
    assert out.loc[2, Derived.DUPLICATE_OF] == 3


def test_fuzzy_name_only_is_flagged_not_merged(config):
    out = by_row(
        run(
            config,
            named_team("Troy Education Association", "NY", "Dana Whitfield"),
            named_team("Troy Educational Association", "NY", "Pat Lane", "6/2/2021 9:00:00"),
        )
    )
    assert set(out[Col.STATUS]) == {Status.SELECTED}
    assert out.loc[2, Derived.POSSIBLE_DUPLICATE_OF] == "3"
    assert out.loc[3, Derived.POSSIBLE_DUPLICATE_OF] == "2"


def test_numbers_in_names_are_significant(config):
    out = by_row(
        run(
            config,
            named_team("Cedar District 1 Education Association", "IA", "Kim Lee"),
            named_team("Cedar District 13 Education Association", "IA", "Ray Poe"),
        )
    )
    assert set(out[Col.STATUS]) == {Status.SELECTED}
    assert set(out[Derived.POSSIBLE_DUPLICATE_OF]) == {""}


def test_same_name_in_another_state_is_another_team(config):
    out = run(
        config,
        named_team("Franklin Education Association", "OH", "A B"),
        named_team("Franklin Education Association", "TN", "C D"),
    )
    assert set(out[Col.STATUS]) == {Status.SELECTED}


def test_lookalike_characters_are_flagged_not_merged(config):
    cyrillic_t = "\u0422roy Education Association"
    out = by_row(
        run(config, named_team("Troy Education Association", "NY", "A B"), named_team(cyrillic_t, "NY", "C D"))
    )
    assert set(out[Col.STATUS]) == {Status.SELECTED}
    assert out.loc[3, Derived.POSSIBLE_DUPLICATE_OF] == "2"


def test_same_lead_email_with_another_name_is_flagged_for_staff_not_merged(config):
    """One lead for two locals of a state: two teams, each named as a possible duplicate of the other."""
    out = by_row(
        run(
            config,
            named_team("Salem Education Association", "OR", "Jo Hale", "5/1/2021 10:00:00"),
            named_team("Salem Classified Employees", "OR", "Jo Hale", "5/2/2021 10:00:00"),
        )
    )
    assert out[Derived.DUPLICATE_OF].isna().all()
    assert {out.loc[2, Col.STATUS], out.loc[3, Col.STATUS]} == {Status.SELECTED}
    assert "3" in str(out.loc[2, Derived.POSSIBLE_DUPLICATE_OF])
    assert "2" in str(out.loc[3, Derived.POSSIBLE_DUPLICATE_OF])


def test_kept_row_is_latest_on_time_not_the_late_resubmission(config):
    out = by_row(
        run(
            config,
            named_team("Troy Education Association", "NY", "Dana Whitfield", "6/1/2021 10:00:00"),
            named_team("Troy Education Association", "NY", "Dana Whitfield", "6/7/2021 10:30:00"),
        )
    )
    assert out.loc[2, Col.STATUS] == Status.SELECTED
    assert out.loc[3, Col.STATUS] == Status.DUPLICATE
    assert out.loc[3, Derived.DUPLICATE_OF] == 2


def test_invalid_resubmission_does_not_replace_a_valid_one(config):
    out = by_row(
        run(
            config,
            named_team("Troy Education Association", "NY", "Dana Whitfield", "6/1/2021 10:00:00"),
            named_team(
                "Troy Education Association",
                "NY",
                "Dana Whitfield",
                "6/2/2021 10:00:00",
                Has_your_local_president_approved_this_application="No",
            ),
        )
    )
    assert out.loc[2, Col.STATUS] == Status.SELECTED
    assert out.loc[3, Col.STATUS] == Status.DUPLICATE


# ------------------------------------------------------------------------------------------ deadline


@pytest.mark.parametrize(
    ("stamp", "status"),
    [("6/7/2021 9:59:59", Status.SELECTED), ("6/7/2021 10:00:00", Status.SELECTED), ("6/7/2021 10:00:01", Status.LATE)],
)
def test_deadline_to_the_second(config, stamp, status):
    out = run(config, named_team("Troy Education Association", "NY", "A B", stamp))
    assert out.loc[0, Col.STATUS] == status


def test_late_reason_says_when(config):
    out = run(config, named_team("Troy Education Association", "NY", "A B", "6/7/2021 10:00:01"))
    assert out.loc[0, Col.REASONS] == (
        "Late: submitted at 10:00:01 AM EDT on June 7, 2021, after the deadline of 10:00:00 AM EDT on June 7, 2021"
    )


def test_deadline_across_a_dst_change(config):
    winter = config.model_copy(update={"deadline": dt.datetime.fromisoformat("2021-11-08T10:00:00-05:00")})
    on_time = run(winter, named_team("Troy EA", "NY", "A B", "11/8/2021 10:00:00"))
    late = run(winter, named_team("Troy EA", "NY", "A B", "11/8/2021 10:00:01"))
    assert on_time.loc[0, Col.STATUS] == Status.SELECTED
    assert late.loc[0, Col.STATUS] == Status.LATE
    assert local_time_text(winter.deadline, winter.timezone) == "10:00:00 AM EST on November 8, 2021"


def test_extension_by_row_and_by_team_is_recorded(config):
    granted = config.model_copy(
        update={
            "extensions": [
                Extension(source_row=2, reason="Form outage at 9:55 AM"),
                Extension(
                    team="IL:springfield education association",
                    reason="Staff approved",
                    until=dt.datetime(2021, 6, 7, 15, tzinfo=dt.UTC),
                ),
            ]
        }
    )
    out = by_row(
        run(
            granted,
            named_team("Troy EA", "NY", "A B", "6/7/2021 10:05:00"),
            named_team("Springfield Education Association", "IL", "C D", "6/7/2021 10:30:00"),
            named_team("Springfield Education Association", "IL", "C D", "6/7/2021 11:30:00"),
        )
    )
    assert out.loc[2, Col.STATUS] == Status.SELECTED
    assert out.loc[2, Derived.EXTENSION] == "On time by staff extension: Form outage at 9:55 AM"
    assert out.loc[2, Col.REASONS].endswith("; On time by staff extension: Form outage at 9:55 AM")
    assert out.loc[3, Col.STATUS] == Status.SELECTED
    assert out.loc[4, Col.STATUS] == Status.DUPLICATE  # after the extension's end: not the kept row


def test_select_refuses_before_the_deadline_unless_preview(config):
    early = dt.datetime(2021, 6, 7, 13, 59, 59, tzinfo=dt.UTC)
    with pytest.raises(DeadlineNotPassedError, match="the deadline has not passed"):
        check_deadline_passed(config, early, preview=False)
    check_deadline_passed(config, early, preview=True)
    check_deadline_passed(config, dt.datetime(2021, 6, 7, 14, 0, tzinfo=dt.UTC), preview=False)


# ------------------------------------------------------------------------------------------- scoring


def test_points_per_criterion_and_their_sum(config):
    out = run(
        config,
        named_team(
            "Troy EA",
            "NY",
            "A B",
            ESP_job_families_represented_on_the_team="Clerical Services, Food Services, Paraeducators",
            Education_levels_your_local_serves="Elementary School, High School, Higher Education",
            Does_your_local_currently_have_an_ESP_mentoring_program="In development",
        ),
    ).iloc[0]
    assert out["points_job_family_diversity"] == 3
    assert out["points_new_program"] == 2
    assert out["points_education_levels"] == 1.5
    assert out["points_first_time"] == 0  # NY:troy education association took part before
    assert out[Derived.SCORE] == 6.5


def test_weights_caps_contains_and_reviews(config, tmp_path):
    reviews = tmp_path / "reviews.csv"
    reviews.write_text(
        "team_key,reviewer,score\nNY:salem education association,r1,4\nNY:salem education association,r2,5\n"
    )
    rubric = [
        Criterion(name="families", kind="count", field="job_families", points=2, max_points=3, weight=2),
        Criterion(name="higher_ed", kind="contains", field="education_levels", value="Higher Education", points=4),
        Criterion(name="review", kind="reviews", weight=0.5),
    ]
    scored_config = config.model_copy(update={"rubric": rubric, "reviews": reviews})
    out = run(
        scored_config,
        named_team(
            "Salem EA",
            "NY",
            "A B",
            ESP_job_families_represented_on_the_team="Clerical Services, Food Services",
            Education_levels_your_local_serves="Higher Education",
        ),
    ).iloc[0]
    assert (out["points_families"], out["points_higher_ed"], out["points_review"]) == (6, 4, 2.25)
    assert out[Derived.SCORE] == 12.25


def test_bad_reviews_file_is_a_clear_error(config, tmp_path):
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("team_key,reviewer,score\nNY:x,r1,great\n")
    bad = config.model_copy(update={"rubric": [Criterion(name="review", kind="reviews")], "reviews": reviews})
    with pytest.raises(RubricDataError, match="not numbers"):
        run(bad, named_team("Troy EA", "NY", "A B"))


def test_rubric_naming_an_unknown_field_is_a_config_error(config):
    data = config.model_dump(mode="json")
    data["rubric"] = [{"name": "shoes", "kind": "map", "field": "shoe_size", "map": {"a": 1}}]
    with pytest.raises(ConfigError, match=r"rubric\.0: field 'shoe_size' is not a form field"):
        parse_config(data)


# ----------------------------------------------------------------------------------------- selection


def _pool(n: int, states: list[str]) -> list[list[str]]:
    return [
        named_team(
            f"Local {i} Education Association", states[i % len(states)], f"Lead {i}", f"6/{1 + i % 5}/2021 9:{i:02d}:00"
        )
        for i in range(n)
    ]


def test_capacity_and_cap_with_readable_reasons(config):
    small = config.model_copy(update={"capacity": 3, "max_per_state": 1, "reserved_seats": [], "rubric": []})
    out = run(small, *_pool(6, ["IL", "IL", "OH", "TX"]))
    selected = out[out[Col.STATUS] == Status.SELECTED]
    assert len(selected) == 3
    assert selected[Col.STATE].value_counts().max() == 1
    waitlisted = out[out[Col.STATUS] == Status.WAITLISTED].sort_values(Derived.RANK)
    assert waitlisted[Derived.RANK].tolist() == [1, 2, 3]
    assert any("Illinois already has 1 selected teams (the limit per state)" in r for r in waitlisted[Col.REASONS])
    assert selected[Col.REASONS].str.match(r"Selected: rank \d of 3, 0 points").all()


def test_ties_break_by_earlier_submission(config):
    flat = config.model_copy(update={"capacity": 1, "reserved_seats": [], "rubric": []})
    out = by_row(
        run(
            flat,
            named_team("Early Education Association", "OH", "A B", "6/1/2021 9:00:00"),
            named_team("Later EA", "TX", "C D", "6/1/2021 9:00:01"),
        )
    )
    assert out.loc[2, Col.STATUS] == Status.SELECTED
    assert out.loc[3, Col.STATUS] == Status.WAITLISTED
    assert "all 1 seats are filled" in out.loc[3, Col.REASONS]


def test_reserved_seat_goes_to_best_qualifying_team(config):
    reserve = [ReservedSeats(name="Higher Education", seats=1, field="education_levels", value="Higher Education")]
    rubric = [Criterion(name="families", kind="count", field="job_families")]
    cfg = config.model_copy(update={"capacity": 2, "reserved_seats": reserve, "rubric": rubric})
    many = "Clerical Services, Food Services, Paraeducators"
    out = by_row(
        run(
            cfg,
            named_team("A EA", "OH", "A A", ESP_job_families_represented_on_the_team=many),
            named_team("B EA", "TX", "B B", ESP_job_families_represented_on_the_team=many),
            named_team("C EA", "IL", "C C", Education_levels_your_local_serves="Higher Education"),
        )
    )
    assert out.loc[4, Col.STATUS] == Status.SELECTED
    assert out.loc[4, Col.REASONS].endswith("(reserved seat: Higher Education)")
    assert sorted(out[Col.STATUS]) == [Status.SELECTED, Status.SELECTED, Status.WAITLISTED]


def test_capacity_above_applicants_selects_everyone(config):
    out = run(config, *_pool(3, ["IL", "OH", "TX"]))
    assert (out[Col.STATUS] == Status.SELECTED).all()


def test_all_invalid_selects_nobody(config):
    out = run(config, named_team("A EA", "Narnia", "A B"), named_team("B EA", "Oz", "C D"))
    assert (out[Col.STATUS] == Status.INVALID).all()


# ------------------------------------------------------------------------------------------ decisions


def test_formula_text_is_neutralized():
    text = pd.Series(['=HYPERLINK("http://x")', "+1", "-2", "@cmd", "\tx", "plain"])
    assert spreadsheet_safe(text).tolist() == ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@cmd", "'\tx", "plain"]


def test_decisions_have_every_row_and_the_criteria_columns(config):
    out = run(config, named_team("=cmd|' /C calc'!A0", "NY", "A B"), named_team("B EA", "Narnia", "C D"))
    decisions = printable(decisions_frame(out, config, provisional=True))
    assert decisions[Col.SOURCE_ROW].tolist() == [2, 3]
    assert decisions.loc[0, Col.LOCAL_NAME].startswith("'=")
    assert decisions.loc[0, Col.SUBMITTED_AT] == "2021-06-01T16:00:00Z"
    assert decisions[Col.REASONS].str.startswith("PROVISIONAL").all()
    assert {"points_job_family_diversity", "points_first_time"} <= set(decisions.columns)


def test_lookalike_name_with_same_lead_name_is_not_merged(config):
    cyrillic_t = "\u0422roy Education Association"
    first = named_team("Troy Education Association", "NY", "A B")
    second = named_team(cyrillic_t, "NY", "A B")
    second[6] = "other.address@example.org"  # same lead name, another email
    out = by_row(run(config, first, second))
    assert set(out[Col.STATUS]) == {Status.SELECTED}
    assert out.loc[3, Derived.POSSIBLE_DUPLICATE_OF] == "2"
