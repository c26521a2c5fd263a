"""Notices: from the latest recorded selection (or the interest list) to an outbox, staff approval, SMTP."""

from __future__ import annotations

import asyncio
from typing import Annotated, cast
from uuid import UUID

import anyio
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput, keyset_from_paused_state
from prefect.input.actions import aread_flow_run_input
from prefect.runtime import flow_run
from prefect.states import Completed, Paused, Running
from prefect.utilities.engine import propose_state
from pydantic import Field, StringConstraints

from flows.runs import run_name, send_name, staff_failures
from flows.steps import (
    as_of_task,
    check_not_purged_task,
    check_notice_record_task,
    check_output_folder_task,
    check_smtp_task,
    deliver_task,
    load_config_task,
    notify_by_task,
    outbox_task,
    outcome_task,
    plan_notices_task,
    publish_outbox_task,
    record_approval_task,
    record_notices_task,
)
from schemas.ledger import ApprovalOutcome, RunKind, SendKind
from schemas.retention import AfterPurge
from tasks.approval import ApprovalAnswer, Outcome, Review, resume_description
from tasks.ledger import DeliveryReport

# A name typed in the Resume form: something besides spaces (the server refuses the form otherwise), kept stripped.
ApproverName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, pattern=r"\S")]


class Approval(RunInput):
    """What staff answer in the Prefect UI after reading the notices-for-approval and notice-samples artifacts."""

    approver: ApproverName = Field(title="Your name", description="Recorded with your answer in the audit")
    approve: bool = Field(default=False, description="Send the notices listed in the notices-for-approval artifact")
    note: str = Field(default="", description="Why, for the record")


APPROVAL_PAUSE_KEY = "approval"
# How much longer Prefect's pause lasts than the wait for an answer: time for the run to leave the pause itself.
PAUSE_GRACE_SECONDS = 60


def wait_for_approval(found: Review, timeout_seconds: int) -> ApprovalAnswer:
    """Pause until staff answer, with a Resume form that repeats what approving sends; approved, rejected (each
    with who answered) or timed out."""
    form = Approval.with_initial_data(description=resume_description(found))
    answer = asyncio.run(_answer_within(form, timeout_seconds))
    if answer is None:
        return ApprovalAnswer(outcome=ApprovalOutcome.TIMED_OUT, note=f"no answer within {timeout_seconds} seconds")
    decided = ApprovalOutcome.APPROVED if answer.approve else ApprovalOutcome.REJECTED
    return ApprovalAnswer(outcome=decided, approver=answer.approver, note=answer.note)


async def _answer_within(form: type[Approval], timeout_seconds: int) -> Approval | None:
    """Staff's answer, or None when none came within timeout_seconds; the run is Running again either way.

    The wait cannot end at Prefect's own pause deadline: the server fails a run still Paused past it (its
    expired-pause service, and its rule that a run leaving an expired pause becomes Failed), so an unanswered
    send could never end Completed. The pause lasts PAUSE_GRACE_SECONDS longer than the wait, and at the end of
    the wait the run resumes itself, as staff's answer would, while the pause is still valid."""
    with anyio.move_on_after(timeout_seconds):
        return await apause_flow_run(
            wait_for_input=form,
            timeout=timeout_seconds + PAUSE_GRACE_SECONDS,
            poll_interval=2,
            key=APPROVAL_PAUSE_KEY,
        )
    run_id = UUID(flow_run.id)
    async with get_client() as client:
        current = (await client.read_flow_run(run_id)).state
        if current is not None and current.is_paused():  # not cancelled meanwhile, nor resumed by staff
            await propose_state(client, Running(), flow_run_id=run_id)
    # An answer given just before the deadline (stored with the resume) still counts.
    keyset = keyset_from_paused_state(Paused(pause_key=APPROVAL_PAUSE_KEY))
    answer = await aread_flow_run_input(keyset["response"], flow_run_id=run_id)
    return None if answer is None else form(**answer)


def ended(said: Outcome, report: DeliveryReport) -> DeliveryReport:
    """The run ends Completed with its outcome as the state message. Prefect ends a flow run in the state its
    function returns and hands the caller that state's data, so whoever called the flow still gets the report."""
    return cast(DeliveryReport, Completed(message=said.message, data=report))


@flow(
    name="send-notices",
    persist_result=False,  # its report names recipients
    flow_run_name=run_name(send_name),
)
@staff_failures
def send_notices(
    config_path: str,
    out_dir: str = "out/notices",
    *,
    send: bool = False,
    kind: SendKind = RunKind.DECISIONS,
    as_of: str = "",
    resend_unknown: bool = False,
    require_approval: bool = True,
    approval_timeout_seconds: Annotated[int, Field(ge=1)] = 86400,
) -> DeliveryReport:
    """notice record checked → plan → outbox for review → SMTP checked → (approval) → ledger + SMTP → notice
    record written → failed, unknown and overdue notices.

    Args:
        config_path: The cohort file, e.g. cohorts/esp-2021.yaml: the notices' wording, the sender and the SMTP
            server.
        out_dir: The folder for the outbox: every message as an .eml file, with index.csv listing them, for staff
            to read before approving.
        send: Turn on to deliver the notices over SMTP (after approval, see `require_approval`). Off, a dry run:
            the outbox is written and nothing is sent or recorded.
        kind: Which notices: `decisions`, each team's decision (selected, waitlisted, not selected or late);
            `interest`, the notice to the interest list; `review-assignments`, each reviewer's assignment (after
            review-assign); or `review-reminders`, a reminder to each reviewer with applications still unscored
            (at most one a day, before the reviews are due).
        as_of: The moment to send as of, on the cohort's clock, like 2021-06-08 09:00 (in the cohort's time zone
            on that date; an offset such as -04:00 is optional): decision notices need the deadline passed, and
            notices unsent after the notification date are listed. Leave empty for now.
        resend_unknown: Turn on to send again, with the same Message-ID, the notices an interrupted send left
            unknown (not known to have been delivered or not). Off, they are listed and not sent.
        require_approval: On, a send pauses after writing the outbox until a staff member approves it in the
            Prefect UI (Resume); off, it sends without asking. Keep it on for runs started from the UI.
        approval_timeout_seconds: How long the paused send waits for an answer, in seconds (86400 is one day);
            with no answer by then nothing is sent.
    """
    config = load_config_task(config_path)
    moment = as_of_task(config, as_of)
    check_output_folder_task(out_dir)
    check_not_purged_task(config, AfterPurge.SEND)
    if send:
        check_notice_record_task(config, config_path, out_dir)
    plan = plan_notices_task(config, kind, moment)
    report = outbox_task(config, plan, out_dir)
    found = publish_outbox_task(config, plan, report, resend_unknown=resend_unknown)
    if send:
        check_smtp_task(config, plan)
    answer = None
    if send and require_approval and found.would_send:  # nothing waiting: nothing to approve
        answer = wait_for_approval(found, approval_timeout_seconds)
        send = record_approval_task(config, kind, str(flow_run.id), answer)
    if send:
        report = deliver_task(config, plan, resend_unknown=resend_unknown, purpose="send-notices")
        report = record_notices_task(config, out_dir, report)
    report = notify_by_task(config, plan, moment, report)
    return ended(outcome_task(found, report, answer), report)
