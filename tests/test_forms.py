"""The Custom run form staff fill in the Prefect UI: every parameter described, moments typed as text on the
cohort's clock and said back, defaults for booleans and lists, and run names that say what each run is."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import re
import zoneinfo
from unittest.mock import ANY

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prefect.utilities.callables import parameter_docstrings, parameter_schema, parameter_schema_from_entrypoint

from flows.intake import intake
from flows.promote_waitlist import promote_waitlist
from flows.runs import intake_name, promote_name, select_name, send_name, what_if_name
from flows.select_cohort import select_cohort
from flows.send_notices import send_notices
from flows.simulate import simulate
from schemas.ledger import RunKind
from tasks.local_time import MomentError, moment_text, read_moment, running_as_of
from tasks.simulate import limits_to_try
from tests.support.configs import make_config
from tests.support.prefect_server import read_flow_run, run_logs_now

FLOWS = [intake, select_cohort, send_notices, promote_waitlist, simulate]
NEW_YORK = "America/New_York"
ZONES = sorted(zoneinfo.available_timezones())

# ----------------------------------------------------------------------------------------- the form's fields


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_every_parameter_has_its_description_in_the_deployment_form(flow):
    """What the UI's Custom run form shows is the deployment's parameter schema: built from the flow (`serve`),
    from the Flow object (`prefect deploy`) and from the source alone (a deploy that cannot import the flow)."""
    module = inspect.getmodule(flow.fn)
    assert module is not None and module.__file__ is not None
    entrypoint = f"{module.__file__}:{flow.fn.__name__}"
    for schema in (parameter_schema(flow.fn), parameter_schema(flow), parameter_schema_from_entrypoint(entrypoint)):
        properties = schema.model_dump()["properties"]
        assert list(properties) == list(inspect.signature(flow.fn).parameters)
        for name, field in properties.items():
            description = field.get("description") or ""
            assert len(description.split()) >= 5, f"{flow.name}: {name} has no description in the form"
            assert "--" not in description, f"{flow.name}: {name}'s description names a command-line flag"
    # The Args section describes exactly the parameters there are: no stale name, none forgotten.
    assert set(parameter_docstrings(inspect.getdoc(flow.fn))) == set(inspect.signature(flow.fn).parameters)


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_booleans_and_lists_have_defaults_and_moments_are_text(flow):
    properties = parameter_schema(flow.fn).model_dump()["properties"]
    for name, field in properties.items():
        kinds = {field.get("type")} | {option.get("type") for option in field.get("anyOf", [])}
        if kinds & {"boolean", "array"}:
            assert "default" in field, f"{flow.name}: {name} has no default"
        assert "format" not in field and all("format" not in o for o in field.get("anyOf", [])), name
        # An optional value (`str | None`) makes the UI show a str/None chooser set to None before any text box:
        # every parameter is one plain input, and an empty text means "not given".
        assert "anyOf" not in field, f"{flow.name}: {name} offers a type chooser"
    if "as_of" in properties:
        assert properties["as_of"] == {"default": "", "title": "as_of", "type": "string", "position": ANY} | {
            "description": properties["as_of"]["description"]
        }


def test_the_what_if_lists_default_to_the_cohorts_limits_and_either_side(config):
    assert (config.capacity, config.max_per_state) == (20, 2)
    assert limits_to_try(config, [], []) == ([15, 20, 25], [1, 2, 3])
    assert limits_to_try(config, [7], [4, 5]) == ([7], [4, 5])
    small = config.model_copy(update={"capacity": 1, "max_per_state": 1})
    assert limits_to_try(small, (), ()) == ([1, 2], [1, 2])
    large = config.model_copy(update={"capacity": 40})
    assert limits_to_try(large, (), [])[0] == [30, 40, 50]


# ------------------------------------------------------------------------------------------------ run names


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_every_flow_is_named_for_its_run_and_ends_on_a_staff_error_as_its_sentence(flow):
    assert callable(flow.flow_run_name)
    assert flow.fn.__wrapped__.__qualname__ == flow.fn.__qualname__  # flows/runs.py staff_failures


def test_run_names_say_what_each_run_is():
    cohort = {"config_path": "cohorts/esp-2021.yaml"}
    assert intake_name(cohort) == "intake esp-2021"
    assert intake_name(cohort | {"submissions": "exports/june/responses.csv"}) == "intake esp-2021 from responses.csv"
    assert select_name(cohort | {"as_of": " 2021-06-07 10:00 "}) == "select esp-2021 as of 2021-06-07 10:00"
    assert select_name(cohort | {"preview": True, "as_of": ""}) == "select esp-2021 preview"
    assert send_name(cohort | {"kind": RunKind.DECISIONS, "send": False}) == "send decisions esp-2021 (dry run)"
    assert send_name(cohort | {"kind": RunKind.DECISIONS, "send": True}) == "send decisions esp-2021 (send)"
    interest = send_name(cohort | {"kind": RunKind.INTEREST, "send": True, "as_of": "2021-06-08 09:00"})
    assert interest == "send interest esp-2021 (send) as of 2021-06-08 09:00"
    assert promote_name(cohort | {"send": False}) == "promote esp-2021 (dry run)"
    assert what_if_name(cohort | {"capacities": [15, 20], "max_per_state": (1, 2)}) == (
        "what-if esp-2021 capacities 15, 20 × caps 1, 2"
    )
    assert what_if_name(cohort) == "what-if esp-2021 capacities around the cohort's × caps around the cohort's"


# ------------------------------------------------------------------------------------ moments typed as text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-06-07 10:00", "2021-06-07T10:00:00-04:00"),  # EDT in June, whatever the offset is today
        ("2021-01-07 10:00", "2021-01-07T10:00:00-05:00"),  # EST in January
        (" 2021-06-07T10:00 ", "2021-06-07T10:00:00-04:00"),
        ("2021-06-07 10:00:30", "2021-06-07T10:00:30-04:00"),
        ("2021-06-07 10:00 AM", "2021-06-07T10:00:00-04:00"),
        ("2021-06-07 12:00 am", "2021-06-07T00:00:00-04:00"),
        ("2021-06-07 1:30 PM", "2021-06-07T13:30:00-04:00"),
        ("2021-06-07T10:00:00-04:00", "2021-06-07T10:00:00-04:00"),  # ISO-8601 as before
        ("2021-06-07 14:00Z", "2021-06-07T14:00:00+00:00"),
        ("2021-06-07 14:00 UTC", "2021-06-07T14:00:00+00:00"),
        ("2021-06-07 10:00 +0200", "2021-06-07T10:00:00+02:00"),
        ("2021-06-07 10:00 EDT", "2021-06-07T10:00:00-04:00"),
        ("2021-06-07 10:00 EDT (America/New_York)", "2021-06-07T10:00:00-04:00"),  # the run's own words
        ("2021-11-07 01:30 EDT", "2021-11-07T01:30:00-04:00"),  # the repeated hour, chosen by its name
        ("2021-11-07 01:30 est", "2021-11-07T01:30:00-05:00"),
    ],
)
def test_a_moment_is_read_on_the_cohorts_clock(text, expected):
    moment = read_moment(text, NEW_YORK)
    assert moment == dt.datetime.fromisoformat(expected)
    assert moment.utcoffset() == dt.datetime.fromisoformat(expected).utcoffset()


def test_the_run_says_back_what_it_read():
    moment = read_moment("2021-06-07 10:00", NEW_YORK)
    assert running_as_of(moment, NEW_YORK, now=False) == "Running as of 2021-06-07 10:00 EDT (America/New_York)"
    assert moment_text(dt.datetime(2021, 6, 7, 14, 0, 1, tzinfo=dt.UTC), NEW_YORK) == "2021-06-07 10:00:01 EDT"
    said = running_as_of(dt.datetime(2021, 12, 1, 17, 5, tzinfo=dt.UTC), NEW_YORK, now=True)
    assert said == "Running as of now, 2021-12-01 12:05 EST (America/New_York)"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("June 7", "'June 7' is not a date and time: write it like 2021-06-07 10:00 (America/New_York time"),
        ("2021-06-07", "is not a date and time"),
        ("2021-13-07 10:00", "is not a date and time (month must be in 1..12)"),
        ("2021-06-07 25:00", "is not a date and time (hour must be in 0..23)"),
        ("2021-06-07 13:00 PM", "has hour 13 with PM"),
        ("2021-06-07 10:00 EST", "America/New_York is on EDT then, not EST; write 2021-06-07 10:00 EDT"),
        ("2021-06-07 10:00 +25:00", "has an offset '+25:00' that is not one"),
        ("2021-06-07 10:00 o'clock", 'ends in "o\'clock", which is neither an offset'),
        (
            "2021-06-07 10:00 (Europe/Paris)",
            "names the zone 'Europe/Paris', but the cohort's clock is America/New_York",
        ),
        (
            "2021-03-14 02:30",
            "'2021-03-14 02:30' does not exist in America/New_York (the clocks go forward over it on that date): "
            "write 2021-03-14 01:30 EST or 2021-03-14 03:30 EDT instead",
        ),
        (
            "2021-11-07 01:30",
            "'2021-11-07 01:30' happens twice in America/New_York (the clocks go back over it on that date): write "
            "2021-11-07 01:30 EDT or 2021-11-07 01:30 EST",
        ),
    ],
)
def test_a_moment_that_cannot_be_read_is_one_sentence_naming_the_parameter(text, words):
    with pytest.raises(MomentError) as raised:
        read_moment(text, NEW_YORK)
    message = str(raised.value)
    assert message.startswith(f"`as_of` (--as-of on the command line) {text!r}")
    assert words in message
    assert "\n" not in message and not re.search(r"\. [A-Z]", message)


@functools.cache
def _transitions(key: str, year: int) -> list[dt.datetime]:
    """The instants (to the minute) the zone's offset changes in the year, a day apart at least: found from UTC,
    the one direction with no gap or repeat."""
    zone = zoneinfo.ZoneInfo(key)
    found, moment = [], dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    offset = moment.astimezone(zone).utcoffset()
    while moment.year == year:
        later = moment + dt.timedelta(days=1)
        if later.astimezone(zone).utcoffset() != offset:
            low, high = moment, later
            while high - low > dt.timedelta(minutes=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if middle.astimezone(zone).utcoffset() == offset else (low, middle)
            found.append(high)
            offset = later.astimezone(zone).utcoffset()
        moment = later
    return found


def _readings(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> set[dt.datetime]:
    """Every instant whose local time in the zone is `wall`, by trying each offset the zone has near it."""
    near = (wall.replace(tzinfo=dt.UTC) + dt.timedelta(hours=h) for h in range(-48, 49))
    offsets = {moment.astimezone(zone).utcoffset() or dt.timedelta(0) for moment in near}
    instants = ((wall - offset).replace(tzinfo=dt.UTC) for offset in offsets)
    return {u for u in instants if u.astimezone(zone).replace(tzinfo=None) == wall}


@st.composite
def zone_and_moment(draw) -> tuple[str, dt.datetime]:
    """A zone and an instant, most often within two hours of one of its offset changes (a gap or a repeat)."""
    key = draw(st.sampled_from(ZONES))
    year = draw(st.integers(1970, 2100))
    changes = _transitions(key, year)
    if changes and draw(st.integers(0, 4)):
        near = draw(st.sampled_from(changes)) + dt.timedelta(seconds=draw(st.integers(-7200, 7200)))
    else:
        near = dt.datetime(year, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=draw(st.integers(0, 365 * 86400)))
    return key, near + dt.timedelta(microseconds=draw(st.sampled_from([0, 0, 0, 250_000, 999_999])))


@settings(max_examples=250, deadline=None)
@given(zone_and_moment())
def test_what_a_run_says_back_reads_as_the_same_moment(case):
    zone, moment = case
    text = moment_text(moment, zone)
    again = read_moment(text, zone)
    assert again == moment
    assert moment_text(again, zone) == text
    assert read_moment(running_as_of(moment, zone, now=False).removeprefix("Running as of "), zone) == moment


@settings(max_examples=250, deadline=None)
@given(zone_and_moment())
def test_a_local_time_is_read_as_its_one_moment_or_refused_with_the_choices(case):
    """Around every kind of offset change, in every zone: a local time without an offset is the one instant the
    cohort's clock shows it at; the clocks skip it (none) or show it twice (two), and the message says so."""
    key, moment = case
    zone = zoneinfo.ZoneInfo(key)
    wall = moment.astimezone(zone).replace(tzinfo=None) + dt.timedelta(minutes=30)  # into a gap as often as not
    text = f"{wall:%Y-%m-%d %H:%M:%S.%f}"
    readings = _readings(wall, zone)
    if len(readings) == 1:
        assert read_moment(text, key) == readings.pop()
        return
    with pytest.raises(MomentError) as raised:
        read_moment(text, key)
    message = str(raised.value)
    if readings:
        assert "happens twice" in message
        for reading in readings:  # each choice offered is one of the two instants, and reads as it
            assert moment_text(reading, key) in message
            assert read_moment(moment_text(reading, key), key) == reading
    else:
        assert "does not exist" in message
        choices = re.search(r"write (.+) or (.+) instead$", message)
        assert choices is not None, message
        for choice in choices.groups():
            assert read_moment(choice, key).astimezone(zone).replace(tzinfo=None) != wall


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40) | st.from_regex(r"\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}.{0,12}", fullmatch=True))
def test_any_text_is_a_moment_or_one_sentence_naming_the_parameter(text):
    try:
        moment = read_moment(text, NEW_YORK, parameter="as_of")
    except MomentError as error:
        assert str(error).startswith("`as_of` (--as-of on the command line) ")
        assert "\n" not in str(error).replace(text, "")
    else:
        assert moment.utcoffset() is not None


# --------------------------------------------------------------------------------------- in a Prefect run


def test_the_run_is_named_for_what_it_does_and_first_says_its_moment(prefect_server, tmp_path):
    """Before the deadline without `preview` (a run that stops early): the name and the first line of its own."""
    _, path = make_config(tmp_path, 25)
    state = select_cohort(
        config_path=str(path), out_dir=str(tmp_path / "s"), as_of="2021-06-07 9:59", return_state=True
    )
    assert state.is_failed()
    run = read_flow_run(state.state_details.flow_run_id)
    assert run.name == "select cohort as of 2021-06-07 9:59"
    own = [line for line in run_logs_now(run.id) if not line.startswith(PREFECT_OWN_LINES)]
    assert own[0] == "Running as of 2021-06-07 09:59 EDT (America/New_York)"


PREFECT_OWN_LINES = ("Beginning flow run", "View at", "Finished in state", "Created task run", "Executing")
