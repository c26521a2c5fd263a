"""Two `cohort-select select` commands started at once, each a real process that starts its own temporary Prefect
server (flows/local_server.py), both finish: on a loaded 2-core machine two such commands used to die waiting for
their servers (Prefect's 20 s start timeout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows import local_server
from schemas.columns import Col
from schemas.config import read_config_data
from schemas.deployment import Env, PrefectEnv
from tasks.demo import BUNDLED_RESPONSES, DEFAULT_COHORT, demo_cohort_data

AS_OF = "2021-06-08 09:00"
# Both processes, their servers' starts and Prefect's database made in a new home, on a loaded 2-core machine
# (about 110 s at a load average of 4).
WAIT_SECONDS = 420


def _select_command(folder: Path) -> list[str]:
    """`cohort-select select` on the demo's copy of the 2021 cohort in `folder` (its own state store)."""
    folder.mkdir()
    data = demo_cohort_data(read_config_data(DEFAULT_COHORT), DEFAULT_COHORT.parent, BUNDLED_RESPONSES, folder)
    cohort = folder / "cohort.yaml"
    cohort.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    cli = str(Path(sys.executable).with_name("cohort-select"))
    return [cli, "select", "--config", str(cohort), "--out", str(folder / "out"), "--as-of", AS_OF]


def test_two_commands_started_at_once_both_finish(tmp_path):
    unset = {Env.API_URL, "PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"}
    env = {key: value for key, value in os.environ.items() if key not in unset}
    # One new Prefect home for both, as one staff member's commands share theirs: the two servers make its database
    # at once (the hardest start), then both use it.
    env |= {PrefectEnv.HOME: str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop(PrefectEnv.STARTUP_TIMEOUT, None)  # the command's own start timeout, not one the caller may have set
    commands = [_select_command(tmp_path / name) for name in ("first", "second")]
    logs = [(tmp_path / f"{n}.log").open("w") for n in range(2)]
    processes = [
        subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for command, log in zip(commands, logs, strict=True)
    ]
    try:
        codes = [process.wait(timeout=WAIT_SECONDS) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
    printed = [(tmp_path / f"{n}.log").read_text() for n in range(2)]
    assert codes == [0, 0], "\n\n".join(text[-3000:] for text in printed)
    for name, text in zip(("first", "second"), printed, strict=True):
        decisions = pd.read_csv(tmp_path / name / "out" / "decisions.csv", dtype=str, keep_default_na=False)
        assert len(decisions) == 60
        assert (decisions[Col.STATUS] == "selected").sum() == 20
        assert "Running as of 2021-06-08 09:00 EDT" in text


def test_an_api_url_in_the_environment_or_the_active_profile_starts_no_server(tmp_path):
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        'active = "shared"\n'
        '[profiles.shared]\nPREFECT_API_URL = "http://prefect.example.org:4200/api"\n'
        "[profiles.ephemeral]\nPREFECT_SERVER_ALLOW_EPHEMERAL_MODE = true\n",
        encoding="utf-8",
    )
    home = {PrefectEnv.HOME: str(tmp_path)}
    assert local_server.configured_api_url({Env.API_URL: "http://127.0.0.1:4200/api"}) == "http://127.0.0.1:4200/api"
    assert local_server.configured_api_url(home) == "http://prefect.example.org:4200/api"
    assert local_server.configured_api_url(home | {PrefectEnv.PROFILE: "ephemeral"}) is None
    assert local_server.configured_api_url({PrefectEnv.HOME: str(tmp_path / "none")}) is None
    assert not local_server.ephemeral_allowed({PrefectEnv.ALLOW_EPHEMERAL: "false"})
    assert local_server.ephemeral_allowed({})


def test_the_start_timeout_is_prefects_setting_when_set(monkeypatch, tmp_path):
    assert local_server.startup_timeout({}) == local_server.STARTUP_TIMEOUT_SECONDS
    assert local_server.startup_timeout({PrefectEnv.STARTUP_TIMEOUT: "300"}) == 300
    with pytest.raises(local_server.ServerStartError, match=PrefectEnv.STARTUP_TIMEOUT):
        local_server.startup_timeout({PrefectEnv.STARTUP_TIMEOUT: "soon"})
    # Once Prefect is imported it has read its settings: a server started then would go unused.
    import prefect  # noqa: F401

    monkeypatch.delenv(Env.API_URL, raising=False)
    monkeypatch.setenv(PrefectEnv.HOME, str(tmp_path))  # no profile with an API URL
    assert local_server.start_local_server() is None
