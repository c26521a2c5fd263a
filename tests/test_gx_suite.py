"""The great-expectations suite made from the form: GX's results are the invalid rows and their reasons, they agree
with the plain numpy evaluation of the same checks, every rule of a generated form fails exactly where its answers
break it, and the suite file and Data Docs hold no applicant's answer.

One GX context serves the whole module (tasks.validate.gx_context is made once per process).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import great_expectations as gx
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.generate import HEADERS, generate_rows
from schemas.columns import Col, Derived, Status, check_code, required_code
from schemas.config import parse_config
from schemas.suite import failing
from tasks.normalize import normalize
from tasks.sources import FileSource, values_to_frame
from tasks.validate import check_frame, form_checks_of, run_suite, suite_json, validate, write_gx_report
from tests.support.paths import EXAMPLE_PATH
from tests.support.rows import row

GOOD = row()
cell_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["", " ", "Yes", "No", "yes ", "Not yet", "NY", "Narnia", "6/7/2021 10:00:00", "11/7/2021 1:30:00"]
    ),
    st.sampled_from(["a@b.org", "jane@", "Food Services, Chefs", "Paraeducators", "3/14/2021 2:30:00"]),
)


@st.composite
def sheet_row(draw) -> list[str]:
    """A response row: each cell either the good answer or other text; trailing cells maybe omitted."""
    cells = [draw(st.one_of(st.just(good), cell_text)) for good in GOOD]
    return cells[: draw(st.integers(min_value=0, max_value=len(cells)))]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(sheet_row(), min_size=1, max_size=15))
def test_gx_and_the_numpy_floor_find_the_same_rows_for_every_check(config, rows):
    """A row's reason codes come from GX's results; each check's rows are the ones numpy finds for it."""
    frame = normalize(values_to_frame([list(HEADERS), *rows]), config)
    if frame.empty:
        return
    checked = check_frame(frame, config.timezone, config)
    sheet_rows = checked[Col.SOURCE_ROW].to_numpy()
    validated = validate(frame, config)
    for check in form_checks_of(config):
        has_code = validated[Derived.REASON_CODES].map(lambda codes, code=check.code: code in codes)
        floor = sheet_rows[failing(check, checked)].tolist()
        assert sorted(validated.loc[has_code, Col.SOURCE_ROW].tolist()) == sorted(floor), check.name


def test_gx_results_are_keyed_by_source_row_not_position(config):
    rows = [row(), row(Team_lead_email="jane@"), row(State="Narnia")]
    frame = normalize(values_to_frame([list(HEADERS), *rows]), config)
    frame[Col.SOURCE_ROW] = [40, 7, 19]
    checks = form_checks_of(config)
    found, result = run_suite(check_frame(frame, config.timezone, config), checks)
    assert found[Col.LEAD_EMAIL] == [7] and found[Col.STATE] == [19]
    assert sum(len(rows) for rows in found.values()) == 2
    kept = json.dumps(result.to_json_dict())
    assert "jane@" not in kept and "Narnia" not in kept  # GX keeps no value of a failing row


def test_the_2021_suite_has_one_expectation_per_check_with_its_sentence(config):
    checks = form_checks_of(config)
    written = json.loads(suite_json(checks))
    assert len(written["expectations"]) == len(checks) == 22
    assert [e["meta"]["code"] for e in written["expectations"]] == [check.code for check in checks]
    assert all(e["meta"]["reason"] for e in written["expectations"])
    kinds = {e["type"] for e in written["expectations"]}
    assert kinds == {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_between",
    }
    timestamp = next(e for e in written["expectations"] if e["meta"]["check"] == Col.SUBMITTED_AT)
    assert "submitted_at_clock == 'ok'" in json.dumps(timestamp["kwargs"]["row_condition"])
    reread = gx.ExpectationSuite(**written)  # GX reads it back
    assert len(reread.expectations) == 22
    assert suite_json(checks) == suite_json(checks)


# ------------------------------------------------------------------------------- a generated form's rules

FORM_HEADERS = ["Timestamp", "Email", "Local", "State", "Lead", "Lead email", "Members", "Count", "Agree", "Stage"]
STAGES = ("No", "Planning", "Yes")


def _form_config(config, low: int, high: int, agree: str, when_stage: str | None):
    data = config.model_dump(mode="json", exclude={"form", "columns"})
    data["rubric"], data["reserved_seats"] = [], []
    count_rule = {"field": "count", "kind": "between", "min": low, "max": high, "reason": "Count out of range: {count}"}
    if when_stage is not None:
        count_rule["when"] = {"field": "stage", "equals": when_stage}
    data["form"] = {
        "questions": [
            {"field": "submitted_at", "title": "Timestamp", "type": "timestamp", "required": True},
            {"field": "submitter_email", "title": "Email", "type": "email", "required": True},
            {"field": "local_name", "title": "Local", "type": "text", "required": True},
            {"field": "state", "title": "State", "type": "us_state", "required": True},
            {"field": "lead_name", "title": "Lead", "type": "text", "required": True},
            {"field": "lead_email", "title": "Lead email", "type": "email", "required": True},
            {"field": "member_names", "title": ["Members"], "type": "text"},
            {"field": "count", "title": "Count", "type": "number", "required": True},
            {"field": "agree", "title": "Agree", "type": "yes_no"},
            {"field": "stage", "title": "Stage", "type": "single_choice", "options": list(STAGES)},
        ],
        "rules": [
            count_rule,
            {"field": "agree", "kind": "equals", "value": agree, "reason": "Agree must be " + agree},
            {"field": "stage", "kind": "only_options", "reason": "Stage is not an option: {stage!r}"},
        ],
    }
    return parse_config(data)


