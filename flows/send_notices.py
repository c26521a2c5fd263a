"""Notices: from the latest recorded selection (or the interest list) to an outbox, staff approval, SMTP."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

import anyio
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput, keyset_from_paused_state
from prefect.input.actions import aread_flow_run_input
from prefect.runtime import flow_run
from prefect.states import Paused, Running
from prefect.utilities.engine import propose_state
from pydantic import Field

from flows.steps import (
    check_not_purged_task,
    check_notice_record_task,
    check_output_folder_task,
    check_smtp_task,
    deliver_task,
    load_config_task,
    notify_by_task,
    outbox_task,
    plan_notices_task,
    publish_outbox_task,
    record_approval_task,
    record_notices_task,
)
from schemas.ledger import ApprovalOutcome, RunKind
from schemas.retention import AfterPurge
from tasks.ledger import DeliveryReport


class Approval(RunInput):
    """What staff answer in the Prefect UI after reading the outbox."""

    approve: bool = Field(description="Send the notices listed in the outbox")
    note: str = Field(default="", description="Why, for the record")


APPROVAL_PAUSE_KEY = "approval"
# How much longer Prefect's pause lasts than the wait for an answer: time for the run to leave the pause itself.
PAUSE_GRACE_SECONDS = 60


def wait_for_approval(timeout_seconds: int) -> tuple[str, str]:
    """Pause until staff answer; (outcome, note) with outcome approved, rejected or timed out."""
    answer = asyncio.run(_answer_within(timeout_seconds))
    if answer is None:
        return ApprovalOutcome.TIMED_OUT, f"no answer within {timeout_seconds} seconds"
    return (ApprovalOutcome.APPROVED if answer.approve else ApprovalOutcome.REJECTED), answer.note


async def _answer_within(timeout_seconds: int) -> Approval | None:
    """Staff's answer, or None when none came within timeout_seconds; the run is Running again either way.

    The wait cannot end at Prefect's own pause deadline: the server fails a run still Paused past it (its
    expired-pause service, and its rule that a run leaving an expired pause becomes Failed), so an unanswered
    send could never end Completed. The pause lasts PAUSE_GRACE_SECONDS longer than the wait, and at the end of
    the wait the run resumes itself, as staff's answer would, while the pause is still valid."""
    with anyio.move_on_after(timeout_seconds):
        return await apause_flow_run(
            wait_for_input=Approval,
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
    return None if answer is None else Approval(**answer)


@flow(name="send-notices", persist_result=False)  # its report names recipients
def send_notices(
    config_path: Annotated[str, Field(description="Path of the cohort YAML file")],
    out_dir: Annotated[str, Field(description="Folder for the outbox staff review")] = "out/notices",
    *,
    send: Annotated[bool, Field(description="Deliver over SMTP; without it, only write the outbox")] = False,
    kind: Annotated[
        Literal[RunKind.DECISIONS, RunKind.INTEREST], Field(description="Decision notices, or the interest-list notice")
    ] = RunKind.DECISIONS,
    as_of: Annotated[dt.datetime | None, Field(description="Run as if at this moment; default now")] = None,
    resend_unknown: Annotated[
        bool, Field(description="Resend notices left unknown by a cut-off run, with the same Message-ID")
    ] = False,
    require_approval: Annotated[
        bool, Field(description="Pause after writing the outbox until staff approve in the UI")
    ] = True,
    approval_timeout_seconds: Annotated[int, Field(description="Send nothing if no answer by then", ge=1)] = 86400,
) -> DeliveryReport:
    """notice record checked → plan → outbox for review → SMTP checked → (approval) → ledger + SMTP → notice
    record written → failed, unknown and overdue notices."""
    config = load_config_task(config_path)
    check_output_folder_task(out_dir)
    check_not_purged_task(config, AfterPurge.SEND)
    if send:
        check_notice_record_task(config, config_path, out_dir)
    moment = as_of or dt.datetime.now(dt.UTC)
    plan = plan_notices_task(config, kind, moment)
    report = outbox_task(config, plan, out_dir)
    if send:
        check_smtp_task(config, plan)
    if send and require_approval:
        publish_outbox_task(report)
        outcome, note = wait_for_approval(approval_timeout_seconds)
        send = record_approval_task(config, kind, str(flow_run.id), outcome, note)
    if send:
        report = deliver_task(config, plan, resend_unknown=resend_unknown, purpose="send-notices")
        report = record_notices_task(config, out_dir, report)
    return notify_by_task(config, plan, moment, report)
