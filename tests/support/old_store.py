"""The state stores in tests/fixtures/ written by commit 19386df's code (the last main before migrations), and how
the upgrade tests load them.

Remake them (see tests/fixtures/README.md) with a checkout of 19386df:

    git worktree add /tmp/old-19386df 19386df
    .venv/bin/python -m tests.support.old_store /tmp/old-19386df
    git worktree remove /tmp/old-19386df

Each backend's store is written by 19386df's own `cohort-select` (this venv, the old checkout first on the path)
on the bundled example: `select`, `notify --send` at 2021-06-08 09:00 EDT to aiosmtpd on 127.0.0.1, a `decline`
and a `confirm`, `promote --send` (the freed seat offered to the waitlist) and `notify --interest --send`. The
SQLite file is copied after a WAL checkpoint; the PostgreSQL database is dumped with Debian's pg_dump as plain SQL.
"""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.support.paths import ROOT
from tests.support.postgres import PASSWORD, SUPERUSER, Cluster, running_cluster
from tests.support.smtp import SmtpServer

FIXTURES = ROOT / "tests" / "fixtures"
SQLITE_FIXTURE = FIXTURES / "store-19386df.sqlite"
POSTGRES_FIXTURE = FIXTURES / "store-19386df.sql"
COHORT = "2021"  # the bundled example's cohort name, which 19386df keyed every table by
AS_OF = "2021-06-08T09:00:00-04:00"  # the morning after the deadline, as `make demo` sends
ACTION_AS_OF = "2021-06-09T12:00:00-04:00"


def load_sqlite(to: Path) -> str:
    """A copy of the SQLite fixture at `to`; its URL."""
    shutil.copyfile(SQLITE_FIXTURE, to)
    return f"sqlite:///{to}"


def load_postgres(cluster: Cluster, database: str) -> None:
    """The PostgreSQL fixture restored into an empty database, as staff would restore a plain dump (psql)."""
    subprocess.run(
        [
            str(cluster.bindir / "psql"),
            "--quiet",
            "--no-psqlrc",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-f",
            str(POSTGRES_FIXTURE),
        ],
        env=os.environ | {"PGPASSWORD": PASSWORD},
        check=True,
        capture_output=True,
        timeout=60,
    )


def _old_config(old: Path, smtp_port: int) -> Path:
    """The old checkout's bundled cohort file, its SMTP server the local one (no TLS, no login); next to the
    original so its relative paths still hold."""
    data = yaml.safe_load((old / "cohorts" / "esp-2021.yaml").read_text())
    data["email"]["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
    path = old / "cohorts" / "fixture-2021.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _cli(old: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=old,
        env=env | {"PYTHONPATH": str(old)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(f"$ cohort-select {' '.join(args)}  -> {done.returncode}\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    if done.returncode != 0:
        raise SystemExit(f"19386df's cohort-select {args[0]} failed")


def write_old_store(old: Path, state_url: str, work: Path) -> int:
    """19386df's steps on one store; the number of messages the SMTP server received."""
    with SmtpServer() as smtp:
        config = str(_old_config(old, smtp.port))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "COHORT_", "PREFECT_"))}
        env |= {
            "COHORT_STATE_URL": state_url,
            "PREFECT_HOME": str(work / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "GX_ANALYTICS_ENABLED": "False",
            "DO_NOT_TRACK": "1",
        }
        (work / "prefect").mkdir(parents=True)
        out = work / "out"
        _cli(old, env, "select", "--config", config, "--as-of", AS_OF, "--out", str(out / "sel"))
        _cli(old, env, "notify", "--config", config, "--as-of", AS_OF, "--out", str(out / "n"), "--send")
        with (out / "sel" / "decisions.csv").open(newline="") as f:
            chosen = [row["team_key"] for row in csv.DictReader(f) if row["status"] == "selected"]
        for verb, team in (("decline", chosen[0]), ("confirm", chosen[1])):
            said = ["--team", team, "--reason", f"fixture: {verb}", "--by", "fixture", "--as-of", ACTION_AS_OF]
            _cli(old, env, verb, "--config", config, *said)
        _cli(old, env, "promote", "--config", config, "--as-of", ACTION_AS_OF, "--out", str(out / "p"), "--send")
        _cli(old, env, "notify", "--config", config, "--as-of", AS_OF, "--out", str(out / "i"), "--interest", "--send")
        return len(smtp.received)


def main(old: Path) -> None:
    assert (old / "tasks" / "store.py").read_text().count("_add_missing_columns") > 0, "not a pre-migration checkout"
    FIXTURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = work / "state.sqlite"
        print("SQLite: messages received", write_old_store(old, f"sqlite:///{store}", work / "sqlite"))
        with sqlite3.connect(store) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(store, SQLITE_FIXTURE)
        with running_cluster() as cluster:
            database = cluster.new_database()
            print("PostgreSQL: messages received", write_old_store(old, cluster.url(database), work / "pg"))
            dump = subprocess.run(
                [
                    str(cluster.bindir / "pg_dump"),
                    "--no-owner",
                    "--no-privileges",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(cluster.port),
                    "-U",
                    SUPERUSER,
                    database,
                ],
                env=os.environ | {"PGPASSWORD": PASSWORD},
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            )
            POSTGRES_FIXTURE.write_text(dump.stdout)
    (old / "cohorts" / "fixture-2021.yaml").unlink()
    for made in (SQLITE_FIXTURE, POSTGRES_FIXTURE):
        print(f"{made}: {made.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
