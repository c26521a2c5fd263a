"""Serve every flow as a deployment from this machine (for one staff member without a work pool).

`make serve` starts a local Prefect server (UI on http://127.0.0.1:4200) and this process; the
deployments match prefect.yaml, so runs started in the UI behave the same as after `prefect deploy`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import httpx
import yaml
from prefect import Flow, serve
from prefect.client.schemas.schedules import RRuleSchedule
from prefect.deployments.runner import RunnerDeployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.intake import intake
from flows.promote_waitlist import promote_waitlist
from flows.select_cohort import select_cohort
from flows.send_notices import send_notices
from flows.simulate import simulate
from schemas.config import load_config

FLOWS: dict[str, Flow] = {
    "intake": intake,
    "select_cohort": select_cohort,
    "send_notices": send_notices,
    "promote_waitlist": promote_waitlist,
    "simulate": simulate,
}


def deployments(prefect_yaml: str, config_path: str | None) -> list[RunnerDeployment]:
    """prefect.yaml's deployments as served deployments, optionally for another cohort file."""
    spec = yaml.safe_load(Path(prefect_yaml).read_text(encoding="utf-8"))
    served: list[RunnerDeployment] = []
    for item in spec["deployments"]:
        function = item["entrypoint"].split(":")[1]
        parameters = dict(item.get("parameters", {}))
        if config_path:
            load_config(config_path)
            parameters["config_path"] = config_path
        schedules = [RRuleSchedule(rrule=s["rrule"], timezone=s["timezone"]) for s in item.get("schedules", [])]
        # Called outside an event loop, to_deployment returns the deployment itself (never a coroutine).
        served.append(
            cast(
                RunnerDeployment,
                FLOWS[function].to_deployment(
                    name=item["name"],
                    parameters=parameters,
                    schedules=schedules,
                    description=item.get("description"),
                    concurrency_limit=item.get("concurrency_limit"),
                ),
            )
        )
    return served


def start_local_server(port: int) -> subprocess.Popen:
    """A Prefect server on 127.0.0.1 for this machine only; returns once its API answers."""
    server = subprocess.Popen(  # noqa: S603 -- a fixed argv: this interpreter's own prefect, no shell
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        for _ in range(120):
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


def stop_local_server(server: subprocess.Popen, grace_seconds: float = 5) -> None:
    """Asks the server to stop and waits for it, so it never outlives this process; killed if it lingers."""
    server.terminate()
    try:
        server.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def exit_on_sigterm(_signum: int, _frame: object) -> None:
    """SIGTERM leaves like Ctrl-C does, through the `finally` that stops the local server. Prefect's runner puts
    its own handler in place once serving starts, which also exits this way."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefect-yaml", default="prefect.yaml")
    parser.add_argument("--config", help="serve the deployments for this cohort file instead")
    parser.add_argument("--with-server", type=int, metavar="PORT", help="also start a local Prefect server on PORT")
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not args.with_server:
        serve(*deployments(args.prefect_yaml, args.config), print_starting_message=True)
        return
    signal.signal(signal.SIGTERM, exit_on_sigterm)  # without it a SIGTERM before serving starts orphans the server
    server = start_local_server(args.with_server)
    try:
        with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{args.with_server}/api"}):
            print(f"Prefect UI: http://127.0.0.1:{args.with_server}")
            serve(*deployments(args.prefect_yaml, args.config), print_starting_message=True)
    finally:
        stop_local_server(server)


if __name__ == "__main__":
    main()
