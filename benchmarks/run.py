"""Benchmarks: time and peak memory of every pipeline step at 1,000, 10,000 and 100,000 rows, against a floor.

    python -m benchmarks.run [--sizes 1000,10000,100000] [--seed 7] [--skip-prefect] [--skip-cli]

Each size is a seeded synthetic CSV export (examples.generate). Times come from one pass without tracemalloc
(plus a separate end-to-end run); peak memory from a second pass under tracemalloc, per step as the peak above
what was allocated when the step began. The floor (benchmarks/floor.py) is the same work in plain pandas.
Then the select_cohort flow under a temporary Prefect server, the Sheets API request count, SMTP throughput of
the project's sender against raw smtplib (benchmarks/smtp.py), dedupe's worst case (benchmarks/dedupe_worst.py:
every row in one fuzzy-match block), the targets, and `cohort-select select` from a cold process
(benchmarks/cli_cold.py, two runs after the first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import cli_cold
from benchmarks.dedupe_worst import SIZES as WORST_SIZES
from benchmarks.dedupe_worst import measure as measure_worst
from benchmarks.dedupe_worst import report as report_worst
from benchmarks.smtp import PASSES as SMTP_PASSES
from benchmarks.smtp import bench_smtp, report_smtp

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = ROOT / "cohorts" / "esp-2021.yaml"
# Between reading the export and writing the decisions: the stages of tasks/pipeline.py, by name.
PIPELINE_STEPS = ("normalize", "validate", "dedupe", "cutoff", "apply overrides", "score", "select", "staff notes")
STEPS = ("read", *PIPELINE_STEPS, "write")
SHEET_SIZES = (1_000, 100_000)
SHEET_KEY = "1BenchMarkSheetKey0123456789abcdefghij"
SHEET_TAB = "Form Responses 1"
MiB = 1024 * 1024

# Targets from the "Benchmarks" issue.
FLOOR_RATIO_MAX = 3.0
END_TO_END_MAX_SECONDS = 10.0
END_TO_END_ROWS = 100_000
DEDUPE_GROWTH_MAX = 12.0
SHEET_REQUESTS_MAX = 4
# From the "form is data" issue: the validate step with the real suite, after GX's one-time setup.
VALIDATE_ROWS = 1_000
VALIDATE_MAX_SECONDS = 0.3

Step = Callable[..., Any]


@dataclass
class SizeResult:
    rows: int
    generate_seconds: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    peak_mib: dict[str, float] = field(default_factory=dict)
    e2e_select_seconds: float = 0.0
    e2e_total_seconds: float = 0.0
    e2e_select_mib: float = 0.0
    e2e_total_mib: float = 0.0
    floor_seconds: float = 0.0
    floor_mib: float = 0.0
    pipeline_counts: dict[str, int] = field(default_factory=dict)
    pipeline_invalid_at_validate: int = 0
    floor_counts: dict[str, int] = field(default_factory=dict)
    # Inside validate: the checked frame (Python), GX's run of the suite, and the numpy floor of the same checks.
    suite_seconds: dict[str, float] = field(default_factory=dict)
    expectations: int = 0


def _prepare_environment() -> Path:
    """Before anything imports prefect: a private PREFECT_HOME, no analytics, quiet logs."""
    home = Path(tempfile.mkdtemp(prefix="cohort-select-bench-prefect-"))
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    return home


def _fresh_process_state() -> None:
    """Drop caches that would let a second run of the same data skip work the first one did."""
    from tasks.validate import is_valid_address

    is_valid_address.cache_clear()
    gc.collect()


# ---------------------------------------------------------------------------- the pipeline, step by step


def run_pipeline(path: Path, config: Any, out_dir: Path, step: Step) -> Any:
    """The pure pipeline (tasks.pipeline, no overrides) on a CSV export; `step(name, fn, *args)` runs each step (and
    may measure it)."""
    from tasks import pipeline
    from tasks.decisions import decisions_frame, summarize_selection, write_decisions
    from tasks.sources import FileSource, input_sha256, values_to_frame

    def read() -> tuple[Any, str]:
        source = FileSource(path)
        values = source.read_values()
        return values_to_frame(values), input_sha256(source, values)

    def write(decided: Any, input_sha: str) -> None:
        summary = summarize_selection(decided, config, CONFIG_PATH, input_sha, provisional=False)
        write_decisions(decisions_frame(decided, config, provisional=False), summary, out_dir)

    def run_stage(stage: pipeline.Stage, frame: Any, inputs: pipeline.PipelineInputs) -> Any:
        return step(stage.name, stage.run, frame, inputs)

    frame, input_sha = step("read", read)
    frame = pipeline.run_pipeline(frame, pipeline.PipelineInputs(config), run_step=run_stage)
    step("write", write, frame, input_sha)
    return frame


class Timer:
    """Wall-clock seconds per step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, fn: Step, *args: Any) -> Any:
        start = time.perf_counter()
        result = fn(*args)
        self.seconds[name] = time.perf_counter() - start
        return result


