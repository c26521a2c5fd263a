"""The audit trail: every decision, notice and staff action of a cohort, with time and actor, as one table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from schemas.columns import Col, Out
from tasks.decisions import write_table
from tasks.ledger import ledger
from tasks.lifecycle import applicant_keys
from tasks.store import action_log, approval_history, freeze_record, selection_history

AUDIT_COLUMNS = ("at", "actor", "event", "team", "status", "detail")


def _frame(rows: dict[str, object], length: int) -> pd.DataFrame:
    return pd.DataFrame({name: rows[name] for name in AUDIT_COLUMNS}, index=range(length))


def _selections(history: pd.DataFrame) -> list[pd.DataFrame]:
    if history.empty:
        return []
    heads = history.drop_duplicates("selection_id")
    kind = heads["provisional"].map({True: "provisional", False: "final"})
    recorded = _frame(
        {
            "at": heads["recorded_at"].to_numpy(),
            "actor": "select-cohort run",
            "event": "selection recorded",
            "team": "",
            "status": kind.to_numpy(),
            "detail": (
                "selection " + heads["selection_id"].astype(str) + ": input sha256 " + heads["input_sha256"]
                + ", config sha256 " + heads["config_sha256"]
            ).to_numpy(),
        },
        len(heads),
    )
    decided = _frame(
        {
            "at": history["recorded_at"].to_numpy(),
            "actor": "select-cohort run",
            "event": "decision",
            "team": applicant_keys(history.rename(columns={"team_key": Out.TEAM_KEY})).to_numpy(),
            "status": history[Col.STATUS].to_numpy(),
            "detail": (
                "selection " + history["selection_id"].astype(str) + ", row " + history[Col.SOURCE_ROW].astype(str)
                + ": " + history[Col.REASONS]
            ).to_numpy(),
        },
        len(history),
    )
    return [recorded, decided]


def _notices(rows: pd.DataFrame) -> list[pd.DataFrame]:
    if rows.empty:
        return []
    planned = _frame(
        {
            "at": rows["created_at"].to_numpy(),
            "actor": "send-notices run",
            "event": "notice planned",
            "team": rows["applicant"].to_numpy(),
            "status": rows["kind"].to_numpy(),
            "detail": ("to " + rows["recipient"] + ", Message-ID " + rows["message_id"]).to_numpy(),
        },
        len(rows),
    )
    error = rows["last_error"].fillna("")
    state = _frame(
        {
            "at": rows["updated_at"].to_numpy(),
            "actor": "send-notices run",
            "event": "notice " + rows["state"],
            "team": rows["applicant"].to_numpy(),
            "status": rows["kind"].to_numpy(),
            "detail": (
                rows["attempts"].astype(str) + " attempt(s)" + error.where(error == "", ": " + error)
            ).to_numpy(),
        },
        len(rows),
    )
    return [planned, state]


def _approvals(rows: pd.DataFrame) -> list[pd.DataFrame]:
    if rows.empty:
        return []
    return [
        _frame(
            {
                "at": rows["decided_at"].to_numpy(),
                "actor": ("staff, in Prefect flow run " + rows["flow_run_id"]).to_numpy(),
                "event": "approval of " + rows["kind"] + " notices",
                "team": "",
                "status": rows["outcome"].to_numpy(),
                "detail": rows["note"].to_numpy(),
            },
            len(rows),
        )
    ]


def _actions(rows: pd.DataFrame) -> list[pd.DataFrame]:
    if rows.empty:
        return []
    offer = pd.to_datetime(rows["respond_by"], utc=True)
    until = offer.dt.strftime("; respond by %Y-%m-%dT%H:%M:%SZ").fillna("")
    seat = rows["reserved_seat"].fillna("")
    return [
        _frame(
            {
                "at": rows["at"].to_numpy(),
                "actor": rows["actor"].to_numpy(),
                "event": rows["action"].to_numpy(),
                "team": rows["applicant"].to_numpy(),
                "status": (rows["from_status"] + " → " + rows["to_status"]).to_numpy(),
                "detail": (rows["reason"] + until + seat.where(seat == "", "; reserved seat: " + seat)).to_numpy(),
            },
            len(rows),
        )
    ]


def audit_trail(engine: sa.Engine, cohort: str) -> pd.DataFrame:
    """Selections and their decisions, the freeze, notices, approvals and actions, oldest first (times in UTC)."""
    parts = _selections(selection_history(engine, cohort))
    frozen = freeze_record(engine, cohort)
    if frozen:
        detail = f"selection {frozen['selection_id']} is the one decision notices are sent from"
        event = {"at": [frozen["frozen_at"]], "actor": "send-notices run", "event": "freeze", "team": "", "status": ""}
        parts.append(_frame(event | {"detail": detail}, 1))
    parts += _notices(ledger(engine, cohort)) + _approvals(approval_history(engine, cohort))
    parts += _actions(action_log(engine, cohort))
    if not parts:
        return pd.DataFrame(columns=list(AUDIT_COLUMNS))
    trail = pd.concat(parts, ignore_index=True)
    trail["at"] = pd.to_datetime(trail["at"], utc=True)
    return trail.sort_values("at", kind="mergesort").reset_index(drop=True)


def write_audit(engine: sa.Engine, cohort: str, path: Path) -> tuple[Path, int]:
    trail = audit_trail(engine, cohort)
    return write_table(trail, path), len(trail)
