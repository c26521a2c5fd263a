"""Answers as people write them (issue 13, items 3, 4 and 11): states in their abbreviations, checkbox options in
any case or twice, an option holding a comma, and a Yes/No question answered with something else."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.columns import EDUCATION_LEVELS, JOB_FAMILIES, Col, Status
from schemas.frames import Step
from schemas.states import _EXTRA_SPELLINGS, USPS_STATES, _state_lookup
from tasks.normalize import normalize, split_checkboxes, to_state_codes, unknown_options
from tasks.pipeline import PipelineInputs, run_pipeline, stages_through
from tasks.sources import FileSource, values_to_frame
from tasks.validate import validate
from tests.support.corpus import ANSWERS
from tests.support.paths import CORPUS_DIR
from tests.support.rows import raw_frame, row


def code_of(text: str) -> str | None:
    got = to_state_codes(pd.Series([text], dtype="str")).iloc[0]
    return None if pd.isna(got) else str(got)


def intake(config, *rows: list[str]) -> pd.DataFrame:
    return validate(normalize(raw_frame(*rows), config), config)


# ------------------------------------------------------------------------------------------------ 3. states

AP_STYLE = {
    "Ala.": "AL", "Ariz.": "AZ", "Ark.": "AR", "Calif.": "CA", "Colo.": "CO", "Conn.": "CT", "Del.": "DE",
    "Fla.": "FL", "Ga.": "GA", "Ill.": "IL", "Ind.": "IN", "Kan.": "KS", "Ky.": "KY", "La.": "LA", "Md.": "MD",
    "Mass.": "MA", "Mich.": "MI", "Minn.": "MN", "Miss.": "MS", "Mo.": "MO", "Mont.": "MT", "Neb.": "NE",
    "Nev.": "NV", "N.H.": "NH", "N.J.": "NJ", "N.M.": "NM", "N.Y.": "NY", "N.C.": "NC", "N.D.": "ND",
    "Okla.": "OK", "Ore.": "OR", "Pa.": "PA", "R.I.": "RI", "S.C.": "SC", "S.D.": "SD", "Tenn.": "TN",
    "Tex.": "TX", "Vt.": "VT", "Va.": "VA", "Wash.": "WA", "W.Va.": "WV", "Wis.": "WI", "Wyo.": "WY",
    "D.C.": "DC", "P.R.": "PR", "V.I.": "VI", "Penn.": "PA", "Wisc.": "WI", "Mich": "MI",
}  # fmt: skip


@pytest.mark.parametrize(("text", "code"), sorted(AP_STYLE.items()))
def test_ap_style_and_postal_abbreviations_are_read(text, code):
    assert code_of(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("N.Y.", "NY"),
        ("NY.", "NY"),
        (" n. y. ", "NY"),
        ("MASS.", "MA"),
        ("Washington, D.C.", "DC"),
        ("Washington DC", "DC"),
        ("washington d.c.", "DC"),
        ("D. C.", "DC"),
        ("Washington", "WA"),
        ("Virginia", "VA"),
        ("West Virginia", "WV"),
        ("W. Va.", "WV"),
        ("Mo.", "MO"),
        ("Mont.", "MT"),
        ("Hawaiʻi", "HI"),
        ("U.S. Virgin Islands", "VI"),
        ("Pennsylvannia", None),  # a misspelling stays invalid: never a guess
        ("Kent", None),
        ("Virginia Beach", None),
        ("New York, NY", None),
    ],
)
def test_spellings_map_to_the_one_right_state_or_stay_invalid(text, code):
    assert code_of(text) == code


def test_an_unknown_state_stays_invalid_with_the_answer_quoted_and_an_abbreviation_is_valid(config):
    out = intake(config, row(State="N.Y."), row(State="Calif", Local_Association_name="Other EA"), row(State="Narnia"))
    assert out[Col.STATE].tolist()[:2] == ["NY", "CA"]
    assert out[Col.STATUS].tolist() == [Status.VALID, Status.VALID, Status.INVALID]
    assert out.loc[2, Col.REASONS] == "State is not a US state or territory: 'Narnia'"


# Every state's code, name and other spellings (the abbreviations above among them).
SPELLINGS = sorted(
    {(code, code) for code in USPS_STATES}
    | {(name, code) for code, name in USPS_STATES.items()}
    | {(text, code) for code, texts in _EXTRA_SPELLINGS.items() for text in texts}
    | set(AP_STYLE.items())
)


@st.composite
def written(draw) -> tuple[str, str]:
    """A spelling with random case, and spaces, dots and commas added or taken out around its letters."""
    text, code = draw(st.sampled_from(SPELLINGS))
    made = []
    for ch in text:
        if ch in " .,":
            ch = draw(st.sampled_from(["", ch, " ", ".", ". ", "  "]))
        else:
            ch = ch.upper() if draw(st.booleans()) else ch.lower()
        made.append(ch + draw(st.sampled_from(["", "", "", " ", "."])))
    return draw(st.sampled_from(["", " ", "\t"])) + "".join(made) + draw(st.sampled_from(["", " ", "."])), code


@settings(max_examples=400, deadline=None)
@given(written())
def test_property_state_spellings_map_to_their_own_state_never_another(case):
    text, code = case
    got = code_of(text)
    assert got in (code, None), f"{text!r} is a spelling of {code}, read as {got}"
    assert got == code, f"{text!r} is a spelling of {code}, left unread"


def test_two_states_can_never_share_a_spelling(monkeypatch):
    monkeypatch.setitem(_EXTRA_SPELLINGS, "WV", (*_EXTRA_SPELLINGS["WV"], "Va."))
    with pytest.raises(ValueError, match=r"state spelling 'Va\.' is also a spelling of VA"):
        _state_lookup()


# ------------------------------------------------------------------------------------------ 4. checkboxes


def test_an_option_repeated_in_one_answer_counts_once(config):
    families = "Food Services, Food Services, food services"
    raw = raw_frame(row(ESP_job_families_represented_on_the_team=families))
    out = run_pipeline(raw, PipelineInputs(config), stages_through(Step.SCORE))
    assert out.loc[0, Col.JOB_FAMILIES] == ["Food Services"]
    assert out.loc[0, "points_job_family_diversity"] == 1


def test_options_match_without_case_or_spaces_and_keep_the_forms_spelling(config):
    out = intake(
        config,
        row(
            ESP_job_families_represented_on_the_team=" food  services,CLERICAL SERVICES ,Paraeducators",
            Education_levels_your_local_serves="higher education, high   school",
        ),
    )
    assert out.loc[0, Col.STATUS] == Status.VALID, out.loc[0, Col.REASONS]
    assert out.loc[0, Col.JOB_FAMILIES] == ["Food Services", "Clerical Services", "Paraeducators"]
    assert out.loc[0, Col.EDUCATION_LEVELS] == ["Higher Education", "High School"]


def test_an_unknown_option_is_named_once_as_written(config):
    out = intake(config, row(ESP_job_families_represented_on_the_team="Food Services, Bus Drivers, bus  drivers"))
    assert out.loc[0, Col.REASONS] == ("ESP job families include options that are not ESP career families: Bus Drivers")


COMMA_OPTION = "Health, Wellness and Safety Services"


def test_an_option_holding_a_comma_is_read_whole_when_it_is_on_the_form(config):
    known = (*JOB_FAMILIES, COMMA_OPTION)
    answers = pd.Series(
        [f"Food Services, {COMMA_OPTION}", "health,wellness AND safety services", "Health, Food Services"]
    )
    chosen = split_checkboxes(answers, known)
    assert chosen.tolist() == [["Food Services", COMMA_OPTION], [COMMA_OPTION], ["Health", "Food Services"]]
    unknown = unknown_options(chosen, known)
    assert unknown.iloc[:2].isna().all() and unknown.iloc[2] == "Health"
    # Through normalize: the form's options extended by one holding a comma (an edit of the cohort file's form).
    form = config.the_form
    questions = tuple(
        q.model_copy(update={"options": known}) if q.field == Col.JOB_FAMILIES else q for q in form.questions
    )
    config = config.model_copy(update={"form": form.model_copy(update={"questions": questions})})
    out = intake(config, row(ESP_job_families_represented_on_the_team=f"{COMMA_OPTION}, Paraeducators"))
    assert out.loc[0, Col.JOB_FAMILIES] == [COMMA_OPTION, "Paraeducators"]
    assert out.loc[0, Col.STATUS] == Status.VALID, out.loc[0, Col.REASONS]


def test_education_levels_keep_the_forms_spelling_so_a_reserved_seat_finds_them():
    levels = split_checkboxes(pd.Series(["HIGHER EDUCATION, early childhood, Early Childhood"]), EDUCATION_LEVELS)
    assert levels.iloc[0] == ["Higher Education", "Early Childhood"]


# ------------------------------------------------------------------------------------- 11. Yes/No answers


@pytest.mark.parametrize(
    ("changes", "reason", "code"),
    [
        (
            {"Has_your_local_president_approved_this_application": "Not yet"},
            "President approval is neither Yes nor No: 'Not yet'",
            "check:president_approved_unclear",
        ),
        (
            {"Can_your_team_commit_to_the_9_week_course_schedule": "Y"},
            "Commitment to the 9-week schedule is neither Yes nor No: 'Y'",
            "check:commitment_unclear",
        ),
        (
            {"Has_your_local_president_approved_this_application": ""},
            "President approval is missing",
            "check:required:president_approved",
        ),
        (
            {"Has_your_local_president_approved_this_application": "no"},
            "The form says the local president has not approved this application",
            "check:president_approved",
        ),
    ],
)
def test_a_yes_no_answer_that_is_neither_says_what_it_was(config, changes, reason, code):
    out = intake(config, row(**changes))
    assert out.loc[0, Col.STATUS] == Status.INVALID
    assert out.loc[0, Col.REASONS] == reason
    assert out.loc[0, "reason_codes"] == [code]
    from tasks.notices import applicant_reasons  # the applicant's words for it (templates/notices/reasons.yaml)

    (sentence,) = applicant_reasons([code], {})
    assert ("neither Yes nor No" in sentence) == code.endswith("_unclear")


def test_the_answers_as_written_serve_the_reasons_only(config):
    normalized = normalize(raw_frame(row()), config)
    assert normalized.loc[0, "president_approved_text"] == "Yes"
    assert not {"president_approved_text", "commitment_text"} & set(validate(normalized, config).columns)


# ------------------------------------------------------------------------------------------- the corpus case


def test_corpus_answers_as_people_write_them(config):
    frame = validate(normalize(values_to_frame(FileSource(CORPUS_DIR / "answers.csv").read_values()), config), config)
    fields = {"State": Col.STATE, "ESP job families represented on the team": Col.JOB_FAMILIES}
    fields |= {"Education levels your local serves": Col.EDUCATION_LEVELS}
    for at, (title, text, expected) in enumerate(ANSWERS):
        if expected is None:
            assert frame.loc[at, Col.STATUS] == Status.INVALID, text
            assert frame.loc[at, Col.REASONS].endswith(f": {text.strip()!r}"), frame.loc[at, Col.REASONS]
        else:
            assert frame.loc[at, Col.STATUS] == Status.VALID, (text, frame.loc[at, Col.REASONS])
            assert frame.loc[at, fields[title]] == expected, text
