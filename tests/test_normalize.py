"""Normalization rules on small hand-made rows."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from examples.generate import HEADERS
from schemas.columns import Col
from tasks.normalize import (
    MissingQuestionError,
    normalize,
    parse_form_times,
    split_checkboxes,
    to_state_codes,
    to_yes_no,
)
from tasks.sources import SourceError, values_to_frame
from tests.support.rows import raw_frame, row

UTC = dt.UTC


def test_good_row_becomes_canonical(config):
    frame = normalize(raw_frame(row()), config)
    got = frame.iloc[0]
    assert got[Col.SOURCE_ROW] == 2
    assert got[Col.SUBMITTED_AT] == pd.Timestamp("2021-06-01 16:30:00", tz="UTC")
    assert got[Col.LEAD_EMAIL] == "dana@troyea.example.org"
    assert got[Col.STATE] == "NY"
    assert got[Col.MEMBER_NAMES] == ["Luis Ortega"]
    assert got[Col.MEMBER_EMAILS] == ["luis@troyea.example.org"]
    assert got[Col.TEAM_SIZE] == 2
    assert got[Col.JOB_FAMILIES] == ["Clerical Services", "Food Services"]
    assert bool(got[Col.PRESIDENT_APPROVED]) is True
    assert pd.isna(got[Col.UNKNOWN_JOB_FAMILIES])


def test_text_is_trimmed_nfc_and_free_of_nul(config):
    decomposed = "Rene\u0301e  "
    frame = normalize(raw_frame(row(Team_lead_name=decomposed, Local_Association_name="  Troy\x00 EA ")), config)
    assert frame.loc[0, Col.LEAD_NAME] == "Ren\u00e9e"
    assert frame.loc[0, Col.LOCAL_NAME] == "Troy EA"


@pytest.mark.parametrize(
    ("text", "code"),
    [("New York", "NY"), ("ny", "NY"), (" NEW   YORK ", "NY"), ("District of Columbia", "DC"), ("Narnia", None)],
)
def test_states_to_usps_codes(text, code):
    got = to_state_codes(pd.Series([text], dtype="str")).iloc[0]
    assert (None if pd.isna(got) else got) == code


def test_form_times_are_zone_local_and_dst_correct():
    times = parse_form_times(
        pd.Series(["6/7/2021 10:00:00", "1/15/2021 10:00:00", "3/14/2021 3:30:00", "garbage", ""]), "America/New_York"
    )
    assert times.iloc[0] == pd.Timestamp("2021-06-07 14:00:00", tz="UTC")  # EDT, UTC-4
    assert times.iloc[1] == pd.Timestamp("2021-01-15 15:00:00", tz="UTC")  # EST, UTC-5
    assert times.iloc[2] == pd.Timestamp("2021-03-14 07:30:00", tz="UTC")  # just after the spring change
    assert times.iloc[3:].isna().all()


def test_times_that_do_not_exist_or_repeat_locally_are_unreadable():
    times = parse_form_times(pd.Series(["3/14/2021 2:30:00", "11/7/2021 1:30:00"]), "America/New_York")
    assert times.isna().all()


def test_xlsx_style_timestamps_are_read():
    times = parse_form_times(pd.Series(["2021-06-07 09:59:58"]), "America/New_York")
    assert times.iloc[0] == pd.Timestamp("2021-06-07 13:59:58", tz="UTC")


def test_yes_no_and_checkboxes():
    assert to_yes_no(pd.Series(["Yes", "no", "", "maybe"], dtype="str")).tolist()[:2] == [True, False]
    assert to_yes_no(pd.Series(["", "maybe"], dtype="str")).isna().all()
    assert split_checkboxes(pd.Series(["A, B,, C ", ""])).tolist() == [["A", "B", "C"], []]


def test_unknown_job_families_are_named(config):
    frame = normalize(raw_frame(row(ESP_job_families_represented_on_the_team="Food Services, Lunch Ladies")), config)
    assert frame.loc[0, Col.UNKNOWN_JOB_FAMILIES] == "Lunch Ladies"


def test_missing_question_names_it(config):
    headers = [h for h in HEADERS if h != "Team lead email"]
    values = [headers, [v for h, v in zip(HEADERS, row(), strict=True) if h != "Team lead email"]]
    with pytest.raises(MissingQuestionError, match="'Team lead email' \\(for lead_email\\)"):
        normalize(values_to_frame(values), config)


def test_doubled_question_is_refused(config):
    values = [[*HEADERS, "Team lead email"], [*row(), "x@example.org"]]
    with pytest.raises(MissingQuestionError, match="more than once"):
        normalize(values_to_frame(values), config)


def test_extra_columns_are_ignored_and_blank_rows_skipped(config):
    values = [[*HEADERS, "Score"], [*row(), "7"], [], [""] * 3, row(Local_Association_name="Salem EA")]
    frame = normalize(values_to_frame(values), config)
    assert frame[Col.SOURCE_ROW].tolist() == [2, 5]
    assert "Score" not in frame.columns


def test_empty_sheet_is_a_clear_error():
    with pytest.raises(SourceError, match="empty"):
        values_to_frame([])


def test_header_only_sheet_gives_no_rows(config):
    assert normalize(values_to_frame([list(HEADERS)]), config).empty
