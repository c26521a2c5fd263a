"""A throwaway PostgreSQL cluster for the suite: Debian's `postgresql` package, `initdb` in a temporary folder, on a
free port of 127.0.0.1, run as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).

One cluster per session; each test gets a database of its own (`Cluster.new_url`). Connections over TCP need the
password (scram-sha-256), so a `state_url` with its password behind a secret reference is tested for real.
Durability is off (fsync, full_page_writes): the cluster lives for one session and its speed is the suite's.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.smtp import free_port

PASSWORD = "cohort-test-pw"  # the throwaway cluster's superuser password
SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl are: Debian keeps them in /usr/lib/postgresql/<version>/bin (the newest wins), other
    systems on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def unavailable_reason() -> str | None:
    """Why no cluster can be started here, or None when one can."""
    if find_bindir() is None:
        return "PostgreSQL is not installed (make test installs Debian's postgresql package when run as root)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return "running as root and there is no postgres user to run the cluster as"
    return None


class Cluster:
    """A running cluster in its own temporary folder (data, socket, log), stopped and removed by `stop`."""

    def __init__(self) -> None:
        bindir = find_bindir()
        assert bindir is not None, unavailable_reason()
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="cohort-select-pg-"))
        self.port = free_port()
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # the cluster runs as postgres, which must own its folder
            account = pwd.getpwnam(SUPERUSER)
            os.chown(self.base, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", SUPERUSER, "--"]

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self._as_user, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.base / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}{tail}")

    def start(self) -> Cluster:
        pwfile = self.base / "pw"
        pwfile.write_text(PASSWORD + "\n")
        os.chmod(pwfile, 0o644)
        data = self.base / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.base / "log"), "-o", settings, "-w", "start"
        )
        return self

    def url(self, database: str = "postgres", *, password: bool = True, options: str = "") -> str:
        secret = f":{PASSWORD}" if password else ""
        query = f"?options={options.replace(' ', '%20').replace('=', '%3D')}" if options else ""
        return f"postgresql+psycopg://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}{query}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple]:
        """One statement in autocommit (CREATE DATABASE cannot run in a transaction); its rows, if any."""
        import psycopg

        with psycopg.connect(self.url(database).replace("+psycopg", ""), autocommit=True) as conn:
            cursor = conn.execute(sql)  # type: ignore[call-overload]  # the tests' own statements
            return cursor.fetchall() if cursor.description else []

    def new_database(self) -> str:
        """A fresh, empty database (its name): every test starts from an empty state store."""
        name = f"t{next(self._names)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return name

    def new_url(self, **kwargs) -> str:
        return self.url(self.new_database(), **kwargs)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()