answers = st.tuples(
    st.sampled_from(["", "0", "3", "7", "12", "1,200", "2.5", "-1", "many"]),
    st.sampled_from(["", "Yes", "No", "YES", "maybe"]),
    st.sampled_from(["", *STAGES, "Other"]),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    low=st.integers(0, 5),
    span=st.integers(0, 10),
    agree=st.sampled_from(["Yes", "No"]),
    when_stage=st.none() | st.sampled_from(STAGES),
    rows=st.lists(answers, min_size=1, max_size=12),
)
def test_every_rule_of_a_generated_form_fails_exactly_where_its_answers_break_it(
    config, low, span, agree, when_stage, rows
):
    """Each rule's reason code is on a row exactly when the row's own answers break the rule (worked out here in
    plain Python, answer by answer), and the row is invalid exactly when it breaks one."""
    cohort = _form_config(config, low, low + span, agree, when_stage)
    base = ["6/1/2021 12:00:00", "a@b.org", "Troy EA", "NY", "Ann Lee", "a@b.org", "Bo Li"]
    values = [FORM_HEADERS, *[[*base, count, yes, stage] for count, yes, stage in rows]]
    out = validate(normalize(values_to_frame(values, cohort.columns), cohort), cohort)
    for (count, yes, stage), codes, status in zip(rows, out[Derived.REASON_CODES], out[Col.STATUS], strict=True):
        number = float(count.replace(",", "")) if count not in ("", "many") else None
        applies = when_stage is None or stage == when_stage
        expected = {
            required_code("count"): count == "",
            check_code("count_unclear"): count == "many",
            check_code("count"): number is not None and applies and not (low <= number <= low + span),
            check_code("agree_unclear"): yes == "maybe",
            check_code("agree"): yes.casefold() in ("yes", "no") and yes.casefold() != agree.casefold(),
            check_code("stage"): stage == "Other",
        }
        assert {code for code, broken in expected.items() if broken} == set(codes)
        assert (status == Status.INVALID) == any(expected.values())


# ----------------------------------------------------------------------------------- Data Docs, no answers


def _applicant_values(frame: pd.DataFrame) -> set[str]:
    """Every email and name of the input, and every local's name."""
    found: set[str] = set()
    for column in (Col.SUBMITTER_EMAIL, Col.LEAD_EMAIL, Col.LEAD_NAME, Col.LOCAL_NAME):
        found |= {str(v) for v in frame[column] if isinstance(v, str) and len(v) >= 4}
    for column in (Col.MEMBER_NAMES, Col.MEMBER_EMAILS):
        found |= {v for values in frame[column] for v in values if len(v) >= 4}
    return found


def _scan(folder: Path, values: set[str]) -> list[tuple[str, str]]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".json", ".js", ".css", ".txt", ""):
            text = path.read_text(encoding="utf-8", errors="ignore")
            lowered = text.casefold()
            hits += [(path.name, v) for v in values if v.casefold() in lowered or json.dumps(v)[1:-1] in text]
    return hits


def test_data_docs_list_every_rule_with_its_failures_and_no_answer(config, tmp_path):
    # Rows whose failing value is an applicant's own answer: a member's address that is not valid.
    odd = [row(Team_member_2_email=f"dana.{i}@@lakeview{i}.example.org") for i in range(3)]
    rows = [*generate_rows(400, seed=5), *odd]
    example = FileSource(EXAMPLE_PATH).read_values()
    for name, values in (("example", example), ("generated", [list(HEADERS), *rows])):
        frame = normalize(values_to_frame(values, config.columns), config)
        validated = validate(frame, config)
        index = write_gx_report(config, tmp_path / name, name)
        assert index is not None and index.exists()
        docs = index.parent
        pages = list((docs / "validations").rglob("*.html"))
        assert len(pages) == 1
        page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", pages[0].read_text(encoding="utf-8")))
        checks = form_checks_of(config)
        assert f"Evaluated Expectations {len(checks)} " in page  # every rule, with its count of failing rows
        assert "unexpected values found" in page
        suite_page = next((docs / "expectations").rglob("*.html")).read_text(encoding="utf-8")
        for check in checks:  # every rule's sentence and reason code
            assert check.code in suite_page and html.escape(check.reason, quote=False) in suite_page, check.code
        invalid = int((validated[Col.STATUS] == Status.INVALID).sum())
        assert invalid > 0
        values_in = _applicant_values(frame)
        assert len(values_in) > 50
        assert _scan(tmp_path / name, values_in) == []
        assert np.isin(validated[Col.STATUS], [Status.VALID, Status.INVALID]).all()
