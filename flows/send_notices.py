"""Notices: from the latest recorded selection (or the interest list) to an outbox or over SMTP."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from prefect import flow
from pydantic import Field

from flows.steps import deliver_task, load_config_task, notify_by_task, plan_notices_task
from tasks.delivery import DeliveryReport


@flow(name="send-notices")
def send_notices(
    config_path: Annotated[str, Field(description="Path of the cohort YAML file")],
    out_dir: Annotated[str, Field(description="Folder for the dry-run outbox")] = "out/notices",
    send: Annotated[bool, Field(description="Deliver over SMTP; without it, only write the outbox")] = False,
    kind: Annotated[
        Literal["decisions", "interest"], Field(description="Decision notices, or the interest-list notice")
    ] = "decisions",
    as_of: Annotated[dt.datetime | None, Field(description="Run as if at this moment; default now")] = None,
    resend_unknown: Annotated[
        bool, Field(description="Resend notices left unknown by a cut-off run, with the same Message-ID")
    ] = False,
) -> DeliveryReport:
    """plan → outbox or ledger + SMTP → report; problems (failed, unknown, overdue) are listed."""
    config = load_config_task(config_path)
    moment = as_of or dt.datetime.now(dt.UTC)
    planned = plan_notices_task(config, kind, moment)
    report = deliver_task(config, planned, kind, send, resend_unknown, out_dir)
    return notify_by_task(config, planned, kind, moment, report)
