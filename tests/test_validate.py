"""Validation: each check's plain-words reason, and failing rows kept as invalid."""

from __future__ import annotations

import pytest

from schemas.columns import Col, Status
from tasks.normalize import normalize
from tasks.validate import is_valid_address, summarize_intake, validate
from tests.support.rows import raw_frame, row


def _reasons(config, **changes) -> str:
    frame = validate(normalize(raw_frame(row(**changes)), config), config)
    return frame.loc[0, Col.REASONS]


def test_good_row_is_valid(config):
    frame = validate(normalize(raw_frame(row()), config), config)
    assert frame.loc[0, Col.STATUS] == Status.VALID
    assert frame.loc[0, Col.REASONS] == ""


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"Team_lead_email": "jane@"}, "Team lead email is not a valid address: 'jane@'"),
        ({"Team_lead_email": ""}, "Team lead email is missing"),
        ({"Email_Address": "a@b.org\r\nBcc: x@evil.org"}, "Submitter email is not a valid address"),
        ({"Team_member_2_email": "luis@@x"}, "Team member email is not a valid address: 'luis@@x'"),
        ({"State": "Narnia"}, "State is not a US state or territory: 'Narnia'"),
        ({"State": ""}, "State is missing"),
        ({"Local_Association_name": "  "}, "Local association name is missing"),
        ({"Timestamp": "June 7"}, "Timestamp is not a date and time the form writes (M/D/YYYY H:MM:SS): 'June 7'"),
        ({"Timestamp": ""}, "Timestamp is missing"),
        ({"Team_member_2_name": ""}, "Team size must be 2 to 5 people (the lead plus team members): it has 1"),
        ({"Has_your_local_president_approved_this_application": "No"}, "local president has not approved"),
        ({"Has_your_local_president_approved_this_application": ""}, "President approval is missing"),
        ({"Can_your_team_commit_to_the_9_week_course_schedule": "No"}, "cannot commit to the 9-week"),
        ({"ESP_job_families_represented_on_the_team": ""}, "ESP job families is missing"),
        ({"ESP_job_families_represented_on_the_team": "Food Services, Chefs"}, "not ESP career families: Chefs"),
    ],
)
def test_each_check_gives_its_reason(config, changes, reason):
    assert reason in _reasons(config, **changes)


def test_several_failures_are_all_listed_and_the_row_kept(config):
    frame = validate(
        normalize(raw_frame(row(), row(Team_lead_email="jane@", State="Narnia"), row()), config),
        config,
    )
    assert len(frame) == 3
    assert frame[Col.STATUS].tolist() == [Status.VALID, Status.INVALID, Status.VALID]
    assert frame.loc[1, Col.REASONS] == (
        "State is not a US state or territory: 'Narnia'; Team lead email is not a valid address: 'jane@'"
    )


def test_long_values_are_cut_in_reasons(config):
    reason = _reasons(config, State="X" * 5000)
    assert len(reason) < 200


def test_address_checks():
    assert is_valid_address("dana@troyea.example.org")
    assert not is_valid_address("dana@troyea.example.org\n")
    assert not is_valid_address("a@b.org, c@d.org")
    assert not is_valid_address("jane@")


def test_summary_counts_by_reason(config):
    frame = validate(
        normalize(raw_frame(row(), row(Team_lead_email="a@"), row(Team_lead_email="b@", State="Narnia")), config),
        config,
    )
    summary = summarize_intake(frame)
    assert (summary.rows_read, summary.valid, summary.invalid) == (3, 1, 2)
    assert summary.invalid_by_reason == {
        "Team lead email is not a valid address": 2,
        "State is not a US state or territory": 1,
    }
    assert "Invalid:   2" in summary.as_text()


def test_empty_frame_validates_to_empty(config):
    frame = normalize(raw_frame(), config)
    assert validate(frame, config).empty
