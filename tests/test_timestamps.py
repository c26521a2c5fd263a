"""Timestamps as sheets really write them: the order of day and month, 12-hour clocks, ISO cells, and the hour
that happens twice when clocks go back (issue 13, items 1 and 2)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schemas.columns import Col, Derived, Status, check_code
from schemas.config import ConfigError, Extension, parse_config
from tasks.normalize import normalize, parse_form_times
from tasks.pipeline import PipelineInputs, run_pipeline
from tasks.sources import SourceError
from tasks.validate import validate
from tests.support.rows import raw_frame, row

ZONE = "America/New_York"
ORDERS = ("month-first", "day-first")
REPEATED_CODE = check_code("submitted_at_repeated")


def ordered(config, order: str):
    return config.model_copy(update={"timestamp_order": order})


def stamped(*stamps: str) -> pd.DataFrame:
    """A sheet of good rows (sheet rows 2, 3, …): one team each, differing in their timestamps."""
    return raw_frame(
        *(
            row(
                Timestamp=stamp,
                Local_Association_name=f"Local {n} EA",
                Team_lead_name=f"Lead {n}",
                Team_lead_email=f"lead{n}@local{n}.example.org",
            )
            for n, stamp in enumerate(stamps)
        )
    )


def run(config, *stamps: str) -> pd.DataFrame:
    """The pure pipeline, indexed by sheet row."""
    decided = run_pipeline(stamped(*stamps), PipelineInputs(config))
    return decided.set_index(Col.SOURCE_ROW)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# ------------------------------------------------------------------------------ the order of day and month


def test_the_setting_is_month_first_by_default_and_checked(config):
    assert config.timestamp_order == "month-first"
    data = yaml.safe_load(
        "program: P\ncohort: C\ntimezone: America/New_York\ndeadline: '2021-06-07T10:00:00-04:00'\n"
        "notify_by: '2021-06-21'\ncapacity: 1\nmax_per_state: 1\nsource: {kind: file, path: r.csv}\n"
        "email: {sender: a@example.org}\ntimestamp_order: day-month\n"
    )
    data["columns"] = dict(config.columns)
    with pytest.raises(ConfigError, match=r"timestamp_order: Input should be 'month-first' or 'day-first'"):
        parse_config(data)
    assert parse_config(data | {"timestamp_order": "day-first"}).timestamp_order == "day-first"


@pytest.mark.parametrize(
    ("order", "text"),
    [
        ("month-first", "6/7/2021 9:59:58"),  # the form's default
        ("month-first", "06/07/2021 09:59:58"),
        ("month-first", "6/7/2021 9:59:58 AM"),
        ("day-first", "07/06/2021 09:59:58"),  # a UK sheet: 7 June
        ("day-first", "7/6/2021 9:59:58"),
        ("day-first", "7/6/2021 9:59:58 am"),
        ("month-first", "2021-06-07 09:59:58"),  # ISO and XLSX cells read the same in both orders
        ("day-first", "2021-06-07 09:59:58"),
        ("day-first", "2021-06-07T09:59:58"),
    ],
)
def test_each_order_reads_its_forms(config, order, text):
    out = run(ordered(config, order), text)
    assert out.loc[2, Col.SUBMITTED_AT] == utc("2021-06-07 13:59:58")  # EDT
    assert out.loc[2, Col.STATUS] == Status.SELECTED


def test_a_12_hour_clock_reads_noon_midnight_and_pm():
    text = pd.Series(["6/7/2021 12:00:00 AM", "6/7/2021 12:00:00 PM", "6/7/2021 1:05:09 PM", "6/7/2021 13:05:09 PM"])
    times = parse_form_times(text, ZONE)
    assert times.iloc[:3].tolist() == [utc("2021-06-07 04:00"), utc("2021-06-07 16:00"), utc("2021-06-07 17:05:09")]
    assert pd.isna(times.iloc[3])


def test_day_first_decides_on_the_day_the_sheet_means(config):
    """7 June 9:59:58 is on time and 7 June 10:00:01 late, in a day-first sheet; 13/06 is a date there."""
    out = run(ordered(config, "day-first"), "07/06/2021 09:59:58", "07/06/2021 10:00:01", "13/05/2021 10:00:00")
    assert out[Col.STATUS].tolist() == [Status.SELECTED, Status.LATE, Status.SELECTED]
    assert out.loc[4, Col.SUBMITTED_AT] == utc("2021-05-13 14:00:00")


def test_an_ambiguous_sheet_follows_the_setting(config):
    """Every date has both fields at most 12: nothing tells the orders apart, so the setting decides."""
    stamps = ("07/06/2021 09:59:58", "01/06/2021 12:00:00")
    month_first = run(config, *stamps)
    assert month_first[Col.SUBMITTED_AT].tolist() == [utc("2021-07-06 13:59:58"), utc("2021-01-06 17:00:00")]
    assert month_first[Col.STATUS].tolist() == [Status.LATE, Status.SELECTED]
    day_first = run(ordered(config, "day-first"), *stamps)
    assert day_first[Col.SUBMITTED_AT].tolist() == [utc("2021-06-07 13:59:58"), utc("2021-06-01 16:00:00")]
    assert day_first[Col.STATUS].tolist() == [Status.SELECTED, Status.SELECTED]


@pytest.mark.parametrize(
    ("order", "stamps", "quoted", "other"),
    [
        ("month-first", ("07/06/2021 09:59:58", "13/06/2021 08:00:00", "01/06/2021 12:00:00"), "13/06/2021", "day"),
        ("month-first", ("2021-06-01 10:00:00", "1/6/2021 12:00:00", "25/5/2021 1:00:00 PM"), "25/5/2021", "day"),
        ("day-first", ("6/7/2021 9:59:58", "1/6/2021 12:00:00", "5/31/2021 12:00:00"), "5/31/2021", "month"),
    ],
)
def test_a_sheet_that_fits_only_the_other_order_is_refused_with_one_message(config, order, stamps, quoted, other):
    with pytest.raises(SourceError) as refused:
        normalize(stamped(*stamps), ordered(config, order))
    message = str(refused.value)
    at = next(i for i, s in enumerate(stamps) if s.startswith(quoted)) + 2
    assert f"Set `timestamp_order: {other}-first` in the cohort file" in message
    assert f"{stamps[at - 2]!r} in sheet row {at} can only be read as" in message
    assert message.count("\n") == 0


def test_the_refusal_names_the_date_and_the_other_order(config):
    with pytest.raises(SourceError) as refused:
        normalize(stamped("07/06/2021 09:59:58", "13/06/2021 08:00:00"), config)
    assert str(refused.value) == (
        "the responses sheet writes its timestamps day-first (D/M/YYYY H:MM:SS): '13/06/2021 08:00:00' in sheet row "
        "3 can only be read as June 13, 2021, and no timestamp in the sheet reads only month-first, but the cohort "
        "config reads them month-first. Set `timestamp_order: day-first` in the cohort file (or, if that one "
        "timestamp is a typo, correct it in the sheet)."
    )


def test_a_sheet_that_shows_its_order_keeps_a_misfit_as_an_invalid_row(config):
    """5/20 shows the sheet is month-first: 13/06 there is a typo, with today's reason, and nothing is refused."""
    out = run(config, "5/20/2021 10:00:00", "13/06/2021 08:00:00")
    assert out.loc[2, Col.STATUS] == Status.SELECTED
    assert out.loc[3, Col.STATUS] == Status.INVALID
    assert out.loc[3, Col.REASONS] == (
        "Timestamp is not a date and time the form writes (M/D/YYYY H:MM:SS): '13/06/2021 08:00:00'"
    )


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    "text",
    ["June 7", "6/7/21 9:59:58", "6/7/2021 9:59", "07.06.2021 09:59:58", "13/13/2021 1:00:00", "6/7/2021 0:00:00 AM"],
)
def test_rows_that_fit_neither_form_keep_the_reason(config, order, text):
    out = run(ordered(config, order), text)
    pattern = "M/D/YYYY H:MM:SS" if order == "month-first" else "D/M/YYYY H:MM:SS"
    assert out.loc[2, Col.STATUS] == Status.INVALID
    assert out.loc[2, Col.REASONS] == f"Timestamp is not a date and time the form writes ({pattern}): {text!r}"
    assert out.loc[2, Derived.REASON_CODES] == [check_code(Col.SUBMITTED_AT)]


