"""`make demo` (`cohort-select demo`): its own copy of the cohort and its own store, run as often as wanted, never
the season's store, sheet or mail server, and it says where to look."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from flows.cli import EXIT_STAFF_ERROR, main
from schemas.config import load_config, read_config_data
from schemas.deployment import Env
from tasks.demo import (
    DEMO_COHORT,
    DEMO_MARK,
    DEMO_STATE,
    DemoError,
    check_demo_folder,
    demo_cohort_data,
    demo_moments,
)
from tasks.store import open_store, selections
from tests.support.paths import CONFIG_PATH, EXAMPLE_PATH, ROOT

SHEET = {
    "kind": "google_sheet",
    "key": "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "worksheet": "Form Responses 1",
    "credentials": {"env": "GOOGLE_SERVICE_ACCOUNT_JSON"},
}


def _season(tmp_path: Path) -> Path:
    """A season's cohort file as staff keep it, beside the examples as in the project: the 2021 call pointed at the
    live sheet, with a store URL, an Overrides file and a state folder of its own."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "cohorts").mkdir()
    data = read_config_data(CONFIG_PATH)
    data |= {
        "source": SHEET,
        "state_dir": "../state/esp-2021",
        "state_url": f"sqlite:///{tmp_path / 'season-url.sqlite'}",
        "overrides": "../state/overrides.csv",
    }
    path = tmp_path / "cohorts" / "esp-2021.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def offline(monkeypatch):
    """Every connection to anything but this machine, and every Google Sheets client, refused and listed."""
    attempts: list[str] = []
    connect = socket.socket.connect

    def local_only(self, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(address, tuple) and host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(f"connect {address}")
            raise OSError(f"the test allows no network: {address}")
        return connect(self, address)

    def no_sheets(*args, **kwargs):
        attempts.append("sheet client")
        raise AssertionError("the demo opened the Google Sheet")

    monkeypatch.setattr(socket.socket, "connect", local_only)
    monkeypatch.setattr("flows.steps.sheet_client", no_sheets)
    monkeypatch.setattr("tasks.sources.sheet_client", no_sheets)
    return attempts


def _selections(folder: Path) -> int:
    engine = open_store(f"sqlite:///{folder / DEMO_STATE / 'state.sqlite'}")
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(selections)).scalar_one()


def test_two_demos_from_a_live_sheet_cohort_touch_nothing_of_the_season(
    prefect_server, tmp_path, monkeypatch, offline, capfd
):
    cohort = _season(tmp_path)
    env_state, env_url = tmp_path / "env-state", tmp_path / "env-url.sqlite"
    monkeypatch.setenv(Env.STATE_DIR, str(env_state))  # the season's store as a shell may name it
    monkeypatch.setenv(Env.STATE_URL, f"sqlite:///{env_url}")
    folder = tmp_path / "out" / "demo"
    made = []
    for _ in range(2):
        assert main(["demo", "--config", str(cohort), "--out", str(folder)]) == 0
        made.append({name: (folder / name).read_bytes() for name in ("decisions.csv", "summary.json")})
        assert _selections(folder) == 1  # each run starts from an empty store: one final selection, not two
    printed = capfd.readouterr().out
    assert made[0] == made[1]
    assert offline == []
    for season in (tmp_path / "state", tmp_path / "season-url.sqlite", env_state, env_url):
        assert not season.exists(), f"the demo touched the season's {season}"
    assert os.environ[Env.STATE_URL] == f"sqlite:///{env_url}"  # the shell's settings are back after the run
    assert os.environ[Env.STATE_DIR] == str(env_state)
    outbox = folder / "outbox"
    assert len(list(outbox.glob("*.eml"))) == 50
    assert (outbox / "index.csv").is_file()
    for shown in (folder / "report.html", folder / "decisions.csv", outbox):
        assert str(shown) in printed.split("Where to look")[-1]
    copy = load_config(folder / DEMO_COHORT)
    assert copy.source.kind == "file" and copy.source.path == EXAMPLE_PATH
    assert copy.state_url is None and copy.overrides is None and copy.email.smtp.password is None


def test_the_copy_keeps_the_cohort_but_nothing_live(tmp_path):
    data = read_config_data(CONFIG_PATH)
    data |= {"source": SHEET, "state_url": "postgresql+psycopg://cohort@db.example.org/cohorts", "overrides": "o.csv"}
    folder = tmp_path / "demo"
    copy = demo_cohort_data(data, CONFIG_PATH.parent, EXAMPLE_PATH, folder)
    assert copy["source"] == {"kind": "file", "path": str(EXAMPLE_PATH)}
    assert copy["state_dir"] == str(folder.resolve() / DEMO_STATE)
    assert "state_url" not in copy and "overrides" not in copy and "smtp" not in copy["email"]
    assert copy["interest_list"] == str(ROOT / "examples" / "interest-list.csv")
    assert copy["previous_participants"] == str(ROOT / "examples" / "previous-participants.csv")
    assert copy["retention"]["folders"] == [str(folder.resolve())]
    for key in ("program", "cohort", "deadline", "capacity", "rubric", "reserved_seats", "notices", "columns"):
        assert copy[key] == data[key]


def test_the_demo_runs_as_of_the_deadline_and_the_next_morning(config):
    select_at, notify_at = demo_moments(config)
    assert select_at.isoformat() == "2021-06-07T10:00:00-04:00"
    assert notify_at.isoformat() == "2021-06-08T09:00:00-04:00"


def test_a_folder_the_demo_did_not_make_is_left_alone(tmp_path, capfd):
    kept = tmp_path / "mine"
    kept.mkdir()
    (kept / "notes.txt").write_text("staff notes")
    with pytest.raises(DemoError, match=f"no {DEMO_MARK}"):
        check_demo_folder(kept, [tmp_path / "state"])
    assert main(["demo", "--out", str(kept)]) == EXIT_STAFF_ERROR
    assert f"no {DEMO_MARK}" in capfd.readouterr().err
    assert (kept / "notes.txt").read_text() == "staff notes"
    (kept / DEMO_MARK).write_text("")
    check_demo_folder(kept, [tmp_path / "state"])  # an earlier demo's folder: the next run may empty it


@pytest.mark.parametrize("where", ["state", "state/esp-2021/demo", "."])
def test_a_demo_folder_overlapping_the_seasons_store_is_refused(tmp_path, where):
    with pytest.raises(DemoError, match="overlap"):
        check_demo_folder(tmp_path / where, [tmp_path / "state" / "esp-2021"])
