"""The state store's schema under Alembic (tasks/migrations): a new store, a store written by 19386df's code (the
fixtures in tests/fixtures/) and one main opened before migrations all end at the newest revision with exactly
the tables tasks/store.py describes, every row kept, and no notice sent twice; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from flows.cli import main
from schemas.columns import Kind, ReasonCode, Status
from schemas.errors import StaffError
from schemas.ledger import LedgerState, RunKind
from tasks import migrations
from tasks.identity import open_cohort_store
from tasks.ledger import ledger, not_sent
from tasks.notices import decision_version, plan_notices
from tasks.store import WRITE_LOCK_KEY, StoreError, metadata, open_store
from tests.support.configs import make_config
from tests.support.old_store import ACTION_AS_OF, AS_OF, COHORT, load_postgres, load_sqlite
from tests.support.paths import CONFIG_PATH, ROOT
from tests.support.smtp import SmtpServer

OLD_TABLES = ("selections", "decisions", "freezes", "actions", "notices", "approvals")
NEW_TABLES = ("cohorts", "action_sequences", "leases")
# What 19386df's steps left in each table (tests/support/old_store.py): one selection of the 60 example rows, its
# freeze, a decline, a confirm and the offer of the freed seat; 57 ledger rows (56 sent, one refused address).
OLD_COUNTS = {"selections": 1, "decisions": 60, "freezes": 1, "actions": 3, "notices": 57, "approvals": 0}
DECLINED = "WA:greenville education association"
OFFERED = "MA:fairview education association"


# ---------------------------------------------------------------------------- stores and what they hold


def _old_store(backend: str, request, tmp_path: Path) -> str:
    """The store 19386df's code wrote, loaded as the test's state store (the file a config in tmp_path names, or
    the test's PostgreSQL database); its URL."""
    if backend == "sqlite":
        return load_sqlite(tmp_path / "state.sqlite")
    url = os.environ["COHORT_STATE_URL"]
    load_postgres(request.getfixturevalue("postgres_cluster"), str(sa.make_url(url).database))
    return url


def _other_store(backend: str, request, tmp_path: Path, name: str) -> str:
    """A second, empty store on the test's backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.sqlite'}"
    return request.getfixturevalue("postgres_cluster").new_url()


def _plain(url: str) -> sa.Engine:
    """An engine on the store that neither creates nor upgrades anything (what is there, as it is)."""
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _counts(url: str, tables=OLD_TABLES + NEW_TABLES) -> dict[str, int]:
    engine = _plain(url)
    present = set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {
            t: conn.execute(sa.select(sa.func.count()).select_from(sa.table(t))).scalar_one()
            for t in tables
            if t in present
        }


def _rows(url: str, table: str) -> list[tuple]:
    with _plain(url).connect() as conn:
        reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
        return [tuple(row) for row in conn.execute(sa.select(reflected).order_by(*list(reflected.c)[:2]))]


def _shape(url: str) -> dict[str, dict]:
    """Every table of the store as the database reports it: columns (type, nullability, default), primary key,
    foreign keys, indexes and unique constraints (the version table left out). One query per kind of thing."""
    inspector = sa.inspect(_plain(url))
    tables = sorted(set(inspector.get_table_names()) - {migrations.VERSION_TABLE})
    found = {
        "columns": inspector.get_multi_columns(filter_names=tables),
        "primary key": inspector.get_multi_pk_constraint(filter_names=tables),
        "foreign keys": inspector.get_multi_foreign_keys(filter_names=tables),
        "indexes": inspector.get_multi_indexes(filter_names=tables),
        "unique": inspector.get_multi_unique_constraints(filter_names=tables),
    }
    described = {
        "columns": lambda cs: {c["name"]: (str(c["type"]), c["nullable"], str(c.get("default"))) for c in cs},
        "primary key": lambda pk: sorted(pk["constrained_columns"]),
        "foreign keys": lambda fks: sorted(
            (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"])) for fk in fks
        ),
        "indexes": lambda ixs: sorted((str(i["name"]), tuple(map(str, i["column_names"])), i["unique"]) for i in ixs),
        "unique": lambda us: sorted((str(u["name"]), tuple(u["column_names"])) for u in us),
    }
    return {
        table: {kind: described[kind](found[kind][(None, table)]) for kind in described}  # type: ignore[operator]
        for table in tables
    }


def _differences(url: str, target: sa.MetaData = metadata) -> list:
    """Alembic's comparison of the store with the tables tasks/store.py describes (empty: they agree)."""
    with _plain(url).connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": migrations.VERSION_TABLE, "compare_type": True}
        )
        return compare_metadata(context, target)


