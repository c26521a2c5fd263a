"""What a worker needs before it takes runs, and the check a run makes of its own store.

A worker that starts without the shared server's address, without the project folder, or on the wrong state store
takes runs that crash, or worse that write their decisions and ledger to a SQLite file on that one machine. Each
check returns its problems as sentences a person setting up a worker can act on (flows/worker.py prints them and
refuses to start); none raises for a problem it finds.

Which store a deployment's runs must use is declared once, in prefect.yaml (`work_pool.job_variables.env`
`COHORT_STATE_BACKEND: postgresql`): every worker's runs get it from the server, so a worker started by hand
without the checks still cannot fall back to SQLite (`check_run_store`, called as each run loads its config).
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml

from schemas.config import CohortConfig, ConfigError, SecretError, StateStoreConfig, load_config
from schemas.deployment import PREFECT_YAML, WORK_POOL, WORK_POOL_TYPE, Env, StoreBackend
from schemas.errors import StaffError
from tasks import migrations
from tasks.store import CONNECT_TIMEOUT_SECONDS, metadata, safe_url

DRIVERS = {"postgresql": "psycopg", "postgresql+psycopg": "psycopg"}  # the URLs open_store takes for PostgreSQL
HTTP_TIMEOUT_SECONDS = 10
TABLE_RIGHTS = ("SELECT", "INSERT", "UPDATE", "DELETE")  # what runs do to the store's tables (a lease released, a
# freeze or a restore replaced are deletes); their owner has every right


class WrongStoreError(StaffError):
    """A run would use another state store than its deployment says: it stops before reading or writing."""


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of prefect.yaml, as far as a worker's checks need it."""

    name: str
    config_path: str  # as written: relative to the project folder, or absolute
    backend: str | None  # its COHORT_STATE_BACKEND, None when it declares none
    env: dict[str, str] = field(default_factory=dict)  # its job_variables.env: what its runs add to the worker's


@dataclass(frozen=True)
class StoreChoice:
    """The state store a run would open and why that one. The URL is as given: COHORT_STATE_URL holds its password,
    a cohort file's server URL does not (`config` says where it is); messages show it through safe_url."""

    url: str
    source: str
    config: StateStoreConfig | None = None  # the cohort file's server store, whose password is read separately

    def __post_init__(self) -> None:
        """A URL that is not one (a typo in COHORT_STATE_URL or state_url) is one sentence naming where it is."""
        try:
            sa.make_url(self.url)
        except sa.exc.ArgumentError:
            raise ConfigError(
                f"the state store URL in {self.source} is not a database URL: write it like "
                "postgresql+psycopg://role@host:5432/database (or sqlite:///path/state.sqlite)"
            ) from None

    @property
    def backend(self) -> str:
        return sa.make_url(self.url).get_backend_name()


# ------------------------------------------------------------------------------------------------ the Prefect API


def _auth_headers(env: Mapping[str, str]) -> dict[str, str]:
    """The headers Prefect's own client sends: an API key (Prefect Cloud) or a self-hosted server's auth string."""
    if env.get(Env.API_KEY):
        return {"Authorization": f"Bearer {env[Env.API_KEY]}"}
    if env.get(Env.API_AUTH_STRING):
        return {"Authorization": "Basic " + base64.b64encode(env[Env.API_AUTH_STRING].encode()).decode()}
    return {}


