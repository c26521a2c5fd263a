"""Config and overrides that would silently do nothing are refused, each with one message naming it (issue 13,
items 5 and 10b): a rubric `map` on a checkbox field, a Yes/No map with other keys, an unquoted YAML `No:` key,
and an override or extension naming a team or sheet row that matches no response."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from schemas.columns import Col, Derived, Status
from schemas.config import ConfigError, Criterion, Extension, load_config, parse_config
from schemas.frames import Step
from tasks.overrides import OverrideError, apply_before_selection, parse_overrides, with_extensions
from tasks.pipeline import PipelineInputs, run_pipeline, stages_through
from tests.support.paths import CONFIG_PATH
from tests.support.rows import named_team, raw_frame
from tests.support.selection import by_row, run

HEADER = ["team", "source_row", "action", "note", "by"]


def bundled() -> dict:
    return yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))


def with_rubric(*criteria: dict):
    data = bundled()
    data["rubric"] = [*data["rubric"], *criteria]
    return parse_config(data, origin="cohorts/test.yaml")


# ------------------------------------------------------------------------------------------- the rubric's map


@pytest.mark.parametrize("field", ["job_families", "education_levels", "member_names"])
def test_a_map_on_a_checkbox_or_list_field_is_refused_naming_the_criterion_and_what_to_use(field):
    with pytest.raises(ConfigError) as caught:
        with_rubric({"name": "families_map", "kind": "map", "field": field, "map": {"Food Services": 2}})
    message = str(caught.value)
    assert "rubric.4: criterion 'families_map': a map criterion scores one answer" in message
    assert f"{field} is a list of options, so it would always score 0" in message
    assert "use kind `count`" in message and "kind `contains` with `value`" in message


def test_a_yes_no_map_scores_yes_and_no_answers(config):
    approved = {"name": "approved", "kind": "map", "field": "president_approved", "map": {"Yes": 2.5, "no": 0}}
    scored_config = config.model_copy(update={"rubric": [Criterion(**approved)]})
    raw = raw_frame(named_team("Troy EA", "NY", "A B"))
    scored = run_pipeline(raw, PipelineInputs(scored_config), stages_through(Step.SCORE))
    assert scored.loc[0, "points_approved"] == 2.5
    assert scored.loc[0, Derived.SCORE] == 2.5


def test_a_yes_no_map_with_other_keys_is_refused():
    with pytest.raises(
        ConfigError, match=r"rubric\.4: criterion 'approved': president_approved is a Yes/No question, "
    ):
        with_rubric({"name": "approved", "kind": "map", "field": "president_approved", "map": {"Yes": 2, "Maybe": 1}})
    with pytest.raises(ConfigError, match=r"'True', 'false' would never match"):
        with_rubric({"name": "approved", "kind": "map", "field": "commitment", "map": {"True": 2, "false": 1}})


# ------------------------------------------------------------------------------- 10b: an unquoted YAML No:


@pytest.mark.parametrize(
    "written",
    [
        '{No: 3, "In development": 2, "Yes, established": 0}',
        '{"No": 3, "In development": 2, Yes, established: 0}',
        '{no: 3, "In development": 2, off: 0}',
    ],
)
def test_an_unquoted_yes_or_no_map_key_is_refused_asking_for_quotes(tmp_path, written):
    text = CONFIG_PATH.read_text(encoding="utf-8")
    quoted = 'map: {"No": 3, "In development": 2, "Yes, established": 0}'
    assert quoted in text  # the bundled file quotes them
    path = tmp_path / "esp.yaml"
    path.write_text(text.replace(quoted, f"map: {written}"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()[1:]
    assert len(lines) == 1, lines  # one message, not one per key
    assert lines[0].startswith("  - rubric.1: criterion 'new_program': YAML reads a map key written No, Yes")
    assert 'quote every answer in the map, e.g. {"No": 3, "Yes, established": 0}' in lines[0]


def test_the_bundled_config_quotes_its_map_keys():
    config = load_config(CONFIG_PATH)
    (new_program,) = [c for c in config.rubric if c.name == "new_program"]
    assert new_program.map == {"No": 3, "In development": 2, "Yes, established": 0}


# --------------------------------------------------------------- overrides and extensions that match no row

ROWS = (
    named_team("Troy Education Association", "NY", "A A", "6/1/2021 9:00:00"),
    named_team("Springfield EA", "IL", "B B", "6/7/2021 10:30:00"),  # late
    named_team("Austin EA", "TX", "C C", "6/1/2021 9:02:00"),
)


def on_time_frame(config):
    """The rows as the overrides step is handed them."""
    return run_pipeline(raw_frame(*ROWS), PipelineInputs(config), stages_through(Step.CUTOFF))


def small(config, **changes):
    return config.model_copy(update={"capacity": 1, "max_per_state": 1, "reserved_seats": [], "rubric": []} | changes)


def test_overrides_and_extensions_that_match_no_row_are_refused_in_one_message(config):
    overrides = parse_overrides(
        [
            HEADER,
            ["NY:troy education association", "", "note", "fine", "Kim"],  # matches
            ["NY:nowhere education association", "", "force-select", "board", "Kim"],
            ["", "99", "force-decline", "typo", "Kim"],
            ["CA:ghost ea", "", "extension", "outage", "Lee"],
            ["NY:ghost", "", "decline", "said no", "Lee"],  # a reply after the notices: checked by promote
        ]
    )
    extensions = [
        Extension(source_row=3, reason="outage at 9:55"),  # matches
        Extension(source_row=42, reason="outage at 9:55"),
        Extension(team="OH:Nowhere EA", reason="staff approved"),
    ]
    granted = with_extensions(small(config, extensions=extensions), overrides)
    with pytest.raises(OverrideError) as caught:
        apply_before_selection(on_time_frame(granted), overrides, granted.extensions)
    assert str(caught.value).splitlines() == [
        "overrides that match no response, so nothing was applied (correct or delete them):",
        "  - Overrides row 3: team 'NY:nowhere education association' matches no team; copy the key from the "
        "team_key column of decisions.csv",
        "  - Overrides row 4: source_row 99 is not an answered row of the responses sheet",
        "  - Overrides row 5: team 'CA:ghost ea' (read as 'CA:ghost education association') matches no team; copy "
        "the key from the team_key column of decisions.csv",
        "  - extensions.1 of the cohort config: source_row 42 is not an answered row of the responses sheet",
        "  - extensions.2 of the cohort config: team 'OH:nowhere education association' matches no team; copy the "
        "key from the team_key column of decisions.csv",
    ]


def test_an_override_alone_is_refused_without_the_extensions_argument(config):
    overrides = parse_overrides([HEADER, ["", "7", "note", "called", "Kim"]])
    with pytest.raises(OverrideError, match="Overrides row 2: source_row 7 is not an answered row"):
        apply_before_selection(on_time_frame(small(config)), overrides)


def test_a_team_key_typed_as_staff_write_it_matches_and_applies(config):
    """Typed keys are read as the pipeline makes keys: state spelling, case and Assn/EA do not matter."""
    overrides = parse_overrides(
        [
            HEADER,
            ["ny:Troy Education Assn", "", "force-decline", "withdrew by phone", "Kim"],
            ["Texas:Austin Education Association", "", "force-select", "board", "Kim"],
        ]
    )
    extension = Extension(team="Ill.:Springfield Education Association", reason="Form outage")
    granted = with_extensions(small(config, extensions=[extension]), overrides)
    assert granted.extensions[0].team == "IL:springfield education association"
    out = by_row(run(granted, *ROWS, overrides=overrides))
    assert out.loc[2, Col.STATUS] == Status.INVALID
    assert out.loc[2, Col.REASONS] == "Declined by staff decision: withdrew by phone (Kim)"
    assert bool(out.loc[4, Derived.STAFF_SELECT]) and out.loc[4, Col.STATUS] == Status.SELECTED
    assert out.loc[3, Derived.EXTENSION] == "On time by staff extension: Form outage"  # not late
    assert out.loc[3, Col.STATUS] == Status.WAITLISTED


def test_an_extension_team_that_is_no_team_key_is_refused_by_the_config():
    data = bundled()
    data["extensions"] = [{"team": "Troy EA", "reason": "outage", "until": dt.datetime(2021, 6, 7, 15, tzinfo=dt.UTC)}]
    with pytest.raises(
        ConfigError, match=r"extensions\.0: team 'Troy EA' is not a team key: write it STATE:local name"
    ):
        parse_config(data)
