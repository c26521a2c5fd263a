"""`cohort-select`: the staff command line; each subcommand runs one flow."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys

from schemas.config import ConfigError, SecretError, load_config
from tasks.cutoff import DeadlineNotPassedError
from tasks.delivery import SmtpSettingsError
from tasks.normalize import MissingQuestionError
from tasks.notices import NoticeError
from tasks.overrides import OverrideError
from tasks.score import RubricDataError
from tasks.sources import SourceError
from tasks.store import NoSelectionError, StoreError

# Errors a staff member can act on: printed as one message, no traceback.
STAFF_ERRORS = (
    ConfigError,
    SecretError,
    SourceError,
    MissingQuestionError,
    DeadlineNotPassedError,
    RubricDataError,
    NoticeError,
    NoSelectionError,
    StoreError,
    SmtpSettingsError,
    OverrideError,
)
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
    return parser


def _aware_time(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset; write it like 2021-06-07T10:00:00-04:00")
    return moment


class _NoTracebackForStaffErrors(logging.Filter):
    """Prefect logs a failed task with its traceback; for an error staff can act on, the message is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], STAFF_ERRORS):
            record.exc_info = None
            record.exc_text = None
        return True


def _quiet_staff_errors() -> None:
    import prefect.logging  # noqa: F401 - configures Prefect's handlers first

    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_NoTracebackForStaffErrors())


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
    print("\nSelection summary")
    print(summary.as_text())
    print(f"\nDecisions: {os.path.join(args.out, 'decisions.csv')}")
    print(f"Summary:   {os.path.join(args.out, 'summary.json')}")
    print(f"Report:    {os.path.join(args.out, 'report.html')}")
    if summary.counts["selected"] == 0:
        print("No team was selected: no row is valid, on time and not a duplicate.", file=sys.stderr)
        return EXIT_NOTHING_SELECTED
    eligible = summary.counts["selected"] + summary.counts["waitlisted"]
    if eligible < summary.capacity:
        print(f"Note: capacity is {summary.capacity} but only {eligible} eligible teams applied; all are selected.")
    return 0


def _run_notify(args: argparse.Namespace) -> int:
    from flows.send_notices import send_notices

    report = send_notices(
        config_path=args.config,
        out_dir=args.out,
        send=args.send,
        kind="interest" if args.interest else "decisions",
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        load_config(args.config)
        _quiet_staff_errors()
        return {"intake": _run_intake, "select": _run_select, "notify": _run_notify}[args.command](args)
    except STAFF_ERRORS as exc:
        print(f"cohort-select {args.command}: {exc}", file=sys.stderr)
        return EXIT_STAFF_ERROR


if __name__ == "__main__":
    sys.exit(main())
