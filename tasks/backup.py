"""Backup and restore of one cohort's state, and the check that a send's store is not a lost one.

**The backup file.** Whichever the backend, a backup is one SQLite file: the cohort's rows of every store table
(its selections and their decisions, the freeze, the lifecycle actions, the notice ledger, its registration, the
action sequence, the approvals; never a lease, which belongs to a live run) plus a `backup_info` table naming the
cohort, the format, when and from which backend it was taken, the columns of each table it holds and its row
counts. On SQLite it is taken with the online backup API (`sqlite3.Connection.backup`, the whole file in one step
inside one read transaction: WAL lets writers go on, and the copy is the store as of one commit), then the copy is
trimmed to the cohort and compacted; on PostgreSQL the cohort's rows are copied into a new file inside one
REPEATABLE READ, READ ONLY transaction (one snapshot, again without stopping a send).

This portable file, rather than a `pg_dump` archive, because: a store can hold several calls and a backup is of
one (restore must refuse or replace only that cohort's rows, and `pg_restore` restores a whole database); a
backup restores onto either backend (a store moved from a staff machine's SQLite to a shared PostgreSQL, and
back); the file says what it holds, so a restore can refuse a file that is no backup, one of another cohort or
one from a newer schema with one sentence, before touching the store; no pg_dump of the server's major version
has to be installed on the machine that runs it, nor a password passed to another program; and anyone can open it
(`sqlite3 FILE`), since it is a store itself. It holds applicants' personal data, so it is written readable by its
owner only (mode 0600), whole or not at all (written beside the target, then renamed over it).

**Restore** holds the cohort's lease (so no send, promotion or staff action of the cohort runs meanwhile) and
writes in one write transaction (the store's write lock): it refuses when the store already holds the cohort's
selections, notices, actions or approvals unless told to replace them, and then either the whole backup is in
the store or nothing changed. Row ids are new ones (another cohort in the store may hold the old ones); rows
keep their order, and decisions and the freeze follow their selection's new id.

**A lost store.** After each send, each team's notice state is also written where staff keep their own copy
(the Decisions tab, or the outbox folder: tasks/writeback.py, tasks/outbox.py). Before a send plans anything it
compares that record with the store (`check_store_knows`): a notice recorded as sent that the ledger does not
hold as possibly delivered means the store was lost, replaced or is the wrong one, and the send stops, naming the
restore command. A store that knows more than the record (the record not yet written after a crash) is fine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from schemas.backup import (
    BACKUP_FORMAT,
    BACKUP_INFO_TABLE,
    RECORD_TIME_FORMAT,
    BackupInfo,
    RecordedState,
)
from schemas.columns import LIST_SEPARATOR, Derived, Kind
from schemas.config import CohortConfig, SheetSourceConfig
from schemas.errors import StaffError
from schemas.ledger import MAYBE_DELIVERED, LedgerState
from schemas.lifecycle import Action
from schemas.store import StoreCol
from tasks import migrations
from tasks.lease import cohort_lease
from tasks.ledger import ledger
from tasks.local_time import date_text
from tasks.notices import DECISION_KINDS
from tasks.outbox import notice_record_path
from tasks.outbox import read_notice_record as read_outbox_record
from tasks.outbox import write_notice_record as write_outbox_record
from tasks.retention import purge_day, purge_moment
from tasks.sheets import sheet_client
from tasks.store import (
    StoreError,
    action_sequences,
    actions,
    advice,
    approvals,
    cohorts,
    decisions,
    freezes,
    leases,
    metadata,
    notices,
    now,
    safe_url,
    selections,
    write_transaction,
)
from tasks.writeback import read_notice_record_from_sheet, write_notice_record_to_sheet

# The tables a backup holds, parents first (a decision and a freeze name their selection).
BACKED_UP: tuple[sa.Table, ...] = (
    selections,
    decisions,
    freezes,
    actions,
    notices,
    cohorts,
    action_sequences,
    approvals,
)
# Rows that mean a store holds a cohort's data (a registration or a lease alone does not: any run makes those).
DATA_TABLES: tuple[sa.Table, ...] = (selections, notices, actions, approvals)
# Tables whose rows get new ids on restore, in their old order.
_RENUMBERED = frozenset({selections.name, actions.name, notices.name, approvals.name})
_SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(StaffError):
    """No backup was written (nothing to back up, an unwritable file, the store not readable)."""


class RestoreError(StaffError):
    """The restore was refused or failed: the state store is as it was."""


class LostStoreError(StaffError):
    """The notice record outside the store shows notices sent that the store does not know: nothing was sent."""


@dataclasses.dataclass(frozen=True)
class BackupSummary:
    """What one backup file holds: the cohort, its row counts by table, the notices among them."""

    cohort: str
    path: Path
    rows: dict[str, int]
    notices_sent: int
    made_at: dt.datetime
    backend: str
    after: str = ""  # what staff must do after a restore (a purge that is due), said after the counts

    def counts_text(self) -> str:
        tables = sum(1 for n in self.rows.values() if n)
        total = sum(self.rows.values())
        notices_held = self.rows.get(notices.name, 0)
        selections_held = self.rows.get(selections.name, 0)
        return (
            f"{tables} tables, {total} rows: {selections_held} selection(s), "
            f"{self.rows.get(decisions.name, 0)} decisions, {notices_held} notices ({self.notices_sent} sent), "
            f"{self.rows.get(actions.name, 0)} actions" + (f"; {self.after}" if self.after else "")
        )


# ---------------------------------------------------------------------------- rows of one cohort


def cohort_rows(table: sa.Table, cohort: str) -> sa.ColumnElement[bool]:
    """The rows of `table` that belong to `cohort` (a decision belongs to its selection's cohort)."""
    if table is decisions:
        return decisions.c.selection_id.in_(sa.select(selections.c.id).where(selections.c.cohort == cohort))
    return table.c.cohort == cohort


def _utc(value: object) -> object:
    """A moment as UTC (SQLite keeps none, and PostgreSQL reads a naive one in the session's zone): every stored
    time means the same instant on either backend."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


def held_data(conn: sa.Connection, cohort: str) -> dict[str, int]:
    """How many rows of each data table the store holds for the cohort (only the tables that have some)."""
    counts = {
        table.name: int(conn.execute(sa.select(sa.func.count()).where(cohort_rows(table, cohort))).scalar_one())
        for table in DATA_TABLES
    }
    return {name: n for name, n in counts.items() if n}


def _counts_words(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name}: {n}" for name, n in counts.items())


# ---------------------------------------------------------------------------- backup


def backup_store(engine: sa.Engine, config: CohortConfig, target: Path) -> BackupSummary:
    """The cohort's rows written to `target` as a backup file, replacing it whole (written beside it, then renamed);
    refused (nothing written) when the store holds nothing for the cohort, so a lost store never overwrites the
    last good backup with an empty one."""
    cohort = config.cohort_id
    store = sa.make_url(str(engine.url)).database if engine.dialect.name == "sqlite" else None
    if store and Path(store).resolve() == target.resolve():
        raise BackupError(f"--to {target} is the state store itself: give another file (e.g. on another disk)")
    partial: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)  # mode 0600
        os.close(handle)
        partial = Path(name)
        if engine.dialect.name == "sqlite":
            _sqlite_copy(engine, partial)
            copy = _file_engine(partial)
            try:
                with copy.begin() as conn:
                    _trim_to(conn, cohort)
            finally:
                copy.dispose()
        else:
            _copy_snapshot(engine, partial, cohort)
        summary = _finish(partial, config, engine.dialect.name, target)
        partial.replace(target)
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        words = advice(exc) if isinstance(exc, sa.exc.DBAPIError) else f"{exc.__class__.__name__}: {exc}"
        raise BackupError(f"no backup was written to {target}: {words}") from None
    finally:
        if partial is not None:
            for leftover in (partial, *(partial.with_name(partial.name + end) for end in ("-wal", "-shm", "-journal"))):
                leftover.unlink(missing_ok=True)
    return summary


def _file_engine(path: Path, *, read_only: bool = False) -> sa.Engine:
    """A plain engine on a backup file (none of the store's pragmas: the file is nobody's live store)."""
    uri = path.resolve().as_uri() + ("?mode=ro" if read_only else "")
    return sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=sa.pool.NullPool)


def _sqlite_copy(engine: sa.Engine, partial: Path) -> None:
    """The whole store copied by SQLite's online backup API, in one step: a read transaction, so the copy is the
    store as of one commit while other runs go on writing (WAL)."""
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        if not isinstance(source, sqlite3.Connection):
            raise TypeError("a SQLite store without a sqlite3 connection")
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            source.backup(copy)
    finally:
        raw.close()


def _trim_to(conn: sa.Connection, cohort: str) -> None:
    """The copy keeps only the cohort's rows of the backed-up tables (and every store table, so it opens as a
    store): other cohorts' data and the leases are deleted, tables this version does not know are dropped."""
    known = {table.name for table in metadata.sorted_tables}
    for name in sa.inspect(conn).get_table_names():
        if name not in known:
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
    metadata.create_all(conn)
    conn.execute(leases.delete())
    for table in reversed(BACKED_UP):  # children first
        conn.execute(table.delete().where(~cohort_rows(table, cohort)))


