"""Debian's chromium driven by Playwright (no browser download), axe-core run inside it, and screenshots of a page
written under a test's output folder, for the browser tests."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.paths import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Page

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
NO_CHROMIUM = "Debian's chromium is not installed (make test installs it)"

# `make axe-core` installs tests/a11y/package-lock.json here with `npm ci`.
AXE_JS = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
NO_AXE = f"axe-core is not installed ({AXE_JS.relative_to(ROOT)} is missing: `make axe-core`, which needs npm)"
# axe-core's impact levels, mildest first; a violation of the last two fails the accessibility tests.
IMPACTS = ("minor", "moderate", "serious", "critical")
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


def shot(page: Page, folder: Path, name: str) -> Path:
    """The whole page as `folder/NN-name.png`, numbered in the order taken, so a journey's screenshots read in
    order; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    number = len(list(folder.glob("[0-9][0-9]-*.png"))) + 1
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "page"
    path = folder / f"{number:02d}-{slug}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as loaded (rule id, impact, help, and each node's target), run with its
    default rules: axe.min.js is injected into the page, so nothing is fetched."""
    page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 200)})),
            }));
        }"""
    )


def impact_counts(violations: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Violated rules and the elements violating them, by impact (every level listed, zero included)."""
    rules = Counter(v["impact"] for v in violations)
    nodes = Counter[str]()
    for violation in violations:
        nodes[violation["impact"]] += len(violation["nodes"])
    return {impact: {"rules": rules[impact], "nodes": nodes[impact]} for impact in IMPACTS}


def blocking(violations: list[dict[str, Any]]) -> list[str]:
    """One line per serious or critical violation: rule, impact, help and where."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {json.dumps([n['target'] for n in v['nodes']])}"
        for v in violations
        if v["impact"] in BLOCKING_IMPACTS
    ]
