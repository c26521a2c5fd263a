"""Delivery: a plan of notices through the ledger and SMTP, under the cohort's lease (outbox pattern).

The send holds the cohort's lease (tasks/lease.py) from its first check to its last notice. Inside it, the plan
must still be current: the selection it came from is still the one that counts and no lifecycle change was
recorded since (else nothing is sent: StalePlanError). Lifecycle changes the plan assumes are recorded first
(compare-and-set), then decision notices freeze exactly the planned selection, the ledger is synced, and
each notice is claimed and sent once (tasks/ledger.py, tasks/smtp.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import sqlalchemy as sa

from schemas.columns import INITIAL_DECISION_KINDS, Derived
from schemas.config import CohortConfig
from schemas.errors import setting
from schemas.ledger import CLAIMABLE, FROM_SELECTION, LedgerState, RunKind
from schemas.retention import AfterPurge
from schemas.store import StoreCol
from tasks.approval import mask_address
from tasks.lease import cohort_lease
from tasks.ledger import DeliveryReport, LedgerWriter, delivery_report, ledger, not_sent, sync_ledger
from tasks.messages import Notice
from tasks.notices import NoticePlan, kinds_of
from tasks.retention import check_not_purged
from tasks.smtp import Retry, SmtpSettings, SmtpUnreachableError, send_batch, smtp_settings
from tasks.store import check_plan_current, freeze_selection, record_moves


def to_send(engine: sa.Engine, cohort: str, planned: list[Notice], *, resend_unknown: bool) -> list[tuple[int, Notice]]:
    """(ledger id, notice) for each planned notice the ledger holds as claimable, in ledger order."""
    claimable = _claimable(resend_unknown=resend_unknown)
    by_key = {(n.applicant, n.kind, n.version): n for n in planned if not n.refusal}
    rows = ledger(engine, cohort)
    rows = rows[rows[StoreCol.LEDGER_STATE].isin(claimable)]
    batch = []
    keys = zip(rows[StoreCol.ID], rows[Derived.APPLICANT], rows[StoreCol.KIND], rows[StoreCol.VERSION], strict=True)
    for ledger_id, applicant, kind, version in keys:
        notice = by_key.get((applicant, kind, version))
        if notice is not None:
            batch.append((int(ledger_id), notice))
    return batch


def _claimable(*, resend_unknown: bool) -> tuple[str, ...]:
    return tuple(CLAIMABLE) + ((LedgerState.UNKNOWN,) if resend_unknown else ())


def something_to_send(engine: sa.Engine, config: CohortConfig, plan: NoticePlan) -> bool:
    """Whether a send of this plan would hand anything to the server (then SMTP must be checked first)."""
    return any(not n.refusal for n in not_sent(engine, config.cohort_id, plan.notices))


def sync_and_send(  # noqa: PLR0913 -- five things a send needs, then keyword-only choices of the run
    engine: sa.Engine,
    config: CohortConfig,
    planned: list[Notice],
    kinds: Iterable[str],
    settings: SmtpSettings | None,
    owner: str = "",
    *,
    resend_unknown: bool = False,
    still_holding: Callable[[], bool] = lambda: True,
    base_delay: float = 1.0,
) -> str:
    """The ledger synced with the planned notices, then each claimable one sent as `owner`; returns why the
    batch stopped early (the server unreachable), or ""."""
    cohort = config.cohort_id
    sync_ledger(engine, cohort, planned, kinds, live_owners={owner} if owner else ())
    writer = LedgerWriter(engine, owner, _claimable(resend_unknown=resend_unknown))
    try:
        batch = to_send(engine, cohort, planned, resend_unknown=resend_unknown)
        if batch:
            send_batch(
                writer,
                batch,
                config,
                settings or smtp_settings(config),
                still_holding=still_holding,
                retry=Retry(base_delay=base_delay),
            )
    except SmtpUnreachableError as exc:
        return str(exc)
    finally:
        writer.close()
    return ""


def deliver(  # noqa: PLR0913 -- the store, the cohort, the plan, the server, then keyword-only choices
    engine: sa.Engine,
    config: CohortConfig,
    plan: NoticePlan,
    settings: SmtpSettings | None,
    *,
    resend_unknown: bool = False,
    base_delay: float = 1.0,
    purpose: str = "send-notices",
) -> DeliveryReport:
    """Under the cohort's lease: check the plan is current, record its moves, freeze, sync, send; then report."""
    cohort = config.cohort_id
    kinds = kinds_of(plan.run)
    problems = []
    with cohort_lease(engine, config, purpose) as lease:
        check_not_purged(engine, config, AfterPurge.SEND)  # a send approved after a purge (planned before it)
        if plan.moves:
            record_moves(engine, cohort, plan.moves, seen=plan.actions_seq - len(plan.moves))
        if plan.run in FROM_SELECTION:
            check_plan_current(engine, cohort, plan.selection_id, plan.actions_seq)
        if plan.run == RunKind.DECISIONS and plan.selection_id is not None:
            freeze_selection(engine, cohort, plan.selection_id)
        unreachable = sync_and_send(
            engine,
            config,
            plan.notices,
            kinds,
            settings,
            lease.owner,
            resend_unknown=resend_unknown,
            still_holding=lease.still_holding,
            base_delay=base_delay,
        )
        if unreachable:
            # Teams by key; a reviewer or an interest-list person, whose key is an address, masked: this goes to logs.
            waiting = [
                mask_address(n.applicant) if "@" in n.applicant else n.applicant
                for n in not_sent(engine, cohort, plan.notices)
                if not n.refusal
            ]
            names = ", ".join(waiting[:10]) + (f" and {len(waiting) - 10} more" if len(waiting) > 10 else "")
            problems += [unreachable, f"{len(waiting)} notices not sent: {names}"]
        if not lease.still_holding():
            problems.append(
                "this run lost the cohort's lease (the state store did not answer its heartbeat in time), so it "
                "stopped sending; the notices not sent are listed and go out with the next run"
            )
        owner = lease.owner
    report = delivery_report(engine, cohort, kinds, dry_run=False, outbox=None, sent_by=owner)
    report.problems = problems
    return report


def unfinished(
    engine: sa.Engine, config: CohortConfig, plan: NoticePlan, as_of: dt.datetime, report: DeliveryReport
) -> list[str]:
    """Failed and unknown notices, and after the notification date every unsent first decision notice, by name.

    Offers and other notices after a change come later by nature; the course start date bounds them instead.
    """
    problems = list(report.problems)
    if report.failed:
        problems.append(f"{len(report.failed)} notices failed (see the list)")
    if report.unknown:
        problems.append(
            f"{len(report.unknown)} notices are unknown (see the list; {setting('resend_unknown')} sends them)"
        )
    if plan.run != RunKind.DECISIONS or as_of.astimezone(config.zone).date() <= config.notify_by:
        return problems
    unsent = [n for n in not_sent(engine, config.cohort_id, plan.notices) if n.kind in INITIAL_DECISION_KINDS]
    if unsent:
        # Teams by key, never by address: this text goes to the logs (the report lists the addresses).
        listed = [f"{n.applicant} ({n.kind}{', refused' if n.refusal else ''})" for n in unsent]
        names = ", ".join(listed[:10]) + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")
        day = f"{config.notify_by:%B} {config.notify_by.day} {config.notify_by.year}"
        problems.append(f"{len(unsent)} notices unsent and the notification date {day} has passed: {names}")
    return problems