def _copy_snapshot(engine: sa.Engine, partial: Path, cohort: str) -> None:
    """The cohort's rows of a database server copied into a new file, read in one snapshot."""
    copy = _file_engine(partial)
    try:
        with copy.begin() as target:
            metadata.create_all(target)
            with engine.connect() as source:
                source = source.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                with source.begin():
                    for table in BACKED_UP:
                        rows = source.execute(sa.select(table).where(cohort_rows(table, cohort))).mappings().all()
                        if rows:
                            target.execute(table.insert(), [{k: _utc(v) for k, v in row.items()} for row in rows])
    finally:
        copy.dispose()


def _finish(partial: Path, config: CohortConfig, backend: str, target: Path) -> BackupSummary:
    """The copy's backup_info written, the file made self-contained (no WAL beside it) and compacted, so deleted
    rows of other cohorts are gone from its pages too; refused when it holds none of the cohort's data."""
    copy = _file_engine(partial)
    try:
        with copy.begin() as conn:
            held = held_data(conn, config.cohort_id)
            if not held:
                raise BackupError(
                    f"the state store holds nothing for cohort {config.cohort_id} (no selection, notice, action or "
                    f"approval): there is nothing to back up, so {target} was not written (is this the right store?)"
                )
            rows = _row_counts(conn)
            sent = int(conn.execute(sa.select(sa.func.count()).where(notices.c.state == LedgerState.SENT)).scalar_one())
            made_at = now()
            info = {
                BackupInfo.FORMAT: str(BACKUP_FORMAT),
                BackupInfo.COHORT: config.cohort_id,
                BackupInfo.PROGRAM: config.program,
                BackupInfo.NAME: config.cohort,
                BackupInfo.MADE_AT: made_at.isoformat(),
                BackupInfo.BACKEND: backend,
                BackupInfo.SCHEMA: json.dumps(_schema_of(conn), sort_keys=True),
                BackupInfo.REVISION: migrations.head(),  # the store was brought to it when it was opened
                BackupInfo.ROWS: json.dumps(rows, sort_keys=True),
            }
            conn.exec_driver_sql(
                f"CREATE TABLE {BACKUP_INFO_TABLE} ({BackupInfo.KEY} TEXT PRIMARY KEY, {BackupInfo.VALUE} TEXT)"
            )
            conn.execute(
                _info_table().insert(), [{BackupInfo.KEY: k.value, BackupInfo.VALUE: v} for k, v in info.items()]
            )
        with copy.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
            conn.exec_driver_sql("VACUUM")
    finally:
        copy.dispose()
    return BackupSummary(config.cohort_id, target, rows, sent, made_at, backend)


