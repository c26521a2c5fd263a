"""`cohort-select`: the staff command line. Pipeline subcommands run a flow; a team action or the audit export
is one small recorded step and runs directly.

A command that runs a flow starts Prefect's temporary server (flows/local_server.py) before it imports Prefect,
pandas or GX, so the server starts while the command imports: this module imports only what parsing the command
line needs, and each command imports the rest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from flows import local_server
from flows.logs import printed_by_the_caller
from schemas.backup import RECORD_TIME_FORMAT
from schemas.columns import Status
from schemas.errors import StaffError
from schemas.ledger import RunKind, SendKind
from schemas.lifecycle import STAFF_ACTIONS, Action, StaffRequest

if TYPE_CHECKING:
    from schemas.config import CohortConfig
    from tasks.ledger import DeliveryReport

AS_OF_HELP = "run as if at this moment, like 2021-06-07 10:00 on the cohort's clock (an offset is optional)"
EXIT_STAFF_ERROR = 2
EXIT_NOTHING_SELECTED = 3
EXIT_NOTICES_UNFINISHED = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cohort-select", description="ESP peer-mentoring cohort selection")
    commands = parser.add_subparsers(dest="command", required=True)
    intake = commands.add_parser("intake", help="read, normalize and validate the responses")
    intake.add_argument("--config", required=True, help="cohort YAML file, e.g. cohorts/esp-2021.yaml")
    intake.add_argument("--submissions", help="a CSV or XLSX export to read instead of the configured source")
    intake.add_argument("--out", help="folder to write intake.csv into")
    select = commands.add_parser("select", help="the whole selection: decisions.csv and summary.json")
    select.add_argument("--config", required=True, help="cohort YAML file, e.g. cohorts/esp-2021.yaml")
    select.add_argument("--submissions", help="a CSV or XLSX export to read instead of the configured source")
    select.add_argument("--as-of", help=AS_OF_HELP)
    select.add_argument("--preview", action="store_true", help="allow a provisional selection before the deadline")
    select.add_argument("--out", required=True, help="folder to write decisions.csv and summary.json into")
    notify = commands.add_parser("notify", help="decision (or interest-list) notices: outbox, or --send")
    notify.add_argument("--config", required=True, help="cohort YAML file")
    notify.add_argument("--out", required=True, help="folder for the dry-run outbox")
    notify.add_argument("--send", action="store_true", help="deliver over SMTP (default: dry run to the outbox)")
    notify.add_argument("--interest", action="store_true", help="the interest-list notice instead of decisions")
    notify.add_argument("--as-of", help=AS_OF_HELP)
    notify.add_argument("--resend-unknown", action="store_true", help="resend notices left unknown by a cut-off run")
    for action in STAFF_ACTIONS:
        verb = commands.add_parser(action, help=f"record that a team {ACTION_HELP[action]} (after the notices)")
        verb.add_argument("--config", required=True, help="cohort YAML file")
        verb.add_argument("--team", required=True, help="the team_key from decisions.csv (or row:N)")
        verb.add_argument("--reason", required=True, help="why, for the record")
        verb.add_argument("--by", default=_user(), help="who records it (default: your user name)")
        verb.add_argument("--as-of", help="when it happened, like 2021-06-09 12:00 on the cohort's clock (default now)")
    promote = commands.add_parser("promote", help="expire unanswered offers and offer free seats to the waitlist")
    promote.add_argument("--config", required=True, help="cohort YAML file")
    promote.add_argument("--out", required=True, help="folder for the outbox of change notices")
    promote.add_argument(
        "--send", action="store_true", help="record the changes and send their notices (default: a dry run)"
    )
    promote.add_argument("--as-of", help=AS_OF_HELP)
    replies = commands.add_parser(
        "replies", help="read the reply form: each team's confirm or decline, with the promotion they lead to"
    )
    replies.add_argument("--config", required=True, help="cohort YAML file with a `replies:` section")
    replies.add_argument("--out", required=True, help="folder for replies.csv and the outbox of their notices")
    replies.add_argument(
        "--send", action="store_true", help="record the replies and send their notices (default: a dry run)"
    )
    replies.add_argument("--as-of", help=AS_OF_HELP)
    simulate = commands.add_parser("simulate", help="what-if: other capacities and per-state caps; nothing stored")
    simulate.add_argument("--config", required=True, help="cohort YAML file")
    simulate.add_argument(
        "--capacity", type=_numbers, default=[], help="capacities to try, e.g. 15,20,25 (default: around the cohort's)"
    )
    simulate.add_argument(
        "--max-per-state",
        type=_numbers,
        default=[],
        help="per-state caps to try, e.g. 1,2,3 (default: around the cohort's)",
    )
    simulate.add_argument("--submissions", help="a CSV or XLSX export to read instead of the configured source")
    simulate.add_argument("--out", default="out/what-if", help="folder for what-if.csv (default out/what-if)")
    audit = commands.add_parser("audit", help="every decision, notice and staff action with time and actor, as CSV")
    audit.add_argument("--config", required=True, help="cohort YAML file")
    audit.add_argument("--out", required=True, help="the CSV file to write")
    _add_purge_parser(commands)
    _add_backup_commands(commands)
    _add_demo_parser(commands)
    carry = commands.add_parser(
        "carry-forward", help="the next call's interest list and previous participants, from this call's"
    )
    carry.add_argument("--from", dest="source", required=True, help="this call's cohort YAML file")
    carry.add_argument("--to", dest="target", required=True, help="the next call's cohort YAML file")
    carry.add_argument("--waitlisted", action="store_true", help="carry the waitlisted teams that never got a seat too")
    _add_review_parser(commands)
    return parser


REVIEW_STEPS = {
    "assign": "reviewers for every eligible team: assignments.csv and one file per reviewer",
    "collect": "read the reviewers' files back: reviews.csv, the cells not used and the progress",
}
# The reviewers' notices, sent like the decision notices (outbox, or --send).
REVIEW_NOTICES: dict[str, tuple[SendKind, str]] = {
    "notify": (RunKind.REVIEW_ASSIGNMENTS, "each reviewer's assignment notice: outbox, or --send"),
    "remind": (RunKind.REVIEW_REMINDERS, "a reminder to each reviewer with applications unscored: outbox, or --send"),
}


def _add_review_parser(commands: argparse._SubParsersAction) -> None:
    review = commands.add_parser("review", help="the review round: assign reviewers, then collect their scores")
    steps = review.add_subparsers(dest="review_step", required=True)
    for step, words in REVIEW_STEPS.items():
        command = steps.add_parser(step, help=words)
        command.add_argument("--config", required=True, help="cohort YAML file with a `review:` section")
        command.add_argument(
            "--out",
            default="",
            help="the round's folder (default: review.folder of the cohort file, which the selection reads)",
        )
        command.add_argument("--submissions", help="a CSV or XLSX export to read instead of the configured source")
    for step, (_, words) in REVIEW_NOTICES.items():
        command = steps.add_parser(step, help=words)
        command.add_argument("--config", required=True, help="cohort YAML file with a `review:` section")
        command.add_argument("--out", required=True, help="folder for the dry-run outbox")
        command.add_argument("--send", action="store_true", help="deliver over SMTP (default: dry run to the outbox)")
        command.add_argument("--as-of", help=AS_OF_HELP)


def _run_review(args: argparse.Namespace) -> int:
    from flows.review import review_assign, review_collect

    if args.review_step in REVIEW_NOTICES:
        return _send(args, REVIEW_NOTICES[args.review_step][0], resend_unknown=False)
    run = review_assign if args.review_step == "assign" else review_collect
    summary = run(config_path=args.config, out_dir=args.out, submissions=args.submissions or "")
    print(f"\nReview {args.review_step}")
    print(summary.as_text())
    return 0


def _add_purge_parser(commands: argparse._SubParsersAction) -> None:
    purge = commands.add_parser("purge", help="remove applicant personal data once the retention period has passed")
    purge.add_argument("--config", required=True, help="cohort YAML file")
    purge.add_argument(
        "--apply", action="store_true", help="remove it (default: a dry run that lists what would be removed)"
    )
    purge.add_argument(
        "--folder",
        action="append",
        default=[],
        type=Path,
        help="an output folder to purge besides retention.folders of the cohort file (repeatable)",
    )
    purge.add_argument("--as-of", help=AS_OF_HELP)
    purge.add_argument("--by", default=_user(), help="who purges, for the audit (default: your user name)")


ACTION_HELP = {
    Action.CONFIRM: "confirmed its place",
    Action.DECLINE: "declined",
    Action.WITHDRAW: "is withdrawn by staff",
}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "staff"


def _numbers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of whole numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"give whole numbers of at least 1, like 15,20,25 (got {text!r})")
    return values


def _moment(as_of: str | None, config: CohortConfig) -> dt.datetime:
    """--as-of of a command that runs no flow, read as the flows read `as_of`: on the cohort's clock."""
    from tasks.local_time import read_moment

    return read_moment(as_of, config.timezone) if as_of else dt.datetime.now(dt.UTC)


