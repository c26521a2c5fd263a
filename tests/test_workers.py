"""A worker's start-up checks (tasks/worker_checks.py, flows/worker.py) and the store guard each run makes: every
missing or wrong variable named in one sentence; never a SQLite store where the deployment says PostgreSQL. The
stores are real (SQLite files, the session's PostgreSQL cluster); the whole set-up runs in tests/test_worker_e2e.py."""

from __future__ import annotations

import importlib.abc
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from flows import worker as worker_module
from flows.select_cohort import select_cohort
from flows.worker import alive, descendants, run_worker, stop
from flows.worker import main as worker_main
from schemas.config import ConfigError, load_config
from schemas.deployment import WORK_POOL, Env, StoreBackend
from tasks.lease import Lease
from tasks.migrations import BASELINE, VERSION_TABLE, head
from tasks.store import StoreError, leases, open_store, record_approval
from tasks.worker_checks import (
    DeploymentSpec,
    WrongStoreError,
    api_problems,
    check_run_store,
    home_problems,
    store_choice,
    store_problems,
)
from tests.support.configs import make_config
from tests.support.paths import ROOT
from tests.support.postgres import PASSWORD
from tests.support.smtp import free_port

PG = StoreBackend.POSTGRESQL
SQLITE = StoreBackend.SQLITE


def _cohort(tmp_path: Path, **changes) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return make_config(tmp_path, smtp_port=25, **changes)[1]


def _deployment(path: Path, backend: str | None = PG) -> DeploymentSpec:
    return DeploymentSpec(
        "esp-2021-select-at-deadline", str(path), backend, {} if backend is None else {Env.STATE_BACKEND: backend}
    )


def _pg_store(cluster, database: str, role: str = "postgres") -> dict:
    """A state_url as a cohort file gives it: the URL without its password, which is in COHORT_TEST_PW."""
    return {
        "url": f"postgresql+psycopg://{role}@127.0.0.1:{cluster.port}/{database}",
        "password": {"env": "COHORT_TEST_PW"},
    }


# ------------------------------------------------------------------------------------------------ the Prefect API


def test_no_api_url_is_named_with_what_to_set():
    (problem,) = api_problems(None, {})
    assert problem.startswith("PREFECT_API_URL is not set: set it to the shared Prefect server's API")


def test_a_server_that_does_not_answer_is_named():
    url = f"http://127.0.0.1:{free_port()}/api"
    (problem,) = api_problems(url, {})
    assert f"The Prefect server at PREFECT_API_URL={url} does not answer" in problem
    assert "start it, or correct the address" in problem


@pytest.mark.parametrize("credentials", [{"PREFECT_API_KEY": "pnu_x"}, {"PREFECT_API_AUTH_STRING": "admin:pw"}])
def test_a_server_with_credentials_that_does_not_answer_is_named(credentials):
    url = f"http://127.0.0.1:{free_port()}/api"
    (problem,) = api_problems(url, credentials)
    assert "does not answer" in problem and "pnu_x" not in problem and "admin:pw" not in problem


# ------------------------------------------------------------------------------------------- the project folder


def test_the_project_folder_itself_passes_and_declares_postgresql():
    problems, deployments = home_problems(str(ROOT))
    assert problems == []
    assert len(deployments) == 6 * len(list((ROOT / "cohorts").glob("*.yaml")))  # six for each cohort file
    assert {d.backend for d in deployments} == {PG}


@pytest.mark.parametrize(
    ("home", "words"),
    [
        (None, "COHORT_SELECT_HOME is not set: set it to the project folder on this machine"),
        ("/no/such/folder", "COHORT_SELECT_HOME=/no/such/folder is not a folder on this machine"),
        ("{tmp}", "COHORT_SELECT_HOME={tmp} holds no prefect.yaml"),
    ],
)
def test_a_missing_or_wrong_home_is_named(tmp_path, home, words):
    home = home and home.format(tmp=tmp_path)
    (problem,) = home_problems(home)[0]
    assert problem.startswith(words.format(tmp=tmp_path))


