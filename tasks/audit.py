"""The audit trail: every decision, notice and staff action of a cohort, with time and actor, as one table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from schemas.columns import AuditCol, Col, Derived
from schemas.ledger import ApprovalOutcome
from schemas.store import StoreCol
from tasks.decisions import write_table
from tasks.ledger import ledger
from tasks.store import action_log, approval_history, freeze_record, selection_history
from tasks.teams import applicant_keys


def _frame(rows: Mapping[str, object], length: int) -> pd.DataFrame:
    return pd.DataFrame({name: rows[name] for name in AuditCol}, index=range(length))


def _selections(history: pd.DataFrame) -> list[pd.DataFrame]:
    if history.empty:
        return []
    heads = history.drop_duplicates(StoreCol.SELECTION_ID)
    kind = heads[StoreCol.PROVISIONAL].map({True: "provisional", False: "final"})
    recorded = _frame(
        {
            AuditCol.AT: heads[StoreCol.RECORDED_AT].to_numpy(),
            AuditCol.ACTOR: "select-cohort run",
            AuditCol.EVENT: "selection recorded",
            AuditCol.TEAM: "",
            AuditCol.STATUS: kind.to_numpy(),
            AuditCol.DETAIL: (
                "selection "
                + heads[StoreCol.SELECTION_ID].astype(str)
                + ": input sha256 "
                + heads[StoreCol.INPUT_SHA256]
                + ", config sha256 "
                + heads[StoreCol.CONFIG_SHA256]
            ).to_numpy(),
        },
        len(heads),
    )
    decided = _frame(
        {
            AuditCol.AT: history[StoreCol.RECORDED_AT].to_numpy(),
            AuditCol.ACTOR: "select-cohort run",
            AuditCol.EVENT: "decision",
            AuditCol.TEAM: applicant_keys(history).to_numpy(),
            AuditCol.STATUS: history[Col.STATUS].to_numpy(),
            AuditCol.DETAIL: (
                "selection "
                + history[StoreCol.SELECTION_ID].astype(str)
                + ", row "
                + history[Col.SOURCE_ROW].astype(str)
                + ": "
                + history[Col.REASONS]
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
            AuditCol.AT: rows[StoreCol.CREATED_AT].to_numpy(),
            AuditCol.ACTOR: "send-notices run",
            AuditCol.EVENT: "notice planned",
            AuditCol.TEAM: rows[Derived.APPLICANT].to_numpy(),
            AuditCol.STATUS: rows[StoreCol.KIND].to_numpy(),
            AuditCol.DETAIL: (
                "to " + rows[StoreCol.RECIPIENT] + ", Message-ID " + rows[StoreCol.MESSAGE_ID]
            ).to_numpy(),
        },
        len(rows),
    )
    error = rows[StoreCol.LAST_ERROR].fillna("")
    where = _frame(
        {
            AuditCol.AT: rows[StoreCol.UPDATED_AT].to_numpy(),
            AuditCol.ACTOR: "send-notices run",
            AuditCol.EVENT: "notice " + rows[StoreCol.LEDGER_STATE],
            AuditCol.TEAM: rows[Derived.APPLICANT].to_numpy(),
            AuditCol.STATUS: rows[StoreCol.KIND].to_numpy(),
            AuditCol.DETAIL: (
                rows[StoreCol.ATTEMPTS].astype(str) + " attempt(s)" + error.where(error == "", ": " + error)
            ).to_numpy(),
        },
        len(rows),
    )
    return [planned, where]


def _approvers(rows: pd.DataFrame) -> pd.Series:
    """Who answered each approval: the name given in the Resume form; "no answer" for a time-out, and "staff" for
    an answer recorded before names were asked."""
    named = rows[StoreCol.APPROVER].fillna("").astype(str)
    nobody = rows[StoreCol.OUTCOME] == ApprovalOutcome.TIMED_OUT
    return named.where(named != "", pd.Series("staff", index=rows.index).where(~nobody, "no answer"))


def _approvals(rows: pd.DataFrame) -> list[pd.DataFrame]:
    if rows.empty:
        return []
    return [
        _frame(
            {
                AuditCol.AT: rows[StoreCol.DECIDED_AT].to_numpy(),
                AuditCol.ACTOR: (_approvers(rows) + ", in Prefect flow run " + rows[StoreCol.FLOW_RUN_ID]).to_numpy(),
                AuditCol.EVENT: "approval of " + rows[StoreCol.KIND] + " notices",
                AuditCol.TEAM: "",
                AuditCol.STATUS: rows[StoreCol.OUTCOME].to_numpy(),
                AuditCol.DETAIL: rows[StoreCol.NOTE].to_numpy(),
            },
            len(rows),
        )
    ]


def _actions(rows: pd.DataFrame) -> list[pd.DataFrame]:
    if rows.empty:
        return []
    offer = pd.to_datetime(rows[Derived.RESPOND_BY], utc=True)
    until = offer.dt.strftime("; respond by %Y-%m-%dT%H:%M:%SZ").fillna("")
    seat = rows[Derived.RESERVED_SEAT].fillna("")
    return [
        _frame(
            {
                AuditCol.AT: rows[StoreCol.AT].to_numpy(),
                AuditCol.ACTOR: rows[StoreCol.ACTOR].to_numpy(),
                AuditCol.EVENT: rows[StoreCol.ACTION].to_numpy(),
                AuditCol.TEAM: rows[Derived.APPLICANT].to_numpy(),
                AuditCol.STATUS: (rows[StoreCol.FROM_STATUS] + " → " + rows[StoreCol.TO_STATUS]).to_numpy(),
                AuditCol.DETAIL: (
                    rows[StoreCol.REASON] + until + seat.where(seat == "", "; reserved seat: " + seat)
                ).to_numpy(),
            },
            len(rows),
        )
    ]


def audit_trail(engine: sa.Engine, cohort: str) -> pd.DataFrame:
    """Selections and their decisions, the freeze, notices, approvals and actions, oldest first (times in UTC)."""
    parts = _selections(selection_history(engine, cohort))
    frozen = freeze_record(engine, cohort)
    if frozen:
        event: dict[str, object] = {
            AuditCol.AT: [frozen.frozen_at],
            AuditCol.ACTOR: "send-notices run",
            AuditCol.EVENT: "freeze",
            AuditCol.TEAM: "",
            AuditCol.STATUS: "",
            AuditCol.DETAIL: f"selection {frozen.selection_id} is the one decision notices are sent from",
        }
        parts.append(_frame(event, 1))
    parts += _notices(ledger(engine, cohort)) + _approvals(approval_history(engine, cohort))
    parts += _actions(action_log(engine, cohort))
    if not parts:
        return pd.DataFrame(columns=list(AuditCol))
    trail = pd.concat(parts, ignore_index=True)
    trail[AuditCol.AT] = pd.to_datetime(trail[AuditCol.AT], utc=True)
    return trail.sort_values(AuditCol.AT, kind="mergesort").reset_index(drop=True)


def write_audit(engine: sa.Engine, cohort: str, path: Path) -> tuple[Path, int]:
    trail = audit_trail(engine, cohort)
    return write_table(trail, path), len(trail)
