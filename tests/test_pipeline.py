"""The one composition of the steps (tasks/pipeline.py) and their contracts (schemas/frames.py): the same decisions
as the flow, every step in order, and a frame without a column a step reads refused by name."""

from __future__ import annotations

import pandas as pd
import pytest
from prefect import flow
from prefect.cache_policies import NONE

from flows.select_cohort import select_cohort
from flows.steps import STAGE_TASKS, in_tasks
from schemas.columns import Col, Derived
from schemas.errors import StaffError
from schemas.frames import CONTRACTS, FrameContractError, Step, check_requires
from tasks.cutoff import apply_cutoff
from tasks.decisions import decisions_frame, summarize_selection, write_decisions
from tasks.dedupe import deduplicate
from tasks.normalize import normalize
from tasks.overrides import add_staff_notes, apply_before_selection, read_file_overrides, with_extensions
from tasks.pipeline import (
    INTAKE,
    SELECTION,
    STAGES,
    PipelineInputs,
    Stage,
    run_pipeline,
    run_stage,
    stages_through,
)
from tasks.score import score
from tasks.select import select
from tasks.sources import FileSource, input_sha256, values_to_frame
from tasks.validate import validate
from tests.support.configs import make_config
from tests.support.moments import AFTER
from tests.support.paths import EXAMPLE_PATH

# Staff rows of the kinds that act in the selection: a note, a force-decline, a force-select with a message.
OVERRIDES = [
    ["team", "source_row", "action", "note", "by", "message_to_team"],
    ["", "2", "note", "called the lead", "Kim", ""],
    ["", "5", "force-decline", "withdrew by phone", "Kim", ""],
    ["", "9", "force-select", "board request", "Lee", "Welcome aboard."],
]


def _raw(config) -> pd.DataFrame:
    return values_to_frame(FileSource(EXAMPLE_PATH).read_values(), config.columns)


def _with_overrides(tmp_path):
    path = tmp_path / "overrides.csv"
    path.write_text("\n".join(",".join(cells) for cells in OVERRIDES) + "\n", encoding="utf-8")
    config, config_path = make_config(tmp_path, 25, overrides=str(path))
    overrides = read_file_overrides(config)
    return with_extensions(config, overrides), config_path, overrides


def test_the_stages_are_the_steps_in_order_each_with_a_contract():
    assert [stage.step for stage in STAGES] == list(Step)
    assert STAGES == INTAKE + SELECTION
    assert set(CONTRACTS) == set(Step)
    assert [stage.name for stage in stages_through(Step.SCORE)] == [
        "normalize",
        "validate",
        "dedupe",
        "cutoff",
        "apply overrides",
        "score",
    ]


def test_each_step_reads_only_columns_an_earlier_step_added():
    available = {Col.SOURCE_ROW}  # the raw frame's
    for stage in STAGES:
        contract = CONTRACTS[stage.step]
        assert contract.requires <= available, f"{stage.name} reads {sorted(contract.requires - available)}"
        available |= contract.adds


def test_a_frame_without_a_column_a_step_reads_is_refused_naming_the_step_and_the_column(config):
    validated = run_pipeline(_raw(config), PipelineInputs(config), INTAKE)
    deduped = deduplicate(validated, config).drop(columns=[Derived.ON_TIME])
    with pytest.raises(FrameContractError) as caught:
        run_pipeline(deduped, PipelineInputs(config), SELECTION[1:])  # from cutoff on
    assert str(caught.value) == "step 'cutoff' was handed a frame without the columns it reads: on_time"
    assert not isinstance(caught.value, StaffError)  # a programming error: nothing staff could correct
    with pytest.raises(FrameContractError, match=r"step 'select' .* reads: score, stable_id"):
        check_requires(validated, Step.SELECT)
    check_requires(validated, Step.DEDUPE)  # what dedupe reads is there


