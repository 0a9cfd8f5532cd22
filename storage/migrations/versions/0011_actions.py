"""after the incident: Five Whys, action items (one sequence), incident roles, one-time prompts

Revision ID: 0011_actions
Revises: 0010_subscribers
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_actions"
down_revision: str | None = "0010_subscribers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incident_whys",
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_incident_whys_incident_id_incidents")),
        sa.PrimaryKeyConstraint("incident_id", "number", name=op.f("pk_incident_whys")),
    )
    op.create_table(
        "action_items",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=255), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_text", sa.Text(), nullable=True),
        sa.Column("ticket_url", sa.String(length=2000), nullable=True),
        sa.Column("ticket_state", sa.String(length=40), nullable=True),
        sa.Column("ticket_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filed_marker", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_action_items_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_items")),
    )
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_items_incident_id"), ["incident_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_action_items_state"), ["state"], unique=False)
    op.create_table(
        "incident_roles",
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("nick", sa.String(length=255), nullable=False),
        sa.Column("assigned_by", sa.String(length=255), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_incident_roles_incident_id_incidents")),
        sa.PrimaryKeyConstraint("incident_id", "role", name=op.f("pk_incident_roles")),
    )
    op.create_table(
        "incident_prompts",
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_incident_prompts_incident_id_incidents")),
        sa.PrimaryKeyConstraint("incident_id", "kind", name=op.f("pk_incident_prompts")),
    )


def downgrade() -> None:
    op.drop_table("incident_prompts")
    op.drop_table("incident_roles")
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_items_state"))
        batch_op.drop_index(batch_op.f("ix_action_items_incident_id"))
    op.drop_table("action_items")
    op.drop_table("incident_whys")