def api_problems(api_url: str | None, env: Mapping[str, str], pool: str = WORK_POOL) -> list[str]:
    """PREFECT_API_URL is set, the server answers there, and the work pool exists and is a process pool."""
    create = f"create it once with `prefect work-pool create {pool} --type {WORK_POOL_TYPE}`"
    if not api_url:
        return [
            f"{Env.API_URL} is not set: set it to the shared Prefect server's API, e.g. "
            f"export {Env.API_URL}=http://prefect.example.org:4200/api (without it the worker would start a "
            "temporary server of its own, which no deployment is on)."
        ]
    url = api_url.rstrip("/")
    headers = _auth_headers(env)
    try:
        health = httpx.get(f"{url}/health", headers=headers, timeout=HTTP_TIMEOUT_SECONDS)
        prefect = health.status_code == 200 and _answer(health) is True  # Prefect's /health answers `true`
        found = (
            httpx.get(f"{url}/work_pools/{pool}", headers=headers, timeout=HTTP_TIMEOUT_SECONDS) if prefect else None
        )
    except httpx.HTTPError as exc:
        return [
            f"The Prefect server at {Env.API_URL}={api_url} does not answer ({exc.__class__.__name__}: {exc}): "
            "start it, or correct the address (it ends in /api)."
        ]
    if found is None:
        return [
            f"{Env.API_URL}={api_url} answers, but not as a Prefect server's API does (HTTP {health.status_code} "
            "for /health): correct the address (it ends in /api) or its credentials."
        ]
    if found.status_code == 404:
        return [f"The work pool {pool!r} does not exist on the Prefect server at {api_url}: {create}."]
    answer = _answer(found) if found.status_code == 200 else None
    kind = answer.get("type") if isinstance(answer, dict) else None
    if kind != WORK_POOL_TYPE:
        return [
            f"The work pool {pool!r} on {api_url} is not a process pool (HTTP {found.status_code}, type {kind!r}), "
            f"but these deployments run as local processes: delete it and {create}."
        ]
    return []


def _answer(response: httpx.Response) -> object:
    """The response's JSON, or None when it is not JSON (a web page at the wrong address)."""
    try:
        return response.json()
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------- the project folder


def read_deployments(prefect_yaml: Path, pool: str = WORK_POOL) -> tuple[list[str], list[DeploymentSpec]]:
    """The deployments of prefect.yaml that run in `pool`, and what is wrong with the file."""
    try:
        spec = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return [f"{prefect_yaml} cannot be read ({exc.__class__.__name__}: {exc}): fix it, then deploy again."], []
    if not isinstance(spec, dict) or not isinstance(spec.get("deployments"), list):
        return [f"{prefect_yaml} has no `deployments:` list: it is not this project's prefect.yaml."], []
    problems: list[str] = []
    found: list[DeploymentSpec] = []
    for item in spec["deployments"]:
        if not isinstance(item, dict):
            continue
        work_pool = item.get("work_pool") or {}
        if work_pool.get("name") != pool:
            continue
        name = str(item.get("name", "?"))
        config_path = (item.get("parameters") or {}).get("config_path")
        env = {str(k): str(v) for k, v in ((work_pool.get("job_variables") or {}).get("env") or {}).items()}
        if not config_path:
            problems.append(
                f"Deployment {name!r} in {prefect_yaml} has no config_path parameter: give it its cohort file."
            )
            continue
        found.append(DeploymentSpec(name, str(config_path), env.get(Env.STATE_BACKEND), env))
    if not found and not problems:
        problems.append(f"{prefect_yaml} has no deployment in the work pool {pool!r}: nothing for this worker to run.")
    return problems, found


def home_problems(home: str | None, pool: str = WORK_POOL) -> tuple[list[str], list[DeploymentSpec]]:
    """COHORT_SELECT_HOME names an existing folder holding prefect.yaml and every cohort file its deployments name;
    and each deployment says which state store its runs use."""
    example = f"e.g. export {Env.HOME}=/srv/cohort-select (the checkout holding {PREFECT_YAML} and cohorts/)"
    if not home:
        return [
            f"{Env.HOME} is not set: set it to the project folder on this machine, {example}; every run changes "
            "into it before it starts."
        ], []
    folder = Path(home)
    if not folder.is_dir():
        return [f"{Env.HOME}={home} is not a folder on this machine: set it to the project folder, {example}."], []
    if not (folder / PREFECT_YAML).is_file():
        return [f"{Env.HOME}={home} holds no {PREFECT_YAML}: set it to the project folder, {example}."], []
    problems, deployments = read_deployments(folder / PREFECT_YAML, pool)
    for deployment in deployments:
        path = folder / deployment.config_path
        if not path.is_file():
            problems.append(
                f"Deployment {deployment.name!r} names the cohort file {deployment.config_path}, which is not in "
                f"{Env.HOME}={home}: copy it there (or correct config_path in {PREFECT_YAML} and deploy again)."
            )
        if deployment.backend is None:
            problems.append(
                f"Deployment {deployment.name!r} does not say which state store its runs use: set "
                f"work_pool.job_variables.env.{Env.STATE_BACKEND} in {PREFECT_YAML} to {StoreBackend.POSTGRESQL} "
                f"(several workers or machines) or {StoreBackend.SQLITE} (one worker, one machine), then run "
                "`prefect deploy --all` again."
            )
        elif deployment.backend not in set(StoreBackend):
            problems.append(_unknown_backend(deployment.backend, f"deployment {deployment.name!r}"))
    return problems, deployments