VERSIONS = sa.table(migrations.VERSION_TABLE, sa.column("version_num"))


def _revisions(url: str) -> list[str]:
    with _plain(url).connect() as conn:
        return list(conn.execute(sa.select(VERSIONS.c.version_num)).scalars())


CREATED: dict[str, dict] = {}


def _made_by_create_all(backend: str, request, tmp_path: Path) -> dict[str, dict]:
    """The shape `metadata.create_all` gives a new store on the backend: what the revisions must build (made once
    per backend)."""
    if backend not in CREATED:
        url = _other_store(backend, request, tmp_path, "created")
        metadata.create_all(_plain(url))
        CREATED[backend] = _shape(url)
    return CREATED[backend]


# Columns that revisions after main's hand-written migrator (1304fdd) added: no store main left has them.
AFTER_MAIN = {"approvals": ("approver",)}


def _as_main_left_it(url: str) -> None:
    """What main's `_create_schema` did to a store it opened, up to 1304fdd (before migrations): create the
    missing tables and add the missing nullable columns of its tables (today's, without AFTER_MAIN), with no record
    of a revision."""
    with _plain(url).begin() as conn:
        metadata.create_all(conn)
        for table, names in AFTER_MAIN.items():  # a table create_all just made is today's: main's lacked these
            made = {column["name"] for column in sa.inspect(conn).get_columns(table)}
            for name in sorted(set(names) & made):
                conn.execute(sa.text(f'ALTER TABLE {table} DROP COLUMN "{name}"'))
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            later = AFTER_MAIN.get(table.name, ())
            for column in table.columns:
                if column.name not in present and column.nullable and column.name not in later:
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _config(tmp_path: Path, smtp_port: int):
    """Today's bundled cohort file on the local SMTP server and the test's store, its reserved seats as bundled
    (as the fixture's selection was made)."""
    seats = yaml.safe_load(CONFIG_PATH.read_text())["reserved_seats"]
    return make_config(tmp_path, smtp_port, reserved_seats=seats)


# ---------------------------------------------------------------------------- the revisions and the tables


def test_a_new_store_gets_exactly_the_tables_tasks_store_describes(backend, request, tmp_path):
    """The revisions build what `metadata.create_all` builds (columns, types, nullability, keys, indexes, unique
    constraints), and Alembic's comparison with the metadata finds nothing; it does find a change the revisions lack."""
    url = _other_store(backend, request, tmp_path, "new")
    open_store(url).dispose()
    assert _revisions(url) == [migrations.head()]
    assert _differences(url) == []
    assert _shape(url) == _made_by_create_all(backend, request, tmp_path)
    changed = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["approvals"].append_column(sa.Column("reviewer", sa.Text))
    sa.Index("ix_notices_recipient", changed.tables["notices"].c.recipient)
    found = {(d[0], getattr(d[-1], "name", None)) for d in _differences(url, changed) if isinstance(d, tuple)}
    assert found == {("add_column", "reviewer"), ("add_index", "ix_notices_recipient")}


def test_every_revision_goes_down_to_nothing_and_up_again(backend, request, tmp_path):
    from alembic import command

    url = _other_store(backend, request, tmp_path, "roundtrip")
    open_store(url).dispose()
    engine = _plain(url)
    with engine.begin() as conn:
        command.downgrade(migrations.alembic_config(conn), "base")
    assert set(sa.inspect(engine).get_table_names()) == {migrations.VERSION_TABLE}
    with engine.begin() as conn:
        command.upgrade(migrations.alembic_config(conn), "head")
    assert _differences(url) == []


