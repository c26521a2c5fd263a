"""SMTP throughput: the project's sender (ledger + one connection) against raw smtplib, on a local aiosmtpd.

    python -m benchmarks.smtp [--notices 1000] [--passes 3] [--seed 7] [--profile]

The notices come from a recorded selection of a seeded synthetic export (examples.generate), planned with
tasks.notices.decision_notices; the first N that may be sent are used. Each pass starts a fresh
tests.support.smtp.SmtpServer (aiosmtpd on 127.0.0.1, in a thread of this process):

- project: a fresh SQLite store (tasks.store.open_store, WAL), the selection recorded, then
  tasks.delivery.deliver(engine, config, plan, smtp_settings(config)), the notify path (under the lease):
  sync the ledger, then every notice on one connection with its ledger transitions committed, then the report.
- raw: one smtplib.SMTP connection and sendmail() of the same message bytes (tasks.notices.message_bytes,
  built before the clock starts).
- raw + render (a diagnostic, not in the target): the same, with message_bytes called inside the loop as the
  project's sender does.

Passes alternate raw, raw + render and project; the fastest of each is reported. If the project is under the
target (or with --profile), two more project passes say where its time goes: one with the parts of deliver()
timed by perf_counter wrappers, one under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import inspect
import os
import pstats
import smtplib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = ROOT / "cohorts" / "esp-2021.yaml"
NOTICES = 1_000
PASSES = 3
SMTP_RATIO_MIN = 0.8  # the project's messages/second at least 0.8× raw smtplib on one connection
ENV_OVERRIDES = ("SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "COHORT_STATE_URL")


@dataclass
class Component:
    """One part of the profiled project pass."""

    label: str
    where: str
    calls: int
    seconds: float


@dataclass
class SmtpResult:
    notices: int
    passes: int
    rows: int
    teams_planned: int
    kinds: dict[str, int]
    with_cc: int
    utf8: int
    mean_bytes: float
    plan_seconds: float
    render_seconds: float
    project_seconds: list[float] = field(default_factory=list)
    raw_seconds: list[float] = field(default_factory=list)
    raw_render_seconds: list[float] = field(default_factory=list)
    project_received: list[int] = field(default_factory=list)
    raw_received: list[int] = field(default_factory=list)
    raw_render_received: list[int] = field(default_factory=list)
    ledger_sent: list[int] = field(default_factory=list)
    set_state_seconds: float = 0.0
    set_state_calls: int = 0
    sqlite_seconds: float = 0.0
    breakdown_seconds: float = 0.0
    breakdown: list[Component] = field(default_factory=list)
    profile_seconds: float = 0.0
    components: list[Component] = field(default_factory=list)
    hot: list[Component] = field(default_factory=list)

    @property
    def project_rate(self) -> float:
        return self.notices / min(self.project_seconds)

    @property
    def raw_rate(self) -> float:
        return self.notices / min(self.raw_seconds)

    @property
    def ratio(self) -> float:
        return self.project_rate / self.raw_rate

    @property
    def met(self) -> bool:
        return self.ratio >= SMTP_RATIO_MIN


# ---------------------------------------------------------------------------- set-up


def _config(base: Path, port: int) -> Any:
    """The bundled cohort file pointed at the local server (no TLS, no login) and a SQLite store under base."""
    from schemas.config import load_config

    data = yaml.safe_load(CONFIG_PATH.read_text())
    data["email"]["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none"}
    data["state_url"] = f"sqlite:///{base / 'state.sqlite'}"
    data["source"]["path"] = str(ROOT / "examples" / "esp-2021-responses.csv")
    data["previous_participants"] = str(ROOT / "examples" / "previous-participants.csv")
    data["interest_list"] = str(ROOT / "examples" / "interest-list.csv")
    path = base / "cohort.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


def _decided(n_notices: int, seed: int, config: Any) -> tuple[Any, int]:
    """A selection with at least n_notices teams whose notice may be sent, and the number of export rows."""
    from examples.generate import HEADERS, generate_rows
    from tasks.pipeline import PipelineInputs, run_pipeline
    from tasks.sources import values_to_frame

    rows = int(n_notices * 1.3)
    frame = values_to_frame([list(HEADERS), *generate_rows(rows, seed=seed)])
    return run_pipeline(frame, PipelineInputs(config)), rows


def _record(config: Any, decided: Any) -> Any:
    from tasks.store import open_store, record_selection

    engine = open_store(config.database_url)
    record_selection(engine, config.cohort_id, decided, "benchmark", "benchmark", provisional=False)
    return engine


def _plan(engine: Any, config: Any, n_notices: int) -> tuple[Any, int]:
    """A plan of the first n_notices sendable decision notices of the latest recorded selection, and how many
    were planned."""
    from tasks.messages import sender_domain
    from tasks.notices import NoticePlan, decision_notices
    from tasks.store import latest_selection

    head, decided = latest_selection(engine, config.cohort_id)
    planned = decision_notices(decided, config, sender_domain(config))
    sendable = [n for n in planned if not n.refusal]
    if len(sendable) < n_notices:
        raise RuntimeError(f"the synthetic selection has only {len(sendable)} sendable notices, {n_notices} needed")
    plan = NoticePlan(run="decisions", selection_id=head.id, actions_seq=0, notices=sendable[:n_notices])
    return plan, len(planned)


# ---------------------------------------------------------------------------- the two senders


def _project_pass(decided: Any, n_notices: int, profiler: cProfile.Profile | None = None) -> tuple[float, int, int]:
    """deliver() into a fresh store and server: seconds, messages the server received, notices the ledger has sent."""
    from schemas.ledger import LedgerState
    from tasks.delivery import deliver
    from tasks.smtp import smtp_settings
    from tests.support.smtp import SmtpServer

    with tempfile.TemporaryDirectory(prefix="cohort-select-bench-smtp-") as tmp, SmtpServer() as server:
        config = _config(Path(tmp), server.port)
        engine = _record(config, decided)
        planned, _ = _plan(engine, config, n_notices)
        settings = smtp_settings(config)
        if profiler is not None:
            profiler.enable()
        start = time.perf_counter()
        report = deliver(engine, config, planned, settings)
        seconds = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
        received = len(server.received)
        engine.dispose()
    return seconds, received, report.counts[LedgerState.SENT]


Envelope = tuple[str, list[str], Any, list[str]]  # sender, recipients, message bytes (or the Notice), options


def _raw_pass(envelopes: list[Envelope], config: Any = None) -> tuple[float, int]:
    """One smtplib.SMTP connection, sendmail() per message: seconds and messages the server received.

    With config, each envelope carries the Notice and its bytes are built in the loop (tasks.messages.message_bytes).
    """
    from tasks.messages import message_bytes
    from tests.support.smtp import SmtpServer

    with SmtpServer() as server:
        start = time.perf_counter()
        smtp = smtplib.SMTP("127.0.0.1", server.port, timeout=30)
        try:
            for sender, recipients, payload, options in envelopes:
                message = payload if config is None else message_bytes(payload, config)
                smtp.sendmail(sender, recipients, message, mail_options=options)
        finally:
            smtp.quit()
        seconds = time.perf_counter() - start
        received = len(server.received)
    return seconds, received


def _set_state_cost(decided: Any, n_notices: int) -> tuple[float, int, float]:
    """tasks.ledger.LedgerWriter alone, unprofiled: the two transitions a sent notice makes (the claim, then
    `sent`), for every notice; then the same UPDATE and commit through the sqlite3 driver directly, for what
    SQLite itself costs."""
    from schemas.ledger import LedgerState
    from tasks.ledger import LedgerWriter, ledger, sync_ledger
    from tasks.notices import DECISION_KINDS
    from tasks.store import now

    SENDING, SENT = LedgerState.SENDING.value, LedgerState.SENT.value

    with tempfile.TemporaryDirectory(prefix="cohort-select-bench-smtp-") as tmp:
        config = _config(Path(tmp), 25)
        engine = _record(config, decided)
        planned, _ = _plan(engine, config, n_notices)
        sync_ledger(engine, config.cohort_id, planned.notices, DECISION_KINDS)
        ids = [int(i) for i in ledger(engine, config.cohort_id)["id"]]
        writer = LedgerWriter(engine, "benchmark")
        start = time.perf_counter()
        for notice_id in ids:
            writer.claim(notice_id)
            writer.move(notice_id, SENT)
        seconds = time.perf_counter() - start
        writer.close()
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            start = time.perf_counter()
            for notice_id in ids:
                for ledger_state in (SENDING, SENT):
                    cursor.execute(
                        "UPDATE notices SET state = ?, updated_at = ?, last_error = '' WHERE id = ?",
                        (ledger_state, now().isoformat(" "), notice_id),
                    )
                    raw.commit()
            sqlite_seconds = time.perf_counter() - start
        finally:
            raw.close()
        engine.dispose()
    return seconds, 2 * len(ids), sqlite_seconds


# ---------------------------------------------------------------------------- profile


def _short(path: str) -> str:
    """A profile entry's file, relative to the project or to site-packages / the standard library."""
    if path.startswith(str(ROOT) + "/") and "/.venv/" not in path:
        return str(Path(path).relative_to(ROOT))
    for marker in ("/site-packages/", f"/python{sys.version_info.major}.{sys.version_info.minor}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _where(fn: Any) -> str:
    fn = inspect.unwrap(fn)
    return f"{_short(inspect.getsourcefile(fn) or '?')}:{inspect.getsourcelines(fn)[1]}"


def _breakdown(decided: Any, n_notices: int) -> tuple[float, list[Component]]:
    """One project pass with the parts of deliver() timed by perf_counter wrappers (no profiler overhead).

    The wrappers replace names in tasks.delivery and methods of smtplib.SMTP for this pass only. The ledger
    (`sending`) runs inside _transmit, so the SMTP part is timed at smtplib's MAIL, RCPT and DATA instead.
    """
    import tasks.delivery as delivery
    from tasks.ledger import LedgerWriter

    timed: dict[str, list[float]] = {}
    replaced: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, key: str) -> None:
        original = getattr(owner, name)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                entry = timed.setdefault(key, [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - start

        replaced.append((owner, name, original))
        setattr(owner, name, timed_call)

    parts = (
        (
            "ledger transitions: LedgerWriter.claim + move (2 commits each)",
            [(LedgerWriter, "claim"), (LedgerWriter, "move")],
        ),
        (
            "SMTP round trips: MAIL + RCPT + DATA",
            [(smtplib.SMTP, "mail"), (smtplib.SMTP, "rcpt"), (smtplib.SMTP, "data")],
        ),
        (
            "sync_ledger + ledger reads + delivery_report",
            [(delivery, "sync_ledger"), (delivery, "ledger"), (delivery, "delivery_report")],
        ),
    )
    wheres = {label: ", ".join(_where(getattr(o, n)) for o, n in members) for label, members in parts}
    wheres["SMTP round trips: MAIL + RCPT + DATA"] = "smtplib.py, from tasks/smtp.py _transmit"
    wheres["sync_ledger + ledger reads + delivery_report"] = "tasks/delivery.py, tasks/ledger.py"
    try:
        for label, members in parts:
            for owner, name in members:
                wrap(owner, name, f"{label}|{name}")
        seconds, _, _ = _project_pass(decided, n_notices)
    finally:
        for owner, name, original in reversed(replaced):
            setattr(owner, name, original)
    components = []
    for label, members in parts:
        keys = [f"{label}|{name}" for _, name in members]
        calls = int(sum(timed.get(k, [0, 0.0])[0] for k in keys))
        components.append(Component(label, wheres[label], calls, sum(timed.get(k, [0, 0.0])[1] for k in keys)))
    rest = seconds - sum(c.seconds for c in components)
    components.append(Component("the rest (connect, loop, lookups, wrappers)", "", 0, rest))
    return seconds, components


# cProfile entries worth naming, by (file suffix, function name); cumulative times, so they nest.
PARTS = (
    ("LedgerWriter.claim", "tasks/ledger.py", "claim"),
    ("LedgerWriter.move", "tasks/ledger.py", "move"),
    ("  sqlite3 execute (C)", "~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
    ("  sqlite3 commit (C)", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("message_bytes", "tasks/messages.py", "message_bytes"),
    ("  build_message (EmailMessage, headers)", "tasks/messages.py", "build_message"),
    ("  EmailMessage.as_bytes (policy SMTP)", "email/message.py", "as_bytes"),
    ("_transmit (incl. the claim)", "tasks/smtp.py", "_transmit"),
    ("  socket sendall (C)", "~", "<method 'sendall' of '_socket.socket' objects>"),
    ("  socket recv_into (C)", "~", "<method 'recv_into' of '_socket.socket' objects>"),
)


def _profile(decided: Any, n_notices: int) -> tuple[float, list[Component], list[Component]]:
    """One project pass under cProfile: its total, the named parts (cumulative) and the top functions by own time."""
    profiler = cProfile.Profile()
    seconds, _, _ = _project_pass(decided, n_notices, profiler)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    parts = []
    for label, suffix, name in PARTS:
        for (path, line, func), (_cc, calls, _own, cumulative, _callers) in stats.items():
            if func == name and path.endswith(suffix):
                parts.append(Component(label, f"{_short(path)}:{line}" if line else "(built-in)", calls, cumulative))
                break
    hot = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:8]
    top = [
        Component(func, f"{_short(path)}:{line}" if line else "(built-in)", calls, own)
        for (path, line, func), (_cc, calls, own, _cum, _callers) in hot
    ]
    return seconds, parts, top


# ---------------------------------------------------------------------------- measure and report


def bench_smtp(seed: int = 7, n_notices: int = NOTICES, passes: int = PASSES, *, profile: bool = False) -> SmtpResult:
    from tasks.messages import message_bytes, needs_smtputf8
    from tasks.smtp import sender_address as build_sender

    for name in ENV_OVERRIDES:
        os.environ.pop(name, None)
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="cohort-select-bench-smtp-") as tmp:
        config = _config(Path(tmp), 25)
        decided, rows = _decided(n_notices, seed, config)
        engine = _record(config, decided)
        start = time.perf_counter()
        plan, teams = _plan(engine, config, n_notices)
        planned = plan.notices
        plan_seconds = time.perf_counter() - start
        engine.dispose()
    sender = build_sender(config)
    start = time.perf_counter()
    payloads = [message_bytes(n, config) for n in planned]
    render_seconds = time.perf_counter() - start
    envelopes = [
        (sender, [n.to, *([n.cc] if n.cc else [])], payload, ["SMTPUTF8"] if needs_smtputf8(n) else [])
        for n, payload in zip(planned, payloads, strict=True)
    ]
    kinds: dict[str, int] = {}
    for n in planned:
        kinds[n.kind] = kinds.get(n.kind, 0) + 1
    result = SmtpResult(
        notices=n_notices,
        passes=passes,
        rows=rows,
        teams_planned=teams,
        kinds=dict(sorted(kinds.items())),
        with_cc=sum(1 for n in planned if n.cc),
        utf8=sum(1 for e in envelopes if e[3]),
        mean_bytes=statistics.fmean(len(p) for p in payloads),
        plan_seconds=plan_seconds,
        render_seconds=render_seconds,
    )

    unrendered = [(e[0], e[1], n, e[3]) for e, n in zip(envelopes, planned, strict=True)]
    _raw_pass(envelopes[:20])  # warm-up: imports, the server thread, the first connection
    _project_pass(decided, 20)
    for _ in range(passes):
        seconds, received = _raw_pass(envelopes)
        result.raw_seconds.append(seconds)
        result.raw_received.append(received)
        seconds, received = _raw_pass(unrendered, config)
        result.raw_render_seconds.append(seconds)
        result.raw_render_received.append(received)
        seconds, received, sent = _project_pass(decided, n_notices)
        result.project_seconds.append(seconds)
        result.project_received.append(received)
        result.ledger_sent.append(sent)
    result.set_state_seconds, result.set_state_calls, result.sqlite_seconds = _set_state_cost(decided, n_notices)
    if profile or not result.met:
        result.breakdown_seconds, result.breakdown = _breakdown(decided, n_notices)
        result.profile_seconds, result.components, result.hot = _profile(decided, n_notices)
    return result


def report_smtp(r: SmtpResult) -> str:
    def row(name: str, seconds: list[float]) -> str:
        best = min(seconds)
        passes = ", ".join(f"{s:.3f}" for s in seconds)
        return f"  {name:<74} {best:7.3f} s  {r.notices / best:7.1f} msg/s   [passes: {passes} s]"

    project, raw, raw_render = min(r.project_seconds), min(r.raw_seconds), min(r.raw_render_seconds)
    counts = [*r.project_received, *r.raw_received, *r.raw_render_received, *r.ledger_sent]
    exact = all(c == r.notices for c in counts)
    kinds = ", ".join(f"{k} {v:,}" for k, v in r.kinds.items())
    ms = 1000 / r.notices
    lines = [
        f"SMTP: {r.notices:,} notices to aiosmtpd on 127.0.0.1 (tests.support.smtp, a thread of this process), "
        f"one connection, security none, fastest of {r.passes} passes",
        f"  notices: the first {r.notices:,} sendable of {r.teams_planned:,} planned from a {r.rows:,}-row export "
        f"({kinds}; {r.with_cc:,} with Cc; {r.utf8} SMTPUTF8; {r.mean_bytes:,.0f} bytes on average)",
        row("project  tasks.delivery.deliver(): sync_ledger, send_batch, delivery_report", r.project_seconds),
        row("raw      smtplib.SMTP + sendmail() of the same bytes, built beforehand", r.raw_seconds),
        row("(raw + render: the same with message_bytes in the loop; diagnostic)", r.raw_render_seconds),
        f"  received by the server: project {r.project_received}, raw {r.raw_received}, raw + render "
        f"{r.raw_render_received}; ledger `sent`: {r.ledger_sent}  ({'exactly' if exact else 'NOT exactly'} "
        f"{r.notices:,} each)",
        f"  project / raw: {r.ratio:.2f}× (≥ {SMTP_RATIO_MIN:g}×)  {verdict(met=r.met and exact)}",
        f"  per message: raw {raw * ms:.2f} ms, raw + render {raw_render * ms:.2f} ms, project {project * ms:.2f} ms; "
        f"alone (no server): message_bytes {r.render_seconds * ms:.2f} ms, "
        f"LedgerWriter claim + move, ×{r.set_state_calls // r.notices} {r.set_state_seconds * ms:.2f} ms "
        f"(the same UPDATE + commit through sqlite3 directly: {r.sqlite_seconds * ms:.2f} ms)",
        f"  not in the rates: planning {r.notices:,} notices (decision_notices, jinja2) {r.plan_seconds:.3f} s",
    ]
    if r.breakdown:
        total = r.breakdown_seconds
        lines.append(
            f"  Where deliver() spends its time (one more pass, {total:.3f} s, parts timed with perf_counter wrappers):"
        )
        for c in r.breakdown:
            calls = f"{c.calls:>7,} calls" if c.calls else " " * 13
            per, share = c.seconds * 1000 / r.notices, c.seconds / total
            lines.append(
                f"    {c.label:<46} {c.where:<44} {calls}  {c.seconds:7.3f} s  {per:5.2f} ms/msg  {share:5.1%}"
            )
    if r.components:
        total = r.profile_seconds
        lines.append(f"  cProfile of one more pass ({total:.3f} s with the profiler; cumulative, so they nest):")
        for c in r.components:
            lines.append(
                f"    {c.label:<46} {c.where:<44} {c.calls:>7,} calls  {c.seconds:7.3f} s  {c.seconds / total:5.1%}"
            )
        lines.append(
            "    (socket time includes the server's own work: the aiosmtpd thread parses each message while this"
            " thread waits in sendall/recv_into for the GIL or the reply)"
        )
        lines.append("  Top functions by own time in that pass:")
        for c in r.hot:
            name = c.label if len(c.label) <= 46 else c.label[:43] + "..."
            lines.append(
                f"    {name:<46} {c.where:<44} {c.calls:>7,} calls  {c.seconds:7.3f} s  {c.seconds / total:5.1%}"
            )
    return "\n".join(lines)


def verdict(*, met: bool) -> str:
    return "MET" if met else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=NOTICES)
    parser.add_argument("--passes", type=int, default=PASSES)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="profile the project pass even if the target is met")
    args = parser.parse_args(argv)
    result = bench_smtp(args.seed, args.notices, args.passes, profile=args.profile)
    print(report_smtp(result))
    return 0 if result.met else 1


if __name__ == "__main__":
    sys.exit(main())
