"""Notices say the applicant's case in words written for them: from status, position, reason codes and the words
staff chose to send (message_to_team), never from the staff `reasons` text with its notes and names.

Plain functions over the pure pipeline (normalize → validate → dedupe → cutoff → overrides → score → select →
staff notes) and `decision_notices`; no store, no SMTP server, no Prefect.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from examples.generate import HEADERS, generate_rows
from schemas.columns import LIST_SEPARATOR, Col, Derived, ReasonCode, Status, check_code, required_code
from schemas.config import load_config
from schemas.suite import reason_codes_produced, row_checks
from tasks.notices import (
    KIND_FOR_STATUS,
    NoticeError,
    applicant_reasons,
    applicant_sentences,
    decision_notices,
    decision_version,
    header_text,
    render_notice,
)
from tasks.overrides import OverrideError, add_staff_notes, parse_overrides, with_extensions
from tasks.pipeline import PipelineInputs, run_pipeline
from tasks.select import STAFF_SELECTED
from tasks.sources import FileSource, values_to_frame
from tests.support.paths import CONFIG_PATH, EXAMPLE_PATH
from tests.support.rows import numbered_team
from tests.support.selection import run

DOMAIN = "example.org"
OVERRIDES_HEADER = ["team", "source_row", "action", "note", "by", "message_to_team"]
STAFF_NOTE, STAFF_NAME = "he sounded unsure on the phone", "Kim Staffwriter"
DECLINE_NOTE, DECLINE_NAME = "conflict of interest with the reviewer", "Jane Decider"
MESSAGE = "Please send your president's signed form <by June 15> & we will hold your place."
STAFF_WORDS = ("Staff note", "Declined by staff decision", "Staff asked", "points", "Waitlisted:", "Late:")


def small_config(**changes):
    """The bundled config with two seats, one team per state, no reserves and no rubric (order = submission)."""
    config = load_config(CONFIG_PATH)
    return config.model_copy(
        update={"capacity": 2, "max_per_state": 1, "reserved_seats": [], "rubric": [], "extensions": []} | changes
    )


def team(n: int, state: str, stamp: str, **more: str) -> list[str]:
    return numbered_team(n, state, **({"Timestamp": stamp} | more))


def key(n: int, state: str) -> str:
    return f"{state}:local {n} education association"


def decide(config, overrides, *rows: list[str]) -> pd.DataFrame:
    """The pure pipeline with overrides, as the select flow runs it."""
    return run(with_extensions(config, overrides), *rows, overrides=overrides)


# Each case: the team, and words its notice must hold (text; the HTML holds them escaped).
ROWS = [
    team(1, "OH", "6/1/2021 9:00:00"),  # selected
    team(2, "OH", "6/1/2021 9:01:00"),  # waitlisted: Ohio is at its cap of one
    team(3, "TX", "6/1/2021 9:02:00"),  # selected: the second and last seat
    team(4, "IL", "6/1/2021 9:03:00"),  # waitlisted: seats filled
    team(
        5,
        "CA",
        "6/1/2021 9:04:00",
        Has_your_local_president_approved_this_application="No",
        Can_your_team_commit_to_the_9_week_course_schedule="No",
    ),  # invalid, two checks
    team(6, "WA", "6/7/2021 10:05:00"),  # late
    team(7, "NV", "6/1/2021 9:06:00"),  # force-declined, with a note and a name
    team(8, "AZ", "6/1/2021 9:07:00"),  # a note and a message to the team; waitlisted: seats filled
]
OVERRIDES = parse_overrides(
    [
        OVERRIDES_HEADER,
        [key(7, "NV"), "", "force-decline", DECLINE_NOTE, DECLINE_NAME, ""],
        [key(8, "AZ"), "", "note", STAFF_NOTE, STAFF_NAME, MESSAGE],
    ]
)
EXPECTED = {
    2: ("waitlisted", ["in position 1", "at most 1 team from each state, and Ohio has reached that number"]),
    4: ("waitlisted", ["in position 2", "All 2 seats in the course have gone to teams whose applications ranked"]),
    5: (
        "not_selected",
        [
            "for these reasons",
            "Your local president's approval of the application was not confirmed (the form's answer was No).",
            "The application says your team cannot commit to the 9-week course schedule.",
        ],
    ),
    6: ("late", ["Your application arrived after the deadline (10:00:00 AM EDT on June 7, 2021)"]),
    7: ("not_selected", ["for this reason", "the program staff decided not to offer your team a place"]),
    8: ("waitlisted", ["in position 3", "All 2 seats in the course have gone", "A note from the program staff:"]),
}


def shown(markup: str) -> str:
    """HTML as a reader sees the words: tags out, entities read."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