# ------------------------------------------------------------------------ the hour that happens twice


def test_a_repeated_hour_long_after_the_deadline_is_late_at_its_earlier_reading(config):
    """Nov 7 2021, 1:30 happens at 05:30 and at 06:30 UTC: both after the June deadline, so the row is late."""
    out = run(config, "11/7/2021 1:30:00")
    assert out.loc[2, Col.STATUS] == Status.LATE
    assert out.loc[2, Col.SUBMITTED_AT] == utc("2021-11-07 05:30:00")  # EDT, the first pass through the hour
    assert out.loc[2, Derived.REASON_CODES] == ["late"]
    assert out.loc[2, Col.REASONS].startswith("Late: submitted at 1:30:00 AM EDT on November 7, 2021")


def test_a_repeated_hour_long_before_the_deadline_is_on_time(config):
    out = run(config, "11/1/2020 1:30:00")  # Nov 1 2020, clocks went back
    assert out.loc[2, Col.STATUS] == Status.SELECTED
    assert out.loc[2, Col.SUBMITTED_AT] == utc("2020-11-01 05:30:00")
    day_first = run(ordered(config, "day-first"), "01/11/2020 01:59:59 AM", "20/5/2021 10:00:00")
    assert day_first.loc[2, Col.STATUS] == Status.SELECTED
    assert day_first.loc[2, Col.SUBMITTED_AT] == utc("2020-11-01 05:59:59")


