"""`make serve` (flows.serve --with-server): one SIGTERM stops it and the Prefect server it started within 10 s,
whether it is serving or still waiting for its server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.paths import ROOT
from tests.support.smtp import free_port

STOP_SECONDS = 10


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for thread in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (thread / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _served(url: str) -> bool:
    """Every deployment of prefect.yaml is registered: the runner serves (and has its own SIGTERM handler)."""
    try:
        response = httpx.post(f"{url}/deployments/filter", json={}, timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and len(response.json()) >= 5


@pytest.fixture
def make_serve(tmp_path):
    """Starts `python -m flows.serve --with-server PORT` with its own Prefect home; kills what is left at the end."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs /proc to follow the server child")
    port = free_port()
    env = os.environ | {"PREFECT_HOME": str(tmp_path), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    started: list[int] = []

    def start() -> tuple[subprocess.Popen, str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.serve", "--with-server", str(port)],
            cwd=ROOT,
            env=env,
            stdout=(tmp_path / "serve.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the clean-up finds the server even if orphaned
        )
        started.append(process.pid)
        return process, f"http://127.0.0.1:{port}/api"

    yield start
    for group in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def _stop_seconds(process: subprocess.Popen) -> tuple[float, list[int]]:
    family = [process.pid, *_descendants(process.pid)]
    assert len(family) >= 2, "the Prefect server child is running"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _until(lambda: process.poll() is not None and not any(_alive(pid) for pid in family), STOP_SECONDS + 5)
    return time.monotonic() - started, [pid for pid in family if _alive(pid)]


def test_one_sigterm_stops_serving_and_its_server(make_serve):
    process, url = make_serve()
    if not _until(lambda: _served(url), 60):
        pytest.skip("the Prefect server and its deployments did not come up within 60 s")
    seconds, left = _stop_seconds(process)
    assert left == [] and seconds < STOP_SECONDS, f"{left} still running {seconds:.1f} s after one SIGTERM"
    assert process.returncode == 0


def test_one_sigterm_while_the_server_starts_stops_both(make_serve):
    process, _ = make_serve()
    if not _until(lambda: _descendants(process.pid) != [], 30):
        pytest.skip("the Prefect server child did not start")
    time.sleep(1)  # the server is starting; serving (and the runner's own handler) has not begun
    seconds, left = _stop_seconds(process)
    assert left == [] and seconds < STOP_SECONDS, f"{left} still running {seconds:.1f} s after one SIGTERM"
