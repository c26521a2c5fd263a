"""End to end with a real Prefect server: served deployments, runs triggered through the API with
parameters as the UI sends them, the send paused for approval and resumed with input."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter

import pytest
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run
from prefect.settings import PREFECT_API_URL, temporary_settings

from schemas.config import load_config
from tasks.store import approval_history, frozen_selection_id, latest_selection, open_store
from tests.support.configs import make_config
from tests.support.paths import ROOT
from tests.support.prefect_server import deployment_exists, prefect_server, read_state, run_logs, wait_for
from tests.support.smtp import SmtpServer

AFTER = "2021-06-08T09:00:00-04:00"


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
        worker = subprocess.Popen(
            [sys.executable, "-m", "flows.serve", "--config", str(config_path)],
            cwd=ROOT,
            env=env,
            stdout=(base / "serve.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            with temporary_settings({PREFECT_API_URL: url}):
                wait_for(lambda: deployment_exists("send-notices/send-notices"), 90, "the served deployments")
                yield smtp, config_path, base
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def _select(config_path, out):
    selection = run_deployment(
        "select-cohort/select-at-deadline",
        parameters={"config_path": str(config_path), "out_dir": str(out), "as_of": AFTER},
        timeout=180,
    )
    assert selection.state.is_completed(), selection.state
    return selection


def _send_paused(config_path, out):
    run = run_deployment(
        "send-notices/send-notices",
        parameters={"config_path": str(config_path), "out_dir": str(out), "send": True, "as_of": AFTER},
        timeout=0,
    )
    wait_for(lambda: read_state(run.id).is_paused(), 120, "the send to pause for approval")
    return run


def _approved(run):
    resume_flow_run(run.id, run_input={"approve": True, "note": "checked the outbox"})
    return wait_for(lambda: (s := read_state(run.id)).is_final() and s, 180, "the send to finish")


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
    final = _approved(run)
    assert final.is_completed(), final
    recipients = [m.message["To"] for m in smtp.received]
    assert len(recipients) == len(set(recipients)) >= 45
    assert Counter(m.message["Message-ID"] for m in smtp.received).most_common(1)[0][1] == 1
    latest, _ = latest_selection(engine, config.cohort_id)
    assert frozen_selection_id(engine, config.cohort_id) == latest.id


def test_rejected_send_sends_nothing(served):
    smtp, config_path, base = served
    before = len(smtp.received)
    run = run_deployment(
        "send-notices/interest-notices",
        parameters={"config_path": str(config_path), "out_dir": str(base / "n2"), "send": True, "as_of": AFTER},
        timeout=0,
    )
    wait_for(lambda: read_state(run.id).is_paused(), 120, "the send to pause for approval")
    resume_flow_run(run.id, run_input={"approve": False, "note": "wrong list"})
    final = wait_for(lambda: (s := read_state(run.id)).is_final() and s, 180, "the send to finish")
    assert final.is_completed(), final
    assert len(smtp.received) == before
    config = load_config(config_path)
    answers = approval_history(open_store(config.database_url), config.cohort)
    assert answers.iloc[-1][["kind", "outcome", "note"]].tolist() == ["interest", "rejected", "wrong list"]


def test_unanswered_approval_completes_and_sends_nothing(served):
    """No answer within the approval timeout: the run ends Completed (not Failed), says so, records the outcome
    and sends nothing."""
    smtp, config_path, base = served
    _select(config_path, base / "decisions-3")  # a recorded selection, also when this test runs alone
    before = len(smtp.received)
    run = run_deployment(
        "send-notices/interest-notices",
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
    assert "Notices not sent: timed out. Note: no answer within 3 seconds" in run_logs(run.id)
    assert len(smtp.received) == before
    config = load_config(config_path)
    answers = approval_history(open_store(config.database_url), config.cohort)
    assert answers.iloc[-1][["kind", "outcome"]].tolist() == ["interest", "timed out"]


def test_run_with_a_missing_config_fails_with_a_message_and_writes_nothing(served):
    _, _, base = served
    out = base / "never"
    run = run_deployment(
        "select-cohort/select-at-deadline",
        parameters={"config_path": str(base / "no-such-cohort.yaml"), "out_dir": str(out), "as_of": AFTER},
        timeout=120,
    )
    assert run.state.is_failed()
    assert "cannot read cohort config" in run.state.message
    assert not out.exists()
    logs = run_logs(run.id)
    assert any("cannot read cohort config" in line for line in logs)
    assert not any("Traceback" in line for line in logs), "a staff error's traceback reached the run's logs"


CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
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
            page.get_by_text("select-at-deadline").first.click()
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("Custom run").click()
            page.get_by_text("out_dir").first.wait_for()
            fields = page.locator("textarea, input[type=text]")
            out_dir_field = next(f for f in fields.all() if f.input_value() == "out/decisions")
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
    names = ("intake-check", "select-at-deadline", "send-notices", "interest-notices", "promote-waitlist", "what-if")
    for name in names:
        assert f"/{name}' successfully created" in done.stdout
