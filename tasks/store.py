"""The state store: recorded selections and the notice ledger (SQLAlchemy; SQLite by default, PostgreSQL by URL).

Every write is one transaction, so a crash or a full disk leaves either the whole change or none of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)

from schemas.columns import INITIAL_DECISION_KINDS, Col, Derived
from schemas.errors import StaffError
from schemas.ledger import MAYBE_DELIVERED
from schemas.lifecycle import Move
from schemas.store import Freeze, SelectionHead, StoreCol
from tasks import migrations

if TYPE_CHECKING:
    from pandas._typing import Scalar

metadata = sa.MetaData()

selections = sa.Table(
    "selections",
    metadata,
    sa.Column(StoreCol.ID, sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(StoreCol.COHORT, sa.String(200), nullable=False, index=True),
    sa.Column(StoreCol.RECORDED_AT, sa.DateTime(timezone=True), nullable=False),
    sa.Column(StoreCol.INPUT_SHA256, sa.String(64), nullable=False),
    sa.Column(StoreCol.CONFIG_SHA256, sa.String(64), nullable=False),
    sa.Column(StoreCol.PROVISIONAL, sa.Boolean, nullable=False),
)

DECISION_FIELDS = (
    Col.SOURCE_ROW,
    Derived.TEAM_KEY,
    Col.STATUS,
    Derived.RANK,
    Derived.SCORE,
    Col.REASONS,
    Col.LOCAL_NAME,
    Col.STATE,
    Col.LEAD_NAME,
    Col.LEAD_EMAIL,
    Col.SUBMITTER_EMAIL,
    Col.MEMBER_NAMES,
    Derived.RESERVED_SEAT,
    Derived.RESERVES,
    Derived.REASON_CODES,
    Derived.MESSAGE_TO_TEAM,
)
JSON_FIELDS = (Col.MEMBER_NAMES, Derived.RESERVES, Derived.REASON_CODES)
# Filled in when the frame lacks them (a selection made without the staff-notes step, or by an older version).
DECISION_DEFAULTS: dict[str, object] = {Derived.REASON_CODES: [], Derived.MESSAGE_TO_TEAM: ""}

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column(StoreCol.SELECTION_ID, sa.ForeignKey(selections.c.id), primary_key=True),
    sa.Column(Col.SOURCE_ROW, sa.Integer, primary_key=True),
    sa.Column(Derived.TEAM_KEY, sa.Text, nullable=False),
    sa.Column(Col.STATUS, sa.String(20), nullable=False),
    sa.Column(Derived.RANK, sa.Integer),
    sa.Column(Derived.SCORE, sa.Float),
    sa.Column(Col.REASONS, sa.Text, nullable=False),
    sa.Column(Col.LOCAL_NAME, sa.Text, nullable=False),
    sa.Column(Col.STATE, sa.String(8)),
    sa.Column(Col.LEAD_NAME, sa.Text, nullable=False),
    sa.Column(Col.LEAD_EMAIL, sa.Text, nullable=False),
    sa.Column(Col.SUBMITTER_EMAIL, sa.Text, nullable=False),
    sa.Column(Col.MEMBER_NAMES, sa.Text, nullable=False),
    sa.Column(Derived.RESERVED_SEAT, sa.Text),
    sa.Column(Derived.RESERVES, sa.Text),
    sa.Column(Derived.REASON_CODES, sa.Text),
    sa.Column(Derived.MESSAGE_TO_TEAM, sa.Text),
)

# The selection notices were sent from: once a decision notice is out, it is the baseline for good.
freezes = sa.Table(
    "freezes",
    metadata,
    sa.Column(StoreCol.COHORT, sa.String(200), primary_key=True),
    sa.Column(StoreCol.SELECTION_ID, sa.ForeignKey(selections.c.id), nullable=False),
    sa.Column(StoreCol.FROZEN_AT, sa.DateTime(timezone=True), nullable=False),
)

# Every change to a team's decision after the notices: who, when (effective and recorded), why.
actions = sa.Table(
    "actions",
    metadata,
    sa.Column(StoreCol.ID, sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(StoreCol.COHORT, sa.String(200), nullable=False, index=True),
    sa.Column(Derived.APPLICANT, sa.Text, nullable=False),
    sa.Column(StoreCol.ACTION, sa.String(20), nullable=False),
    sa.Column(StoreCol.FROM_STATUS, sa.String(20), nullable=False),
    sa.Column(StoreCol.TO_STATUS, sa.String(20), nullable=False),
    sa.Column(StoreCol.ACTOR, sa.Text, nullable=False),
    sa.Column(StoreCol.REASON, sa.Text, nullable=False),
    sa.Column(StoreCol.AT, sa.DateTime(timezone=True), nullable=False),
    sa.Column(StoreCol.RECORDED_AT, sa.DateTime(timezone=True), nullable=False),
    sa.Column(Derived.RESPOND_BY, sa.DateTime(timezone=True)),
    sa.Column(Derived.RESERVED_SEAT, sa.Text, nullable=False, default=""),
    sa.Column(StoreCol.ORIGIN, sa.Text, nullable=False, default=""),
)

notices = sa.Table(
    "notices",
    metadata,
    sa.Column(StoreCol.ID, sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(StoreCol.COHORT, sa.String(200), nullable=False),
    sa.Column(Derived.APPLICANT, sa.Text, nullable=False),
    sa.Column(StoreCol.KIND, sa.String(20), nullable=False),
    sa.Column(StoreCol.VERSION, sa.String(64), nullable=False),
    sa.Column(StoreCol.LEDGER_STATE, sa.String(20), nullable=False),
    sa.Column(StoreCol.ATTEMPTS, sa.Integer, nullable=False, default=0),
    sa.Column(StoreCol.LAST_ERROR, sa.Text, nullable=False, default=""),
    sa.Column(StoreCol.MESSAGE_ID, sa.Text, nullable=False),
    sa.Column(StoreCol.RECIPIENT, sa.Text, nullable=False),
    sa.Column(StoreCol.CC, sa.Text, nullable=False, default=""),
    sa.Column(StoreCol.SUBJECT, sa.Text, nullable=False),
    sa.Column(StoreCol.CREATED_AT, sa.DateTime(timezone=True), nullable=False),
    sa.Column(StoreCol.UPDATED_AT, sa.DateTime(timezone=True), nullable=False),
    sa.Column(StoreCol.CLAIMED_BY, sa.Text),  # the run that claimed it for sending (its lease owner)
    sa.Column(StoreCol.CC_REFUSED, sa.Text),  # the cc the server refused, with its words; the lead still got it
    sa.UniqueConstraint(
        StoreCol.COHORT, Derived.APPLICANT, StoreCol.KIND, StoreCol.VERSION, name="one_notice_per_decision"
    ),
)

# One row per cohort: its stable id (the key of every other table), the names it was registered with and
# where its responses come from, so a renamed call is recognised (tasks/identity.py).
cohorts = sa.Table(
    "cohorts",
    metadata,
    sa.Column(StoreCol.COHORT, sa.String(200), primary_key=True),
    sa.Column(StoreCol.PROGRAM, sa.Text, nullable=False),
    sa.Column(StoreCol.NAME, sa.Text, nullable=False),
    sa.Column(StoreCol.SOURCE, sa.Text, nullable=False),
    sa.Column(StoreCol.REGISTERED_AT, sa.DateTime(timezone=True), nullable=False),
)

# The number of lifecycle actions recorded for a cohort: a run records its moves only by moving this from the
# value it computed them from (compare-and-set), so two runs never both act on one team's decision.
action_sequences = sa.Table(
    "action_sequences",
    metadata,
    sa.Column(StoreCol.COHORT, sa.String(200), primary_key=True),
    sa.Column(StoreCol.SEQ, sa.Integer, nullable=False),
)

# The one run per cohort that may send notices or record lifecycle changes (see tasks/lease.py).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column(StoreCol.COHORT, sa.String(200), primary_key=True),
    sa.Column(StoreCol.OWNER, sa.Text, nullable=False),
    sa.Column(StoreCol.HOLDER, sa.Text, nullable=False),
    sa.Column(StoreCol.ACQUIRED_AT, sa.DateTime(timezone=True), nullable=False),
    sa.Column(StoreCol.HEARTBEAT_AT, sa.DateTime(timezone=True), nullable=False),
    sa.Column(StoreCol.EXPIRES_AT, sa.DateTime(timezone=True), nullable=False),
    sa.Column(StoreCol.TOKEN, sa.Integer, nullable=False),
)


approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column(StoreCol.ID, sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(StoreCol.COHORT, sa.String(200), nullable=False),
    sa.Column(StoreCol.KIND, sa.String(20), nullable=False),
    sa.Column(StoreCol.FLOW_RUN_ID, sa.String(64), nullable=False),
    sa.Column(StoreCol.OUTCOME, sa.String(20), nullable=False),
    sa.Column(StoreCol.NOTE, sa.Text, nullable=False),
    sa.Column(StoreCol.DECIDED_AT, sa.DateTime(timezone=True), nullable=False),
    sa.Column(StoreCol.APPROVER, sa.Text),  # none when nobody answered, or recorded before names were asked
)


class StoreError(StaffError):
    """The state store cannot be read or written; nothing was half-written."""


# PostgreSQL waits at most this long: to connect, for a lock (another run's write), for any one statement. A
# table locked elsewhere, a server that stopped answering or a full disk is then a message, never a hang. A
# `state_url` can set its own (`?connect_timeout=5&options=-c lock_timeout=2s`): the URL's settings come last.
CONNECT_TIMEOUT_SECONDS = 10
SQLITE_BUSY_TIMEOUT_SECONDS = 15
LOCK_TIMEOUT = f"{SQLITE_BUSY_TIMEOUT_SECONDS}s"  # as long as SQLite's busy wait
STATEMENT_TIMEOUT = "60s"
IDLE_IN_TRANSACTION_TIMEOUT = "10min"  # a run that stopped mid-transaction lets go of its locks
# The key of PostgreSQL's transaction-scoped advisory lock that every write transaction takes first: one writer
# at a time, as SQLite's BEGIN IMMEDIATE gives, so a read-then-write sees what it writes over on both backends.
WRITE_LOCK_KEY = 0x636F686F  # "coho"

_BUSY = ("locked", "busy", "lock timeout")
_LOST = ("terminating connection", "server closed the connection", "connection is lost", "connection refused")


def is_busy(exc: DBAPIError) -> bool:
    """Another run holds the store's write lock (SQLite: locked or busy; PostgreSQL: the lock timeout passed)."""
    return any(word in str(exc.orig) for word in _BUSY)


