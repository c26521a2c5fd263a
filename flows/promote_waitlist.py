"""After the notices: staff actions from the Overrides sheet, expired offers, offers for free seats, their notices."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from flows.runs import promote_name, run_name, staff_failures
from flows.steps import (
    as_of_task,
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
    publish_replies_task,
    read_replies_task,
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


@flow(
    name="promote-waitlist",
    persist_result=False,  # its report names recipients
    flow_run_name=run_name(promote_name),
)
@staff_failures
def promote_waitlist(
    config_path: str,
    out_dir: str = "out/promote",
    *,
    send: bool = False,
    as_of: str = "",
) -> PromotionRun:
    """Overrides → the reply form's replies → expiries → offers → notices (offer, expiry, confirmation, decline,
    withdrawal, reply reminders), each once.

    With `send`, the whole run holds the cohort's lease and the changes are recorded with their notices; a dry
    run records nothing and starts no clock.

    Args:
        config_path: The cohort file, e.g. cohorts/esp-2021.yaml: how long an offer stays open, the notices'
            wording and where the Overrides sheet is.
        out_dir: The folder for the outbox: each offer, expiry and other change notice as an .eml file, with
            index.csv listing them.
        send: Turn on to record the changes (staff actions from the Overrides sheet, expired offers, new
            offers) and deliver their notices. Off, a dry run: the notices go to the outbox only, nothing is
            recorded and no offer's clock starts.
        as_of: The moment to run as of, on the cohort's clock, like 2021-06-14 09:00 (in the cohort's time zone
            on that date; an offset such as -04:00 is optional): it decides which offers have expired. Leave
            empty for now.
    """
    config = load_config_task(config_path)
    moment = as_of_task(config, as_of)
    check_output_folder_task(out_dir)
    check_not_purged_task(config, AfterPurge.PROMOTE)
    overrides = load_overrides_task(config, None)
    responses = read_replies_task(config)
    if send:
        check_notice_record_task(config, config_path, out_dir)
    with run_lease(config, "promote-waitlist", needed=send):
        promotion = promote_task(config, overrides, moment, responses, send=send)
        publish_replies_task(config, promotion.report, out_dir)
        plan = plan_notices_task(config, RunKind.LIFECYCLE, moment, promotion.moves)
        if send:
            check_smtp_task(config, plan)
            report = deliver_task(config, plan, resend_unknown=False, purpose="promote-waitlist")
            report = record_notices_task(config, out_dir, report)
        else:
            report = outbox_task(config, plan, out_dir)
    return PromotionRun(promotion=promotion.report, notices=notify_by_task(config, plan, moment, report))
