"""Sheet headers → canonical columns: clean text, UTC times, USPS states, lists and booleans."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

from schemas.columns import LIST_FIELDS, Col
from schemas.config import CohortConfig
from schemas.errors import StaffError
from schemas.form import NUMBER_PATTERN, Question, text_column, unknown_column
from schemas.states import STATE_LOOKUP, state_key
from schemas.suite import TIMESTAMP_PATTERNS
from tasks.gcpause import collector_paused
from tasks.local_time import date_text

FORM_TIME_FORMAT = "%m/%d/%Y %H:%M:%S"
_YES_NO = {"yes": True, "no": False}


def clean_title(title: object) -> str:
    """A question title as compared: NFKC (a non-breaking space is a space), no BOM or NUL, spaces collapsed."""
    text = unicodedata.normalize("NFKC", str(title)).replace("\ufeff", "").replace("\x00", "")
    return " ".join(text.split())


def title_key(title: object) -> str:
    """Titles that differ only in case or spacing are the same question."""
    return clean_title(title).casefold()


class MissingQuestionError(StaffError):
    """The sheet lacks a question the cohort config maps; staff must fix the sheet or the mapping."""


def check_headers(frame: pd.DataFrame, columns: dict[str, str]) -> dict[str, str]:
    """Every header the config maps must be in the sheet exactly once; returns config title → sheet column.

    Titles are compared as `title_key` makes them (case, non-breaking and repeated spaces, a BOM ignored).
    """
    present: dict[str, list[str]] = {}
    for column in frame.columns:
        present.setdefault(title_key(column), []).append(str(column))
    missing = [title for title in columns if title_key(title) not in present]
    if missing:
        listed = "; ".join(f"{title!r} (for {columns[title]})" for title in missing)
        raise MissingQuestionError(
            f"the responses sheet has no question titled {listed}. If the form question was renamed, "
            "update `columns` in the cohort config to the new title."
        )
    doubled = sorted({title for title in columns if len(present[title_key(title)]) > 1})
    if doubled:
        raise MissingQuestionError(
            f"the responses sheet has the question {', '.join(map(repr, doubled))} more than once; "
            "rename or delete the extra column so the answer is unambiguous."
        )
    return {title: present[title_key(title)][0] for title in columns}


# Invisible direction controls (embeddings, overrides, isolates) can make one text look like another.
_BIDI_CONTROLS = "[\u202a-\u202e\u2066-\u2069]"
_BIDI = re.compile(_BIDI_CONTROLS)
_BIDI_CHARACTERS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
# Joins a column's answers into one text: a control character that NFC never merges with a neighbour.
_SEPARATOR = "\x1f"


# Columns are cleaned together up to this many answers (few calls for a small sheet, a bounded text for a big one).
_BATCH_ANSWERS = 100_000


def clean_columns(columns: list[pd.Series]) -> list[pd.Series]:
    """Each column's answers in Unicode NFC, without NUL bytes or direction overrides, trimmed: the same answer
    typed twice compares equal.

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


def clean_answer(answer: str) -> str:
    """One answer in NFC, without NUL bytes or direction controls, trimmed: what clean_columns makes of each answer,
    a whole batch at once (tests/test_fast_paths.py holds the two to agreeing)."""
    return _BIDI.sub("", unicodedata.normalize("NFC", answer).replace("\x00", "")).strip()


def _clean_each(text: pd.Series) -> pd.Series:
    """clean_answer on each answer, a missing one left missing (for answers holding the separator, or missing ones)."""
    answers = [clean_answer(value) if isinstance(value, str) else value for value in text.tolist()]
    return pd.Series(answers, index=text.index, name=text.name, dtype="str")