def test_a_step_that_does_not_add_what_it_promises_is_refused(config):
    def skip_dedupe(stage: Stage, frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
        return frame if stage.step == Step.DEDUPE else run_stage(stage, frame, inputs)

    with pytest.raises(
        FrameContractError,
        match="step 'dedupe' handed on a frame without the columns it adds: duplicate_of, extension, name_key",
    ):
        run_pipeline(_raw(config), PipelineInputs(config), run_step=skip_dedupe)


def test_the_hook_sees_every_stage_in_order_with_the_frame_the_last_one_handed_on(tmp_path):
    config, _, overrides = _with_overrides(tmp_path)
    seen: list[tuple[str, list[str]]] = []

    def recording(stage: Stage, frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
        seen.append((stage.name, list(frame.columns)))
        out = run_stage(stage, frame, inputs)
        seen.append((stage.name, list(out.columns)))
        return out

    decided = run_pipeline(_raw(config), PipelineInputs(config, overrides), run_step=recording)
    assert [name for name, _ in seen[::2]] == [str(step) for step in Step]
    handed = [columns for _, columns in seen]
    assert all(handed[i] == handed[i + 1] for i in range(1, len(handed) - 1, 2))  # each gets the last one's frame
    assert handed[-1] == list(decided.columns)


def test_the_pipeline_is_the_steps_one_after_another_with_the_overrides(tmp_path):
    config, _, overrides = _with_overrides(tmp_path)
    raw = _raw(config)
    frame = validate(normalize(raw, config), config)
    eligible = apply_before_selection(apply_cutoff(deduplicate(frame, config), config), overrides, config.extensions)
    by_hand = add_staff_notes(select(score(eligible, config), config), overrides)
    decided = run_pipeline(raw, PipelineInputs(config, overrides))
    pd.testing.assert_frame_equal(decided, by_hand)
    assert decided.set_index(Col.SOURCE_ROW).loc[9, Derived.MESSAGE_TO_TEAM] == "Welcome aboard."


def test_every_stage_has_its_own_private_task_of_the_same_name():
    assert list(STAGE_TASKS) == [stage.name for stage in STAGES]
    for name, stage_task in STAGE_TASKS.items():
        assert stage_task.name == name
        assert stage_task.persist_result is False and stage_task.cache_policy == NONE


def test_the_flow_runs_the_stages_one_task_each_to_the_same_frame(prefect_server, tmp_path):
    config, _, overrides = _with_overrides(tmp_path)
    raw = _raw(config)
    ran: list[str] = []
    got: list[pd.DataFrame] = []

    def each_in_its_task(stage: Stage, frame: pd.DataFrame, inputs: PipelineInputs) -> pd.DataFrame:
        ran.append(stage.name)
        return in_tasks(stage, frame, inputs)

    @flow(name="pipeline-in-tasks")
    def in_a_flow() -> None:  # the frame is kept here, not returned: a flow's result may be stored
        got.append(run_pipeline(raw, PipelineInputs(config, overrides), run_step=each_in_its_task))

    in_a_flow()
    assert ran == [stage.name for stage in STAGES]
    pd.testing.assert_frame_equal(got[0], run_pipeline(raw, PipelineInputs(config, overrides)))


def test_the_select_flow_writes_the_decisions_the_pipeline_makes(prefect_server, tmp_path):
    config, config_path, overrides = _with_overrides(tmp_path)
    state = select_cohort(config_path=str(config_path), out_dir=str(tmp_path / "flow"), as_of=AFTER, return_state=True)
    assert state.is_completed()
    source = FileSource(EXAMPLE_PATH)
    values = source.read_values()
    decided = run_pipeline(values_to_frame(values, config.columns), PipelineInputs(config, overrides))
    summary = summarize_selection(decided, config, config_path, input_sha256(source, values), provisional=False)
    write_decisions(decisions_frame(decided, config, provisional=False), summary, tmp_path / "pure")
    flow_csv = (tmp_path / "flow" / "decisions.csv").read_bytes()
    assert flow_csv == (tmp_path / "pure" / "decisions.csv").read_bytes()
    assert b"Staff asked to select this team: board request (Lee)" in flow_csv