def _words(exc: DBAPIError) -> str:
    """The database's message on one line (PostgreSQL adds DETAIL and HINT lines)."""
    return "; ".join(line.strip() for line in str(exc.orig).splitlines() if line.strip())


def advice(exc: DBAPIError) -> str:
    """The database's words, with what staff can do about the usual causes."""
    words = _words(exc)
    if is_busy(exc):
        return f"{words}: another run is writing to the state store; wait for it to finish, then run again"
    if "full" in words or "No space" in words:
        return f"{words}: the disk holding the state store is full; free space, then run again"
    if "statement timeout" in words:
        return (
            f"{words}: the state store did not answer in time (a lock held elsewhere, a full disk or an overloaded "
            "server); ask whoever runs the database server, then run again"
        )
    if isinstance(exc, IntegrityError):
        return f"{words}: another run wrote the same record at the same moment; run again"
    if any(word in words for word in _LOST):
        return f"{words}: the connection to the state store was lost; check the database server, then run again"
    return words


class StoreFailure(StoreError):
    """A database error no step turned into its own message: still one staff message, never a traceback.

    The error keeps its SQLAlchemy class too (see `_as_staff_error`), so a step that handles, say, an
    OperationalError with words of its own still does.
    """

    def __str__(self) -> str:
        return (
            f"the state store could not be read or written ({advice(cast(DBAPIError, self))}); nothing was half-written"
        )


