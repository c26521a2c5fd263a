"""The 2022 call runs on its own cohort file and export with no code change: renamed questions, a dropped question,
an added required number with a minimum, a new job family option, and a rubric criterion on the new number."""

from __future__ import annotations

import pandas as pd
import yaml

from examples.generate_2022 import NEW_JOB_FAMILY
from flows.cli import main
from schemas.columns import Col, Status
from schemas.config import load_config
from schemas.suite import reason_codes_produced
from tasks.notices import applicant_sentences, form_sentences
from tests.support.paths import ROOT

CALL_2022 = ROOT / "cohorts" / "esp-2022-example.yaml"
AFTER = "2022-06-07T09:00:00-04:00"
SHARED = "Someone on this team's roster is on another team's too: 'pat.doe@example.org' also on {others}"
AURORA, SPRINGFIELD = "CO:aurora education support professionals", "IL:springfield classified employees association"
KINGSTON, LAKEWOOD = (
    "WA:kingston federation of school employees",
    "OH:lakewood education support professionals association",
)


def _config_path(tmp_path):
    data = yaml.safe_load(CALL_2022.read_text(encoding="utf-8"))
    data["state_url"] = f"sqlite:///{tmp_path / 'state.sqlite'}"
    for key in ("previous_participants", "interest_list"):
        data[key] = str((CALL_2022.parent / data[key]).resolve())
    data["source"]["path"] = str((CALL_2022.parent / data["source"]["path"]).resolve())
    path = tmp_path / "esp-2022.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_every_check_of_the_2022_form_has_words_for_the_applicant():
    config = load_config(CALL_2022)
    said = set(applicant_sentences()) | set(form_sentences(config))
    assert reason_codes_produced(config.the_form) <= said
    fields = [question.field for question in config.the_form.questions]
    assert Col.COMMITMENT not in fields and "esp_count" in fields


def test_the_2022_call_selects_and_drafts_its_notices_end_to_end(prefect_server, tmp_path):
    config_path = _config_path(tmp_path)
    out = tmp_path / "out"
    assert main(["select", "--config", str(config_path), "--as-of", AFTER, "--out", str(out)]) == 0
    decisions = pd.read_csv(out / "decisions.csv", keep_default_na=False)
    assert decisions[Col.STATUS].value_counts().to_dict() == {
        Status.SELECTED: 20,
        Status.WAITLISTED: 22,
        Status.DUPLICATE: 9,
        Status.INVALID: 8,
        Status.LATE: 1,
    }
    invalid = decisions[decisions[Col.STATUS] == Status.INVALID].set_index(Col.SOURCE_ROW)[Col.REASONS]
    assert invalid.to_dict() == {
        4: "Number of ESPs in the local is missing",
        6: "The local represents fewer than 10 ESPs: '5'",
        14: "Number of ESPs in the local is missing",
        33: "The form says the local president has not approved this application",
        42: "State is not a US state or territory: 'Pennsylvannia'; Team lead email is not a valid address: 'jane@'; "
        "ESP job families include options that are not ESP career families: Cafeteria Management",
        48: "The form says the local president has not approved this application",
        55: "Number of ESPs in the local is missing",
        60: "Number of ESPs in the local is missing; "
        + SHARED.format(others=f"{AURORA}, {SPRINGFIELD}, {KINGSTON}")
        .replace(f"{AURORA}, ", "")
        .replace(SPRINGFIELD, f"{SPRINGFIELD}, {LAKEWOOD}"),
    }
    # The form's cross-row rule: Pat Doe is on the rosters of four teams, flagged to staff on each row, whatever
    # its status (the flag closes the reasons); the rows are not refused for it.
    flagged = decisions[decisions[Col.REASONS].str.contains("on another team's too")]
    assert flagged[Col.SOURCE_ROW].tolist() == [58, 59, 60, 61]
    assert flagged[Col.STATUS].tolist() == [Status.WAITLISTED, Status.SELECTED, Status.INVALID, Status.LATE]
    assert flagged[Col.REASONS].iloc[1].endswith(SHARED.format(others=f"{AURORA}, {SPRINGFIELD}, {KINGSTON}"))
    assert not decisions[Col.REASONS].str.contains("commit").any()
    # The new number scores: 1 point per 500 ESPs, at most 2; the new job family is an option like the others.
    scored = decisions[decisions[Col.STATUS].isin([Status.SELECTED, Status.WAITLISTED])]
    points = pd.to_numeric(scored["points_local_size"])
    assert points.between(0, 2).all() and points.gt(0).all()
    responses = pd.read_csv(ROOT / "examples" / "esp-2022-responses.csv", keep_default_na=False)
    with_new = responses.index[responses["ESP job families represented on the team"].str.contains(NEW_JOB_FAMILY)]
    assert len(with_new) > 0
    assert not decisions.loc[with_new, Col.REASONS].str.contains(NEW_JOB_FAMILY).any()
    assert (out / "validation" / "suite.json").exists() and (out / "validation" / "docs" / "index.html").exists()
    _no_address_in_the_decisions_artifact()

    assert main(["notify", "--config", str(config_path), "--as-of", AFTER, "--out", str(out)]) == 0
    index = pd.read_csv(out / "outbox" / "index.csv", keep_default_na=False)
    assert len(index) == 51  # 50 to send and the one refused (an invalid lead address)
    bodies = "\n".join(path.read_text(encoding="utf-8") for path in (out / "outbox").glob("*.eml"))
    assert "The application did not say how many ESPs your local represents." in bodies
    assert "The course is for locals that represent at least 10 ESPs." in bodies


def _no_address_in_the_decisions_artifact():
    """The decisions table in the Prefect UI names the flags (a shared roster) but quotes none of the addresses: no
    email of the input, in any column, in the run's artifact (the files keep them)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["decisions"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    shown = artifact.model_dump_json()
    assert "on another team's too" in shown  # this run's table, with its flags
    responses = pd.read_csv(ROOT / "examples" / "esp-2022-responses.csv", keep_default_na=False, dtype=str)
    addresses = set(responses.stack().str.extractall(r"([^\s,;]+@[^\s,;]+)")[0])
    assert "pat.doe@example.org" in addresses
    assert [a for a in addresses if a in shown] == []