class Checkpoints:
    """An unmeasured run that only notes the clock after each step, for the end-to-end times."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.validated: Any = None

    def __call__(self, name: str, fn: Step, *args: Any) -> Any:
        result = fn(*args)
        self.at[name] = time.perf_counter()
        if name == "validate":
            self.validated = result["status"]
        return result


class MemoryProbe:
    """Under tracemalloc: per step, the peak above what was allocated when it began; and the running peak."""

    def __init__(self) -> None:
        self.baseline = tracemalloc.get_traced_memory()[0]
        self.peak_mib: dict[str, float] = {}
        self.running_peak_mib: dict[str, float] = {}
        self._highest = 0

    def __call__(self, name: str, fn: Step, *args: Any) -> Any:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn(*args)
        peak = tracemalloc.get_traced_memory()[1]
        self.peak_mib[name] = (peak - before) / MiB
        self._highest = max(self._highest, peak)
        self.running_peak_mib[name] = (self._highest - self.baseline) / MiB
        return result


def _traced(fn: Callable[[], Any]) -> tuple[Any, float]:
    """fn's result and its peak traced allocation above the start, in MiB."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, (peak - before) / MiB


def _status_counts(frame: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame["status"].value_counts().sort_index().items()}


def warm_up(work: Path, config: Any, seed: int) -> float:
    """One small run so lazy imports are paid before timing; returns the GX setup time (see below)."""
    from benchmarks.floor import floor
    from examples.generate import generate_rows, write_csv
    from tasks.normalize import normalize
    from tasks.sources import FileSource, values_to_frame
    from tasks.validate import validate

    path = work / "warm-up.csv"
    write_csv(generate_rows(200, seed=seed), path)
    small = normalize(values_to_frame(FileSource(path).read_values()), config)
    # The first validate call builds the GX context and suite (cached per process); the second reuses them.
    start = time.perf_counter()
    validate(small, config)
    first = time.perf_counter() - start
    _fresh_process_state()
    start = time.perf_counter()
    validate(small, config)
    warm = time.perf_counter() - start
    run_pipeline(path, config, work / "warm-up-out", lambda _name, fn, *args: fn(*args))
    floor(path, config)
    return first - warm


def measure_suite(path: Path, config: Any, repeat: int) -> tuple[dict[str, float], int]:
    """validate's parts: the checked frame (the columns the expectations read), GX's run of the suite (one
    expectation per check, results by source_row), and the numpy floor of the very same checks
    (schemas.suite.failed_check_bits, which tests/test_gx_suite.py holds to agreeing with GX)."""
    from schemas.suite import failed_check_bits
    from tasks.normalize import normalize
    from tasks.sources import FileSource, values_to_frame
    from tasks.validate import check_frame, form_checks_of, run_suite

    frame = normalize(values_to_frame(FileSource(path).read_values(), config.columns), config)
    checks = form_checks_of(config)
    best: dict[str, float] = {}
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        checked = check_frame(frame, config.timezone, config)
        built = time.perf_counter()
        run_suite(checked, checks)
        ran = time.perf_counter()
        failed_check_bits(checked, checks)
        done = time.perf_counter()
        for name, seconds in (
            ("checked frame", built - start),
            ("GX run", ran - built),
            ("numpy, same checks", done - ran),
        ):
            best[name] = min(seconds, best.get(name, seconds))
    return best, len(checks)