@pytest.fixture(scope="module")
def decided() -> pd.DataFrame:
    return decide(small_config(), OVERRIDES, *ROWS)


@pytest.fixture(scope="module")
def notices(decided):
    made = decision_notices(decided, small_config(), DOMAIN)
    return {int(decided.loc[decided[Col.LEAD_EMAIL] == n.to, Col.SOURCE_ROW].iloc[0]) - 1: n for n in made}


def test_the_cases_get_the_statuses_and_codes_they_are_about(decided):
    got = decided.set_index(Col.SOURCE_ROW)
    codes = {n: got.loc[n + 1, Derived.REASON_CODES] for n in range(1, 9)}
    assert codes == {
        1: [ReasonCode.SELECTED],
        2: [ReasonCode.STATE_CAP],
        3: [ReasonCode.SELECTED],
        4: [ReasonCode.SEATS_FILLED],
        5: [check_code(Col.PRESIDENT_APPROVED), check_code(Col.COMMITMENT)],
        6: [ReasonCode.LATE],
        7: [ReasonCode.STAFF_DECLINED],
        8: [ReasonCode.SEATS_FILLED],
    }
    assert all(type(code) is str for value in codes.values() for code in value)  # plain text, as stored
    assert got.loc[9, Derived.MESSAGE_TO_TEAM] == MESSAGE
    assert (got.drop(index=9)[Derived.MESSAGE_TO_TEAM] == "").all()
    # The staff reasons keep every word, message included: decisions.csv is for staff.
    assert got.loc[8, Col.REASONS] == f"Declined by staff decision: {DECLINE_NOTE} ({DECLINE_NAME})"
    assert f"; Staff note: {STAFF_NOTE} ({STAFF_NAME})" in got.loc[9, Col.REASONS]
    assert got.loc[9, Col.REASONS].endswith(f"; Message to the team: {MESSAGE} ({STAFF_NAME})")


@pytest.mark.parametrize("n", sorted(EXPECTED))
def test_notices_say_the_applicants_case_and_never_the_staff_reasons(decided, notices, n):
    kind, wanted = EXPECTED[n]
    notice = notices[n]
    assert notice.kind == kind and not notice.refusal
    for words in wanted:
        assert words in notice.text, words
        assert words in shown(notice.html), words
    staff = decided.set_index(Col.SOURCE_ROW).loc[n + 1, Col.REASONS]
    forbidden = [*STAFF_WORDS, STAFF_NOTE, STAFF_NAME, DECLINE_NOTE, DECLINE_NAME, "Kim", "Jane"]
    forbidden += [part for part in staff.split(LIST_SEPARATOR) if part and part != f"Message to the team: {MESSAGE}"]
    for body in (notice.text, shown(notice.html), notice.subject):
        for words in forbidden:
            assert words not in body, (words, body)
    if n == 8:
        assert MESSAGE in notice.text
        assert "&lt;by June 15&gt; &amp; we will" in notice.html and "<by June 15>" not in notice.html
        assert f"A note from the program staff:\n{MESSAGE}\n" in notice.text
    else:
        assert "A note from the program staff" not in notice.text + notice.html


def test_a_staff_note_never_makes_a_new_notice_but_a_message_does():
    config = small_config()
    without = decision_notices(decide(config, [], *ROWS), config, DOMAIN)
    noted = parse_overrides([OVERRIDES_HEADER, [key(4, "IL"), "", "note", STAFF_NOTE, STAFF_NAME, ""]])
    with_note = decision_notices(decide(config, noted, *ROWS), config, DOMAIN)
    assert [(n.version, n.text) for n in with_note] == [(n.version, n.text) for n in without]
    told = parse_overrides([OVERRIDES_HEADER, [key(4, "IL"), "", "message", "", "", "Call us."]])
    with_message = {n.to: n for n in decision_notices(decide(config, told, *ROWS), config, DOMAIN)}
    for n in without:
        changed = with_message[n.to].version != n.version
        assert changed == (n.to == "lead4@local4.example.org")


