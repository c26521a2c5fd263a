"""End to end with a real Prefect server: served deployments, runs triggered through the API with
parameters as the UI sends them, the send paused for approval and resumed with input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run
from prefect.input import keyset_from_paused_state
from prefect.input.actions import read_flow_run_input
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Paused

from flows.send_notices import APPROVAL_PAUSE_KEY
from flows.serve import cohort_files
from schemas.config import load_config
from schemas.deployment import REVIEW_STEPS, DeploymentStep, deployment_name
from schemas.ledger import ApprovalArtifact, ApprovalCol
from tasks.audit import audit_trail
from tasks.store import approval_history, frozen_selection_id, latest_selection, open_store
from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS, NO_CHROMIUM
from tests.support.configs import make_config
from tests.support.paths import ROOT
from tests.support.prefect_server import deployment_exists, prefect_server, read_state, run_logs, serving, wait_for
from tests.support.smtp import SmtpServer

AFTER = "2021-06-08 09:00"  # on the cohort's clock, as staff type it in the UI's form
# The served deployments of the test's cohort file (tests/support/configs.py writes it as cohort.yaml), by flow.
STEM = "cohort"
SELECT = f"select-cohort/{deployment_name(STEM, DeploymentStep.SELECT_AT_DEADLINE)}"
SEND = f"send-notices/{deployment_name(STEM, DeploymentStep.SEND_NOTICES)}"
INTEREST = f"send-notices/{deployment_name(STEM, DeploymentStep.INTEREST_NOTICES)}"


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """`prefect server start` on a free loopback port, with its own home and SQLite database."""
    with prefect_server(tmp_path_factory.mktemp("prefect-home"), timeout=90) as (url, env):
        yield url, env


@pytest.fixture(scope="module")
def served(prefect_api, tmp_path_factory):
    """The deployments served for a cohort file whose SMTP server is a local aiosmtpd."""
    url, env = prefect_api
    base = tmp_path_factory.mktemp("cohort")
    with SmtpServer() as smtp:
        _, config_path = make_config(base, smtp.port)
        with serving(config_path, env, base / "serve.log"), temporary_settings({PREFECT_API_URL: url}):
            wait_for(lambda: all(map(deployment_exists, (SELECT, SEND, INTEREST))), 90, "the served deployments")
            yield smtp, config_path, base


def _select(config_path, out):
    selection = run_deployment(
        SELECT,
        parameters={"config_path": str(config_path), "out_dir": str(out), "as_of": AFTER},
        timeout=180,
    )
    assert selection.state.is_completed(), selection.state
    return selection


def _send_paused(config_path, out):
    run = run_deployment(
        SEND,
        parameters={"config_path": str(config_path), "out_dir": str(out), "send": True, "as_of": AFTER},
        timeout=0,
    )
    wait_for(lambda: read_state(run.id).is_paused(), 120, "the send to pause for approval")
    return run


APPROVER = "Dana Reyes"


def _approved(run):
    resume_flow_run(run.id, run_input={"approver": APPROVER, "approve": True, "note": "checked the outbox"})
    return wait_for(lambda: (s := read_state(run.id)).is_final() and s, 180, "the send to finish")


def _flow_run(run):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run.id)


def _artifacts(run) -> dict:
    """The run's artifacts by key (a table's rows as a list)."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    return {a.key: json.loads(a.data) if a.type == "table" else a.data for a in found}


def _resume_form_text(run) -> str:
    """The description the Resume form of the paused run shows (Prefect stores it just after the run is Paused)."""
    keyset = keyset_from_paused_state(Paused(pause_key=APPROVAL_PAUSE_KEY))
    return wait_for(lambda: read_flow_run_input(keyset["description"], flow_run_id=run.id), 30, "the Resume form")


def _what_goes(run) -> tuple[list[dict], list[dict], str]:
    """The paused run's approval table split into the messages that go and the refused ones, and its samples."""
    artifacts = _artifacts(run)
    rows = artifacts[ApprovalArtifact.NOTICES]
    refused = [row for row in rows if row[ApprovalCol.REFUSED_BECAUSE]]
    return [row for row in rows if row not in refused], refused, artifacts[ApprovalArtifact.SAMPLES]


def _audited_approvers(config) -> list[str]:
    trail = audit_trail(open_store(config.database_url), config.cohort_id)
    return trail.loc[trail["event"].str.startswith("approval of"), "actor"].tolist()