def _row_counts(conn: sa.Connection) -> dict[str, int]:
    return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()) for t in BACKED_UP}


def _schema_of(conn: sa.Connection) -> dict[str, list[str]]:
    """The columns of each backed-up table as the file holds them."""
    inspector = sa.inspect(conn)
    return {t.name: sorted(c["name"] for c in inspector.get_columns(t.name)) for t in BACKED_UP}


def _info_table() -> sa.Table:
    return sa.Table(
        BACKUP_INFO_TABLE, sa.MetaData(), sa.Column(BackupInfo.KEY, sa.Text), sa.Column(BackupInfo.VALUE, sa.Text)
    )


# ---------------------------------------------------------------------------- restore


@dataclasses.dataclass(frozen=True)
class Backup:
    """A backup file, checked: what it says about itself, and the columns of each table it holds."""

    path: Path
    summary: BackupSummary
    schema: dict[str, list[str]]


def read_backup(path: Path, cohort: str) -> Backup:
    """The backup at `path`, or RestoreError with one sentence: not there, not a backup, of another cohort, or made
    by a newer cohort-select (a format or a table or column this version does not know)."""
    if not path.is_file():
        raise RestoreError(f"{path} is not a file: give the backup file that `cohort-select backup --to` wrote")
    with path.open("rb") as handle:
        magic = handle.read(len(_SQLITE_MAGIC))
    if magic != _SQLITE_MAGIC:
        raise RestoreError(f"{path} is not a cohort-select backup (it is not a SQLite file): nothing was restored")
    info = _info_of(path)
    try:
        made_format = int(info[BackupInfo.FORMAT])
        schema = json.loads(info[BackupInfo.SCHEMA])
        if not isinstance(schema, dict):
            raise ValueError("schema is not a mapping")
        rows = json.loads(info[BackupInfo.ROWS])
        summary = BackupSummary(
            info[BackupInfo.COHORT],
            path,
            {str(k): int(v) for k, v in rows.items()},
            0,
            dt.datetime.fromisoformat(info[BackupInfo.MADE_AT]),
            info[BackupInfo.BACKEND],
        )
    except (KeyError, ValueError, TypeError, AttributeError):
        raise RestoreError(
            f"{path} is not a cohort-select backup (its backup_info is incomplete): nothing was restored"
        ) from None
    if made_format > BACKUP_FORMAT:
        raise RestoreError(
            f"{path} was written by a newer cohort-select (backup format {made_format}; this version reads up to "
            f"{BACKUP_FORMAT}): restore it with that version; nothing was restored"
        )
    revision = info.get(BackupInfo.REVISION)
    if revision is not None and not migrations.is_known(revision):
        raise RestoreError(
            f"{path} was written by a newer cohort-select (schema revision {revision}; this checkout knows up to "
            f"{migrations.head()}): update this checkout (git pull, then make) and restore again; nothing was restored"
        )
    unknown = _unknown_schema(schema)
    if unknown:
        raise RestoreError(
            f"{path} was written by a newer cohort-select (its store has {', '.join(unknown)}, which this version "
            "does not know): restore it with that version, or upgrade this one; nothing was restored"
        )
    if summary.cohort != cohort:
        raise RestoreError(
            f"{path} is a backup of cohort {summary.cohort!r}, not of {cohort!r} (the cohort file's id): give this "
            "cohort's backup, or the cohort file it was made with; nothing was restored"
        )
    return Backup(path, dataclasses.replace(summary, notices_sent=_sent_in(path)), schema)