def autumn(config, **more):
    """The call with its deadline in the repeated hour's first pass: 1:30 AM EDT on November 7, 2021."""
    deadline = dt.datetime.fromisoformat("2021-11-07T01:30:00-04:00")
    return config.model_copy(update={"deadline": deadline, "notify_by": dt.date(2021, 11, 21), **more})


def test_readings_on_either_side_of_the_deadline_stay_undecided_with_advice_that_works(config):
    """1:15 is on time as 1:15 EDT (05:15 UTC) and late as 1:15 EST (06:15 UTC): the row waits for staff. The reason
    says which extension accepts it; granted as written, the row is on time under both readings and decided."""
    out = run(autumn(config), "11/7/2021 1:15:00", "11/7/2021 1:45:00", "11/7/2021 0:59:59")
    assert out.loc[3, Col.STATUS] == Status.LATE  # 1:45 is late at both readings
    assert out.loc[3, Col.SUBMITTED_AT] == utc("2021-11-07 05:45:00")
    assert out.loc[4, Col.STATUS] == Status.SELECTED  # before the repeated hour
    assert out.loc[2, Col.STATUS] == Status.INVALID
    assert pd.isna(out.loc[2, Col.SUBMITTED_AT])
    assert out.loc[2, Derived.REASON_CODES] == [REPEATED_CODE]
    reason = out.loc[2, Col.REASONS]
    assert reason == (
        "Timestamp is in the hour that happens twice when clocks go back, and the response is on time at one "
        "reading but late at the other: '11/7/2021 1:15:00' is on time read as 1:15:00 AM EDT on November 7, 2021 "
        "but late read as 1:15:00 AM EST on November 7, 2021. To accept it, grant this row an extension until its "
        "later reading: in the cohort file, under `extensions:`, add - {source_row: 2, until: "
        '"2021-11-07T01:15:00-05:00", reason: "<why staff accept it>"}'
    )
    # Follow the advice: the YAML it gives, under `extensions:` of the cohort file.
    snippet = re.search(r"add (- \{.*\})$", reason).group(1)
    grants = [Extension.model_validate(item) for item in yaml.safe_load(snippet)]
    granted = run(autumn(config, extensions=grants), "11/7/2021 1:15:00", "11/7/2021 1:45:00", "11/7/2021 0:59:59")
    assert granted.loc[2, Col.STATUS] == Status.SELECTED
    assert granted.loc[2, Col.SUBMITTED_AT] == utc("2021-11-07 05:15:00")
    assert granted.loc[3, Col.STATUS] == Status.LATE  # the grant is for row 2 only
    # A grant one second short of the later reading does not settle it.
    short = grants[0].model_copy(update={"until": grants[0].until - dt.timedelta(seconds=1)})
    assert run(autumn(config, extensions=[short]), "11/7/2021 1:15:00").loc[2, Col.STATUS] == Status.INVALID


def test_extensions_already_granted_settle_the_repeated_hour(config):
    """A grant without `until`, or one for the team reaching past both readings, makes both readings on time."""
    open_ended = Extension(source_row=2, reason="Form outage that night")
    by_team = Extension(
        team="NY:local 0 education association",
        until=dt.datetime.fromisoformat("2021-11-07T02:00:00-05:00"),
        reason="Staff approved",
    )
    for grant in (open_ended, by_team):
        out = run(autumn(config, extensions=[grant]), "11/7/2021 1:15:00")
        assert out.loc[2, Col.STATUS] == Status.SELECTED, grant
        assert out.loc[2, Col.SUBMITTED_AT] == utc("2021-11-07 05:15:00")