def test_select_then_approve_sends_each_notice_once(served):
    """A selection re-run during the approval pause: the approved send sends nothing and says to re-run; the
    re-run sends the notices of the new selection, each once, and freezes that selection."""
    smtp, config_path, base = served
    out = base / "decisions"
    _select(config_path, out)
    assert (out / "decisions.csv").is_file()
    config = load_config(config_path)
    engine = open_store(config.database_url)

    stale = _send_paused(config_path, base / "n1")
    assert smtp.received == []
    assert (base / "n1" / "outbox" / "index.csv").is_file()
    _select(config_path, base / "decisions-again")  # staff re-run the selection while the send waits
    final = _approved(stale)
    assert final.is_failed(), final
    assert "planned from selection" in final.message and "Run the send again" in final.message
    assert smtp.received == []
    assert frozen_selection_id(engine, config.cohort_id) is None

    run = _send_paused(config_path, base / "n1b")
    goes, refused, samples = _what_goes(run)
    kinds = Counter(row[ApprovalCol.KIND] for row in goes)
    (bad,) = refused  # the example's `jane@`, named with its reason and nothing of the address but its first letter
    assert bad[ApprovalCol.RECIPIENT] == "j***@" and bad[ApprovalCol.KIND] == "not_selected"
    assert bad[ApprovalCol.REFUSED_BECAUSE] == "recipient is not a valid address: 'j***@'"
    assert all(re.fullmatch(r".\*\*\*@[a-z0-9.-]+\.example\.org", row[ApprovalCol.RECIPIENT]) for row in goes)
    assert all(row[ApprovalCol.TEAM].startswith(row[ApprovalCol.STATE] + ":") for row in goes)
    counts = f"{kinds['selected']} selected, {kinds['waitlisted']} waitlisted"
    assert f"**Approve sending {len(goes)} notices: {counts}" in _resume_form_text(run)
    assert "Refused: 1.**" in _resume_form_text(run)
    assert [line for line in samples.splitlines() if line.startswith("### ")][:2] == [
        f"### selected ({kinds['selected']} notices)",
        f"### waitlisted ({kinds['waitlisted']} notices)",
    ]
    final = _approved(run)
    assert final.is_completed(), final
    recipients = [m.message["To"] for m in smtp.received]
    assert len(recipients) == len(set(recipients)) == len(goes) >= 45
    assert not any(address in samples or address in str(goes) for address in recipients)
    assert Counter(m.message["Message-ID"] for m in smtp.received).most_common(1)[0][1] == 1
    latest, _ = latest_selection(engine, config.cohort_id)
    assert frozen_selection_id(engine, config.cohort_id) == latest.id
    said = f"sent {len(goes)}: {counts}"
    assert final.message.startswith(said) and _flow_run(run).name.endswith(f": sent {len(goes)}")
    assert any(line.startswith(said) for line in run_logs(run.id))
    answers = approval_history(engine, config.cohort_id)
    assert answers.iloc[-1][["outcome", "approver"]].tolist() == ["approved", APPROVER]
    assert _audited_approvers(config)[-1] == f"{APPROVER}, in Prefect flow run {run.id}"
    again = run_deployment(  # every notice has gone: nothing to approve, so no pause
        SEND,
        parameters={"config_path": str(config_path), "out_dir": str(base / "n1c"), "send": True, "as_of": AFTER},
        timeout=180,
    )
    assert again.state.is_completed() and again.state.message.startswith("nothing to send"), again.state
    assert len(smtp.received) == len(goes)


def test_rejected_send_sends_nothing(served):
    smtp, config_path, base = served
    _select(config_path, base / "decisions-2")  # a recorded selection, also when this test runs alone
    before = len(smtp.received)
    run = run_deployment(
        INTEREST,
        parameters={"config_path": str(config_path), "out_dir": str(base / "n2"), "send": True, "as_of": AFTER},
        timeout=0,
    )
    wait_for(lambda: read_state(run.id).is_paused(), 120, "the send to pause for approval")
    goes, refused, samples = _what_goes(run)
    assert {row[ApprovalCol.KIND] for row in goes} == {"interest"} and refused == []
    assert all(re.fullmatch(r".\*\*\*@[a-z0-9.-]+", row[ApprovalCol.TEAM]) for row in goes)  # a person, masked
    assert f"**Approve sending {len(goes)} notices: {len(goes)} interest. Refused: 0.**" in _resume_form_text(run)
    assert "### interest" in samples
    with pytest.raises(RuntimeError, match="Cannot resume this run"):  # a name is required: spaces are none
        resume_flow_run(run.id, run_input={"approver": "   ", "approve": False, "note": "wrong list"})
    assert read_state(run.id).is_paused()
    resume_flow_run(run.id, run_input={"approver": f" {APPROVER} ", "approve": False, "note": "wrong list"})
    final = wait_for(lambda: (s := read_state(run.id)).is_final() and s, 180, "the send to finish")
    assert final.is_completed(), final
    assert final.message.startswith("rejected: nothing sent")
    assert _flow_run(run).name.endswith(": rejected: nothing sent")
    assert len(smtp.received) == before
    config = load_config(config_path)
    answers = approval_history(open_store(config.database_url), config.cohort)
    assert answers.iloc[-1][["kind", "outcome", "note", "approver"]].tolist() == [
        "interest",
        "rejected",
        "wrong list",
        APPROVER,
    ]
    assert _audited_approvers(config)[-1] == f"{APPROVER}, in Prefect flow run {run.id}"


