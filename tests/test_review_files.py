"""The reviewer files (file source): header, text-only answers, dropdowns of each scale, protection, and a second
write after a late change that keeps what reviewers entered."""

from __future__ import annotations

import openpyxl

from schemas.review import REVIEW_SHEET
from tasks.review_files import reviewer_file, write_reviewer_files
from tests.support.review import assignments, review_config, teams


def test_reviewer_file_round_trip_keeps_entered_scores(tmp_path):
    review = review_config()
    first = assignments([("CA:fresno", "ana@x.org"), ("NY:troy", "ana@x.org"), ("KY:kingston", "bo@x.org")])
    paths = write_reviewer_files(tmp_path, first, teams(), review)
    assert paths == [tmp_path / "reviewers" / "ana@x.org.xlsx", tmp_path / "reviewers" / "bo@x.org.xlsx"]
    book = openpyxl.load_workbook(paths[0])
    sheet = book[REVIEW_SHEET]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "team_key",
        "local_name",
        "state",
        "why_statement",
        "member_emails",
        "vision",
        "readiness",
        "comment",
    )
    assert rows[1][:5] == ("CA:fresno", "Fresno EA", "CA", '=HYPERLINK("x")', "a@f.org; b@f.org")
    assert sheet["D2"].data_type == "s"  # an answer that looks like a formula stays text
    assert [row[0] for row in rows[1:]] == ["CA:fresno", "NY:troy"]
    checks = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    assert checks["F2:F3"].type == "list" and checks["F2:F3"].formula1 == '"1,2,3,4,5"'
    assert checks["G2:G3"].type == "list" and checks["G2:G3"].formula1.startswith('"0,0.5,1,1.5')
    assert sheet.protection.sheet and sheet["D2"].protection.locked and not sheet["F2"].protection.locked
    # Ana scores Troy and comments; then Troy moves to Bo and Kingston comes to Ana.
    sheet["F3"], sheet["G3"], sheet["H3"] = 4, 7.5, "Strong"
    sheet["F2"] = "four"  # a bad value is kept as written too: collection reports it
    book.save(paths[0])
    later = assignments([("CA:fresno", "ana@x.org"), ("KY:kingston", "ana@x.org"), ("NY:troy", "bo@x.org")])
    write_reviewer_files(tmp_path, later, teams(), review)
    ana = list(openpyxl.load_workbook(paths[0])[REVIEW_SHEET].iter_rows(values_only=True))
    assert [row[0] for row in ana[1:]] == ["CA:fresno", "KY:kingston"]
    assert ana[1][5:] == ("four", None, None) and ana[2][5:] == (None, None, None)
    write_reviewer_files(tmp_path, first, teams(), review)  # Troy back to Ana: it leaves Bo's file
    bo = list(openpyxl.load_workbook(paths[1])[REVIEW_SHEET].iter_rows(values_only=True))
    assert [row[0] for row in bo[1:]] == ["KY:kingston"]


def test_a_long_scale_is_checked_as_a_range_and_odd_addresses_make_safe_names(tmp_path):
    review = review_config(criteria=[{"name": "depth", "description": "d", "scale": {"min": 0, "max": 100, "step": 1}}])
    [path] = write_reviewer_files(tmp_path, assignments([("NY:troy", "o'neil/x@x.org")]), teams(), review)
    assert path == reviewer_file(tmp_path, "o'neil/x@x.org") == tmp_path / "reviewers" / "o_neil_x@x.org.xlsx"
    [check] = openpyxl.load_workbook(path)[REVIEW_SHEET].data_validations.dataValidation
    assert (check.type, check.operator, check.formula1, check.formula2) == ("decimal", "between", "0", "100")
