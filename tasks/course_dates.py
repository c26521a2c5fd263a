"""The moments of a call after its notices, on the cohort's clock: when a selected team's confirmation is due, and
when the course starts (no offer or notice reaches past it)."""

from __future__ import annotations

import datetime as dt

from schemas.config import CohortConfig


def course_start_moment(config: CohortConfig) -> dt.datetime | None:
    """Midnight at the start of the course day, in the cohort's zone: no offer or notice reaches past it."""
    if config.notices is None:
        return None
    return dt.datetime.combine(config.notices.course_start, dt.time(), tzinfo=config.zone)


def course_started(config: CohortConfig, as_of: dt.datetime) -> bool:
    start = course_start_moment(config)
    return start is not None and as_of >= start


def confirm_by_moment(config: CohortConfig) -> dt.datetime | None:
    """The end of the confirm-by day on the cohort's clock: a selected team's reply is due by then."""
    if config.notices is None:
        return None
    return dt.datetime.combine(config.notices.confirm_by + dt.timedelta(days=1), dt.time(), tzinfo=config.zone)
