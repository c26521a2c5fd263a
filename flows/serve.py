"""Serve every flow as a deployment from this machine (for one staff member without a work pool).

`make serve` starts a local Prefect server (UI on http://127.0.0.1:4200) and this process; the
deployments match prefect.yaml, so runs started in the UI behave the same as after `prefect deploy`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml
from prefect import serve
from prefect.client.schemas.schedules import RRuleSchedule

from flows.intake import intake
from flows.select_cohort import select_cohort
from flows.send_notices import send_notices
from schemas.config import load_config

FLOWS = {"intake": intake, "select_cohort": select_cohort, "send_notices": send_notices}


def deployments(prefect_yaml: str, config_path: str | None) -> list:
    """prefect.yaml's deployments as served deployments, optionally for another cohort file."""
    spec = yaml.safe_load(Path(prefect_yaml).read_text(encoding="utf-8"))
    served = []
    for item in spec["deployments"]:
        function = item["entrypoint"].split(":")[1]
        parameters = dict(item.get("parameters", {}))
        if config_path:
            load_config(config_path)
            parameters["config_path"] = config_path
        schedules = [RRuleSchedule(rrule=s["rrule"], timezone=s["timezone"]) for s in item.get("schedules", [])]
        served.append(
            FLOWS[function].to_deployment(
                name=item["name"], parameters=parameters, schedules=schedules, description=item.get("description")
            )
        )
    return served


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefect-yaml", default="prefect.yaml")
    parser.add_argument("--config", help="serve the deployments for this cohort file instead")
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    serve(*deployments(args.prefect_yaml, args.config), print_starting_message=True)


if __name__ == "__main__":
    main()