class StoreOperationalError(StoreFailure, OperationalError):
    """Locked, timed out, full, disconnected."""


class StoreIntegrityError(StoreFailure, IntegrityError):
    """A row another run wrote at the same moment."""


class StoreProgrammingError(StoreFailure, ProgrammingError):
    """A statement the database refused (a table missing from a store made elsewhere, a permission)."""


class StoreDataError(StoreFailure, DataError):
    """A value the database refused."""


class StoreDatabaseError(StoreFailure, DBAPIError):
    """Any other error the database reported."""


class NoSelectionError(StaffError):
    """Notices were asked for a cohort that has no recorded selection."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_store(url: str) -> sa.Engine:
    """An engine with the schema in place; SQLite gets its folder and a busy timeout, PostgreSQL its timeouts."""
    try:
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            sa.event.listen(engine, "begin", _sqlite_begin)
        elif parsed.get_backend_name() == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 (the postgres extra), not psycopg2
            engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args=_postgres_args(parsed))
            sa.event.listen(engine, "begin", _postgres_begin)
        else:
            engine = sa.create_engine(parsed, pool_pre_ping=True)
        sa.event.listen(engine, "handle_error", _as_staff_error)
        _create_schema(engine)
    except (SQLAlchemyError, OSError, ImportError) as exc:
        words = advice(exc) if isinstance(exc, DBAPIError) else f"{exc.__class__.__name__}: {exc}"
        raise StoreError(f"cannot open the state store {safe_url(url)}: {words}") from None
    return engine


def _postgres_args(url: sa.URL) -> dict[str, object]:
    """Timeouts for every connection (the URL's own `options` and `connect_timeout` win), and TCP keepalives so a
    vanished server is noticed."""
    given = url.query.get("options", "")
    options = " ".join(
        [
            f"-c lock_timeout={LOCK_TIMEOUT}",
            f"-c statement_timeout={STATEMENT_TIMEOUT}",
            f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT}",
            *([given] if isinstance(given, str) else given),
        ]
    )
    args: dict[str, object] = {"options": options.strip(), "keepalives": 1, "keepalives_idle": 30}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return args


def _create_schema(engine: sa.Engine) -> None:
    """The schema brought to the newest revision (tasks/migrations), in one write transaction (PostgreSQL's DDL is
    transactional, and SQLite's BEGIN IMMEDIATE waits for the write lock), so runs opening or upgrading a store at
    the same instant neither both migrate nor fail on each other's lock, and a failed upgrade leaves the store as
    it was. A store already at the newest revision costs one small read."""
    if _schema_current(engine):
        return
    with write_transaction(engine) as conn:
        migrations.upgrade(conn)


def _schema_current(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return migrations.stored_revision(conn) == migrations.head()


def _sqlite_pragmas(connection, _record) -> None:
    """WAL with synchronous=NORMAL: each commit survives a killed process without an fsync per commit.

    The driver's own transaction handling is off, so `_sqlite_begin` decides how each transaction starts.
    """
    connection.isolation_level = None
    _use_wal(connection)
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _use_wal(connection: sqlite3.Connection) -> None:
    """Put a new store in WAL mode. The switch needs the file to itself and SQLite answers "locked" at once, without
    its busy wait, while another run is opening the same new file; so it is retried for as long as that wait
    (SQLITE_BUSY_TIMEOUT_SECONDS). A store already in WAL (every store after its first opening) is only read."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


_DAMAGE = ("malformed", "not a database", "disk i/o error", "database corrupt")
_STAFF_FLAVOURS: tuple[tuple[type[DBAPIError], type[DBAPIError]], ...] = (
    (OperationalError, StoreOperationalError),
    (IntegrityError, StoreIntegrityError),
    (ProgrammingError, StoreProgrammingError),
    (DataError, StoreDataError),
    (DBAPIError, StoreDatabaseError),
)


def _as_staff_error(context: sa.engine.ExceptionContext) -> None:
    """Every database error leaves the store as a StaffError (one message, wherever it shows).

    A damaged SQLite file (a bad page, a truncated or overwritten file) is its own message. Any other error keeps
    its SQLAlchemy class and gains a StoreFailure one (its class is swapped in place, so SQLAlchemy still
    invalidates a lost connection as usual): steps that catch, say, OperationalError keep their own words.
    """
    words = str(context.original_exception)
    if isinstance(context.original_exception, sqlite3.DatabaseError) and any(d in words.lower() for d in _DAMAGE):
        url = context.engine.url if context.engine is not None else "the state store"
        raise StoreError(
            f"the state store {url} is damaged ({words}): nothing more was written. Restore it from a backup "
            "(or move it aside and start from the recorded outputs), then run again"
        ) from None
    exc = context.sqlalchemy_exception
    if not isinstance(exc, DBAPIError) or isinstance(exc, StoreFailure):
        return
    exc.__class__ = next(flavour for kind, flavour in _STAFF_FLAVOURS if isinstance(exc, kind))


def _sqlite_begin(conn: sa.Connection) -> None:
    """A write transaction takes SQLite's write lock at BEGIN (IMMEDIATE), so what it read cannot change before it
    writes; a read-only one starts DEFERRED and never blocks a writer."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate") else "BEGIN")


def _postgres_begin(conn: sa.Connection) -> None:
    """A write transaction first takes the store's write lock (an advisory lock held until it ends, waited for
    at most LOCK_TIMEOUT): as on SQLite, what it read cannot change before it writes, so two runs starting at the
    same instant never both insert one notice. Reads take no lock."""
    if conn.get_execution_options().get("immediate"):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


@contextlib.contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One transaction that reads then writes: it holds the store's write lock from its first statement (SQLite's
    BEGIN IMMEDIATE, PostgreSQL's advisory lock); conditional updates still say who won."""
    with engine.connect() as conn:
        conn.execution_options(immediate=True)
        with conn.begin():
            yield conn


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparseable URL)"


