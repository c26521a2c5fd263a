"""The review round's flows: after the deadline, reviewers for the eligible teams (review-assign), then their
files read back (review-collect). Both take the teams as the selection would see them: the steps of
tasks/pipeline.py through the Overrides."""

from __future__ import annotations

import pandas as pd
from prefect import flow

from flows.runs import review_assign_name, review_collect_name, run_name, staff_failures
from flows.steps import (
    assign_reviewers_task,
    collect_reviews_task,
    extensions_task,
    extract_task,
    in_tasks,
    load_config_task,
    load_overrides_task,
    review_folder_task,
)
from schemas.config import CohortConfig
from schemas.frames import Step
from tasks.pipeline import PipelineInputs, run_pipeline, stages_through
from tasks.review_round import AssignmentSummary, CollectionSummary


def _screened(config_path: str, out_dir: str, submissions: str) -> tuple[CohortConfig, pd.DataFrame]:
    """Both flows' first steps: the config (its round's folder moved to `out_dir` when given) and the teams as
    the selection sees them, through the Overrides, one task per step."""
    config = review_folder_task(load_config_task(config_path), out_dir)
    overrides = load_overrides_task(config, submissions)
    config = extensions_task(config, overrides)
    raw, _ = extract_task(config, submissions)
    screened = run_pipeline(raw, PipelineInputs(config, overrides), stages_through(Step.OVERRIDES), run_step=in_tasks)
    return config, screened


@flow(name="review-assign", flow_run_name=run_name(review_assign_name))
@staff_failures
def review_assign(config_path: str, out_dir: str = "", submissions: str = "") -> AssignmentSummary:
    """Reviewers for every eligible team, each reviewer's file written; running it again after a late change keeps
    what reviewers already wrote.

    Args:
        config_path: The cohort file, e.g. cohorts/esp-2021.yaml, with its `review:` section (the roster, the
            criteria, reviews per application, the due date).
        out_dir: The review round's folder for assignments.csv and reviewers/<reviewer>.xlsx; leave empty for the
            cohort file's review.folder, where the selection reads the reviews.
        submissions: A CSV or XLSX export of the responses to read instead of the cohort file's source; leave empty
            to read the source.
    """
    config, screened = _screened(config_path, out_dir, submissions)
    return assign_reviewers_task(screened, config)


@flow(name="review-collect", flow_run_name=run_name(review_collect_name))
@staff_failures
def review_collect(config_path: str, out_dir: str = "", submissions: str = "") -> CollectionSummary:
    """Every reviewer's file read back: each bad cell reported by its address and not used, progress per reviewer
    and per team, and reviews.csv (the combined score per team and criterion, each reviewer's, the spread).

    Args:
        config_path: The cohort file, e.g. cohorts/esp-2021.yaml, with its `review:` section.
        out_dir: The review round's folder `review assign` wrote; leave empty for the cohort file's review.folder.
        submissions: A CSV or XLSX export of the responses to read instead of the cohort file's source; leave empty
            to read the source.
    """
    config, screened = _screened(config_path, out_dir, submissions)
    return collect_reviews_task(screened, config)
