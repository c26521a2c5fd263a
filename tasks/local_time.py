"""Moments and days as staff and applicants read them: in the cohort's time zone, in words, never ISO-8601.

The files keep ISO-8601 UTC (tasks/decisions.py `printable`); messages, notices and the report use these. A moment
staff type (a run's `as_of`) is read on the cohort's clock too: "2021-06-07 10:00" is 10:00 in the cohort's zone on
that date, with that date's offset, and `moment_text` writes a moment the same way, so what a run says back can be
typed again.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pandas as pd

from schemas.errors import StaffError, setting


class MomentError(StaffError):
    """A moment staff typed that cannot be read, or a local time the cohort's clock skips or shows twice."""


def local_time_text(moment: dt.datetime | pd.Timestamp, zone: str) -> str:
    """'10:00:01 AM EDT on June 7, 2021': how staff and applicants read a moment."""
    local = pd.Timestamp(moment).tz_convert(zone)
    return local.strftime("%-I:%M:%S %p %Z on %B %-d, %Y")


def date_text(day: dt.date | pd.Timestamp) -> str:
    """'June 7, 2021': how staff and applicants read a day."""
    return f"{day:%B} {day.day}, {day.year}"


# ------------------------------------------------------------------------------------------ moments staff type

_MOMENT = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})[ T]\s*"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6}))?)?"
    r"(?:\s*(?P<half>[AaPp][Mm]))?"
    r"\s*(?P<zone>[^()]*?)\s*(?:\((?P<named>[^()]*)\))?"
)
_OFFSET = re.compile(r"Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?", re.IGNORECASE)
_ABBREVIATION = re.compile(r"[A-Za-z]{1,6}")
_UNIVERSAL = ("UTC", "GMT")
EXAMPLE = "2021-06-07 10:00"


def moment_text(moment: dt.datetime, zone: str) -> str:
    """'2021-06-07 10:00 EDT': the moment on the cohort's clock, the way `read_moment` reads it back.

    Seconds appear when there are any. Where the zone's abbreviation would not say which of two readings of a
    local time is meant (the clock shows it twice under one name), the offset stands in its place.
    """
    local = moment.astimezone(ZoneInfo(zone))
    wall = local.replace(tzinfo=None)
    label = local.tzname() or _offset_text(local)
    readings = _readings(wall, ZoneInfo(zone))
    if len(readings) > 1 and len({r.tzname() for r in readings}) < len(readings):
        label = _offset_text(local)
    return f"{_wall_text(wall)} {label}"


def running_as_of(moment: dt.datetime, zone: str, *, now: bool) -> str:
    """The line a run starts with: the moment it is made as of, on the cohort's clock, and the clock's zone."""
    return f"Running as of {'now, ' if now else ''}{moment_text(moment, zone)} ({zone})"


def read_moment(text: str, zone: str, *, parameter: str = "as_of") -> dt.datetime:
    """The moment `text` means on the cohort's clock (an aware datetime); a MomentError naming `parameter` otherwise.

    Read: a date and a time ("2021-06-07 10:00", seconds and "AM"/"PM" optional, "T" for the space too), then
    optionally an offset ("-04:00", "Z"), the zone's abbreviation at that moment ("EDT"), UTC or GMT, and the
    zone's name in brackets as `running_as_of` writes it. Without an offset the time is local to `zone` on that
    date, with that date's offset; a local time the clock skips (the spring gap) or shows twice (the autumn
    repeat) is refused with the readings staff can choose from, unless the abbreviation picks one.
    """
    name = setting(parameter)
    found = _MOMENT.fullmatch(text.strip())
    if found is None:
        raise MomentError(
            f"{name} {text!r} is not a date and time: write it like {EXAMPLE} ({zone} time; an offset such as "
            "-04:00 is optional)"
        )
    named = found["named"]
    if named is not None and named.strip() != zone:
        raise MomentError(f"{name} {text!r} names the zone {named.strip()!r}, but the cohort's clock is {zone}")
    wall = _wall(found, text, name)
    label = found["zone"]
    if _OFFSET.fullmatch(label):
        return _with_offset(wall, label, text, name)
    if label and not _ABBREVIATION.fullmatch(label):
        raise MomentError(
            f"{name} {text!r} ends in {label!r}, which is neither an offset (like -04:00) nor the zone's "
            f"abbreviation: write it like {EXAMPLE}"
        )
    return _on_the_clock(wall, label, ZoneInfo(zone), text, name)


