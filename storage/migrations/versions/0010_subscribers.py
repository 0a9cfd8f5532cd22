"""subscribers: e-mail addresses with double opt-in, and one row per notice and subscriber

Revision ID: 0010_subscribers
Revises: 0009_maintenance
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_subscribers"
down_revision: str | None = "0009_maintenance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_from", sa.String(length=64), nullable=True),
        sa.Column("confirm_hash", sa.String(length=64), nullable=True),
        sa.Column("confirm_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribe_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("address", name=op.f("uq_subscribers_address")),
        sa.UniqueConstraint("confirm_hash", name=op.f("uq_subscribers_confirm_hash")),
        sa.UniqueConstraint("unsubscribe_hash", name=op.f("uq_subscribers_unsubscribe_hash")),
    )
    op.create_index("ix_subscribers_confirmed_at", "subscribers", ["confirmed_at"])
    op.create_table(
        "subscriber_notices",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("notice_key", sa.String(length=255), nullable=False),
        sa.Column("subscriber_id", BigId, nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE",
                                name=op.f("fk_subscriber_notices_subscriber_id_subscribers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_notices")),
        sa.UniqueConstraint("notice_key", "subscriber_id",
                            name=op.f("uq_subscriber_notices_notice_key")),
    )
    op.create_index("ix_subscriber_notices_batch", "subscriber_notices",
                    ["notice_key", "batch"])


def downgrade() -> None:
    op.drop_index("ix_subscriber_notices_batch", table_name="subscriber_notices")
    op.drop_table("subscriber_notices")
    op.drop_index("ix_subscribers_confirmed_at", table_name="subscribers")
    op.drop_table("subscribers")
