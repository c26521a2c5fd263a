"""Prefect's logs of an error staff can act on: its message, never a traceback.

Prefect logs a failed task and its flow with the exception's traceback (on the console and, through the API,
in the UI's run logs). For a StaffError the message is what staff need; the run's state message carries it.
The filter sits on Prefect's run loggers themselves, so it holds whenever and wherever their handlers are made
(a command, a served deployment, a worker's process). The command line, which prints the message itself,
also leaves out the lines that only repeat it.
"""

from __future__ import annotations

import functools
import logging

from schemas.errors import StaffError

RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


@functools.cache  # asked for every record a command logs; the error classes are all imported by then
def _staff_error_names() -> frozenset[str]:
    names, todo = set(), [StaffError]
    while todo:
        kind = todo.pop()
        names.add(kind.__name__)
        todo.extend(kind.__subclasses__())
    return frozenset(names)


class StaffErrorsWithoutTraceback(logging.Filter):
    """A record carrying a StaffError keeps its words and loses the traceback; with `repeats=False`, records
    that only repeat a staff error (the run's failure, its final state) are left out entirely."""

    def __init__(self, *, repeats: bool = True) -> None:
        super().__init__()
        self.repeats = repeats

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], StaffError):
            if not self.repeats:
                return False
            record.msg, record.args = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}", None
            record.exc_info = None
            record.exc_text = None
        elif not self.repeats:
            text = record.getMessage()
            return not any(f"{name}:" in text or f"{name}(" in text for name in _staff_error_names())
        return True


def quiet_staff_errors(*, repeats: bool = True) -> None:
    """Install the filter on Prefect's run loggers (once per process and setting)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, StaffErrorsWithoutTraceback) for f in logger.filters):
            logger.addFilter(StaffErrorsWithoutTraceback(repeats=repeats))