# ---------------------------------------------------------------------------- stores made before migrations


def test_a_store_written_by_19386df_keeps_every_row_and_todays_steps_work_on_it(
    backend, request, tmp_path, prefect_server
):
    """Upgraded on open: every row is still there, the schema is today's, the sent notices still count as sent
    (a send plans and sends nothing again), and a staff action, the next promote and the audit work on it."""
    url = _old_store(backend, request, tmp_path)
    assert _counts(url) == OLD_COUNTS
    before = {table: _rows(url, table) for table in OLD_TABLES}
    open_store(url).dispose()
    assert _revisions(url) == [migrations.head()]
    assert _differences(url) == []
    assert _shape(url) == _made_by_create_all(backend, request, tmp_path)
    assert _counts(url) == OLD_COUNTS | dict.fromkeys(NEW_TABLES, 0)
    for table in ("selections", "freezes", "actions", "approvals"):
        assert _rows(url, table) == before[table], table
    assert [row[:15] for row in _rows(url, "decisions")] == before["decisions"]  # the new columns are NULL

    with SmtpServer() as smtp:
        config, path = _config(tmp_path, smtp.port)
        engine = open_cohort_store(config)
        log = ledger(engine, COHORT)
        assert (log["state"] == LedgerState.SENT).sum() == 56
        assert log.loc[log["applicant"] == OFFERED, "kind"].tolist() == [Kind.WAITLISTED, Kind.OFFER]
        offer = next(row for row in before["actions"] if row[2] == OFFERED)
        assert dt.datetime.fromisoformat(str(offer[10])).replace(tzinfo=None) == dt.datetime(2021, 6, 12, 16, 0)
        as_of = dt.datetime.fromisoformat(ACTION_AS_OF)
        for run in RunKind:  # every kind of run plans nothing the old code sent
            planned = plan_notices(engine, config, run, as_of).notices
            assert [n.applicant for n in not_sent(engine, COHORT, planned) if not n.refusal] == [], run
        out = tmp_path / "again"
        assert main(["notify", "--config", str(path), "--as-of", AS_OF, "--out", str(out), "--send"]) == 0
        assert smtp.received == []
        said = ["--team", OFFERED, "--reason", "said yes", "--by", "staff", "--as-of", ACTION_AS_OF]
        assert main(["confirm", "--config", str(path), *said]) == 0
        promote = ["promote", "--config", str(path), "--as-of", ACTION_AS_OF, "--out", str(tmp_path / "p"), "--send"]
        assert main(promote) == 0
        assert len(smtp.received) == 1  # the offered team's confirmation, and nothing sent before
        assert main(["audit", "--config", str(path), "--out", str(tmp_path / "audit.csv")]) == 0
    audit = (tmp_path / "audit.csv").read_text()
    assert DECLINED in audit and "said yes" in audit
    counts = _counts(url)
    assert counts["actions"] == 4 and counts["cohorts"] == 1
    sent = ledger(engine, COHORT)
    sent = sent[sent["state"] == LedgerState.SENT]
    assert len(sent) == 57 and not sent.duplicated(["applicant", "kind"]).any()
    assert sent.loc[sent["applicant"] == OFFERED, "kind"].tolist() == [Kind.WAITLISTED, Kind.OFFER, Kind.CONFIRMED]