def _info_of(path: Path) -> dict[str, str]:
    engine = _file_engine(path, read_only=True)
    try:
        with engine.connect() as conn:
            if BACKUP_INFO_TABLE not in sa.inspect(conn).get_table_names():
                raise RestoreError(
                    f"{path} is not a cohort-select backup (a SQLite file without backup_info: a state store itself "
                    "is not a backup; make one with `cohort-select backup`): nothing was restored"
                )
            rows = conn.execute(sa.select(_info_table())).all()
    except SQLAlchemyError as exc:
        words = f"{exc.__class__.__name__}: {getattr(exc, 'orig', exc)}"
        raise RestoreError(f"{path} is not a cohort-select backup ({words}): nothing was restored") from None
    finally:
        engine.dispose()
    return {str(key): str(value) for key, value in rows}


def _unknown_schema(schema: Mapping[str, list[str]]) -> list[str]:
    """Tables and columns of a backup that this version's store does not have (`schema` checked a mapping)."""
    known = {table.name: {c.name for c in table.columns} for table in metadata.sorted_tables}
    unknown = []
    for name, columns in sorted(schema.items()):
        if name not in known:
            unknown.append(f"table {name}")
            continue
        unknown += [f"column {name}.{c}" for c in sorted(set(columns) - known[name])]
    return unknown


