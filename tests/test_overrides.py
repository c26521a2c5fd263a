"""Staff overrides: parsed with clear errors, applied on the next run, recorded in the reasons."""

from __future__ import annotations

import pytest

from schemas.columns import Col, Status
from tasks.overrides import OverrideError, parse_overrides, read_sheet_overrides, with_extensions
from tests.support.rows import named_team
from tests.support.selection import by_row, run
from tests.support.sheets import FakeSheetsServer, client_for

HEADER = ["team", "source_row", "action", "note", "by"]


def run_with(config, overrides, *rows):
    """The pipeline as the flow runs it: the extensions the overrides grant, then every step with the overrides."""
    return run(with_extensions(config, overrides), *rows, overrides=overrides)


def test_parse_and_refuse_bad_rows():
    got = parse_overrides([HEADER, ["NY:troy education association", "", "Force-Select", "board request", "Kim"], []])
    assert [(o.team, o.action, o.row) for o in got] == [("NY:troy education association", "force-select", 2)]
    with pytest.raises(OverrideError, match="Overrides row 2: action 'promote' is not one of"):
        parse_overrides([HEADER, ["x", "", "promote"]])
    with pytest.raises(OverrideError, match="source_row 'ten' is not a row number"):
        parse_overrides([HEADER, ["", "ten", "note"]])
    with pytest.raises(OverrideError, match="needs an `action` column"):
        parse_overrides([["who", "what"], ["a", "b"]])


def test_force_select_decline_extension_and_note(config):
    small = config.model_copy(update={"capacity": 2, "max_per_state": 2, "reserved_seats": [], "rubric": []})
    overrides = parse_overrides(
        [
            HEADER,
            ["OH:last education association", "", "force-select", "board request", "Kim"],
            ["TX:first education association", "", "force-decline", "withdrew by phone", "Kim"],
            ["", "5", "extension", "form outage", "Lee"],
            ["IL:second education association", "", "note", "called twice", "Lee"],
        ]
    )
    out = by_row(
        run_with(
            small,
            overrides,
            named_team("First EA", "TX", "A A", "6/1/2021 9:00:00"),
            named_team("Second EA", "IL", "B B", "6/1/2021 9:01:00"),
            named_team("Last EA", "OH", "C C", "6/3/2021 9:00:00"),
            named_team("Late EA", "CA", "D D", "6/7/2021 10:20:00"),
        )
    )
    assert out.loc[4, Col.STATUS] == Status.SELECTED
    assert "Staff asked to select this team: board request (Kim)" in out.loc[4, Col.REASONS]
    assert out.loc[2, Col.STATUS] == Status.INVALID
    assert out.loc[2, Col.REASONS] == "Declined by staff decision: withdrew by phone (Kim)"
    assert out.loc[5, "extension"] == "On time by staff extension: form outage (Lee)"
    assert out.loc[5, Col.STATUS] in (Status.SELECTED, Status.WAITLISTED)
    assert out.loc[3, Col.REASONS].endswith("; Staff note: called twice (Lee)")
    assert (out[Col.STATUS] == Status.SELECTED).sum() == 2


def test_overrides_worksheet_is_read_when_present():
    with FakeSheetsServer() as server:
        client = client_for(server)
        server.add_spreadsheet("1OverridesKey0123456789", {"Form Responses 1": [["Timestamp"]]})
        assert read_sheet_overrides(client, "1OverridesKey0123456789") == []
        server.add_spreadsheet(
            "1OverridesKey0123456789",
            {"Form Responses 1": [["Timestamp"]], "Overrides": [HEADER, ["", "7", "note", "checked", "Kim"]]},
        )
        assert [o.source_row for o in read_sheet_overrides(client, "1OverridesKey0123456789")] == [7]
