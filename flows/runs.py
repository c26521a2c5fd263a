"""How a run shows itself in the Prefect UI: a name that says what it does, and a staff error as how it ended.

Every flow is `@flow(..., flow_run_name=run_name(<its describer>))` over `@staff_failures`, so the run list reads
"select esp-2021 as of 2021-06-07 10:00" rather than Prefect's random names, and a run stopped by a problem staff
can act on ends Failed with that one sentence as its state message.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from prefect import get_run_logger
from prefect.runtime import flow_run
from prefect.states import Failed

from flows.logs import log_staff_error, quiet_staff_errors
from schemas.errors import StaffError

P = ParamSpec("P")
R = TypeVar("R")
Parameters = Mapping[str, Any]

quiet_staff_errors()  # wherever a flow runs, a staff error is one line of its logs


def staff_failures(fn: Callable[P, R]) -> Callable[P, R]:
    """The flow's body, ending Failed with a StaffError's sentence as the state message and as its one log line
    (not "Flow run encountered an exception: …" and a traceback). A caller of the flow itself (the command line)
    still gets the error raised, from the state Prefect returns."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except StaffError as error:
            log_staff_error(get_run_logger(), error)
            return cast(R, Failed(message=str(error), data=error))  # Prefect makes it the run's final state

    # Prefect validates parameters against this signature, resolving names in the wrapper's module: give it the
    # flow's own annotations, already resolved in the flow's module.
    run.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return run


def run_name(describe: Callable[[Parameters], str]) -> Callable[[], str]:
    """A `flow_run_name` for Prefect, which calls it with no argument inside the run: the run's parameters in
    words."""

    def name() -> str:
        return describe(flow_run.parameters)

    return name


def cohort_of(parameters: Parameters) -> str:
    """The cohort as the run list shows it: its file's name ("esp-2021"), without reading the file."""
    return Path(str(parameters.get("config_path") or "")).stem or "cohort"


def _as_of(parameters: Parameters) -> str:
    as_of = parameters.get("as_of")
    return f" as of {str(as_of).strip()}" if as_of else ""


def _mode(parameters: Parameters) -> str:
    return " (send)" if parameters.get("send") else " (dry run)"


def _numbers(values: object) -> str:
    return ", ".join(str(v) for v in values) if isinstance(values, list | tuple) else str(values)


def intake_name(parameters: Parameters) -> str:
    """'intake esp-2021', or 'intake esp-2021 from responses.csv' for an export."""
    submissions = parameters.get("submissions")
    return f"intake {cohort_of(parameters)}" + (f" from {Path(str(submissions)).name}" if submissions else "")


def select_name(parameters: Parameters) -> str:
    """'select esp-2021 as of 2021-06-07 10:00', 'select esp-2021 preview …'."""
    preview = " preview" if parameters.get("preview") else ""
    return f"select {cohort_of(parameters)}{preview}{_as_of(parameters)}"


def send_name(parameters: Parameters) -> str:
    """'send decisions esp-2021 (dry run)', 'send interest esp-2021 (send) as of …'."""
    kind = parameters.get("kind") or "notices"
    return f"send {kind} {cohort_of(parameters)}{_mode(parameters)}{_as_of(parameters)}"


def promote_name(parameters: Parameters) -> str:
    """'promote esp-2021 (dry run)', 'promote esp-2021 (send) as of …'."""
    return f"promote {cohort_of(parameters)}{_mode(parameters)}{_as_of(parameters)}"


def what_if_name(parameters: Parameters) -> str:
    """'what-if esp-2021 capacities 15, 20, 25 × caps 1, 2, 3'; a limit left empty is the cohort's own."""
    capacities, caps = parameters.get("capacities"), parameters.get("max_per_state")
    tried = [
        f"capacities {_numbers(capacities)}" if capacities else "capacities around the cohort's",
        f"caps {_numbers(caps)}" if caps else "caps around the cohort's",
    ]
    return f"what-if {cohort_of(parameters)} " + " × ".join(tried)


def review_assign_name(parameters: Parameters) -> str:
    """'review assign esp-2021'."""
    return f"review assign {cohort_of(parameters)}"


def review_collect_name(parameters: Parameters) -> str:
    """'review collect esp-2021'."""
    return f"review collect {cohort_of(parameters)}"