def test_decision_versions_hash_the_applicants_facts():
    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    assert decision_version(Status.SELECTED, 4, [ReasonCode.SELECTED]) == sha("selected")
    assert decision_version(Status.SELECTED, 9, [ReasonCode.SELECTED, ReasonCode.RESERVED_SEAT]) == sha("selected")
    assert decision_version(Status.WAITLISTED, 3, [ReasonCode.STATE_CAP]) == sha("waitlisted|3")
    assert decision_version(Status.WAITLISTED, 3, [ReasonCode.SEATS_FILLED]) == sha("waitlisted|3")
    two = [check_code(Col.STATE), check_code(Col.LEAD_EMAIL)]
    assert decision_version(Status.INVALID, None, two) == decision_version(Status.INVALID, None, two[::-1])
    assert decision_version(Status.INVALID, None, two) != decision_version(Status.INVALID, None, two[:1])
    assert decision_version(Status.SELECTED, 1, [], "Welcome!") != sha("selected")


def test_every_code_the_pipeline_can_produce_has_a_sentence_and_no_sentence_is_stale():
    sentences = applicant_sentences()
    assert reason_codes_produced() == set(sentences)
    facts = {"state": "Ohio", "reserve": "Higher Education", "capacity": 20, "max_per_state": 2}
    facts |= {"deadline": "10:00:00 AM EDT on June 7, 2021", "team_size": {"min": 2, "max": 5}}
    facts |= {"program": "P", "cohort": "2021"}
    for code, said in zip(sorted(sentences), applicant_reasons(sorted(sentences), facts), strict=True):
        assert said.endswith(".") and "{" not in said and "  " not in said, code
    assert {check.code for check in row_checks(2, 5)} >= {required_code(Col.LEAD_EMAIL), check_code(Col.TEAM_SIZE)}


def test_a_code_without_a_sentence_stops_the_dry_run(decided):
    broken = decided.copy()
    broken[Derived.REASON_CODES] = broken[Derived.REASON_CODES].map(lambda codes: [*codes, "check:made_up"])
    with pytest.raises(NoticeError, match="reason code 'check:made_up' has no sentence for the applicant"):
        decision_notices(broken, small_config(), DOMAIN)


def test_a_decision_recorded_without_codes_still_gets_words_for_the_applicant(decided):
    """A selection frozen before decisions had codes cannot be recorded again: its regrets are said generally."""
    old = decision_notices(decided.drop(columns=[Derived.REASON_CODES]), small_config(), DOMAIN)
    now = decision_notices(decided, small_config(), DOMAIN)
    for before, after in zip(old, now, strict=True):
        assert (before.kind, before.to) == (after.kind, after.to)
        if before.kind == "not_selected":
            assert "did not meet the requirements of this call for applications" in before.text
        elif before.kind == "waitlisted":
            assert before.version == after.version and "in position" in before.text and "\n\n\n" not in before.text
        else:
            assert (before.version, before.text) == (after.version, after.text)


def test_every_decision_and_lifecycle_notice_shows_the_message_to_the_team(decided):
    one = decided[decided[Col.STATUS] == Status.SELECTED].head(1)
    rows = []
    for n, status in enumerate(KIND_FOR_STATUS):
        made = one.copy()
        made[Col.STATUS] = status
        made[Col.SOURCE_ROW] = 100 + n
        made[Derived.TEAM_KEY] = f"OH:team {n}"
        made[Col.LEAD_EMAIL] = f"lead{n}@example.org"
        made[Derived.REASON_CODES] = [[ReasonCode.LATE if status == Status.LATE else check_code(Col.STATE)]]
        made[Derived.RESPOND_BY] = pd.Timestamp("2021-07-01T12:00:00Z")
        made[Derived.MESSAGE_TO_TEAM] = "Line one <b>\nLine two"
        rows.append(made)
    made = decision_notices(pd.concat(rows, ignore_index=True), small_config(), DOMAIN)
    assert sorted(n.kind for n in made) == sorted(str(k) for k in KIND_FOR_STATUS.values())
    for notice in made:
        assert "A note from the program staff:\nLine one <b>\nLine two\n" in notice.text, notice.kind
        assert "A note from the program staff:</strong><br>\nLine one &lt;b&gt;<br>\nLine two</p>" in notice.html


