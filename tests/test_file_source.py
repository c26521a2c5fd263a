"""File exports: CSV and XLSX give the same rows with the same sheet row numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from examples.generate import HEADERS, example_rows, generate_rows, write_csv
from schemas.columns import Col
from tasks.normalize import normalize
from tasks.sources import FileSource, SourceError, source_for, values_to_frame
from tests.support.paths import EXAMPLE_PATH
from tests.support.rows import row


def test_bundled_example_is_what_the_generator_writes(tmp_path):
    fresh = tmp_path / "example.csv"
    write_csv(example_rows(), fresh)
    assert fresh.read_bytes() == EXAMPLE_PATH.read_bytes()


def test_generator_is_seeded():
    assert generate_rows(50, seed=3) == generate_rows(50, seed=3)
    assert generate_rows(50, seed=3) != generate_rows(50, seed=4)
    assert len(generate_rows(1234, seed=1)) == 1234


def test_csv_and_xlsx_give_the_same_frame(tmp_path, config):
    rows = example_rows()
    csv_path = tmp_path / "responses.csv"
    write_csv(rows, csv_path)
    xlsx_path = tmp_path / "responses.xlsx"
    pd.DataFrame(rows, columns=list(HEADERS)).to_excel(xlsx_path, index=False)
    from_csv = normalize(values_to_frame(FileSource(csv_path).read_values()), config)
    from_xlsx = normalize(values_to_frame(FileSource(xlsx_path).read_values()), config)
    assert len(from_csv) == len(rows)
    pd.testing.assert_frame_equal(from_csv, from_xlsx)
    assert from_csv[Col.SOURCE_ROW].tolist() == list(range(2, len(rows) + 2))


def test_xlsx_with_real_date_cells(tmp_path, config):
    frame = pd.DataFrame([row()], columns=list(HEADERS))
    frame["Timestamp"] = pd.Timestamp("2021-06-07 09:59:58")
    path = tmp_path / "dates.xlsx"
    frame.to_excel(path, index=False)
    got = normalize(values_to_frame(FileSource(path).read_values()), config)
    assert got.loc[0, Col.SUBMITTED_AT] == pd.Timestamp("2021-06-07 13:59:58", tz="UTC")


def test_csv_with_bom_and_blank_lines(tmp_path, config):
    path = tmp_path / "bom.csv"
    write_csv([row(), [""] * len(HEADERS), row()], path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    frame = normalize(values_to_frame(FileSource(path).read_values()), config)
    assert frame[Col.SOURCE_ROW].tolist() == [2, 4]


def test_file_problems_are_clear(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        FileSource(tmp_path / "nope.csv").read_values()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SourceError, match="empty"):
        values_to_frame(FileSource(empty).read_values())
    latin1 = tmp_path / "latin1.csv"
    latin1.write_text("Timestamp,State\n1,Caf\u00e9\n", encoding="latin-1")
    with pytest.raises(SourceError, match=r"latin1.csv is not UTF-8 text: line 2 has a byte \(0xe9\)"):
        FileSource(latin1).read_values()
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("Timestamp,State\n1,2\n", encoding="utf-16")
    assert FileSource(utf16).read_values() == [["Timestamp", "State"], ["1", "2"]]


def test_submissions_override_the_configured_source(tmp_path, config):
    other = tmp_path / "other.csv"
    assert source_for(config, other) == FileSource(other)
    assert source_for(config) == FileSource(config.source.path)
