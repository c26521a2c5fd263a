"""The deployments of a call, derived from its cohort file: what `make serve` serves and what prefect.yaml deploys.

Every date a schedule needs is the cohort file's own (the window's opening day, the deadline, the course start), so
no date is written twice: `python -m flows.serve --write-prefect-yaml` writes prefect.yaml from these plans, and the
served deployments are built in code from the same plans (tests/test_deployments.py checks that the two agree).
Prefect's UI shows a schedule as its raw rule, so each description also says the dates and the zone in words.
These functions take a loaded CohortConfig and return plain pydantic models; flows/serve.py turns them into
Prefect deployments.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.config import CohortConfig
from schemas.deployment import REVIEW_STEPS, WORK_POOL, DeploymentStep, Env, StoreBackend, deployment_name
from schemas.errors import StaffError
from schemas.ledger import RunKind
from tasks.local_time import date_text
from tasks.simulate import limits_to_try

# The morning runs on the cohort's clock: the intake check before staff start work, the promotion an hour later so
# that it sees the confirmations staff recorded since the day before.
INTAKE_CHECK_TIME = dt.time(7, 0)
PROMOTE_TIME = dt.time(8, 0)
# During a review round: its progress read each morning with the intake check's time, reminders at nine.
REVIEW_COLLECT_TIME = INTAKE_CHECK_TIME
REVIEW_REMIND_TIME = dt.time(9, 0)

# Which flow each step runs, as `file:function` from the project folder (prefect.yaml's entrypoint).
ENTRYPOINTS: dict[DeploymentStep, str] = {
    DeploymentStep.INTAKE_CHECK: "flows/intake.py:intake",
    DeploymentStep.SELECT_AT_DEADLINE: "flows/select_cohort.py:select_cohort",
    DeploymentStep.SEND_NOTICES: "flows/send_notices.py:send_notices",
    DeploymentStep.INTEREST_NOTICES: "flows/send_notices.py:send_notices",
    DeploymentStep.PROMOTE_WAITLIST: "flows/promote_waitlist.py:promote_waitlist",
    DeploymentStep.WHAT_IF: "flows/simulate.py:simulate",
    DeploymentStep.REVIEW_ASSIGN: "flows/review.py:review_assign",
    DeploymentStep.REVIEW_NOTICES: "flows/send_notices.py:send_notices",
    DeploymentStep.REVIEW_REMINDERS: "flows/send_notices.py:send_notices",
    DeploymentStep.REVIEW_COLLECT: "flows/review.py:review_collect",
}

# Each step's output folder under out/<cohort file stem>/, so cohorts served side by side never write into one
# another's folders (a purge leaves a folder holding another cohort's summary alone: tasks/retention.py).
OUT_FOLDERS: dict[DeploymentStep, str] = {
    DeploymentStep.INTAKE_CHECK: "intake",
    DeploymentStep.SELECT_AT_DEADLINE: "decisions",
    DeploymentStep.SEND_NOTICES: "notices",
    DeploymentStep.INTEREST_NOTICES: "interest",
    DeploymentStep.PROMOTE_WAITLIST: "promote",
    DeploymentStep.WHAT_IF: "what-if",
    DeploymentStep.REVIEW_ASSIGN: "review",
    DeploymentStep.REVIEW_NOTICES: "review-notices",
    DeploymentStep.REVIEW_REMINDERS: "review-reminders",
    DeploymentStep.REVIEW_COLLECT: "review",
}

# One run at a time for the steps that record or send; the store's lease guards the rest (CLI, other servers).
ONE_AT_A_TIME_NOTE = "one run at a time; the store's lease guards the rest"
ONE_AT_A_TIME = frozenset(
    {
        DeploymentStep.SELECT_AT_DEADLINE,
        DeploymentStep.SEND_NOTICES,
        DeploymentStep.INTEREST_NOTICES,
        DeploymentStep.PROMOTE_WAITLIST,
        *REVIEW_STEPS,  # assign and collect write the round's files; the notices send
    }
)


class DeploymentError(StaffError):
    """The cohort files given cannot be served together."""


class ScheduleSpec(BaseModel):
    """An RRULE whose DTSTART is a wall time on the cohort's clock, and that clock's zone."""

    model_config = ConfigDict(frozen=True)

    rrule: str
    timezone: str
    active: bool = True


class DeploymentPlan(BaseModel):
    """One deployment of one cohort file's step, as prefect.yaml writes it and `make serve` serves it."""

    model_config = ConfigDict(frozen=True)

    name: str
    step: DeploymentStep
    entrypoint: str
    parameters: dict[str, Any]
    description: str
    schedules: tuple[ScheduleSpec, ...] = ()
    concurrency_limit: int | None = None

    @property
    def flow_function(self) -> str:
        """The flow's function name in its module, e.g. `select_cohort`."""
        return self.entrypoint.partition(":")[2]


