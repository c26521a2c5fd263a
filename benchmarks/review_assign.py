"""Time of the reviewer assignment at 500 teams × 40 reviewers, with the figures staff would read: loads, conflicts
avoided. Prints a plain-text table; asserts nothing.

    .venv/bin/python -m benchmarks.review_assign [--teams 500] [--reviewers 40] [--per-application 2] [--repeat 5]

The teams are spread over 20 states (half with a state affiliate named), each with a lead and two members; the
reviewers over the same states, every fifth with a cap of 10, one in ten on a team's member list, so every rule
(state, affiliate, shared email, caps, balance) is at work.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import pandas as pd

from schemas.review import RosterCol
from tasks.review_assign import assign, conflicts, loads, roster_frame

STATES = ("AL", "AZ", "CA", "CO", "FL", "GA", "IL", "KY", "MA", "MI", "MN", "NJ", "NY", "NC", "OH", "OR", "PA", "TX")
STATES += ("VA", "WA")


def _affiliate(state: str) -> str:
    return f"{state} Education Association"


def cohort(teams: int, reviewers: int, seed: int = 18) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded synthetic call: the eligible teams and the roster."""
    rnd = random.Random(seed)
    roster = pd.DataFrame(
        {
            RosterCol.NAME: [f"Reviewer {j}" for j in range(reviewers)],
            RosterCol.EMAIL: [f"reviewer{j}@review.example.org" for j in range(reviewers)],
            RosterCol.STATE: [STATES[j % len(STATES)] for j in range(reviewers)],
            RosterCol.AFFILIATE: [
                _affiliate(STATES[(j + 1) % len(STATES)]) if j % 3 == 0 else "" for j in range(reviewers)
            ],
            RosterCol.CAP: ["10" if j % 5 == 0 else "" for j in range(reviewers)],
        }
    )
    states = [rnd.choice(STATES) for _ in range(teams)]
    frame = pd.DataFrame(
        {
            "team_key": [f"{s}:local association {i}" for i, s in enumerate(states)],
            "source_row": range(2, teams + 2),
            "state": states,
            "local_name": [f"Local Association {i}" for i in range(teams)],
            "affiliate": [_affiliate(s) if rnd.random() < 0.5 else "" for s in states],
            "lead_email": [f"lead{i}@local{i}.example.org" for i in range(teams)],
            "member_emails": [
                [f"m{i}a@local{i}.example.org", rnd.choice(roster[RosterCol.EMAIL]) if i % 10 == 0 else f"m{i}b@x.org"]
                for i in range(teams)
            ],
        }
    )
    return frame, roster_frame(roster)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--reviewers", type=int, default=40)
    parser.add_argument("--per-application", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    teams, roster = cohort(args.teams, args.reviewers)
    times, result = [], pd.DataFrame()
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = assign(teams, roster, args.per_application)
        times.append(time.perf_counter() - start)
    load = loads(result, roster)
    capped = roster[RosterCol.CAP].notna().to_numpy()
    found = conflicts(teams, roster).any
    print(f"review assignment: {args.teams} teams × {args.reviewers} reviewers, {args.per_application} each")
    print(f"  assignments           {len(result)}")
    print(f"  time (s)              median {statistics.median(times):.3f}  min {min(times):.3f}  max {max(times):.3f}")
    print(f"                        over {args.repeat} runs")
    print(f"  load without a cap    {load[~capped].min()}–{load[~capped].max()} ({(~capped).sum()} reviewers)")
    print(f"  load with cap 10      {load[capped].min()}–{load[capped].max()} ({capped.sum()} reviewers)")
    print(f"  conflicts avoided     {int(found.sum())} of {found.size} team–reviewer pairs not allowed")


if __name__ == "__main__":
    main()