def _run_intake(args: argparse.Namespace) -> int:
    from flows.intake import intake

    summary = intake(config_path=args.config, submissions=args.submissions or "", out_dir=args.out or "")
    print("\nIntake summary")
    print(summary.as_text())
    if args.out:
        print(f"\nRows with status and reasons: {os.path.join(args.out, 'intake.csv')}")
    return 0


def _run_select(args: argparse.Namespace) -> int:
    from flows.select_cohort import select_cohort
    from tasks.drift import DriftReport

    summary = select_cohort(
        config_path=args.config,
        out_dir=args.out,
        submissions=args.submissions or "",
        as_of=args.as_of or "",
        preview=args.preview,
    )
    if isinstance(summary, DriftReport):
        print("\n" + summary.as_text())
        return 0
    print("\nSelection summary")
    print(summary.as_text())
    print(f"\nDecisions: {os.path.join(args.out, 'decisions.csv')}")
    print(f"Summary:   {os.path.join(args.out, 'summary.json')}")
    print(f"Report:    {os.path.join(args.out, 'report.html')}")
    if summary.counts[Status.SELECTED] == 0:
        print("No team was selected: no row is valid, on time and not a duplicate.", file=sys.stderr)
        return EXIT_NOTHING_SELECTED
    eligible = summary.counts[Status.SELECTED] + summary.counts[Status.WAITLISTED]
    if eligible < summary.capacity:
        print(f"Note: capacity is {summary.capacity} but only {eligible} eligible teams applied; all are selected.")
    return 0


