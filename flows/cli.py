"""`cohort-select`: the staff command line. Pipeline subcommands run a flow; a team action or the audit export
is one small recorded step and runs directly."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys
from pathlib import Path

from flows.logs import quiet_staff_errors
from schemas.backup import RECORD_TIME_FORMAT
from schemas.columns import Status
from schemas.config import load_config
from schemas.errors import StaffError
from schemas.ledger import RunKind
from schemas.lifecycle import STAFF_ACTIONS, Action, StaffRequest
from tasks.drift import DriftReport

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
    select.add_argument("--as-of", type=_aware_time, help="run as if at this ISO-8601 moment (with offset)")
    select.add_argument("--preview", action="store_true", help="allow a provisional selection before the deadline")
    select.add_argument("--out", required=True, help="folder to write decisions.csv and summary.json into")
    notify = commands.add_parser("notify", help="decision (or interest-list) notices: outbox, or --send")
    notify.add_argument("--config", required=True, help="cohort YAML file")
    notify.add_argument("--out", required=True, help="folder for the dry-run outbox")
    notify.add_argument("--send", action="store_true", help="deliver over SMTP (default: dry run to the outbox)")
    notify.add_argument("--interest", action="store_true", help="the interest-list notice instead of decisions")
    notify.add_argument("--as-of", type=_aware_time, help="run as if at this ISO-8601 moment (with offset)")
    notify.add_argument("--resend-unknown", action="store_true", help="resend notices left unknown by a cut-off run")
    for action in STAFF_ACTIONS:
        verb = commands.add_parser(action, help=f"record that a team {ACTION_HELP[action]} (after the notices)")
        verb.add_argument("--config", required=True, help="cohort YAML file")
        verb.add_argument("--team", required=True, help="the team_key from decisions.csv (or row:N)")
        verb.add_argument("--reason", required=True, help="why, for the record")
        verb.add_argument("--by", default=_user(), help="who records it (default: your user name)")
        verb.add_argument("--as-of", type=_aware_time, help="when it happened (default now)")
    promote = commands.add_parser("promote", help="expire unanswered offers and offer free seats to the waitlist")
    promote.add_argument("--config", required=True, help="cohort YAML file")
    promote.add_argument("--out", required=True, help="folder for the outbox of change notices")
    promote.add_argument(
        "--send", action="store_true", help="record the changes and send their notices (default: a dry run)"
    )
    promote.add_argument("--as-of", type=_aware_time, help="run as if at this ISO-8601 moment (with offset)")
    simulate = commands.add_parser("simulate", help="what-if: other capacities and per-state caps; nothing stored")
    simulate.add_argument("--config", required=True, help="cohort YAML file")
    simulate.add_argument("--capacity", required=True, type=_numbers, help="capacities to try, e.g. 15,20,25")
    simulate.add_argument("--max-per-state", required=True, type=_numbers, help="per-state caps to try, e.g. 1,2,3")
    simulate.add_argument("--submissions", help="a CSV or XLSX export to read instead of the configured source")
    simulate.add_argument("--out", default="out/what-if", help="folder for what-if.csv (default out/what-if)")
    audit = commands.add_parser("audit", help="every decision, notice and staff action with time and actor, as CSV")
    audit.add_argument("--config", required=True, help="cohort YAML file")
    audit.add_argument("--out", required=True, help="the CSV file to write")
    _add_purge_parser(commands)
    _add_backup_commands(commands)
    return parser


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
    purge.add_argument("--as-of", type=_aware_time, help="run as if at this ISO-8601 moment (with offset)")
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


def _aware_time(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset; write it like 2021-06-07T10:00:00-04:00")
    return moment


def _run_intake(args: argparse.Namespace) -> int:
    from flows.intake import intake

    summary = intake(config_path=args.config, submissions=args.submissions, out_dir=args.out)
    print("\nIntake summary")
    print(summary.as_text())
    if args.out:
        print(f"\nRows with status and reasons: {os.path.join(args.out, 'intake.csv')}")
    return 0


def _run_select(args: argparse.Namespace) -> int:
    from flows.select_cohort import select_cohort

    summary = select_cohort(
        config_path=args.config,
        out_dir=args.out,
        submissions=args.submissions,
        as_of=args.as_of,
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
    from flows.send_notices import send_notices

    report = send_notices(
        config_path=args.config,
        out_dir=args.out,
        send=args.send,
        kind=RunKind.INTEREST if args.interest else RunKind.DECISIONS,
        as_of=args.as_of,
        resend_unknown=args.resend_unknown,
        require_approval=False,
    )
    print("\nNotices")
    print(report.as_text())
    if report.problems:
        print("\n".join(report.problems), file=sys.stderr)
        return EXIT_NOTICES_UNFINISHED
    return 0


def _run_action(args: argparse.Namespace) -> int:
    from tasks.identity import open_cohort_store
    from tasks.staff_actions import record_staff_action

    config = load_config(args.config)
    moment = args.as_of or dt.datetime.now(dt.UTC)
    said = record_staff_action(
        open_cohort_store(config), config, StaffRequest(args.team, args.command, args.reason, args.by, moment)
    )
    print(said)
    print("The team's notice goes out with the next promote-waitlist run (or `cohort-select promote --send`).")
    return 0


def _run_promote(args: argparse.Namespace) -> int:
    from flows.promote_waitlist import promote_waitlist

    run = promote_waitlist(config_path=args.config, out_dir=args.out, send=args.send, as_of=args.as_of)
    print("\nWaitlist")
    print(run.promotion.as_text())
    print("\nNotices")
    print(run.notices.as_text())
    if run.notices.problems:
        print("\n".join(run.notices.problems), file=sys.stderr)
        return EXIT_NOTICES_UNFINISHED
    return 0


def _run_simulate(args: argparse.Namespace) -> int:
    from flows.simulate import simulate

    table = simulate(
        config_path=args.config,
        capacities=args.capacity,
        max_per_state=args.max_per_state,
        out_dir=args.out,
        submissions=args.submissions,
    )
    print("\n" + table.as_text())
    return 0


def _run_audit(args: argparse.Namespace) -> int:
    from tasks.audit import write_audit
    from tasks.files import check_output_file
    from tasks.identity import open_cohort_store

    config = load_config(args.config)
    target = check_output_file(Path(args.out))
    path, events = write_audit(open_cohort_store(config), config.cohort_id, target)
    print(f"Audit trail of cohort {config.cohort}: {events} events in {path}")
    return 0


def _run_purge(args: argparse.Namespace) -> int:
    from tasks.identity import open_cohort_store
    from tasks.retention import PurgeRequest, purge

    config = load_config(args.config)
    moment = args.as_of or dt.datetime.now(dt.UTC)
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


COMMANDS = {
    "intake": _run_intake,
    "select": _run_select,
    "notify": _run_notify,
    "promote": _run_promote,
    "simulate": _run_simulate,
    "audit": _run_audit,
    "purge": _run_purge,
    "backup": _run_backup,
    "restore": _run_restore,
} | dict.fromkeys(STAFF_ACTIONS, _run_action)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        load_config(args.config)
        quiet_staff_errors(repeats=False)  # the command prints the message itself, once
        return COMMANDS[args.command](args)
    except StaffError as exc:  # a problem staff can act on: printed as one message, no traceback
        print(f"cohort-select {args.command}: {exc}", file=sys.stderr)
        return EXIT_STAFF_ERROR


if __name__ == "__main__":
    sys.exit(main())
