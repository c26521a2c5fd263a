"""Moments and days as staff and applicants read them: in the cohort's time zone, in words, never ISO-8601.

The files keep ISO-8601 UTC (tasks/decisions.py `printable`); messages, notices and the report use these.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd


def local_time_text(moment: dt.datetime | pd.Timestamp, zone: str) -> str:
    """'10:00:01 AM EDT on June 7, 2021': how staff and applicants read a moment."""
    local = pd.Timestamp(moment).tz_convert(zone)
    return local.strftime("%-I:%M:%S %p %Z on %B %-d, %Y")


def date_text(day: dt.date | pd.Timestamp) -> str:
    """'June 7, 2021': how staff and applicants read a day."""
    return f"{day:%B} {day.day}, {day.year}"
