"""Prefect's logs of an error staff can act on: one line with its message, never a traceback.

Prefect logs a failed task and its flow with the exception's traceback (on the console and, through the API,
in the UI's run logs), then each run's final state, each line repeating the error. For a StaffError the message
is what staff need, once: the flow that meets one (flows/runs.py `staff_failures`) logs it as one line marked
STAFF_LINE and ends Failed with it as the state message, and the filter here keeps every other line that carries,
names or repeats the error out of the run's logs. The filter sits on Prefect's run loggers themselves, so it
holds whenever and wherever their handlers are made (a command, a served deployment, a worker's process). The
command line prints the message itself, so while it runs (`printed_by_the_caller`) the marked line is left out too.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
from collections.abc import Iterator

from schemas.errors import StaffError

RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
STAFF_LINE = "cohort_select_staff_error"  # the record attribute of the one line a run logs for its staff error

# The messages of the staff errors runs of this process ended on: a later line holding one only repeats it (the
# run's "Finished in state Failed('…')"). A few suffice: the repeats follow within the same run.
_reported: collections.deque[str] = collections.deque(maxlen=32)
_printed_by_the_caller = False


@functools.cache  # asked for every record a run logs; the error classes are all imported by then
def _staff_error_names() -> frozenset[str]:
    names, todo = set(), [StaffError]
    while todo:
        kind = todo.pop()
        names.add(kind.__name__)
        todo.extend(kind.__subclasses__())
    return frozenset(names)


def _repeats_a_staff_error(record: logging.LogRecord) -> bool:
    if record.exc_info and isinstance(record.exc_info[1], StaffError):
        return True
    text = record.getMessage()
    return any(f"{name}:" in text or f"{name}(" in text for name in _staff_error_names()) or any(
        message in text for message in _reported
    )


class StaffErrorsOnce(logging.Filter):
    """The marked line of a staff error passes (unless the caller prints the message itself); every other record
    that carries the error, names its class or repeats its message is left out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, STAFF_LINE, False):
            return not _printed_by_the_caller
        return not _repeats_a_staff_error(record)


def quiet_staff_errors() -> None:
    """Install the filter on Prefect's run loggers (once per process)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, StaffErrorsOnce) for f in logger.filters):
            logger.addFilter(StaffErrorsOnce())


def log_staff_error(logger: logging.Logger | logging.LoggerAdapter, error: StaffError) -> None:
    """The one line a run logs for the staff error it ends on; later lines repeating it are left out."""
    _reported.append(str(error))
    logger.error("%s", error, extra={STAFF_LINE: True})


@contextlib.contextmanager
def printed_by_the_caller() -> Iterator[None]:
    """While a command runs a flow and prints a staff error's message itself: the run logs no line for it."""
    global _printed_by_the_caller
    before, _printed_by_the_caller = _printed_by_the_caller, True
    try:
        yield
    finally:
        _printed_by_the_caller = before