def _by_distinct(text: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """convert() applied once to each distinct answer and spread back to every row (answers repeat a lot)."""
    codes, distinct = pd.factorize(text, use_na_sentinel=False)
    converted = convert(pd.Series(distinct, dtype=text.dtype))
    return pd.Series(converted.to_numpy()[codes], index=text.index, name=text.name, dtype=converted.dtype)


# An XLSX date cell read as text: a plain local date and time, never an offset or a bare number.
_XLSX_TIME = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_FIRST_YEAR, _LAST_YEAR = 2000, 2100  # outside these, a "time" is a typo or a number, not a form response
# The slash timestamps a sheet writes, by the order of day and month in its locale (the cohort's `timestamp_order`):
# the form's 24-hour clock first, then a 12-hour clock with AM/PM.
SLASH_TIME_FORMATS: dict[str, tuple[str, ...]] = {
    "month-first": (FORM_TIME_FORMAT, "%m/%d/%Y %I:%M:%S %p"),
    "day-first": ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %I:%M:%S %p"),
}
_OTHER_ORDER = {"month-first": "day-first", "day-first": "month-first"}


def _read_where(local: pd.Series, text: pd.Series, rows: np.ndarray, form: str) -> pd.Series:
    """`local` with the rows where `rows` holds read from their text in the pd.to_datetime format `form` (NaT if
    they do not)."""
    if not rows.any():
        return local
    values = local.to_numpy(copy=True)
    values[rows] = pd.to_datetime(text[rows], errors="coerce", format=form).to_numpy(dtype=values.dtype)
    return pd.Series(values, index=local.index, name=local.name)


def _slash_times(text: pd.Series, order: str) -> pd.Series:
    """Slash timestamps in this order, naive; each format is tried only on the answers the ones before left unread."""
    first, *others = SLASH_TIME_FORMATS[order]
    local = pd.to_datetime(text, format=first, errors="coerce")
    for form in others:
        local = _read_where(local, text, local.isna().to_numpy(dtype=bool), form)
    return local


def _plausible(local: pd.Series) -> pd.Series:
    return local.where((local.dt.year >= _FIRST_YEAR) & (local.dt.year <= _LAST_YEAR))


def _local_times(text: pd.Series, order: str) -> tuple[pd.Series, np.ndarray]:
    """(the local wall-clock times, naive, NaT where unreadable or implausible; where they were slash timestamps)."""
    local = _slash_times(text, order)
    slash = local.notna().to_numpy(dtype=bool)
    if not slash.all():
        # Only the unread answers are tried as XLSX times.
        xlsx = ~slash
        xlsx[xlsx] = text[xlsx].str.fullmatch(_XLSX_TIME).fillna(value=False).to_numpy(dtype=bool)
        local = _read_where(local, text, xlsx, "ISO8601")
    local = _plausible(local)
    return local, slash & local.notna().to_numpy(dtype=bool)


def local_form_times(text: pd.Series, order: str = "month-first") -> pd.Series:
    """The form's local wall-clock times, naive; unreadable or implausible → NaT.

    Read: slash timestamps in the sheet's order (`M/D/YYYY H:MM:SS` month-first, `D/M/YYYY H:MM:SS` day-first, each
    also with a 12-hour clock and AM/PM), and ISO `YYYY-MM-DD HH:MM:SS` (or with `T`: an XLSX date cell as text).
    """
    return _local_times(text, order)[0]


def _only_in_other_order(text: pd.Series, local: pd.Series, slash: np.ndarray, order: str) -> int | None:
    """The position of a timestamp that reads only in the other order, when no timestamp reads only in this one.

    A slash timestamp with both fields at most 12 reads either way and says nothing. One read in this order whose
    day is past 12 reads only this way: then the sheet is written in this order, and a timestamp that fits only the
    other order is a typo, invalid like any other. A sheet whose every date is ambiguous follows the setting.
    """
    unread = local.isna().to_numpy(dtype=bool)
    if not unread.any():
        return None
    other = np.zeros(len(text), dtype=bool)
    other[unread] = _plausible(_slash_times(text[unread], _OTHER_ORDER[order])).notna().to_numpy(dtype=bool)
    if not other.any() or (slash & (local.dt.day > 12).to_numpy(dtype=bool, na_value=False)).any():
        return None
    return int(np.flatnonzero(other)[0])


def _other_order_message(text: str, sheet_row: object, order: str) -> str:
    other = _OTHER_ORDER[order]
    reading = _slash_times(pd.Series([text], dtype="str"), other).iloc[0]
    where = f" in sheet row {sheet_row}" if sheet_row is not None else ""
    return (
        f"the responses sheet writes its timestamps {other} ({TIMESTAMP_PATTERNS[other]}): {text!r}{where} can "
        f"only be read as {date_text(reading)}, and no timestamp in the sheet reads only "
        f"{order}, but the cohort config reads them {order}. Set `timestamp_order: {other}` in the cohort file "
        "(or, if that one timestamp is a typo, correct it in the sheet)."
    )


def _to_utc(local: pd.Series, zone: str) -> pd.Series:
    aware = local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    return aware.dt.tz_convert("UTC").astype("datetime64[s, UTC]")


def parse_form_times(
    text: pd.Series, zone: str, order: str = "month-first", sheet_rows: pd.Series | None = None
) -> pd.Series:
    """The form's timestamps (see local_form_times) in the owner's zone → aware UTC; unreadable → NaT.

    A time in the hour clocks skip or repeat is NaT here: validation says why (and settles the repeated hour where
    the deadline makes both readings agree). A sheet whose slash timestamps fit only the other order of day and
    month is refused (SourceError) with one message naming the setting, quoting one such timestamp and its sheet row
    (`sheet_rows`, aligned with `text`).
    """
    local, slash = _local_times(text, order)
    misfit = _only_in_other_order(text, local, slash, order)
    if misfit is not None:
        from tasks.sources import SourceError  # tasks.sources imports this module

        sheet_row = None if sheet_rows is None else sheet_rows.iloc[misfit]
        raise SourceError(_other_order_message(str(text.iloc[misfit]), sheet_row, order))
    return _to_utc(local, zone)


def repeated_hour_readings(text: pd.Series, zone: str, order: str = "month-first") -> tuple[pd.Series, pd.Series]:
    """For a local time in the hour that happens twice when clocks go back: its (earlier, later) readings as aware
    UTC, an hour apart (the first pass through the hour, on summer time, and the second); NaT on every other row."""
    local = local_form_times(text, order)
    first = local.dt.tz_localize(zone, ambiguous=np.ones(len(local), bool), nonexistent="NaT")
    second = local.dt.tz_localize(zone, ambiguous=np.zeros(len(local), bool), nonexistent="NaT")
    first, second = first.dt.tz_convert("UTC"), second.dt.tz_convert("UTC")
    repeated = first.notna() & second.notna() & (first != second)
    earlier = first.where(first <= second, second).where(repeated)
    later = second.where(first <= second, first).where(repeated)
    return earlier.astype("datetime64[s, UTC]"), later.astype("datetime64[s, UTC]")


def clock_change_trouble(text: pd.Series, zone: str, order: str = "month-first") -> pd.Series:
    """Per row: "repeated" for a local time that happens twice when clocks go back, "skipped" for one that
    never happens when they go forward, "" otherwise: why such a timestamp cannot be placed on the clock."""
    local = local_form_times(text, order)
    unplaced = local.notna() & local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").isna()
    skipped = unplaced & local.dt.tz_localize(zone, ambiguous=np.zeros(len(local), bool), nonexistent="NaT").isna()
    trouble = pd.Series("", index=text.index, dtype=object)
    trouble[unplaced] = "repeated"
    trouble[skipped] = "skipped"
    return trouble


def to_state_codes(text: pd.Series) -> pd.Series:
    """Names, USPS codes and the common abbreviations (N.Y., Mass., Calif., W.Va., Washington, D.C.: any case, stray
    spaces, dots and commas) → USPS codes; anything else → missing (schemas.states: an answer is looked up whole,
    by `state_key`, so "West Virginia" is never read as Virginia, nor "Mont." as "Mo.")."""

    def codes(distinct: pd.Series) -> pd.Series:
        found = [STATE_LOOKUP.get(state_key(value)) if isinstance(value, str) else None for value in distinct.tolist()]
        return pd.Series(found, index=distinct.index, dtype="string")

    return _by_distinct(text, codes)


def to_yes_no(text: pd.Series) -> pd.Series:
    """Yes/No answers (any case) → booleans; blanks and anything else → missing.

    normalize() also keeps the answer as written (schemas.form.text_column), so an answer that is neither
    ("Not yet") is reported as what it was, not as a blank.
    """
    return _by_distinct(text, lambda distinct: distinct.str.casefold().map(_YES_NO).astype("boolean"))


def option_key(option: str) -> str:
    """How checkbox options compare: without case or spaces (" food  services" is the form's "Food Services")."""
    return "".join(option.split()).casefold()


def _read_checkboxes(answer: object, known: dict[str, str], widest: int) -> list[str]:
    """One answer's options, in order, each once: a known option (`known`: option_key → the form's spelling) in
    the form's spelling, read whole even when it holds a comma (up to `widest` comma-separated pieces); any other
    piece as written, trimmed."""
    if not isinstance(answer, str):
        return []
    pieces = answer.split(",")
    chosen: list[str] = []
    seen: set[str] = set()
    at = 0
    while at < len(pieces):
        for width in range(min(widest, len(pieces) - at), 1, -1):
            key = option_key(",".join(pieces[at : at + width]))
            if key in known:
                option = known[key]
                break
        else:
            width = 1
            option = pieces[at].strip()
            key = option_key(option)
            option = known.get(key, option)
        at += width
        if key and key not in seen:
            seen.add(key)
            chosen.append(option)
    return chosen


def split_checkboxes(text: pd.Series, known: tuple[str, ...] = ()) -> pd.Series:
    """A Forms checkbox answer `A, B, C` → the list of chosen options.

    Forms joins the chosen options with ", ". An option on the form's list (`known`) is matched without case or
    spaces and kept in the form's spelling, and read whole when it holds a comma itself; an option given twice
    counts once. Each distinct answer is read once: rows with the same answer share one list (never changed in place).
    """
    by_key = {option_key(option): option for option in reversed(known)}
    widest = max((option.count(",") + 1 for option in known), default=1)

    def read(distinct: pd.Series) -> pd.Series:
        chosen = [_read_checkboxes(value, by_key, widest) for value in distinct.tolist()]
        return pd.Series(chosen, index=distinct.index, dtype=object)

    return _by_distinct(text, read)


def gather_list(frame: pd.DataFrame, titles: list[str]) -> pd.Series:
    """Several optional answer columns (member 2…5) → one list of the non-empty answers."""
    columns = [frame[title].tolist() for title in titles]
    with collector_paused():
        answers = [[v for v in row if v] for row in zip(*columns, strict=True)]
    return pd.Series(answers, index=frame.index, dtype=object)


def unknown_options(chosen: pd.Series, known: tuple[str, ...]) -> pd.Series:
    """Per row, the chosen options that are not on the known list (compared as `option_key` does, without case or
    spaces), each once, joined for a person to read."""
    known_set = set(known)
    known_keys = {option_key(option) for option in known}

    def unknown(option: str | None) -> bool:
        return option not in known_set and not pd.isna(option) and option_key(str(option)) not in known_keys

    rows = chosen.tolist()
    if all(type(row) is list for row in rows):
        with collector_paused():
            found = [[option for option in row if unknown(option)] if row else row for row in rows]
        listed = [", ".join(dict.fromkeys(options)) if options else None for options in found]
        return pd.Series(listed, index=chosen.index, name=chosen.name, dtype="string")
    exploded = chosen.explode()
    odd = exploded[exploded.map(unknown).astype(bool)]
    joined = odd.groupby(level=0).agg(lambda options: ", ".join(dict.fromkeys(options)))
    return joined.reindex(chosen.index).astype("string")


def to_numbers(text: pd.Series) -> pd.Series:
    """Numbers as a form's short-answer question gets them (`120`, `1,200`, `2.5`) → floats; anything else, and a
    blank, → missing (validation quotes such an answer: schemas.form.NUMBER_PATTERN is what is read)."""
    written = text.where(text.str.fullmatch(NUMBER_PATTERN).fillna(value=False).astype(bool))
    return pd.to_numeric(written.str.replace(",", "", regex=False), errors="coerce").astype("Float64")


def _field_columns(
    question: Question, text: pd.Series, source_rows: pd.Series, config: CohortConfig
) -> dict[str, pd.Series]:
    """The canonical column of a field answered by one question, with the answer as written where a later step
    quotes it to staff (schemas.form.TEXT_KEPT)."""
    name = question.field
    if question.type == "timestamp":
        times = parse_form_times(text, config.timezone, config.timestamp_order, source_rows)
        return {text_column(name): text, name: times}
    if question.type == "us_state":
        return {text_column(name): text, name: to_state_codes(text)}
    if question.type == "yes_no":
        # The text is for validation's reason; validate() does not carry it on.
        return {text_column(name): text, name: to_yes_no(text)}
    if question.type == "number":
        return {text_column(name): text, name: to_numbers(text)}
    if question.type == "checkboxes":
        return {name: split_checkboxes(text, question.options)}
    if question.type == "email":
        return {name: text.str.lower()}
    return {name: text}


def normalize(raw: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """The canonical frame: one row per answered sheet row, canonical columns only, read as the form's questions
    say (config.the_form: each question's type and options)."""
    # A re-saved file may keep a BOM (or a NUL) in a title, or a non-breaking space: not part of the question.
    found = check_headers(raw, config.columns)
    text = dict(zip(config.columns, clean_columns([raw[found[title]] for title in config.columns]), strict=True))
    form = config.the_form
    questions = form.fields
    # The columns are gathered first and the frame made once (not grown a column at a time).
    out: dict[str, pd.Series] = {Col.SOURCE_ROW: raw[Col.SOURCE_ROW].astype("int64")}
    by_field: dict[str, list[str]] = {}
    for title, name in config.columns.items():
        by_field.setdefault(name, []).append(title)
    for name, titles in by_field.items():
        if name in LIST_FIELDS:
            out[name] = gather_list(pd.DataFrame({title: text[title] for title in titles}), titles)
        else:
            out |= _field_columns(questions[name], text[titles[0]], raw[Col.SOURCE_ROW], config)
    for name in LIST_FIELDS:
        if name not in out:
            out[name] = pd.Series([[] for _ in range(len(raw))], index=raw.index, dtype=object)
    for name in sorted(LIST_FIELDS & set(by_field)):
        if questions[name].type == "email":
            gathered = out[name].tolist()
            with collector_paused():
                emails = [[e.lower() for e in row] for row in gathered]
            out[name] = pd.Series(emails, index=raw.index, dtype=object)
    out[Col.TEAM_SIZE] = (out[Col.LEAD_NAME] != "").astype("int64") + out[Col.MEMBER_NAMES].str.len()
    for rule in form.rules:
        question = questions.get(rule.field)
        if rule.kind == "only_options" and question is not None and question.type == "checkboxes":
            out[unknown_column(rule.field)] = unknown_options(out[rule.field], question.options)
    return pd.DataFrame(out, index=raw.index).reset_index(drop=True)
