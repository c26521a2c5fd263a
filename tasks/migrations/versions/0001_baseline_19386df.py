"""The schema 19386df's code made, the last main before migrations: selections and their decisions, the freeze,
staff actions, the notice ledger and approvals.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 (commit 19386df; its `metadata.create_all` made this schema)

A store made before migrations has exactly these tables; it is stamped here rather than created (see
tasks/migrations/__init__.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "selections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cohort", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("config_sha256", sa.String(64), nullable=False),
        sa.Column("provisional", sa.Boolean, nullable=False),
    )
    op.create_index("ix_selections_cohort", "selections", ["cohort"])
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cohort", sa.String(200), nullable=False),
        sa.Column("applicant", sa.Text, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=False),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("respond_by", sa.DateTime(timezone=True)),
        sa.Column("reserved_seat", sa.Text, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
    )
    op.create_index("ix_actions_cohort", "actions", ["cohort"])
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cohort", sa.String(200), nullable=False),
        sa.Column("applicant", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("cc", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("cohort", "applicant", "kind", "version", name="one_notice_per_decision"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cohort", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("flow_run_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("selection_id", sa.Integer, sa.ForeignKey("selections.id"), primary_key=True),
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
        sa.Column("reserved_seat", sa.Text),
        sa.Column("reserves", sa.Text),
    )
    op.create_table(
        "freezes",
        sa.Column("cohort", sa.String(200), primary_key=True),
        sa.Column("selection_id", sa.Integer, sa.ForeignKey("selections.id"), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("freezes", "decisions", "approvals", "notices", "actions", "selections"):
        op.drop_table(table)
