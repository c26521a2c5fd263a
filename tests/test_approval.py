"""What staff read before approving a send (every message that goes and every one held back, recipients masked, one
message of each kind, the counts the Resume form repeats) and the words a send ends with; without Prefect."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from schemas.columns import Kind
from schemas.ledger import ApprovalCol, ApprovalOutcome, LedgerState, RunKind
from tasks.approval import (
    ApprovalAnswer,
    approval_counts,
    mask_address,
    mask_name,
    mask_people,
    mask_text,
    outcome,
    outcome_run_name,
    resume_description,
    review,
    samples_markdown,
)
from tasks.audit import audit_trail
from tasks.ledger import DeliveryReport, sync_ledger
from tasks.messages import Notice
from tasks.notices import NoticePlan, kinds_of
from tasks.outbox import for_review
from tasks.store import open_store, record_approval
from tests.support.configs import make_config

PROGRAM = "esp-mentoring@example.org"
LOCAL = st.from_regex(r"[A-Za-z0-9._%+-]{1,24}", fullmatch=True)
DOMAIN = st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){0,3}", fullmatch=True)
PROSE = st.text(st.characters(blacklist_characters="@", blacklist_categories=("Cs",)), max_size=40)


# ---------------------------------------------------------------------------- masking


def test_an_address_keeps_the_first_letter_of_its_local_part_and_its_domain():
    assert mask_address("jane.doe@fairviewea.example.org") == "j***@fairviewea.example.org"
    assert mask_address("  zoë@example.org ") == "z***@example.org"
    assert mask_address("jane@") == "j***@"  # the bundled example's unusable address
    assert mask_address("lead@x.org\r\nBcc: victim@y.org") == "l***@y.org"  # all before the last @ is hidden
    assert mask_address("") == "" and mask_address("no address") == "n***"


@given(local=st.text(st.characters(blacklist_characters="@", blacklist_categories=("Cs",)), min_size=1), domain=DOMAIN)
def test_a_masked_address_shows_nothing_of_its_local_part_beyond_its_first_character(local, domain):
    local = local.strip()
    masked = mask_address(f"{local}@{domain}")
    shown, at, kept = masked.rpartition("@")
    assert at and kept == domain
    assert shown == local[:1] + "***"


@given(before=PROSE, local=LOCAL, domain=DOMAIN, after=PROSE)
def test_an_address_in_text_is_masked_and_the_programs_own_is_kept(before, local, domain, after):
    address = f"{local}@{domain}"
    text = f"{before} <{address}>, write to {PROGRAM}. {after}"
    masked = mask_text(text, keep=[PROGRAM])
    assert f"<{mask_address(address)}>" in masked
    assert PROGRAM in masked
    if len(local) > 1:
        assert address not in masked
    assert masked.replace(f"<{mask_address(address)}>", f"<{address}>") == text  # nothing else changed


def test_a_name_keeps_the_first_letter_of_each_word():
    assert mask_name("Dana  Whitfield") == "D*** W***"
    text = "Dear Dana Whitfield,\nShare this with your team (Sam Ortiz, Lee).\nDana, reply by June 1. Danaë"
    assert mask_people(text, ["Dana Whitfield", "Sam Ortiz", "Lee", ""]) == (
        "Dear D*** W***,\nShare this with your team (S*** O***, L***).\nD***, reply by June 1. Danaë"
    )
    assert mask_people("Dear colleague,", []) == "Dear colleague,"


NAME_WORD = st.from_regex(r"[A-Z][a-zà-ÿ'-]{1,12}", fullmatch=True)


@given(names=st.lists(st.lists(NAME_WORD, min_size=1, max_size=3).map(" ".join), min_size=1, max_size=4), pad=PROSE)
def test_no_word_of_a_masked_name_is_left_in_the_text(names, pad):
    text = f"Dear {names[0]},\n{pad}\nYour team: {', '.join(names)}. {names[0].split()[0]}, reply soon."
    masked = mask_people(text, names)
    for word in {w for name in names for w in name.split()}:
        assert not re.search(rf"(?<!\w){re.escape(word)}(?!\w)", masked.replace(pad, "")), word


# ---------------------------------------------------------------------------- the review of a send


def _notice(applicant: str, kind: str, to: str, *, refusal: str = "", cc: str = "", version: str = "1") -> Notice:
    lead = to.partition("@")[0].replace(".", " ").title()
    return Notice(
        applicant=applicant,
        kind=kind,
        version=version,
        to=to,
        cc=cc,
        subject=f"Your {kind} notice",
        text=f"Dear lead {lead},\n\nThis goes to {to}. Reply to {PROGRAM}.\n```not markdown```\n",
        html="<p>html</p>",
        message_id=f"<{applicant}-{kind}@example.org>",
        refusal=refusal,
        people=[lead],
    )


WAITING = [
    _notice("NY:troy education association", Kind.SELECTED, "dana.whitfield@troyea.example.org", cc="sam@troy.org"),
    _notice("MA:fairview education association", Kind.WAITLISTED, "jo.reyes@fairviewea.example.org"),
    _notice("OH:akron education association", Kind.SELECTED, "pat.kim@akronea.example.org"),
    _notice(
        "TX:waco education association",
        Kind.NOT_SELECTED,
        "jane@",
        refusal="recipient is not a valid address: 'jane@'",
    ),
    _notice("row:17", Kind.NOT_SELECTED, "lee.moss@example.net"),
    _notice("IL:peoria education association", Kind.SELECTED, "max.ortiz@peoriaea.example.org", version="2"),
]


def test_the_review_lists_refused_notices_first_with_their_reasons_and_counts_what_goes_by_kind():
    held = {("IL:peoria education association", Kind.SELECTED, "2"): "another run is sending it now"}
    found = review(WAITING, held, keep=[PROGRAM], outbox="/srv/out/outbox on host")
    assert found.going == {Kind.SELECTED: 2, Kind.WAITLISTED: 1, Kind.NOT_SELECTED: 1}
    assert found.refused == 2 and found.would_send == 4
    first, second, *going = found.rows
    assert first == {
        ApprovalCol.TEAM: "TX:waco education association",
        ApprovalCol.STATE: "TX",
        ApprovalCol.KIND: Kind.NOT_SELECTED,
        ApprovalCol.SUBJECT: "Your not_selected notice",
        ApprovalCol.RECIPIENT: "j***@",
        ApprovalCol.CC: "",
        ApprovalCol.REFUSED_BECAUSE: "recipient is not a valid address: 'j***@'",
    }
    assert second[ApprovalCol.REFUSED_BECAUSE] == "another run is sending it now"
    assert [row[ApprovalCol.RECIPIENT] for row in going] == [
        "d***@troyea.example.org",
        "j***@fairviewea.example.org",
        "p***@akronea.example.org",
        "l***@example.net",
    ]
    assert going[0][ApprovalCol.CC] == "s***@troy.org" and going[0][ApprovalCol.STATE] == "NY"
    assert going[3][ApprovalCol.STATE] == "" and all(row[ApprovalCol.REFUSED_BECAUSE] == "" for row in going)
    assert [sample.kind for sample in found.samples] == [Kind.SELECTED, Kind.WAITLISTED, Kind.NOT_SELECTED]


def test_no_applicant_address_or_name_reaches_the_table_or_the_samples():
    found = review(WAITING, {}, keep=[PROGRAM])
    shown = str(found.rows) + samples_markdown(found)
    for notice in WAITING:
        for address in filter(None, (notice.to, notice.cc)):
            assert address not in shown, address
        for name in notice.people:
            assert name not in shown, name
    assert "Dear lead D*** W***," in shown
    assert PROGRAM in shown  # the program's own address, which the notices give for replies


def test_the_samples_show_one_message_of_each_kind_as_text():
    found = review(WAITING, {}, keep=[PROGRAM], outbox="/srv/out/outbox on host")
    markdown = samples_markdown(found)
    assert "Approve sending 5 notices: 3 selected, 1 waitlisted, 1 not selected. Refused: 1." in markdown
    assert "/srv/out/outbox on host" in markdown
    assert [line for line in markdown.splitlines() if line.startswith("### ")] == [
        "### selected (3 notices)",
        "### waitlisted (1 notice)",
        "### not selected (1 notice)",
    ]
    assert "To: d***@troyea.example.org\nCc: s***@troy.org\nSubject: Your selected notice" in markdown
    assert "This goes to d***@troyea.example.org. Reply to esp-mentoring@example.org." in markdown
    assert "````text\n" in markdown  # a fence longer than the body's own backticks: the body stays text
    assert markdown.count("Dear lead") == 3


def test_the_resume_form_repeats_the_counts_and_the_refused():
    found = review(WAITING, {}, keep=[PROGRAM])
    assert approval_counts(found) == "Approve sending 5 notices: 3 selected, 1 waitlisted, 1 not selected. Refused: 1."
    description = resume_description(found)
    assert description.startswith(
        "**Approve sending 5 notices: 3 selected, 1 waitlisted, 1 not selected. Refused: 1.**"
    )
    assert "`notices-for-approval`" in description and "`notice-samples`" in description
    assert "Give your name" in description
    nothing = review([], {})
    assert approval_counts(nothing) == "Nothing to send: every notice of this run has gone out already. Refused: 0."


def test_the_ledger_holds_back_unknown_notices_unless_resent_and_names_the_refused(tmp_path):
    """A notice left unknown by a cut-off run goes only with resend_unknown; a sent one is not listed; a notice the
    ledger recorded as refused is named with its words."""
    config, _ = make_config(tmp_path, 25)
    engine = open_store(config.database_url)
    unknown, sent, refused, new = (
        _notice(f"OH:local {i} education association", Kind.SELECTED, f"lead{i}@local{i}.example.org")
        for i in range(1, 5)
    )
    sync_ledger(engine, config.cohort_id, [unknown, sent, refused], kinds_of(RunKind.DECISIONS))
    with engine.begin() as conn:
        for notice, state, error in (
            (unknown, LedgerState.UNKNOWN, "the run stopped between sending and recording"),
            (sent, LedgerState.SENT, ""),
            (refused, LedgerState.REFUSED, "the course started on July 12 2021"),
        ):
            conn.exec_driver_sql(
                "UPDATE notices SET state = ?, last_error = ? WHERE applicant = ?", (state, error, notice.applicant)
            )
    plan = NoticePlan(run=RunKind.DECISIONS, selection_id=1, actions_seq=0, notices=[unknown, sent, refused, new])
    found = for_review(engine, config, plan, resend_unknown=False)
    why = {row[ApprovalCol.TEAM]: row[ApprovalCol.REFUSED_BECAUSE] for row in found.rows}
    assert list(why) == [unknown.applicant, refused.applicant, new.applicant]  # the sent one is not listed
    assert why[unknown.applicant].endswith("resent only with resend_unknown")
    assert why[refused.applicant] == "the ledger holds it as refused: the course started on July 12 2021"
    assert why[new.applicant] == "" and found.would_send == 1
    again = for_review(engine, config, plan, resend_unknown=True)
    assert again.would_send == 2 and again.refused == 1


# ---------------------------------------------------------------------------- how a send ends


def _report(*, dry_run: bool, sent: dict[str, int] | None = None, problems: list[str] | None = None):
    sent = sent or {}
    return DeliveryReport(
        dry_run=dry_run,
        counts={},
        failed=[],
        unknown=[],
        refused=[],
        sent_by_this_run=sum(sent.values()),
        sent_by_kind=sent,
        problems=problems or [],
    )


def test_the_outcome_says_what_the_send_did():
    found = review(WAITING, {}, keep=[PROGRAM])
    dry = outcome(found, _report(dry_run=True), None)
    assert dry.headline == "dry run: 5 would send"
    assert dry.message == "dry run: 5 would send: 3 selected, 1 waitlisted, 1 not selected; refused: 1"
    rejected = ApprovalAnswer(outcome=ApprovalOutcome.REJECTED, approver="Dana Reyes", note="wrong list")
    said = outcome(found, _report(dry_run=True), rejected)
    assert said.headline == "rejected: nothing sent"
    assert said.message == "rejected: nothing sent (5 waiting by Dana Reyes); refused: 1"
    timed_out = ApprovalAnswer(outcome=ApprovalOutcome.TIMED_OUT, note="no answer within 3 seconds")
    assert outcome(found, _report(dry_run=True), timed_out).headline == "timed out: nothing sent"
    approved = ApprovalAnswer(outcome=ApprovalOutcome.APPROVED, approver="Dana Reyes")
    sent = {Kind.WAITLISTED: 1, Kind.SELECTED: 2, Kind.NOT_SELECTED: 1}
    done = outcome(found, _report(dry_run=False, sent=sent, problems=["1 notices failed (see the list)"]), approved)
    assert done.headline == "sent 4"
    assert done.message == (
        "sent 4: 2 selected, 1 waitlisted, 1 not selected; refused: 1; 1 notices failed (see the list)"
    )
    nothing = outcome(review([], {}), _report(dry_run=False), None)
    assert nothing.headline == "nothing to send"
    assert nothing.message == "nothing to send: every notice of this run has gone out already"
    held = review(WAITING[3:4], {}, keep=[PROGRAM])  # the one notice left is refused
    assert outcome(held, _report(dry_run=False), None).message.endswith("gone out already; refused: 1")


def test_the_run_name_ends_with_the_outcome():
    assert outcome_run_name("esp-2021 decisions", "sent 50") == "esp-2021 decisions: sent 50"
    assert outcome_run_name("", "sent 50") == "sent 50"


# ---------------------------------------------------------------------------- the audit


def test_the_audit_names_who_answered(tmp_path):
    config, _ = make_config(tmp_path, 25)
    engine = open_store(config.database_url)
    cohort = config.cohort_id
    record_approval(engine, cohort, "decisions", "run-1", ApprovalOutcome.REJECTED, "wrong list", "Dana Reyes")
    record_approval(engine, cohort, "decisions", "run-2", ApprovalOutcome.TIMED_OUT, "no answer within 60 seconds")
    record_approval(engine, cohort, "interest", "run-3", ApprovalOutcome.APPROVED, "")  # before names were asked
    trail = audit_trail(engine, cohort)
    actors = trail.loc[trail["event"].str.startswith("approval of"), "actor"].tolist()
    assert actors == [
        "Dana Reyes, in Prefect flow run run-1",
        "no answer, in Prefect flow run run-2",
        "staff, in Prefect flow run run-3",
    ]
    assert not any(re.search(r"\bnan\b|None", actor) for actor in actors)
