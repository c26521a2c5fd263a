"""`cohort-select select` on the bundled example and on bad input, through the select_cohort flow."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from examples.generate import HEADERS, write_csv
from flows.cli import EXIT_NOTHING_SELECTED, EXIT_STAFF_ERROR, main
from schemas.columns import Col, Status
from tests.support.paths import CONFIG_PATH
from tests.support.rows import row

AFTER = "2021-06-08T09:00:00-04:00"


def select(tmp_path, *extra: str, out: str = "out") -> int:
    return main(["select", "--config", str(CONFIG_PATH), "--as-of", AFTER, "--out", str(tmp_path / out), *extra])


def test_bundled_example_decisions_and_summary(prefect_server, tmp_path, capfd):
    assert select(tmp_path) == 0
    printed = capfd.readouterr().out
    assert "selected       20" in printed
    decisions = pd.read_csv(tmp_path / "out" / "decisions.csv", dtype=str, keep_default_na=False)
    assert len(decisions) == 60
    assert decisions[Col.SOURCE_ROW].astype(int).tolist() == list(range(2, 62))
    assert set(decisions[Col.STATUS]) <= {s.value for s in Status}
    shown = ("rank", "selection_rank", "waitlist_position", "score", "reasons", "duplicate_of", "possible_duplicate_of")
    assert set(shown) | {"team_key", "submitted_at"} <= set(decisions.columns)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["counts"] == {"selected": 20, "waitlisted": 25, "invalid": 4, "duplicate": 9, "late": 2}
    assert sum(summary["counts"].values()) == 60
    assert max(summary["selected_per_state"].values()) <= summary["max_per_state"]
    assert summary["deadline"] == "2021-06-07T10:00:00-04:00"
    assert len(summary["input_sha256"]) == 64


def test_same_input_gives_byte_identical_files(prefect_server, tmp_path):
    assert select(tmp_path, out="a") == 0
    assert select(tmp_path, out="b") == 0
    for name in ("decisions.csv", "summary.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_before_the_deadline_refuses_then_previews(prefect_server, tmp_path, capfd):
    early = ["select", "--config", str(CONFIG_PATH), "--as-of", "2021-06-07T09:59:00-04:00", "--out", str(tmp_path)]
    assert main(early) == EXIT_STAFF_ERROR
    assert "the deadline has not passed" in capfd.readouterr().err
    assert main([*early, "--preview"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["provisional"] is True


@pytest.mark.parametrize(
    ("rows", "code", "message"),
    [
        (None, EXIT_STAFF_ERROR, "the responses sheet is empty"),
        ([], EXIT_NOTHING_SELECTED, "No team was selected"),
        ([row(State="Narnia"), row(Team_lead_email="x@")], EXIT_NOTHING_SELECTED, "No team was selected"),
    ],
    ids=["empty sheet", "header only", "all invalid"],
)
def test_bad_input_ends_with_a_message_and_exit_status(prefect_server, tmp_path, capfd, rows, code, message):
    path = tmp_path / "responses.csv"
    if rows is None:
        path.write_text("")
    else:
        write_csv(rows, path)
    assert select(tmp_path, "--submissions", str(path)) == code
    captured = capfd.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_capacity_above_applicants_is_noted(prefect_server, tmp_path, capfd):
    path = tmp_path / "responses.csv"
    write_csv([row()], path)
    assert select(tmp_path, "--submissions", str(path)) == 0
    assert "only 1 eligible teams applied" in capfd.readouterr().out
    assert len(HEADERS) == len(row())