def test_a_missing_cohort_file_an_undeclared_and_a_misspelled_store_are_each_named(tmp_path):
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    first, second, third = spec["deployments"][:3]
    first["parameters"]["config_path"] = "cohorts/gone.yaml"
    second["work_pool"] = {"name": WORK_POOL}  # no job_variables: no store declared
    third["work_pool"] = {"name": WORK_POOL, "job_variables": {"env": {str(Env.STATE_BACKEND): "postgres"}}}
    spec["deployments"] = [first, second, third]
    (tmp_path / "prefect.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "cohorts").mkdir()
    (tmp_path / "cohorts" / "esp-2021.yaml").write_text((ROOT / "cohorts" / "esp-2021.yaml").read_text())
    problems, deployments = home_problems(str(tmp_path))
    assert len(deployments) == 3
    assert problems == [
        "Deployment 'esp-2021-intake-check' names the cohort file cohorts/gone.yaml, which is not in "
        f"COHORT_SELECT_HOME={tmp_path}: copy it there (or correct config_path in prefect.yaml and deploy again).",
        "Deployment 'esp-2021-select-at-deadline' does not say which state store its runs use: set "
        "work_pool.job_variables.env.COHORT_STATE_BACKEND in prefect.yaml to postgresql (several workers or "
        "machines) or sqlite (one worker, one machine), then run `prefect deploy --all` again.",
        "COHORT_STATE_BACKEND='postgres' (deployment 'esp-2021-send-notices') is neither postgresql nor sqlite: "
        "correct it in prefect.yaml and run `prefect deploy --all` again.",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("deployments: [unclosed", "cannot be read (ParserError"),
        ("name: cohort-select\n", "has no `deployments:` list: it is not this project's prefect.yaml"),
        ("deployments:\n  - just a name\n  - {name: elsewhere, work_pool: {name: other}}\n", "has no deployment in"),
        (
            "deployments:\n  - {name: bare, work_pool: {name: cohort-select}}\n",
            "Deployment 'bare' in {yaml} has no config_path parameter: give it its cohort file.",
        ),
    ],
)
def test_a_prefect_yaml_that_cannot_be_used_is_named(tmp_path, text, words):
    (tmp_path / "prefect.yaml").write_text(text)
    problems, deployments = home_problems(str(tmp_path))
    assert deployments == []
    (problem,) = problems
    assert words.format(yaml=tmp_path / "prefect.yaml") in problem


# ------------------------------------------------------------------------------------- the store a run would use


@pytest.mark.parametrize("given", ["none", "sqlite-url", "env-url", "server"])
def test_the_store_choice_is_the_one_the_config_opens(tmp_path, monkeypatch, given):
    """store_choice follows CohortConfig.database_url's order (COHORT_STATE_URL, state_url, SQLite under state_dir)."""
    monkeypatch.setenv("COHORT_TEST_PW", "pw")
    monkeypatch.delenv(Env.STATE_URL, raising=False)
    changes: dict = {"state_url": None}
    if given == "sqlite-url":
        changes["state_url"] = f"sqlite:///{tmp_path / 'mine.sqlite'}"
    if given == "server":
        changes["state_url"] = {
            "url": "postgresql+psycopg://cohort@db.example.org/cohorts",
            "password": {"env": "COHORT_TEST_PW"},
        }
    if given == "env-url":
        monkeypatch.setenv(Env.STATE_URL, f"sqlite:///{tmp_path / 'env.sqlite'}")
    path = _cohort(tmp_path, **changes)
    config = load_config(path)
    choice = store_choice(config, str(path), os.environ)
    expected = config.database_url.replace(":pw@", "@")
    assert choice.url == expected


