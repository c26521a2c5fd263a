"""The selection report: self-contained HTML, escaped applicant text, charts from the summary."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pandas as pd

from schemas.report import ArtifactKey, Section
from tasks.artifacts import RunFiles, selection_artifacts
from tasks.decisions import SelectionSummary, decisions_frame
from tasks.equity import equity_table
from tasks.report import bar_chart, render_report, score_bins
from tests.support.rows import named_team, row
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


# ---------------------------------------------------------------------------- sections, ranks, duplicates, bins

SECTIONED = (
    named_team("Alpha EA", "OH", "A B", "6/1/2021 9:00:00"),
    named_team("Beta EA", "TX", "C D", "6/1/2021 10:00:00"),
    named_team("Gamma EA", "OH", "E F", "6/1/2021 11:00:00"),
    named_team("Delta EA", "CA", "G H", "6/1/2021 12:00:00", Has_your_local_president_approved_this_application="No"),
    named_team("Troy Education Association", "NY", "I J", "6/1/2021 13:00:00"),
    named_team("Troy Educational Association", "NY", "K L", "6/1/2021 14:00:00"),  # similar name, another lead
)


def _sectioned(config):
    small = config.model_copy(update={"capacity": 3, "max_per_state": 1, "reserved_seats": []})
    decided = run(small, *SECTIONED)
    return small, decided, decisions_frame(decided, small, provisional=False)


def test_ranks_are_split_and_a_possible_duplicate_is_named_in_the_reasons(config):
    _, _, decisions = _sectioned(config)
    shown = decisions.set_index("source_row")
    selected = shown[shown["status"] == "selected"]
    waitlisted = shown[shown["status"] == "waitlisted"]
    assert sorted(selected["selection_rank"].tolist()) == [1, 2, 3]
    assert selected["waitlist_position"].isna().all() and waitlisted["selection_rank"].isna().all()
    assert sorted(waitlisted["waitlist_position"].tolist()) == list(range(1, len(waitlisted) + 1))
    assert (shown["rank"].fillna(0) == shown["selection_rank"].fillna(shown["waitlist_position"]).fillna(0)).all()
    assert shown.loc[6, "possible_duplicate_of"] == "7" and shown.loc[7, "possible_duplicate_of"] == "6"
    assert shown.loc[6, "reasons"].endswith(
        "; Possible duplicate of row 7 (a similar name, or the same team lead, in the same state): staff confirm in "
        "the Overrides sheet"
    )
    assert "Possible duplicate" not in " ".join(shown.drop(index=[6, 7])["reasons"])


def test_the_report_has_every_section_in_order_with_accessible_tables(config):
    small, decided, decisions = _sectioned(config)
    summary = _summary(rows=6, counts={"selected": 3, "waitlisted": 2, "invalid": 1, "duplicate": 0, "late": 0})
    html = render_report(decisions, summary, small, equity_table(decided, frozenset({"TX:beta education association"})))
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    headings = re.findall(r"<h2 id=\"[a-z-]+\">([^<]+)</h2>", html)
    # The what-if's sections are its own; the reviews section is only for a call with a review round.
    assert headings == [s.value for s in Section if s not in (Section.WHAT_IF, Section.WHAT_IF_EQUITY, Section.REVIEWS)]
    assert html.count("<table") == html.count("<caption>") == html.count("<thead>")
    assert "<th>" not in html and "<td scope" not in html  # every header cell says what it heads
    selected = _section(html, Section.SELECTED)
    order = [
        re.search(r"<td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td><td>([^<]+)</td>", r)
        for r in selected.split("<tr>")[2:]
    ]
    assert [(m[1], m[3]) for m in order if m] == [
        ("1", "Alpha EA"),
        ("2", "Beta EA"),
        ("3", "Troy Educational Association"),  # NY:troy education association is a returning team: fewer points
    ]
    waitlist = _section(html, Section.WAITLIST)
    assert waitlist.index("Gamma EA") < waitlist.index("Troy Education Association")
    duplicates = _section(html, Section.POSSIBLE_DUPLICATES)
    assert "row 7, Troy Educational Association (selected)" in duplicates
    assert "row 6, Troy Education Association (waitlisted)" in duplicates
    assert "force-decline" in duplicates
    invalid = _section(html, Section.INVALID)
    assert "Delta EA" in invalid and "president has not approved" in invalid
    equity = _section(html, Section.EQUITY)
    for caption in ("Region", "State", "Job family (counted once per value named)", "Program stage"):
        assert f"<caption>{caption}</caption>" in equity
    assert '<th scope="row">returning</th><td class="num">1</td><td class="num">20%</td>' in equity
    assert '<th scope="row">Midwest</th><td class="num">2</td><td class="num">40%</td><td class="num">1</td>' in equity
    assert 'role="img" aria-label="Selected per state. OH: 1 selected, TX: 1 selected"' in html


def test_without_the_comparison_the_report_draws_it_from_the_states(config):
    small, _, decisions = _sectioned(config)
    equity = _section(render_report(decisions, _summary(), small), Section.EQUITY)
    assert "<caption>Region</caption>" in equity and "<caption>State</caption>" in equity
    assert "Job family" not in equity


def _section(html: str, section: Section) -> str:
    start = html.index(f">{section}</h2>")
    end = html.find("<h2", start)
    return html[start : end if end > 0 else None]


def test_half_point_scores_get_a_bin_each_and_many_scores_share_bins():
    scores = pd.Series([3.5, 4.5, 4.5, 6.0, 9.5])
    bins = score_bins(scores)
    assert list(bins) == ["3.5", "4", "4.5", "5", "5.5", "6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5"]
    assert bins["4.5"] == 2 and bins["4"] == 0 and sum(bins.values()) == 5
    assert list(score_bins(pd.Series([2.0, 5.0]))) == ["2", "3", "4", "5"]  # whole points: no empty half bins
    wide = score_bins(pd.Series([0.0, 0.5, 20.0]), max_bins=8)  # 41 half points: bins of three points
    assert list(wide)[:2] == ["0–2.5", "3–5.5"] and len(wide) <= 8 and sum(wide.values()) == 3
    assert wide["0–2.5"] == 2 and wide[list(wide)[-1]] == 1
    odd = score_bins(pd.Series([3.33, 4.67, 7.1]), max_bins=5)
    assert sum(odd.values()) == 3 and all("to under" in label for label in odd)
    assert score_bins(pd.Series([], dtype=float)) == {}


# ---------------------------------------------------------------------------- the artifacts, without Prefect

HOSTILE = (
    named_team("Mail pat@leak.example.org EA", "OH", "A B", Team_lead_phone="(322) 555-2425"),
    named_team("Call 322-555-7189 EA", "TX", "C D", Team_lead_phone="322.555.7189"),
    row(
        Local_Association_name="Omega EA",
        State="OH",
        Team_lead_name="E F",
        Team_lead_email="not-an-address@",
        Team_lead_phone="+1 322 555 1842",
    ),
)


def test_no_artifact_holds_an_address_or_a_phone_number(config):
    small = config.model_copy(update={"capacity": 1, "max_per_state": 1, "reserved_seats": []})
    decided = run(small, *HOSTILE, *SECTIONED)
    summary = _summary()
    files = RunFiles("staff-pc", Path("/srv/out/report.html"), "/srv/out/validation/docs/index.html")
    made = selection_artifacts(decided, small, summary, files, frozenset())
    assert [a.key for a in made] == [
        ArtifactKey.SELECTION_SUMMARY,
        ArtifactKey.DECISIONS,
        ArtifactKey.SELECTED,
        ArtifactKey.WAITLIST,
        ArtifactKey.POSSIBLE_DUPLICATES,
        ArtifactKey.INVALID,
        ArtifactKey.EQUITY,
    ]
    text = json.dumps([dataclasses.asdict(a) for a in made])
    cells = {cell for answers in (*HOSTILE, *SECTIONED) for cell in answers}
    addresses = {found for cell in cells for found in re.findall(r"[^\s,;]+@[^\s,;]*", cell)}
    assert {"pat@leak.example.org", "not-an-address@", "a.b@example.org", "dana@troyea.example.org"} <= addresses
    assert [a for a in addresses if a in text] == []
    for phone in ("555-2425", "555.7189", "555-7189", "555 1842"):
        assert phone not in text
    assert "Mail (address) EA" in text and "Call (phone) EA" in text
    summary_md = made[0].markdown or ""
    assert "file://" not in text
    assert "Full report (report.html): on host `staff-pc`, file `/srv/out/report.html`." in summary_md
    decisions = made[1].table or []
    assert {"team_key", "selection_rank", "waitlist_position", "duplicate_of", "possible_duplicate_of"} <= set(
        decisions[0]
    )
    assert "rank" not in decisions[0]
    invalid = made[5].table or []
    assert [r["reasons"] for r in invalid if r["local_name"] == "Omega EA"] == [
        "Team lead email is not a valid address"
    ]
