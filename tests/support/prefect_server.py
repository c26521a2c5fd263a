"""A real Prefect server for end-to-end tests: `prefect server start` on a free loopback port with its own home,
on SQLite or on a PostgreSQL database; and the small API reads those tests make of flow runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State

from tests.support.paths import ROOT
from tests.support.smtp import free_port

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """The predicate's first truthy value within timeout seconds; an AssertionError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def _until(predicate: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def server_env(home: Path, url: str, database_url: str | None = None) -> dict[str, str]:
    env = os.environ | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": url,
    }
    env.pop("PREFECT_API_URL", None)
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    return env


@contextlib.contextmanager
def prefect_server(home: Path, database_url: str | None = None, timeout: float = 120) -> Iterator[tuple[str, dict]]:
    """(API URL, environment for clients of it): a server whose database is its home's SQLite file, or
    `database_url` (e.g. postgresql+asyncpg://user:pw@127.0.0.1:5432/prefect). Stopped on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = server_env(home, url, database_url)
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        started = _until(lambda: healthy(url) or server.poll() is not None, timeout)
        if not started or server.poll() is not None:
            raise AssertionError(f"the Prefect server did not start: {(home / 'server.log').read_text()[-3000:]}")
        client_env = {k: v for k, v in env.items() if k != "PREFECT_API_DATABASE_CONNECTION_URL"}
        yield url, client_env | {"PREFECT_API_URL": url}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def read_state(flow_run_id: UUID) -> State | None:
    async def read() -> State | None:
        async with get_client() as client:
            return (await client.read_flow_run(flow_run_id)).state

    return asyncio.run(read())


def state_history(flow_run_id: UUID) -> list[State]:
    """Every state the run has been in, oldest first."""

    async def read() -> list[State]:
        async with get_client() as client:
            return await client.read_flow_run_states(flow_run_id)

    return sorted(asyncio.run(read()), key=lambda s: s.timestamp)


def run_logs(flow_run_id: UUID, timeout: float = 30, until: str | None = None) -> list[str]:
    """The run's log lines as the UI shows them, oldest first, once one holds `until` (by default the flow's own
    last line, "Finished in state …", which a task's line of the same words is not): they reach the API a moment
    after the run ends."""

    def finished() -> list[str]:
        logs = _all_logs(flow_run_id)
        if until is None:
            done = any(log.task_run_id is None and "Finished in state" in log.message for log in logs)
        else:
            done = any(until in log.message for log in logs)
        return [log.message for log in logs] if done else []

    return wait_for(finished, timeout, "the run's logs")


def _all_logs(flow_run_id: UUID) -> list:
    """Every log of the run, oldest first, read a page at a time (the API returns at most its default limit); by
    the synchronous client, so that it also serves a test whose thread runs an event loop (Playwright's)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    found = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    logs: list = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_logs(log_filter=found, sort=LogSort.TIMESTAMP_ASC, offset=len(logs), limit=200)
            logs.extend(page)
            if len(page) < 200:
                return logs


def read_flow_run(flow_run_id: UUID):
    async def read():
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)

    return asyncio.run(read())


def run_logs_now(flow_run_id: UUID) -> list[str]:
    """The log lines of a run this process has just made (a test server's), oldest first: this process's queued
    lines sent first."""
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    return [log.message for log in _all_logs(flow_run_id)]


def deployment_exists(name: str) -> bool:
    async def check() -> bool:
        async with get_client() as client:
            try:
                await client.read_deployment_by_name(name)
            except Exception:
                return False
            return True

    return asyncio.run(check())


def run_artifacts(flow_run_id) -> dict[str, object]:
    """The run's artifacts by key: a table as its rows, markdown as its text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    read = {}
    for artifact in found:
        data = artifact.data
        read[artifact.key] = json.loads(data) if artifact.type == "table" and isinstance(data, str) else data
        read[f"{artifact.key}:description"] = artifact.description
    return read


@contextlib.contextmanager
def serving(config_path: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`python -m flows.serve --config FILE` against the API in `env`, its output in `log`; stopped at the end."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "flows.serve", "--config", str(config_path)],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield serve
    finally:
        serve.terminate()
        serve.wait(timeout=30)