def test_message_to_team_column_and_the_message_action():
    got = parse_overrides(
        [
            ["team", "action", "note", "by", "message_to_team"],
            ["OH:a", "message", "", "Kim", "  See you soon.  "],
            ["OH:a", "force-select", "board", "Kim", "Welcome aboard."],
            ["OH:b", "note", "no message", "Lee"],
        ]
    )
    assert [(o.action, o.message_to_team) for o in got] == [
        ("message", "See you soon."),
        ("force-select", "Welcome aboard."),
        ("note", ""),
    ]
    with pytest.raises(OverrideError, match="row 2: a `message` row needs the words in `message_to_team`"):
        parse_overrides([["team", "action", "message_to_team"], ["OH:a", "message", ""]])
    frame = pd.DataFrame({Col.SOURCE_ROW: [2, 3], Derived.TEAM_KEY: ["OH:a", "OH:b"], Col.REASONS: ["x", "y"]})
    noted = add_staff_notes(frame, got)
    assert noted[Derived.MESSAGE_TO_TEAM].tolist() == ["See you soon.\n\nWelcome aboard.", ""]


def test_reason_codes_and_staff_reasons_always_name_the_same_facts():
    """Over seeded synthetic sheets (invalid, late, duplicate rows) and the bundled example."""
    config = load_config(CONFIG_PATH)
    sheets = [values_to_frame([list(HEADERS), *generate_rows(120, seed)]) for seed in (3, 11)]
    sheets.append(values_to_frame(FileSource(EXAMPLE_PATH).read_values()))
    for raw in sheets:
        out = run_pipeline(raw, PipelineInputs(config))
        for got in out.to_dict(orient="records"):
            codes, reasons, status = got[Derived.REASON_CODES], got[Col.REASONS], got[Col.STATUS]
            if status == Status.INVALID:
                assert len(codes) == len(reasons.split(LIST_SEPARATOR)) and all(c.startswith("check:") for c in codes)
            elif status == Status.LATE:
                assert codes == [ReasonCode.LATE] and reasons.startswith("Late: ")
            elif status == Status.WAITLISTED:
                capped = reasons.startswith("Waitlisted: ") and "(the limit per state)" in reasons
                assert codes == [ReasonCode.STATE_CAP if capped else ReasonCode.SEATS_FILLED]
            elif status == Status.SELECTED:
                held = {"": [], STAFF_SELECTED: [ReasonCode.STAFF_SELECTED]}.get(
                    got[Derived.RESERVED_SEAT], [ReasonCode.RESERVED_SEAT]
                )
                assert codes == [ReasonCode.SELECTED, *held]
                assert ("(reserved seat: " in reasons) == bool(held)


# ------------------------------------------------------------------------------ header text from answers

SEPARATORS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00\t\u200e\u202a\u202e\u2066\u2069\ufeff =?é"
NAMED_SUBJECTS = {kind: kind + ": {{ team.local_name }} ({{ team.state }})" for kind in KIND_FOR_STATUS.values()}


@pytest.fixture(scope="module")
def one_of_each(decided) -> pd.DataFrame:
    """A team of every decision and lifecycle status, for subjects made from a local name."""
    rows = []
    for n, status in enumerate(KIND_FOR_STATUS):
        made = decided[decided[Col.STATUS] == Status.SELECTED].head(1).copy()
        made[[Col.STATUS, Col.SOURCE_ROW, Derived.TEAM_KEY]] = [status, 100 + n, f"OH:team {n}"]
        made[Derived.REASON_CODES] = [[ReasonCode.LATE if status == Status.LATE else check_code(Col.STATE)]]
        made[Derived.RESPOND_BY] = pd.Timestamp("2021-07-01T12:00:00Z")
        rows.append(made)
    return pd.concat(rows, ignore_index=True)


def named_config():
    config = small_config()
    return config.model_copy(
        update={"notices": config.notices.model_copy(update={"subjects": config.notices.subjects | NAMED_SUBJECTS})}
    )


