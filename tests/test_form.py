"""The form as data: the 2021 default, a form written in the cohort file, and every kind of mistake in one refused
with one message per problem, naming its key."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from examples.generate import HEADERS
from schemas.columns import Col, Derived, Status
from schemas.config import ConfigError, parse_config
from schemas.form import form_columns
from schemas.suite import form_checks, row_checks
from tasks.decisions import decisions_frame
from tasks.normalize import normalize
from tasks.sources import values_to_frame
from tasks.validate import validate
from tests.support.rows import raw_frame, row

# The 2021 checks, in the order a row's reasons list them: what the checks were before the form was data.
CODES_2021 = [
    "check:required:submitted_at",
    "check:submitted_at",
    "check:submitted_at_repeated",
    "check:submitted_at_skipped",
    "check:required:local_name",
    "check:required:state",
    "check:state",
    "check:required:submitter_email",
    "check:submitter_email",
    "check:required:lead_name",
    "check:required:lead_email",
    "check:lead_email",
    "check:member_emails",
    "check:team_size",
    "check:required:job_families",
    "check:job_families",
    "check:required:president_approved",
    "check:president_approved_unclear",
    "check:president_approved",
    "check:required:commitment",
    "check:commitment_unclear",
    "check:commitment",
]


def test_the_default_form_is_the_2021_form(config):
    assert [check.code for check in form_checks(config.the_form, 2, 5)] == CODES_2021
    assert [check.code for check in row_checks(2, 5)] == CODES_2021
    assert form_columns(config.the_form) == config.columns


def _form_data(config) -> dict:
    """The bundled cohort file with the 2021 form written out in a `form:` block instead of `columns`."""
    data = config.model_dump(mode="json", exclude={"form"})
    form = config.the_form.model_dump(mode="json", exclude_defaults=True)
    data.pop("columns")
    data["form"] = form
    return data


def test_the_2021_form_written_out_gives_the_same_checks_and_decisions(config):
    written = parse_config(_form_data(config))
    assert written.form is not None
    assert written.columns == config.columns
    assert form_checks(written.the_form, 2, 5) == form_checks(config.the_form, 2, 5)
    rows = raw_frame(row(), row(Team_lead_email="jane@", State="Narnia"))
    # The same columns (in the form's order of questions rather than the sheet's) and the same values.
    pd.testing.assert_frame_equal(
        validate(normalize(rows, written), written), validate(normalize(rows, config), config), check_like=True
    )


def _questions(data: dict) -> list[dict]:
    return data["form"]["questions"]


def _at(data: dict, field: str) -> int:
    return next(i for i, q in enumerate(_questions(data)) if q["field"] == field)


def test_a_form_edit_renames_adds_and_drops_questions(config):
    data = _form_data(config)
    questions = _questions(data)
    questions[_at(data, "local_name")]["title"] = "Name of your local"
    questions.pop(_at(data, "commitment"))
    data["form"]["rules"] = [r for r in data["form"]["rules"] if r["field"] != "commitment"]
    questions.append({"field": "esp_count", "title": "How many ESPs?", "type": "number", "required": True})
    data["form"]["rules"].append(
        {"field": "esp_count", "kind": "between", "min": 10, "reason": "Too few ESPs: {esp_count}"}
    )
    edited = parse_config(data)
    codes = [check.code for check in form_checks(edited.the_form, 2, 5)]
    assert "check:commitment" not in codes
    assert codes[-3:] == ["check:required:esp_count", "check:esp_count_unclear", "check:esp_count"]
    headers = ["Name of your local" if h == "Local Association name" else h for h in HEADERS]
    keep = [i for i, h in enumerate(HEADERS) if h != "Can your team commit to the 9-week course schedule?"]
    good = row()
    values = [[headers[i] for i in keep] + ["How many ESPs?"]]
    values += [[good[i] for i in keep] + [answer] for answer in ("1,200", "9", "lots", "")]
    sheet = values_to_frame(values, edited.columns)
    out = validate(normalize(sheet, edited), edited)
    assert out[Col.STATUS].tolist() == [Status.VALID, Status.INVALID, Status.INVALID, Status.INVALID]
    assert out[Col.REASONS].tolist()[1:] == [
        "Too few ESPs: 9",
        "Esp count is not a number: 'lots'",
        "Esp count is missing",
    ]
    assert "esp_count_text" not in out.columns and out.loc[0, "esp_count"] == 1200


MISTAKES = [
    # (what is changed, the line the refusal must have)
    (
        lambda d: _questions(d)[_at(d, "state")].update(type="text"),
        "form.questions.2.type: state is read by the pipeline as us_state, not text",
    ),
    (lambda d: _questions(d)[_at(d, "state")].update(type="colour"), "form.questions.2.type: Input should be"),
    (
        lambda d: _questions(d)[1].update(field="state"),
        "form.questions.2.field: 'state' is already the field of form.questions.1",
    ),
    (
        lambda d: _questions(d)[1].update(title="State"),
        "form.questions.2.title: 'State' is already the title of form.questions.1",
    ),
    (lambda d: _questions(d)[1].pop("title"), "form.questions.1.title: missing key"),
    (
        lambda d: _questions(d)[_at(d, "job_families")].pop("options"),
        "form.questions.10.options: a checkboxes question needs its options",
    ),
    (lambda d: _questions(d).pop(_at(d, "lead_email")), "form.questions: has no lead_email question (type email)"),
    (
        lambda d: _questions(d)[1].update(field="team_size"),
        "form.questions.1.field: 'team_size' is a name the pipeline gives its own",
    ),
    (lambda d: _questions(d)[1].update(colour="red"), "form.questions.1.colour: unknown key"),
    (
        lambda d: d["form"]["rules"].append({"field": "shoe_size", "kind": "equals", "value": 1, "reason": "shoes"}),
        "form.rules.4.field: 'shoe_size' is not a field of a question",
    ),
    (
        lambda d: d["form"]["rules"][2].update(value="Maybe"),
        'form.rules.2.value: president_approved is a Yes/No question: value is "Yes" or "No"',
    ),
    (
        lambda d: d["form"]["rules"][2].update(reason="Not approved: {shoe_size}"),
        "form.rules.2.reason: {shoe_size} is not an answer the sentence can quote",
    ),
    (
        lambda d: d["form"]["rules"][2].update(reason="Not approved: {"),
        "form.rules.2.reason: is not a sentence with {placeholders}",
    ),
    (
        lambda d: d["form"]["rules"][0].update(min=3),
        "form.rules.0.min: the team size rule takes its bounds from `team_size:`",
    ),
    (
        lambda d: d["form"]["rules"][2].update(kind="between"),
        "form.rules.2.kind: a between rule needs a number question or team_size",
    ),
    (
        lambda d: d["form"]["rules"][1].update(field="lead_name"),
        "form.rules.1.kind: only_options needs a single_choice or checkboxes question",
    ),
    (
        lambda d: d["form"]["rules"].append(dict(d["form"]["rules"][2])),
        "form.rules.4.name: two rules give the reason check:president_approved",
    ),
    (
        lambda d: d["form"]["rules"][2].update(when={"field": "job_families", "equals": "x"}),
        "form.rules.2.when.field: job_families is a list",
    ),
    (
        lambda d: d["rubric"].append({"name": "n", "kind": "count", "field": "why_statement"}),
        "rubric.4.kind: a count criterion needs a list field",
    ),
    (
        lambda d: d["rubric"].append({"name": "n", "kind": "number", "field": "shoe_size"}),
        "rubric.4.field: 'shoe_size' is not a field of a question",
    ),
    (
        lambda d: d.update(columns={"Timestamp": "submitted_at"}),
        "columns: give each question's title in form.questions",
    ),
]


@pytest.mark.parametrize(("change", "line"), MISTAKES)
def test_each_kind_of_form_mistake_is_refused_naming_its_key(config, change, line):
    data = _form_data(config)
    change(data)
    with pytest.raises(ConfigError) as refused:
        parse_config(data, "esp-2022.yaml")
    assert line in str(refused.value)
    assert "Traceback" not in str(refused.value)


def test_several_mistakes_give_one_line_each(config):
    data = copy.deepcopy(_form_data(config))
    _questions(data)[_at(data, "state")]["type"] = "text"
    _questions(data)[_at(data, "job_families")].pop("options")
    data["form"]["rules"][2]["value"] = "Maybe"
    with pytest.raises(ConfigError) as refused:
        parse_config(data, "esp-2022.yaml")
    lines = str(refused.value).splitlines()
    assert lines[0] == "esp-2022.yaml is not a usable cohort config:"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "  - form.questions.2.type",
        "  - form.questions.10.options",
        "  - form.rules.2.value",
    ]


# ------------------------------------------------------------------------------------------ cross-row rules


def _with_cross_row(config, *, invalid: bool = False):
    data = _form_data(config)
    data["form"]["cross_row"] = [
        {"kind": "email_on_two_teams", "reason": "On two teams' rosters: {email_on_two_teams}", "invalid": invalid},
        {"kind": "lead_member_elsewhere", "reason": "Lead is a member elsewhere: {lead_member_elsewhere}"},
    ]
    return parse_config(data)


def _team(local: str, lead: str, member: str) -> list[str]:
    return row(
        Local_Association_name=local,
        Team_lead_name=lead.split("@")[0].title(),
        Team_lead_email=lead,
        Team_member_2_name=member.split("@")[0].title(),
        Team_member_2_email=member,
    )


def test_a_person_on_two_teams_and_a_lead_who_is_a_member_elsewhere_are_flagged_on_both_rows(config):
    cohort = _with_cross_row(config)
    rows = [
        _team("Troy EA", "ann@troy.org", "bo@mail.org"),  # 2
        _team("Troy Education Association", "ann@troy.org", "bo@mail.org"),  # 3: the same team again
        _team("Salem EA", "cy@salem.org", "bo@mail.org"),  # 4: bo is on Troy's roster too
        _team("Dover EA", "dee@dover.org", "eve@dover.org"),  # 5: dee leads Dover ...
        _team("Milton EA", "fay@milton.org", "dee@dover.org"),  # 6: ... and is a member of Milton
    ]
    out = validate(normalize(raw_frame(*rows), cohort), cohort)
    flags = dict(zip(out[Col.SOURCE_ROW], out[Derived.STAFF_FLAGS], strict=True))
    assert flags[2] == flags[3] == "On two teams' rosters: 'bo@mail.org' also on NY:salem education association"
    assert flags[4] == ("On two teams' rosters: 'bo@mail.org' also on NY:troy education association")
    lead_flag = "Lead is a member elsewhere: 'dee@dover.org' also on NY:"
    assert flags[5].startswith("On two teams' rosters: 'dee@dover.org' also on NY:milton education association; ")
    assert lead_flag + "milton education association" in flags[5]
    assert lead_flag + "dover education association" in flags[6]
    assert (out[Col.STATUS] == Status.VALID).all() and (out[Col.REASONS] == "").all()  # flags, not reasons
    assert out[Derived.REASON_CODES].map(len).eq(0).all()
    shown = decisions_frame(out.assign(**{Derived.TEAM_KEY: ""}), cohort, provisional=False)
    assert shown.loc[shown[Col.SOURCE_ROW] == 4, Col.REASONS].item() == flags[4]


def test_a_cross_row_rule_refuses_the_rows_when_the_form_says_so(config):
    cohort = _with_cross_row(config, invalid=True)
    rows = [_team("Troy EA", "ann@troy.org", "bo@mail.org"), _team("Salem EA", "cy@salem.org", "bo@mail.org")]
    out = validate(normalize(raw_frame(*rows), cohort), cohort)
    assert out[Col.STATUS].tolist() == [Status.INVALID, Status.INVALID]
    assert out[Derived.REASON_CODES].tolist() == [["check:email_on_two_teams"], ["check:email_on_two_teams"]]
    assert out[Col.REASONS].str.startswith("On two teams' rosters: 'bo@mail.org' also on").all()
