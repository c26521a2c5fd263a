"""Seeded synthetic Google Form exports for the 2021 call, with the mess real forms have.

`python -m examples.generate --rows 1000 --seed 7 --out responses.csv` writes N rows; the bundled
example (`examples/esp-2021-responses.csv`) is `example_rows()` and is rebuilt with `--example`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from schemas.columns import EDUCATION_LEVELS, JOB_FAMILIES
from schemas.states import USPS_STATES

HEADERS: tuple[str, ...] = (
    "Timestamp",
    "Email Address",
    "Local Association name",
    "State",
    "State affiliate",
    "Team lead name",
    "Team lead email",
    "Team lead phone",
    "Team member 2 name",
    "Team member 2 email",
    "Team member 3 name",
    "Team member 3 email",
    "Team member 4 name",
    "Team member 4 email",
    "Team member 5 name",
    "Team member 5 email",
    "ESP job families represented on the team",
    "Education levels your local serves",
    "Does your local currently have an ESP mentoring program?",
    "Has your local president approved this application?",
    "Can your team commit to the 9-week course schedule?",
    "Why does your local want to build an ESP mentoring program?",
)

ZONE = ZoneInfo("America/New_York")
DEADLINE = dt.datetime(2021, 6, 7, 10, 0, 0, tzinfo=ZONE)
WINDOW_START = dt.datetime(2021, 5, 3, 8, 0, 0, tzinfo=ZONE)

_CITIES = (
    "Troy",
    "Springfield",
    "Riverside",
    "Franklin",
    "Greenville",
    "Bristol",
    "Clinton",
    "Fairview",
    "Salem",
    "Madison",
    "Georgetown",
    "Arlington",
    "Ashland",
    "Dover",
    "Oxford",
    "Jackson",
    "Burlington",
    "Manchester",
    "Milton",
    "Newport",
    "Auburn",
    "Dayton",
    "Lexington",
    "Milford",
    "Winchester",
    "Hudson",
    "Kingston",
    "Mount Vernon",
    "Centerville",
    "Lakewood",
    "Marion",
    "Cedar Falls",
    "Bloomington",
    "Rockford",
    "Columbus",
    "Aurora",
    "Lincoln",
    "Hamilton",
)
_KINDS = (
    ("Education Association", "Education Assn"),
    ("Education Support Professionals Association", "ESP Association"),
    ("Classified Employees Association", "Classified Employees Assn"),
    ("Federation of Teachers and School Employees", "Federation of Teachers & School Employees"),
)
_FIRST = (
    "Maria",
    "James",
    "Linda",
    "Robert",
    "Patricia",
    "Michael",
    "Jennifer",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Carlos",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Kevin",
    "Karen",
    "Anh",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Betty",
    "José",
    "Renée",
    "Zoë",
)
_LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Nguyen",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "O'Brien",
    "Müller",
)
_BIG_STATES = ("CA", "TX", "NY", "IL", "PA", "OH", "FL", "MI", "NJ", "WA")
_STATE_WEIGHTS = tuple(sorted(USPS_STATES)) + _BIG_STATES * 4
_STAGES = ("No", "In development", "Yes, established")
_WHY = (
    "Our ESPs are the backbone of our schools and new members need a guide in their first year.",
    "We lose too many new paraeducators in their first two years; mentoring would help them stay.",
    "Members asked for it at our last assembly and we want to build it right.",
    "We want to grow leaders among our ESP members and support each other.",
)


def form_timestamp(moment: dt.datetime) -> str:
    """The Forms `M/D/YYYY H:MM:SS` text of a moment in the form owner's zone."""
    local = moment.astimezone(ZONE)
    return f"{local.month}/{local.day}/{local.year} {local.hour}:{local.minute:02d}:{local.second:02d}"


def _person(rng: random.Random, domain: str) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    email = f"{first}.{last}".lower().replace("'", "").replace(" ", "") + f"@{domain}"
    return f"{first} {last}", email


