"""Dedupe's worst case: every row in one block (one state, names starting with the same word).

    python -m benchmarks.dedupe_worst [--sizes 1000,5000,10000] [--seed 7] [--repeat 3] [--pairwise]

Each size is a seeded export of distinct locals, all in Illinois and all named "Springfield …" (two made-up
words and a kind of association, no numbers), so every name lands in the same fuzzy-match block; one row in ten
is a resubmission by the same lead with a one-letter typo in a word (a similar name that merges). The rows go
through normalize and validate untimed; the figure is `deduplicate` alone (the fastest of --repeat runs).
--pairwise also times the pair-by-pair comparison the block used before (slow: about 40 s at 10,000 rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = ROOT / "cohorts" / "esp-2021.yaml"
SIZES = (1_000, 5_000, 10_000)
TARGET_ROWS = 10_000
TARGET_SECONDS = 5.0

_CONSONANTS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"
_KINDS = (
    "Education Association",
    "Education Support Professionals Association",
    "Classified Employees Association",
    "Federation of Teachers and School Employees",
)


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.randint(3, 4))).capitalize()


def _typo(rng: random.Random, name: str) -> str:
    """One letter of one of the made-up words changed (never the first word, never a digit)."""
    words = name.split(" ")
    at = rng.randint(1, 2)
    word = words[at]
    spot = rng.randrange(1, len(word))
    words[at] = word[:spot] + rng.choice("aeiouy") + word[spot + 1 :]
    return " ".join(words)


def worst_rows(n: int, seed: int) -> list[list[str]]:
    """N response rows (no header) in one block: one state, one first word, names otherwise distinct."""
    from examples.generate import WINDOW_START, form_timestamp

    rng = random.Random(seed)
    rows: list[list[str]] = []
    teams: list[tuple[str, str, str]] = []
    names: set[str] = set()
    for index in range(n):
        if teams and rng.random() < 0.1:
            name, lead, email = rng.choice(teams)
            name = _typo(rng, name)
        else:
            name = f"Springfield {_word(rng)} {_word(rng)} {rng.choice(_KINDS)}"
            while name in names:
                name = f"Springfield {_word(rng)} {_word(rng)} {rng.choice(_KINDS)}"
            lead = f"Lead {index}"
            email = f"lead{index}@local{index}.example.org"
            teams.append((name, lead, email))
        names.add(name)
        moment = WINDOW_START + dt.timedelta(seconds=30 * index)
        rows.append(
            [
                form_timestamp(moment),
                email,
                name,
                "Illinois",
                "",
                lead,
                email,
                "",
                f"Member {index}",
                f"member{index}@local{index}.example.org",
                *[""] * 6,
                "Clerical Services, Food Services",
                "Elementary School",
                "No",
                "Yes",
                "Yes",
                "We want to support our new ESPs.",
            ]
        )
    return rows


def measure(n: int, config: Any, seed: int, repeat: int, *, pairwise: bool) -> dict[str, Any]:
    import tasks.dedupe as dedupe
    from examples.generate import HEADERS
    from tasks.normalize import normalize
    from tasks.sources import values_to_frame
    from tasks.validate import validate

    frame = validate(normalize(values_to_frame([list(HEADERS), *worst_rows(n, seed)]), config), config)
    keyed = dedupe.add_team_keys(frame)
    pairs = dedupe._similar_name_pairs(keyed, config.dedupe.fuzzy_threshold)
    result: dict[str, Any] = {
        "rows": n,
        "names": int(keyed[dedupe.Derived.NAME_KEY].nunique()),
        "similar_pairs": len(pairs),
    }

    def best() -> tuple[float, Any]:
        seconds, out = float("inf"), None
        for _ in range(repeat):
            start = time.perf_counter()
            out = dedupe.deduplicate(frame, config)
            seconds = min(seconds, time.perf_counter() - start)
        return seconds, out

    result["seconds"], out = best()
    result["duplicates"] = int((out["status"] == "duplicate").sum())
    result["flagged"] = int((out["possible_duplicate_of"] != "").sum())
    if pairwise:
        saved, dedupe.PAIRWISE_MAX_NAMES = dedupe.PAIRWISE_MAX_NAMES, sys.maxsize
        saved_repeat, repeat = repeat, 1
        try:
            result["pairwise_seconds"], before = best()
        finally:
            dedupe.PAIRWISE_MAX_NAMES, repeat = saved, saved_repeat
        result["same_as_pairwise"] = bool(before.equals(out))
    return result


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        'Dedupe, worst case: every row in one block (IL, "Springfield …"), seconds of deduplicate',
        f"{'rows':>8}  {'names':>7}  {'similar pairs':>13}  {'duplicate':>9}  {'flagged':>7}  {'seconds':>8}"
        + ("  pair by pair  same output" if any("pairwise_seconds" in r for r in results) else ""),
    ]
    for r in results:
        line = (
            f"{r['rows']:>8,}  {r['names']:>7,}  {r['similar_pairs']:>13,}  {r['duplicates']:>9,}  "
            f"{r['flagged']:>7,}  {r['seconds']:>8.3f}"
        )
        if "pairwise_seconds" in r:
            line += f"  {r['pairwise_seconds']:>12.3f}  {'yes' if r['same_as_pairwise'] else 'NO'}"
        lines.append(line)
    target = [r for r in results if r["rows"] == TARGET_ROWS]
    if target:
        ok = target[0]["seconds"] <= TARGET_SECONDS
        lines.append(
            f"target: ≤ {TARGET_SECONDS:g} s at {TARGET_ROWS:,} rows in one block: {target[0]['seconds']:.3f} s  "
            f"{'MET' if ok else 'MISSED'}"
        )
    else:
        lines.append(f"target: ≤ {TARGET_SECONDS:g} s at {TARGET_ROWS:,} rows: not measured (size not in --sizes)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES), help="row counts, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size; the fastest is reported")
    parser.add_argument("--pairwise", action="store_true", help="also time the pair-by-pair comparison")
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    from schemas.config import load_config

    config = load_config(CONFIG_PATH)
    sizes = [int(part.replace("_", "")) for part in args.sizes.split(",") if part.strip()]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, fastest of {args.repeat}", flush=True)
    results = [measure(n, config, args.seed, args.repeat, pairwise=args.pairwise) for n in sizes]
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
