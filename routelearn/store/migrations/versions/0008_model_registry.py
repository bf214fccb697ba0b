"""The central model registry: models, their endpoints and health reports, and the outbox of
registry changes the fan-out sends to every instance.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    now = sa.text("now()")
    op.execute("CREATE SEQUENCE registry_version_seq")
    op.create_table(
        "models",
        sa.Column("model_id", sa.String, primary_key=True),
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("model_type", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("record", JSONB, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("created_at", tz, nullable=False, server_default=now),
        sa.Column("updated_at", tz, nullable=False, server_default=now),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'deprecated', 'maintenance')",
            name="ck_models_status",
        ),
    )
    op.create_table(
        "model_endpoints",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "model_id",
            sa.String,
            sa.ForeignKey("models.model_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("type", sa.String, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("health_check_url", sa.Text),
        sa.Column("created_at", tz, nullable=False, server_default=now),
        sa.UniqueConstraint("model_id", "url", name="uq_model_endpoints_url"),
    )
    op.create_table(
        "model_health_reports",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "model_id",
            sa.String,
            sa.ForeignKey("models.model_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("response_time_ms", sa.Float),
        sa.Column("error_rate", sa.Float),
        sa.Column("availability", sa.Float),
        sa.Column("reported_by", sa.String),
        sa.Column("reported_at", tz, nullable=False, server_default=now),
    )
    op.create_index(
        "idx_model_health_reports_model_time", "model_health_reports", ["model_id", "reported_at"]
    )
    op.create_table(
        "registry_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model_id", sa.String, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("created_at", tz, nullable=False, server_default=now),
        sa.Column("sent_at", tz),
    )
    op.create_index(
        "idx_registry_changes_unsent",
        "registry_changes",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    for table in ("registry_changes", "model_health_reports", "model_endpoints", "models"):
        op.drop_table(table)
    op.execute("DROP SEQUENCE registry_version_seq")
