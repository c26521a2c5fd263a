"""Properties of the whole pure selection path: sheet values → normalize → validate → dedupe → cutoff → score → select.

Inputs are seeded synthetic form exports (duplicates, name variants, late and invalid rows) and hand-made
variations of one good row, under configs with varied capacity, per-state cap and reserved seats.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from examples.generate import HEADERS, generate_rows
from schemas.columns import Col, Derived, Status
from schemas.config import CohortConfig, ReservedSeats
from tasks.decisions import decisions_frame, summarize_selection, write_decisions
from tasks.pipeline import PipelineInputs, run_pipeline
from tasks.sources import values_to_frame
from tests.support.paths import CONFIG_PATH
from tests.support.rows import row

# Coverage is not traced here: these properties re-run, many times over, lines the example tests cover.
pytestmark = pytest.mark.no_cover

FINAL = {Status.SELECTED, Status.WAITLISTED, Status.INVALID, Status.DUPLICATE, Status.LATE}
DECIDED = {Status.SELECTED, Status.WAITLISTED}
FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(values: list[list[str]], config: CohortConfig) -> pd.DataFrame:
    """The pure pipeline from the sheet's response rows (no header) to decisions."""
    return run_pipeline(values_to_frame([list(HEADERS), *values]), PipelineInputs(config))


# ------------------------------------------------------------------------------------------- strategies


@st.composite
def configs(draw, base: CohortConfig) -> CohortConfig:
    """The bundled config with drawn capacity, per-state cap and reserved seats (0-2 reserves)."""
    capacity = draw(st.integers(min_value=1, max_value=25))
    max_per_state = draw(st.integers(min_value=1, max_value=4))
    choice = draw(st.sampled_from(["none", "bundled", "drawn"]))
    if choice == "bundled" and sum(r.seats for r in base.reserved_seats) <= capacity:
        reserves = list(base.reserved_seats)
    elif choice == "drawn":
        options = [
            ("Higher Education", "education_levels", "Higher Education"),
            ("Early Childhood", "education_levels", "Early Childhood"),
            ("Transportation", "job_families", "Transportation Services"),
        ]
        picked = draw(st.lists(st.sampled_from(options), max_size=2, unique=True))
        reserves, left = [], capacity
        for name, field, value in picked:
            if left < 1:
                break
            seats = draw(st.integers(min_value=1, max_value=min(3, left)))
            left -= seats
            reserves.append(ReservedSeats(name=name, seats=seats, field=field, value=value))
    else:
        reserves = []
    data = {**base.model_dump(), "capacity": capacity, "max_per_state": max_per_state}
    data["reserved_seats"] = [r.model_dump() for r in reserves]
    return CohortConfig.model_validate(data)