def _run_notify(args: argparse.Namespace) -> int:
    kind: SendKind = RunKind.INTEREST if args.interest else RunKind.DECISIONS
    return _send(args, kind, resend_unknown=args.resend_unknown)


def _send(args: argparse.Namespace, kind: SendKind, *, resend_unknown: bool) -> int:
    from flows.send_notices import send_notices

    report = send_notices(
        config_path=args.config,
        out_dir=args.out,
        send=args.send,
        kind=kind,
        as_of=args.as_of or "",
        resend_unknown=resend_unknown,
        require_approval=False,
    )
    print("\nNotices")
    print(report.as_text())
    return _exit_for(report)


def _exit_for(report: DeliveryReport) -> int:
    """EXIT_NOTICES_UNFINISHED, each problem on stderr, when a run left notices unfinished; else 0."""
    if report.problems:
        print("\n".join(report.problems), file=sys.stderr)
        return EXIT_NOTICES_UNFINISHED
    return 0


def _run_action(args: argparse.Namespace) -> int:
    from schemas.config import load_config
    from tasks.identity import open_cohort_store
    from tasks.staff_actions import record_staff_action

    config = load_config(args.config)
    moment = _moment(args.as_of, config)
    said = record_staff_action(
        open_cohort_store(config), config, StaffRequest(args.team, args.command, args.reason, args.by, moment)
    )
    print(said)
    print("The team's notice goes out with the next promote-waitlist run (or `cohort-select promote --send`).")
    return 0


def _run_promote(args: argparse.Namespace) -> int:
    from flows.promote_waitlist import promote_waitlist
    from tasks.replies import REPLIES_FILE

    run = promote_waitlist(config_path=args.config, out_dir=args.out, send=args.send, as_of=args.as_of or "")
    if run.promotion.replies:
        print(f"\nReplies: {os.path.join(args.out, REPLIES_FILE)}")
    print("\nWaitlist")
    print(run.promotion.as_text())
    print("\nNotices")
    print(run.notices.as_text())
    return _exit_for(run.notices)


def _run_simulate(args: argparse.Namespace) -> int:
    from flows.simulate import simulate

    table = simulate(
        config_path=args.config,
        capacities=args.capacity,
        max_per_state=args.max_per_state,
        out_dir=args.out,
        submissions=args.submissions or "",
    )
    print("\n" + table.as_text())
    return 0


def _run_audit(args: argparse.Namespace) -> int:
    from schemas.config import load_config
    from tasks.audit import write_audit
    from tasks.files import check_output_file
    from tasks.identity import open_cohort_store

    config = load_config(args.config)
    target = check_output_file(Path(args.out))
    path, events = write_audit(open_cohort_store(config), config.cohort_id, target)
    print(f"Audit trail of cohort {config.cohort}: {events} events in {path}")
    return 0


def _run_purge(args: argparse.Namespace) -> int:
    from schemas.config import load_config
    from tasks.identity import open_cohort_store
    from tasks.retention import PurgeRequest, purge

    config = load_config(args.config)
    moment = _moment(args.as_of, config)
    request = PurgeRequest(as_of=moment, actor=args.by, folders=tuple(args.folder), apply=args.apply)
    print(purge(open_cohort_store(config), config, request).as_text())
    return 0


def _add_backup_commands(commands: argparse._SubParsersAction) -> None:
    backup = commands.add_parser("backup", help="copy the cohort's state to a file (before and after each send)")
    backup.add_argument("--config", required=True, help="cohort YAML file")
    backup.add_argument("--to", required=True, help="the backup file to write (replaced whole)")
    restore = commands.add_parser("restore", help="put a backup made by `backup` into the state store")
    restore.add_argument("--config", required=True, help="cohort YAML file")
    restore.add_argument("--from", dest="source", required=True, help="the backup file")
    restore.add_argument(
        "--replace", action="store_true", help="replace what the store holds for the cohort (default: refuse)"
    )


