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


@pytest.fixture(scope="session")
def prefect_server():
    """One Prefect test server for every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield
