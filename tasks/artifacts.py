"""What staff read of a selection and of a what-if in the Prefect UI: the report's sections as tables and markdown,
built here without Prefect (flows/steps.py publishes them). No artifact holds an applicant's address or phone
number: the tables come from tasks/decisions.artifact_decisions, which leaves out the contact columns and the
applicants' own answers and marks any address or number a text quotes; the full report stays a file, and the
summary says where it is."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from schemas.config import CohortConfig
from schemas.report import ArtifactKey, EquityCol, Section
from tasks.decisions import (
    SelectionSummary,
    artifact_decisions,
    decisions_frame,
    printable,
    with_split_ranks,
    without_contacts,
)
from tasks.equity import equity_display, equity_table
from tasks.report import (
    DUPLICATES_HELP,
    EQUITY_HELP,
    REVIEWS_HELP,
    invalid_rows,
    possible_duplicates,
    reviewed_teams,
    selected_in_order,
    waitlist_in_order,
)
from tasks.simulate import WhatIf, what_if_equity_display, what_if_table


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One artifact to publish: a table (rows of text, one dict per row) or markdown, under its key."""

    key: ArtifactKey
    description: str
    table: list[dict[str, str]] | None = None
    markdown: str | None = None


def records(frame: pd.DataFrame) -> list[dict[str, str]]:
    """A frame as a table artifact's rows: every cell text (lists joined, times ISO-8601 UTC, missing empty)."""
    shown = printable(frame, neutralize=False)
    text = shown.astype(object).where(shown.notna(), "").astype(str)
    return [{str(key): str(value) for key, value in row.items()} for row in text.to_dict(orient="records")]


def where_text(path: Path | str, host: str) -> str:
    """Where a file is, as text staff can copy (a browser refuses file:// links, and the file is on the machine that
    ran the flow, perhaps not the one reading the UI)."""
    return f"on host `{host}`, file `{path}`"


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """Where a run's files for staff are: the machine that ran it, its report.html, its Data Docs (if any)."""

    host: str
    report: Path
    docs: str | None = None


def summary_markdown(summary: SelectionSummary, files: RunFiles) -> str:
    """Counts by status, the limits, the lowest selected score, selected per state, and where report.html (and the
    validation report) are."""
    title = f"## Selection: {summary.program} {summary.cohort}" + (" (PROVISIONAL)" if summary.provisional else "")
    counts = "\n".join(f"| {status} | {count} |" for status, count in summary.counts.items())
    per_state = ", ".join(f"{state} {n}" for state, n in summary.selected_per_state.items()) or "none"
    cutoff = "none" if summary.score_cutoff is None else f"{summary.score_cutoff:g}"
    lines = [
        title,
        "",
        f"### {Section.COUNTS}",
        "",
        "| status | rows |",
        "| --- | --- |",
        counts,
        "",
        f"{summary.rows} rows read. Capacity {summary.capacity}, at most {summary.max_per_state} per state; "
        f"lowest selected score {cutoff}.",
        "",
        f"Selected per state: {per_state}.",
        "",
        f"Full report (report.html): {where_text(files.report, files.host)}.",
    ]
    if files.docs:
        lines += ["", f"Validation report (great-expectations Data Docs): {where_text(files.docs, files.host)}."]
    return "\n".join(lines) + "\n"


def _described(section: Section, config: CohortConfig, *sentences: str) -> str:
    """An artifact's description: its section's name, the call, then what to know about it."""
    return " ".join([f"**{section}**: {config.program} {config.cohort}.", *(s for s in sentences if s)])


def _rows(frame: pd.DataFrame) -> str:
    return f"{len(frame)} rows." if len(frame) else "None in this selection."


