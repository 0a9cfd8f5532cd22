"""paging: pages (escalation steps with their timers) and on-call overrides

Revision ID: 0005_paging
Revises: 0004_outbox_claims
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_paging"
down_revision: str | None = "0004_outbox_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(length=255), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("paged_by", sa.String(length=255), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=255), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_pages_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_pages_dedup_key")),
    )
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.create_index("ix_pages_incident_round_step",
                              ["incident_id", "round", "step"], unique=False)
        batch_op.create_index("ix_pages_status_escalate_at", ["status", "escalate_at"],
                              unique=False)

    op.create_table(
        "oncall_overrides",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("manager", sa.String(length=255), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_overrides")),
    )
    with op.batch_alter_table("oncall_overrides", schema=None) as batch_op:
        batch_op.create_index("ix_oncall_overrides_ends_at", ["ends_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oncall_overrides", schema=None) as batch_op:
        batch_op.drop_index("ix_oncall_overrides_ends_at")
    op.drop_table("oncall_overrides")
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_index("ix_pages_status_escalate_at")
        batch_op.drop_index("ix_pages_incident_round_step")
    op.drop_table("pages")
