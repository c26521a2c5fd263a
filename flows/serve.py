"""Serve the deployments of the cohort files from this machine (for one staff member without a work pool).

`make serve PORT=4200` starts a local Prefect server (UI and API on http://127.0.0.1:PORT) and serves the six
deployments of every cohorts/*.yaml (`--config FILE`, repeatable, for some), each named for its cohort file; one
Ctrl-C stops both. The deployments are built from the same plans as prefect.yaml (tasks/deployments.py), so runs
started in the UI behave the same as after `prefect deploy`. `--write-prefect-yaml` writes prefect.yaml from those
plans instead of serving.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import importlib
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import httpx
import prefect
import prefect.flow_engine
from prefect import Flow
from prefect.client.schemas.schedules import RRuleSchedule
from prefect.deployments.runner import RunnerDeployment
from prefect.runner import Runner
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.local_server import stop_process
from schemas.config import load_config
from schemas.deployment import PREFECT_YAML, SERVED_POLL_SECONDS
from schemas.errors import StaffError
from tasks.deployments import DeploymentPlan, check_distinct, cohort_deployments, prefect_yaml_text

ROOT = Path(__file__).resolve().parents[1]
COHORTS = "cohorts"  # the project's cohort files, one call each: every *.yaml in it is served and deployed
LOOPBACK = "127.0.0.1"
# One Ctrl-C stops everything within 10 s: the runner gets this long, then the server SERVER_STOP_SECONDS.
RUNNER_STOP_SECONDS = 4
SERVER_STOP_SECONDS = 4


def cohort_files(given: list[str] | None, root: Path = ROOT) -> list[Path]:
    """The cohort files to serve: those given, else every cohorts/*.yaml of the project."""
    return [Path(name) for name in given] if given else sorted((root / COHORTS).glob("*.yaml"))


def config_parameter(path: Path, base: Path) -> str:
    """The cohort file as runs open it: relative to `base` (the folder runs start in) when it lies there."""
    absolute = path.resolve()
    with contextlib.suppress(ValueError):
        return absolute.relative_to(base.resolve()).as_posix()
    return str(absolute)


def plans(files: list[Path], base: Path) -> list[DeploymentPlan]:
    """Every deployment of these cohort files, each file checked as a run would load it."""
    found: list[DeploymentPlan] = []
    for path in files:
        found += cohort_deployments(load_config(path), config_parameter(path, base))
    return check_distinct(found)


def flow_module(plan: DeploymentPlan) -> str:
    """The module of the plan's entrypoint: flows.select_cohort for flows/select_cohort.py:select_cohort."""
    return plan.entrypoint.partition(":")[0].removesuffix(".py").replace("/", ".")


def flow_of(plan: DeploymentPlan) -> Flow:
    """The flow object the plan's entrypoint names."""
    return cast(Flow, getattr(importlib.import_module(flow_module(plan)), plan.flow_function))


def deployment_options(plan: DeploymentPlan) -> dict[str, Any]:
    """A plan's deployment besides its flow, as Prefect's `to_deployment` and a runner's `add_flow` both take it."""
    return {
        "name": plan.name,
        "parameters": plan.parameters,
        "schedules": [RRuleSchedule(rrule=s.rrule, timezone=s.timezone) for s in plan.schedules],
        "description": plan.description,
        "concurrency_limit": plan.concurrency_limit,
    }


def runner_deployment(plan: DeploymentPlan) -> RunnerDeployment:
    """A plan as the deployment this process serves (the one `serve_until_stopped` registers)."""
    # Called outside an event loop, to_deployment returns the deployment itself (never a coroutine).
    return cast(RunnerDeployment, flow_of(plan).to_deployment(**deployment_options(plan)))


# ------------------------------------------------------------------------------------------------ warm runs
# What a run's new interpreter would spend most of its start importing (about 5 s of CPU on a quiet machine, three
# times that on a loaded one), besides the flows' own modules.
WARM_MODULES = ("prefect.flow_engine", "great_expectations", "great_expectations.validator.v1_validator")


def warm_forkserver(modules: list[str]) -> multiprocessing.context.ForkServerContext:
    """Python's forkserver, started now with these modules imported once: a process forked from it starts with
    them in memory. It holds no thread and no connection of its own, so each fork starts clean."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(modules)
    multiprocessing.forkserver.ensure_running()
    return context


class _ForkedFromWarmServer:
    """Stands for the `multiprocessing` module inside prefect.flow_engine, whose `run_flow_in_subprocess` asks it
    for the spawn context: this one answers with the warm forkserver's context, so that the runner's flow runs
    are forked from it instead of spawned as new interpreters. Everything else is the module's own."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._context = context

    def get_context(self, method: str | None = None) -> multiprocessing.context.BaseContext:  # noqa: ARG002 -- "spawn"
        return self._context

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)


def fork_runs_from(context: multiprocessing.context.BaseContext) -> None:
    """In this serving process, Prefect's runner starts every flow run from `context`'s processes."""
    setattr(prefect.flow_engine, "multiprocessing", _ForkedFromWarmServer(context))  # noqa: B010 -- mypy: a module


def write_prefect_yaml(root: Path = ROOT) -> Path:
    """prefect.yaml from every cohort file of the project, its paths relative to the project folder."""
    target = root / PREFECT_YAML
    target.write_text(prefect_yaml_text(plans(cohort_files(None, root), root), prefect.__version__), encoding="utf-8")
    return target


# ----------------------------------------------------------------------------------------- the local server


def server_env(port: int) -> dict[str, str]:
    """The server's environment: API and UI on PORT, and the UI told to call the API there (by default the UI
    it serves calls port 4200, whatever port the server listens on)."""
    api = f"http://{LOOPBACK}:{port}/api"
    return os.environ | {
        "PREFECT_SERVER_API_HOST": LOOPBACK,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": api,
        "PREFECT_UI_URL": f"http://{LOOPBACK}:{port}",
        "PREFECT_API_URL": api,
    }


def _die_with_parent() -> None:
    """In the server's process before it starts: Linux sends it SIGTERM if this process dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_local_server(port: int) -> subprocess.Popen:
    """A Prefect server on 127.0.0.1 for this machine only; returns once its API answers.

    It runs in a session of its own, so a Ctrl-C in the terminal reaches only this process, which stops the runner
    while the API still answers (the runner pauses its schedules through it) and then the server. Had the server
    taken the Ctrl-C too, it would have gone first and left the runner retrying a dead API, with tracebacks.
    """
    server = subprocess.Popen(  # noqa: S603 -- a fixed argv: this interpreter's own prefect, no shell
        [sys.executable, "-m", "prefect", "server", "start", "--host", LOOPBACK, "--port", str(port)],
        env=server_env(port),
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    url = f"http://{LOOPBACK}:{port}/api"
    try:
        for _ in range(240):
            if server.poll() is not None:
                break
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    except BaseException:  # a SIGTERM or Ctrl-C while it starts
        stop_local_server(server)
        raise
    stop_local_server(server)
    raise SystemExit(f"the Prefect server did not start on {url}")


def stop_local_server(server: subprocess.Popen, grace_seconds: float = SERVER_STOP_SECONDS) -> None:
    """Asks the server to stop and waits for it, so it never outlives this process; killed if it lingers."""
    stop_process(server, grace_seconds)


def exit_on_signal(_signum: int, _frame: object) -> None:
    """Before serving starts, SIGTERM leaves like Ctrl-C does, through the `finally` that stops the local server."""
    raise KeyboardInterrupt


async def serve_until_stopped(
    served: list[DeploymentPlan], *, pause_on_shutdown: bool, stop_seconds: float = RUNNER_STOP_SECONDS
) -> None:
    """Serves until Ctrl-C or SIGTERM, then stops the runner while the API still answers.

    Each deployment is added with its flow object (`add_flow`), so the runner starts a run by handing that flow to
    a new process (`fork_runs_from` makes it a fork of the warm forkserver) rather than by a `python -m
    prefect.engine` that imports everything again.

    Prefect's `serve` is not used: on SIGTERM its runner calls its own stop from inside the signal handler and never
    awaits it. Here both signals set an event the loop waits on; the runner then stops its polling and cancels the
    runs it started, and with `pause_on_shutdown` pauses the deployments' schedules (one API call each) so that a
    server that goes on running queues no runs for it. It asks for new runs every SERVED_POLL_SECONDS.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def listen() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

    listen()
    runner = Runner(query_seconds=SERVED_POLL_SECONDS, pause_on_shutdown=pause_on_shutdown)
    for plan in served:
        await runner.aadd_flow(flow_of(plan), **deployment_options(plan))
        if stop.is_set():
            return
    running = asyncio.create_task(runner.start())
    await asyncio.sleep(0)  # runner.start has put its own SIGTERM handler in place: these take over from it
    listen()
    print(f"Serving {len(served)} deployments: {', '.join(plan.name for plan in served)}", flush=True)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        stopping.cancel()
        return await running
    print("Stopping: no new runs; runs under way are cancelled.", flush=True)
    deadline = loop.time() + stop_seconds  # for the whole stop: its cancelling of runs under way talks to the API
    if runner.started:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runner.astop(), stop_seconds)
    else:
        running.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(running, max(0.1, deadline - loop.time()))


def serve_plans(served: list[DeploymentPlan], *, own_server: bool) -> None:
    """Serves the plans' deployments in this process until Ctrl-C or SIGTERM. The schedules of a server that stops
    with this process are left as they are (serving again registers every deployment unpaused)."""
    asyncio.run(serve_until_stopped(served, pause_on_shutdown=not own_server))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--config", action="append", metavar="FILE", help="serve this cohort file (repeatable; default cohorts/*.yaml)"
    )
    parser.add_argument("--with-server", type=int, metavar="PORT", help="also start a local Prefect server on PORT")
    parser.add_argument(
        "--write-prefect-yaml", action="store_true", help="write prefect.yaml from every cohorts/*.yaml, then exit"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        if args.write_prefect_yaml:
            print(f"Wrote {write_prefect_yaml()}")
            return
        served = plans(cohort_files(args.config), Path.cwd())
    except StaffError as exc:
        raise SystemExit(f"flows.serve: {exc}") from None
    # Until serving starts, SIGTERM and Ctrl-C both leave through the `finally` below (also when this process was
    # started with SIGINT ignored, as a shell's background job is).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, exit_on_signal)
    # The forkserver imports while the local server starts; the runner forks every run from it.
    fork_runs_from(warm_forkserver([*WARM_MODULES, *sorted({flow_module(plan) for plan in served})]))
    server = start_local_server(args.with_server) if args.with_server else None
    try:
        if server is None:
            serve_plans(served, own_server=False)
            return
        with temporary_settings(updates={PREFECT_API_URL: f"http://{LOOPBACK}:{args.with_server}/api"}):
            print(f"Prefect UI: http://{LOOPBACK}:{args.with_server}", flush=True)
            serve_plans(served, own_server=True)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            stop_local_server(server)


if __name__ == "__main__":
    main()
