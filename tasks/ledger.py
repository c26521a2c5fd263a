"""The notice ledger: one row per (cohort, applicant, kind, decision version), planned, claimed, recorded.

A notice moves to `sending` only by a conditional update that one run wins (`… WHERE id = ? AND state IN
(pending, failed)`, rowcount checked), just before its DATA goes out; a run that loses the claim skips it. It
becomes `sent` once the server has answered 250. A `sending` notice whose run is no longer alive (its lease
gone) was cut off between hand-over and record: the next sync makes it `unknown`, never a live run's claim.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from schemas.columns import Derived
from schemas.ledger import CLAIMABLE, REPLACEABLE, LedgerState
from schemas.store import StoreCol
from tasks.messages import Notice
from tasks.store import StoreError, advice, notices, now, write_transaction


class DeliveryReport(BaseModel):
    """What a notify run did, notice by notice."""

    dry_run: bool
    counts: dict[str, int]
    failed: list[str]
    unknown: list[str]
    refused: list[str]
    cc_refused: list[str] = []
    sent_by_this_run: int = 0
    sent_by_kind: dict[str, int] = {}  # what this run sent, by notice kind
    outbox: str | None = None
    problems: list[str] = []

    def as_text(self) -> str:
        head = f"Sent over SMTP by this run: {self.sent_by_this_run} (the ledger, all runs:)"
        lines = ["Dry run: nothing was sent" if self.dry_run else head]
        lines += [f"  {ledger_state:<11} {n:>5}" for ledger_state, n in self.counts.items()]
        sections = (
            ("Failed", self.failed),
            ("Unknown", self.unknown),
            ("Refused", self.refused),
            ("Sent without a refused cc", self.cc_refused),
        )
        for title, items in sections:
            if items:
                lines.append(f"{title}:")
                lines += [f"  - {item}" for item in items]
        if self.outbox:
            lines.append(f"Outbox: {self.outbox} (index.csv lists every message)")
        lines += [f"PROBLEM: {problem}" for problem in self.problems]
        return "\n".join(lines)


def ledger(engine: sa.Engine, cohort: str) -> pd.DataFrame:
    """Every notice of the cohort, oldest first."""
    with engine.connect() as conn:
        return pd.read_sql(sa.select(notices).where(notices.c.cohort == cohort).order_by(notices.c.id), conn)


def sync_ledger(
    engine: sa.Engine, cohort: str, planned: list[Notice], kinds: Iterable[str], live_owners: Iterable[str] = ()
) -> None:
    """One transaction: cut-off sends become unknown, stale unsent notices superseded, new ones pending.

    A `sending` notice claimed by one of `live_owners` (runs holding the cohort's lease) is left alone.
    """
    kinds = set(kinds)
    alive = sorted(set(live_owners))
    stamp = now()
    current = {(n.applicant, n.kind, n.version) for n in planned}
    try:
        with write_transaction(engine) as conn:
            cut_off = (notices.c.cohort == cohort) & (notices.c.state == LedgerState.SENDING)
            if alive:
                cut_off &= sa.or_(notices.c.claimed_by.is_(None), notices.c.claimed_by.not_in(alive))
            conn.execute(
                notices.update()
                .where(cut_off)
                .values(
                    state=LedgerState.UNKNOWN,
                    updated_at=stamp,
                    last_error="the run stopped between sending and recording",
                )
            )
            existing = conn.execute(
                sa.select(notices.c.id, notices.c.applicant, notices.c.kind, notices.c.version, notices.c.state).where(
                    notices.c.cohort == cohort, notices.c.kind.in_(kinds)
                )
            ).all()
            known = {(r.applicant, r.kind, r.version) for r in existing}
            stale = [
                r.id for r in existing if (r.applicant, r.kind, r.version) not in current and r.state in REPLACEABLE
            ]
            if stale:
                conn.execute(
                    notices.update()
                    .where(notices.c.id.in_(stale), notices.c.state.in_(REPLACEABLE))
                    .values(
                        state=LedgerState.SUPERSEDED,
                        updated_at=stamp,
                        last_error="the decision changed before it was sent",
                    )
                )
            fresh = [n for n in planned if (n.applicant, n.kind, n.version) not in known]
            if fresh:
                conn.execute(notices.insert(), [_new_row(cohort, n, stamp) for n in fresh])
    except OperationalError as exc:
        raise StoreError(f"the notice ledger could not be updated (nothing was changed): {advice(exc)}") from None


def _new_row(cohort: str, notice: Notice, stamp) -> dict:
    return {
        StoreCol.COHORT: cohort,
        Derived.APPLICANT: notice.applicant,
        StoreCol.KIND: notice.kind,
        StoreCol.VERSION: notice.version,
        StoreCol.LEDGER_STATE: LedgerState.REFUSED if notice.refusal else LedgerState.PENDING,
        StoreCol.ATTEMPTS: 0,
        StoreCol.LAST_ERROR: notice.refusal,
        StoreCol.MESSAGE_ID: notice.message_id,
        StoreCol.RECIPIENT: notice.to,
        StoreCol.CC: notice.cc,
        StoreCol.SUBJECT: notice.subject,
        StoreCol.CREATED_AT: stamp,
        StoreCol.UPDATED_AT: stamp,
    }


# The updates a send makes for each notice, as text SQL prepared once: the hot path of a send (benchmarks/smtp.py).
_MOVE = sa.text(
    "UPDATE notices SET state = :state, updated_at = :updated_at, last_error = :error, "
    "attempts = attempts + :attempt WHERE id = :id"
).bindparams(sa.bindparam("updated_at", type_=sa.DateTime(timezone=True)))

_MOVE_FROM = sa.text(
    "UPDATE notices SET state = :state, updated_at = :updated_at, last_error = :error, "
    "attempts = attempts + :attempt WHERE id = :id AND state IN :only_from"
).bindparams(sa.bindparam("updated_at", type_=sa.DateTime(timezone=True)), sa.bindparam("only_from", expanding=True))

_CLAIM = sa.text(
    "UPDATE notices SET state = :sending, updated_at = :updated_at, last_error = '', attempts = attempts + 1, "
    "claimed_by = :owner WHERE id = :id AND state IN :claimable"
).bindparams(sa.bindparam("updated_at", type_=sa.DateTime(timezone=True)), sa.bindparam("claimable", expanding=True))

_CC_REFUSED = sa.text("UPDATE notices SET cc_refused = :words, updated_at = :updated_at WHERE id = :id").bindparams(
    sa.bindparam("updated_at", type_=sa.DateTime(timezone=True))
)


class LedgerWriter:
    """Ledger transitions for one sending batch, on one connection; each is committed before it returns.

    `owner` names the run (the holder of the cohort's lease) in every claim it makes.
    """

    def __init__(self, engine: sa.Engine, owner: str = "", claimable: Iterable[str] = CLAIMABLE) -> None:
        self.connection = engine.connect()
        self.owner = owner
        self.claimable = [str(s) for s in claimable]

    def claim(self, notice_id: int) -> bool:
        """pending/failed (or the states given) → sending, for this run only: False when another run has it."""
        params = {
            "sending": LedgerState.SENDING.value,
            "updated_at": now(),
            "owner": self.owner,
            "id": notice_id,
            "claimable": self.claimable,
        }
        return self._commit(_CLAIM, params) == 1

    def move(
        self, notice_id: int, to: str, error: str = "", *, attempt: bool = False, only_from: Iterable[str] = ()
    ) -> None:
        """Record what became of a notice (the ledger state it moves `to`); with `only_from`, only if it is still in
        one of those states (a failure before this run's claim never overwrites another run's claim or its `sent`)."""
        params = {"state": str(to), "updated_at": now(), "error": error, "attempt": int(attempt), "id": notice_id}
        allowed = [str(s) for s in only_from]
        if allowed:
            self._commit(_MOVE_FROM, params | {"only_from": allowed})
        else:
            self._commit(_MOVE, params)

    def cc_refused(self, notice_id: int, words: str) -> None:
        """The cc the server refused (the notice went to the lead without it), kept for the report."""
        self._commit(_CC_REFUSED, {"words": words, "updated_at": now(), "id": notice_id})

    def _commit(self, statement: sa.TextClause, params: dict) -> int:
        try:
            result = self.connection.execute(statement, params)
            self.connection.commit()
        except OperationalError as exc:
            self.connection.rollback()
            raise StoreError(f"the notice ledger could not be updated: {advice(exc)}") from None
        return result.rowcount

    def close(self) -> None:
        self.connection.close()


def delivery_report(
    engine: sa.Engine, cohort: str, kinds: Iterable[str], *, dry_run: bool, outbox: str | None, sent_by: str = ""
) -> DeliveryReport:
    """Counts by ledger state, how many the run `sent_by` sent itself, and the notices staff must look at."""
    rows = ledger(engine, cohort)
    rows = rows[rows[StoreCol.KIND].isin(set(kinds))]
    counts = rows[StoreCol.LEDGER_STATE].value_counts()
    mine = (rows[StoreCol.LEDGER_STATE] == LedgerState.SENT) & (rows[StoreCol.CLAIMED_BY] == sent_by) & bool(sent_by)

    def listed(ledger_state: LedgerState) -> list[str]:
        chosen = rows[rows[StoreCol.LEDGER_STATE] == ledger_state]
        return [f"{r.applicant} {r.recipient} ({r.kind}): {r.last_error}" for r in chosen.itertuples()]

    refused_cc = rows[rows[StoreCol.CC_REFUSED].fillna("") != ""]
    return DeliveryReport(
        dry_run=dry_run,
        counts={
            ledger_state.value: int(counts.get(ledger_state, 0))
            for ledger_state in (
                LedgerState.SENT,
                LedgerState.PENDING,
                LedgerState.FAILED,
                LedgerState.UNKNOWN,
                LedgerState.SUPERSEDED,
                LedgerState.REFUSED,
            )
        },
        failed=listed(LedgerState.FAILED),
        unknown=listed(LedgerState.UNKNOWN),
        refused=listed(LedgerState.REFUSED),
        cc_refused=[f"{r.applicant} ({r.kind}): cc {r.cc_refused}" for r in refused_cc.itertuples()],
        sent_by_this_run=int(mine.sum()),
        sent_by_kind={str(k): int(n) for k, n in rows.loc[mine, StoreCol.KIND].value_counts(sort=False).items()},
        outbox=outbox,
    )


def not_sent(engine: sa.Engine, cohort: str, planned: list[Notice]) -> list[Notice]:
    """The planned notices the ledger does not hold as sent."""
    rows = ledger(engine, cohort)
    sent = rows[rows[StoreCol.LEDGER_STATE] == LedgerState.SENT]
    done = {(r.applicant, r.kind, r.version) for r in sent.itertuples()}
    return [n for n in planned if (n.applicant, n.kind, n.version) not in done]
