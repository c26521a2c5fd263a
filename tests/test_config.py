"""The cohort file: the bundled call loads, and each kind of mistake is refused by key with no traceback."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from schemas.config import ConfigError, SecretError, SecretRef, load_config, parse_config
from tests.support.paths import CONFIG_PATH, ROOT


def _data() -> dict:
    return yaml.safe_load(CONFIG_PATH.read_text())


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_bundled_2021_call_loads(config):
    assert config.program.startswith("ESPs")
    assert config.deadline == dt.datetime(2021, 6, 7, 14, 0, tzinfo=dt.UTC)
    assert config.deadline.astimezone(config.zone).hour == 10
    assert config.notify_by == dt.date(2021, 6, 21)
    assert (config.team_size.min, config.team_size.max) == (2, 5)
    assert config.source.path.is_file()
    assert config.email.smtp.password == SecretRef(env="SMTP_PASSWORD")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("capacity"), "capacity: missing key"),
        (lambda d: d.update(capacity="twenty"), "capacity: Input should be a valid integer"),
        (lambda d: d.update(capacity=0), "capacity: Input should be greater than or equal to 1"),
        (lambda d: d.update(deadline="2021-06-07T10:00:00"), "deadline: has no time zone offset"),
        (lambda d: d.update(deadline="2021-06-07T10:00:00-05:00"), "does not match America/New_York"),
        (lambda d: d.update(notify_by="2021-06-01"), "notify_by 2021-06-01 is before the deadline 2021-06-07"),
        (lambda d: d.update(timezone="Eastern"), "timezone: 'Eastern' is not a time zone name"),
        (lambda d: d["columns"].pop("Team lead email"), "columns: has no header for required field(s) lead_email"),
        (lambda d: d["columns"].update({"Extra": "shoe_size"}), "maps to unknown field(s) shoe_size"),
        (lambda d: d.update(capcity=3), "capcity: unknown key"),
        (lambda d: d["team_size"].update(min=6), "team_size: min (6) is larger than max (5)"),
        (lambda d: d["source"].update(path="responses.txt"), "source.path: must end in .csv or .xlsx"),
        (lambda d: d["email"]["smtp"].update(password="hunter2"), "email.smtp.password"),
        (lambda d: d["email"]["smtp"].update(password={"env": "A", "file": "b"}), "give exactly one of"),
    ],
)
def test_bad_config_names_key_and_problem(tmp_path, change, expected):
    data = _data()
    change(data)
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, data))
    assert expected in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_every_problem_is_listed_at_once(tmp_path):
    data = _data()
    data.pop("program")
    data["max_per_state"] = -1
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, data))
    message = str(raised.value)
    assert "program: missing key" in message
    assert "max_per_state:" in message


def test_not_yaml_and_not_a_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("program: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="mapping of keys"):
        parse_config(["a", "b"])
    with pytest.raises(ConfigError, match="cannot read cohort config"):
        load_config(tmp_path / "missing.yaml")


def test_google_sheet_source_and_state_dir_override(tmp_path, monkeypatch):
    data = _data()
    data["source"] = {
        "kind": "google_sheet",
        "key": "1AbCdEfGhIjKlMnOp",
        "worksheet": "Form Responses 1",
        "credentials": {"prefect_secret": "esp-sheets"},
    }
    monkeypatch.setenv("COHORT_STATE_DIR", str(tmp_path / "state"))
    config = load_config(_write(tmp_path, data))
    assert config.source.credentials.prefect_secret == "esp-sheets"
    assert config.state_dir == tmp_path / "state"


def test_secret_reference_reads_only_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("COHORT_TEST_SECRET", "s3cret")
    assert SecretRef(env="COHORT_TEST_SECRET").reveal() == "s3cret"
    monkeypatch.delenv("COHORT_TEST_SECRET")
    with pytest.raises(SecretError, match="COHORT_TEST_SECRET is not set"):
        SecretRef(env="COHORT_TEST_SECRET").reveal()
    key = tmp_path / "key.json"
    key.write_text('{"type": "service_account"}')
    assert SecretRef(file=key).reveal().startswith("{")


def test_cli_bad_config_is_one_message_and_exit_2(tmp_path):
    data = _data()
    data["capacity"] = 0
    path = _write(tmp_path, data)
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "intake", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "capacity: Input should be greater than or equal to 1" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
