"""Sheet headers → canonical columns: clean text, UTC times, USPS states, lists and booleans."""

from __future__ import annotations

import gc
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from schemas.columns import (
    CHECKBOX_FIELDS,
    EMAIL_FIELDS,
    JOB_FAMILIES,
    LIST_FIELDS,
    YES_NO_FIELDS,
    Col,
)
from schemas.config import CohortConfig
from schemas.errors import StaffError
from schemas.states import STATE_LOOKUP

FORM_TIME_FORMAT = "%m/%d/%Y %H:%M:%S"
_YES_NO = {"yes": True, "no": False}


class MissingQuestionError(StaffError):
    """The sheet lacks a question the cohort config maps; staff must fix the sheet or the mapping."""


def check_headers(frame: pd.DataFrame, columns: dict[str, str]) -> None:
    """Every header the config maps must be in the sheet exactly once."""
    present = [str(c).strip() for c in frame.columns]
    missing = [title for title in columns if title not in present]
    if missing:
        listed = "; ".join(f"{title!r} (for {columns[title]})" for title in missing)
        raise MissingQuestionError(
            f"the responses sheet has no question titled {listed}. If the form question was renamed, "
            "update `columns` in the cohort config to the new title."
        )
    doubled = sorted({title for title in columns if present.count(title) > 1})
    if doubled:
        raise MissingQuestionError(
            f"the responses sheet has the question {', '.join(map(repr, doubled))} more than once; "
            "rename or delete the extra column so the answer is unambiguous."
        )


# Invisible direction controls (embeddings, overrides, isolates) can make one text look like another.
_BIDI_CONTROLS = "[\u202a-\u202e\u2066-\u2069]"
_BIDI = re.compile(_BIDI_CONTROLS)
_BIDI_CHARACTERS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
# Joins a column's answers into one text: a control character that NFC never merges with a neighbour.
_SEPARATOR = "\x1f"


# Columns are cleaned together up to this many answers (few calls for a small sheet, a bounded text for a big one).
_BATCH_ANSWERS = 100_000


def clean_text(column: pd.Series) -> pd.Series:
    """Unicode NFC, no NUL bytes or direction overrides, trimmed: the same answer typed twice compares equal."""
    return clean_columns([column])[0]


def clean_columns(columns: list[pd.Series]) -> list[pd.Series]:
    """clean_text for several columns.

    Answers are cleaned as one text, joined by a separator none of them contains, so NFC and the removals are
    each one pass in C rather than one Python call per answer; then each answer is trimmed.
    """
    cleaned: list[pd.Series] = []
    batch: list[pd.Series] = []
    for column in columns:
        batch.append(column.astype(str))
        if sum(map(len, batch)) >= _BATCH_ANSWERS:
            cleaned += _clean_batch(batch)
            batch = []
    return cleaned + _clean_batch(batch) if batch else cleaned


def _clean_batch(texts: list[pd.Series]) -> list[pd.Series]:
    values = [value for text in texts for value in text.tolist()]
    try:
        joined = _SEPARATOR.join(values)  # a missing answer (NaN) is not text and fails here
    except TypeError:
        return [_clean_each(text) for text in texts]
    if not values or joined.count(_SEPARATOR) != len(values) - 1:
        return [_clean_each(text) for text in texts]
    cleaned = unicodedata.normalize("NFC", joined).replace("\x00", "")
    if any(control in cleaned for control in _BIDI_CHARACTERS):
        cleaned = _BIDI.sub("", cleaned)
    if cleaned is joined:
        # Nothing to normalize or remove (both calls hand back the same text): only trimming is left.
        answers = [value.strip() for value in values]
    else:
        # An answer the cleaning left as it was keeps its own string (no second copy of every answer).
        parts = cleaned.split(_SEPARATOR)
        answers = [(value if part == value else part).strip() for part, value in zip(parts, values, strict=True)]
    out, start = [], 0
    for text in texts:
        out.append(pd.Series(answers[start : start + len(text)], index=text.index, name=text.name, dtype="str"))
        start += len(text)
    return out


