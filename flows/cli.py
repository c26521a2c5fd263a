"""`cohort-select`: the staff command line; each subcommand runs one flow."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from schemas.config import ConfigError, SecretError, load_config
from tasks.normalize import MissingQuestionError
from tasks.sources import SourceError

# Errors a staff member can act on: printed as one message, no traceback.
STAFF_ERRORS = (ConfigError, SecretError, SourceError, MissingQuestionError)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cohort-select", description="ESP peer-mentoring cohort selection")
    commands = parser.add_subparsers(dest="command", required=True)
    intake = commands.add_parser("intake", help="read, normalize and validate the responses")
    intake.add_argument("--config", required=True, help="cohort YAML file, e.g. cohorts/esp-2021.yaml")
    intake.add_argument("--submissions", help="a CSV or XLSX export to read instead of the configured source")
    intake.add_argument("--out", help="folder to write intake.csv into")
    return parser


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

    load_config(args.config)
    _quiet_staff_errors()

    summary = intake(config_path=args.config, submissions=args.submissions, out_dir=args.out)
    print("\nIntake summary")
    print(summary.as_text())
    if args.out:
        print(f"\nRows with status and reasons: {os.path.join(args.out, 'intake.csv')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        return {"intake": _run_intake}[args.command](args)
    except STAFF_ERRORS as exc:
        print(f"cohort-select {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
