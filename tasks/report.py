"""The selection report: one self-contained HTML file (inline SVG, no external assets) for staff, and its sections as
frames, which the Prefect artifacts show too (tasks/artifacts.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from schemas.columns import LIST_SEPARATOR, Col, Derived, Status
from schemas.config import CohortConfig
from schemas.lifecycle import OverrideAction
from schemas.report import MULTI_VALUED, Dimension, EquityCol, Section, SectionCol
from schemas.review import decision_columns
from tasks.decisions import SelectionSummary, with_split_ranks
from tasks.equity import equity_display, equity_table
from tasks.files import write_whole
from tasks.local_time import local_time_text
from tasks.templating import template_environment

REPORT_FILE = "report.html"
_BAR = 18
_WIDTH = 520

SELECTED_COLUMNS: tuple[str, ...] = (
    Derived.SELECTION_RANK,
    Col.SOURCE_ROW,
    Col.LOCAL_NAME,
    Col.STATE,
    Derived.SCORE,
    Derived.RESERVED_SEAT,
    Derived.TEAM_KEY,
    Col.REASONS,
)
WAITLIST_COLUMNS: tuple[str, ...] = (
    Derived.WAITLIST_POSITION,
    Col.SOURCE_ROW,
    Col.LOCAL_NAME,
    Col.STATE,
    Derived.SCORE,
    Derived.TEAM_KEY,
    Col.REASONS,
)
DUPLICATE_COLUMNS: tuple[str, ...] = (
    Col.SOURCE_ROW,
    Col.STATUS,
    Col.LOCAL_NAME,
    Col.STATE,
    Derived.POSSIBLE_DUPLICATE_OF,
    SectionCol.MAY_DUPLICATE,
    Derived.TEAM_KEY,
)
INVALID_COLUMNS: tuple[str, ...] = (Col.SOURCE_ROW, Col.LOCAL_NAME, Col.STATE, Derived.TEAM_KEY, Col.REASONS)

# What a staff member does about a possible duplicate, where the rows are listed (the report and the artifact).
DUPLICATES_HELP = (
    "Each row may be the same team as the rows it names: a similar local name, or the same team lead, in the same "
    "state. They count as separate teams, each with its own notice, until staff decide in the Overrides sheet: a "
    f"row with action {OverrideAction.FORCE_DECLINE} for the row not to use when they are one team, or a "
    f"{OverrideAction.NOTE} saying they are different teams."
)
EQUITY_HELP = (
    "The pool is every team considered for a seat (selected or waitlisted: valid, on time, not a duplicate), one "
    "row per team; shares are of the pool's teams and of the selected teams. A team counts once for each job family "
    "and education level it named, so those shares add up to more than 100%."
)


def bar_chart(counts: dict[str, int], unit: str, title: str = "") -> Markup:
    """Horizontal bars, one per label, drawn as inline SVG; its accessible name (aria-label) says every bar."""
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
    said = ", ".join(f"{label}: {n} {unit}" for label, n in counts.items())
    name = escape(f"{title}. {said}" if title else said)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img" '
        f'aria-label="{name}">{"".join(rows)}</svg>'
    )
    return Markup(svg)  # noqa: S704 -- every label, unit and title in it went through escape() above


def _grid(scores: pd.Series) -> float | None:
    """The coarsest step every score is a multiple of (1, 0.5 as the rubric's half points give, 0.25), or None."""
    for step in (1.0, 0.5, 0.25):
        units = scores.to_numpy(dtype=float) / step
        if np.allclose(units, np.round(units), atol=1e-6):
            return step
    return None


def _nice_width(span: float, max_bins: int) -> float:
    """The smallest of 1, 2, 2.5 and 5 times a power of ten that covers `span` in at most `max_bins` bins."""
    raw = span / max_bins
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power * max_bins >= span)


