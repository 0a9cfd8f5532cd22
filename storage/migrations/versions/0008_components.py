"""components: the page's grid, each status change, and incidents holding components

Revision ID: 0008_components
Revises: 0007_leader_lease
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_components"
down_revision: str | None = "0007_leader_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "components",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("group_name", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_components")),
    )
    op.create_table(
        "component_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("component_id", sa.String(length=100), nullable=False),
        sa.Column("old_status", sa.String(length=30), nullable=True),
        sa.Column("new_status", sa.String(length=30), nullable=False),
        sa.Column("incident_id", BigId, nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["component_id"], ["components.id"],
                                name=op.f("fk_component_changes_component_id_components")),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_component_changes_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_component_changes")),
    )
    with op.batch_alter_table("component_changes", schema=None) as batch_op:
        batch_op.create_index("ix_component_changes_component_at", ["component_id", "at"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_component_changes_at"), ["at"], unique=False)
    op.create_table(
        "incident_components",
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("component_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("linked_by", sa.String(length=255), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_incident_components_incident_id_incidents")),
        sa.ForeignKeyConstraint(["component_id"], ["components.id"],
                                name=op.f("fk_incident_components_component_id_components")),
        sa.PrimaryKeyConstraint("incident_id", "component_id",
                                name=op.f("pk_incident_components")),
    )
    with op.batch_alter_table("incident_components", schema=None) as batch_op:
        batch_op.create_index("ix_incident_components_component",
                              ["component_id", "released_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_components", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_components_component")
    op.drop_table("incident_components")
    with op.batch_alter_table("component_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_changes_at"))
        batch_op.drop_index("ix_component_changes_component_at")
    op.drop_table("component_changes")
    op.drop_table("components")
