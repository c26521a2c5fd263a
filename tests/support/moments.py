"""Moments the tests run at, after the bundled cohort's deadline."""

from __future__ import annotations

import datetime as dt

AFTER = "2021-06-08T09:00:00-04:00"  # as `--as-of` takes it
LATER = "2021-06-09T09:00:00-04:00"  # a day on, for what staff do after the first notices
AFTER_DEADLINE = dt.datetime.fromisoformat(AFTER)
