"""Notices: from the latest recorded selection (or the interest list) to an outbox, staff approval, SMTP."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from prefect import flow
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field

from flows.steps import (
    check_output_folder_task,
    check_smtp_task,
    deliver_task,
    load_config_task,
    notify_by_task,
    outbox_task,
    plan_notices_task,
    publish_outbox_task,
    record_approval_task,
)
from schemas.ledger import ApprovalOutcome, RunKind
from tasks.ledger import DeliveryReport


class Approval(RunInput):
    """What staff answer in the Prefect UI after reading the outbox."""

    approve: bool = Field(description="Send the notices listed in the outbox")
    note: str = Field(default="", description="Why, for the record")


def wait_for_approval(timeout_seconds: int) -> tuple[str, str]:
    """Pause until staff answer; (outcome, note) with outcome approved, rejected or timed out."""
    try:
        answer = pause_flow_run(wait_for_input=Approval, timeout=timeout_seconds, poll_interval=2)
    except FlowPauseTimeout:
        return ApprovalOutcome.TIMED_OUT, f"no answer within {timeout_seconds} seconds"
    return (ApprovalOutcome.APPROVED if answer.approve else ApprovalOutcome.REJECTED), answer.note


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
    """plan → outbox for review → SMTP checked → (approval) → ledger + SMTP → failed, unknown and overdue notices."""
    config = load_config_task(config_path)
    check_output_folder_task(out_dir)
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
    return notify_by_task(config, plan, moment, report)