def score_bins(scores: pd.Series, max_bins: int = 16) -> dict[str, int]:
    """Counts of scores in bins that fit the scores' own steps, empty bins between included: one bin per score when
    the scores are whole or half points and few enough ("8.5"), else bins of several steps labelled by the scores
    they hold ("8–9.5"); scores on no such grid in bins "3 to under 4"."""
    scores = scores.dropna().astype(float)
    if scores.empty:
        return {}
    low, high = float(scores.min()), float(scores.max())
    step = _grid(scores)
    if step is None:
        width = _nice_width(high - low, max_bins)
        start = math.floor(low / width) * width
        count = max(1, math.ceil((high - start) / width + 1e-9))
        index = np.minimum(np.floor((scores.to_numpy() - start) / width + 1e-9).astype(int), count - 1)
        labels = [f"{start + i * width:g} to under {start + (i + 1) * width:g}" for i in range(count)]
    else:
        start = math.floor(low / step + 1e-9) * step
        points = round((high - start) / step) + 1
        per = math.ceil(points / max_bins)
        width = per * step
        count = math.ceil(points / per)
        index = np.floor((scores.to_numpy() - start) / width + 1e-9).astype(int)
        labels = [
            f"{start + i * width:g}" if per == 1 else f"{start + i * width:g}–{start + i * width + width - step:g}"
            for i in range(count)
        ]
    counts = np.bincount(index, minlength=count)
    return {label: int(n) for label, n in zip(labels, counts, strict=True)}


def _pick(rows: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The section's columns in its order (one the frame lacks, such as a reserved seat in an older decisions.csv,
    empty), numbered from 0."""
    return rows.reindex(columns=list(columns), fill_value="").reset_index(drop=True)


def _in_order(decisions: pd.DataFrame, status: Status, by: str, columns: tuple[str, ...]) -> pd.DataFrame:
    rows = decisions[decisions[Col.STATUS] == status]
    return _pick(rows.sort_values([by, Col.SOURCE_ROW], kind="mergesort"), columns)


def selected_in_order(decisions: pd.DataFrame, columns: tuple[str, ...] = SELECTED_COLUMNS) -> pd.DataFrame:
    """The selected teams by selection rank (1 first): the decision columns staff check a seat by. `decisions` has
    the split ranks (tasks/decisions.with_split_ranks), as decisions_frame and artifact_decisions make them."""
    return _in_order(decisions, Status.SELECTED, Derived.SELECTION_RANK, columns)


def waitlist_in_order(decisions: pd.DataFrame, columns: tuple[str, ...] = WAITLIST_COLUMNS) -> pd.DataFrame:
    """The waitlisted teams by waitlist position (1 is offered the first free seat it fits)."""
    return _in_order(decisions, Status.WAITLISTED, Derived.WAITLIST_POSITION, columns)


def possible_duplicates(decisions: pd.DataFrame) -> pd.DataFrame:
    """Every row with `possible_duplicate_of`, in sheet order, with the rows it names as staff find them (`row 50,
    Troy Educational Association (waitlisted)`): the pairs staff are to confirm."""
    named = decisions.get(Derived.POSSIBLE_DUPLICATE_OF, pd.Series("", index=decisions.index)).fillna("").astype(str)
    rows = decisions[named != ""].sort_values(Col.SOURCE_ROW, kind="mergesort")
    listed = named[rows.index].str.split(LIST_SEPARATOR, regex=False).explode()
    others = pd.to_numeric(listed, errors="coerce").dropna().astype("int64")
    sheet = decisions.assign(**{Col.SOURCE_ROW: pd.to_numeric(decisions[Col.SOURCE_ROW], errors="coerce")})
    sheet = sheet.drop_duplicates(Col.SOURCE_ROW).set_index(Col.SOURCE_ROW)
    local = others.map(sheet[Col.LOCAL_NAME]).fillna("").astype(str)
    status = others.map(sheet[Col.STATUS]).fillna("").astype(str)
    said = ("row " + others.astype(str) + ", " + local + " (" + status + ")").groupby(level=0).agg(LIST_SEPARATOR.join)
    shown = rows.assign(**{SectionCol.MAY_DUPLICATE: said.reindex(rows.index).fillna("")})
    return _pick(shown, DUPLICATE_COLUMNS)


def invalid_rows(decisions: pd.DataFrame) -> pd.DataFrame:
    """The invalid rows in sheet order with their reasons."""
    rows = decisions[decisions[Col.STATUS] == Status.INVALID].sort_values(Col.SOURCE_ROW, kind="mergesort")
    return _pick(rows, INVALID_COLUMNS)


REVIEWS_HELP = (
    "Each team's combined score of each criterion times its weight (points), each reviewer's score, and the "
    "criteria on which its reviewers differ by the cohort's spread threshold or more: those teams are to discuss "
    "before the selection is final. The same figures are in decisions.csv and the review round's reviews.csv."
)
REVIEW_TEAM_COLUMNS: tuple[str, ...] = (Col.STATUS, Col.LOCAL_NAME, Col.STATE, Derived.SCORE, Derived.TEAM_KEY)


def reviewed_teams(decisions: pd.DataFrame, config: CohortConfig) -> pd.DataFrame | None:
    """The teams considered for a seat, selected by rank then the waitlist in order, with the review's columns;
    None when the call has no review round."""
    if config.review is None:
        return None
    columns = (*REVIEW_TEAM_COLUMNS, *decision_columns([c.name for c in config.review.criteria]))
    ordered = pd.concat([selected_in_order(decisions, columns), waitlist_in_order(decisions, columns)])
    return ordered.reset_index(drop=True)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows for the template: missing values as "", numbers as they print."""
    return frame.astype(object).where(frame.notna(), "").to_dict(orient="records")