def bench_size(n: int, work: Path, config: Any, seed: int, repeat: int) -> SizeResult:
    from benchmarks.floor import floor
    from examples.generate import generate_rows, write_csv

    result = SizeResult(rows=n)
    start = time.perf_counter()
    path = work / f"responses-{n}.csv"
    write_csv(generate_rows(n, seed=seed), path)
    result.generate_seconds = time.perf_counter() - start
    out_dir = work / f"out-{n}"

    # 1. Time per step, no tracemalloc (with --repeat, the fastest of the passes per step).
    for _ in range(repeat):
        _fresh_process_state()
        timer = Timer()
        run_pipeline(path, config, out_dir, timer)
        for name, seconds in timer.seconds.items():
            result.seconds[name] = min(seconds, result.seconds.get(name, seconds))

    # 2. A separate end-to-end run, timed as a whole (a clock read after select for the read→select part).
    result.e2e_select_seconds = result.e2e_total_seconds = float("inf")
    for _ in range(repeat):
        _fresh_process_state()
        marks = Checkpoints()
        start = time.perf_counter()
        decided = run_pipeline(path, config, out_dir, marks)
        result.e2e_select_seconds = min(result.e2e_select_seconds, marks.at["select"] - start)
        result.e2e_total_seconds = min(result.e2e_total_seconds, marks.at["write"] - start)
        result.pipeline_counts = _status_counts(decided)
        result.pipeline_invalid_at_validate = int((marks.validated == "invalid").sum())
        del decided

    # 3. Peak memory per step, under tracemalloc.
    _fresh_process_state()
    tracemalloc.start()
    try:
        probe = MemoryProbe()
        run_pipeline(path, config, out_dir, probe)
    finally:
        tracemalloc.stop()
    result.peak_mib = probe.peak_mib
    result.e2e_select_mib = probe.running_peak_mib["select"]
    result.e2e_total_mib = probe.running_peak_mib["write"]

    # 4. Inside validate: GX's run of the suite apart from the Python around it, against numpy doing the same checks.
    result.suite_seconds, result.expectations = measure_suite(path, config, repeat)

    # 5. The floor: time, then memory.
    result.floor_seconds = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        floored = floor(path, config)
        result.floor_seconds = min(result.floor_seconds, time.perf_counter() - start)
        result.floor_counts = _status_counts(floored)
        del floored
    gc.collect()
    _, result.floor_mib = _traced(lambda: floor(path, config))
    return result


# ---------------------------------------------------------------------------- Prefect, Sheets API


@dataclass
class PrefectResult:
    rows: int
    import_seconds: float
    server_start_seconds: float
    flow_seconds: float
    server_stop_seconds: float
    state: str


def bench_prefect(work: Path, config: Any, seed: int, rows: int = 1_000) -> PrefectResult:
    """The select_cohort flow end to end, once, under a temporary Prefect server started here."""
    from examples.generate import generate_rows, write_csv

    path = work / f"prefect-{rows}.csv"
    write_csv(generate_rows(rows, seed=seed), path)
    _fresh_process_state()
    start = time.perf_counter()
    from prefect.testing.utilities import prefect_test_harness

    from flows.select_cohort import select_cohort

    imported = time.perf_counter() - start
    with ExitStack() as stack:
        start = time.perf_counter()
        stack.enter_context(prefect_test_harness())
        server_start = time.perf_counter() - start
        start = time.perf_counter()
        state = select_cohort(
            config_path=str(CONFIG_PATH),
            out_dir=str(work / "prefect-out"),
            submissions=str(path),
            as_of=(config.deadline + dt.timedelta(days=1)).isoformat(),
            return_state=True,
        )
        flow_seconds = time.perf_counter() - start
        stop_start = time.perf_counter()
    server_stop = time.perf_counter() - stop_start
    return PrefectResult(rows, imported, server_start, flow_seconds, server_stop, state.type.value)


@dataclass
class SheetResult:
    rows: int
    requests: list[tuple[str, str]]
    seconds: float
    values_read: int


def bench_sheets(seed: int) -> list[SheetResult]:
    """HTTP requests of one SheetSource read, through a real gspread client against the local fake API."""
    from examples.generate import generate_rows, iter_sheet_values
    from tasks.sources import SheetSource
    from tests.support.sheets import FakeSheetsServer, client_for

    results = []
    with FakeSheetsServer() as server:
        client = client_for(server)
        for n in SHEET_SIZES:
            server.add_spreadsheet(SHEET_KEY, {SHEET_TAB: list(iter_sheet_values(generate_rows(n, seed=seed)))})
            server.clear_requests()
            start = time.perf_counter()
            values = SheetSource(SHEET_KEY, SHEET_TAB, client).read_values()
            seconds = time.perf_counter() - start
            made = [(r.method, r.path) for r in server.requests]
            results.append(SheetResult(n, made, seconds, len(values) - 1))
            server.remove_spreadsheet(SHEET_KEY)
    return results


# ---------------------------------------------------------------------------- report


def verdict(*, met: bool) -> str:
    return "MET" if met else "MISSED"