def _sent_in(path: Path) -> int:
    engine = _file_engine(path, read_only=True)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(notices.c.state == LedgerState.SENT)).scalar_one())
    except SQLAlchemyError as exc:
        words = f"{exc.__class__.__name__}: {getattr(exc, 'orig', exc)}"
        raise RestoreError(f"{path} is not a cohort-select backup ({words}): nothing was restored") from None
    finally:
        engine.dispose()


def _purged_in(conn: sa.Connection, cohort: str) -> bool:
    """Whether the connected store (or backup) records the retention purge of the cohort's applicant data."""
    query = sa.select(actions.c.id).where(actions.c.cohort == cohort, actions.c.action == Action.PURGE)
    return conn.execute(query.limit(1)).first() is not None


def purge_refusal(cohort: str, *, store_purged: bool, backup_purged: bool) -> str:
    """Why a restore must not run, or "": a backup taken before the store's purge would put back the personal data
    the purge removed (and a send, promotion or selection would be allowed again)."""
    if not store_purged or backup_purged:
        return ""
    return (
        f"the state store records that cohort {cohort}'s applicant data was purged under retention, and this backup "
        "was taken before that purge: restoring it would bring the data back, so nothing was restored (a backup "
        "taken after the purge can be restored)"
    )


def purge_due_words(config: CohortConfig, at: dt.datetime, *, backup_purged: bool) -> str:
    """What staff must do after restoring a backup of data past its retention period onto a store with no record of
    a purge (a lost store, or one not yet purged), or "".

    Allowed, with this said, rather than refused: refusing would leave a lost store with no way back at all (the
    backup is the only copy of which notices went out, without which a send could notify every team again), and it
    would not remove the data, which stays in the backup file either way; `purge --apply` removes it from the
    store again, and the purge's own checks (no open offer, the lease) still hold."""
    if backup_purged or config.notices is None or at < purge_moment(config):
        return ""
    return (
        f"the retention period of cohort {config.cohort} ended on {date_text(purge_day(config))}, so its applicant "
        f"data is due to be purged: run `cohort-select purge --apply` with this cohort file now"
    )


def restore_store(engine: sa.Engine, config: CohortConfig, backup: Backup, *, replace: bool) -> BackupSummary:
    """The backup's rows put in the store, under the cohort's lease and in one write transaction; refused (nothing
    changed) when the store holds the cohort's data and `replace` is not given."""
    cohort = config.cohort_id
    source = _file_engine(backup.path, read_only=True)
    try:
        with cohort_lease(engine, config, "restore"), write_transaction(engine) as conn:
            with source.connect() as read:
                backup_purged = _purged_in(read, cohort)
            refusal = purge_refusal(cohort, store_purged=_purged_in(conn, cohort), backup_purged=backup_purged)
            if refusal:
                raise RestoreError(refusal)
            held = held_data(conn, cohort)
            if held and not replace:
                raise RestoreError(
                    f"the state store {safe_url(str(engine.url))} already holds data of cohort {cohort} "
                    f"({_counts_words(held)}): nothing was restored; to replace it with the backup's, run the restore "
                    "again with --replace (back the store up first)"
                )
            for table in reversed(BACKED_UP):  # children first
                conn.execute(table.delete().where(cohort_rows(table, cohort)))
            with source.connect() as read:
                _insert_all(read, conn, backup.schema)
    except OperationalError as exc:
        raise StoreError(f"nothing was restored: {advice(exc)}") from None
    except (SQLAlchemyError, sqlite3.Error, KeyError) as exc:
        if isinstance(exc, StaffError):
            raise
        raise RestoreError(f"nothing was restored from {backup.path}: {exc.__class__.__name__}: {exc}") from None
    finally:
        source.dispose()
    return dataclasses.replace(backup.summary, after=purge_due_words(config, now(), backup_purged=backup_purged))


