"""The state store: recorded selections and the notice ledger (SQLAlchemy; SQLite by default, PostgreSQL by URL).

Every write is one transaction, so a crash or a full disk leaves either the whole change or none of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from schemas.columns import Col, Out

metadata = sa.MetaData()

selections = sa.Table(
    "selections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cohort", sa.String(200), nullable=False, index=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("input_sha256", sa.String(64), nullable=False),
    sa.Column("config_sha256", sa.String(64), nullable=False),
    sa.Column("provisional", sa.Boolean, nullable=False),
)

DECISION_FIELDS = (
    Col.SOURCE_ROW,
    Out.TEAM_KEY,
    Col.STATUS,
    Out.RANK,
    Out.SCORE,
    Col.REASONS,
    Col.LOCAL_NAME,
    Col.STATE,
    Col.LEAD_NAME,
    Col.LEAD_EMAIL,
    Col.SUBMITTER_EMAIL,
    Col.MEMBER_NAMES,
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("selection_id", sa.ForeignKey("selections.id"), primary_key=True),
    sa.Column("source_row", sa.Integer, primary_key=True),
    sa.Column("team_key", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("rank", sa.Integer),
    sa.Column("score", sa.Float),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("local_name", sa.Text, nullable=False),
    sa.Column("state", sa.String(8)),
    sa.Column("lead_name", sa.Text, nullable=False),
    sa.Column("lead_email", sa.Text, nullable=False),
    sa.Column("submitter_email", sa.Text, nullable=False),
    sa.Column("member_names", sa.Text, nullable=False),
)

notices = sa.Table(
    "notices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cohort", sa.String(200), nullable=False),
    sa.Column("applicant", sa.Text, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=False, default=""),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("cc", sa.Text, nullable=False, default=""),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("cohort", "applicant", "kind", "version", name="one_notice_per_decision"),
)


approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cohort", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("flow_run_id", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
)


class StoreError(Exception):
    """The state store cannot be read or written; nothing was half-written."""


class NoSelectionError(Exception):
    """Notices were asked for a cohort that has no recorded selection."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_store(url: str) -> sa.Engine:
    """An engine with the schema in place; SQLite gets its folder and a busy timeout."""
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": 15})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True)
        metadata.create_all(engine)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"cannot open the state store {safe_url(url)}: {exc.__class__.__name__}: {exc}") from None
    return engine


def _sqlite_pragmas(connection, _record) -> None:
    """WAL with synchronous=NORMAL: each commit survives a killed process without an fsync per commit."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparseable URL)"


def _stored_value(value: object) -> object:
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def record_selection(
    engine: sa.Engine, cohort: str, decided: pd.DataFrame, input_sha: str, config_sha: str, provisional: bool
) -> int:
    """Stores one selection run and its decisions in one transaction; returns its id."""
    rows = decided[list(DECISION_FIELDS)].to_dict(orient="records")
    try:
        with engine.begin() as conn:
            selection_id = conn.execute(
                selections.insert().values(
                    cohort=cohort,
                    recorded_at=now(),
                    input_sha256=input_sha,
                    config_sha256=config_sha,
                    provisional=provisional,
                )
            ).inserted_primary_key[0]
            if rows:
                conn.execute(
                    decisions.insert(),
                    [
                        {"selection_id": selection_id} | {str(k): _stored_value(v) for k, v in row.items()}
                        for row in rows
                    ],
                )
    except OperationalError as exc:
        raise StoreError(f"the selection was not recorded (nothing was written): {exc.orig}") from None
    return int(selection_id)


def latest_selection(engine: sa.Engine, cohort: str) -> tuple[dict, pd.DataFrame]:
    """The cohort's latest recorded selection and its decisions."""
    with engine.connect() as conn:
        head = (
            conn.execute(
                sa.select(selections).where(selections.c.cohort == cohort).order_by(selections.c.id.desc()).limit(1)
            )
            .mappings()
            .first()
        )
        if head is None:
            raise NoSelectionError(f"no selection is recorded for cohort {cohort!r}: run `cohort-select select` first")
        frame = pd.read_sql(
            sa.select(decisions).where(decisions.c.selection_id == head["id"]).order_by(decisions.c.source_row), conn
        )
    frame[Col.MEMBER_NAMES] = frame[Col.MEMBER_NAMES].map(json.loads)
    return dict(head), frame


def message_id(cohort: str, applicant: str, kind: str, version: str, domain: str) -> str:
    """The same notice always gets the same Message-ID, so a resend can be recognised downstream."""
    digest = hashlib.sha256(f"{cohort}|{applicant}|{kind}|{version}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def ledger(engine: sa.Engine, cohort: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(notices).where(notices.c.cohort == cohort).order_by(notices.c.id), conn)


_MOVE = sa.text(
    "UPDATE notices SET state = :state, updated_at = :updated_at, last_error = :error, "
    "attempts = attempts + :attempt WHERE id = :id"
).bindparams(sa.bindparam("updated_at", type_=sa.DateTime(timezone=True)))


class LedgerWriter:
    """Ledger transitions for one sending batch, on one connection; each is committed before it returns."""

    def __init__(self, engine: sa.Engine) -> None:
        self.connection = engine.connect()

    def move(self, notice_id: int, state: str, error: str = "", attempt: bool = False) -> None:
        params = {"state": state, "updated_at": now(), "error": error, "attempt": int(attempt), "id": notice_id}
        try:
            self.connection.execute(_MOVE, params)
            self.connection.commit()
        except OperationalError as exc:
            self.connection.rollback()
            raise StoreError(f"the notice ledger could not be updated: {exc.orig}") from None

    def close(self) -> None:
        self.connection.close()


def record_approval(engine: sa.Engine, cohort: str, kind: str, flow_run_id: str, outcome: str, note: str) -> None:
    """Staff's answer to a send: approved, rejected or timed out, with their note."""
    try:
        with engine.begin() as conn:
            conn.execute(
                approvals.insert().values(
                    cohort=cohort, kind=kind, flow_run_id=flow_run_id, outcome=outcome, note=note, decided_at=now()
                )
            )
    except OperationalError as exc:
        raise StoreError(f"the approval could not be recorded: {exc.orig}") from None


def approval_history(engine: sa.Engine, cohort: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(approvals).where(approvals.c.cohort == cohort).order_by(approvals.c.id), conn)