def _unknown_backend(value: str, whose: str) -> str:
    return (
        f"{Env.STATE_BACKEND}={value!r} ({whose}) is neither {StoreBackend.POSTGRESQL} nor {StoreBackend.SQLITE}: "
        f"correct it in {PREFECT_YAML} and run `prefect deploy --all` again."
    )


# ------------------------------------------------------------------------------------------------ the state store


def store_choice(config: CohortConfig, config_path: str | Path, env: Mapping[str, str]) -> StoreChoice:
    """The store a run of this cohort file opens with this environment: COHORT_STATE_URL, else the file's
    state_url, else SQLite under its state_dir (the order of CohortConfig.database_url)."""
    if env.get(Env.STATE_URL):
        return StoreChoice(env[Env.STATE_URL], f"{Env.STATE_URL} in this worker's environment")
    if isinstance(config.state_url, StateStoreConfig):
        return StoreChoice(config.state_url.url, f"state_url in {config_path}", config.state_url)
    if config.state_url:
        return StoreChoice(config.state_url, f"state_url in {config_path}")
    default = f"sqlite:///{config.state_dir / 'state.sqlite'}"
    return StoreChoice(default, f"the default (neither {Env.STATE_URL} nor state_url in {config_path} is set)")


def wrong_store(config_path: str | Path, choice: StoreChoice, expected: str | None, whose: str) -> str | None:
    """The sentence for a run that would use another store than its deployment declares, or None."""
    if expected is None:
        return None
    if expected not in set(StoreBackend):
        return _unknown_backend(expected, whose)
    if choice.backend == expected:
        return None
    fix = (
        f"set {Env.STATE_URL} in the worker's environment, or state_url in {config_path}, to the PostgreSQL store"
        if expected == StoreBackend.POSTGRESQL
        else f"unset {Env.STATE_URL} and state_url, or declare {Env.STATE_BACKEND}: {StoreBackend.POSTGRESQL}"
    )
    return (
        f"{whose} must use a state store on {expected} ({Env.STATE_BACKEND}={expected} in {PREFECT_YAML}), but "
        f"{choice.source} gives {safe_url(choice.url)}: {fix}."
    )


def store_problems(
    deployment: DeploymentSpec, home: Path, env: Mapping[str, str], whose: str | None = None
) -> list[str]:
    """The store a run of this deployment would use on this worker: the one it declares, its driver installed,
    its password readable, the database reachable and the role allowed to make or use the store's tables.
    `whose` names the deployments the sentences are about (default: this one)."""
    config_path = home / deployment.config_path
    run_env = {**env, **deployment.env}
    whose = whose or f"Deployment {deployment.name!r}"
    try:
        choice = store_choice(load_config(config_path), deployment.config_path, run_env)
    except ConfigError as exc:
        return [f"{whose}: {exc}"]
    mismatch = wrong_store(deployment.config_path, choice, deployment.backend, whose)
    if mismatch:
        return [mismatch]
    if choice.backend == StoreBackend.POSTGRESQL:
        return _postgres_problems(choice, whose, run_env)
    return []  # a SQLite file: its first run makes it (a folder it cannot write is that run's store error)


