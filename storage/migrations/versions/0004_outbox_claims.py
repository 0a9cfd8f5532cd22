"""outbox claims: which instance delivers an effect, and until when

Revision ID: 0004_outbox_claims
Revises: 0003_playbook_links
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_outbox_claims"
down_revision: str | None = "0003_playbook_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sending_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sending_since")
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
