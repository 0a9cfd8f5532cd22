"""maintenance: incidents.kind and the schedule of maintenance windows with their timer marks

Revision ID: 0009_maintenance
Revises: 0008_components
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_maintenance"
down_revision: str | None = "0008_components"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=20), nullable=False,
                                      server_default="incident"))
    op.create_table(
        "maintenance_windows",
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("heads_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_maintenance_windows_incident_id_incidents")),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_maintenance_windows")),
    )
    with op.batch_alter_table("maintenance_windows", schema=None) as batch_op:
        batch_op.create_index("ix_maintenance_windows_phase", ["phase", "starts_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("maintenance_windows", schema=None) as batch_op:
        batch_op.drop_index("ix_maintenance_windows_phase")
    op.drop_table("maintenance_windows")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("kind")
