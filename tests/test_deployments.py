"""prefect.yaml agrees with the cohort config and with the flows it names."""

from __future__ import annotations

import importlib
import inspect

import yaml
from prefect.client.schemas.schedules import RRuleSchedule

from tests.support.paths import ROOT


def _deployments() -> dict[str, dict]:
    data = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in data["deployments"]}


def test_selection_runs_once_at_the_configured_deadline(config):
    schedule = _deployments()["select-at-deadline"]["schedules"][0]
    occurrences = list(RRuleSchedule(rrule=schedule["rrule"], timezone=schedule["timezone"]).to_rrule())
    assert len(occurrences) == 1
    assert occurrences[0] == config.deadline
    assert schedule["timezone"] == config.timezone


def test_every_deployment_names_a_flow_and_its_parameters():
    for name, deployment in _deployments().items():
        module, function = deployment["entrypoint"].removesuffix(".py").replace("/", ".").split(":")
        flow = getattr(importlib.import_module(module.replace(".py", "")), function)
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment["parameters"]) <= accepted, name
        assert (ROOT / deployment["parameters"]["config_path"]).is_file()
