"""Seeded synthetic exports of the 2022 call's form: the 2021 form edited the way forms get edited between calls.

Two questions renamed ("Local Association name", "Team lead email"), the commitment question dropped, a required
number question added ("How many ESPs does your local represent?", at least 10), and one more ESP job family on the
checkbox list. The rows are the 2021 generator's, a year later (the deadline is Monday June 6 2022, 10:00 AM EDT).

`python -m examples.generate_2022 --example --out examples/esp-2022-responses.csv` rebuilds the bundled example;
`--rows N --seed S --out FILE` writes N rows.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

from examples.generate import HEADERS, example_rows, generate_rows

RENAMED = {
    "Local Association name": "Name of your local association",
    "Team lead email": "Team lead's email address",
}
DROPPED = "Can your team commit to the 9-week course schedule?"
ADDED = "How many ESPs does your local represent?"
NEW_JOB_FAMILY = "Library and Media Services"
_YEAR_LATER = dt.timedelta(days=364)  # Monday June 7 2021 → Monday June 6 2022
_FORMAT = "%m/%d/%Y %H:%M:%S"
_KEEP = [i for i, title in enumerate(HEADERS) if title != DROPPED]
_WHY = HEADERS.index("Why does your local want to build an ESP mentoring program?")
_FAMILIES = HEADERS.index("ESP job families represented on the team")

HEADERS_2022: tuple[str, ...] = (
    *[RENAMED.get(HEADERS[i], HEADERS[i]) for i in _KEEP if i != _WHY],
    ADDED,
    HEADERS[_WHY],
)


def _a_year_later(stamp: str) -> str:
    try:
        moment = dt.datetime.strptime(stamp, _FORMAT) + _YEAR_LATER
    except ValueError:
        return stamp  # a timestamp the 2021 generator wrote unreadable stays so
    return f"{moment.month}/{moment.day}/{moment.year} {moment.hour}:{moment.minute:02d}:{moment.second:02d}"


def _esp_count(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.03:
        return ""  # left empty: invalid (required)
    if roll < 0.06:
        return str(rng.randint(1, 9))  # below the minimum of 10
    if roll < 0.08:
        return "about 200"  # not a number
    count = rng.randint(10, 2500)
    return f"{count:,}" if count >= 1000 and rng.random() < 0.5 else str(count)


def to_2022(rows: list[list[str]], seed: int) -> list[list[str]]:
    """2021 rows as the 2022 form's: a year later, no commitment answer, an ESP count, sometimes the new family."""
    rng = random.Random(seed)
    made = []
    for row in rows:
        cells = list(row) + [""] * (len(HEADERS) - len(row))
        cells[0] = _a_year_later(cells[0])
        if cells[_FAMILIES] and rng.random() < 0.2:
            cells[_FAMILIES] = f"{cells[_FAMILIES]}, {NEW_JOB_FAMILY}"
        made.append([*[cells[i] for i in _KEEP if i != _WHY], _esp_count(rng), cells[_WHY]])
    return made


def write_csv(rows: list[list[str]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS_2022)
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--example", action="store_true", help="write the bundled 2022 example instead")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = to_2022(example_rows(), 2022) if args.example else to_2022(generate_rows(args.rows, args.seed), args.seed)
    write_csv(rows, args.out)


if __name__ == "__main__":
    main()
