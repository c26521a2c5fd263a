"""After the notices: staff actions from the Overrides sheet, expired offers, offers for free seats, their notices."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow
from pydantic import BaseModel, Field

from flows.steps import (
    check_not_purged_task,
    check_notice_record_task,
    check_output_folder_task,
    check_smtp_task,
    deliver_task,
    load_config_task,
    load_overrides_task,
    notify_by_task,
    outbox_task,
    plan_notices_task,
    promote_task,
    record_notices_task,
    run_lease,
)
from schemas.ledger import RunKind
from schemas.retention import AfterPurge
from tasks.ledger import DeliveryReport
from tasks.promotion import PromotionReport


class PromotionRun(BaseModel):
    """What changed (or, in a dry run, would change), and what became of the notices for those changes."""

    promotion: PromotionReport
    notices: DeliveryReport


@flow(name="promote-waitlist", persist_result=False)  # its report names recipients
def promote_waitlist(
    config_path: Annotated[str, Field(description="Path of the cohort YAML file")],
    out_dir: Annotated[str, Field(description="Folder for the outbox of offers and other change notices")] = (
        "out/promote"
    ),
    *,
    send: Annotated[
        bool, Field(description="Record the changes and deliver their notices; without it, a dry run to the outbox")
    ] = False,
    as_of: Annotated[dt.datetime | None, Field(description="Run as if at this moment; default now")] = None,
) -> PromotionRun:
    """Overrides → expiries → offers → notices (offer, expiry, confirmation, decline, withdrawal), each once.

    With `send`, the whole run holds the cohort's lease and the changes are recorded with their notices; a dry
    run records nothing and starts no clock.
    """
    config = load_config_task(config_path)
    check_output_folder_task(out_dir)
    check_not_purged_task(config, AfterPurge.PROMOTE)
    moment = as_of or dt.datetime.now(dt.UTC)
    overrides = load_overrides_task(config, None)
    if send:
        check_notice_record_task(config, config_path, out_dir)
    with run_lease(config, "promote-waitlist", needed=send):
        promotion = promote_task(config, overrides, moment, send=send)
        plan = plan_notices_task(config, RunKind.LIFECYCLE, moment, promotion.moves)
        if send:
            check_smtp_task(config, plan)
            report = deliver_task(config, plan, resend_unknown=False, purpose="promote-waitlist")
            report = record_notices_task(config, out_dir, report)
        else:
            report = outbox_task(config, plan, out_dir)
    return PromotionRun(promotion=promotion.report, notices=notify_by_task(config, plan, moment, report))