def _stamp(moment: dt.datetime) -> str:
    """A wall time as RRULE text writes it without a zone: 20210607T100000."""
    return f"{moment:%Y%m%dT%H%M%S}"


def _daily(first: dt.datetime, until: dt.datetime, zone: str) -> ScheduleSpec:
    return ScheduleSpec(rrule=f"DTSTART:{_stamp(first)}\nRRULE:FREQ=DAILY;UNTIL={_stamp(until)}", timezone=zone)


def _clock(time: dt.time) -> str:
    """'7:00 AM'."""
    return f"{dt.datetime.combine(dt.date.min, time):%-I:%M %p}"


def _moment_words(moment: dt.datetime, zone: str) -> str:
    """'June 7, 2021, 10:00 AM America/New_York': a schedule's moment as the description says it."""
    return f"{date_text(moment.date())}, {_clock(moment.time())} {zone}"


def _once(moment: dt.datetime, zone: str) -> ScheduleSpec:
    return ScheduleSpec(rrule=f"DTSTART:{_stamp(moment)}\nRRULE:FREQ=DAILY;COUNT=1", timezone=zone)


def cohort_deployments(config: CohortConfig, config_path: str) -> list[DeploymentPlan]:
    """The six deployments of one cohort file, and four more with a review round, named `<file stem>-<step>`;
    `config_path` is the file as runs will open it (relative to the project folder, or absolute)."""
    stem = Path(config_path).stem
    zone = config.timezone
    deadline = config.deadline.astimezone(config.zone).replace(tzinfo=None)
    due = config.review_due
    select_at = deadline if due is None else due.astimezone(config.zone).replace(tzinfo=None)
    opens = dt.datetime.combine(config.window_opens, INTAKE_CHECK_TIME)
    capacities, caps = limits_to_try(config, [], [])

    def plan(step: DeploymentStep, description: str, schedules: tuple[ScheduleSpec, ...] = (), **more: Any):
        parameters = {"config_path": config_path, "out_dir": f"out/{stem}/{OUT_FOLDERS[step]}", **more}
        return DeploymentPlan(
            name=deployment_name(stem, step),
            step=step,
            entrypoint=ENTRYPOINTS[step],
            parameters=parameters,
            description=description,
            schedules=schedules,
            concurrency_limit=1 if step in ONE_AT_A_TIME else None,
        )

    if config.notices is not None:
        first = dt.datetime.combine(deadline.date() + dt.timedelta(days=1), PROMOTE_TIME)
        last = dt.datetime.combine(config.notices.course_start - dt.timedelta(days=1), PROMOTE_TIME)
        promote_when = (
            f"Each morning at {_clock(PROMOTE_TIME)} {zone} from {date_text(first.date())} until the course starts "
            f"({date_text(config.notices.course_start)})"
        )
        promote_schedules: tuple[ScheduleSpec, ...] = (_daily(first, last, zone),)
    else:
        promote_when = "Not scheduled (the cohort file has no notices.course_start); when run"
        promote_schedules = ()
    return [
        plan(
            DeploymentStep.INTAKE_CHECK,
            f"Read, normalize and validate the responses each morning at {_clock(INTAKE_CHECK_TIME)} {zone} from "
            f"{date_text(opens.date())} until the deadline ({_moment_words(deadline, zone)}), so staff see invalid "
            "rows early.",
            (_daily(opens, deadline, zone),),
        ),
        plan(
            DeploymentStep.SELECT_AT_DEADLINE,
            (
                f"The selection, once, at the deadline ({_moment_words(deadline, zone)}); re-run from the UI with "
                "parameters."
                if due is None
                else f"The selection, once, when the reviews are due ({_moment_words(select_at, zone)}), with the "
                "reviewers' scores; it refuses while a team lacks its reviews. Re-run from the UI with parameters."
            ),
            (_once(select_at, zone),),
        ),
        plan(
            DeploymentStep.SEND_NOTICES,
            f"Decision notices from the latest recorded selection, due by {date_text(config.notify_by)}; dry run "
            "(outbox) unless `send` is true.",
            send=False,
            kind="decisions",
        ),
        plan(
            DeploymentStep.INTEREST_NOTICES,
            'The "future learning opportunities" notice for the interest list; dry run unless `send` is true.',
            send=False,
            kind="interest",
        ),
        plan(
            DeploymentStep.PROMOTE_WAITLIST,
            f"{promote_when}, record the confirm / decline / withdraw rows of the Overrides sheet"
            + (", the teams' replies from the reply form" if config.replies is not None else "")
            + ", expire unanswered offers, offer freed seats by waitlist rank (per-state cap and reserved seats "
            "kept), and send those notices"
            + (" and the reply reminders" if config.replies is not None and config.replies.remind else "")
            + ", each once. Before the decision notices have gone out it does nothing.",
            promote_schedules,
            send=True,
        ),
        plan(
            DeploymentStep.WHAT_IF,
            "The selection under other capacities and per-state caps (a table; nothing is recorded or sent). Change "
            "the lists in a Custom run.",
            capacities=capacities,
            max_per_state=caps,
        ),
    ] + (review_plans(plan, deadline, select_at, zone) if due is not None else [])


