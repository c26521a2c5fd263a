"""Prefect's temporary local server for a command that runs a flow with no Prefect API configured, started first.

Left to itself, Prefect's client starts a temporary server when a flow first needs the API: after the command's
imports (Prefect, pandas, GX: seconds of one core), after importing Prefect's whole server app into the command's
own process just to launch it, and then waiting at most PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (20 s by
default) for it, which two commands started together on a loaded 2-core machine both exceeded. Here the command
starts the same server (Prefect's own uvicorn command for it, on a socket bound here, so two commands never race for
a port) before importing anything heavy, so the server's start runs on the other core while the command imports;
PREFECT_API_URL then points at it before Prefect is imported, so every Prefect client of the process (the flow's, its
logs', its events') uses that one server. The command waits for its first healthy answer, for up to
STARTUP_TIMEOUT_SECONDS, before the flow starts, and stops it as the process exits.

With PREFECT_API_URL set, in the environment or in the active Prefect profile (`prefect config set`), nothing is
started and the runs report to that server. Settings Prefect reads from a `.env` or `prefect.toml` file in the
working folder are not looked at here: the environment variable set here takes precedence over them.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from schemas.deployment import Env, PrefectEnv
from schemas.errors import StaffError

# Long enough for a loaded 2-core machine (two servers starting at once there took over 60 s), unless the
# environment sets Prefect's own setting for the temporary server's start.
STARTUP_TIMEOUT_SECONDS = 180.0
STOP_SECONDS = 5.0  # from SIGTERM to SIGKILL, as Prefect stops its temporary server
POLL_SECONDS = 0.1
LAUNCHES = 3  # starts of a server that exits before it answers (see wait_until_healthy)
PR_SET_PDEATHSIG = 1  # prctl: the server gets SIGTERM if the command dies first, even by SIGKILL
# What Prefect sets for the temporary server it starts itself (prefect.server.api.server.SubprocessASGIServer).
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


class ServerStartError(StaffError):
    """Prefect's temporary server did not start; the message says what to set."""


