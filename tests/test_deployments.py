"""The deployments come from the cohort files: prefect.yaml is what `--write-prefect-yaml` writes, the served
deployments agree with it, and each schedule falls on the cohort file's dates in its zone."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect

import pytest
import yaml
from prefect.client.schemas.schedules import RRuleSchedule

from flows.serve import cohort_files, plans, runner_deployment
from schemas.config import load_config, parse_config
from schemas.deployment import PREFECT_YAML, REVIEW_STEPS, DeploymentStep, deployment_name
from tasks.deployments import DeploymentError, check_distinct, cohort_deployments, prefect_yaml_text
from tests.support.paths import CONFIG_PATH, ROOT


def _committed() -> dict[str, dict]:
    data = yaml.safe_load((ROOT / PREFECT_YAML).read_text())
    return {d["name"]: d for d in data["deployments"]}


def _occurrences(schedule: dict) -> list[dt.datetime]:
    return list(RRuleSchedule(rrule=schedule["rrule"], timezone=schedule["timezone"]).to_rrule())


def test_the_committed_prefect_yaml_is_the_one_the_cohort_files_give():
    import prefect

    generated = prefect_yaml_text(plans(cohort_files(None), ROOT), prefect.__version__)
    assert (ROOT / PREFECT_YAML).read_text() == generated, (
        "prefect.yaml differs from the cohort files: run `python -m flows.serve --write-prefect-yaml`"
    )
    data = yaml.safe_load(generated)
    assert (
        data["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == "{{ $COHORT_SELECT_HOME }}"
    )
    for deployment in data["deployments"]:
        assert deployment["work_pool"]["job_variables"]["env"] == {"COHORT_STATE_BACKEND": "postgresql"}


def test_every_cohort_file_has_its_six_deployments_named_for_it():
    names = set(_committed())
    stems = [path.stem for path in cohort_files(None)]
    assert len(stems) >= 2  # the 2021 call and the 2022 example: served side by side
    steps = [step for step in DeploymentStep if step not in REVIEW_STEPS]  # no bundled call has a review round
    assert names == {deployment_name(stem, step) for stem in stems for step in steps}


def test_the_served_deployments_agree_with_prefect_yaml():
    committed = _committed()
    served = [runner_deployment(plan) for plan in plans(cohort_files(None), ROOT)]
    assert sorted(d.name for d in served) == sorted(committed)
    for deployment in served:
        entry = committed[deployment.name]
        assert deployment.entrypoint == entry["entrypoint"], deployment.name
        assert deployment.parameters == entry["parameters"], deployment.name
        assert deployment.description == entry["description"], deployment.name
        assert deployment.concurrency_limit == entry.get("concurrency_limit"), deployment.name
        rules = [(s.schedule.rrule, s.schedule.timezone) for s in deployment.schedules or []]
        assert rules == [(s["rrule"], s["timezone"]) for s in entry.get("schedules", [])], deployment.name


def test_every_deployment_names_a_flow_and_its_parameters():
    for name, deployment in _committed().items():
        module, function = deployment["entrypoint"].removesuffix(".py").replace("/", ".").split(":")
        flow = getattr(importlib.import_module(module.replace(".py", "")), function)
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment["parameters"]) <= accepted, name
        assert (ROOT / deployment["parameters"]["config_path"]).is_file()


def test_each_cohorts_runs_write_into_folders_of_its_own_that_its_purge_cleans():
    by_folder: dict[str, str] = {}
    for deployment in _committed().values():
        config_path = deployment["parameters"]["config_path"]
        assert by_folder.setdefault(deployment["parameters"]["out_dir"], config_path) == config_path
        folders = load_config(ROOT / config_path).retention.folders
        if folders:
            assert ROOT / deployment["parameters"]["out_dir"] in folders, deployment["name"]


@pytest.mark.parametrize("path", cohort_files(None), ids=lambda p: p.stem)
def test_the_schedules_fall_on_the_cohort_files_dates_in_its_zone(path):
    config = load_config(path)
    committed = _committed()
    name = lambda step: deployment_name(path.stem, step)  # noqa: E731
    local = config.deadline.astimezone(config.zone)
    (selection,) = committed[name(DeploymentStep.SELECT_AT_DEADLINE)]["schedules"]
    assert _occurrences(selection) == [config.deadline] and selection["timezone"] == config.timezone

    (intake,) = committed[name(DeploymentStep.INTAKE_CHECK)]["schedules"]
    mornings = _occurrences(intake)
    assert mornings[0].date() == config.window_opens and mornings[-1].date() == local.date()
    assert all(m.hour == 7 and m.tzinfo is not None and m <= config.deadline for m in mornings)
    assert len(mornings) == (local.date() - config.window_opens).days + 1

    assert config.notices is not None
    (promote,) = committed[name(DeploymentStep.PROMOTE_WAITLIST)]["schedules"]
    days = [m.date() for m in _occurrences(promote)]
    assert days[0] == local.date() + dt.timedelta(days=1)
    assert days[-1] == config.notices.course_start - dt.timedelta(days=1)
    words = committed[name(DeploymentStep.PROMOTE_WAITLIST)]["description"]
    assert f"{config.notices.course_start:%B} {config.notices.course_start.day}" in words and config.timezone in words


def test_a_cohort_file_without_opens_opens_four_weeks_before_its_deadline():
    data = yaml.safe_load(CONFIG_PATH.read_text())
    data.pop("opens")
    data["deadline"] = "2024-01-15T17:00:00-05:00"
    data["notify_by"] = "2024-01-30"
    config = parse_config(data)
    assert config.window_opens == dt.date(2023, 12, 18)
    intake = cohort_deployments(config, "cohorts/winter.yaml")[0]
    assert intake.name == "winter-intake-check"
    assert intake.schedules[0].rrule == "DTSTART:20231218T070000\nRRULE:FREQ=DAILY;UNTIL=20240115T170000"
    assert "December 18, 2023" in intake.description and "January 15, 2024, 5:00 PM" in intake.description


def test_opens_on_or_after_the_deadline_is_refused_by_key():
    data = yaml.safe_load(CONFIG_PATH.read_text()) | {"opens": "2021-06-07"}
    with pytest.raises(Exception, match="opens 2021-06-07 is not before the deadline 2021-06-07"):
        parse_config(data)


def test_two_cohort_files_of_one_name_are_refused():
    config = load_config(CONFIG_PATH)
    both = cohort_deployments(config, "cohorts/esp-2021.yaml") + cohort_deployments(config, "/elsewhere/esp-2021.yaml")
    with pytest.raises(DeploymentError, match="have the same file name"):
        check_distinct(both)


def test_a_review_round_adds_its_four_deployments_and_moves_the_selection_to_the_due_moment():
    data = yaml.safe_load(CONFIG_PATH.read_text())
    data["review"] = {
        "roster": "reviewers.csv",
        "criteria": [{"name": "vision", "description": "How clear is the reason?", "scale": [1, 2, 3]}],
        "due": "2021-06-14 17:00",
        "spread_threshold": 2,
    }
    config = parse_config(data)
    by_step = {plan.step: plan for plan in cohort_deployments(config, "cohorts/esp-2021.yaml")}
    assert set(by_step) == set(DeploymentStep)
    due = dt.datetime(2021, 6, 14, 17, tzinfo=config.zone)
    (selection,) = by_step[DeploymentStep.SELECT_AT_DEADLINE].schedules
    assert _occurrences(selection.model_dump()) == [due]
    assert "when the reviews are due (June 14, 2021, 5:00 PM America/New_York)" in (
        by_step[DeploymentStep.SELECT_AT_DEADLINE].description
    )
    (assign,) = by_step[DeploymentStep.REVIEW_ASSIGN].schedules
    assert _occurrences(assign.model_dump()) == [config.deadline]
    (remind,) = by_step[DeploymentStep.REVIEW_REMINDERS].schedules
    mornings = _occurrences(remind.model_dump())
    assert [m.date() for m in mornings] == [dt.date(2021, 6, d) for d in range(8, 15)]
    assert all(m.hour == 9 for m in mornings)
    assert by_step[DeploymentStep.REVIEW_REMINDERS].parameters | {"send": True, "kind": "review-reminders"} == (
        by_step[DeploymentStep.REVIEW_REMINDERS].parameters
    )
    assert by_step[DeploymentStep.REVIEW_NOTICES].parameters["send"] is False
    for step in (DeploymentStep.REVIEW_ASSIGN, DeploymentStep.REVIEW_COLLECT):
        assert by_step[step].parameters["out_dir"] == ""  # the cohort file's review.folder, which the selection reads
    assert all(by_step[step].concurrency_limit == 1 for step in REVIEW_STEPS)
