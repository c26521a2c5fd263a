"""Shared fixtures: the bundled config and one Prefect test server per session (shared builders and paths are in
tests/support/)."""

from __future__ import annotations

import os
import tempfile

import pytest

from tests.support.paths import CONFIG_PATH

# Before anything imports prefect: a private home, no analytics, no GX phone-home.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="cohort-select-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ["COHORT_STATE_DIR"] = tempfile.mkdtemp(prefix="cohort-select-state-")
for _name in ("SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "COHORT_STATE_URL"):
    os.environ.pop(_name, None)

# Prefect sets up its log handlers once, on first import, bound to the sys.stderr of that moment: do it here,
# on the session's stream, not inside a test whose captured stream is closed when it ends.
import prefect.main  # noqa: E402, F401


@pytest.fixture(scope="session")
def config():
    from schemas.config import load_config

    return load_config(CONFIG_PATH)


HARNESS_START_SECONDS = 120


@pytest.fixture(scope="session")
def prefect_server():
    """One Prefect test server for every flow test in the session. Its start may wait on a busy 2-core machine (each
    xdist worker starts one while the others import and run): Prefect's 30 s default timed out there."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=HARNESS_START_SECONDS):
        yield


# ---------------------------------------------------------------------------- the state store's two backends


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "sqlite_only(reason): the test checks SQLite itself (its file, its PRAGMAs); its PostgreSQL counterpart is "
        "named in the reason",
    )


def pytest_generate_tests(metafunc):
    """A test that uses `backend` runs once per state store backend, unless it is marked sqlite_only."""
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("backend", ["sqlite"] if only else ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres_cluster():
    """The session's PostgreSQL cluster, started the first time a test asks for it. Where PostgreSQL cannot be had
    the test is skipped, except on CI (CI set), where that is a failure: there the suite must cover both."""
    from tests.support.postgres import running_cluster, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the PostgreSQL tests, but {reason}")
        pytest.skip(reason)
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def backend(request, monkeypatch):
    """The state store of the test: its config's SQLite file, or a fresh PostgreSQL database (COHORT_STATE_URL,
    which every config, and every process the test starts, then uses)."""
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        monkeypatch.setenv("COHORT_STATE_URL", cluster.new_url())
    return request.param


@pytest.fixture
def state_url(backend, tmp_path):
    """The URL of the test's state store on its backend (for tests that open a store without a config)."""
    return os.environ.get("COHORT_STATE_URL") or f"sqlite:///{tmp_path / 'state.sqlite'}"
