"""indexes that keep reads from growing with history: public timeline entries, failed effects

Revision ID: 0013_public_and_failed_indexes
Revises: 0012_api_tokens

- `incident_events (incident_id, public, id)`: public reads (`#now`, the page, the public
  export) jump to an incident's public entries instead of filtering its captured chat, which
  can be 98% of a long incident's rows.
- `outbox (failed_at) WHERE failed_at IS NOT NULL`: /metrics and /healthz count failed
  effects from this small index instead of scanning every effect ever delivered.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_public_and_failed_indexes"
down_revision: str | None = "0012_api_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_incident_events_public", "incident_events",
                    ["incident_id", "public", "id"], unique=False)
    op.create_index("ix_outbox_failed", "outbox", ["failed_at"], unique=False,
                    sqlite_where=sa.text("failed_at IS NOT NULL"),
                    postgresql_where=sa.text("failed_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_outbox_failed", table_name="outbox")
    op.drop_index("ix_incident_events_public", table_name="incident_events")