@st.composite
def generated(draw, max_rows: int = 120) -> list[list[str]]:
    """A synthetic export of 0..max_rows rows, in time order or shuffled."""
    rows = generate_rows(draw(st.integers(min_value=0, max_value=max_rows)), draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        random.Random(draw(st.integers(0, 2**32 - 1))).shuffle(rows)
    return rows


LEADS = [
    ("Dana Whitfield", "dana@troyea.example.org"),
    ("Dana Whitfield", "DANA@TroyEA.example.org"),
    ("Luis Ortega", "luis@salem.example.org"),
    ("Kim Tran", "kim.tran@dover.example.org"),
    ("Ana Ruiz", "ana.ruiz@sce.example.org"),
    ("Bo Chen", "bo@"),
]


READABLE_TIMES = [
    "5/20/2021 10:00:00",
    "6/1/2021 12:30:00",
    "6/7/2021 9:59:59",
    "6/7/2021 10:00:00",
    "6/7/2021 10:00:01",
    "6/8/2021 8:00:00",
]
UNREADABLE_TIMES = [
    "3/14/2021 2:30:00",  # does not exist in New York (DST gap)
    "11/7/2021 1:30:00",  # happens twice in New York that night
    "sometime in June",
    "",
]
ALL_TIMES = READABLE_TIMES + UNREADABLE_TIMES


@st.composite
def handmade_row(draw, times: list[str] = ALL_TIMES) -> list[str]:
    """A variation of the good row: names, states, leads, times around the deadline, answers."""
    lead, lead_email = draw(st.sampled_from(LEADS))
    cells = row(
        Timestamp=draw(st.sampled_from(times)),
        Local_Association_name=draw(
            st.sampled_from(
                [
                    "Troy Education Association",
                    "  troy education assn ",
                    "Troy EA",
                    "Troy Educational Association",
                    "Salem ESP Association",
                    "Salem Education Support Professionals Association",
                    "Dover Education Association",
                    "Dover Education Association District 1",
                    "Springfield Classified Employees Association",
                    "",
                ]
            )
        ),
        State=draw(st.sampled_from(["NY", "New York", "new york", "CA", "California", "IL", "TX", "Narnia", ""])),
        Team_lead_name=lead,
        Team_lead_email=lead_email,
        Team_member_2_name=draw(st.sampled_from(["Luis Ortega", "Kim Tran", ""])),
        ESP_job_families_represented_on_the_team=draw(
            st.sampled_from(
                [
                    "Clerical Services",
                    "Clerical Services, Food Services",
                    "Food Services, Paraeducators, Skilled Trades, Transportation Services",
                    "Food Services, Cafeteria Management",
                    "",
                ]
            )
        ),
        Education_levels_your_local_serves=draw(
            st.sampled_from(
                ["Elementary School", "Higher Education", "Early Childhood, Higher Education", "High School", ""]
            )
        ),
        Does_your_local_currently_have_an_ESP_mentoring_program=draw(
            st.sampled_from(["No", "In development", "Yes, established", ""])
        ),
        Has_your_local_president_approved_this_application=draw(st.sampled_from(["Yes", "Yes", "yes", "No", ""])),
    )
    if draw(st.booleans()):  # the Sheets API omits trailing empty cells
        while cells and cells[-1] == "":
            cells.pop()
    return cells


blank_row = st.sampled_from([[], [""] * len(HEADERS), ["  ", "", " "]])


@st.composite
def mixed(draw, times: list[str] = ALL_TIMES) -> list[list[str]]:
    """Hand-made rows, blank rows and a few generated rows, in any order."""
    made = handmade_row(times)
    rows = draw(st.lists(st.one_of(made, made, blank_row), max_size=25))
    rows += draw(generated(max_rows=30))
    return draw(st.permutations(rows))


def inputs() -> st.SearchStrategy[list[list[str]]]:
    """Synthetic exports, or hand-made rows (blank, unreadable and same-second timestamps included) mixed in."""
    return st.one_of(generated(), mixed())


# ---------------------------------------------------------------------------------------------- helpers


def answered_rows(values: list[list[str]]) -> list[int]:
    return [i + 2 for i, cells in enumerate(values) if any(c.strip() for c in cells)]


def selected_per_state(out: pd.DataFrame) -> Counter:
    return Counter(out.loc[out[Col.STATUS] == Status.SELECTED, Col.STATE].tolist())


def best_first(out: pd.DataFrame) -> list[int]:
    """Source rows of the decided teams, best first: higher score, earlier submission, then stable id."""
    decided = out[out[Col.STATUS].isin(DECIDED)]
    keyed = zip(
        (-decided[Derived.SCORE]).tolist(),
        decided[Col.SUBMITTED_AT].tolist(),
        decided[Derived.STABLE_ID].tolist(),
        decided[Col.SOURCE_ROW].tolist(),
        strict=True,
    )
    return [source_row for *_, source_row in sorted(keyed)]


def content_key(values: list[list[str]], source_row: object) -> tuple[str, ...] | None:
    """A row's own answers, padded: the same row whatever sheet position it has."""
    if pd.isna(source_row):
        return None
    cells = values[int(source_row) - 2]
    return tuple(cells) + ("",) * (len(HEADERS) - len(cells))


def outcomes_by_content(values: list[list[str]], out: pd.DataFrame) -> Counter:
    """Multiset of (row content, status, rank, score, content of the row it duplicates)."""

    def plain(value: object) -> object:
        return None if pd.isna(value) else value

    return Counter(
        (
            content_key(values, source_row),
            status,
            plain(rank),
            plain(points),
            content_key(values, duplicate_of),
        )
        for source_row, status, rank, points, duplicate_of in zip(
            out[Col.SOURCE_ROW],
            out[Col.STATUS],
            out[Derived.RANK],
            out[Derived.SCORE],
            out[Derived.DUPLICATE_OF],
            strict=True,
        )
    )


# ------------------------------------------------------------------------------------------- properties


@FAST
@given(data=st.data())
def test_every_answered_row_ends_in_exactly_one_final_status(config, data):
    values = data.draw(inputs())
    out = run(values, data.draw(configs(config)))
    assert out[Col.SOURCE_ROW].is_unique
    assert sorted(out[Col.SOURCE_ROW].tolist()) == answered_rows(values)
    assert set(out[Col.STATUS]) <= {s.value for s in FINAL}


@FAST
@given(data=st.data())
def test_capacity_state_cap_and_reserved_seats_are_never_exceeded(config, data):
    cohort = data.draw(configs(config))
    out = run(data.draw(inputs()), cohort)
    assert (out[Col.STATUS] == Status.SELECTED).sum() <= cohort.capacity
    assert all(n <= cohort.max_per_state for n in selected_per_state(out).values())
    holders = out[out[Derived.RESERVED_SEAT] != ""]
    assert (holders[Col.STATUS] == Status.SELECTED).all()
    reserves = {r.name: r for r in cohort.reserved_seats}
    for name, count in holders[Derived.RESERVED_SEAT].value_counts().items():
        assert name in reserves
        assert count <= reserves[name].seats
        field, value = reserves[name].field, reserves[name].value
        assert all(value in chosen for chosen in holders.loc[holders[Derived.RESERVED_SEAT] == name, field])


@FAST
@given(data=st.data())
def test_no_seat_left_empty_while_a_waitlisted_team_could_take_it(config, data):
    cohort = data.draw(configs(config))
    out = run(data.draw(inputs()), cohort)
    n_selected = int((out[Col.STATUS] == Status.SELECTED).sum())
    per_state = selected_per_state(out)
    for state in out.loc[out[Col.STATUS] == Status.WAITLISTED, Col.STATE]:
        assert n_selected == cohort.capacity or per_state[state] >= cohort.max_per_state, state


@FAST
@given(data=st.data())
def test_waitlisted_team_outranks_a_selected_one_only_when_capped_or_reserved(config, data):
    cohort = data.draw(configs(config))
    out = run(data.draw(inputs()), cohort).set_index(Col.SOURCE_ROW, drop=False)
    per_state = selected_per_state(out)
    order = best_first(out)
    status = out[Col.STATUS]
    for position, better in enumerate(order):
        if status[better] != Status.WAITLISTED:
            continue
        for worse in order[position + 1 :]:
            if status[worse] == Status.SELECTED:
                capped = per_state[out.at[better, Col.STATE]] >= cohort.max_per_state
                assert capped or out.at[worse, Derived.RESERVED_SEAT] != "", (better, worse)
    for kind in (Status.SELECTED, Status.WAITLISTED):
        ranked = [r for r in order if status[r] == kind]
        assert out.loc[ranked, Derived.RANK].tolist() == list(range(1, len(ranked) + 1))
    assert out.loc[~status.isin(DECIDED), Derived.RANK].isna().all()


@FAST
@given(data=st.data())
def test_decisions_do_not_depend_on_row_order(config, data):
    cohort = data.draw(configs(config))
    values = data.draw(inputs())
    shuffled = data.draw(st.permutations(values))
    assert outcomes_by_content(values, run(values, cohort)) == outcomes_by_content(shuffled, run(shuffled, cohort))


SAME_SECOND = [
    row(Timestamp="6/1/2021 12:30:00", ESP_job_families_represented_on_the_team="Clerical Services"),
    row(
        Timestamp="6/1/2021 12:30:00",
        State="NY",
        Team_lead_email="dana@troyea.example.org",
        ESP_job_families_represented_on_the_team="Clerical Services, Food Services, Paraeducators",
    ),
]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(values=SAME_SECOND)
@given(values=mixed())
def test_same_second_resubmissions_do_not_depend_on_row_order(config, values):
    backward = values[::-1]
    assert outcomes_by_content(values, run(values, config)) == outcomes_by_content(backward, run(backward, config))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), provisional=st.booleans())