def test_postgresql_declared_but_no_store_given_is_refused(tmp_path):
    path = _cohort(tmp_path, state_url=None)
    (problem,) = store_problems(_deployment(path), tmp_path, {})
    assert problem.startswith(
        "Deployment 'esp-2021-select-at-deadline' must use a state store on postgresql "
        "(COHORT_STATE_BACKEND=postgresql in prefect.yaml), but the default (neither COHORT_STATE_URL nor "
        f"state_url in {path} is set) gives sqlite:///"
    )
    assert problem.endswith(
        f"set COHORT_STATE_URL in the worker's environment, or state_url in {path}, to the PostgreSQL store."
    )


def test_postgresql_declared_but_a_sqlite_url_given_is_refused_naming_where(tmp_path):
    path = _cohort(tmp_path)  # state_url: a SQLite file
    (in_file,) = store_problems(_deployment(path), tmp_path, {})
    assert f"but state_url in {path} gives sqlite:///" in in_file
    (in_env,) = store_problems(_deployment(path), tmp_path, {Env.STATE_URL: f"sqlite:///{tmp_path}/x.sqlite"})
    assert f"but COHORT_STATE_URL in this worker's environment gives sqlite:///{tmp_path}/x.sqlite" in in_env
    assert not list(tmp_path.glob("*.sqlite")), "a check created a store"


def test_a_url_that_is_not_one_is_one_sentence_at_start_up_and_in_a_run(tmp_path):
    path = _cohort(tmp_path)
    broken = {Env.STATE_URL: "postgres ql://cohort@db/cohorts"}
    (problem,) = store_problems(_deployment(path), tmp_path, broken)
    assert problem == (
        "Deployment 'esp-2021-select-at-deadline': the state store URL in COHORT_STATE_URL in this worker's "
        "environment is not a database URL: write it like postgresql+psycopg://role@host:5432/database (or "
        "sqlite:///path/state.sqlite)"
    )
    with pytest.raises(ConfigError, match="is not a database URL"):
        check_run_store(load_config(path), str(path), {Env.STATE_BACKEND: PG, **broken})


def test_sqlite_declared_but_postgresql_given_is_refused(tmp_path, postgres_cluster):
    path = _cohort(tmp_path, state_url=_pg_store(postgres_cluster, "postgres"))
    (problem,) = store_problems(_deployment(path, SQLITE), tmp_path, {"COHORT_TEST_PW": PASSWORD})
    assert "must use a state store on sqlite" in problem and "postgresql+psycopg://postgres@127.0.0.1" in problem


def test_sqlite_declared_and_given_passes(tmp_path):
    assert store_problems(_deployment(_cohort(tmp_path), SQLITE), tmp_path, {}) == []


def test_postgresql_store_reachable_with_its_secret_passes(tmp_path, postgres_cluster):
    path = _cohort(tmp_path, state_url=_pg_store(postgres_cluster, postgres_cluster.new_database()))
    assert store_problems(_deployment(path), tmp_path, {"COHORT_TEST_PW": PASSWORD}) == []


def test_a_broken_cohort_file_is_named_with_its_keys(tmp_path):
    path = tmp_path / "cohort.yaml"
    path.write_text("capacity: -1\n")
    (problem,) = store_problems(_deployment(path), tmp_path, {})
    assert problem.startswith(f"Deployment 'esp-2021-select-at-deadline': {path} is not a usable cohort config:")
    assert "capacity:" in problem


def test_a_whole_postgresql_url_in_the_environment_passes(tmp_path, postgres_cluster):
    """COHORT_STATE_URL as README step 4 writes it: plain postgresql:// (psycopg 3), the password in the URL."""
    url = postgres_cluster.url(postgres_cluster.new_database()).replace("+psycopg", "")
    assert store_problems(_deployment(_cohort(tmp_path, state_url=None)), tmp_path, {Env.STATE_URL: url}) == []


def test_another_driver_is_named(tmp_path):
    env = {Env.STATE_URL: "postgresql+asyncpg://cohort:pw@127.0.0.1/cohorts"}
    (problem,) = store_problems(_deployment(_cohort(tmp_path)), tmp_path, env)
    assert "it names the driver 'postgresql+asyncpg'; write postgresql+psycopg://" in problem


