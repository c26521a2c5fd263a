"""The per-cohort lease: one holder at a time, a bounded wait that names the holder, expiry of a crashed holder."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pytest

from schemas.ledger import LedgerState
from tasks.lease import LeaseHeldError, hold_lease
from tasks.ledger import LedgerWriter, ledger, sync_ledger
from tasks.notices import kinds_of, plan_notices
from tasks.store import leases, open_store
from tests.support.configs import make_config
from tests.support.paths import ROOT
from tests.support.rows import numbered_team
from tests.support.selection import record

# Every test on both state store backends (tests/conftest.py `backend`).
pytestmark = pytest.mark.usefixtures("backend")

AS_OF = dt.datetime(2021, 6, 8, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4)))

HOLDER = """
import sys, time
from tasks.lease import hold_lease
from tasks.store import open_store
with hold_lease(open_store(sys.argv[1]), "2021", "send-notices", wait_seconds=0, expire_seconds=float(sys.argv[2])):
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _holder(url: str, expire: float, hold: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, str(expire), str(hold)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "holding"
    return process


def test_a_second_run_waits_then_names_the_holder_and_since_when(state_url):
    url = state_url
    holder = _holder(url, expire=30, hold=20)
    try:
        started = time.monotonic()
        with pytest.raises(LeaseHeldError) as refused, hold_lease(open_store(url), "2021", "promote", 1.5, 30):
            pass
        waited = time.monotonic() - started
    finally:
        holder.kill()
    assert 1.5 <= waited < 5
    words = str(refused.value)
    assert f"send-notices (pid {holder.pid} on " in words and "since 20" in words and "waited 1.5 s" in words


def test_the_next_run_gets_the_lease_as_soon_as_the_holder_lets_go(state_url):
    url = state_url
    holder = _holder(url, expire=30, hold=1.0)
    started = time.monotonic()
    with hold_lease(open_store(url), "2021", "promote", wait_seconds=20, expire_seconds=30) as lease:
        assert lease.still_holding()
    assert time.monotonic() - started < 10
    holder.wait(timeout=10)


def test_a_killed_holders_lease_expires_and_its_sending_notices_become_unknown(tmp_path):
    """The holder dies mid-send (SIGKILL: no release); after its lease expires the next run takes it, and the
    notice the dead run had claimed is `unknown` (it may have arrived), the others stay to be sent."""
    config, _ = make_config(tmp_path, 25)
    engine = record(config, [numbered_team(1), numbered_team(2, "TX")])
    plan = plan_notices(engine, config, "decisions", AS_OF)
    sync_ledger(engine, config.cohort_id, plan.notices, kinds_of(plan.run))
    holder = _holder(config.database_url, expire=2, hold=60)
    owner = engine.connect().execute(leases.select()).mappings().one()["owner"]
    first = int(ledger(engine, config.cohort_id)["id"].iloc[0])
    writer = LedgerWriter(engine, owner)
    assert writer.claim(first)  # the holder's claim, just before its DATA
    writer.close()
    holder.kill()
    holder.wait(timeout=10)
    with hold_lease(engine, config.cohort_id, "send-notices", wait_seconds=10, expire_seconds=2) as lease:
        assert lease.owner != owner
        sync_ledger(engine, config.cohort_id, plan.notices, kinds_of(plan.run), live_owners={lease.owner})
    states = ledger(engine, config.cohort_id).set_index("id")["state"]
    assert states[first] == LedgerState.UNKNOWN
    assert set(states.drop(first)) == {LedgerState.PENDING}


def test_a_live_holders_claim_is_never_made_unknown(tmp_path):
    config, _ = make_config(tmp_path, 25)
    engine = record(config, [numbered_team(1)])
    plan = plan_notices(engine, config, "decisions", AS_OF)
    sync_ledger(engine, config.cohort_id, plan.notices, kinds_of(plan.run))
    with hold_lease(engine, config.cohort_id, "send-notices", 1, 30) as lease:
        writer = LedgerWriter(engine, lease.owner)
        assert writer.claim(int(ledger(engine, config.cohort_id)["id"].iloc[0]))
        writer.close()
        sync_ledger(engine, config.cohort_id, plan.notices, kinds_of(plan.run), live_owners={lease.owner})
        assert set(ledger(engine, config.cohort_id)["state"]) == {LedgerState.SENDING}