def configured_api_url(env: dict[str, str] | os._Environ[str]) -> str | None:
    """PREFECT_API_URL from the environment, else from the active profile of Prefect's profiles file, read without
    importing Prefect (which costs seconds)."""
    if env.get(Env.API_URL):
        return env[Env.API_URL]
    home = Path(env.get(PrefectEnv.HOME) or Path.home() / ".prefect").expanduser()
    path = Path(env.get(PrefectEnv.PROFILES_PATH) or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None  # no profiles file (or one Prefect itself will complain about): nothing configured here
    active = env.get(PrefectEnv.PROFILE) or profiles.get("active")
    profile = (profiles.get("profiles") or {}).get(active) or {}
    url = profile.get(Env.API_URL) if isinstance(profile, dict) else None
    return str(url) if url else None


def ephemeral_allowed(env: dict[str, str] | os._Environ[str]) -> bool:
    """False when the environment forbids Prefect's temporary server (then Prefect itself says what to set)."""
    return env.get(PrefectEnv.ALLOW_EPHEMERAL, "true").strip().lower() not in {"0", "false", "no", "off"}


def startup_timeout(env: dict[str, str] | os._Environ[str]) -> float:
    """Prefect's own setting for the temporary server's start when the environment sets it, else
    STARTUP_TIMEOUT_SECONDS."""
    given = env.get(PrefectEnv.STARTUP_TIMEOUT, "").strip()
    try:
        return float(given) if given else STARTUP_TIMEOUT_SECONDS
    except ValueError:
        raise ServerStartError(
            f"{PrefectEnv.STARTUP_TIMEOUT} must be a number of seconds, like 180 (it is {given!r})"
        ) from None


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child before exec
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(process: subprocess.Popen, grace_seconds: float) -> None:
    """SIGTERM, then SIGKILL if it lingers past `grace_seconds`; returns once it has exited (gone already is fine)."""
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class LocalServer:
    """One temporary Prefect server process of this command, on a loopback socket bound here."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.started_at = time.monotonic()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        self.port = int(listener.getsockname()[1])
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self._log: IO[bytes] = tempfile.TemporaryFile(prefix="cohort-select-prefect-server-")  # noqa: SIM115 -- stop() closes it
        env = {key: value for key, value in os.environ.items() if key != Env.API_URL} | SERVER_ENV
        spec = importlib.util.find_spec("prefect")  # finds Prefect's folder without importing it
        if spec is None or spec.origin is None:
            raise ServerStartError("Prefect is not installed in this environment: run `make venv`")
        app_dir = Path(spec.origin).parent.parent
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(app_dir),
            "--factory",
            "prefect.server.api.server:create_app",
            "--fd",
            str(listener.fileno()),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]
        self._command, self._env = command, env
        # Kept open here until the server answers, so a server that failed its start can be started again on it.
        self._listener: socket.socket | None = listener
        self._fd = listener.fileno()
        self.launches = 0
        self.process: subprocess.Popen[bytes] | None = self._launch()
        self.healthy = False
        # Stopped at exit, after Prefect's own exit handlers (registered later, so run earlier) have sent the run's
        # last logs and events to it.
        atexit.register(self.stop)

    def _launch(self) -> subprocess.Popen[bytes]:
        self.launches += 1
        return subprocess.Popen(  # noqa: S603 -- a fixed argv
            self._command,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=(self._fd,),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def wait_until_healthy(self) -> None:
        """Back once the server answers its health check; a ServerStartError when it exits LAUNCHES times or stays
        silent for the timeout (counted from its start, which overlapped the command's imports).

        A server that exits before it answers is started again: two servers making Prefect's database in a new
        PREFECT_HOME at once race on its migrations (alembic's "expected to match one row when updating …"), and
        the one that lost finds them done, or the other's progress, at its next start.
        """
        deadline = self.started_at + self.timeout
        while not self.healthy:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                if self.process is not None and self.launches < LAUNCHES:
                    print(
                        f"Prefect's temporary server stopped during its start ({self._tail()}); starting it again",
                        file=sys.stderr,
                    )
                    time.sleep(random.uniform(0.5, 2.0))  # noqa: S311 -- apart from the other server's next try
                    self.process = self._launch()
                    continue
                raise ServerStartError(
                    f"Prefect's temporary server stopped (exit status {code}) before it answered: {self._tail()}; "
                    f"set {Env.API_URL} to a running Prefect server (`make serve`) to use that one instead"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"Prefect's temporary server did not answer within {self.timeout:.0f} s (a busy machine): set "
                    f"{PrefectEnv.STARTUP_TIMEOUT} higher, or {Env.API_URL} to a running Prefect server (`make serve`)"
                )
            self.healthy = self._answers()
            if not self.healthy:
                time.sleep(POLL_SECONDS)
        self._close_listener()  # the server holds its own copy of the socket

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:  # noqa: S310 -- loopback http
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _tail(self) -> str:
        self._log.seek(0)
        lines = [line for line in self._log.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return " / ".join(lines[-3:]) or "it printed nothing"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after STOP_SECONDS); safe to call again."""
        self._close_listener()
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, STOP_SECONDS)
        with contextlib.suppress(OSError):
            self._log.close()


def start_local_server() -> LocalServer | None:
    """Prefect's temporary server started in the background, and PREFECT_API_URL set to it for this process,
    when no Prefect API is configured and Prefect may start one; None otherwise (then nothing changes). Call it
    before anything imports Prefect: Prefect reads its settings when it is imported."""
    if "prefect" in sys.modules:  # imported already (a caller of main() in its own process): Prefect decides
        return None
    if configured_api_url(os.environ) or not ephemeral_allowed(os.environ):
        return None
    server = LocalServer(startup_timeout(os.environ))
    os.environ[Env.API_URL] = server.api_url
    return server
