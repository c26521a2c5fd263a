"""What main added after 19386df, until migrations: each decision's reason codes and message to the team, who
claimed a notice and the cc a server refused, and the cohorts, action_sequences and leases tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 (main at 1304fdd, the last before migrations)

Main's hand-written migrator added these to older stores as runs opened them (nullable columns, new tables), so a
store stamped at 0001 may already have any of them: each is added only when missing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {"decisions": ("reason_codes", "message_to_team"), "notices": ("claimed_by", "cc_refused")}
TABLES = ("cohorts", "action_sequences", "leases")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in COLUMNS.items():
        present = {column["name"] for column in inspector.get_columns(table)}
        for name in columns:
            if name not in present:
                op.add_column(table, sa.Column(name, sa.Text))
    existing = set(inspector.get_table_names())
    if "cohorts" not in existing:
        op.create_table(
            "cohorts",
            sa.Column("cohort", sa.String(200), primary_key=True),
            sa.Column("program", sa.Text, nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        )
    if "action_sequences" not in existing:
        op.create_table(
            "action_sequences",
            sa.Column("cohort", sa.String(200), primary_key=True),
            sa.Column("seq", sa.Integer, nullable=False),
        )
    if "leases" not in existing:
        op.create_table(
            "leases",
            sa.Column("cohort", sa.String(200), primary_key=True),
            sa.Column("owner", sa.Text, nullable=False),
            sa.Column("holder", sa.Text, nullable=False),
            sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("token", sa.Integer, nullable=False),
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name in columns:
                batch.drop_column(name)