def test_unanswered_approval_completes_and_sends_nothing(served):
    """No answer within the approval timeout: the run ends Completed (not Failed), says so, records the outcome
    and sends nothing."""
    smtp, config_path, base = served
    _select(config_path, base / "decisions-3")  # a recorded selection, also when this test runs alone
    before = len(smtp.received)
    run = run_deployment(
        INTEREST,
        parameters={
            "config_path": str(config_path),
            "out_dir": str(base / "n3"),
            "send": True,
            "as_of": AFTER,
            "approval_timeout_seconds": 3,
        },
        timeout=0,
    )
    final = wait_for(lambda: (s := read_state(run.id)).is_final() and s, 120, "the unanswered send to finish")
    time.sleep(6)  # longer than the server's expired-pause sweep (every 5 s): the final state stays
    final = read_state(run.id)
    assert final.is_completed(), final
    assert final.message.startswith("timed out: nothing sent")
    assert _flow_run(run).name.endswith(": timed out: nothing sent")
    assert "Notices not sent: timed out. Note: no answer within 3 seconds" in run_logs(run.id)
    assert len(smtp.received) == before
    config = load_config(config_path)
    answers = approval_history(open_store(config.database_url), config.cohort)
    assert answers.iloc[-1][["kind", "outcome"]].tolist() == ["interest", "timed out"]
    assert pd.isna(answers.iloc[-1]["approver"])
    assert _audited_approvers(config)[-1] == f"no answer, in Prefect flow run {run.id}"


def test_run_with_a_missing_config_fails_with_a_message_and_writes_nothing(served):
    _, _, base = served
    out = base / "never"
    run = run_deployment(
        SELECT,
        parameters={"config_path": str(base / "no-such-cohort.yaml"), "out_dir": str(out), "as_of": AFTER},
        timeout=120,
    )
    assert run.state.is_failed()
    assert run.state.message.startswith("cannot read cohort config")  # the sentence itself, nothing around it
    assert run.name == "select no-such-cohort as of 2021-06-08 09:00"
    assert not out.exists()
    run_logs(run.id, until="cannot read cohort config")
    time.sleep(2)  # any line after it has reached the API too
    logs = run_logs(run.id, until="cannot read cohort config")
    assert [line for line in logs if "cannot read cohort config" in line] == [run.state.message], logs
    assert not any("Traceback" in line for line in logs), "a staff error's traceback reached the run's logs"


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_staff_start_a_custom_run_in_the_prefect_ui(prefect_api, served):
    """Headless Chromium: open the selection deployment, Custom run with out_dir changed, see it complete."""
    from playwright.sync_api import sync_playwright

    url, _ = prefect_api
    _, config_path, base = served
    out = base / "from-the-ui"
    config = load_config(config_path)
    # After notices went out (the test above), a re-run only reports drift; before them it writes decisions.
    frozen = frozen_selection_id(open_store(config.database_url), config.cohort) is not None
    expected = out / ("drift.csv" if frozen else "summary.json")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url.removesuffix("/api") + "/deployments")
            page.get_by_text(deployment_name(STEM, DeploymentStep.SELECT_AT_DEADLINE)).first.click()
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("Custom run").click()
            page.get_by_text("out_dir").first.wait_for()
            fields = page.locator("textarea, input[type=text]")
            out_dir_field = next(f for f in fields.all() if f.input_value() == f"out/{STEM}/decisions")
            out_dir_field.fill(str(out))
            page.get_by_role("button", name="Submit").click()
            page.get_by_text("Runs", exact=True).first.wait_for(timeout=30_000)
            wait_for(expected.is_file, 120, f"the run started from the UI to write {expected.name}")
            page.reload()
            page.get_by_text("Completed").first.wait_for(timeout=60_000)
        finally:
            browser.close()


def test_prefect_deploy_all_registers_every_deployment(prefect_api):
    _, env = prefect_api
    env = env | {"COHORT_SELECT_HOME": str(ROOT)}
    prefect = [sys.executable, "-m", "prefect"]
    subprocess.run([*prefect, "work-pool", "create", "cohort-select", "--type", "process"], env=env, check=True)
    done = subprocess.run(
        [*prefect, "--no-prompt", "deploy", "--all"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with temporary_settings({PREFECT_API_URL: env["PREFECT_UI_API_URL"]}), get_client(sync_client=True) as client:
        deployed = {d.name for d in client.read_deployments() if d.work_pool_name == "cohort-select"}
    # Every cohort file's six, in the work pool (the served deployments of the tests above have none); no bundled
    # call has a review round, whose four more deployments tests/test_deployments.py checks.
    steps = [step for step in DeploymentStep if step not in REVIEW_STEPS]
    assert deployed == {deployment_name(path.stem, step) for path in cohort_files(None) for step in steps}
