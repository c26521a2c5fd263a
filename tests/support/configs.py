"""A cohort file for one test: the bundled one, pointed at a local SMTP server and the test's own state store."""

from __future__ import annotations

from pathlib import Path

import yaml

from schemas.config import load_config
from tests.support.paths import CONFIG_PATH, ROOT


def make_config(tmp_path: Path, smtp_port: int, **changes):
    data = yaml.safe_load(CONFIG_PATH.read_text())
    data["email"]["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
    data["state_url"] = f"sqlite:///{tmp_path / 'state.sqlite'}"
    data["source"]["path"] = str(ROOT / "examples" / "esp-2021-responses.csv")
    data["previous_participants"] = str(ROOT / "examples" / "previous-participants.csv")
    data["interest_list"] = str(ROOT / "examples" / "interest-list.csv")
    data["reserved_seats"] = []
    data["lease"] = {"wait_seconds": 30, "expire_seconds": 3}  # a killed sender's lease lapses within a test
    data.update(changes)
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path), path


def reply_form(responses: dict | None = None, **changes) -> dict:
    """A cohort file's `replies:` section for a test: a made-up form, its key in COHORT_REPLY_KEY, its responses in
    `responses` (a source section; a CSV beside the cohort file by default)."""
    return {
        "form_url": "https://docs.google.com/forms/d/e/1FAIpQLSe-reply/viewform",
        "token_entry": "entry.1111",
        "choice_entry": "entry.2222",
        "responses": responses or {"kind": "file", "path": "replies.csv"},
        "secret": {"env": "COHORT_REPLY_KEY"},
    } | changes
