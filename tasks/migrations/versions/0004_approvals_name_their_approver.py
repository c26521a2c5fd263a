"""Approvals name their approver: the Resume form asks staff for their name, and the audit shows it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

An answer to a send paused for approval is recorded with who gave it, so the audit says who let the notices go (or
held them back). The column is nullable: approvals recorded before names were asked keep none (the audit calls
their actor "staff", as it did), and a send nobody answered has none either.

A store without a version table is stamped at the baseline and brought up from there (tasks/migrations), and one
made by today's tables (a backup file, which `cohort-select backup` writes with `metadata.create_all`, opened as a
store) already has the column: it is added only when missing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if "approver" in {column["name"] for column in sa.inspect(op.get_bind()).get_columns("approvals")}:
        return
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.add_column(sa.Column("approver", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.drop_column("approver")
