"""The regrets (late, not selected) sent for decisions recorded without reason codes keep counting as sent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

19386df hashed a regret's version from the staff reasons text; main then hashes it from the decision's reason codes,
and a decision recorded before codes existed (its reason_codes empty) falls back on one code per status (`late`,
`not_accepted`, tasks/notices.py). So after an upgrade the planner computed a new version for every such regret and
sent it a second time. Each ledger row of such a decision moves to the version main computes for it, unless a row
of that version is already there (a store whose notices main already sent again keeps both rows).
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A regret's decision status: its notice kind, and the code a decision without codes falls back on.
REGRETS = {"late": ("late", "late"), "invalid": ("not_selected", "not_accepted")}

selections = sa.table("selections", sa.column("id"), sa.column("cohort"))
decisions = sa.table(
    "decisions", sa.column("selection_id"), sa.column("status"), sa.column("reasons"), sa.column("reason_codes")
)
notices = sa.table("notices", sa.column("cohort"), sa.column("applicant"), sa.column("kind"), sa.column("version"))


def _version(material: str) -> str:
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def upgrade() -> None:
    conn = op.get_bind()
    regrets = conn.execute(
        sa.select(selections.c.cohort, decisions.c.status, decisions.c.reasons)
        .join(selections, selections.c.id == decisions.c.selection_id)
        .where(decisions.c.reason_codes.is_(None), decisions.c.status.in_(sorted(REGRETS)))
        .distinct()
    ).all()
    for cohort, status, reasons in regrets:
        kind, code = REGRETS[status]
        old, new = _version(f"{status}|{reasons}"), _version(f"{status}|{code}")
        other = notices.alias("other")
        taken = sa.select(other.c.applicant).where(
            other.c.cohort == cohort, other.c.kind == kind, other.c.version == new
        )
        conn.execute(
            notices.update()
            .where(
                notices.c.cohort == cohort,
                notices.c.kind == kind,
                notices.c.version == old,
                notices.c.applicant.not_in(taken),
            )
            .values(version=new)
        )


def downgrade() -> None:
    pass  # the rows keep main's versions: 19386df's cannot be told apart from them afterwards
