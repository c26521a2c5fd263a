"""The selection and the send as one process that can kill itself (SIGKILL) at a chosen point, for the fault tests.

`python -m tests.support.fault_runner CONFIG VALIDATED_PICKLE OUT_DIR STAGE [K]`: starts from the validated intake
(made by the test, so this process never imports great-expectations) and runs what the flows run, in their order:
the selection stages of tasks/pipeline.py (dedupe → cutoff → overrides → score → select → staff notes; the fault
tests' cohorts have no overrides) → record the selection → decisions.csv, summary.json, report.html → plan the
notices → freeze, sync the ledger → send over SMTP. STAGE says where to die:

- `after-read`    right after the responses file is read (the validated pickle is not used)
- `after-select`  once the decisions are made, before anything is written
- `mid-write`     halfway through writing decisions.csv
- `mid-record`    inside the transaction that records the selection, before its commit
- `after-sync`    once the ledger has the notices, before the first is sent
- `mid-send`      right after the K-th notice is recorded sent (between notices)
- `after-accept`  after the server accepted the K-th notice (its 250), before the ledger records it
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import signal
import sys
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

import tasks.delivery
from schemas.config import load_config
from schemas.ledger import LedgerState
from tasks.decisions import decisions_frame, summarize_selection, write_decisions
from tasks.delivery import deliver
from tasks.ledger import LedgerWriter
from tasks.notices import plan_notices
from tasks.pipeline import INTAKE, SELECTION, PipelineInputs, run_pipeline
from tasks.report import write_report
from tasks.smtp import smtp_settings
from tasks.sources import FileSource, values_to_frame
from tasks.store import frozen_selection_id, open_store, record_selection

AS_OF = dt.datetime(2021, 6, 8, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
STAGES = ("after-read", "after-select", "mid-write", "mid-record", "after-sync", "mid-send", "after-accept")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(stage: str | None, k: int) -> None:
    """Hooks that kill this process at the stage (module attributes the pipeline looks up when it runs)."""
    if stage == "mid-write":
        real = Path.write_text

        def half_then_die(self: Path, text: str, *args, **kwargs):
            if self.name.startswith(".decisions.csv"):
                with self.open("w", encoding="utf-8") as handle:
                    handle.write(text[: len(text) // 2])
                    handle.flush()
                die()
            return real(self, text, *args, **kwargs)

        Path.write_text = half_then_die  # type: ignore[method-assign]
    elif stage == "after-sync":
        tasks.delivery.send_batch = lambda *args, **kwargs: die()
    elif stage in ("mid-send", "after-accept"):
        real_move = LedgerWriter.move
        sent = 0

        def move(self, notice_id: int, state: str, *args, **kwargs):
            nonlocal sent
            if state == LedgerState.SENT:
                sent += 1
                if stage == "after-accept" and sent == k:
                    die()
            real_move(self, notice_id, state, *args, **kwargs)
            if stage == "mid-send" and state == LedgerState.SENT and sent == k:
                die()

        LedgerWriter.move = move  # type: ignore[method-assign]


def run(config_path: str, validated: pd.DataFrame | None, out_dir: str, stage: str | None = None, k: int = 1) -> None:
    """The selection then the send, as the flows run them; with a stage, the process dies there."""
    arm(stage, k)
    config = load_config(config_path)
    if stage == "after-read" or validated is None:
        raw = values_to_frame(FileSource(config.source.path).read_values())
        if stage == "after-read":
            die()
        validated = run_pipeline(raw, PipelineInputs(config), INTAKE)
    decided = run_pipeline(validated, PipelineInputs(config), SELECTION)
    if stage == "after-select":
        die()
    summary = summarize_selection(decided, config, Path(config_path), "input", provisional=False)
    engine = open_store(config.database_url)
    if stage == "mid-record":
        sa.event.listen(engine, "commit", lambda connection: die())
    if frozen_selection_id(engine, config.cohort_id) is None:  # once notices are out the flow reports drift
        record_selection(
            engine, config.cohort_id, decided, summary.input_sha256, summary.config_sha256, provisional=False
        )
        decisions = decisions_frame(decided, config, provisional=False)
        write_decisions(decisions, summary, Path(out_dir))
        write_report(decisions, summary, config, Path(out_dir))
    planned = plan_notices(engine, config, "decisions", AS_OF)
    deliver(engine, config, planned, smtp_settings(config), base_delay=0.01)
    engine.dispose()


def main(argv: list[str]) -> None:
    config_path, pickled, out_dir, stage = argv[:4]
    k = int(argv[4]) if len(argv) > 4 else 1
    validated = pickle.loads(Path(pickled).read_bytes()) if pickled != "-" else None
    run(config_path, validated, out_dir, stage, k)


if __name__ == "__main__":
    main(sys.argv[1:])
