"""The per-cohort lease: one run at a time sends notices or records changes after them.

A schedule, a UI re-run and a command can start in the same minute, on one machine or several. Each run that
sends, promotes or records a staff action takes the cohort's lease in the state store first: a row naming its
owner, renewed by a heartbeat and expiring when the holder stops answering (a kill, a crash, a lost machine).
Taking it is a compare-and-set on the row's token, the same statement on SQLite and PostgreSQL. A second run
waits up to `lease.wait_seconds`, then stops with one message naming the holder and since when.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from schemas.config import CohortConfig
from schemas.errors import StaffError
from schemas.store import StoreCol
from tasks.store import StoreError, advice, is_busy, leases, now, write_transaction


class LeaseHeldError(StaffError):
    """Another run holds the cohort's lease and did not let go within the wait: this run did nothing."""


class LeaseLostError(StaffError):
    """This run stopped hearing from the store long enough for its lease to expire: it stopped sending."""


def describe_run(purpose: str) -> str:
    """Who holds a lease, in words staff can find: the Prefect flow run when there is one, else the process."""
    where = f"pid {os.getpid()} on {socket.gethostname()}"
    try:
        from prefect.runtime import flow_run

        if flow_run.id:
            return f"{purpose} (Prefect flow run {flow_run.name} {flow_run.id}, {where})"
    except Exception:  # noqa: BLE001, S110 - the run's name comes from the Prefect API, which may not answer; the
        pass  # lease is described by the process then, and a description must never stop the run that takes it
    return f"{purpose} ({where})"


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives stored UTC moments back without their zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass
class Lease:
    """A held lease: its owner id (also each claim's `claimed_by`), renewed in the background until released."""

    engine: sa.Engine
    cohort: str
    holder: str
    expire_seconds: float
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    depth: int = 0
    renewed: float = field(default_factory=time.monotonic)
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def still_holding(self) -> bool:
        """False once the store said someone else has it, or when no renewal succeeded for too long."""
        return not self.lost and time.monotonic() - self.renewed < self.expire_seconds * 0.8

    def try_take(self) -> dict | None:
        """Take the lease if it is free, expired or already ours; else the holder's row."""
        stamp = now()
        values = {
            StoreCol.OWNER: self.owner,
            StoreCol.HOLDER: self.holder,
            StoreCol.ACQUIRED_AT: stamp,
            StoreCol.HEARTBEAT_AT: stamp,
            StoreCol.EXPIRES_AT: stamp + dt.timedelta(seconds=self.expire_seconds),
        }
        try:
            with write_transaction(self.engine) as conn:
                row = conn.execute(sa.select(leases).where(leases.c.cohort == self.cohort)).mappings().first()
                if row is None:
                    conn.execute(leases.insert().values({StoreCol.COHORT: self.cohort, StoreCol.TOKEN: 1} | values))
                    return None
                if row[StoreCol.OWNER] != self.owner and _aware(row[StoreCol.EXPIRES_AT]) > stamp:
                    return dict(row)
                taken = conn.execute(
                    leases.update()
                    .where(leases.c.cohort == self.cohort, leases.c.token == row[StoreCol.TOKEN])
                    .values({StoreCol.TOKEN: row[StoreCol.TOKEN] + 1} | values)
                ).rowcount
                return None if taken == 1 else dict(row)
        except IntegrityError:
            return _busy("another run (starting at this moment)", stamp)
        except OperationalError as exc:
            if is_busy(exc):
                return _busy("another run (writing to the store)", stamp)
            raise StoreError(f"the cohort's lease could not be taken: {advice(exc)}") from None

    def renew(self) -> None:
        stamp = now()
        with self.engine.begin() as conn:
            renewed = conn.execute(
                leases.update()
                .where(leases.c.cohort == self.cohort, leases.c.owner == self.owner)
                .values(heartbeat_at=stamp, expires_at=stamp + dt.timedelta(seconds=self.expire_seconds))
            ).rowcount
        if renewed != 1:
            self.lost = True
        else:
            self.renewed = time.monotonic()

    def _beat(self) -> None:
        while not self._stop.wait(self.expire_seconds / 4):
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self.renew()
            if self.lost:
                return

    def start_heartbeat(self) -> None:
        self.renewed = time.monotonic()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.cohort}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(sa.exc.SQLAlchemyError), self.engine.begin() as conn:
            conn.execute(leases.delete().where(leases.c.cohort == self.cohort, leases.c.owner == self.owner))


def _busy(holder: str, stamp: dt.datetime) -> dict:
    """A lease row for a holder the store did not let this run read (it was taking the lease just then)."""
    return {StoreCol.HOLDER: holder, StoreCol.ACQUIRED_AT: stamp, StoreCol.HEARTBEAT_AT: stamp}


# Leases this process holds, by (store, cohort): a step inside a run that already holds one reuses it.
_HELD: dict[tuple[str, str], Lease] = {}
_HELD_LOCK = threading.Lock()


def _waited_message(cohort: str, row: dict, waited: float, expire_seconds: float) -> str:
    since = _aware(row[StoreCol.ACQUIRED_AT]).strftime("%Y-%m-%d %H:%M:%S UTC")
    heard = _aware(row[StoreCol.HEARTBEAT_AT]).strftime("%H:%M:%S UTC")
    return (
        f"another run holds cohort {cohort}'s lease for sending notices and recording changes: {row[StoreCol.HOLDER]}, "
        f"since {since} (last heard from at {heard}). This run waited {waited:g} s and did nothing; run it again "
        f"when that run has finished (a run that crashed lets go {expire_seconds:g} s after it was last heard from)"
    )


@contextlib.contextmanager
def hold_lease(
    engine: sa.Engine, cohort: str, purpose: str, wait_seconds: float, expire_seconds: float
) -> Iterator[Lease]:
    """The cohort's lease for the duration of the block: waits up to `wait_seconds` for another holder."""
    key = (engine.url.render_as_string(hide_password=True), cohort)
    with _HELD_LOCK:
        held = _HELD.get(key)
        if held is not None:
            held.depth += 1
    if held is not None:
        try:
            yield held
        finally:
            held.depth -= 1
        return
    lease = Lease(engine, cohort, describe_run(purpose), expire_seconds)
    started = time.monotonic()
    while (holder := lease.try_take()) is not None:
        if time.monotonic() - started >= wait_seconds:
            raise LeaseHeldError(_waited_message(cohort, holder, wait_seconds, expire_seconds))
        time.sleep(min(0.5, max(0.05, wait_seconds / 20)))
    lease.start_heartbeat()
    with _HELD_LOCK:
        _HELD[key] = lease
    try:
        yield lease
    finally:
        with _HELD_LOCK:
            _HELD.pop(key, None)
        lease.release()


def cohort_lease(engine: sa.Engine, config: CohortConfig, purpose: str) -> contextlib.AbstractContextManager[Lease]:
    """hold_lease with the cohort's settings (`lease:` in the cohort file)."""
    return hold_lease(engine, config.cohort_id, purpose, config.lease.wait_seconds, config.lease.expire_seconds)
