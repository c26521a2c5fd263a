"""After the notices: staff actions from the Overrides sheet, expired offers, offers for free seats, their notices."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow
from pydantic import BaseModel, Field

from flows.steps import (
    deliver_task,
    load_config_task,
    load_overrides_task,
    notify_by_task,
    plan_notices_task,
    promote_task,
)
from tasks.delivery import DeliveryReport
from tasks.lifecycle import PromotionReport


class PromotionRun(BaseModel):
    """What changed, and what became of the notices for those changes."""

    promotion: PromotionReport
    notices: DeliveryReport


@flow(name="promote-waitlist", persist_result=False)  # its report names recipients
def promote_waitlist(
    config_path: Annotated[str, Field(description="Path of the cohort YAML file")],
    out_dir: Annotated[str, Field(description="Folder for the outbox of offers and other change notices")] = (
        "out/promote"
    ),
    send: Annotated[bool, Field(description="Deliver the change notices over SMTP; without it, only the outbox")] = (
        False
    ),
    as_of: Annotated[dt.datetime | None, Field(description="Run as if at this moment; default now")] = None,
) -> PromotionRun:
    """Overrides → expiries → offers → notices (offer, expiry, confirmation, decline, withdrawal), each once."""
    config = load_config_task(config_path)
    moment = as_of or dt.datetime.now(dt.UTC)
    overrides = load_overrides_task(config, None)
    promotion = promote_task(config, overrides, moment)
    planned = plan_notices_task(config, "lifecycle", moment)
    report = deliver_task(config, planned, "lifecycle", send, False, out_dir)
    return PromotionRun(promotion=promotion, notices=notify_by_task(config, planned, "lifecycle", moment, report))