def test_a_line_break_or_separator_in_an_answer_is_taken_out_of_the_subject(one_of_each):
    teams = one_of_each.copy()
    teams[Col.LOCAL_NAME] = "Local 1\r\nBcc: evil@attacker.example\u2028Troy\x0bEA \u202eX\u202c"
    made = decision_notices(teams, named_config(), DOMAIN)
    assert all(not n.refusal and n.payload for n in made)
    assert {n.subject.split(": ", 1)[1] for n in made} == {"Local 1 Bcc: evil@attacker.example Troy EA X (Ohio)"}


def test_header_text_removes_runs_of_separators_and_controls():
    assert header_text("  a\r\n\r\nb \u2029 c\x85d\u200fe  ") == "a b c d e"
    assert header_text("Dana 👩\u200d🏫") == "Dana 👩\u200d🏫"  # a joiner shapes the emoji: kept
    assert header_text("plain") == "plain"
    context = {"person": {"name": "A", "local": "B"}, "program": "P", "course": {"summary": "S"}, "reply_to": "r@x"}
    context["unsubscribe"] = ""  # a call without a reply form
    subject, _, _ = render_notice("interest", context | {"x": "a\u2028b\n"}, "{{ x }} {{ person.name }}")
    assert subject == "a b A"


def test_an_encoded_word_in_an_answer_cannot_forge_a_header(one_of_each):
    """Python decodes RFC 2047 encoded words in a header value it is given: `=?…?=` would bring back the CR/LF."""
    teams = one_of_each.copy()
    teams[Col.LOCAL_NAME] = "=?utf-8?q?Local=0D=0ABcc:_evil@attacker.example?="
    for notice in decision_notices(teams, named_config(), DOMAIN):
        head = notice.payload.split(b"\r\n\r\n", 1)[0]
        assert b"\r\nBcc" not in head and b"attacker" in head
        parsed = email.message_from_bytes(notice.payload, policy=email.policy.default)
        assert "Bcc" not in parsed and "\n" not in parsed["Subject"]


def test_spaces_between_words_sent_as_encoded_words_survive_folding(one_of_each):
    teams = one_of_each.copy()
    for pad in range(0, 60, 3):
        teams[Col.LOCAL_NAME] = "x" * pad + " Asociación Educación Pública de Puerto Rico"
        for notice in decision_notices(teams, named_config(), DOMAIN):
            parsed = email.message_from_bytes(notice.payload, policy=email.policy.default)["Subject"]
            assert same_words(parsed) == same_words(notice.subject)
            assert "Educación\u00a0Pública de Puerto Rico" in notice.subject


def same_words(subject: str) -> str:
    """The subject as a reader sees it. Python's folder, folding at a space next to an encoded word, can keep that
    space and add the fold's (a doubled space) or, with SMTPUTF8, start the value on the next line (a leading
    space): runs of spaces count as one, and the ends are stripped. A lost space would still show."""
    return re.sub(" +", " ", subject).strip()


@pytest.mark.no_cover  # many examples over lines the example tests cover: not traced
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(SEPARATORS), max_size=120))
@example(name="Local\r\n1")
@example(name="\u2028")
@example(name="x" * 200 + "\x1e" + "é" * 60)
@example(name="𝐓𝐡𝐞 𝐪𝐮𝐢𝐜𝐤 𝐛𝐫𝐨𝐰𝐧 𝐟𝐨𝐱 𝐣𝐮𝐦𝐩𝐬 𝐨𝐯𝐞𝐫 𝐭𝐡𝐞 𝐥𝐚𝐳𝐲 𝐝𝐨𝐠")
def test_any_local_name_gives_notices_whose_subject_survives_the_wire(one_of_each, name):
    teams = one_of_each.copy()
    teams[Col.LOCAL_NAME] = name
    for notice in decision_notices(teams, named_config(), DOMAIN):
        assert not notice.refusal and notice.payload
        parsed = email.message_from_bytes(notice.payload, policy=email.policy.default)
        assert not any(ch in parsed["Subject"] for ch in "\r\n")
        assert same_words(parsed["Subject"]) == same_words(notice.subject)
        assert notice.subject == header_text(notice.subject)
        assert email.message_from_bytes(notice.payload).keys() == parsed.keys()
