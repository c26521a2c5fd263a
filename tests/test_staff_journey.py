"""A staff member's season in the Prefect UI only, in Debian's chromium: the selection started from a Custom run with
`as_of` typed on New York's clock, its artifacts read, the send started, its approval artifact read, the run resumed
with a name and approved, the outcome read in the run list, and another send rejected. A screenshot of each step is
written under the test's folder, and the journey's timings are printed and written beside them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    DeploymentFilter,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterId,
)
from prefect.settings import PREFECT_API_URL, temporary_settings

from schemas.deployment import DeploymentStep, deployment_name
from schemas.ledger import ApprovalArtifact
from schemas.report import ArtifactKey
from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS, NO_CHROMIUM, shot
from tests.support.configs import make_config
from tests.support.prefect_server import prefect_server, run_logs, serving, wait_for
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)

SELECT_AT = "2021-06-07 10:30"  # typed as staff would, on the cohort's clock (EDT); no offset
SEND_AT = "2021-06-08 09:00"
DECISION_NOTICES = 50  # the bundled example: one notice per team with a decision (20 + 25 + 3 + 2)


def _client():
    """Prefect's synchronous client: Playwright's sync API keeps an event loop running in this thread."""
    return get_client(sync_client=True)


def _deployments() -> list[Any]:
    with _client() as client:
        return client.read_deployments(deployment_filter=DeploymentFilter())


def _flow_names() -> dict[Any, str]:
    with _client() as client:
        return {flow.id: flow.name for flow in client.read_flows()}


def _deployment(flow_name: str, step: DeploymentStep) -> Any:
    """The served deployment of that flow for that step of the season's cohort file (esp-2021.yaml), as the UI
    lists it: `esp-2021-send-notices`."""
    flows = _flow_names()
    wanted = deployment_name("esp-2021", step)
    found = [d for d in _deployments() if flows.get(d.flow_id) == flow_name and d.name == wanted]
    assert found, f"no deployment {wanted} of {flow_name}: {[d.name for d in _deployments()]}"
    return found[0]


def _runs_of(deployment: Any) -> list[Any]:
    with _client() as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))
        )


def _run(run_id: Any) -> Any:
    with _client() as client:
        return client.read_flow_run(run_id)


def _new_run(deployment: Any, known: set[Any], page: Any, server_log: Path, timeout: float = 120) -> Any:
    """The run a Custom run form has just made."""

    def made() -> Any:
        return next((r for r in _runs_of(deployment) if r.id not in known), None)

    return _after_submit(page, made, "the run from the UI", server_log, timeout)


def _after_submit(page: Any, done: Callable[[], Any], what: str, server_log: Path, timeout: float = 120) -> Any:
    """What a form's Submit (a Custom run, a Resume) leads to. The UI answers a server error (a 5xx: an overloaded
    server) with "Oops. Something went wrong." and keeps the form: the staff member submits once more, as the
    toast asks, and the test says so. On a timeout, what the page and the server's log say."""
    try:
        return wait_for(done, timeout / 2, what)
    except AssertionError:
        if page.get_by_text("Oops. Something went wrong.").count():
            print(f"\nthe server answered the form with an error; submitted again: {_server_errors(server_log)}")
            page.get_by_role("button", name="Submit").last.click()
    try:
        return wait_for(done, timeout / 2, what)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; the page says: {page.inner_text('body')[:1500]}; the server logged: {_server_errors(server_log)}"
        ) from None