def _wall(found: re.Match[str], text: str, name: str) -> dt.datetime:
    hour = int(found["hour"])
    if found["half"]:
        if not 1 <= hour <= 12:
            raise MomentError(f"{name} {text!r} has hour {hour} with {found['half']}: use 1 to 12, or drop it")
        hour = hour % 12 + (12 if found["half"].upper() == "PM" else 0)
    microseconds = int((found["fraction"] or "").ljust(6, "0"))
    try:
        return dt.datetime(
            int(found["year"]),
            int(found["month"]),
            int(found["day"]),
            hour,
            int(found["minute"]),
            int(found["second"] or 0),
            microseconds,
        )
    except ValueError as exc:
        raise MomentError(f"{name} {text!r} is not a date and time ({exc}): write it like {EXAMPLE}") from None


def _with_offset(wall: dt.datetime, offset: str, text: str, name: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(f"{wall.isoformat()}{offset.upper()}")
    except ValueError:
        raise MomentError(f"{name} {text!r} has an offset {offset!r} that is not one: write it like -04:00") from None


def _on_the_clock(wall: dt.datetime, label: str, zone: ZoneInfo, text: str, name: str) -> dt.datetime:
    readings = _readings(wall, zone)
    if label:
        chosen = [r for r in readings if (r.tzname() or "").upper() == label.upper()]
        if len(chosen) == 1:
            return _fixed(chosen[0])
        if not chosen and label.upper() in _UNIVERSAL:
            return wall.replace(tzinfo=dt.UTC)
        if not chosen and readings:
            shown = " or ".join(sorted({r.tzname() or _offset_text(r) for r in readings}))
            raise MomentError(
                f"{name} {text!r}: {zone.key} is on {shown} then, not {label}; write {_wall_text(wall)} {shown} "
                "or give an offset"
            )
    if len(readings) == 1:
        return _fixed(readings[0])
    if not readings:
        earlier, later = (wall.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC) for fold in (1, 0))
        raise MomentError(
            f"{name} {text!r} does not exist in {zone.key} (the clocks go forward over it on that date): write "
            f"{moment_text(earlier, zone.key)} or {moment_text(later, zone.key)} instead"
        )
    choices = " or ".join(moment_text(r, zone.key) for r in readings)
    raise MomentError(
        f"{name} {text!r} happens twice in {zone.key} (the clocks go back over it on that date): write {choices}"
    )


def _fixed(moment: dt.datetime) -> dt.datetime:
    """The moment at its own fixed offset: a zone's datetime in a repeated hour never equals another zone's
    datetime (PEP 495), which a moment passed on to comparisons must."""
    return moment.astimezone(dt.timezone(moment.utcoffset() or dt.timedelta(0)))


def _readings(wall: dt.datetime, zone: ZoneInfo) -> list[dt.datetime]:
    """Every moment whose local time in `zone` is `wall`: one, none (a gap) or two (a repeat), earliest first."""
    found: list[dt.datetime] = []
    for fold in (0, 1):
        moment = wall.replace(tzinfo=zone, fold=fold)
        back = moment.astimezone(dt.UTC).astimezone(zone)
        # Aware datetimes of one zone compare by their local time: the instants are what differ.
        if back.replace(tzinfo=None) == wall and all(back.astimezone(dt.UTC) != o.astimezone(dt.UTC) for o in found):
            found.append(back)
    return sorted(found, key=lambda m: m.astimezone(dt.UTC))


def _wall_text(wall: dt.datetime) -> str:
    text = f"{wall:%Y-%m-%d %H:%M}"
    if wall.second or wall.microsecond:
        text += f":{wall:%S}"
    if wall.microsecond:
        text += f".{wall:%f}"
    return text


def _offset_text(moment: dt.datetime) -> str:
    offset = moment.utcoffset() or dt.timedelta(0)
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes, seconds = divmod(int(abs(offset).total_seconds()), 60)
    text = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return text + (f":{seconds:02d}" if seconds else "")