def table(header: list[str], rows: list[list[str]], title: str) -> str:
    """Plain text, first column left-aligned, the rest right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows] if r[0] != "-") for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "-" * len(line(header))
    body = [line(r) if r[0] != "-" else rule for r in rows]
    return "\n".join([title, rule, line(header), rule, *body, rule])


def _s(seconds: float) -> str:
    return f"{seconds:.3f}"


def _m(mib: float) -> str:
    return f"{mib:.1f}"


def report_steps(results: list[SizeResult], gx_setup: float) -> str:
    header = ["step"]
    for r in results:
        header += [f"{r.rows:,} rows s", "peak MiB"]
    rows = []
    for name in STEPS:
        cells = [name]
        for r in results:
            cells += [_s(r.seconds[name]), _m(r.peak_mib[name])]
        rows.append(cells)
    rows.append(["-"])
    rows.append(["sum of steps"] + [c for r in results for c in (_s(sum(r.seconds.values())), "")])
    rows.append(
        ["end to end, read→select"] + [c for r in results for c in (_s(r.e2e_select_seconds), _m(r.e2e_select_mib))]
    )
    rows.append(
        ["end to end, read→write"] + [c for r in results for c in (_s(r.e2e_total_seconds), _m(r.e2e_total_mib))]
    )
    rows.append(["floor (plain pandas)"] + [c for r in results for c in (_s(r.floor_seconds), _m(r.floor_mib))])
    rows.append(["-"])
    rows.append(
        ["pipeline / floor"] + [c for r in results for c in (f"{r.e2e_select_seconds / r.floor_seconds:.1f}×", "")]
    )
    for part in ("checked frame", "GX run", "numpy, same checks"):
        rows.append([f"validate: {part}"] + [c for r in results for c in (_s(r.suite_seconds.get(part, 0.0)), "")])
    text = table(header, rows, "Pipeline steps (seconds wall clock; peak MiB traced above the step's start)")
    notes = [
        f"gx setup (GX import + ephemeral context and suite, once per process, not in the table): {gx_setup:.3f} s",
        f"the suite: {results[0].expectations if results else 0} expectations, one per check of the form; "
        "validate: its parts measured apart (a separate pass)",
        "read = FileSource.read_values + values_to_frame + input_sha256; write = decisions_frame + "
        "summarize_selection + write_decisions",
        "end to end = a separate unmeasured run; its MiB is the peak of the tracemalloc pass up to that step",
        "pipeline / floor compares read→select (the floor does no write)",
    ]
    return text + "\n" + "\n".join(notes)


def report_counts(results: list[SizeResult]) -> str:
    lines = ["Outcomes (pipeline vs floor; the floor has no fuzzy names and a simpler score, so they differ):"]
    for r in results:
        lines.append(f"  {r.rows:>7,} rows  pipeline {r.pipeline_counts}")
        lines.append(f"  {'':>7}       floor    {r.floor_counts}")
        lines.append(
            f"  {'':>7}       rows failing validation: pipeline {r.pipeline_invalid_at_validate:,} (after validate), "
            f"floor {r.floor_counts.get('invalid', 0):,}"
        )
        lines.append(f"  {'':>7}       generating the export took {r.generate_seconds:.1f} s (not in the table)")
    return "\n".join(lines)


def report_targets(results: list[SizeResult]) -> str:
    lines = ["Targets"]
    for r in results:
        ratio = r.e2e_select_seconds / r.floor_seconds
        lines.append(
            f"  {r.rows:>7,} rows  pipeline/floor {ratio:5.1f}× (≤ {FLOOR_RATIO_MAX:g}×)  "
            f"{verdict(met=ratio <= FLOOR_RATIO_MAX)}   [read→write/floor {r.e2e_total_seconds / r.floor_seconds:.1f}×]"
        )
    big = [r for r in results if r.rows == END_TO_END_ROWS]
    if big:
        total = big[0].e2e_total_seconds
        lines.append(
            f"  end to end at {END_TO_END_ROWS:,} rows: {total:.2f} s (< {END_TO_END_MAX_SECONDS:g} s, no Prefect "
            f"server)  {verdict(met=total < END_TO_END_MAX_SECONDS)}"
        )
    else:
        lines.append(f"  end to end at {END_TO_END_ROWS:,} rows: not measured (size not in --sizes)")
    by_rows = {r.rows: r for r in results}
    if VALIDATE_ROWS in by_rows:
        took = by_rows[VALIDATE_ROWS].seconds["validate"]
        lines.append(
            f"  validate at {VALIDATE_ROWS:,} rows after GX's setup: {took:.3f} s (≤ {VALIDATE_MAX_SECONDS:g} s, "
            f"{by_rows[VALIDATE_ROWS].expectations} expectations)  {verdict(met=took <= VALIDATE_MAX_SECONDS)}"
        )
    for small, large in ((1_000, 10_000), (10_000, 100_000)):
        if small in by_rows and large in by_rows:
            growth = by_rows[large].seconds["dedupe"] / by_rows[small].seconds["dedupe"]
            lines.append(
                f"  dedupe time {large // 1000}k/{small // 1000}k: {growth:.1f}× for 10× rows (≤ "
                f"{DEDUPE_GROWTH_MAX:g}×)  {verdict(met=growth <= DEDUPE_GROWTH_MAX)}"
            )
        else:
            lines.append(f"  dedupe time {large // 1000}k/{small // 1000}k: not measured (sizes not in --sizes)")
    return "\n".join(lines)


def report_prefect(result: PrefectResult | None, results: list[SizeResult], gx_setup: float) -> str:
    if result is None:
        return "Prefect: skipped (--skip-prefect)"
    lines = [
        f"Prefect: select_cohort flow at {result.rows:,} rows, once (final state {result.state})",
        f"  import prefect + flows        {result.import_seconds:8.3f} s",
        f"  temporary server start        {result.server_start_seconds:8.3f} s  (prefect_test_harness)",
        f"  flow run, end to end          {result.flow_seconds:8.3f} s  (GX context already built: +{gx_setup:.3f} s"
        " in a fresh process)",
        f"  server stop                   {result.server_stop_seconds:8.3f} s",
    ]
    same = [r for r in results if r.rows == result.rows]
    if same:
        pure = same[0].e2e_total_seconds
        lines.append(
            f"  pure pipeline at {result.rows:,} rows     {pure:8.3f} s  "
            f"→ Prefect adds {result.flow_seconds - pure:.3f} s"
        )
    return "\n".join(lines)


def report_sheets(results: list[SheetResult]) -> str:
    lines = ["Sheets API economy (SheetSource read against tests.support.sheets.FakeSheetsServer)"]
    for r in results:
        lines.append(
            f"  {r.rows:>7,} rows: {len(r.requests)} HTTP requests in {r.seconds:.2f} s ({r.values_read:,} rows read)"
        )
        for method, path in r.requests:
            lines.append(f"             {method} {path}")
    counts = {len(r.requests) for r in results}
    constant = len(counts) == 1
    worst = max(counts)
    lines.append(
        f"  ≤ {SHEET_REQUESTS_MAX} requests and the same count at every size: {worst} max, "
        f"{'constant' if constant else 'varies'}  {verdict(met=worst <= SHEET_REQUESTS_MAX and constant)}"
    )
    lines.append("  write-back: not built yet")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="row counts, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-prefect", action="store_true", help="do not start a Prefect server")
    parser.add_argument("--repeat", type=int, default=1, help="timing passes per size; the fastest is reported")
    parser.add_argument("--skip-cli", action="store_true", help="do not time cold `cohort-select select` processes")
    args = parser.parse_args(argv)
    sizes = [int(part.replace("_", "")) for part in args.sizes.split(",") if part.strip()]

    prefect_home = _prepare_environment()
    from schemas.config import load_config

    config = load_config(CONFIG_PATH)
    print(f"cohort-select benchmarks: sizes {', '.join(f'{n:,}' for n in sizes)}, seed {args.seed}, {CONFIG_PATH.name}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, timing passes per size: {args.repeat}", flush=True)
    print()
    try:
        with tempfile.TemporaryDirectory(prefix="cohort-select-bench-") as tmp:
            work = Path(tmp)
            gx_setup = warm_up(work, config, args.seed)
            results = []
            for n in sizes:
                print(f"measuring {n:,} rows ...", flush=True)
                results.append(bench_size(n, work, config, args.seed, args.repeat))
            prefect = None if args.skip_prefect else bench_prefect(work, config, args.seed)
            sheets = bench_sheets(args.seed)
            print("measuring SMTP throughput ...", flush=True)
            smtp = bench_smtp(args.seed, passes=max(SMTP_PASSES, args.repeat))
            print("measuring dedupe's worst case (benchmarks/dedupe_worst.py) ...", flush=True)
            worst = [measure_worst(n, config, args.seed, max(3, args.repeat), pairwise=False) for n in WORST_SIZES]
    finally:
        shutil.rmtree(prefect_home, ignore_errors=True)

    print()
    print(report_steps(results, gx_setup))
    print()
    print(report_counts(results))
    print()
    print(report_targets(results))
    print()
    print(report_prefect(prefect, results, gx_setup))
    print()
    print(report_sheets(sheets))
    print()
    print(report_smtp(smtp))
    print()
    print(report_worst(worst))
    print()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ru_maxrss (this process, whole run, Prefect server subprocess excluded): {maxrss:.0f} MiB")
    if not args.skip_cli:
        print()
        print("measuring cohort-select select from a cold process (benchmarks/cli_cold.py) ...", flush=True)
        cli_cold.main(["--runs", "2"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
