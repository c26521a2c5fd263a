"""`make serve PORT=…` (flows.serve --with-server PORT): the UI on PORT calls the API on PORT; one Ctrl-C (SIGINT to
its process group, as a terminal sends it) or one SIGTERM stops it and the Prefect server it started within 10 s,
with no traceback, whether it is serving or still waiting for its server."""

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

from flows.serve import cohort_files, plans
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


def _served(url: str, log: Path) -> bool:
    """Every deployment of every cohort file is registered and the runner serves (with its own signal handlers)."""
    if "Serving " not in log.read_text():
        return False
    try:
        response = httpx.post(f"{url}/deployments/filter", json={}, timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and len(response.json()) >= len(plans(cohort_files(None), ROOT))


@pytest.fixture
def make_serve(tmp_path):
    """Starts `python -m flows.serve --with-server PORT` with its own Prefect home; kills what is left at the end."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs /proc to follow the server child")
    port = free_port()
    env = os.environ | {"PREFECT_HOME": str(tmp_path), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for name in ("PREFECT_API_URL", "PREFECT_UI_API_URL", "PREFECT_UI_URL", "PREFECT_SERVER_API_PORT"):
        env.pop(name, None)  # the port on the command line alone must set them
    started: list[subprocess.Popen] = []

    def start() -> tuple[subprocess.Popen, str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.serve", "--with-server", str(port)],
            cwd=ROOT,
            env=env,
            stdout=(tmp_path / "serve.log").open("w"),
            stderr=(tmp_path / "serve.err").open("w"),
            start_new_session=True,  # its own process group, as a terminal gives it (Ctrl-C reaches the group)
        )
        started.append(process)
        return process, f"http://127.0.0.1:{port}/api"

    yield start
    for process in started:
        for pid in [*_descendants(process.pid), process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _stop_seconds(process: subprocess.Popen, *, ctrl_c: bool = False) -> tuple[float, list[str]]:
    family = [process.pid, *_descendants(process.pid)]
    assert len(family) >= 2, "the Prefect server child is running"
    started = time.monotonic()
    if ctrl_c:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    _until(lambda: process.poll() is not None and not any(_alive(pid) for pid in family), STOP_SECONDS + 5)
    return time.monotonic() - started, [_command(pid) for pid in family if _alive(pid)]


def _command(pid: int) -> str:
    with contextlib.suppress(OSError):
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return str(pid)


def test_the_ui_on_port_calls_the_api_on_port_and_one_ctrl_c_stops_everything(make_serve, tmp_path):
    process, url = make_serve()
    if not _until(lambda: _served(url, tmp_path / "serve.log"), 90):
        pytest.skip("the Prefect server and its deployments did not come up within 90 s")
    settings = httpx.get(url.removesuffix("/api") + "/ui-settings", timeout=5).json()
    assert settings["api_url"] == url  # not Prefect's default port 4200
    seconds, left = _stop_seconds(process, ctrl_c=True)
    assert left == [] and seconds < STOP_SECONDS, f"{left} still running {seconds:.1f} s after one Ctrl-C"
    assert process.returncode == 0
    errors = (tmp_path / "serve.err").read_text()
    assert "Traceback" not in errors and "never awaited" not in errors, errors[-3000:]
    assert "Stopping: no new runs" in (tmp_path / "serve.log").read_text()  # the runner's own way out


def test_one_sigterm_stops_serving_and_its_server(make_serve, tmp_path):
    process, url = make_serve()
    if not _until(lambda: _served(url, tmp_path / "serve.log"), 90):
        pytest.skip("the Prefect server and its deployments did not come up within 90 s")
    seconds, left = _stop_seconds(process)
    assert left == [] and seconds < STOP_SECONDS, f"{left} still running {seconds:.1f} s after one SIGTERM"
    assert process.returncode == 0
    assert "Traceback" not in (tmp_path / "serve.err").read_text()


@pytest.mark.parametrize("ctrl_c", [False, True], ids=["sigterm", "ctrl-c"])
def test_one_signal_while_the_server_starts_stops_both(make_serve, ctrl_c):
    process, _ = make_serve()
    if not _until(lambda: _descendants(process.pid) != [], 30):
        pytest.skip("the Prefect server child did not start")
    time.sleep(1)  # the server is starting; serving (and the runner's own handlers) has not begun
    seconds, left = _stop_seconds(process, ctrl_c=ctrl_c)
    assert left == [] and seconds < STOP_SECONDS, f"{left} still running {seconds:.1f} s after one signal"