def _stored_value(value: object) -> object:
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if value is None or (not isinstance(value, str) and pd.isna(cast("Scalar", value))):  # a frame's cell: a scalar
        return None
    return value.item() if hasattr(value, "item") else value


def record_selection(
    engine: sa.Engine, cohort: str, decided: pd.DataFrame, input_sha: str, config_sha: str, *, provisional: bool
) -> int:
    """Stores one selection run and its decisions in one transaction; returns its id.

    Refused (SelectionFrozenError, nothing written) once decision notices are out: a run that started before
    the first notice went and finishes after it must not record a selection nobody will be sent.
    """
    missing = {column: value for column, value in DECISION_DEFAULTS.items() if column not in decided.columns}
    filled = {str(c): [v] * len(decided) if isinstance(v, list) else v for c, v in missing.items()}
    full = decided.assign(**cast("dict[str, Any]", filled))  # a column of lists, which the stubs' assign refuses
    rows = full[list(DECISION_FIELDS)].to_dict(orient="records")
    try:
        with write_transaction(engine) as conn:
            if _frozen_id(conn, cohort) is not None:
                raise SelectionFrozenError(
                    f"decision notices of cohort {cohort} went out while this selection ran: it was not recorded "
                    "and nothing was written; run the selection again to see what would change (drift.csv)"
                )
            inserted = conn.execute(
                selections.insert().values(
                    cohort=cohort,
                    recorded_at=now(),
                    input_sha256=input_sha,
                    config_sha256=config_sha,
                    provisional=provisional,
                )
            ).inserted_primary_key
            selection_id = cast("sa.Row[Any]", inserted)[0]  # an insert of one row always has its key
            if rows:
                conn.execute(
                    decisions.insert(),
                    [
                        {StoreCol.SELECTION_ID: selection_id} | {str(k): _stored_value(v) for k, v in row.items()}
                        for row in rows
                    ],
                )
    except OperationalError as exc:
        raise StoreError(f"the selection was not recorded (nothing was written): {advice(exc)}") from None
    return int(selection_id)


