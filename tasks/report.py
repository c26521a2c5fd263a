"""The selection report: one self-contained HTML file (inline SVG, no external assets) for staff."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from markupsafe import Markup, escape

from schemas.columns import Col, Derived, Status
from schemas.config import CohortConfig
from tasks.decisions import SelectionSummary
from tasks.files import write_whole
from tasks.local_time import local_time_text
from tasks.templating import template_environment

_BAR = 18
_WIDTH = 520


def bar_chart(counts: dict[str, int], unit: str) -> Markup:
    """Horizontal bars, one per label, drawn as inline SVG."""
    if not counts:
        return Markup("<p>None.</p>")
    top = max(counts.values()) or 1
    rows = []
    for i, (label, n) in enumerate(counts.items()):
        y = i * (_BAR + 6)
        width = max(1, round((_WIDTH - 230) * n / top))
        rows.append(
            f'<text x="0" y="{y + 13}">{escape(label)}</text>'
            f'<rect x="110" y="{y}" width="{width}" height="{_BAR}" fill="#3b6fb6"></rect>'
            f'<text x="{116 + width}" y="{y + 13}">{n} {escape(unit)}</text>'
        )
    height = len(counts) * (_BAR + 6)
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img">{"".join(rows)}</svg>'
    return Markup(svg)  # noqa: S704 -- every label and unit in it went through escape() above


def score_bins(scores: pd.Series, bins: int = 8) -> dict[str, int]:
    """Counts of scores in equal-width bins, labelled by their range."""
    scores = scores.dropna()
    if scores.empty:
        return {}
    if scores.min() == scores.max():
        return {f"{scores.min():g}": len(scores)}
    cut = pd.cut(scores, bins=bins)
    counts = cut.value_counts(sort=False)
    return {f"{i.left:.1f}–{i.right:.1f}": int(n) for i, n in zip(counts.index, counts.to_numpy(), strict=True)}


def render_report(decisions: pd.DataFrame, summary: SelectionSummary, config: CohortConfig) -> str:
    """The report's HTML; applicant text is escaped by the template environment."""
    shown = decisions.sort_values(Col.SOURCE_ROW).astype(object).where(decisions.notna(), "")
    waitlist = shown[shown[Col.STATUS] == Status.WAITLISTED].sort_values(Derived.RANK)
    candidates = decisions[decisions[Col.STATUS].isin([Status.SELECTED, Status.WAITLISTED])]
    return (
        template_environment()
        .get_template("report.html")
        .render(
            summary=summary,
            deadline_text=local_time_text(config.deadline, config.timezone),
            per_state_svg=bar_chart(summary.selected_per_state, "selected"),
            scores_svg=bar_chart(score_bins(candidates[Derived.SCORE].astype(float)), "teams"),
            waitlist=waitlist.to_dict(orient="records"),
            decisions=shown.to_dict(orient="records"),
        )
    )


def write_report(decisions: pd.DataFrame, summary: SelectionSummary, config: CohortConfig, out_dir: Path) -> Path:
    return write_whole(out_dir / "report.html", render_report(decisions, summary, config))