def _team(rng: random.Random, team_id: int) -> dict[str, object]:
    city = _CITIES[team_id % len(_CITIES)]
    kind = _KINDS[(team_id // len(_CITIES)) % len(_KINDS)]
    code = rng.choice(_STATE_WEIGHTS)
    suffix = f" District {team_id // (len(_CITIES) * len(_KINDS))}" if team_id >= len(_CITIES) * 4 else ""
    domain = f"{city.lower().replace(' ', '')}{team_id}.example.org"
    lead, lead_email = _person(rng, domain)
    return {
        "names": (f"{city} {kind[0]}{suffix}", f"{city} {kind[1]}{suffix}"),
        "state": code,
        "lead": lead,
        "lead_email": lead_email,
        "domain": domain,
        "members": [_person(rng, domain) for _ in range(rng.choice((1, 1, 2, 3, 3, 4)))],
    }


def _row(rng: random.Random, team: dict[str, object], moment: dt.datetime, *, variant: bool) -> list[str]:
    names: tuple[str, str] = team["names"]  # type: ignore[assignment]
    local = names[1] if variant else names[0]
    if variant and rng.random() < 0.5:
        local = f"  {local.lower()} "
    code: str = team["state"]  # type: ignore[assignment]
    state = USPS_STATES[code] if rng.random() < 0.5 else code
    if rng.random() < 0.1:
        state = state.lower()
    members: list[tuple[str, str]] = team["members"]  # type: ignore[assignment]
    member_cells: list[str] = []
    for slot in range(4):
        member_cells += list(members[slot]) if slot < len(members) else ["", ""]
    submitter = team["lead_email"] if rng.random() < 0.7 else _person(rng, team["domain"])[1]  # type: ignore[arg-type]
    families = rng.sample(JOB_FAMILIES, rng.randint(1, 4))
    levels = rng.sample(EDUCATION_LEVELS, rng.randint(1, 3))
    return [
        form_timestamp(moment),
        str(submitter).upper() if rng.random() < 0.1 else str(submitter),
        local,
        state,
        f"{USPS_STATES[code]} Education Association" if rng.random() < 0.6 else "",
        str(team["lead"]),
        str(team["lead_email"]),
        f"({rng.randint(200, 989)}) 555-{rng.randint(1000, 9999)}" if rng.random() < 0.7 else "",
        *member_cells,
        ", ".join(sorted(families, key=JOB_FAMILIES.index)),
        ", ".join(sorted(levels, key=EDUCATION_LEVELS.index)),
        rng.choice(_STAGES),
        "Yes" if rng.random() < 0.95 else "No",
        "Yes" if rng.random() < 0.96 else "No",
        rng.choice(_WHY),
    ]


def _mess(rng: random.Random, row: list[str]) -> list[str]:
    """Damage a few rows the way real responses are damaged."""
    roll = rng.random()
    if roll < 0.03:
        row[6] = row[6].split("@")[0] + "@"
    elif roll < 0.05:
        row[2] = ""
    elif roll < 0.07:
        row[16] = row[16] + ", Cafeteria Management"
    elif roll < 0.08:
        row[8:16] = [""] * 8
    return row


def generate_rows(n: int, seed: int = 0) -> list[list[str]]:
    """N response rows (without the header) in timestamp order, as the responses sheet holds them."""
    rng = random.Random(seed)
    window = (DEADLINE - WINDOW_START).total_seconds()
    teams = [_team(rng, i) for i in range(max(1, int(n * 0.85)))]
    rows: list[tuple[dt.datetime, list[str]]] = []
    for index in range(n):
        resubmission = index >= len(teams)
        team = teams[rng.randrange(len(teams))] if resubmission else teams[index]
        late = rng.random() < 0.04
        offset = rng.uniform(0, 3 * 86400) if late else rng.uniform(0, window)
        moment = (DEADLINE + dt.timedelta(seconds=offset)) if late else (WINDOW_START + dt.timedelta(seconds=offset))
        moment = moment.replace(microsecond=0)
        rows.append((moment, _mess(rng, _row(rng, team, moment, variant=resubmission))))
    rows.sort(key=lambda pair: pair[0])
    return [row for _, row in rows]


def _featured_rows() -> list[list[str]]:
    """Hand-made rows around the deadline and a resubmission with a name variant."""
    troy = [
        "Troy Education Association",
        "NY",
        "New York State United Teachers",
        "Dana Whitfield",
        "dana.whitfield@troyea.example.org",
        "(518) 555-0142",
        "Luis Ortega",
        "luis.ortega@troyea.example.org",
        "Kim Tran",
        "kim.tran@troyea.example.org",
        "",
        "",
        "",
        "",
        "Clerical Services, Food Services, Paraeducators, Transportation Services",
        "Elementary School, Middle School, High School",
        "No",
        "Yes",
        "Yes",
        "New bus drivers and cafeteria staff leave within a year; we want peers to help them stay.",
    ]
    resubmitted = list(troy)
    resubmitted[0] = "  troy education assn "
    resubmitted[1] = "New York"
    resubmitted[10:12] = ["Ray Okafor", "ray.okafor@troyea.example.org"]
    edge = [
        (
            "6/7/2021 9:59:58",
            "Springfield Classified Employees Association",
            "IL",
            "Ana Ruiz",
            "ana.ruiz@sce.example.org",
        ),
        ("6/7/2021 10:00:00", "Lakewood ESP Association", "Ohio", "Bo Chen", "bo.chen@lesp.example.org"),
        ("6/7/2021 10:00:01", "Aurora Education Support Professionals", "CO", "Ed Park", "ed.park@aesp.example.org"),
        ("6/7/2021 10:02:13", "Kingston Federation of School Employees", "WA", "Jo Hale", "jo.hale@kfse.example.org"),
    ]
    rows = [
        ["5/20/2021 14:03:11", "dana.whitfield@troyea.example.org", *troy],
        ["6/2/2021 8:45:30", "DANA.WHITFIELD@troyea.example.org", *resubmitted],
    ]
    rows.append(
        [
            "5/28/2021 16:20:45",
            "jane.doe@fairviewea.example.org",
            "Fairview Education Association",
            "Pennsylvannia",
            "",
            "Jane Doe",
            "jane@",
            "",
            "Sam Poe",
            "sam.poe@fairviewea.example.org",
            "",
            "",
            "",
            "",
            "",
            "",
            "Food Services, Cafeteria Management",
            "Elementary School",
            "No",
            "Yes",
            "",
            "We are still working out our schedule.",
        ]
    )
    rows.append(
        [
            "6/3/2021 11:12:09",
            "pat.lane@troyesp.example.org",
            "Troy Educational Association",
            "NY",
            "",
            "Pat Lane",
            "pat.lane@troyesp.example.org",
            "",
            "Sky Moss",
            "sky.moss@troyesp.example.org",
            "",
            "",
            "",
            "",
            "",
            "",
            "Security Services, Technical Services",
            "High School",
            "Yes, established",
            "Yes",
            "Yes",
            "A different Troy local: our members asked for a peer program.",
        ]
    )
    for stamp, local, state, lead, email in edge:
        rows.append(
            [
                stamp,
                email,
                local,
                state,
                "",
                lead,
                email,
                "",
                "Pat Doe",
                "pat.doe@example.org",
                "",
                "",
                "",
                "",
                "",
                "",
                "Custodial and Maintenance Services, Skilled Trades",
                "High School",
                "In development",
                "Yes",
                "Yes",
                "We want to support new custodial and trades staff.",
            ]
        )
    return rows


def example_rows() -> list[list[str]]:
    """The bundled 2021 example: about 60 rows, featured edge cases included, in timestamp order."""
    from datetime import datetime

    rows = generate_rows(52, seed=2021) + _featured_rows()
    return sorted(rows, key=lambda r: datetime.strptime(r[0], "%m/%d/%Y %H:%M:%S"))


def write_csv(rows: list[list[str]], path: Path) -> None:
    """Write an export the way Google Sheets downloads one: header row, then the responses."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows(rows)


def iter_sheet_values(rows: list[list[str]]) -> Iterator[list[str]]:
    """Rows as the Sheets API returns them: trailing empty cells omitted."""
    yield list(HEADERS)
    for row in rows:
        trimmed = list(row)
        while trimmed and trimmed[-1] == "":
            trimmed.pop()
        yield trimmed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--example", action="store_true", help="write the bundled 2021 example instead")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    write_csv(example_rows() if args.example else generate_rows(args.rows, args.seed), args.out)


if __name__ == "__main__":
    main()
