"""Alert delivery: each anomaly notice's state on its way to the alert webhook.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "webhook_deliveries",
        sa.Column(
            "event_id",
            sa.BigInteger,
            sa.ForeignKey("anomaly_events.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("anomaly_id", sa.Text, nullable=False),
        sa.Column("status", sa.String, nullable=False, server_default=sa.text("'pending'")),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", tz, nullable=False),
        sa.Column("last_attempt_at", tz),
        sa.Column("delivered_at", tz),
        sa.Column("failed_at", tz),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", tz, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name="ck_webhook_deliveries_status"
        ),
    )
    pending = sa.text("status = 'pending'")
    op.create_index(
        "idx_webhook_deliveries_pending",
        "webhook_deliveries",
        ["event_id"],
        postgresql_where=pending,
    )
    op.create_index(
        "idx_webhook_deliveries_pending_anomaly",
        "webhook_deliveries",
        ["anomaly_id", "event_id"],
        postgresql_where=pending,
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
