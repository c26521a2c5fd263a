"""The production set-up of the README, as real processes: a Prefect server on PostgreSQL, the process work pool,
`prefect deploy --all`, two workers started through `python -m flows.worker` (what `make worker` runs), the state
store on PostgreSQL with its password behind a secret reference. A selection and an approved send each run once
across the two workers, each notice arrives once at a local SMTP server and the ledger agrees; a run whose store
would be SQLite stops before it reads or writes anything; one SIGTERM stops a worker and its paused run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import prefect
import pytest
from prefect.blocks.system import Secret
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.worker import alive, descendants
from flows.worker import main as worker_main
from schemas.config import load_config
from schemas.deployment import WORK_POOL, DeploymentStep, Env, deployment_name
from schemas.ledger import LedgerState
from schemas.store import StoreCol
from tasks.deployments import cohort_deployments, prefect_yaml_text
from tasks.ledger import ledger
from tasks.store import open_store
from tasks.worker_checks import api_problems
from tests.support.configs import make_config
from tests.support.paths import ROOT
from tests.support.postgres import PASSWORD
from tests.support.prefect_server import prefect_server, read_state, run_logs, state_history, wait_for
from tests.support.smtp import SmtpServer

AFTER = "2021-06-08T09:00:00-04:00"
SECRET_BLOCK = "cohort-db-password"
STOP_SECONDS = 10
PREFECT = [sys.executable, "-m", "prefect"]
# Fast polling: a worker asks for runs every second; a paused send polls for its answer every 2 s (send_notices).
FAST = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1", "PREFECT_LOGGING_LEVEL": "INFO"}


@dataclass
class Production:
    api: str
    env: dict[str, str]  # a worker's (and a deployer's) environment
    project: Path  # COHORT_SELECT_HOME
    config_path: Path  # the cohort file of the deployments: its store on PostgreSQL
    store_url: str  # the state store, with its password
    smtp: SmtpServer


@pytest.fixture(scope="module")
def production(postgres_cluster, tmp_path_factory):
    """The server on its own PostgreSQL database, and a project folder as a worker machine holds it: prefect.yaml
    (the project's own, naming a test cohort file), flows/ and the cohort file, whose state_url is another
    database of the cluster with its password in a Prefect Secret block on the server (as the README suggests)."""
    cluster = postgres_cluster
    server_database = cluster.url(cluster.new_database()).replace("+psycopg", "+asyncpg")
    home = tmp_path_factory.mktemp("prefect-server")
    project = tmp_path_factory.mktemp("project")
    (project / "flows").symlink_to(ROOT / "flows")
    (project / "cohorts").mkdir()
    with SmtpServer() as smtp, prefect_server(home, server_database) as (api, env):
        store_database = cluster.new_database()
        with temporary_settings({PREFECT_API_URL: api}):
            Secret(value=PASSWORD).save(SECRET_BLOCK)  # in the UI: Blocks, Secret
        store = {"url": cluster.url(store_database, password=False), "password": {"prefect_secret": SECRET_BLOCK}}
        _, config_path = make_config(project / "cohorts", smtp.port, state_url=store)
        # The project's prefect.yaml as --write-prefect-yaml makes it, for this one cohort file.
        plans = cohort_deployments(load_config(config_path), f"cohorts/{config_path.name}")
        (project / "prefect.yaml").write_text(prefect_yaml_text(plans, prefect.__version__))
        worker_env = (
            env
            | FAST
            | {
                Env.HOME: str(project),
                "COHORT_STATE_DIR": str(project / "state"),  # where a SQLite fallback would appear: it must not
            }
        )
        for name in (Env.STATE_URL, Env.STATE_BACKEND):
            worker_env.pop(name, None)
        yield Production(api, worker_env, project, config_path, cluster.url(store_database), smtp)


def _worker(production: Production, name: str) -> tuple[subprocess.Popen, Path]:
    log = production.project / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.worker", "--name", name, "--limit", "1"],  # one run at a time: both work
        cwd=production.project,
        env=production.env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal gives it (Ctrl-C reaches the group)
    )
    wait_for(lambda: f"Worker '{name}' started" in log.read_text() or process.poll() is not None, 60, name)
    assert process.poll() is None, log.read_text()[-3000:]
    return process, log


def _finished(run_id: UUID, timeout: float = 180):
    return wait_for(lambda: (s := read_state(run_id)) is not None and s.is_final() and s, timeout, "the run to end")


def _paused(run_id: UUID) -> bool:
    state = read_state(run_id)
    return state is not None and state.is_paused()


def _start(flow: str, step: DeploymentStep, **parameters) -> UUID:
    """A run of the test cohort file's (cohorts/cohort.yaml) deployment of that step."""
    return run_deployment(f"{flow}/{deployment_name('cohort', step)}", parameters=parameters, timeout=0).id


def _stop_within(worker: subprocess.Popen, *, ctrl_c: bool = False) -> float:
    """Seconds from one SIGTERM (or a terminal's Ctrl-C: SIGINT to the worker's process group) until the worker
    and every process below it are gone."""
    below = descendants(worker.pid)
    started = time.monotonic()
    if ctrl_c:
        os.killpg(worker.pid, signal.SIGINT)
    else:
        worker.send_signal(signal.SIGTERM)
    wait_for(lambda: worker.poll() is not None and not any(alive(p) for p in below), 30, "the worker to stop", 0.05)
    return time.monotonic() - started


def _tried(run_id: UUID, logs: list[Path]) -> list[str]:
    """The workers that tried to take the run (`Worker 'NAME' submitting flow run 'ID'`): both may, for the
    server lets one run go Pending and tells the other to abort."""
    pattern = re.compile(rf"Worker '([^']+)' submitting flow run '{run_id}'")
    return [m.group(1) for log in logs for m in pattern.finditer(log.read_text())]


def _picked(run_id: UUID, logs: list[Path]) -> list[str]:
    """The workers that took the run: tried, and not told to abort."""
    aborted = f"Aborted submission of flow run '{run_id}'"
    return [
        name
        for name, log in zip(("worker-a", "worker-b"), logs, strict=True)
        if name in _tried(run_id, [log]) and aborted not in log.read_text()
    ]


def _names(run_id: UUID) -> list[str]:
    return [state.name for state in state_history(run_id)]


def test_two_workers_run_the_selection_and_an_approved_send_once_each(production, monkeypatch, capsys):
    env = production.env
    for name in (Env.API_URL, Env.HOME, "COHORT_STATE_DIR"):  # `python -m flows.worker --check`, in this process
        monkeypatch.setenv(name, env[name])

    # The worker refuses to start before the work pool exists, and says how to create it; an address without
    # /api (the UI's) is named as such.
    with temporary_settings({PREFECT_API_URL: production.api}):  # the password's Secret block is on the server
        assert worker_main(["--check"]) == 2
    refused = capsys.readouterr().err
    assert f"prefect work-pool create {WORK_POOL} --type process" in refused
    assert "Traceback" not in refused
    (wrong_address,) = api_problems(production.api.removesuffix("/api"), {})
    assert "answers, but not as a Prefect server's API does" in wrong_address

    subprocess.run([*PREFECT, "work-pool", "create", WORK_POOL, "--type", "process"], env=env, check=True)
    deployed = subprocess.run(
        [*PREFECT, "--no-prompt", "deploy", "--all"],
        cwd=production.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    with temporary_settings({PREFECT_API_URL: production.api}):
        assert worker_main(["--check"]) == 0  # what the workers below check before they start
    passed = capsys.readouterr().out
    assert "6 deployments" in passed and "state store postgresql+psycopg://postgres@127.0.0.1" in passed

    (worker_a, log_a), (worker_b, log_b) = _worker(production, "worker-a"), _worker(production, "worker-b")
    logs = [log_a, log_b]
    out = production.project / "out"
    smtp = production.smtp
    try:
        with temporary_settings({PREFECT_API_URL: production.api}):
            # The selection, and at the same time a run on a cohort file whose store is a SQLite file (what-if: the
            # selection's deployment runs one at a time).
            (production.project / "solo").mkdir()
            solo, solo_path = make_config(production.project / "solo", smtp.port)
            selection = _start(
                "select-cohort", DeploymentStep.SELECT_AT_DEADLINE, out_dir=str(out / "decisions"), as_of=AFTER
            )
            wrong = _start(
                "what-if", DeploymentStep.WHAT_IF, config_path=str(solo_path), out_dir=str(out / "x")
            )  # no concurrency limit
            assert _finished(selection).is_completed(), read_state(selection)
            assert (out / "decisions" / "decisions.csv").is_file()
            final = _finished(wrong)  # stopped at its first step: nothing read or written
            assert final.is_failed(), final
            assert "This run must use a state store on postgresql" in final.message
            assert "state_url in" in final.message and "nothing was read or written" in final.message
            assert not Path(solo.database_url.removeprefix("sqlite:///")).exists()
            assert not (out / "x").exists()
            stopped = run_logs(wrong, until="This run must use a state store")  # its one line
            assert not any("Traceback" in line for line in stopped)

            # The decision notices and the interest-list notice, both sent for approval; staff approve the first.
            send = _start(
                "send-notices", DeploymentStep.SEND_NOTICES, out_dir=str(out / "notices"), send=True, as_of=AFTER
            )
            paused = _start(
                "send-notices", DeploymentStep.INTEREST_NOTICES, out_dir=str(out / "interest"), send=True, as_of=AFTER
            )
            wait_for(lambda: _paused(send) and _paused(paused), 120, "both sends to pause for approval")
            assert smtp.received == []
            listed = subprocess.run(  # how the README finds a paused send's id from a shell
                [*PREFECT, "flow-run", "ls", "--state-type", "PAUSED", "-o", "json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert sorted(run["id"] for run in json.loads(listed.stdout)) == sorted([str(send), str(paused)])
            # The UI's Resume, with the approver's name the form requires.
            resume_flow_run(send, run_input={"approver": "Dana Reyes", "approve": True, "note": "checked the outbox"})
            assert _finished(send).is_completed(), read_state(send)

            # Each run was taken once, by one of the two workers, and ran once (its states, in order).
            runs = (selection, wrong, send, paused)
            for run in runs:
                assert len(_picked(run, logs)) == 1, (run, _tried(run, logs), _picked(run, logs))
            contested = sum(len(_tried(run, logs)) == 2 for run in runs)
            takers = Counter(name for run in runs for name in _picked(run, logs))
            assert set(takers) == {"worker-a", "worker-b"}, takers  # with --limit 1, runs at once go to both
            print(f"runs both workers tried to take: {contested} of {len(runs)}; taken: {dict(takers)}")
            once = ["Scheduled", "Pending", "Submitting", "Running"]  # taken once, started once
            assert _names(selection) == [*once, "Completed"], _names(selection)
            assert _names(wrong) == [*once, "Failed"], _names(wrong)
            assert _names(send) == [*once, "Paused", "Running", "Completed"], _names(send)

            # Each notice arrived once, and the ledger on PostgreSQL says so.
            ids = Counter(m.message["Message-ID"] for m in smtp.received)
            assert len(ids) >= 45 and max(ids.values()) == 1
            config = load_config(production.config_path)
            notices = ledger(open_store(production.store_url), config.cohort_id)
            sent = notices[notices[StoreCol.LEDGER_STATE] == LedgerState.SENT]
            assert sorted(sent[StoreCol.MESSAGE_ID]) == sorted(ids)
            unsure = {LedgerState.SENDING, LedgerState.UNKNOWN, LedgerState.FAILED}
            assert not set(notices[StoreCol.LEDGER_STATE]) & unsure
            assert not list(production.project.rglob("*.sqlite")), "a worker fell back to a SQLite store"

            # One SIGTERM stops the worker holding the paused interest send, and the send's process, within 10 s;
            # Ctrl-C stops the other.
            (holder,) = _picked(paused, logs)
            busy, idle = (worker_a, worker_b) if holder == "worker-a" else (worker_b, worker_a)
            assert len(descendants(busy.pid)) >= 2  # prefect's worker, and the paused run below it
            busy_seconds = _stop_within(busy)
            idle_seconds = _stop_within(idle, ctrl_c=True)
            print(f"stopped: busy worker {busy_seconds:.1f} s after SIGTERM, idle {idle_seconds:.1f} s after Ctrl-C")
            assert busy_seconds < STOP_SECONDS and idle_seconds < STOP_SECONDS
            assert busy.returncode == 0 and idle.returncode == 0
            left = wait_for(lambda: (s := read_state(paused)) is not None and not s.is_paused() and s, 30, "a state")
            assert left.is_crashed(), left  # a stopped worker's run ends Crashed; it sent nothing
            assert len(smtp.received) == len(ids)
    finally:
        for worker in (worker_a, worker_b):
            if worker.poll() is None:
                worker.kill()
                worker.wait()
