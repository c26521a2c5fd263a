"""From Submit to Completed for the bundled example, through a warm `python -m flows.serve --with-server PORT`.

    python -m benchmarks.serve_latency [--runs 3] [--port 0]

Starts the served process on a free loopback port with its own Prefect home and a copy of cohorts/esp-2021.yaml
(its own state store), waits until it serves, then starts the selection's deployment --runs times through the API
as the UI's Submit does, one after another, each as of June 8 2021 09:00 New York time into a fresh folder. For each
run it prints the seconds from the request to each state the server recorded (Scheduled, Pending: the runner took
it; Running: the run's own process has started Prefect's engine; Completed) and the time of each task, the longest
first; then, in fresh interpreters, what importing Prefect and Great Expectations costs a run's process. Figures
only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL, temporary_settings

from schemas.deployment import DeploymentStep, deployment_name
from tests.support.configs import make_config
from tests.support.smtp import free_port

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2021-06-08 09:00"
STEM = "cohort"  # tests/support/configs.py writes the copy as cohort.yaml
FLOW = "select-cohort"


def _wait(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


async def _submit(out_dir: Path, config_path: Path) -> UUID:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(
            f"{FLOW}/{deployment_name(STEM, DeploymentStep.SELECT_AT_DEADLINE)}"
        )
        run = await client.create_flow_run_from_deployment(
            deployment.id, parameters={"config_path": str(config_path), "out_dir": str(out_dir), "as_of": AS_OF}
        )
        return run.id


async def _final(run_id: UUID) -> bool:
    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        return bool(run.state and run.state.is_final())


async def _timeline(run_id: UUID) -> tuple[list[tuple[str, dt.datetime]], list[tuple[str, float]]]:
    async with get_client() as client:
        states = sorted(await client.read_flow_run_states(run_id), key=lambda s: s.timestamp)
        tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    durations = [
        (task.name, (task.end_time - task.start_time).total_seconds())
        for task in tasks
        if task.start_time and task.end_time
    ]
    return [(s.name, s.timestamp) for s in states], sorted(durations, key=lambda d: -d[1])


def _import_seconds(module: str) -> float:
    """Seconds a fresh interpreter takes to import the module (the interpreter's own start subtracted)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    done = subprocess.run(  # noqa: S603 -- this interpreter, a fixed module name
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(done.stdout.strip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args(argv)
    port = args.port or free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = Path(tempfile.mkdtemp(prefix="serve-latency-"))
    _, config_path = make_config(base, smtp_port=25)
    env = os.environ | {"PREFECT_HOME": str(base / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = base / "serve.log"
    started = time.monotonic()
    serve = subprocess.Popen(  # noqa: S603 -- this interpreter, the project's own module
        [sys.executable, "-m", "flows.serve", "--with-server", str(port), "--config", str(config_path)],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    load = os.getloadavg()[0]
    totals: list[float] = []
    try:
        _wait(lambda: "Serving " in log.read_text() or serve.poll() is not None, 300, "the served process", 0.2)
        if serve.poll() is not None:
            raise SystemExit(log.read_text()[-3000:])
        print(f"flows.serve --with-server {port}: serving after {time.monotonic() - started:.1f} s")
        with temporary_settings({PREFECT_API_URL: api}):
            for number in range(1, args.runs + 1):
                submitted = dt.datetime.now(dt.UTC)
                clock = time.monotonic()
                run_id = asyncio.run(_submit(base / f"out-{number}", config_path))
                _wait(lambda run_id=run_id: asyncio.run(_final(run_id)), 300, "the run to finish")
                total = time.monotonic() - clock
                totals.append(total)
                states, tasks = asyncio.run(_timeline(run_id))
                steps = ", ".join(f"{name} +{(at - submitted).total_seconds():.1f}" for name, at in states)
                print(f"run {number}: {total:.1f} s Submit → {states[-1][0]} ({steps})")
                print("   tasks: " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in tasks[:5]))
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
    print(f"Submit → final: median {median(totals):.1f} s, fastest {min(totals):.1f} s, slowest {max(totals):.1f} s")
    print(f"a run's fresh process: import prefect {_import_seconds('prefect'):.1f} s, ", end="")
    print(f"import great_expectations {_import_seconds('great_expectations'):.1f} s")
    print(f"load average 1 min: {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
