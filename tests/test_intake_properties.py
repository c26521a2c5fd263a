"""Properties of intake over arbitrary cell text: never raises, every answered row gets one outcome."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.generate import HEADERS
from schemas.columns import Col, Status
from tasks.normalize import normalize
from tasks.sources import values_to_frame
from tasks.validate import validate
from tests.support.rows import row

# Coverage is not traced here: these properties re-run, many times over, lines the example tests cover.
pytestmark = pytest.mark.no_cover

GOOD = row()
cell_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", '=HYPERLINK("x")', "Yes", "No", "NY", "6/7/2021 10:00:00", "a@b.org\r\n"]),
)


@st.composite
def sheet_row(draw) -> list[str]:
    """A response row: each cell either the good answer or arbitrary text; trailing cells maybe omitted."""
    cells = [draw(st.one_of(st.just(good), cell_text)) for good in GOOD]
    return cells[: draw(st.integers(min_value=0, max_value=len(cells)))]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(sheet_row(), min_size=0, max_size=12))
def test_every_answered_row_gets_exactly_one_outcome(config, rows):
    frame = validate(normalize(values_to_frame([list(HEADERS), *rows]), config), config)
    answered = [i + 2 for i, cells in enumerate(rows) if any(c.strip() for c in cells)]
    assert frame[Col.SOURCE_ROW].tolist() == answered
    assert frame[Col.STATUS].isin([Status.VALID, Status.INVALID]).all()
    assert ((frame[Col.STATUS] == Status.INVALID) == (frame[Col.REASONS] != "")).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(sheet_row(), min_size=1, max_size=8))
def test_outcome_does_not_depend_on_row_order(config, rows):
    values = [list(HEADERS), *rows]
    forward = validate(normalize(values_to_frame(values), config), config)
    backward = validate(normalize(values_to_frame(values), config).iloc[::-1].reset_index(drop=True), config)
    by_row = backward.set_index(Col.SOURCE_ROW).loc[forward[Col.SOURCE_ROW]]
    assert by_row[Col.STATUS].tolist() == forward[Col.STATUS].tolist()
    assert by_row[Col.REASONS].tolist() == forward[Col.REASONS].tolist()
