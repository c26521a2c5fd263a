"""The selection report and every notice's HTML, as the real code renders them for the bundled 2021 example, pass
axe-core in Debian's chromium with no serious or critical violation; the counts by impact are written as JSON
(axe.json in the test's folder) and printed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from schemas.columns import Col, Derived, Status
from schemas.config import RepliesConfig, load_config
from schemas.review import ASSIGNMENTS_FILE
from tasks.course_dates import confirm_by_moment
from tasks.decisions import decisions_frame, summarize_selection
from tasks.equity import equity_table, previous_teams
from tasks.messages import sender_domain
from tasks.notices import KIND_FOR_STATUS, decision_notices, interest_notices, read_interest_list, reply_reminders
from tasks.pipeline import PipelineInputs, run_pipeline
from tasks.report import render_report
from tasks.review_notices import assignment_notices, reminder_notices
from tasks.sources import FileSource, input_sha256, values_to_frame
from tasks.teams import team_rows
from tasks.templating import TEMPLATES
from tests.support.browser import (
    AXE_JS,
    CHROMIUM,
    CHROMIUM_FLAGS,
    NO_AXE,
    NO_CHROMIUM,
    axe_violations,
    blocking,
    impact_counts,
    shot,
)
from tests.support.configs import reply_form
from tests.support.paths import CONFIG_PATH, EXAMPLE_PATH
from tests.support.review import assignments, review_cohort

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
needs_axe = pytest.mark.skipif(not AXE_JS.is_file(), reason=NO_AXE)

# Every kind of notice that has a template of its own (the files starting with _ are parts of the others).
NOTICE_KINDS = sorted(p.stem for p in (TEMPLATES / "notices").glob("*.html") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def page():
    """One chromium page for the module: each check loads its file into it (a new page each costs more)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.fixture(scope="module")
def bundled(config):
    """The bundled example through the pure selection steps: (decided rows, their input's SHA-256)."""
    source = FileSource(EXAMPLE_PATH)
    values = source.read_values()
    decided = run_pipeline(values_to_frame(values, config.columns), PipelineInputs(config, []))
    return decided, input_sha256(source, values)


def _after_the_notices(decided: pd.DataFrame, config) -> pd.DataFrame:
    """The same selection with one selected team moved to each status a change after the notices gives (offered,
    expired, confirmed, declined, withdrawn), so each of their notices is rendered for a real team."""
    later = sorted(set(KIND_FOR_STATUS) - {Status.SELECTED, Status.WAITLISTED, Status.INVALID, Status.LATE})
    moved = decided.copy()
    moved[Derived.RESPOND_BY] = pd.Series(pd.NaT, index=moved.index, dtype="datetime64[ns, UTC]")
    teams = team_rows(moved)
    chosen = teams.index[teams[Col.STATUS] == Status.SELECTED][: len(later)]
    for label, status in zip(chosen, later, strict=True):
        moved.loc[label, Col.STATUS] = status
    answer_by = config.deadline + dt.timedelta(hours=config.waitlist.offer_hours)
    moved.loc[chosen, Derived.RESPOND_BY] = pd.Timestamp(answer_by).tz_convert("UTC")
    return moved


def _sample_notices(decided: pd.DataFrame, config) -> dict[str, str]:
    """One rendered HTML body per notice kind: the first team of each kind, rendered by tasks/notices.py."""
    domain = sender_domain(config)
    notices = decision_notices(decided, config, domain) + decision_notices(
        _after_the_notices(decided, config), config, domain
    )
    notices += interest_notices(read_interest_list(config.interest_list), set(), config, domain)
    samples: dict[str, str] = {}
    for notice in notices:
        samples.setdefault(notice.kind, notice.html)
    return samples