def _run_backup(args: argparse.Namespace) -> int:
    from schemas.config import load_config
    from tasks.backup import backup_store
    from tasks.files import check_output_file
    from tasks.store import open_store, safe_url

    config = load_config(args.config)
    target = check_output_file(Path(args.to), flag="--to")
    summary = backup_store(open_store(config.database_url), config, target)
    print(
        f"Backed up cohort {summary.cohort} from {safe_url(config.database_url)} to {target}: {summary.counts_text()}"
    )
    return 0


def _run_restore(args: argparse.Namespace) -> int:
    from schemas.config import load_config
    from tasks.backup import read_backup, restore_store
    from tasks.store import open_store, safe_url

    config = load_config(args.config)
    backup = read_backup(Path(args.source), config.cohort_id)  # checked before the store is touched
    summary = restore_store(open_store(config.database_url), config, backup, replace=args.replace)
    taken = summary.made_at.astimezone(config.zone).strftime(RECORD_TIME_FORMAT)
    print(
        f"Restored cohort {summary.cohort} into {safe_url(config.database_url)} from {backup.path} (taken {taken} "
        f"from {summary.backend}): {summary.counts_text()}"
    )
    return 0


def _add_demo_parser(commands: argparse._SubParsersAction) -> None:
    from tasks.demo import BUNDLED_RESPONSES, DEFAULT_COHORT, DEFAULT_FOLDER

    demo = commands.add_parser("demo", help="selection and a notices dry run on the demo's own copy of the cohort")
    demo.add_argument("--config", default=str(DEFAULT_COHORT), help="the cohort file to copy (default: the 2021 call)")
    demo.add_argument(
        "--submissions", default=str(BUNDLED_RESPONSES), help="the responses file (default: the bundled example)"
    )
    demo.add_argument("--out", default=str(DEFAULT_FOLDER), help="the demo's folder, emptied by each run (out/demo)")


def _run_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    run = run_demo(Path(args.config), Path(args.out), Path(args.submissions))
    print("\nSelection summary")
    print(run.selection.as_text())
    print("\nNotices")
    print(run.notices.as_text())
    print("\n" + run.where_to_look())
    return _exit_for(run.notices)


def _run_carry_forward(args: argparse.Namespace) -> int:
    from schemas.config import load_config
    from tasks.carry_forward import carry_forward

    report = carry_forward(
        load_config(args.source), load_config(args.target), waitlisted=args.waitlisted, today=dt.date.today()
    )
    print(report.as_text())
    return 0


COMMANDS = {
    "intake": _run_intake,
    "select": _run_select,
    "notify": _run_notify,
    "promote": _run_promote,
    "replies": _run_promote,  # the promote flow reads the reply form first; `replies` is its name for that
    "simulate": _run_simulate,
    "audit": _run_audit,
    "purge": _run_purge,
    "backup": _run_backup,
    "restore": _run_restore,
    "demo": _run_demo,
    "review": _run_review,
    "carry-forward": _run_carry_forward,
} | dict.fromkeys(STAFF_ACTIONS, _run_action)


# The commands that run a flow, so need a Prefect API; of them, those whose flow validates responses with GX.
FLOW_COMMANDS = frozenset({"intake", "select", "notify", "promote", "replies", "simulate", "demo", "review"})
VALIDATING_COMMANDS = frozenset({"intake", "select", "simulate", "demo", "review"})


def _ready_for_the_flow(command: str, server: local_server.LocalServer | None) -> None:
    """What the flow would do first, done while the temporary server starts: import the flow's steps (Prefect,
    pandas) and GX, and build the one GX context of the process; then wait for the server."""
    import flows.steps  # noqa: F401 -- imported for its cost, here rather than inside the run

    if command in VALIDATING_COMMANDS:
        from tasks.validate import gx_context

        gx_context()
    if server is not None:
        server.wait_until_healthy()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    server = None
    try:
        if args.command in FLOW_COMMANDS:
            server = local_server.start_local_server()  # before Prefect is imported: it reads PREFECT_API_URL then
        from schemas.config import load_config

        for path in (args.source, args.target) if args.command == "carry-forward" else (args.config,):
            load_config(path)  # a mistake in a cohort file is one message naming the key, before anything runs
        if args.command in FLOW_COMMANDS:
            _ready_for_the_flow(args.command, server)
        with printed_by_the_caller():  # the command prints the message itself, once
            return COMMANDS[args.command](args)
    except StaffError as exc:  # a problem staff can act on: printed as one message, no traceback
        print(f"cohort-select {args.command}: {exc}", file=sys.stderr)
        return EXIT_STAFF_ERROR


if __name__ == "__main__":
    sys.exit(main())