def test_stores_main_opened_before_migrations_are_recognised_and_upgraded(backend, request, tmp_path):
    """Main's hand-written migrator left no revision: a new store of main's and the 19386df store after main opened
    it are both stamped and brought to the newest revision, rows kept, and their regrets still count as sent."""
    fresh = _other_store(backend, request, tmp_path, "mains")
    _as_main_left_it(fresh)
    old = _old_store(backend, request, tmp_path)
    _as_main_left_it(old)
    reference = _made_by_create_all(backend, request, tmp_path)
    for url, counts in ((fresh, dict.fromkeys(OLD_TABLES, 0)), (old, OLD_COUNTS)):
        open_store(url).dispose()
        assert _revisions(url) == [migrations.head()]
        assert _differences(url) == []
        assert _shape(url) == reference
        assert _counts(url) == counts | dict.fromkeys(NEW_TABLES, 0)
    config, _ = _config(tmp_path, 25)
    engine = open_cohort_store(config)
    planned = plan_notices(engine, config, RunKind.DECISIONS, dt.datetime.fromisoformat(AS_OF)).notices
    assert [n.applicant for n in not_sent(engine, COHORT, planned) if not n.refusal] == []


def test_regrets_main_already_sent_again_keep_both_ledger_rows(backend, request, tmp_path):
    """A store main upgraded by hand and then sent from again holds each regret twice (19386df's version and
    main's): the upgrade leaves both rather than making two rows of one notice."""
    url = _old_store(backend, request, tmp_path)
    _as_main_left_it(url)
    regrets = {Kind.LATE: (Status.LATE, ReasonCode.LATE), Kind.NOT_SELECTED: (Status.INVALID, ReasonCode.NOT_ACCEPTED)}
    engine = _plain(url)
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT * FROM notices WHERE state = 'sent'")).mappings().all()
        for row in [r for r in rows if r["kind"] in regrets]:
            status, code = regrets[row["kind"]]
            again = dict(row) | {"version": decision_version(status, None, [code.value])}
            del again["id"]
            conn.execute(sa.insert(sa.table("notices", *map(sa.column, again))).values(again))
    assert _counts(url)["notices"] == 57 + 5
    open_store(url).dispose()
    assert _counts(url)["notices"] == 57 + 5
    log = ledger(open_store(url), COHORT)
    assert log.groupby(["applicant", "kind", "version"]).size().max() == 1
    assert log[log["kind"].isin(list(regrets))].groupby("applicant").size().max() == 2


# ---------------------------------------------------------------------------- refusals and failures


def test_a_store_from_a_newer_version_is_refused_in_one_sentence(backend, request, tmp_path):
    url = _other_store(backend, request, tmp_path, "newer")
    open_store(url).dispose()
    with _plain(url).begin() as conn:
        conn.execute(VERSIONS.update().values(version_num="0999"))
    with pytest.raises(StaffError) as refused:
        open_store(url)
    words = str(refused.value)
    assert "written by a newer cohort-select (schema revision 0999" in words
    assert f"knows up to {migrations.head()}" in words and "update this checkout" in words
    assert "\n" not in words and "Traceback" not in words
    assert _revisions(url) == ["0999"]


def test_a_store_with_only_some_of_the_tables_is_refused(backend, request, tmp_path):
    url = _old_store(backend, request, tmp_path)
    with _plain(url).begin() as conn:
        conn.execute(sa.text("DROP TABLE approvals"))
    with pytest.raises(migrations.StoreSchemaError, match="has some of cohort-select's tables but not approvals"):
        open_store(url)
    assert _counts(url) == {t: n for t, n in OLD_COUNTS.items() if t != "approvals"}


FAILING_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "0999"
down_revision = "HEAD"