def latest_selection(engine: sa.Engine, cohort: str) -> tuple[SelectionHead, pd.DataFrame]:
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
            raise NoSelectionError(
                f"no selection is recorded for cohort {cohort!r}: run the selection first (the select-cohort "
                "deployment, or `cohort-select select`)"
            )
        return SelectionHead(**head), _decisions_of(conn, head[StoreCol.ID])


def _decisions_of(conn: sa.Connection, selection_id: int) -> pd.DataFrame:
    frame = pd.read_sql(
        sa.select(decisions).where(decisions.c.selection_id == selection_id).order_by(decisions.c.source_row), conn
    )
    for column in JSON_FIELDS:
        frame[column] = frame[column].map(lambda text: json.loads(text) if isinstance(text, str) else [])
    frame[Derived.RESERVED_SEAT] = frame[Derived.RESERVED_SEAT].fillna("")
    frame[Derived.MESSAGE_TO_TEAM] = frame[Derived.MESSAGE_TO_TEAM].fillna("")
    return frame


def frozen_selection_id(engine: sa.Engine, cohort: str) -> int | None:
    """The selection the sent notices came from, once any decision notice has gone out; else None."""
    with engine.connect() as conn:
        return _frozen_id(conn, cohort)


def _frozen_id(conn: sa.Connection, cohort: str) -> int | None:
    out = (notices.c.state.in_(sorted(MAYBE_DELIVERED))) & (notices.c.kind.in_(sorted(INITIAL_DECISION_KINDS)))
    row = conn.execute(sa.select(freezes.c.selection_id).where(freezes.c.cohort == cohort)).first()
    if row is None:
        return None
    sent = conn.execute(sa.select(notices.c.id).where(notices.c.cohort == cohort, out).limit(1)).first()
    return int(row.selection_id) if sent is not None else None


