"""The selection report: self-contained HTML, escaped applicant text, charts from the summary."""

from __future__ import annotations

import pandas as pd

from tasks.decisions import SelectionSummary, decisions_frame
from tasks.report import bar_chart, render_report, score_bins
from tests.support.rows import named_team
from tests.support.selection import run


def _summary(**changes) -> SelectionSummary:
    base = {
        "program": "P",
        "cohort": "2021",
        "provisional": False,
        "deadline": "2021-06-07T10:00:00-04:00",
        "capacity": 2,
        "max_per_state": 1,
        "rows": 3,
        "counts": {"selected": 2, "waitlisted": 1, "invalid": 0, "duplicate": 0, "late": 0},
        "selected_per_state": {"OH": 1, "TX": 1},
        "score_cutoff": 3.0,
        "input_sha256": "a" * 64,
        "config_sha256": "b" * 64,
    }
    return SelectionSummary(**(base | changes))


def test_report_is_self_contained_and_escapes_applicant_text(config):
    small = config.model_copy(update={"capacity": 2, "max_per_state": 1, "reserved_seats": []})
    decided = run(
        small,
        named_team("<img src=x onerror=alert(1)> Education Association", "OH", "A B"),
        named_team("Second EA", "TX", "C D"),
        named_team("Third EA", "OH", "E F", "6/3/2021 9:00:00"),
    )
    html = render_report(decisions_frame(decided, small, provisional=False), _summary(), small)
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    outside = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in outside
    assert "https://" not in outside
    assert "<link" not in html
    assert "<script" not in html
    assert html.count("<svg") == 2
    assert "Ohio already has 1 selected teams" in html


def test_charts_and_bins():
    assert "<rect" in bar_chart({"OH": 2, "TX": 1}, "selected")
    assert bar_chart({}, "x") == "<p>None.</p>"
    assert score_bins(pd.Series([1.0, 1.0])) == {"1": 2}
    assert sum(score_bins(pd.Series([1.0, 2.0, 3.5, 7.0])).values()) == 4