def review_plans(
    plan: Callable[..., DeploymentPlan], deadline: dt.datetime, due: dt.datetime, zone: str
) -> list[DeploymentPlan]:
    """The review round's deployments: assignment at the deadline, the assignment notices when staff run them,
    reminders each morning and progress read each morning until the reviews are due."""
    first_day = deadline.date() + dt.timedelta(days=1)
    remind_from = dt.datetime.combine(first_day, REVIEW_REMIND_TIME)
    collect_from = dt.datetime.combine(first_day, REVIEW_COLLECT_TIME)
    until = f"until the reviews are due ({_moment_words(due, zone)})"
    return [
        plan(
            DeploymentStep.REVIEW_ASSIGN,
            f"Reviewers for every eligible team, once, at the deadline ({_moment_words(deadline, zone)}): "
            "assignments.csv and one file per reviewer in the cohort file's review.folder. Run it again after a "
            "late change; what reviewers already wrote is kept.",
            (_once(deadline, zone),),
            out_dir="",
        ),
        plan(
            DeploymentStep.REVIEW_NOTICES,
            "Each reviewer's assignment notice (how many applications, where, by when), after review-assign; "
            "dry run (outbox) unless `send` is true, then it waits for approval. A reviewer is told once, and "
            "again only when their assignment changed.",
            send=False,
            kind=RunKind.REVIEW_ASSIGNMENTS.value,
        ),
        plan(
            DeploymentStep.REVIEW_REMINDERS,
            f"Each morning at {_clock(REVIEW_REMIND_TIME)} {zone} from {date_text(first_day)} {until}, a reminder "
            "to each reviewer who was told of the assignment and still has applications unscored (one a day at "
            "most); it waits for approval like any send.",
            (_daily(remind_from, due, zone),),
            send=True,
            kind=RunKind.REVIEW_REMINDERS.value,
        ),
        plan(
            DeploymentStep.REVIEW_COLLECT,
            f"The reviewers' files read back each morning at {_clock(REVIEW_COLLECT_TIME)} {zone} from "
            f"{date_text(first_day)} {until}: progress per reviewer and per team, the cells not used, reviews.csv.",
            (_daily(collect_from, due, zone),),
            out_dir="",
        ),
    ]


