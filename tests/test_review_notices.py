"""The reviewers' notices end to end under the session's Prefect test server, with a real SMTP server and a SQLite
ledger: each reviewer is told once (with their workbook attached), told again only when their assignment changed,
and reminded at most once a day, before the due moment, only while told and with applications unscored."""

from __future__ import annotations

import io
import re
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest

from flows.review import review_assign
from flows.send_notices import send_notices
from schemas.ledger import RunKind
from schemas.review import ASSIGNMENTS_FILE, REVIEW_SHEET, AssignCol
from tasks.review_files import reviewer_file
from tasks.review_notices import assignment_version, scale_words
from tests.support.review import AFTER, ROSTER, fill_reviews, review_cohort, review_config
from tests.support.smtp import SmtpServer

PROGRAM = "ESPs: Supporting Our Own Through Peer Mentoring"


def test_scales_read_as_words_and_versions_ignore_order():
    vision, readiness = review_config().criteria
    assert scale_words(vision) == "1, 2, 3, 4 or 5"
    assert scale_words(readiness) == "0 to 10 in steps of 0.5"
    due = review_config().due_moment(ZoneInfo("America/New_York"))
    assert assignment_version(["b", "a"], due) == assignment_version(["a", "b"], due)
    assert assignment_version(["a"], due) != assignment_version(["a", "b"], due)


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def round_folder(prefect_server, tmp_path, smtp):
    config = review_cohort(tmp_path, smtp_port=smtp.port)
    state = review_assign(config_path=config, return_state=True)
    assert state.is_completed(), state.message
    return tmp_path, config


def _send(config: str, folder, kind: RunKind, as_of: str = AFTER, *, send: bool = True):
    state = send_notices(
        config_path=config,
        out_dir=str(folder / "outbox"),
        send=send,
        kind=kind,
        as_of=as_of,
        require_approval=False,
        return_state=True,
    )
    assert state.is_completed(), state.message
    return state


def _loads(folder) -> dict[str, int]:
    assignments = pd.read_csv(folder / "review" / ASSIGNMENTS_FILE)
    return assignments[AssignCol.REVIEWER_EMAIL].value_counts().to_dict()


def test_each_reviewer_is_told_once_with_their_own_workbook(round_folder, smtp):
    folder, config = round_folder
    dry = _send(config, folder, RunKind.REVIEW_ASSIGNMENTS, send=False)
    assert dry.message.startswith("dry run: 8 would send") and smtp.received == []

    _send(config, folder, RunKind.REVIEW_ASSIGNMENTS)
    loads = _loads(folder)
    by_to = {m.message["To"]: m.message for m in smtp.received}
    assert len(smtp.received) == 8 and set(by_to) == {email for _, email, *_ in ROSTER}
    names = {email: name for name, email, *_ in ROSTER}
    for email, message in by_to.items():
        assert message["Subject"] == f"Your review assignment: {loads[email]} applications ({PROGRAM}, 2021)"
        text = message.get_body(("plain",)).get_content()
        assert text.startswith(f"Dear {names[email]},")
        assert f"{loads[email]} applications are assigned to you" in text
        assert "by 5:00:00 PM EDT on June 14, 2021" in text
        assert "- vision (1, 2, 3, 4 or 5): How clear is the reason?" in text
        others = {other for other in names if other != email}
        assert not any(other in message.as_string() for other in others)  # no other reviewer's address
        (attached,) = list(message.iter_attachments())
        assert attached.get_filename() == reviewer_file(folder / "review", email).name
        sheet = openpyxl.load_workbook(io.BytesIO(attached.get_content()), read_only=True)[REVIEW_SHEET]
        assert sheet.max_row - 1 == loads[email]

    _send(config, folder, RunKind.REVIEW_ASSIGNMENTS)  # a second send: nobody is told twice
    assert len(smtp.received) == 8

    # A late change: one reviewer leaves the roster, the assignment runs again, and only the reviewers whose teams
    # changed are told again (each once).
    before = pd.read_csv(folder / "review" / ASSIGNMENTS_FILE).groupby(AssignCol.REVIEWER_EMAIL)[AssignCol.TEAM_KEY]
    before_keys = {email: set(keys) for email, keys in before}
    roster = pd.read_csv(folder / "reviewers.csv", dtype=str, keep_default_na=False)
    roster[roster["email"] != "hal@nea.example.org"].to_csv(folder / "reviewers.csv", index=False)
    assert review_assign(config_path=config, return_state=True).is_completed()
    after = pd.read_csv(folder / "review" / ASSIGNMENTS_FILE).groupby(AssignCol.REVIEWER_EMAIL)[AssignCol.TEAM_KEY]
    changed = {email for email, keys in after if set(keys) != before_keys[email]}
    assert changed  # hal's 11 or 12 teams went to others
    _send(config, folder, RunKind.REVIEW_ASSIGNMENTS)
    again = [m.message["To"] for m in smtp.received[8:]]
    assert sorted(again) == sorted(changed)


def test_reminders_go_once_a_day_only_to_told_reviewers_with_unscored_applications(round_folder, smtp):
    folder, config = round_folder
    assignments = pd.read_csv(folder / "review" / ASSIGNMENTS_FILE)
    team, late = assignments.iloc[0][[AssignCol.TEAM_KEY, AssignCol.REVIEWER_EMAIL]]

    _send(config, folder, RunKind.REVIEW_REMINDERS)  # nobody told yet: nobody reminded, though nothing is scored
    assert smtp.received == []
    _send(config, folder, RunKind.REVIEW_ASSIGNMENTS)
    assert len(smtp.received) == 8

    fill_reviews(folder, skip=(team, reviewer_file(folder / "review", late).stem))
    _send(config, folder, RunKind.REVIEW_REMINDERS, "2021-06-09 09:00")
    reminders = smtp.received[8:]
    assert [m.message["To"] for m in reminders] == [late]
    text = reminders[0].message.get_body(("plain",)).get_content()
    assert re.search(rf"A reminder: 1 of your {_loads(folder)[late]} applications", text)
    assert "Reviews are due by 5:00:00 PM EDT on June 14, 2021" in text

    _send(config, folder, RunKind.REVIEW_REMINDERS, "2021-06-09 15:00")  # the same day: not again
    assert len(smtp.received) == 9
    _send(config, folder, RunKind.REVIEW_REMINDERS, "2021-06-10 09:00")  # the next day: once more
    assert [m.message["To"] for m in smtp.received[9:]] == [late]
    _send(config, folder, RunKind.REVIEW_REMINDERS, "2021-06-14 17:00")  # due: no reminder any more
    assert len(smtp.received) == 10

    fill_reviews(folder)  # the last score written: nobody is reminded
    _send(config, folder, RunKind.REVIEW_REMINDERS, "2021-06-11 09:00")
    assert len(smtp.received) == 10