class SelectionFrozenError(StaffError):
    """Decision notices are out: a new selection cannot be recorded (a re-run reports drift instead)."""


class StalePlanError(StaffError):
    """The notices were planned from a selection, or a state of the lifecycle, that is no longer current."""


def plan_basis(engine: sa.Engine, cohort: str) -> dict[str, int | None]:
    """What a plan of notices must still match when it is sent: the latest and the frozen selection, and the
    number of lifecycle actions, read together."""
    with engine.connect() as conn:
        latest = conn.execute(sa.select(sa.func.max(selections.c.id)).where(selections.c.cohort == cohort))
        return {"latest": latest.scalar_one(), "frozen": _frozen_id(conn, cohort), "actions": _sequence(conn, cohort)}


def _sequence(conn: sa.Connection, cohort: str) -> int:
    """The cohort's action sequence: the number of actions recorded (the table is made lazily, from the count)."""
    seq = conn.execute(sa.select(action_sequences.c.seq).where(action_sequences.c.cohort == cohort)).scalar()
    if seq is not None:
        return int(seq)
    return int(conn.execute(sa.select(sa.func.count()).where(actions.c.cohort == cohort)).scalar_one())


def baseline_selection(engine: sa.Engine, cohort: str) -> tuple[SelectionHead, pd.DataFrame]:
    """The frozen selection once notices are out, else the latest recorded one."""
    frozen = frozen_selection_id(engine, cohort)
    if frozen is None:
        return latest_selection(engine, cohort)
    with engine.connect() as conn:
        head = conn.execute(sa.select(selections).where(selections.c.id == frozen)).mappings().one()
        return SelectionHead(**head), _decisions_of(conn, frozen)


def freeze_selection(engine: sa.Engine, cohort: str, selection_id: int) -> None:
    """Before decision notices go out: the selection they were planned from becomes the baseline.

    In one write transaction with the checks that make it safe: it is still the latest recorded selection (else
    StalePlanError, nothing changed), and no other selection is already frozen with notices out.
    """
    try:
        with write_transaction(engine) as conn:
            latest = conn.execute(
                sa.select(sa.func.max(selections.c.id)).where(selections.c.cohort == cohort)
            ).scalar_one()
            frozen = _frozen_id(conn, cohort)
            if frozen == selection_id:
                return
            if frozen is not None or latest != selection_id:
                raise StalePlanError(_stale_words(selection_id, latest if frozen is None else frozen))
            conn.execute(freezes.delete().where(freezes.c.cohort == cohort))
            conn.execute(freezes.insert().values(cohort=cohort, selection_id=selection_id, frozen_at=now()))
    except OperationalError as exc:
        raise StoreError(f"the selection was not frozen before sending (nothing was sent): {advice(exc)}") from None


def _stale_words(planned: int | None, current: int | None) -> str:
    return (
        f"these notices were planned from selection {planned}, but selection {current} is now the one that "
        "counts (it was recorded after planning, e.g. during the approval pause): nothing was sent. Run the send "
        "again to review and approve the notices of the current selection"
    )


def check_plan_current(engine: sa.Engine, cohort: str, selection_id: int | None, actions_seq: int) -> None:
    """StalePlanError unless the store still holds what the notices were planned from."""
    basis = plan_basis(engine, cohort)
    current = basis["frozen"] if basis["frozen"] is not None else basis["latest"]
    if selection_id != current:
        raise StalePlanError(_stale_words(selection_id, current))
    if basis["actions"] != actions_seq:
        raise StalePlanError(
            "decisions changed after these notices were planned (another run or a staff member recorded a "
            "confirm, decline, withdrawal, offer or expiry): nothing was sent; run it again to send the "
            "notices of the decisions as they are now"
        )


class TransitionError(StaffError):
    """A decision cannot move that way (e.g. confirming a declined team); nothing was recorded."""


