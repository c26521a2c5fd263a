"""Equity at a glance (tasks/equity.py, tasks/simulate.what_if_equity): pure comparisons of the pool and the
selected teams, checked against a count made team by team."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.columns import EDUCATION_LEVELS, JOB_FAMILIES, Col, Derived, Status
from schemas.regions import CENSUS_REGION, Region
from schemas.report import MULTI_VALUED, Dimension, EquityCol, EquityValue
from schemas.states import USPS_STATES
from tasks.decisions import ADDRESS_MARK, PHONE_MARK, without_contacts
from tasks.equity import difference_text, equity_display, equity_table, share_text
from tasks.simulate import selection_under, what_if, what_if_equity, what_if_equity_display
from tests.support.rows import named_team
from tests.support.selection import run

STAGES = ("No", "In development", "Yes, established")
SINGLE = [d for d in Dimension if d not in MULTI_VALUED]

teams = st.lists(
    st.fixed_dictionaries(
        {
            Col.STATUS: st.sampled_from([Status.SELECTED, Status.WAITLISTED, Status.INVALID, Status.DUPLICATE]),
            Col.STATE: st.sampled_from([*USPS_STATES, ""]),
            Col.JOB_FAMILIES: st.lists(st.sampled_from(JOB_FAMILIES), max_size=4),  # repeats allowed
            Col.EDUCATION_LEVELS: st.lists(st.sampled_from(EDUCATION_LEVELS), max_size=3),
            Col.PROGRAM_STAGE: st.sampled_from([*STAGES, "", None]),
            Derived.TEAM_KEY: st.sampled_from([f"OH:local {i}" for i in range(8)]),
        }
    ),
    max_size=40,
)


def _by(table: pd.DataFrame, dimension: Dimension) -> pd.DataFrame:
    return table[table[EquityCol.DIMENSION] == dimension].set_index(EquityCol.VALUE)


def test_every_state_dc_and_territory_has_one_census_region():
    assert set(CENSUS_REGION) == set(USPS_STATES)
    assert {CENSUS_REGION[code] for code in ("NY", "OH", "TX", "CA", "DC", "PR")} == set(Region)
    assert CENSUS_REGION["DC"] == Region.SOUTH


@settings(max_examples=50, deadline=None)
@given(rows=teams, previous=st.sets(st.sampled_from([f"OH:local {i}" for i in range(8)])))
def test_counts_and_shares_fit_the_pool_team_by_team(rows, previous):
    columns = [Col.STATUS, Col.STATE, Col.JOB_FAMILIES, Col.EDUCATION_LEVELS, Col.PROGRAM_STAGE, Derived.TEAM_KEY]
    decided = pd.DataFrame(rows, columns=columns)
    table = equity_table(decided, frozenset(previous))
    pool = [r for r in rows if r[Col.STATUS] in (Status.SELECTED, Status.WAITLISTED)]
    chosen = [r for r in pool if r[Col.STATUS] == Status.SELECTED]
    assert (table[EquityCol.SELECTED] <= table[EquityCol.POOL]).all()
    if not pool:
        assert table.empty
        return
    for dimension in SINGLE:
        part = _by(table, dimension)
        # Each team once: the counts add up to the teams, the shares to 1.
        assert part[EquityCol.POOL].sum() == len(pool)
        assert part[EquityCol.SELECTED].sum() == len(chosen)
        assert abs(part[EquityCol.POOL_SHARE].sum() - 1) < 1e-9
        if chosen:
            assert abs(part[EquityCol.SELECTED_SHARE].sum() - 1) < 1e-9
            assert abs(part[EquityCol.DIFFERENCE].sum()) < 1e-9
        else:
            assert part[EquityCol.SELECTED_SHARE].isna().all()
    for dimension, column in (
        (Dimension.JOB_FAMILY, Col.JOB_FAMILIES),
        (Dimension.EDUCATION_LEVEL, Col.EDUCATION_LEVELS),
    ):
        part = _by(table, dimension)
        for value, group in ((EquityCol.POOL, pool), (EquityCol.SELECTED, chosen)):
            expected = pd.Series(
                [v for r in group for v in (set(r[column]) or {EquityValue.NOT_ANSWERED.value})]
            ).value_counts()
            assert part[value][part[value] > 0].sort_index().to_dict() == expected.sort_index().to_dict()
        assert part[EquityCol.POOL].sum() >= len(pool)  # several values per team
        assert (part[EquityCol.POOL_SHARE] <= 1).all()
    stage = _by(table, Dimension.PROGRAM_STAGE)[EquityCol.POOL]
    answered = pd.Series([r[Col.PROGRAM_STAGE] or EquityValue.NOT_ANSWERED.value for r in pool]).value_counts()
    assert stage.sort_index().to_dict() == answered.sort_index().to_dict()
    returning = sum(r[Derived.TEAM_KEY] in previous for r in pool)
    first = _by(table, Dimension.FIRST_TIME)[EquityCol.POOL]
    assert first.get(EquityValue.RETURNING.value, 0) == returning
    assert first.get(EquityValue.FIRST_TIME.value, 0) == len(pool) - returning
    regions = _by(table, Dimension.REGION)[EquityCol.POOL]
    expected_regions = pd.Series(
        [CENSUS_REGION[r[Col.STATE]].value if r[Col.STATE] else EquityValue.NOT_ANSWERED.value for r in pool]
    ).value_counts()
    assert regions.sort_index().to_dict() == expected_regions.sort_index().to_dict()
    # Dimensions in their order, each with the largest pool count first (regions in the Census Bureau's order).
    order = {d.value: i for i, d in enumerate(Dimension)}
    assert table[EquityCol.DIMENSION].map(order).is_monotonic_increasing
    for dimension in (Dimension.STATE, Dimension.JOB_FAMILY):
        assert _by(table, dimension)[EquityCol.POOL].is_monotonic_decreasing


def test_without_a_previous_list_or_a_question_the_dimension_is_left_out():
    decided = pd.DataFrame(
        {Col.STATUS: [Status.SELECTED, Status.WAITLISTED], Col.STATE: ["NY", "TX"], Derived.TEAM_KEY: ["a", "b"]}
    )
    table = equity_table(decided)
    assert set(table[EquityCol.DIMENSION]) == {Dimension.REGION, Dimension.STATE}
    assert _by(table, Dimension.REGION)[EquityCol.SELECTED].to_dict() == {"Northeast": 1, "South": 0}


def test_the_display_says_shares_in_percent_and_how_multi_valued_fields_count():
    assert share_text(pd.Series([0.153, 1.0, float("nan")])).tolist() == ["15%", "100%", "–"]
    assert difference_text(pd.Series([0.05, -0.031, 0.0, float("nan")])).tolist() == [
        "+5 pts",
        "-3 pts",
        "0 pts",
        "–",
    ]
    decided = pd.DataFrame(
        {
            Col.STATUS: [Status.SELECTED, Status.WAITLISTED],
            Col.STATE: ["NY", "NY"],
            Col.JOB_FAMILIES: [["Food Services", "Food Services", "Skilled Trades"], []],
        }
    )
    shown = equity_display(equity_table(decided))
    families = shown[shown[EquityCol.DIMENSION].str.startswith(Dimension.JOB_FAMILY)]
    assert set(families[EquityCol.DIMENSION]) == {"job family (counted once per value named)"}
    assert families.set_index(EquityCol.VALUE)[EquityCol.POOL].to_dict() == {
        "Food Services": "1",  # named twice by one team, counted once
        "Skilled Trades": "1",
        EquityValue.NOT_ANSWERED.value: "1",
    }


def test_the_what_if_comparison_is_each_combination_s_selection(config):
    small = config.model_copy(update={"reserved_seats": []})
    scored = run(
        small.model_copy(update={"capacity": 100}),
        *[named_team(f"Local {i} EA", state, f"Lead {i}") for i, state in enumerate(["NY", "NY", "OH", "TX", "CA"])],
    )
    scored = scored.assign(**{Col.STATUS: Status.VALID.value})  # the candidates, as the what-if flow scores them
    rows = what_if(scored, small, [1, 3, 0, 3], [1, 2])  # a combination tried twice is compared once
    table = what_if_equity(scored, small, rows, None)
    tried = list(dict.fromkeys((r.capacity, r.max_per_state) for r in rows if not r.note))
    assert tried == [(1, 1), (1, 2), (3, 1), (3, 2)]  # capacity 0 is not possible and has no comparison
    assert len(table) == 4 * len(table[(table["capacity"] == 1) & (table["max_per_state"] == 1)])
    for capacity, cap in tried:
        mine = table[(table["capacity"] == capacity) & (table["max_per_state"] == cap)].drop(
            columns=["capacity", "max_per_state"]
        )
        alone = equity_table(selection_under(scored, small, capacity, cap))
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), alone)
        assert _by(mine, Dimension.STATE)[EquityCol.POOL].sum() == 5
    wide = what_if_equity_display(table)
    assert list(wide.columns[4:]) == [f"capacity {c}, at most {m} per state" for c, m in tried]
    states = wide[wide[EquityCol.DIMENSION] == Dimension.STATE].set_index(EquityCol.VALUE)
    assert states.loc["NY", "capacity 3, at most 1 per state"] == "1 (33%)"
    assert states.loc["NY", EquityCol.POOL] == "2"


@settings(max_examples=50, deadline=None)
@given(
    digits=st.lists(st.integers(0, 9), min_size=10, max_size=10),
    style=st.sampled_from(
        [
            "({}{}{}) {}{}{}-{}{}{}{}",
            "{}{}{}-{}{}{}-{}{}{}{}",
            "{}{}{}.{}{}{}.{}{}{}{}",
            "+1 {}{}{} {}{}{} {}{}{}{}",
            "{}{}{}{}{}{}{}{}{}{}",
        ]
    ),
    user=st.from_regex(r"[a-z][a-z0-9._-]{0,12}", fullmatch=True),
    around=st.sampled_from(["{} ", "Call {} EA", "note: {}; rank 4 of 20", "({})"]),
)
def test_an_address_or_a_phone_number_in_a_text_becomes_a_mark(digits, style, user, around):
    phone = style.format(*digits)
    address = f"{user}@local.example.org"
    text = pd.Series([around.format(phone), around.format(address), "rank 4 of 20, 8.5 points; row 12; 2021-06-07"])
    masked = without_contacts(text).tolist()
    assert phone not in masked[0] and PHONE_MARK in masked[0]
    assert address not in masked[1] and ADDRESS_MARK in masked[1]
    assert masked[2] == text[2]  # ranks, points, rows and dates are no phone numbers