def test_the_skipped_hour_stays_invalid(config):
    out = run(config, "3/14/2021 2:30:00")
    assert out.loc[2, Col.STATUS] == Status.INVALID
    assert out.loc[2, Derived.REASON_CODES] == [check_code("submitted_at_skipped")]
    assert out.loc[2, Col.REASONS] == (
        "Timestamp is in the hour that clocks skip when they go forward, so the form cannot have written it "
        "(correct it in the sheet): '3/14/2021 2:30:00'"
    )


# ------------------------------------------------------------------------------------------ properties

LOCAL = ZoneInfo(ZONE)
FIRST = int(dt.datetime(2000, 1, 1, tzinfo=LOCAL).timestamp())
LAST = int(dt.datetime(2100, 12, 31, 23, 59, 59, tzinfo=LOCAL).timestamp())


def written(local: dt.datetime, order: str) -> list[str]:
    """Every way a sheet in this order writes this wall-clock time."""
    first, second = (local.month, local.day) if order == "month-first" else (local.day, local.month)
    clock = f"{local.minute:02}:{local.second:02}"
    twelve = f"{local.hour % 12 or 12}:{clock} {'AM' if local.hour < 12 else 'PM'}"
    return [
        f"{first}/{second}/{local.year} {local.hour}:{clock}",
        f"{first:02}/{second:02}/{local.year} {local.hour:02}:{clock}",
        f"{first}/{second}/{local.year} {twelve}",
        f"{first:02}/{second:02}/{local.year} {twelve}",
        local.strftime("%Y-%m-%d %H:%M:%S"),
        local.strftime("%Y-%m-%dT%H:%M:%S"),
    ]


def repeats(local: dt.datetime) -> bool:
    """Whether this wall-clock time happens twice (clocks going back)."""
    naive = local.replace(tzinfo=None)
    return naive.replace(tzinfo=LOCAL, fold=0).utcoffset() != naive.replace(tzinfo=LOCAL, fold=1).utcoffset()


@pytest.mark.no_cover  # many examples over lines the example tests cover: not traced
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moments=st.lists(st.integers(FIRST, LAST), min_size=1, max_size=4), order=st.sampled_from(ORDERS))
def test_every_form_in_either_order_reads_back_the_same_instant(config, moments, order):
    """Aware moments in the cohort's zone, 2000–2100 (from UTC instants, so never in the skipped hour; the
    repeated hour has its own property below), written every way a sheet in that order writes them."""
    locals_ = [dt.datetime.fromtimestamp(moment, LOCAL) for moment in moments]
    assume(not any(map(repeats, locals_)))
    texts = [written(local, order) for local in locals_]
    frame = normalize(stamped(*(text for forms in texts for text in forms)), ordered(config, order))
    expected = [pd.Timestamp(m, unit="s", tz="UTC") for m, forms in zip(moments, texts, strict=True) for _ in forms]
    assert frame[Col.SUBMITTED_AT].tolist() == expected


@st.composite
def repeated_moments(draw) -> dt.datetime:
    """A wall-clock time in the hour that happens twice, in a year 2000–2100 (first Sunday of November from 2007,
    last Sunday of October before), either pass through it."""
    year = draw(st.integers(2000, 2100))
    days = (dt.date(year, 10, 1) + dt.timedelta(days=n) for n in range(61))
    day = next(d for d in days if repeats(dt.datetime(d.year, d.month, d.day, 1, 30, tzinfo=LOCAL)))
    local = dt.datetime(year, day.month, day.day, 1, draw(st.integers(0, 59)), draw(st.integers(0, 59)), tzinfo=LOCAL)
    return local.replace(fold=draw(st.integers(0, 1)))


@pytest.mark.no_cover  # many examples over lines the example tests cover: not traced
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moment=repeated_moments(), order=st.sampled_from(ORDERS))
def test_a_repeated_hour_far_from_the_deadline_reads_as_its_earlier_pass(config, moment, order):
    """Either pass through the repeated hour, written every way: both readings fall on one side of the June 2021
    deadline, so validation keeps the row and gives it the earlier reading (summer time)."""
    assert repeats(moment)
    cfg = ordered(config, order)
    texts = written(moment, order)
    frame = validate(normalize(stamped(*texts), cfg), cfg)
    earlier = pd.Timestamp(moment.replace(fold=0)).tz_convert("UTC")
    assert (frame[Col.STATUS] == Status.VALID).all()
    assert frame[Col.SUBMITTED_AT].tolist() == [earlier] * len(texts)