def test_an_unreadable_password_is_named(tmp_path, postgres_cluster):
    path = _cohort(tmp_path, state_url=_pg_store(postgres_cluster, "postgres"))
    (problem,) = store_problems(_deployment(path), tmp_path, {})
    assert problem == (
        f"Deployment 'esp-2021-select-at-deadline' cannot read the state store's password (state_url in {path}): "
        "environment variable COHORT_TEST_PW is not set; set it in this worker's environment (or create the Prefect "
        "Secret block) before starting the worker."
    )


def test_a_wrong_password_or_a_database_not_there_cannot_connect(tmp_path, postgres_cluster):
    path = _cohort(tmp_path, state_url=_pg_store(postgres_cluster, "postgres"))
    (wrong,) = store_problems(_deployment(path), tmp_path, {"COHORT_TEST_PW": "not-it"})
    assert "cannot connect to the state store postgresql+psycopg://postgres:***@127.0.0.1" in wrong
    assert "password authentication failed" in wrong and "not-it" not in wrong
    gone = _cohort(tmp_path / "gone", state_url=_pg_store(postgres_cluster, "no_such_db"))
    (missing,) = store_problems(_deployment(gone), tmp_path, {"COHORT_TEST_PW": PASSWORD})
    assert 'database "no_such_db" does not exist' in missing and "check the host, port, database" in missing


def test_a_server_not_listening_cannot_connect(tmp_path):
    store = {
        "url": f"postgresql+psycopg://cohort@127.0.0.1:{free_port()}/cohorts",
        "password": {"env": "COHORT_TEST_PW"},
    }
    path = _cohort(tmp_path, state_url=store)
    (problem,) = store_problems(_deployment(path), tmp_path, {"COHORT_TEST_PW": "pw"})
    assert "cannot connect to the state store" in problem and "Connection refused" in problem


def test_a_role_that_cannot_create_or_use_the_tables_is_told_the_grant(tmp_path, postgres_cluster):
    """PostgreSQL 15 gives no role CREATE on schema public: a fresh store's first open needs it (or ownership)."""
    cluster = postgres_cluster
    database = cluster.new_database()
    maker, user = f"maker_{uuid.uuid4().hex[:8]}", f"user_{uuid.uuid4().hex[:8]}"
    for role in (maker, user):
        cluster.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    env = {"COHORT_TEST_PW": PASSWORD}
    path = _cohort(tmp_path, state_url=_pg_store(cluster, database, maker))
    (problem,) = store_problems(_deployment(path), tmp_path, env)
    assert (
        f"it has no tables yet and the role {maker} may not create them in schema public of database {database}"
        in problem
    )
    assert f"GRANT CREATE ON SCHEMA public TO {maker};" in problem

    cluster.execute(f"GRANT CREATE ON SCHEMA public TO {maker}", database)
    assert store_problems(_deployment(path), tmp_path, env) == []
    open_store(cluster.url(database).replace("postgres:", f"{maker}:", 1)).dispose()  # the first open makes them

    other = _cohort(tmp_path / "other", state_url=_pg_store(cluster, database, user))
    (refused,) = store_problems(_deployment(other), tmp_path, env)
    assert (
        f"the role {user} lacks SELECT, INSERT, UPDATE, DELETE (or USAGE, on a sequence) on action_sequences" in refused
    )
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {user};" in refused
    cluster.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {user}", database)
    (sequences,) = store_problems(_deployment(other), tmp_path, env)
    assert "(or USAGE, on a sequence) on actions_id_seq, approvals_id_seq" in sequences  # no new row's id without it
    as_user = cluster.url(database).replace("postgres:", f"{user}:", 1)
    with pytest.raises(StoreError, match="permission denied for sequence"):
        record_approval(open_store(as_user), "c", "decisions", "run", "approved", "")
    cluster.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {user}", database)
    assert store_problems(_deployment(other), tmp_path, env) == []
    set_revision = f"UPDATE {VERSION_TABLE} SET version_num = "  # noqa: S608 -- the tests' own constants
    cluster.execute(f"{set_revision}'{BASELINE}'", database)  # as if an older version had made it
    (behind,) = store_problems(_deployment(other), tmp_path, env)
    assert f"it is at schema revision {BASELINE} and this checkout needs {head()}, which only the tables'" in behind
    assert store_problems(_deployment(path), tmp_path, env) == []  # the owner may upgrade it
    cluster.execute(f"{set_revision}'{head()}'", database)
    record_approval(open_store(as_user), "c", "decisions", "run", "approved", "")  # the README's rights suffice
    engine = open_store(as_user)
    lease = Lease(engine, "c", "a run as that role", 30)
    assert lease.try_take() is None
    lease.release()  # a delete: without DELETE the lease would stay held (silently) until it expired
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(leases)).scalar() == 0