def check_distinct(plans: list[DeploymentPlan]) -> list[DeploymentPlan]:
    """The plans of several cohort files, refused when two files share a stem (their deployments would share names)."""
    doubled = sorted(name for name, count in Counter(p.name for p in plans).items() if count > 1)
    if doubled:
        files = sorted({str(p.parameters["config_path"]) for p in plans if p.name in doubled})
        raise DeploymentError(
            f"the cohort files {', '.join(files)} have the same file name, so their deployments would share the names "
            f"{', '.join(doubled)}: rename one (--config), since each deployment is named for its cohort file."
        )
    return plans


# ------------------------------------------------------------------------------------------------ prefect.yaml


def prefect_yaml_header(prefect_version: str) -> str:
    """prefect.yaml's top: what it is and how it is made, the pull step and the work pool its deployments share."""
    return f"""\
# Prefect deployments for cohort-select, six for each cohort file (ten with a review round), named for it.
# Generated from cohorts/*.yaml by `python -m flows.serve --write-prefect-yaml`: change the dates in the cohort file
# and generate this file again, never by hand (tests/test_deployments.py fails while the two disagree).
# Deploy with `PREFECT_API_URL=... prefect deploy --all` against a shared Prefect server that has a process work pool
# named `{WORK_POOL}`, and start workers with `make worker` (README, "Production: a shared Prefect server, PostgreSQL
# and workers"). Flows take a config path, never applicant data or secrets: secrets are loaded inside the tasks.
name: cohort-select
prefect-version: {prefect_version}

pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{{{{ ${Env.HOME} }}}}"

definitions:
  work_pool: &pool
    name: {WORK_POOL}
    work_queue_name: default
    job_variables:
      env:
        # Every run of these deployments keeps its state on PostgreSQL (the cohort file's state_url, or
        # COHORT_STATE_URL on the worker): `make worker` refuses to start, and a run stops before it reads or
        # writes anything, where the store would be a SQLite file. `sqlite` for one worker on one machine.
        {Env.STATE_BACKEND}: {StoreBackend.POSTGRESQL}

deployments:
"""


def _scalar(value: Any) -> str:
    """A value as YAML reads it back unchanged: JSON's text of it (a YAML flow scalar or sequence)."""
    return json.dumps(value, ensure_ascii=False)


def prefect_yaml_text(plans: list[DeploymentPlan], prefect_version: str) -> str:
    """prefect.yaml for these deployments, each in the work pool defined once at the top."""
    lines = [prefect_yaml_header(prefect_version).rstrip("\n")]
    for plan in plans:
        lines.append(f"  - name: {plan.name}")
        if plan.concurrency_limit is not None:
            lines.append(f"    concurrency_limit: {plan.concurrency_limit}  # {ONE_AT_A_TIME_NOTE}")
        lines.append(f"    description: {_scalar(plan.description)}")
        lines.append(f"    entrypoint: {plan.entrypoint}")
        lines.append("    parameters:")
        lines += [f"      {key}: {_scalar(value)}" for key, value in plan.parameters.items()]
        if plan.schedules:
            lines.append("    schedules:")
            for schedule in plan.schedules:
                lines.append(f"      - rrule: {_scalar(schedule.rrule)}")
                lines.append(f"        timezone: {schedule.timezone}")
                lines.append(f"        active: {_scalar(schedule.active)}")
        lines.append("    work_pool: *pool")
        lines.append("")
    return "\n".join(lines)