def _reviewer_notices(folder: Path) -> dict[str, str]:
    """One rendered HTML body of each reviewer's notice: a round of two reviewers, neither yet scoring."""
    config = load_config(review_cohort(folder))
    assert config.review is not None
    config.review.folder.mkdir(parents=True)
    pairs = [("CA:fresno", "ana@nea.example.org"), ("NY:troy", "bo@nea.example.org")]
    assignments(pairs).to_csv(config.review.folder / ASSIGNMENTS_FILE, index=False)
    told = {email for _, email in pairs}
    notices = assignment_notices(config) + reminder_notices(config, told, config.deadline)
    return {notice.kind: notice.html for notice in notices}


def _reply_reminder(decided: pd.DataFrame, config, monkeypatch) -> dict[str, str]:
    """The reply reminder of a call with a reply form, an hour before confirm-by."""
    monkeypatch.setenv("COHORT_REPLY_KEY", "k" * 32)
    replies = RepliesConfig.model_validate(reply_form(remind=[24]))
    with_form = config.model_copy(update={"replies": replies})
    moment = confirm_by_moment(with_form) - dt.timedelta(hours=1)
    (first, *_) = reply_reminders(decided, with_form, sender_domain(config), moment)
    return {first.kind: first.html}


def _check(page, path: Path) -> list[dict]:
    page.goto(path.as_uri())
    return axe_violations(page)


def _record(tmp_path: Path, found: dict[str, list[dict]]) -> dict:
    """The counts by impact per page, written to tmp_path/axe.json and printed (pytest -s shows them)."""
    counts = {name: impact_counts(violations) for name, violations in found.items()}
    rules = {name: sorted({f"{v['id']} ({v['impact']})" for v in violations}) for name, violations in found.items()}
    record = {"axe_core": _axe_version(), "counts": counts, "rules": rules}
    (tmp_path / "axe.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\naxe-core {record['axe_core']} violations by impact, rules (elements); {tmp_path / 'axe.json'}:")
    for name, by_impact in counts.items():
        shown = ", ".join(f"{impact} {n['rules']} ({n['nodes']})" for impact, n in by_impact.items())
        print(f"  {name}: {shown}; {', '.join(rules[name]) or 'no violation'}")
    return record


def _axe_version() -> str:
    package = AXE_JS.parent / "package.json"
    return str(json.loads(package.read_text(encoding="utf-8"))["version"])


@needs_axe
def test_every_notice_passes_axe_core(page, bundled, config, tmp_path, monkeypatch):
    decided, _ = bundled
    samples = _sample_notices(decided, config) | _reviewer_notices(tmp_path)
    samples |= _reply_reminder(decided, config, monkeypatch)
    assert sorted(samples) == NOTICE_KINDS, "a notice kind has no sample team, or a template no kind"
    found = {}
    for kind, html in samples.items():
        path = tmp_path / f"{kind}.html"
        path.write_text(html, encoding="utf-8")
        found[kind] = _check(page, path)
    _record(tmp_path, found)
    problems = [f"{kind}: {line}" for kind, violations in found.items() for line in blocking(violations)]
    assert not problems, "\n".join(problems)


@needs_axe
def test_the_report_passes_axe_core(page, bundled, config, tmp_path):
    decided, sha = bundled
    summary = summarize_selection(decided, config, CONFIG_PATH, sha, provisional=False)
    path = tmp_path / "report.html"
    equity = equity_table(decided, previous_teams(config))  # the report's equity section, as a selection writes it
    decisions = decisions_frame(decided, config, provisional=False)
    path.write_text(render_report(decisions, summary, config, equity), "utf-8")
    found = {"report": _check(page, path)}
    _record(tmp_path, found)
    assert not blocking(found["report"]), "\n".join(blocking(found["report"]))


def test_screenshots_are_numbered_in_the_order_taken(page, tmp_path):
    page.set_content("<!DOCTYPE html><html lang='en'><title>t</title><main><h1>One</h1></main></html>")
    first = shot(page, tmp_path / "shots", "Open the deployments")
    second = shot(page, tmp_path / "shots", "Custom run: as_of")
    assert [first.name, second.name] == ["01-open-the-deployments.png", "02-custom-run-as-of.png"]
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in (first, second))
