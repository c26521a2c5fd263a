"""The demo's own copy of a cohort: the cohort file as staff keep it, with the bundled responses as its source, a
state store in the demo's folder, and nothing that reaches a live sheet, a mail server or the season's store. Each
run starts from an empty folder, so the demo can run any number of times and never adds to the real record."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from pydantic import BaseModel

from schemas.config import CohortConfig, ConfigError, FileSourceConfig, load_config, parse_config, read_config_data
from schemas.deployment import Env
from schemas.errors import StaffError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_COHORT = ROOT / "cohorts" / "esp-2021.yaml"
BUNDLED_RESPONSES = ROOT / "examples" / "esp-2021-responses.csv"
DEFAULT_FOLDER = Path("out") / "demo"

# In the demo's folder: a file saying the folder is the demo's, so the next run may empty it; the copy of the
# cohort file; the state store's folder.
DEMO_MARK = ".cohort-select-demo"
DEMO_COHORT = "cohort.yaml"
DEMO_STATE = "state"
# Keys of a cohort file that hold a path relative to it; the copy lives elsewhere, so they become absolute.
PATH_KEYS = ("previous_participants", "reviews", "interest_list")
# Keys that reach what staff use for the season, left out: a state store on a server, the Overrides staff keep, the
# review round (its roster, reviewers' sheets and the refusal while reviews are missing) and the reply form (its
# key would sign codes that verify in the season's call).
LIVE_KEYS = ("state_url", "overrides", "review", "replies")
# The hour of the morning after the deadline at which the demo's dry run of the notices is made.
NOTIFY_HOUR = 9


class DemoError(StaffError):
    """The demo cannot run in the folder given, or its copy would use the season's own state."""


class DemoPlan(BaseModel):
    """Where one demo run keeps everything, and the moments it runs as of."""

    folder: Path
    cohort_file: Path
    state_dir: Path
    select_at: dt.datetime
    notify_at: dt.datetime


def demo_cohort_data(data: dict, base: Path, responses: Path, folder: Path) -> dict:
    """The cohort file's content for the demo: `responses` as a file source (whatever source the file names), the
    store under `folder`, no store URL, no Overrides, no mail server, and every other path made absolute from `base`
    (the cohort file's folder)."""
    copy = {key: value for key, value in data.items() if key not in LIVE_KEYS}
    copy["source"] = {"kind": "file", "path": str(responses.resolve())}
    copy["state_dir"] = str((folder / DEMO_STATE).resolve())
    for key in PATH_KEYS:
        if copy.get(key) is not None:
            copy[key] = os.path.normpath(base / str(copy[key]))
    if isinstance(copy.get("email"), dict):
        copy["email"] = {key: value for key, value in copy["email"].items() if key != "smtp"}
    if isinstance(copy.get("retention"), dict):
        copy["retention"] = copy["retention"] | {"folders": [str(folder.resolve())]}
    return copy


def demo_moments(config: CohortConfig) -> tuple[dt.datetime, dt.datetime]:
    """(selection, notices): the selection as of the deadline, as the scheduled run makes it, and the dry run of the
    notices at NOTIFY_HOUR the next morning in the cohort's zone, so the demo gives the same result in any year."""
    local = config.deadline.astimezone(config.zone)
    morning = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(NOTIFY_HOUR), tzinfo=config.zone)
    return config.deadline, morning


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_demo_folder(folder: Path, season_states: list[Path]) -> None:
    """The folder is the demo's to empty: new, empty or made by an earlier demo, and apart from the season's store
    (the cohort file's state folder, and the environment's when set)."""
    folder = folder.resolve()
    for season_state in (path.resolve() for path in season_states):
        if _within(season_state, folder) or _within(folder, season_state):
            raise DemoError(
                f"the demo folder {folder} and the cohort's state folder {season_state} overlap: give the demo "
                "another folder (--out), so the season's store is never touched"
            )
    if folder.exists() and not folder.is_dir():
        raise DemoError(f"the demo folder {folder} is a file: give the demo a folder (--out)")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / DEMO_MARK).is_file():
        raise DemoError(
            f"the demo folder {folder} holds files an earlier demo did not make (it has no {DEMO_MARK}): remove "
            "the folder or give the demo another one (--out), as each run empties it"
        )


def _season_states(data: dict, base: Path) -> list[Path]:
    """The state folders of the season: the cohort file's, and the environment's override when set."""
    named = base / str(data.get("state_dir") or CohortConfig.model_fields["state_dir"].default)
    return [named, *([Path(os.environ[Env.STATE_DIR])] if os.environ.get(Env.STATE_DIR) else [])]


def prepare_demo(cohort_file: Path, responses: Path, folder: Path) -> DemoPlan:
    """The demo's folder emptied and its copy of the cohort file written (the original is checked first, so a
    mistake in it is named there); returns where the run keeps everything and the moments it runs as of."""
    data = read_config_data(cohort_file)
    parse_config(data, origin=str(cohort_file))
    if not isinstance(data, dict):  # parse_config refuses anything else
        raise ConfigError(f"{cohort_file}: expected a mapping of keys at the top level")
    if not responses.is_file():
        raise DemoError(f"the responses file {responses} for the demo does not exist")
    base = cohort_file.resolve().parent
    check_demo_folder(folder, _season_states(data, base))
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / DEMO_MARK).write_text("Made by `cohort-select demo`, which empties this folder on each run.\n")
    copy = folder / DEMO_COHORT
    header = (
        f"# The demo's copy of {cohort_file.resolve()}, written again by each `cohort-select demo` run (edit the "
        "original):\n# its responses are a file, its state store is in this folder, and it has no Overrides, "
        "store URL or mail server.\n"
    )
    body = yaml.safe_dump(demo_cohort_data(data, base, responses, folder), sort_keys=False, allow_unicode=True)
    copy.write_text(header + body, encoding="utf-8")
    state_dir = (folder / DEMO_STATE).resolve()
    with own_store(state_dir):
        config = load_config(copy)
        check_demo_store(config, state_dir)
    select_at, notify_at = demo_moments(config)
    return DemoPlan(folder=folder, cohort_file=copy, state_dir=state_dir, select_at=select_at, notify_at=notify_at)


def check_demo_store(config: CohortConfig, state_dir: Path) -> None:
    """The copy reads a file and keeps its state in a SQLite file under the demo's folder, nowhere else."""
    from sqlalchemy.engine import make_url

    url = make_url(config.database_url)
    kept = url.get_backend_name() == "sqlite" and _within(Path(url.database or "").resolve(), state_dir)
    if not kept or not isinstance(config.source, FileSourceConfig):
        raise DemoError(f"the demo's copy of the cohort would not keep its state in {state_dir}: nothing was run")


@contextmanager
def own_store(state_dir: Path) -> Iterator[None]:
    """While the demo runs, the store is the SQLite file under `state_dir`: a store URL or state folder set in the
    environment for the season (COHORT_STATE_URL, COHORT_STATE_DIR, COHORT_STATE_BACKEND) is set aside, then put
    back."""
    names = (Env.STATE_URL, Env.STATE_DIR, Env.STATE_BACKEND)
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.pop(name, None)
    os.environ[Env.STATE_DIR] = str(state_dir)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
