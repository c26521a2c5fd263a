"""The selection and what-if flows on the bundled 2021 example, under the session's Prefect test server: the
artifacts they publish, read back with the Prefect client, hold the report's sections and no input address or
phone number."""

from __future__ import annotations

import json
import socket

import pandas as pd
import pytest
import yaml

from flows.select_cohort import select_cohort
from flows.simulate import simulate
from schemas.report import ArtifactKey
from tests.support.paths import CONFIG_PATH, EXAMPLE_PATH
from tests.support.prefect_server import run_artifacts

AFTER = "2021-06-08T09:00:00-04:00"


def _own_config(folder) -> str:
    """The bundled cohort file with its own state store (no other test's selection or notices in it)."""
    data = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    data["state_url"] = f"sqlite:///{folder / 'state.sqlite'}"
    for key in ("previous_participants", "interest_list"):
        data[key] = str((CONFIG_PATH.parent / data[key]).resolve())
    data["source"]["path"] = str(EXAMPLE_PATH)
    path = folder / "esp-2021.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def runs(prefect_server, tmp_path_factory):
    """One selection and one what-if, each run once for the module's tests."""
    folder = tmp_path_factory.mktemp("artifacts")
    config = _own_config(folder)
    selection = select_cohort(config_path=config, out_dir=str(folder / "sel"), as_of=AFTER, return_state=True)
    assert selection.is_completed(), selection.message
    what_if = simulate(
        config_path=config, capacities=[15, 20], max_per_state=[1, 2], out_dir=str(folder / "wi"), return_state=True
    )
    assert what_if.is_completed(), what_if.message
    return {
        "folder": folder,
        "selection": run_artifacts(selection.state_details.flow_run_id),
        "what_if": run_artifacts(what_if.state_details.flow_run_id),
    }


def _contacts() -> tuple[set[str], set[str]]:
    """Every address and phone number of the bundled responses."""
    responses = pd.read_csv(EXAMPLE_PATH, keep_default_na=False, dtype=str)
    addresses = set(responses.stack().str.extractall(r"([^\s,;]+@[^\s,;]*)")[0])
    phones = set(responses["Team lead phone"]) - {""}
    return addresses, phones


def test_the_selection_publishes_every_section(runs):
    shown = runs["selection"]
    sections = {
        ArtifactKey.SELECTION_SUMMARY,
        ArtifactKey.DECISIONS,
        ArtifactKey.SELECTED,
        ArtifactKey.WAITLIST,
        ArtifactKey.POSSIBLE_DUPLICATES,
        ArtifactKey.INVALID,
        ArtifactKey.EQUITY,
    }
    assert sections <= set(shown)
    selected = shown[ArtifactKey.SELECTED]
    assert [int(r["selection_rank"]) for r in selected] == list(range(1, 21))
    waitlist = shown[ArtifactKey.WAITLIST]
    assert [int(r["waitlist_position"]) for r in waitlist] == list(range(1, 26))
    duplicates = shown[ArtifactKey.POSSIBLE_DUPLICATES]
    assert [(r["source_row"], r["possible_duplicate_of"]) for r in duplicates] == [
        ("29", "50"),
        ("47", "50"),
        ("50", "47"),
    ]
    assert duplicates[2]["may_duplicate"] == "row 47, troy education assn (selected)"
    assert "Overrides sheet" in shown[f"{ArtifactKey.POSSIBLE_DUPLICATES}:description"]
    assert [r["source_row"] for r in shown[ArtifactKey.INVALID]] == ["20", "33", "42", "48"]
    decisions = {r["source_row"]: r for r in shown[ArtifactKey.DECISIONS]}
    assert decisions["47"]["team_key"] == "NY:troy education association"
    assert (decisions["47"]["selection_rank"], decisions["47"]["waitlist_position"]) == ("13", "")
    assert (decisions["50"]["selection_rank"], decisions["50"]["waitlist_position"]) == ("", "23")
    assert "Possible duplicate of row 47" in decisions["50"]["reasons"]
    equity = shown[ArtifactKey.EQUITY]
    regions = {r["value"]: r for r in equity if r["dimension"] == "region"}
    assert sum(int(r["pool"]) for r in regions.values()) == 45
    assert sum(int(r["selected"]) for r in regions.values()) == 20
    assert {r["dimension"] for r in equity} >= {"state", "program stage", "first time or returning"}


def test_the_summary_says_where_the_report_is_as_text(runs):
    summary = runs["selection"][ArtifactKey.SELECTION_SUMMARY]
    report = (runs["folder"] / "sel" / "report.html").resolve()
    assert report.is_file()
    assert f"on host `{socket.gethostname()}`, file `{report}`" in summary
    assert "file://" not in summary
    assert "| selected | 20 |" in summary


def test_the_what_if_publishes_its_table_and_the_comparison(runs):
    shown = runs["what_if"]
    table = shown[ArtifactKey.WHAT_IF]
    assert [(r["capacity"], r["max_per_state"]) for r in table] == [("15", "1"), ("15", "2"), ("20", "1"), ("20", "2")]
    assert table[3]["selected"] == "20" and table[3]["changed_vs_current"] == "0"
    equity = shown[ArtifactKey.WHAT_IF_EQUITY]
    assert list(equity[0])[4:] == [f"capacity {c}, at most {m} per state" for c in (15, 20) for m in (1, 2)]
    regions = [r for r in equity if r["dimension"] == "region"]
    assert sum(int(r["capacity 20, at most 2 per state"].split(" ")[0]) for r in regions) == 20


def test_no_artifact_holds_an_input_address_or_phone_number(runs):
    addresses, phones = _contacts()
    assert len(addresses) > 100 and len(phones) > 40
    published = json.dumps([runs["selection"], runs["what_if"]])
    assert [a for a in addresses if a in published] == []
    assert [p for p in phones if p in published] == []