def _postgres_problems(choice: StoreChoice, whose: str, env: Mapping[str, str]) -> list[str]:
    url = sa.make_url(choice.url)
    driver = DRIVERS.get(url.drivername)
    if driver is None:
        return [
            f"{whose} cannot use the state store URL {safe_url(choice.url)} ({choice.source}): it names the driver "
            f"{url.drivername!r}; write postgresql+psycopg:// (psycopg 3, the postgres extra)."
        ]
    try:
        importlib.import_module(driver)  # imported, not only found: a driver whose libpq is missing fails here too
    except ImportError as exc:
        return [
            f"{whose} cannot use PostgreSQL here: this worker's Python cannot import the driver {driver}"
            f" ({exc}); install the project with its postgres extra (`pip install -e '.[postgres]'`; `make venv` does)."
        ]
    try:
        full = _with_password(choice, env)
    except SecretError as exc:
        return [
            f"{whose} cannot read the state store's password ({choice.source}): {exc}; set it in this worker's "
            "environment (or create the Prefect Secret block) before starting the worker."
        ]
    return _database_problems(full, whose)


def _with_password(choice: StoreChoice, env: Mapping[str, str]) -> str:
    """The URL to connect with, its password read from where the cohort file says (an environment variable of
    `env`, which on a worker is its own, or a Prefect Secret block or a file). Raises SecretError."""
    if choice.config is None:
        return choice.url
    ref = choice.config.password
    if ref.env and ref.env not in env:
        raise SecretError(f"environment variable {ref.env} is not set")
    secret = env[ref.env] if ref.env else ref.reveal()
    return sa.make_url(choice.url).set(password=secret).render_as_string(hide_password=False)


def _upgrade_refused(engine: sa.Engine, present: set[str]) -> str | None:
    """Why the first run would fail to bring an older store to this checkout's schema revision, or None: altering the
    tables takes their owner, and a role that only uses them (the grants below) cannot."""
    with engine.connect() as conn:  # a connection of its own: a store made before migrations has no version table
        revision = migrations.stored_revision(conn)
    if revision == migrations.head():
        return None
    with engine.connect() as conn:
        owner = conn.execute(
            sa.text(
                "SELECT coalesce(bool_and(pg_has_role(current_user, tableowner, 'USAGE')), true) FROM pg_tables "
                "WHERE schemaname = current_schema() AND tablename = ANY(:names)"
            ),
            {"names": sorted(present)},
        ).scalar()
    if owner:
        return None
    return (
        f"it is at schema revision {revision or 'none (made before migrations)'} and this checkout needs "
        f"{migrations.head()}, which only the tables' owner may make; run any cohort-select command for this cohort "
        "once as that role (opening the store upgrades it), then start this worker again."
    )