def _server_errors(server_log: Path) -> str:
    """The Prefect server's error lines and their tracebacks' last lines, for a failure's reader."""
    lines = server_log.read_text(errors="replace").splitlines()
    wanted = [line for line in lines if re.search(r"ERROR|Error|Exception| 5\d\d ", line)]
    return "\n".join(wanted[-20:]) or "(no error lines)"


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A Prefect server, a local SMTP server, and `python -m flows.serve` for a fresh 2021 cohort file."""
    home = tmp_path_factory.mktemp("prefect-home")
    base = tmp_path_factory.mktemp("season")
    with prefect_server(home, timeout=120) as (url, env), SmtpServer() as smtp:
        _, made = make_config(base, smtp.port)
        cohort = base / "esp-2021.yaml"  # named as the season's file is, so runs and deployments read the same
        cohort.write_text(made.read_text())
        with serving(cohort, env, base / "serve.log"), temporary_settings({PREFECT_API_URL: url}):
            wait_for(lambda: len(_deployments()) >= 6, 120, "the served deployments")
            ui = url.removesuffix("/api")
            yield {"ui": ui, "smtp": smtp, "cohort": cohort, "base": base, "log": home / "server.log"}


def _custom_run(page, ui: str, deployment: Any, fields: dict[str, str], switches: tuple[str, ...] = ()) -> float:
    """Opens the deployment, Run → Custom run, types each field (by its label), turns on each switch, submits;
    returns the moment of the Submit click."""
    page.goto(f"{ui}/deployments/deployment/{deployment.id}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()
    for label, text in fields.items():
        field = _field(page, label)
        field.fill(text)
        expect(field).to_have_value(text)  # the form had not re-drawn over it
    for label in switches:
        _container(page, label).get_by_role("switch").first.click()
    submitted = time.monotonic()
    page.get_by_role("button", name="Submit").click()
    return submitted


def _container(root, label: str):
    """The form block of the parameter or answer titled `label` (its title, its description and its input)."""
    page = getattr(root, "page", root)  # `has` is relative to each block: made from the page, not from `root`
    title = page.locator(".schema-form-property__label").filter(
        has_text=re.compile(rf"^{re.escape(label)}( \(Optional\))?$")
    )
    return root.locator("div.schema-form-property").filter(has=title).first


def _field(page, label: str):
    block = _container(page, label)
    return block.locator("input[type=text], textarea, input:not([type])").first


def _artifact_id(run_id: Any, key: str) -> Any:
    with _client() as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
        )
    assert found, f"the run published no {key} artifact"
    return found[0].id


def _open_artifact(page, ui: str, run_id: Any, key: str) -> str:
    """The artifact's page, opened from the run's Artifacts tab as staff do; its text once its table is drawn."""
    page.goto(f"{ui}/runs/flow-run/{run_id}")
    page.get_by_role("tab", name="Artifacts").or_(page.get_by_text("Artifacts", exact=True)).first.click()
    page.get_by_text(key, exact=True).first.click()
    page.wait_for_url(f"**/artifacts/artifact/{_artifact_id(run_id, key)}")
    page.locator("table td").first.wait_for()
    return page.locator("table").first.inner_text()


def test_a_staff_member_runs_the_season_from_the_prefect_ui(season, tmp_path):
    from playwright.sync_api import sync_playwright

    ui, smtp = season["ui"], season["smtp"]
    shots = tmp_path / "screenshots"
    timings: dict[str, float] = {}
    select = _deployment("select-cohort", DeploymentStep.SELECT_AT_DEADLINE)
    send = _deployment("send-notices", DeploymentStep.SEND_NOTICES)
    interest = _deployment("send-notices", DeploymentStep.INTEREST_NOTICES)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{ui}/deployments")
            page.get_by_text(select.name).first.wait_for()
            shot(page, shots, "the cohort's deployments")

            # The selection, as of a moment typed on New York's clock.
            known = {r.id for r in _runs_of(select)}
            submitted = _custom_run(page, ui, select, {"as_of": SELECT_AT, "out_dir": str(season["base"] / "ui")})
            run = _new_run(select, known, page, season["log"])
            done = wait_for(lambda: (r := _run(run.id)).state.is_final() and r, 180, "the selection")
            timings["submit_to_completed_s"] = round(time.monotonic() - submitted, 1)
            assert done.state.is_completed(), done.state
            assert "10:30" in done.name, done.name
            logs = run_logs(run.id)
            assert any("2021-06-07 10:30 EDT" in line for line in logs), logs[:5]
            page.goto(f"{ui}/runs/flow-run/{run.id}")
            page.get_by_text("Completed").first.wait_for()
            shot(page, shots, "the selection completed")
            for key in _selection_artifacts():
                text = _open_artifact(page, ui, run.id, key)
                assert "@" not in text.replace("***@", ""), f"an address in the {key} artifact"
                shot(page, shots, f"artifact {key}")

            # The send: paused for approval, its artifact read, resumed with a name and approved.
            known = {r.id for r in _runs_of(send)}
            submitted = _custom_run(
                page, ui, send, {"as_of": SEND_AT, "out_dir": str(season["base"] / "notices")}, switches=("send",)
            )
            paused = _new_run(send, known, page, season["log"])
            wait_for(lambda: _run(paused.id).state.is_paused(), 180, "the send to pause")
            timings["submit_to_paused_s"] = round(time.monotonic() - submitted, 1)
            text = _open_artifact(page, ui, paused.id, ApprovalArtifact.NOTICES)
            assert "***@" in text
            shot(page, shots, "the notices waiting for approval")
            page.goto(f"{ui}/runs/flow-run/{paused.id}")
            page.get_by_role("button", name="Resume").first.click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("Approve sending").first.wait_for()
            _field(dialog, "Your name").fill("Pat Organizer")
            _container(dialog, "Approve").get_by_role("switch").first.click()
            shot(page, shots, "the resume form, approved")
            approved = time.monotonic()
            dialog.get_by_role("button", name="Submit").click()
            resumed = lambda: not _run(paused.id).state.is_paused()  # noqa: E731
            _after_submit(page, resumed, "the approved send to resume", season["log"])
            wait_for(lambda: len(smtp.received) >= DECISION_NOTICES, 180, "the approved notices to be delivered")
            timings["approve_to_delivered_s"] = round(time.monotonic() - approved, 1)
            finished = wait_for(lambda: (r := _run(paused.id)).state.is_final() and r, 120, "the send")
            assert finished.state.is_completed() and finished.name.endswith(f"sent {DECISION_NOTICES}"), finished.name
            page.goto(f"{ui}/runs")
            page.get_by_text(finished.name).first.wait_for()
            shot(page, shots, "the run list says what was sent")

            # Another send, rejected.
            known = {r.id for r in _runs_of(interest)}
            _custom_run(
                page, ui, interest, {"as_of": SEND_AT, "out_dir": str(season["base"] / "interest")}, switches=("send",)
            )
            other = _new_run(interest, known, page, season["log"])
            wait_for(lambda: _run(other.id).state.is_paused(), 180, "the interest send to pause")
            delivered = len(smtp.received)
            page.goto(f"{ui}/runs/flow-run/{other.id}")
            page.get_by_role("button", name="Resume").first.click()
            dialog = page.get_by_role("dialog")
            _field(dialog, "Your name").fill("Pat Organizer")
            _field(dialog, "Note").fill("wrong list")
            dialog.get_by_role("button", name="Submit").click()
            ended = lambda: (r := _run(other.id)).state.is_final() and r  # noqa: E731
            rejected = _after_submit(page, ended, "the rejection", season["log"])
            assert rejected.name.endswith("rejected: nothing sent"), rejected.name
            assert len(smtp.received) == delivered
            page.goto(f"{ui}/runs")
            page.get_by_text(rejected.name).first.wait_for()
            shot(page, shots, "the run list says nothing was sent")
        finally:
            if browser.contexts and browser.contexts[0].pages:  # where the journey stopped, for a failure's reader
                last = browser.contexts[0].pages[-1]
                (tmp_path / "last-page.html").write_text(last.content())
                last.screenshot(path=str(tmp_path / "last-page.png"), full_page=True)
            browser.close()
    (tmp_path / "timings.json").write_text(json.dumps(timings, indent=2))
    print(f"\nstaff journey timings: {timings}; screenshots in {shots}")


def _selection_artifacts() -> list[str]:
    """The selection's artifacts a staff member reads after the run: possible duplicates, the selected teams in
    order, the equity comparison."""
    return [ArtifactKey.POSSIBLE_DUPLICATES, ArtifactKey.SELECTED, ArtifactKey.EQUITY]
