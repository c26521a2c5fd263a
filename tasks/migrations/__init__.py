"""The state store's schema as Alembic revisions (versions/), applied when a store is opened (tasks/store.py).

Every revision is a record of a change as it was made: it names its tables and columns as they were then, not
through schemas/store.py, so a later rename cannot rewrite history. `tasks/store.py`'s tables are the schema the
code expects; tests/test_migrations.py fails when the revisions do not build exactly that on both backends.

A store made before migrations (it has the tables but no version table) was made by 19386df's code or by a later
main whose hand-written migrator added columns and tables as runs opened it: it is stamped at the baseline, and
the next revision adds only what is missing. A developer adds a revision with `python -m tasks.migrations "what
changed"` (see __main__.py).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, ProgrammingError

from schemas.errors import StaffError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

SCRIPTS = Path(__file__).parent
# Not alembic's default name: a store that shares its database with a Prefect server (Alembic's `alembic_version`
# is Prefect's there) keeps its own revision.
VERSION_TABLE = "cohort_select_version"
# The schema 19386df's code made (the last main before migrations) and the tables every store it made has.
BASELINE = "0001"
BASELINE_TABLES = frozenset({"selections", "decisions", "freezes", "actions", "notices", "approvals"})


class StoreSchemaError(StaffError):
    """The store's schema is not one this checkout can upgrade (a newer version's, or not a whole store of ours):
    nothing was changed."""


@functools.cache
def _read(scripts: Path) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(scripts))


def _script() -> ScriptDirectory:
    """The revisions, read once per process (alembic is imported only here and when a store is upgraded)."""
    return _read(SCRIPTS)


def head() -> str:
    """The newest revision this checkout knows."""
    found = _script().get_current_head()
    if found is None:
        raise RuntimeError(f"{SCRIPTS} has no revisions")
    return found


def is_known(revision: str) -> bool:
    """Whether this checkout has `revision` (a store or backup written by a newer version has one it lacks)."""
    return any(found.revision == revision for found in _script().walk_revisions())


def stored_revision(conn: sa.Connection) -> str | None:
    """The store's revision, in one small read; None for a new store or one made before migrations. On PostgreSQL
    a missing table ends the transaction, so this is for a connection of its own, not inside a write."""
    try:
        found = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()  # noqa: S608 -- a constant name
    except (OperationalError, ProgrammingError):
        return None
    return found[0] if len(found) == 1 else None


def alembic_config(conn: sa.Connection) -> Config:
    """An Alembic configuration built in code: no alembic.ini, whatever the working folder (a Prefect worker runs in
    the project home); the revisions run on `conn`, inside its transaction."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS).replace("%", "%%"))
    config.attributes["connection"] = conn
    return config


def upgrade(conn: sa.Connection) -> None:
    """Bring the store to the head revision on `conn`, in the caller's transaction (which holds the store's write
    lock), so the whole upgrade is written or none of it: PostgreSQL's DDL is transactional, and SQLite's is too
    inside the BEGIN IMMEDIATE it runs in. A store from a newer version, or with only some of the baseline's tables,
    is refused (StoreSchemaError)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads()
    if current == (head(),):
        return  # another run upgraded it while this one waited for the lock
    unknown = sorted(revision for revision in current if not is_known(revision))
    store = conn.engine.url.render_as_string(hide_password=True)
    if unknown:
        raise StoreSchemaError(
            f"the state store {store} was written by a newer cohort-select (schema revision {', '.join(unknown)}; "
            f"this checkout knows up to {head()}): update this checkout (git pull, then make) and run again; "
            "nothing was changed"
        )
    config = alembic_config(conn)
    present = BASELINE_TABLES & set(sa.inspect(conn).get_table_names())
    if not current and present:  # made before migrations
        if present != BASELINE_TABLES:
            raise StoreSchemaError(
                f"the state store {store} has some of cohort-select's tables but not "
                f"{', '.join(sorted(BASELINE_TABLES - present))}, and no schema revision: it is damaged or was not "
                "made by cohort-select; restore it from a backup (or point state_url elsewhere); nothing was changed"
            )
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")
