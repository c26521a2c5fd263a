"""Fuzz target: hypothesis over intake → select and what staff and applicants then see, for a bounded time.

`make fuzz` runs it for FUZZ_SECONDS (default 120); `make test` does not collect it (pytest collects test_*.py).
Rows mix good answers with hostile text (formulas, line breaks, NUL, direction overrides, emoji, forged
addresses, odd dates and numbers), ragged rows and resubmissions. Every example must: give each answered row
exactly one status with a reason when it is not accepted; keep capacity and the per-state cap; write a CSV a
spreadsheet reads as text; render a report whose markup is only the template's; and build notices whose headers
carry nothing from the answers. A failure is saved in .hypothesis/ and replayed first on the next run.
"""

from __future__ import annotations

import csv
import io
import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.generate import HEADERS
from schemas.columns import Col, Status
from tasks.decisions import FINAL_STATUSES, decisions_frame, printable, summarize_selection
from tasks.notices import plan_notices
from tasks.pipeline import PipelineInputs, run_pipeline
from tasks.report import render_report
from tasks.sources import values_to_frame
from tasks.store import open_store, record_selection
from tests.support.corpus import DATES, FORMULAS, NUMBERS, answers, line
from tests.support.injection import FORMULA_STARTS, MESSAGE_HEADERS, REPORT_ATTRIBUTES, REPORT_TAGS, ReportParser
from tests.support.moments import AFTER_DEADLINE
from tests.support.paths import CONFIG_PATH

FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS", "120"))
HOSTILE = [
    *FORMULAS,
    *(text for text, _ in DATES),
    *NUMBERS,
    "a@b.example.org\r\nBcc: evil@attacker.example",
    "a@b.example.org, c@d.example.org",
    "Dana <a@b.example.org>",
    "\x00",
    "Troy \u202eAE\u202c",
    "\u0422roy Education Association",
    "🍎👩‍🏫",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }}",
    "; ",
    "\ufeff",
    "Yes",
    "No",
    "NY",
    "Clerical Services, Food Services",
]
text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=3).map("".join),
)


@st.composite
def sheet(draw) -> list[list[str]]:
    """Good responses of a few teams, answers swapped for hostile text, resubmissions, ragged and blank rows."""
    rows: list[list[str]] = []
    for _ in range(draw(st.integers(1, 10))):
        if rows and draw(st.booleans()):
            earlier = draw(st.sampled_from(rows))  # a resubmission of an earlier row
            cells = [*earlier, *[""] * (len(HEADERS) - len(earlier))]
        else:
            cells = line(answers(draw(st.integers(1, 12))))
        for _ in range(draw(st.integers(0, 4))):
            cells[draw(st.integers(0, len(HEADERS) - 1))] = draw(text)
        rows.append(cells[: draw(st.integers(len(HEADERS) - 3, len(HEADERS)))])
        if draw(st.integers(0, 9)) == 0:
            rows.append([""] * draw(st.integers(0, 3)))
    return rows


def _config():
    from schemas.config import load_config

    return load_config(CONFIG_PATH).model_copy(update={"capacity": 4, "max_per_state": 1, "state_url": "sqlite://"})


CONFIG = _config()
ENGINE = open_store("sqlite://")


def check_example(rows: list[list[str]]) -> None:
    config = CONFIG
    values = [list(HEADERS), *rows]
    decided = run_pipeline(values_to_frame(values), PipelineInputs(config))

    answered = [n for n, cells in enumerate(rows, start=2) if any(str(c).strip() for c in cells)]
    assert decided[Col.SOURCE_ROW].tolist() == answered
    assert decided[Col.STATUS].isin(FINAL_STATUSES).all()
    refused = decided[Col.STATUS].isin([Status.INVALID, Status.DUPLICATE, Status.LATE])
    assert (decided.loc[refused, Col.REASONS] != "").all()
    selected = decided[decided[Col.STATUS] == Status.SELECTED]
    assert len(selected) <= config.capacity
    assert selected[Col.STATE].value_counts().max() <= config.max_per_state if len(selected) else True

    decisions = decisions_frame(decided, config, provisional=False)
    written = printable(decisions).to_csv(index=False, lineterminator="\n")
    assert "\r" not in written
    table = list(csv.reader(io.StringIO(written, newline="")))
    assert len(table) == len(decided) + 1 and {len(r) for r in table} == {len(table[0])}
    assert not [cell for r in table for cell in r if cell.startswith(FORMULA_STARTS)]

    summary = summarize_selection(decided, config, CONFIG_PATH, "fuzz", provisional=False)
    parser = ReportParser()
    parser.feed(render_report(decisions, summary, config))
    assert parser.tags <= REPORT_TAGS and parser.attributes <= REPORT_ATTRIBUTES

    record_selection(ENGINE, config.cohort, decided, "fuzz", "fuzz", provisional=False)
    for notice in plan_notices(ENGINE, config, "decisions", AFTER_DEADLINE):
        if notice.refusal:
            continue
        head = notice.payload.split(b"\r\n\r\n", 1)[0].decode("utf-8")
        names = {ln.split(":", 1)[0].casefold() for ln in head.split("\r\n") if ln and not ln[0].isspace()}
        assert names <= MESSAGE_HEADERS, names
        assert "\n" not in notice.to + notice.cc + notice.subject


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=sheet())
def fuzz_once(rows: list[list[str]]) -> None:
    check_example(rows)


def test_fuzz_intake_to_select_for_a_bounded_time():
    stop = time.monotonic() + FUZZ_SECONDS
    batches = 0
    while batches == 0 or time.monotonic() < stop:
        fuzz_once()
        batches += 1
    print(f"\nfuzz: {batches * 40} examples in {FUZZ_SECONDS:g} s, no failure")
