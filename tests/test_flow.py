"""The intake flow end to end under a Prefect test server, and the CLI on the bundled example."""

from __future__ import annotations

import pandas as pd

from flows.cli import main
from flows.intake import intake
from schemas.columns import Col, Status
from tests.support.paths import CONFIG_PATH


def test_intake_flow_on_the_bundled_example(prefect_server, tmp_path):
    state = intake(config_path=str(CONFIG_PATH), out_dir=str(tmp_path), return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert (summary.rows_read, summary.valid, summary.invalid) == (60, 56, 4)
    assert summary.invalid_by_reason["Team lead email is not a valid address"] == 1
    written = pd.read_csv(tmp_path / "intake.csv", dtype=str, keep_default_na=False)
    assert len(written) == 60
    assert set(written[Col.STATUS]) == {Status.VALID, Status.INVALID}
    bad = written[written[Col.LEAD_EMAIL] == "jane@"]
    assert "Team lead email is not a valid address: 'jane@'" in bad[Col.REASONS].iloc[0]


def test_cli_intake_prints_summary(prefect_server, tmp_path, capfd):
    assert main(["intake", "--config", str(CONFIG_PATH), "--out", str(tmp_path)]) == 0
    out = capfd.readouterr().out
    assert "Rows read: 60" in out
    assert "Invalid:   4" in out


def test_cli_missing_file_is_one_message(prefect_server, tmp_path, capfd):
    code = main(["intake", "--config", str(CONFIG_PATH), "--submissions", str(tmp_path / "none.csv")])
    assert code == 2
    assert "responses file not found" in capfd.readouterr().err
