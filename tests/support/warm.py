"""Real processes that start without paying for the imports again.

A test that kills or races a sender many times would spend most of its time importing pandas, SQLAlchemy and
the project in each new interpreter. Python's forkserver imports the named modules once, in a clean
single-threaded server process, and forks each child from it: every child is its own OS process (its own pid,
killable with SIGKILL, its own connections to the store and the mail server), started in milliseconds.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

_CONTEXT = multiprocessing.get_context("forkserver")


def warm_process(target: Callable[..., object], *args: object, preload: list[str]) -> BaseProcess:
    """`target(*args)` in a new process forked from the forkserver that has imported `preload`; started."""
    _CONTEXT.set_forkserver_preload(preload)  # read when the forkserver starts (the first child), once per session
    process = _CONTEXT.Process(target=target, args=args)
    process.start()
    return process


def loaded_modules(connection: Connection, names: list[str]) -> None:
    """Sends back, for each name, whether this process had the module in memory when it started."""
    connection.send({name: name in sys.modules for name in names})
