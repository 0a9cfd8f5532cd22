"""inbound events: chat events already applied, so a replayed one is not applied twice

Revision ID: 0006_inbound_events
Revises: 0005_paging
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_inbound_events"
down_revision: str | None = "0005_paging"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_events",
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "event_id", name=op.f("pk_inbound_events")),
    )
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_events_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_events_at")
    op.drop_table("inbound_events")
