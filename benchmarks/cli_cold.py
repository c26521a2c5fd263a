"""`cohort-select select` from a cold process: wall time of N runs, and where the time goes.

    python -m benchmarks.cli_cold [--runs 3]

Each run is a new process of the installed `cohort-select select` on the bundled example, with its own copy of
cohorts/esp-2021.yaml (the demo's copy: the bundled responses, a state store of its own), its own out folder and
`--as-of "2021-06-08 09:00"`, PREFECT_API_URL unset, so the command starts Prefect's temporary server itself. The
runs share one temporary PREFECT_HOME, as one staff member's runs share theirs: the first run creates Prefect's
database there and is reported apart from the others.

The breakdown times the parts one after the other, each in a new process: the imports (`python -X importtime` of a
whole run, grouped by top-level package), the start of the temporary server to its first healthy answer, and the
run itself (the command's main() once its imports are done and the server is up). A cold run overlaps the server's
start with the imports, so its wall time is below the sum of the parts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2021-06-08 09:00"
TARGET_SECONDS = 8.0
# The packages the breakdown names; every other import is counted as "other".
PACKAGES = ("great_expectations", "prefect", "pandas", "numpy", "sqlalchemy", "pydantic", "flows", "tasks", "schemas")

# Run in a new process by `phases`: the parts of one cold run, timed one after the other.
PHASES = """
import json, sys, time
start = time.perf_counter()
from flows import local_server
server = local_server.start_local_server()  # before Prefect is imported, as the command does
if server is None:
    raise SystemExit("PREFECT_API_URL is set: the breakdown needs the temporary server")
server.wait_until_healthy()
served = time.perf_counter()
import flows.cli, flows.steps, flows.select_cohort
from tasks.validate import gx_context
gx_context()
imported = time.perf_counter()
code = flows.cli.main(sys.argv[1:])  # Prefect is imported: it uses the server started above
done = time.perf_counter()
print(json.dumps({"server": served - start, "imports": imported - served, "run": done - imported, "code": code}))
"""


def environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "GX_ANALYTICS_ENABLED": "False",
        "DO_NOT_TRACK": "1",
    }
    return env


def cohort_copy(folder: Path) -> Path:
    """The demo's copy of cohorts/esp-2021.yaml in `folder`: the bundled responses, its own state store."""
    from schemas.config import read_config_data
    from tasks.demo import BUNDLED_RESPONSES, DEFAULT_COHORT, demo_cohort_data

    folder.mkdir(parents=True)
    data = demo_cohort_data(read_config_data(DEFAULT_COHORT), DEFAULT_COHORT.parent, BUNDLED_RESPONSES, folder)
    path = folder / "cohort.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def select_args(folder: Path) -> list[str]:
    return ["select", "--config", str(cohort_copy(folder)), "--out", str(folder / "out"), "--as-of", AS_OF]


def command() -> list[str]:
    return [str(Path(sys.executable).with_name("cohort-select"))]


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_run(folder: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds of one `cohort-select select` process, the CPU seconds it and its server used (user + system:
    what the machine's load does not change much), and its exit status (0 only with decisions.csv)."""
    args = select_args(folder)
    cpu, start = _cpu_of_children(), time.perf_counter()
    done = subprocess.run([*command(), *args], env=env, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - start, _cpu_of_children() - cpu
    if done.returncode != 0 or not (folder / "out" / "decisions.csv").exists():
        print(f"  run in {folder.name} failed ({done.returncode}): {done.stderr[-1500:]}", file=sys.stderr)
        return seconds, cpu, done.returncode or 1
    return seconds, cpu, 0


def imports(folder: Path, env: dict[str, str]) -> dict[str, float]:
    """Seconds of the imports of one whole run (python -X importtime), by top-level package."""
    code = "import sys; from flows.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-X", "importtime", "-c", code, *select_args(folder)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    totals = dict.fromkeys((*PACKAGES, "other"), 0.0)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith("  ") or not cumulative.strip().isdigit():  # only top-level imports: no double count
            continue
        package = name.strip().split(".")[0]
        totals[package if package in totals else "other"] += int(cumulative) / 1e6
    return totals


def phases(folder: Path, env: dict[str, str]) -> dict[str, float]:
    """The parts of one cold run, one after the other, in a new process (PHASES)."""
    done = subprocess.run(
        [sys.executable, "-c", PHASES, *select_args(folder)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the breakdown run failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold runs after the first (default 3)")
    args = parser.parse_args(argv)
    print(f"cohort-select select, cold: 1 + {args.runs} runs, {os.cpu_count()} CPUs, load average {load()}")
    with tempfile.TemporaryDirectory(prefix="cohort-select-cli-cold-") as tmp:
        work = Path(tmp)
        env = environment(work / "prefect-home")
        first, first_cpu, failed = cold_run(work / "run-0", env)
        walls, cpus = [], []
        for n in range(1, args.runs + 1):
            seconds, cpu, code = cold_run(work / f"run-{n}", env)
            walls.append(seconds)
            cpus.append(cpu)
            failed = failed or code
        by_package = imports(work / "imports", env)
        parts = phases(work / "phases", env)
        shutil.rmtree(work / "prefect-home", ignore_errors=True)
    print(f"load average at the end {load()}")
    print()
    print(f"first run (new PREFECT_HOME: Prefect's database created)  {first:6.2f} s wall, {first_cpu:6.2f} s CPU")
    if walls:
        print(
            f"cold runs (PREFECT_HOME as left)    median {statistics.median(walls):6.2f} s   "
            f"min {min(walls):.2f}  max {max(walls):.2f}   ({', '.join(f'{w:.2f}' for w in walls)})"
        )
        print(
            f"  CPU (user + system, command and server) median {statistics.median(cpus):6.2f} s   "
            f"({', '.join(f'{c:.2f}' for c in cpus)})"
        )
        met = statistics.median(walls) <= TARGET_SECONDS
        print(f"target: median <= {TARGET_SECONDS:.0f} s  {'MET' if met else 'NOT MET'}")
    print()
    print("breakdown, each part in a new process, one after the other:")
    print(f"  temporary server: start to healthy, alone              {parts['server']:6.2f} s")
    print(f"  imports and the GX context (what overlaps the server)  {parts['imports']:6.2f} s")
    print(f"  run (main(): the flow, GX context and suite, writes)   {parts['run']:6.2f} s")
    total = sum(parts[key] for key in ("imports", "server", "run"))
    print(f"  sum                                                    {total:6.2f} s")
    print()
    print("imports of one whole run (python -X importtime: top-level imports with what they import; importtime")
    print("adds a cost of its own):")
    for package, seconds in sorted(by_package.items(), key=lambda item: -item[1]):
        print(f"  {package:<20} {seconds:6.2f} s")
    print(f"  {'total':<20} {sum(by_package.values()):6.2f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
