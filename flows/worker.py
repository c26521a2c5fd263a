"""`make worker`: check what a worker of the shared Prefect server needs, then start one for the work pool.

Before `prefect worker start --pool cohort-select --type process` starts, every variable the worker and its runs
read is checked (tasks/worker_checks.py): the server answers at PREFECT_API_URL and has the work pool,
COHORT_SELECT_HOME holds prefect.yaml and the cohort files its deployments name, and each deployment's state store
is the one prefect.yaml declares, reachable from here. Each problem is printed as one sentence and the worker is
not started (exit 2), so a worker never takes runs it would crash or, worse, record on a SQLite file of its own.

One SIGTERM (or Ctrl-C) stops the worker and the flow runs it started within STOP_SECONDS: Prefect's worker
alone waits for its runs to finish (a send paused for approval waits up to a day) and needs a second signal.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from schemas.deployment import WORK_POOL, WORK_POOL_TYPE, Env
from tasks.worker_checks import checked_summary, worker_problems

EXIT_PROBLEMS = 2
STOP_SECONDS = 8.0  # from the SIGTERM to the last process gone: within the 10 s that service managers allow
TERM_GRACE_SECONDS = 5.0  # then what is left is killed
PR_SET_PDEATHSIG = 1  # prctl: the worker gets SIGTERM if this process dies first, even by SIGKILL


def _api_url(env: Mapping[str, str]) -> str | None:
    """PREFECT_API_URL from the environment, else from the active Prefect profile (`prefect config set`)."""
    from prefect.settings import get_current_settings

    return env.get(Env.API_URL) or get_current_settings().api.url


def problems(env: Mapping[str, str], pool: str = WORK_POOL) -> list[str]:
    """Everything that stops this machine from running the pool's deployments; empty when it can."""
    return worker_problems(_api_url(env), env, pool)


def summary(env: Mapping[str, str], pool: str = WORK_POOL) -> str:
    """The first line a started worker prints: what it was checked against."""
    return checked_summary(_api_url(env), env, pool)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc): the flow runs a worker started, each in a session of its own, so
    a signal to the worker's process group would not reach them."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped by its new parent, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _until_gone(pids: list[int], deadline: float) -> list[int]:
    """Waits until every pid is gone or the deadline passes; those still alive."""
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def stop(worker: subprocess.Popen) -> None:
    """Stop the flow runs below the worker, then the worker, within STOP_SECONDS.

    The worker is frozen first (SIGSTOP), so it takes no new run meanwhile. Each run gets SIGTERM, on which
    Prefect's engine marks it Crashed and exits (a run still there after TERM_GRACE_SECONDS is killed); only then
    does the worker get its SIGTERM: stopped first, it would take its runs' output pipes with it and they could
    not report (left Paused or Running in the UI). With no run left, the worker stops in about a second.
    """
    started = time.monotonic()
    _signal([worker.pid], signal.SIGSTOP)
    try:
        runs = descendants(worker.pid)
        _signal(runs, signal.SIGTERM)
        _signal(_until_gone(runs, started + TERM_GRACE_SECONDS), signal.SIGKILL)
    finally:
        _signal([worker.pid], signal.SIGCONT)
    _signal([worker.pid], signal.SIGTERM)
    try:
        worker.wait(timeout=max(0.5, started + STOP_SECONDS - time.monotonic()))
    except subprocess.TimeoutExpired:
        _signal(descendants(worker.pid), signal.SIGKILL)
        worker.kill()
        worker.wait()


def _die_with_parent() -> None:
    """In the worker, before it runs: SIGTERM when this supervising process dies (Linux; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class _Stop(Exception):
    """SIGTERM or SIGINT arrived: stop the worker."""


def _raise_stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def worker_command(pool: str, extra: list[str]) -> list[str]:
    """`prefect worker start` for the pool, with the caller's own options (--name, --limit) after ours."""
    return [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", WORK_POOL_TYPE, *extra]


def run_worker(command: list[str]) -> int:
    """The worker as a child, stopped by one SIGTERM or Ctrl-C (then 0); else its own exit status."""
    handlers = {signum: signal.signal(signum, _raise_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    worker: subprocess.Popen | None = None
    try:
        worker = subprocess.Popen(command, preexec_fn=_die_with_parent if sys.platform == "linux" else None)  # noqa: S603 -- a fixed argv; prctl only
        return worker.wait()
    except _Stop:
        for signum in handlers:
            signal.signal(signum, signal.SIG_IGN)  # a second signal does not cut the stop short
        if worker is not None:  # else a worker forked meanwhile gets SIGTERM as this process ends (prctl)
            stop(worker)
        return 0
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--pool", default=WORK_POOL, help=f"the work pool (default {WORK_POOL})")
    parser.add_argument("--check", action="store_true", help="only check; start no worker")
    args, extra = parser.parse_known_args(argv)  # the rest (--name, --limit) goes to `prefect worker start`
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    found = problems(os.environ, args.pool)
    if found:
        print("The worker was not started:", file=sys.stderr)
        for problem in found:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(summary(os.environ, args.pool), flush=True)
    if args.check:
        return 0
    return run_worker(worker_command(args.pool, extra))


if __name__ == "__main__":
    sys.exit(main())