def equity_groups(equity: pd.DataFrame) -> list[dict]:
    """The comparison as one table per dimension for the report: its caption and rows as text."""
    shown = equity_display(equity).assign(_dimension=equity[EquityCol.DIMENSION])
    groups = []
    for dimension in Dimension:
        rows = shown[shown["_dimension"] == dimension.value]
        if len(rows):
            caption = str(rows[EquityCol.DIMENSION].iloc[0])
            caption = caption[0].upper() + caption[1:]
            groups.append({"caption": caption, "multi": dimension in MULTI_VALUED, "rows": _records(rows)})
    return groups


def render_report(
    decisions: pd.DataFrame, summary: SelectionSummary, config: CohortConfig, equity: pd.DataFrame | None = None
) -> str:
    """The report's HTML; applicant text is escaped by the template environment. `equity` is the selection's
    comparison (tasks/equity.py, from the selection's frame with every answer); without it the comparison is made
    from the columns `decisions` has (state and region)."""
    decisions = with_split_ranks(decisions)
    shown = decisions.sort_values(Col.SOURCE_ROW).astype(object).where(decisions.notna(), "")
    candidates = decisions[decisions[Col.STATUS].isin([Status.SELECTED, Status.WAITLISTED])]
    reviews = reviewed_teams(decisions, config)
    return (
        template_environment()
        .get_template("report.html")
        .render(
            summary=summary,
            sections=Section,
            deadline_text=local_time_text(config.deadline, config.timezone),
            per_state_svg=bar_chart(summary.selected_per_state, "selected", Section.PER_STATE),
            scores_svg=bar_chart(
                score_bins(candidates[Derived.SCORE].astype(float)), "teams", "Teams per score, selected and waitlisted"
            ),
            selected=_records(selected_in_order(decisions)),
            waitlist=_records(waitlist_in_order(decisions)),
            duplicates=_records(possible_duplicates(decisions)),
            duplicates_help=DUPLICATES_HELP,
            invalid=_records(invalid_rows(decisions)),
            reviews=None if reviews is None else {"columns": list(reviews.columns), "rows": _records(reviews)},
            reviews_help=REVIEWS_HELP,
            equity=equity_groups(equity_table(decisions) if equity is None else equity),
            equity_help=EQUITY_HELP,
            decisions=shown.to_dict(orient="records"),
        )
    )


def write_report(
    decisions: pd.DataFrame,
    summary: SelectionSummary,
    config: CohortConfig,
    out_dir: Path,
    equity: pd.DataFrame | None = None,
) -> Path:
    return write_whole(out_dir / REPORT_FILE, render_report(decisions, summary, config, equity))