def _clean_each(text: pd.Series) -> pd.Series:
    """The same cleaning answer by answer (for answers holding the separator, or missing ones)."""
    text = text.str.normalize("NFC").str.replace("\x00", "", regex=False)
    return text.str.replace(_BIDI_CONTROLS, "", regex=True).str.strip()


def _by_distinct(text: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """convert() applied once to each distinct answer and spread back to every row (answers repeat a lot)."""
    codes, distinct = pd.factorize(text, use_na_sentinel=False)
    converted = convert(pd.Series(distinct, dtype=text.dtype))
    return pd.Series(converted.to_numpy()[codes], index=text.index, name=text.name, dtype=converted.dtype)


# An XLSX date cell read as text: a plain local date and time, never an offset or a bare number.
_XLSX_TIME = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_FIRST_YEAR, _LAST_YEAR = 2000, 2100  # outside these, a "time" is a typo or a number, not a form response


def local_form_times(text: pd.Series) -> pd.Series:
    """The form's local wall-clock times, naive; unreadable or implausible → NaT."""
    local = pd.to_datetime(text, format=FORM_TIME_FORMAT, errors="coerce")
    unread = local.isna().to_numpy(dtype=bool)
    if unread.any():
        # Only the unread answers are tried as XLSX times.
        xlsx = unread.copy()
        xlsx[unread] = text[unread].str.fullmatch(_XLSX_TIME).fillna(False).to_numpy(dtype=bool)
        local = local.fillna(pd.to_datetime(text.where(xlsx), format="ISO8601", errors="coerce"))
    plausible = (local.dt.year >= _FIRST_YEAR) & (local.dt.year <= _LAST_YEAR)
    return local.where(plausible)


def parse_form_times(text: pd.Series, zone: str) -> pd.Series:
    """Forms `M/D/YYYY H:MM:SS` (or an XLSX date cell) in the owner's zone → aware UTC; unreadable → NaT."""
    local = local_form_times(text)
    aware = local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    return aware.dt.tz_convert("UTC").astype("datetime64[s, UTC]")


def clock_change_trouble(text: pd.Series, zone: str) -> pd.Series:
    """Per row: "repeated" for a local time that happens twice when clocks go back, "skipped" for one that
    never happens when they go forward, "" otherwise: why such a timestamp cannot be placed on the clock."""
    local = local_form_times(text)
    unplaced = local.notna() & local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").isna()
    skipped = unplaced & local.dt.tz_localize(zone, ambiguous=np.zeros(len(local), bool), nonexistent="NaT").isna()
    trouble = pd.Series("", index=text.index, dtype=object)
    trouble[unplaced] = "repeated"
    trouble[skipped] = "skipped"
    return trouble


def to_state_codes(text: pd.Series) -> pd.Series:
    """Full names or codes (any case, stray dots) → USPS codes; anything else → missing."""

    def codes(distinct: pd.Series) -> pd.Series:
        keys = distinct.str.casefold().str.replace(r"\s+", " ", regex=True).str.strip()
        return keys.map(STATE_LOOKUP).astype("string")

    return _by_distinct(text, codes)


def to_yes_no(text: pd.Series) -> pd.Series:
    """Yes/No answers → booleans; blanks and anything else → missing."""
    return _by_distinct(text, lambda distinct: distinct.str.casefold().map(_YES_NO).astype("boolean"))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a comprehension builds a list per row.

    Such lists never form reference cycles, and every one that survives counts towards the collector's next full
    pass over every live object: at 100,000 rows those passes cost normalize more than its own work. Only plain
    comprehensions run paused (pandas objects, which can form cycles, are made outside), and the collector's
    previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def split_checkboxes(text: pd.Series) -> pd.Series:
    """A Forms checkbox answer `A, B, C` → the list of chosen options."""
    values = text.tolist()
    with collector_paused():
        chosen = [list(filter(None, map(str.strip, value.split(",")))) for value in values]
    return pd.Series(chosen, index=text.index, dtype=object)


def gather_list(frame: pd.DataFrame, titles: list[str]) -> pd.Series:
    """Several optional answer columns (member 2…5) → one list of the non-empty answers."""
    columns = [frame[title].tolist() for title in titles]
    with collector_paused():
        answers = [[v for v in row if v] for row in zip(*columns, strict=True)]
    return pd.Series(answers, index=frame.index, dtype=object)


def unknown_options(chosen: pd.Series, known: tuple[str, ...]) -> pd.Series:
    """Per row, the chosen options that are not on the known list, joined for a person to read."""
    rows = chosen.tolist()
    if all(type(row) is list for row in rows):
        known_set = set(known)
        with collector_paused():
            unknown = [[option for option in row if option not in known_set and not pd.isna(option)] for row in rows]
        joined = [", ".join(options) if options else None for options in unknown]
        return pd.Series(joined, index=chosen.index, name=chosen.name, dtype="string")
    exploded = chosen.explode()
    unknown = exploded[exploded.notna() & ~exploded.isin(known)]
    joined = unknown.groupby(level=0).agg(", ".join)
    return joined.reindex(chosen.index).astype("string")


def normalize(raw: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """The canonical frame: one row per answered sheet row, canonical columns only."""
    # A re-saved file may keep a BOM (or a NUL) in a title; it is not part of the question.
    raw = raw.rename(columns=lambda c: str(c).replace("\ufeff", "").replace("\x00", "").strip())
    check_headers(raw, config.columns)
    text = dict(zip(config.columns, clean_columns([raw[title] for title in config.columns]), strict=True))
    # The columns are gathered first and the frame made once (not grown a column at a time).
    out: dict[str, pd.Series] = {Col.SOURCE_ROW: raw[Col.SOURCE_ROW].astype("int64")}
    by_field: dict[str, list[str]] = {}
    for title, name in config.columns.items():
        by_field.setdefault(name, []).append(title)
    for name, titles in by_field.items():
        if name in LIST_FIELDS:
            out[name] = gather_list(pd.DataFrame({title: text[title] for title in titles}), titles)
        elif name == Col.SUBMITTED_AT:
            out[Col.SUBMITTED_AT_TEXT] = text[titles[0]]
            out[name] = parse_form_times(text[titles[0]], config.timezone)
        elif name == Col.STATE:
            out[Col.STATE_TEXT] = text[titles[0]]
            out[name] = to_state_codes(text[titles[0]])
        elif name in YES_NO_FIELDS:
            out[name] = to_yes_no(text[titles[0]])
        elif name in CHECKBOX_FIELDS:
            out[name] = split_checkboxes(text[titles[0]])
        elif name in EMAIL_FIELDS:
            out[name] = text[titles[0]].str.lower()
        else:
            out[name] = text[titles[0]]
    for name in LIST_FIELDS:
        if name not in out:
            out[name] = pd.Series([[] for _ in range(len(raw))], index=raw.index, dtype=object)
    if Col.MEMBER_EMAILS in by_field:
        gathered = out[Col.MEMBER_EMAILS].tolist()
        with collector_paused():
            emails = [[e.lower() for e in row] for row in gathered]
        out[Col.MEMBER_EMAILS] = pd.Series(emails, index=raw.index, dtype=object)
    out[Col.TEAM_SIZE] = (out[Col.LEAD_NAME] != "").astype("int64") + out[Col.MEMBER_NAMES].str.len()
    out[Col.UNKNOWN_JOB_FAMILIES] = unknown_options(out[Col.JOB_FAMILIES], JOB_FAMILIES)
    return pd.DataFrame(out, index=raw.index).reset_index(drop=True)
