"""Every speed trick agrees with its straightforward version: the fast function on a column, the reference applied
to each value on its own.

The strategies reach the edges the tricks lean on: the separator and other control characters, NUL, direction
controls, Unicode whitespace and combining marks, missing values, lists, timestamps at the edges of the years
read and of the clock changes, addresses with dots, quotes, IDN, "--" and special-use domains.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.columns import EDUCATION_LEVELS, JOB_FAMILIES, Col, Derived
from schemas.states import STATE_LOOKUP, state_key
from schemas.suite import yes_no_text
from tasks import normalize
from tasks.dedupe import _answer_texts, _components, add_team_keys, answer_text, name_key
from tasks.normalize import (
    SLASH_TIME_FORMATS,
    _read_checkboxes,
    _to_utc,
    clean_answer,
    clean_columns,
    clock_change_trouble,
    local_form_times,
    option_key,
    repeated_hour_readings,
    split_checkboxes,
    to_state_codes,
    to_yes_no,
    unknown_options,
)
from tasks.validate import _yes_no_checks, is_valid_address, valid_addresses

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def same(left: list, right: list) -> bool:
    """Equal element by element, every kind of missing value equal to every other."""
    return len(left) == len(right) and all(
        (missing(a) and missing(b)) or (not missing(a) and not missing(b) and a == b)
        for a, b in zip(left, right, strict=True)
    )


# ---------------------------------------------------------------------------- answers as typed

EDGE_CHARACTERS = [
    *"aZ09 .,;:@-'\"",
    *"\x00\x1c\x1d\x1e\x1f\t\n\r\x0b\x0c\x85\xa0\u2028\u3000\ufeff\u200b",
    *"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",  # direction controls
    *"\u0301\u0308\u0327\u05b0",  # combining marks (NFC composes or reorders them)
    *"éÅﬁⅧｱǅ一\u1100\u1161\u11a8\uac00",  # letters NFC changes or keeps; Hangul jamo and a syllable
    "\U0001f600",
]
edge_text = st.text(alphabet=st.sampled_from(EDGE_CHARACTERS), max_size=12) | st.text(max_size=8)
cell = edge_text | st.none() | st.just(float("nan")) | st.integers(-5, 10**6) | st.floats(allow_nan=False)


@contextlib.contextmanager
def batch_answers(n: int):
    saved, normalize._BATCH_ANSWERS = normalize._BATCH_ANSWERS, n
    try:
        yield
    finally:
        normalize._BATCH_ANSWERS = saved


@FAST
@given(columns=st.lists(st.lists(cell, max_size=8), max_size=4), batch=st.sampled_from([1, 3, 100_000]))
@example(columns=[["e", "\u0301x"], ["\x1f"]], batch=100_000)
@example(columns=[["\u1100", "\u1161"], [" \x00\u202e a \x1f"]], batch=3)
def test_clean_columns_cleans_each_answer_as_clean_answer_does(columns, batch):
    series = [pd.Series(values, dtype=object, name=f"q{i}") for i, values in enumerate(columns)]
    with batch_answers(batch):
        cleaned = clean_columns(series)
    assert len(cleaned) == len(series)
    for out, column in zip(cleaned, series, strict=True):
        expected = [None if missing(value) else clean_answer(str(value)) for value in column.tolist()]
        assert same(out.tolist(), expected)
        assert out.dtype == "str" and out.name == column.name and out.index.equals(column.index)


def test_clean_columns_removes_each_control_alone_as_clean_answer_does():
    """Every character the cleaning removes, the only one in its column (the fast path looks for them first)."""
    for code in [0, *range(0x2028, 0x2030), *range(0x2060, 0x206A)]:
        answers = pd.Series([f"a{chr(code)}b", "c"], dtype=object)
        assert clean_columns([answers])[0].tolist() == [clean_answer(f"a{chr(code)}b"), "c"], hex(code)


# ---------------------------------------------------------------------------- addresses

_LOCAL_PIECES = [*"abcXYZ09!#$%&'*+/=?^_`{|}~-.", *'" \\()<>,;:@[]', *"\x00\r\n\t\u202e\u200b\u00a0\ufeff"]
_LOCAL_PIECES += ["é", "ß", "ǅ", "一", "e\u0301", "\u0301", "Ⅷ", "ｱ", "ﬁ", "İ", "ʰ", "١", "\U0001f600"]
local_part = st.lists(st.sampled_from(_LOCAL_PIECES), max_size=20).map("".join) | st.integers(60, 70).map("a".__mul__)
_LABEL_PIECES = [*"abzAZ09-_", "xn--", "--", "é", "ü", "ß", "\u00ad", "\U0001f600"]
label = st.lists(st.sampled_from(_LABEL_PIECES), max_size=10).map("".join) | st.sampled_from(
    ["xn--bcher-kva", "xn--ls8h", "xn--abc", "ab--c", "x--y", "b---b", "a" * 63, "a" * 64]
)
top = label | st.sampled_from(
    ["org", "ORG", "c", "co1", "123", "xn--p1ai", "рф", "local", "localhost", "test", "invalid", "onion", "arpa"]
)
domain = st.builds(lambda labels, last: ".".join([*labels, last]), st.lists(label, max_size=4), top)
address = st.builds("{}@{}".format, local_part, domain) | st.emails() | st.text(max_size=12)


@FAST
@given(addresses=st.lists(address | st.none() | st.just(float("nan")), min_size=1, max_size=30))
@example(addresses=["a@ab--c.org", "a@xn--ls8h.la", "a@xn--abc.org", "a@x--y.org", "a@xn--bcher-kva.org"])
@example(addresses=["josé@b.org", "a@b.local", "a@b.c", '"a b"@c.org', "a" * 65 + "@b.org", "dana@", None])
def test_valid_addresses_accepts_what_email_validator_accepts(addresses):
    verdicts = valid_addresses(pd.Series(addresses, dtype=object)).tolist()
    assert verdicts == [isinstance(a, str) and is_valid_address(a) for a in addresses]


# ---------------------------------------------------------------------------- the stable id's text


_EDGE_SECONDS = [
    pd.Timestamp("1000-01-01 00:00:00").as_unit("s"),
    pd.Timestamp("0999-12-31 23:59:59").as_unit("s"),
    pd.Timestamp("1969-12-31 23:59:59").as_unit("s"),
    pd.Timestamp("1970-01-01 00:00:00").as_unit("s"),
    pd.Timestamp("2000-01-01 00:00:00").as_unit("s"),
    pd.Timestamp("2100-12-31 23:59:59").as_unit("s"),
    pd.Timestamp("9999-12-31 23:59:59").as_unit("s"),
]
utc_second = (
    st.sampled_from(_EDGE_SECONDS)
    | st.datetimes(min_value=dt.datetime(900, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)).map(
        lambda d: pd.Timestamp(d).floor("s")
    )
    | st.none()
)
list_item = edge_text | st.integers(-3, 3) | st.none()
column = st.one_of(
    st.lists(utc_second).map(lambda v: pd.Series(pd.to_datetime(v).as_unit("s").tz_localize("UTC"))),
    st.lists(st.sampled_from(_EDGE_SECONDS[2:]) | st.none()).map(lambda v: pd.Series(pd.to_datetime(v, utc=True))),
    st.lists(edge_text | st.none()).map(lambda v: pd.Series(v, dtype="str")),
    st.lists(edge_text | st.none()).map(lambda v: pd.Series(v, dtype="string")),
    st.lists(st.booleans() | st.none()).map(lambda v: pd.Series(v, dtype="boolean")),
    st.lists(st.lists(edge_text, max_size=3)).map(lambda v: pd.Series(v, dtype=object)),
    st.lists(st.lists(list_item, max_size=3)).map(lambda v: pd.Series(v, dtype=object)),
    st.lists(st.lists(list_item, max_size=3) | edge_text | st.none() | st.integers()).map(
        lambda v: pd.Series(v, dtype=object)
    ),
    st.lists(st.integers(-(10**6), 10**6) | st.none()).map(lambda v: pd.Series(v, dtype="Int64")),
    st.lists(st.integers(-(10**6), 10**6)).map(lambda v: pd.Series(v, dtype="int64")),
    st.lists(st.floats(allow_infinity=False)).map(lambda v: pd.Series(v, dtype="float64")),
)


@FAST
@given(values=column)
def test_stable_id_text_is_str_of_each_answer(values):
    assert _answer_texts(values) == [answer_text(value) for value in values.tolist()]


# ---------------------------------------------------------------------------- once per distinct answer

state_answer = st.sampled_from(sorted(STATE_LOOKUP)) | st.sampled_from(
    ["New York", " n.y. ", "Mass.", "W.Va.", "Washington, D.C.", "West Virginia", "Mont.", "Mo.", "Calif", "", "NY"]
)
answer = edge_text | state_answer | st.sampled_from(["Yes", "no", "YES ", "Not yet", "ｙｅｓ"]) | st.none()


@FAST
@given(answers=st.lists(answer, max_size=30))
def test_state_codes_once_per_distinct_answer_as_per_answer(answers):
    text = pd.Series(answers, dtype="str")
    codes = to_state_codes(text)
    expected = [STATE_LOOKUP.get(state_key(v)) if isinstance(v, str) else None for v in text.tolist()]
    assert codes.dtype == "string" and same(codes.tolist(), expected)


@FAST
@given(answers=st.lists(answer, max_size=30))
def test_yes_no_once_per_distinct_answer_as_per_answer(answers):
    text = pd.Series(answers, dtype="str")
    read = to_yes_no(text)
    expected = [{"yes": True, "no": False}.get(v.casefold()) if isinstance(v, str) else None for v in text.tolist()]
    assert read.dtype == "boolean" and same(read.tolist(), expected)


def option_spelling(option: str) -> st.SearchStrategy[str]:
    return st.sampled_from([option, option.upper(), f" {option.lower()} ", option.replace(" ", "  ")])


known_options = st.sampled_from([JOB_FAMILIES, EDUCATION_LEVELS, (*JOB_FAMILIES, "Food, Nutrition"), ()])
checkbox_answer = st.lists(
    st.sampled_from([*JOB_FAMILIES, *EDUCATION_LEVELS, "Food, Nutrition"]).flatmap(option_spelling) | edge_text,
    max_size=4,
).map(", ".join)


@FAST
@given(answers=st.lists(checkbox_answer | st.none(), max_size=20), known=known_options)
def test_checkboxes_once_per_distinct_answer_as_per_answer(answers, known):
    text = pd.Series(answers, dtype="str")
    by_key = {option_key(option): option for option in reversed(known)}
    widest = max((option.count(",") + 1 for option in known), default=1)
    chosen = split_checkboxes(text, known)
    assert chosen.tolist() == [_read_checkboxes(v, by_key, widest) for v in text.tolist()]


def unknown_reference(row: object, known: tuple[str, ...]) -> str | None:
    """The options of one row not on the known list (by option_key), each once, in order."""
    options = row if isinstance(row, list) else [row]
    keys = {option_key(option) for option in known}
    odd = [o for o in options if not missing(o) and o not in known and option_key(str(o)) not in keys]
    return ", ".join(dict.fromkeys(odd)) if odd else None


chosen_row = st.lists(st.sampled_from(JOB_FAMILIES).flatmap(option_spelling) | edge_text, max_size=4)


@FAST
@given(rows=st.lists(chosen_row, max_size=20), odd=st.lists(st.none() | edge_text, max_size=3), known=known_options)
def test_unknown_options_on_lists_as_per_row(rows, odd, known):
    chosen = pd.Series(rows, dtype=object)
    expected = [unknown_reference(row, known) for row in rows]
    found = unknown_options(chosen, known)
    assert found.dtype == "string" and same(found.tolist(), expected)
    # A column that is not all lists takes the general path: the same per row.
    mixed = pd.Series([*rows, *odd], dtype=object)
    found = unknown_options(mixed, known)
    assert found.dtype == "string" and same(found.tolist(), [unknown_reference(row, known) for row in [*rows, *odd]])


@FAST
@given(names=st.lists(edge_text | state_answer | st.none(), max_size=20))
def test_name_keys_once_per_distinct_name_as_per_name(names):
    frame = pd.DataFrame({Col.LOCAL_NAME: pd.Series(names, dtype=object), Col.STATE: pd.Series(["IL"] * len(names))})
    keys = add_team_keys(frame)[Derived.NAME_KEY].tolist()
    assert keys == ["" if missing(name) else name_key(str(name)) for name in names]


def yes_no_reference(answer: object, written: object) -> tuple[bool, object, object]:
    """One row's three Yes/No checks: answered at all, answered Yes or No, and Yes (None where a check does not
    apply)."""
    read = not missing(answer)
    answered = read or (isinstance(written, str) and written != "")
    return answered, (False if answered and not read else None), (bool(answer) if read else None)


@FAST
@given(rows=st.lists(st.tuples(st.booleans() | st.none(), st.sampled_from(["", "Yes", "No", "Not yet"]) | st.none())))
def test_yes_no_checks_look_at_the_text_only_where_needed_as_per_row(rows):
    field = Col.COMMITMENT
    frame = pd.DataFrame(
        {
            field: pd.Series([a for a, _ in rows], dtype="boolean"),
            yes_no_text(field): pd.Series([w for _, w in rows], dtype="str"),
        }
    )
    checks = _yes_no_checks(frame, field)
    expected = [yes_no_reference(a, w) for a, w in rows]
    assert checks[f"has_{field}"].tolist() == [answered for answered, _, _ in expected]
    assert same(checks[f"{field}_yes_or_no"].tolist(), [either for _, either, _ in expected])
    assert same(checks[f"{field}_ok"].tolist(), [yes for _, _, yes in expected])


# ---------------------------------------------------------------------------- components


def components_reference(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Union-find: each row labelled by the smallest row of its component."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in edges:
        ra, rb = root(a), root(b)
        parent[max(ra, rb)] = min(ra, rb)
    return [root(i) for i in range(n)]


@FAST
@given(data=st.data(), n=st.integers(1, 40))
def test_components_label_each_row_by_the_smallest_row_it_reaches(data, n):
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60))
    left = np.array([a for a, _ in edges], dtype="int64")
    right = np.array([b for _, b in edges], dtype="int64")
    assert _components(n, left, right).tolist() == components_reference(n, edges)


# ---------------------------------------------------------------------------- timestamps

_XLSX_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?")
ZONES = ["America/New_York", "America/Chicago", "Europe/London", "Australia/Lord_Howe", "UTC"]


def local_reference(text: object, order: str) -> pd.Timestamp:
    """One timestamp read on its own: the slash formats in turn, else an XLSX time, within 2000-2100; whole
    seconds (the times are kept to the second)."""
    if not isinstance(text, str):
        return pd.NaT
    for form in SLASH_TIME_FORMATS[order]:
        local = pd.to_datetime(text, format=form, errors="coerce")
        if not pd.isna(local):
            break
    else:
        local = pd.to_datetime(text, format="ISO8601", errors="coerce") if _XLSX_TIME.fullmatch(text) else pd.NaT
    if pd.isna(local) or not 2000 <= local.year <= 2100:
        return pd.NaT
    return local.floor("s")


def utc_reference(text: object, zone: str, order: str) -> pd.Timestamp:
    local = local_reference(text, order)
    if pd.isna(local):
        return pd.NaT
    aware = local.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    return pd.NaT if pd.isna(aware) else aware.tz_convert("UTC")


_CLOCK_CHANGES = [
    pd.Timestamp(t)
    for t in [
        "2021-03-14 02:30:00",  # New York and Chicago skip it
        "2021-11-07 01:30:00",  # and repeat this one
        "2021-03-28 01:30:00",  # London skips it
        "2021-10-31 01:30:00",  # and repeats this one
        "2021-04-04 01:45:00",  # Lord Howe repeats half an hour
        "2021-10-03 02:15:00",  # and skips half an hour
        "2000-01-01 00:00:00",
        "1999-12-31 23:59:59",
        "2100-12-31 23:59:59",
        "2101-01-01 00:00:00",
        "2024-02-29 12:00:00",
    ]
]
local_time = st.sampled_from(_CLOCK_CHANGES) | st.datetimes(
    min_value=dt.datetime(1998, 1, 1), max_value=dt.datetime(2102, 12, 31)
).map(lambda d: pd.Timestamp(d).floor("s"))
_WRITINGS = [
    "{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02}:{t.second:02}",
    "{t.month:02}/{t.day:02}/{t.year} {t.hour:02}:{t.minute:02}:{t.second:02}",
    "{t.day}/{t.month}/{t.year} {t.hour}:{t.minute:02}:{t.second:02}",
    "{t:%m/%d/%Y %I:%M:%S %p}",
    "{t:%d/%m/%Y %I:%M:%S %p}",
    "{t:%Y-%m-%d %H:%M:%S}",
    "{t:%Y-%m-%dT%H:%M}",
    "{t:%Y-%m-%d %H:%M:%S}.{t.microsecond:06}5",
    "{t:%Y-%m-%d %H:%M:%S}+00:00",
    "{t.year}",
]
timestamp_text = (
    st.builds(lambda t, form: form.format(t=t), local_time, st.sampled_from(_WRITINGS))
    | st.sampled_from(["", "13/13/2021 10:00:00", "2/30/2021 10:00:00", "0/1/2021 1:00:00", "1/1/2021 24:00:00"])
    | edge_text
    | st.none()
)


@FAST
@given(texts=st.lists(timestamp_text, max_size=25), order=st.sampled_from(sorted(SLASH_TIME_FORMATS)))
def test_form_times_read_as_each_timestamp_alone(texts, order):
    text = pd.Series(texts, dtype="str")
    local = local_form_times(text, order)
    assert same(local.dt.floor("s").tolist(), [local_reference(t, order) for t in text.tolist()])


@FAST
@given(
    texts=st.lists(timestamp_text, max_size=25),
    order=st.sampled_from(sorted(SLASH_TIME_FORMATS)),
    zone=st.sampled_from(ZONES),
)
def test_form_times_in_utc_as_each_timestamp_alone(texts, order, zone):
    text = pd.Series(texts, dtype="str")
    utc = _to_utc(local_form_times(text, order), zone)
    assert str(utc.dtype) == "datetime64[s, UTC]"
    assert same(utc.tolist(), [utc_reference(t, zone, order) for t in text.tolist()])


def readings_reference(text: object, zone: str, order: str) -> tuple[pd.Timestamp, pd.Timestamp, str]:
    """One timestamp's (earlier, later) readings in the repeated hour and its clock trouble, read on its own."""
    local = local_reference(text, order)
    if pd.isna(local):
        return pd.NaT, pd.NaT, ""
    first = local.tz_localize(zone, ambiguous=True, nonexistent="NaT")
    second = local.tz_localize(zone, ambiguous=False, nonexistent="NaT")
    trouble = "skipped" if pd.isna(second) else "repeated" if first != second else ""
    if pd.isna(first) or pd.isna(second) or first == second:
        return pd.NaT, pd.NaT, trouble
    return min(first, second).tz_convert("UTC"), max(first, second).tz_convert("UTC"), trouble


@FAST
@given(
    texts=st.lists(timestamp_text, max_size=25),
    order=st.sampled_from(sorted(SLASH_TIME_FORMATS)),
    zone=st.sampled_from(ZONES),
)
def test_clock_changes_as_each_timestamp_alone(texts, order, zone):
    text = pd.Series(texts, dtype="str")
    earlier, later = repeated_hour_readings(text, zone, order)
    expected = [readings_reference(t, zone, order) for t in text.tolist()]
    assert same(earlier.tolist(), [e for e, _, _ in expected])
    assert same(later.tolist(), [lt for _, lt, _ in expected])
    assert clock_change_trouble(text, zone, order).tolist() == [trouble for _, _, trouble in expected]