def selection_artifacts(
    decided: pd.DataFrame,
    config: CohortConfig,
    summary: SelectionSummary,
    files: RunFiles,
    previous: frozenset[str] | None = None,
) -> list[Artifact]:
    """The selection's artifacts: the summary (counts, where the report is), the decisions table, the selected
    teams in rank order, the waitlist in order, the possible duplicates to confirm, the invalid rows with their
    reasons (which checks failed, not the answers) and the equity comparison."""
    shown = artifact_decisions(decided, config, provisional=summary.provisional)
    selected, waitlist = selected_in_order(shown), waitlist_in_order(shown)
    duplicates, invalid = possible_duplicates(shown), invalid_rows(shown)
    equity = equity_display(equity_table(decided, previous))
    equity[EquityCol.VALUE] = without_contacts(equity[EquityCol.VALUE])
    pool = f"{len(selected) + len(waitlist)} teams in the pool, {len(selected)} selected."
    return [
        Artifact(
            ArtifactKey.SELECTION_SUMMARY,
            "Counts by status and where the full report is",
            markdown=summary_markdown(summary, files),
        ),
        Artifact(
            ArtifactKey.DECISIONS,
            f"Decisions for {config.program} {config.cohort}: one row per sheet row, no contact details",
            table=records(shown),
        ),
        Artifact(ArtifactKey.SELECTED, _described(Section.SELECTED, config, _rows(selected)), table=records(selected)),
        Artifact(
            ArtifactKey.WAITLIST,
            _described(Section.WAITLIST, config, _rows(waitlist), "Position 1 is offered the first free seat it fits."),
            table=records(waitlist),
        ),
        Artifact(
            ArtifactKey.POSSIBLE_DUPLICATES,
            _described(Section.POSSIBLE_DUPLICATES, config, _rows(duplicates), DUPLICATES_HELP),
            table=records(duplicates),
        ),
        Artifact(
            ArtifactKey.INVALID,
            _described(Section.INVALID, config, _rows(invalid), "The reasons name the checks that failed."),
            table=records(invalid),
        ),
        Artifact(ArtifactKey.EQUITY, _described(Section.EQUITY, config, pool, EQUITY_HELP), table=records(equity)),
        *_review_artifacts(decided, config, provisional=summary.provisional),
    ]


def _review_artifacts(decided: pd.DataFrame, config: CohortConfig, *, provisional: bool) -> list[Artifact]:
    """The reviews section as a table: the teams' keys and the review's columns (reviewers by name), any address
    in them masked like every address in the artifacts."""
    if config.review is None:
        return []
    reviews = reviewed_teams(with_split_ranks(decisions_frame(decided, config, provisional=provisional)), config)
    if reviews is None:
        return []
    for column in reviews.columns:
        reviews[column] = without_contacts(reviews[column].astype(str).where(reviews[column].notna(), ""))
    described = _described(Section.REVIEWS, config, _rows(reviews), REVIEWS_HELP)
    return [Artifact(ArtifactKey.REVIEWS, described, table=records(reviews))]


def what_if_artifacts(table: WhatIf, equity: pd.DataFrame, config: CohortConfig) -> list[Artifact]:
    """The what-if table (what-if.csv's rows) and the equity comparison of every combination tried."""
    tried = what_if_table(table.rows)
    side_by_side = what_if_equity_display(equity)
    side_by_side[EquityCol.VALUE] = without_contacts(side_by_side[EquityCol.VALUE])
    current = f"current config: capacity {table.current_capacity}, at most {table.current_max_per_state} per state"
    return [
        Artifact(
            ArtifactKey.WHAT_IF,
            f"**{Section.WHAT_IF}**: {config.program} {config.cohort} ({current}). `changed_vs_current` counts the "
            "teams whose status differs from the current config's selection. Nothing was recorded or sent.",
            table=records(tried),
        ),
        Artifact(
            ArtifactKey.WHAT_IF_EQUITY,
            f"**{Section.WHAT_IF_EQUITY}**: {config.program} {config.cohort}. Each combination's column has its "
            f"selected teams and their share. {EQUITY_HELP}",
            table=records(side_by_side),
        ),
    ]