def _database_problems(url: str, whose: str) -> list[str]:
    """The database answers, and the role can create the store's tables (a fresh store) or use them."""
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(parsed, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            role, database, schema = conn.execute(
                sa.text("SELECT current_user, current_database(), current_schema()")
            ).one()
            present = set(sa.inspect(conn).get_table_names())
            missing = [t.name for t in metadata.sorted_tables if t.name not in present]
            if missing:
                allowed = conn.execute(sa.text("SELECT has_schema_privilege(current_schema(), 'CREATE')")).scalar()
                if not allowed:
                    return [
                        f"{whose} cannot make the state store {safe_url(url)}: it has no tables yet and the role "
                        f"{role} may not create them in schema {schema} of database {database}; as the database "
                        f"owner, run GRANT CREATE ON SCHEMA {schema} TO {role}; (or make {role} own {database})."
                    ]
                return []
            # has_table_privilege is true when any one of several listed rights is held: ask for each alone.
            refused = [
                name
                for name in sorted(present & {t.name for t in metadata.sorted_tables})
                if not all(
                    conn.execute(sa.text("SELECT has_table_privilege(:t, :r)"), {"t": name, "r": right}).scalar()
                    for right in TABLE_RIGHTS
                )
            ]
            # The ids of new rows come from sequences: inserting needs USAGE on them too.
            refused += (
                conn.execute(
                    sa.text(
                        "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() "
                        "AND NOT has_sequence_privilege(quote_ident(schemaname) || '.' || quote_ident(sequencename), "
                        "'USAGE') ORDER BY sequencename"
                    )
                )
                .scalars()
                .all()
            )
            behind = None if refused else _upgrade_refused(engine, present)
    except sa.exc.DBAPIError as exc:
        words = "; ".join(line.strip() for line in str(exc.orig).splitlines() if line.strip())
        return [
            f"{whose} cannot connect to the state store {safe_url(url)} ({words}): check the host, port, database, "
            "role and password, and that the database server accepts this machine (pg_hba.conf)."
        ]
    finally:
        engine.dispose()
    if refused:
        rights = ", ".join(TABLE_RIGHTS)
        return [
            f"{whose} cannot use the state store {safe_url(url)}: the role {role} lacks {rights} (or USAGE, on a "
            f"sequence) on {', '.join(refused)}; as their owner, run "
            f"GRANT {rights} ON ALL TABLES IN SCHEMA {schema} TO {role}; and "
            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role};"
        ]
    if behind:
        return [f"{whose} cannot upgrade the state store {safe_url(url)}: {behind}"]
    return []


# ------------------------------------------------------------------------------------------------- all of them


def worker_problems(api_url: str | None, env: Mapping[str, str], pool: str = WORK_POOL) -> list[str]:
    """Everything that stops a worker with this environment from running the pool's deployments; empty when it
    can. Deployments of one cohort file (and one declared environment) share a store: it is checked once, and
    its sentences name them all."""
    found = api_problems(api_url, env, pool)
    home_found, deployments = home_problems(env.get(Env.HOME), pool)
    found += home_found
    home = Path(env.get(Env.HOME) or ".")
    alike: dict[tuple[str, str | None, tuple[tuple[str, str], ...]], list[DeploymentSpec]] = {}
    for deployment in deployments:
        if (home / deployment.config_path).is_file():
            key = (deployment.config_path, deployment.backend, tuple(sorted(deployment.env.items())))
            alike.setdefault(key, []).append(deployment)
    for group in alike.values():
        found += store_problems(group[0], home, env, _whose(group))
    return found


def _whose(group: list[DeploymentSpec]) -> str:
    """`Deployment 'a'`, or `Deployments 'a', 'b' and 'c' (cohorts/x.yaml)`."""
    if len(group) == 1:
        return f"Deployment {group[0].name!r}"
    names = [repr(d.name) for d in group]
    return f"Deployments {', '.join(names[:-1])} and {names[-1]} ({group[0].config_path})"


def checked_summary(api_url: str | None, env: Mapping[str, str], pool: str = WORK_POOL) -> str:
    """What a worker that passed the checks was checked against, for its first line (no password)."""
    home = Path(env[Env.HOME])
    _, deployments = home_problems(str(home), pool)
    stores = {
        safe_url(store_choice(load_config(home / d.config_path), d.config_path, {**env, **d.env}).url)
        for d in deployments
    }
    return (
        f"Checked: work pool {pool!r} on {api_url}, {len(deployments)} deployments in {home / PREFECT_YAML}, "
        f"state store {', '.join(sorted(stores))}."
    )


# ------------------------------------------------------------------------------------------------- inside a run


def check_run_store(config: CohortConfig, config_path: str, env: Mapping[str, str]) -> None:
    """Stop a run, before it reads or writes anything, whose store is not the one its deployment declares (the
    COHORT_STATE_BACKEND its worker got from prefect.yaml). A run without that declaration (the CLI, `make serve`,
    a test) uses whatever store its cohort file says."""
    expected = env.get(Env.STATE_BACKEND)
    if expected is None:
        return
    problem = wrong_store(config_path, store_choice(config, config_path, env), expected, "This run")
    if problem:
        raise WrongStoreError(f"{problem.removesuffix('.')}; nothing was read or written.")
