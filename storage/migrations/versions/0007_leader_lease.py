"""leader lease: which instance leads, in which term, until when (fencing on PostgreSQL)

Revision ID: 0007_leader_lease
Revises: 0006_inbound_events
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007_leader_lease"
down_revision: str | None = "0006_inbound_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "leader_lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=True),
        sa.Column("holder_pid", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leader_lease")),
    )
    # The row exists from the start, expired: taking the lease is always an UPDATE, which
    # two instances starting together cannot both win.
    op.bulk_insert(table, [{"id": 1, "term": 0, "holder": None, "holder_pid": None,
                            "expires_at": datetime(1970, 1, 1, tzinfo=UTC),
                            "renewed_at": None}])


def downgrade() -> None:
    op.drop_table("leader_lease")