def test_same_input_and_config_give_byte_identical_files(config, data, provisional):
    cohort = data.draw(configs(config))
    values = data.draw(inputs())
    written = []
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        for out_dir in (first, second):
            out = run([list(cells) for cells in values], cohort)
            summary = summarize_selection(out, cohort, CONFIG_PATH, "0" * 64, provisional=provisional)
            paths = write_decisions(decisions_frame(out, cohort, provisional=provisional), summary, Path(out_dir))
            written.append([path.read_bytes() for path in paths])
    assert written[0] == written[1]


@FAST
@given(data=st.data())
def test_duplicates_name_a_decided_row_of_the_same_team(config, data):
    out = run(data.draw(inputs()), data.draw(configs(config))).set_index(Col.SOURCE_ROW, drop=False)
    duplicates = out[out[Col.STATUS] == Status.DUPLICATE]
    assert out.loc[out[Col.STATUS] != Status.DUPLICATE, Derived.DUPLICATE_OF].isna().all()
    for source_row, kept in duplicates[Derived.DUPLICATE_OF].items():
        assert not pd.isna(kept) and int(kept) in out.index, source_row
        assert kept != source_row
        assert out.at[int(kept), Col.STATUS] in DECIDED, (source_row, kept)
        assert out.at[int(kept), Derived.TEAM_KEY] == out.at[source_row, Derived.TEAM_KEY]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(values=[row(Timestamp="")])
@given(values=mixed(times=UNREADABLE_TIMES))
def test_rows_with_unreadable_timestamps_are_never_decided_and_nothing_crashes(config, values):
    out = run(values, config)
    assert sorted(out[Col.SOURCE_ROW].tolist()) == answered_rows(values)
    assert set(out[Col.STATUS]) <= {s.value for s in FINAL}
    timeless = out[out[Col.SUBMITTED_AT].isna()]
    assert timeless[Col.STATUS].isin([Status.INVALID, Status.DUPLICATE]).all()
    assert timeless[Col.REASONS].str.contains("Timestamp").all()