def _insert_all(read: sa.Connection, write: sa.Connection, schema: Mapping[str, list[str]]) -> None:
    """Every backed-up row inserted in its table's order; renumbered tables get new ids, and the rows that name a
    selection follow it to its new id."""
    new_selection: dict[int, int] = {}
    for table in BACKED_UP:
        columns = [table.c[name] for name in schema.get(table.name, []) if name in table.c]
        if not columns:
            continue
        query = sa.select(*columns)
        if StoreCol.ID in table.c:
            query = query.order_by(table.c.id)
        kept: list[dict[str, Any]] = []
        for row in read.execute(query).mappings():
            values: dict[str, Any] = {key: _utc(value) for key, value in row.items()}
            if StoreCol.SELECTION_ID in values and table is not selections:
                values[StoreCol.SELECTION_ID] = new_selection[int(values[StoreCol.SELECTION_ID])]
            if table.name in _RENUMBERED:  # one by one, so the new ids keep the old order
                old = values.pop(StoreCol.ID)
                inserted = write.execute(table.insert().values(values)).inserted_primary_key
                if table is selections and inserted is not None:
                    new_selection[int(old)] = int(inserted[0])
            else:
                kept.append(values)
        if kept:
            write.execute(table.insert(), kept)


# ---------------------------------------------------------------------------- the notice record outside the store

# Applicant → the notice kinds recorded (or known) as possibly delivered to it.
NoticeRecord = Mapping[str, frozenset[str]]

_ENTRY = re.compile(
    rf"^\s*(?P<kind>[a-z_]+)\s+(?P<state>{RecordedState.MAYBE_SENT.value}|{RecordedState.SENT.value})\b"
)
_KINDS = frozenset(Kind)


def record_cells(ledger_rows: pd.DataFrame, zone: str, kinds: Iterable[str] | None = None) -> dict[str, str]:
    """Applicant → its notice cell: each kind of notice that may have reached it, once, with when it was recorded
    (in the cohort's zone), oldest first, e.g. "selected sent 2021-06-08 09:00 EDT". `kinds` limits the kinds."""
    maybe = ledger_rows[ledger_rows[StoreCol.LEDGER_STATE].isin(sorted(MAYBE_DELIVERED))]
    if kinds is not None:
        maybe = maybe[maybe[StoreCol.KIND].isin(sorted(set(kinds)))]
    if maybe.empty:
        return {}
    at = pd.to_datetime(maybe[StoreCol.UPDATED_AT], utc=True).dt.tz_convert(zone)
    latest = (
        maybe.assign(at=at)
        .sort_values(["at", StoreCol.ID])
        .drop_duplicates([Derived.APPLICANT, StoreCol.KIND], keep="last")
    )
    words = latest[StoreCol.LEDGER_STATE].map(
        lambda state: (RecordedState.SENT if state == LedgerState.SENT else RecordedState.MAYBE_SENT).value
    )
    entries = latest[StoreCol.KIND] + " " + words + " " + latest["at"].dt.strftime(RECORD_TIME_FORMAT)
    cells: dict[str, list[str]] = {}
    for applicant, entry in zip(latest[Derived.APPLICANT], entries, strict=True):
        cells.setdefault(str(applicant), []).append(str(entry))
    return {applicant: LIST_SEPARATOR.join(entries) for applicant, entries in cells.items()}


def recorded_kinds(cell: str) -> frozenset[str]:
    """The notice kinds a notice cell records as (maybe) sent; words that are not such an entry are ignored."""
    found = set()
    for entry in cell.split(LIST_SEPARATOR.strip()):
        match = _ENTRY.match(entry)
        if match and match["kind"] in _KINDS:
            found.add(match["kind"])
    return frozenset(found)