def record_actions(
    engine: sa.Engine, cohort: str, moves: list[Move], current: dict[str, str], seen: int | None = None
) -> int:
    """Lifecycle moves in one transaction, each checked against the status the store holds for its team.

    `current` is the status of every team before the moves and `seen` the action sequence they were computed
    from: they are recorded only by moving the sequence from `seen` to `seen + len(moves)` (compare-and-set), so
    if another run recorded an action in between nothing is recorded (TransitionError) and two runs never both
    give away one seat. Returns the number of moves recorded.
    """
    if not moves:
        return 0
    try:
        with write_transaction(engine) as conn:
            recorded = _sequence(conn, cohort)
            base = recorded if seen is None else seen
            if not _advance(conn, cohort, base, base + len(moves)):
                raise TransitionError(
                    "another run recorded a decision change at the same moment: nothing was recorded; run it again"
                )
            latest = _latest_actions(conn, cohort)
            for move in moves:
                team, was = move.applicant, move.from_status
                holds = latest.get(team, current.get(team))
                if holds != was:
                    raise TransitionError(f"team {team} is {holds}, not {was}: nothing was recorded")
                latest[team] = move.to_status
            stamp = {StoreCol.COHORT: cohort, StoreCol.RECORDED_AT: now()}
            conn.execute(actions.insert(), [stamp | _in_utc(m) for m in moves])
    except OperationalError as exc:
        raise StoreError(f"the decision change was not recorded (nothing was written): {advice(exc)}") from None
    return len(moves)


def record_moves(engine: sa.Engine, cohort: str, moves: list[Move], seen: int) -> int:
    """record_actions for moves computed together from action sequence `seen`: each team's status before them
    is the one its first move starts from (the compare-and-set guarantees nothing changed since)."""
    before = {m.applicant: m.from_status for m in reversed(moves)}
    return record_actions(engine, cohort, moves, before, seen)


def _advance(conn: sa.Connection, cohort: str, seen: int, to: int) -> bool:
    """Move the cohort's action sequence from `seen` to `to`; False when it no longer is `seen`."""
    if conn.execute(sa.select(action_sequences.c.seq).where(action_sequences.c.cohort == cohort)).first() is None:
        counted = int(conn.execute(sa.select(sa.func.count()).where(actions.c.cohort == cohort)).scalar_one())
        if counted != seen:
            return False
        conn.execute(action_sequences.insert().values(cohort=cohort, seq=to))
        return True
    moved = conn.execute(
        action_sequences.update()
        .where(action_sequences.c.cohort == cohort, action_sequences.c.seq == seen)
        .values(seq=to)
    )
    return moved.rowcount == 1


def _in_utc(move: Move) -> dict[str, object]:
    """The move's row, moments in UTC: SQLite keeps no offset, so every stored time means the same instant."""
    return {k: v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v for k, v in move.as_row().items()}


def _latest_actions(conn: sa.Connection, cohort: str) -> dict[str, str]:
    rows = conn.execute(
        sa.select(actions.c.applicant, actions.c.to_status).where(actions.c.cohort == cohort).order_by(actions.c.id)
    ).all()
    return {row.applicant: row.to_status for row in rows}


def action_log(engine: sa.Engine, cohort: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(actions).where(actions.c.cohort == cohort).order_by(actions.c.id), conn)


def selection_history(engine: sa.Engine, cohort: str) -> pd.DataFrame:
    """Every recorded selection of the cohort with its decisions (one row per decision)."""
    joined = sa.select(selections, decisions).join(decisions, decisions.c.selection_id == selections.c.id)
    with engine.connect() as conn:
        return pd.read_sql(
            joined.where(selections.c.cohort == cohort).order_by(selections.c.id, decisions.c.source_row), conn
        )


def freeze_record(engine: sa.Engine, cohort: str) -> Freeze | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(freezes).where(freezes.c.cohort == cohort)).mappings().first()
    return Freeze(**row) if row else None


def record_approval(  # noqa: PLR0913 -- one column each
    engine: sa.Engine, cohort: str, kind: str, flow_run_id: str, outcome: str, note: str, approver: str | None = None
) -> None:
    """Staff's answer to a send: approved, rejected or timed out, with their note and who gave it (none when nobody
    answered)."""
    row = {
        StoreCol.COHORT: cohort,
        StoreCol.KIND: kind,
        StoreCol.FLOW_RUN_ID: flow_run_id,
        StoreCol.OUTCOME: outcome,
        StoreCol.NOTE: note,
        StoreCol.APPROVER: approver or None,
        StoreCol.DECIDED_AT: now(),
    }
    try:
        with engine.begin() as conn:
            conn.execute(approvals.insert().values(row))
    except OperationalError as exc:
        raise StoreError(f"the approval could not be recorded: {advice(exc)}") from None


def approval_history(engine: sa.Engine, cohort: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(approvals).where(approvals.c.cohort == cohort).order_by(approvals.c.id), conn)