def upgrade():
    op.add_column("approvals", sa.Column("reviewer", sa.Text))
    op.create_table("reviews", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("UPDATE notices SET subject = 'changed'")
    op.execute("SELECT no_such_column FROM notices")
"""


def test_a_failed_upgrade_leaves_the_store_as_it_was(backend, request, tmp_path, monkeypatch):
    """A revision that fails after others ran (and after its own DDL and an update) leaves nothing of the upgrade:
    the store is the 19386df one, row for row; the next open with working revisions upgrades it."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "0999_fails.py").write_text(FAILING_REVISION.replace("HEAD", migrations.head()))
    url = _old_store(backend, request, tmp_path)
    shape, rows = _shape(url), {table: _rows(url, table) for table in OLD_TABLES}
    monkeypatch.setattr(migrations, "SCRIPTS", scripts)
    with pytest.raises(StoreError, match="no_such_column") as failed:
        open_store(url)
    assert "\n" not in str(failed.value)
    assert _shape(url) == shape
    assert {table: _rows(url, table) for table in OLD_TABLES} == rows
    monkeypatch.undo()
    open_store(url).dispose()
    assert _revisions(url) == [migrations.head()]


# ---------------------------------------------------------------------------- two processes at once

OPENER = """
import logging, sys, time
logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
from tasks.store import open_store
print("ready", flush=True)
sys.stdin.readline()
open_store(sys.argv[1]).dispose()
print("opened", flush=True)
"""


def _holding_the_write_lock(backend: str, url: str):
    """A connection of another program holding the store's write lock, as a run writing would."""
    if backend == "sqlite":
        conn = sqlite3.connect(sa.make_url(url).database, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        return conn
    import psycopg

    conn = psycopg.connect(url.replace("+psycopg", ""))
    conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
    return conn


def _waiting_for_the_lock(backend: str, url: str, expected: int) -> None:
    """Until `expected` processes wait for the write lock (PostgreSQL shows them; SQLite's waiters get 1 s)."""
    if backend == "sqlite":
        time.sleep(1.0)
        return
    import psycopg

    deadline = time.monotonic() + 20
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            if waiting.fetchone() == (expected,):
                return
            time.sleep(0.05)
    raise AssertionError(f"the openers never both waited for the write lock of {url}")


def test_two_processes_upgrading_one_old_store_at_once(backend, request, tmp_path):
    """Both openers find the 19386df store not yet upgraded and wait for its write lock, held elsewhere until both
    wait; when it is let go, one upgrades it and the other finds it upgraded: both succeed, each step once."""
    url = _old_store(backend, request, tmp_path)
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    for opener in openers:
        assert opener.stdout is not None and opener.stdout.readline().strip() == "ready"
    holder = _holding_the_write_lock(backend, url)
    for opener in openers:
        assert opener.stdin is not None
        opener.stdin.write("go\n")
        opener.stdin.flush()
    _waiting_for_the_lock(backend, url, 2)
    holder.rollback()
    holder.close()
    said = [opener.communicate(timeout=60)[0] for opener in openers]
    assert [opener.returncode for opener in openers] == [0, 0], said
    steps = [line for text in said for line in text.splitlines() if line.startswith("Running ")]
    assert sorted(steps) == sorted(set(steps)) and len(steps) == 4, said  # stamp 0001, then 0002, 0003, 0004
    assert sum("Running " in text for text in said) == 1, said  # all by one of them
    assert _revisions(url) == [migrations.head()]
    assert _counts(url) == OLD_COUNTS | dict.fromkeys(NEW_TABLES, 0)


# ---------------------------------------------------------------------------- a developer's new revision


def test_a_developer_adds_a_revision_with_one_command(tmp_path, monkeypatch):
    """`python -m tasks.migrations "…"` writes the next numbered revision from a change to the tables; applied,
    it gives a store the changed tables."""
    from tasks.migrations.__main__ import main as new_revision

    scripts = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    changed = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["approvals"].append_column(sa.Column("reviewer", sa.Text))
    previous = migrations.head()
    monkeypatch.setattr(migrations, "SCRIPTS", scripts)
    monkeypatch.setattr("tasks.store.metadata", changed)
    assert new_revision(["approvals name their reviewer"]) == 0
    written = scripts / "versions" / f"{int(previous) + 1:04d}_approvals_name_their_reviewer.py"
    text = written.read_text()
    assert 'add_column(sa.Column("reviewer", sa.Text(), nullable=True))' in text
    assert f'down_revision: str | Sequence[str] | None = "{previous}"' in text
    migrations._read.cache_clear()  # the revisions as read before the new one was written
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    open_store(url).dispose()
    assert _revisions(url) == [written.name[:4]]
    assert _differences(url, changed) == []
    assert new_revision([]) == 2