class _NoPsycopg(importlib.abc.MetaPathFinder):
    """An interpreter without the postgres extra: psycopg cannot be imported."""

    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


def test_a_missing_driver_is_named_with_the_extra(tmp_path, monkeypatch):
    path = _cohort(tmp_path, state_url=_pg_store(type("C", (), {"port": 5432})(), "cohorts"))
    for name in [m for m in sys.modules if m == "psycopg" or m.startswith("psycopg.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NoPsycopg(), *sys.meta_path])
    (problem,) = store_problems(_deployment(path), tmp_path, {"COHORT_TEST_PW": "pw"})
    assert "this worker's Python cannot import the driver psycopg" in problem
    assert "pip install -e '.[postgres]'" in problem


# ------------------------------------------------------------------------------------------------- inside a run


def test_a_run_without_a_declared_store_uses_what_its_file_says(tmp_path):
    path = _cohort(tmp_path)
    check_run_store(load_config(path), str(path), {})  # the CLI, make serve, tests: no declaration, no check


def test_a_run_declared_postgresql_on_sqlite_stops_and_a_misspelling_is_named(tmp_path):
    path = _cohort(tmp_path)
    config = load_config(path)
    with pytest.raises(WrongStoreError, match=r"^This run must use a state store on postgresql .* but state_url in"):
        check_run_store(config, str(path), {Env.STATE_BACKEND: PG})
    with pytest.raises(WrongStoreError, match=r"COHORT_STATE_BACKEND='PostgreSQL' \(This run\) is neither"):
        check_run_store(config, str(path), {Env.STATE_BACKEND: "PostgreSQL"})
    check_run_store(config, str(path), {Env.STATE_BACKEND: SQLITE})


def test_a_flow_run_on_the_wrong_store_fails_before_reading_or_writing(tmp_path, monkeypatch, prefect_server):
    """As on a worker started without the checks: the deployment's COHORT_STATE_BACKEND reaches the run, whose
    cohort file names a SQLite store. The run fails at its first step; no store, no output folder is made."""
    path = _cohort(tmp_path)
    monkeypatch.setenv(Env.STATE_BACKEND, PG)
    out = tmp_path / "out"
    state = select_cohort(str(path), str(out), as_of="2021-06-08T09:00:00-04:00", return_state=True)
    assert state.is_failed()
    assert state.message.startswith("This run must use a state store")  # the sentence, as staff read it
    assert state.message.endswith("to the PostgreSQL store; nothing was read or written.")
    assert not out.exists()
    assert not (tmp_path / "state.sqlite").exists()


# ---------------------------------------------------------------------------------------------------- the command


def test_the_worker_command_names_each_problem_and_starts_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {Env.API_URL, Env.HOME}}
    done = subprocess.run(
        [sys.executable, "-m", "flows.worker"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0] == "The worker was not started:"
    assert lines[1].startswith("  - PREFECT_API_URL is not set")
    assert lines[2].startswith("  - COHORT_SELECT_HOME is not set")
    assert len(lines) == 3 and "Traceback" not in done.stderr


def test_the_worker_command_in_process_exits_2_naming_each_problem(monkeypatch, capsys):
    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv(Env.API_URL, url)
    monkeypatch.delenv(Env.HOME, raising=False)
    assert worker_main(["--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"The worker was not started:\n  - The Prefect server at PREFECT_API_URL={url} does not answer"
    )
    assert "  - COHORT_SELECT_HOME is not set" in err


# ------------------------------------------------------------------------------------------------ stopping


_TREE = """
import os, signal, subprocess, sys, time
# A stand-in for prefect's worker: a child in a session of its own (as a flow run is), then it waits.
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], start_new_session=True)
print(child.pid, flush=True)
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(0.1)
"""
_RUN = "import signal, time\n{handler}\nprint('ready', flush=True)\nwhile True:\n    time.sleep(0.1)\n"


def _tree(run_ignores_sigterm: bool = False, worker_ignores_sigterm: bool = False) -> tuple[subprocess.Popen, int]:
    """A stand-in worker with one run below it, both ready; (the worker, the run's pid)."""
    handler = "signal.signal(signal.SIGTERM, signal.SIG_IGN)" if run_ignores_sigterm else ""
    tree = (
        _TREE.replace("lambda *_: sys.exit(0))\nwhile", "signal.SIG_IGN)\nwhile") if worker_ignores_sigterm else _TREE
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", tree, _RUN.format(handler=handler)], stdout=subprocess.PIPE, text=True
    )
    lines = {worker.stdout.readline().strip() for _ in range(2)}  # its pid, and the run's word that it is ready
    lines.discard("ready")
    return worker, int(lines.pop())


def test_a_worker_that_ignores_sigterm_is_killed_at_the_bound(monkeypatch):
    monkeypatch.setattr(worker_module, "TERM_GRACE_SECONDS", 0.5)
    monkeypatch.setattr(worker_module, "STOP_SECONDS", 1.5)
    worker, run = _tree(worker_ignores_sigterm=True)
    started = time.monotonic()
    stop(worker)
    assert worker.returncode == -signal.SIGKILL and not alive(run)
    assert 1.4 < time.monotonic() - started < 3


def test_run_worker_stops_its_worker_on_one_sigterm_and_restores_the_handlers(tmp_path):
    """The supervising loop itself, in this process: SIGTERM arrives (as from a service manager), the worker and
    its run stop, run_worker returns 0, and this process's own handlers are back."""
    ready = tmp_path / "ready"
    command = [
        sys.executable,
        "-c",
        _TREE,
        f"import pathlib\npathlib.Path({str(ready)!r}).touch()\n" + _RUN.format(handler=""),
    ]
    before = signal.getsignal(signal.SIGTERM)

    def term_when_ready() -> None:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=term_when_ready, daemon=True).start()
    started = time.monotonic()
    assert run_worker(command) == 0
    assert time.monotonic() - started < 30
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("run_ignores_sigterm", [False, True])
def test_stop_ends_the_runs_then_the_worker_within_the_bound(monkeypatch, run_ignores_sigterm):
    """Real processes: a run that ends on SIGTERM is gone at once; one that ignores it is killed after the grace,
    and the worker and its runs are gone within STOP_SECONDS either way."""
    monkeypatch.setattr(worker_module, "TERM_GRACE_SECONDS", 1.0)
    worker, run = _tree(run_ignores_sigterm=run_ignores_sigterm)
    assert run in descendants(worker.pid) and alive(run)
    started = time.monotonic()
    stop(worker)
    seconds = time.monotonic() - started
    assert worker.returncode is not None and not alive(run)
    assert seconds < worker_module.STOP_SECONDS
    assert seconds >= 1.0 if run_ignores_sigterm else seconds < 1.0
