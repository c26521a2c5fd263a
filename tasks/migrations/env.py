"""How Alembic runs the revisions: always on a connection the code hands it (tasks.migrations.upgrade, or the
throwaway store `python -m tasks.migrations` compares against), inside that connection's transaction."""

from alembic import context

from tasks.migrations import VERSION_TABLE
from tasks.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit(
        "the state store's revisions run when cohort-select opens a store; to write a new revision run "
        '`python -m tasks.migrations "what changed"`'
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite alters a table by copying it; batch operations do that, and plain ALTERs elsewhere
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