def record_of(cells: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """A notice record from its cells (applicant → cell), without applicants that have nothing recorded."""
    read = {applicant: recorded_kinds(cell) for applicant, cell in cells.items()}
    return {applicant: kinds for applicant, kinds in read.items() if kinds}


def known_to_store(ledger_rows: pd.DataFrame) -> dict[str, frozenset[str]]:
    """Applicant → the kinds of notice the ledger holds as possibly delivered (sent, sending or unknown)."""
    maybe = ledger_rows[ledger_rows[StoreCol.LEDGER_STATE].isin(sorted(MAYBE_DELIVERED))]
    known: dict[str, set[str]] = {}
    for applicant, kind in zip(maybe[Derived.APPLICANT], maybe[StoreCol.KIND], strict=True):
        known.setdefault(str(applicant), set()).add(str(kind))
    return {applicant: frozenset(kinds) for applicant, kinds in known.items()}


def unknown_to_store(recorded: NoticeRecord, known: NoticeRecord) -> list[tuple[str, str]]:
    """(applicant, kind) of each notice the record shows as sent and the store does not know, sorted."""
    return sorted(
        (applicant, kind) for applicant, kinds in recorded.items() for kind in kinds - known.get(applicant, frozenset())
    )


def check_store_knows(recorded: NoticeRecord, known: NoticeRecord, *, where: str, store: str, config_path: str) -> None:
    """LostStoreError (one sentence naming the restore) when `where` records notices the store does not know."""
    missing = unknown_to_store(recorded, known)
    if not missing:
        return
    teams = sorted({applicant for applicant, _ in missing})
    named = ", ".join(f"{applicant} ({kind})" for applicant, kind in missing[:3])
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    raise LostStoreError(
        f"{where} records {len(missing)} notice(s) to {len(teams)} team(s) as sent that the state store {store} "
        f"does not know ({named}{more}), so the store was lost, replaced or is the wrong one and nothing was planned "
        f"or sent: restore it from its latest backup with `cohort-select restore --config {config_path} --from "
        "BACKUP` (with --replace if the store holds anything for this cohort), then run the send again"
    )


def _record_place(config: CohortConfig, out_dir: Path) -> str:
    if isinstance(config.source, SheetSourceConfig):
        return f"the Decisions tab of Google Sheet {config.source.key}"
    return f"the notice record {notice_record_path(out_dir)}"


def read_notice_record(config: CohortConfig, out_dir: Path) -> dict[str, str]:
    """The notice record of this cohort's sends (applicant → cell): the Decisions tab for a sheet source, the
    outbox's notices-sent.csv under `out_dir` for a file source."""
    if isinstance(config.source, SheetSourceConfig):
        return read_notice_record_from_sheet(sheet_client(config.source), config.source.key)
    return read_outbox_record(out_dir, config.cohort_id)


def check_notice_record(engine: sa.Engine, config: CohortConfig, config_path: str, out_dir: Path) -> None:
    """Before a send plans anything: LostStoreError when the notice record shows notices the store does not know."""
    recorded = record_of(read_notice_record(config, out_dir))
    if not recorded:
        return
    check_store_knows(
        recorded,
        known_to_store(ledger(engine, config.cohort_id)),
        where=_record_place(config, out_dir),
        store=safe_url(config.database_url),
        config_path=config_path,
    )


def write_notice_record(engine: sa.Engine, config: CohortConfig, out_dir: Path) -> str:
    """After a send: each team's notice state, from the ledger, written to the notice record; returns "" or, when
    it could not be written, the problem in one sentence (the notices are sent either way, and a record that lags
    behind the store never stops a send)."""
    rows = ledger(engine, config.cohort_id)
    try:
        if isinstance(config.source, SheetSourceConfig):
            cells = record_cells(rows, config.timezone, DECISION_KINDS)  # the interest list has no rows there
            write_notice_record_to_sheet(sheet_client(config.source), config.source.key, cells)
        else:
            write_outbox_record(out_dir, config.cohort_id, record_cells(rows, config.timezone))
    except StaffError as exc:
        return (
            f"the notices are recorded in the state store, but {_record_place(config, out_dir)} could not be "
            f"written ({exc}); run the send again to write it (nothing is sent twice), and back the store up"
        )
    return ""
