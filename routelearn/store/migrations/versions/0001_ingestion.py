"""Ingestion tables: audit records, decisions, metrics, dead letters, consumer stats.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

HISTOGRAM_BUCKETS = 122  # routelearn.domain.latency.NUM_BUCKETS when this revision was written


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "routing_records",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("timestamp", tz, nullable=False),
        sa.Column("instance_id", sa.String, nullable=False),
        sa.Column("complexity", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("response_time_ms", sa.Float),
        sa.Column("capabilities_required", postgresql.ARRAY(sa.Text)),
        sa.Column("preference", sa.String),
        sa.Column("created_at", tz, server_default=sa.text("now()")),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("decision_id", sa.Text),
        sa.Column("decision_key", sa.Text, nullable=False),
        sa.Column("user_model_request", sa.String),
        sa.UniqueConstraint("event_id", name="uq_routing_records_event_id"),
    )
    op.create_index(
        "idx_routing_records_model_complexity", "routing_records", ["model", "complexity"]
    )
    op.create_index("idx_routing_records_timestamp", "routing_records", [sa.text("timestamp DESC")])
    op.create_index(
        "idx_routing_records_timestamp_instance", "routing_records", ["timestamp", "instance_id"]
    )
    op.create_index("idx_routing_records_outcome", "routing_records", ["outcome"])

    op.create_table(
        "routing_decisions",
        sa.Column("decision_key", sa.Text, primary_key=True),
        sa.Column("model_name", sa.String, nullable=False),
        sa.Column("complexity_level", sa.String, nullable=False),
        sa.Column("instance_id", sa.String, nullable=False),
        sa.Column("first_seen_at", tz, nullable=False),
        sa.Column("outcome", sa.String),
        sa.Column("response_time_ms", sa.Float),
        sa.Column("created_at", tz, nullable=False, server_default=sa.text("now()")),
    )

    op.create_table(
        "model_routing_metrics",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model_name", sa.String, nullable=False),
        sa.Column("complexity_level", sa.String, nullable=False),
        sa.Column("usage_count", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("success_count", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("avg_response_time", sa.Float),
        sa.Column(
            "response_time_count", sa.BigInteger, nullable=False, server_default=sa.text("0")
        ),
        sa.Column("updated_at", tz, nullable=False, server_default=sa.text("now()")),
        sa.Column("failure_count", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("response_time_sum", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column(
            "response_time_histogram",
            postgresql.ARRAY(sa.BigInteger),
            nullable=False,
            server_default=sa.text(f"array_fill(0::bigint, ARRAY[{HISTOGRAM_BUCKETS}])"),
        ),
        sa.UniqueConstraint("model_name", "complexity_level", name="uq_model_routing_metrics_key"),
    )

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("payload_key", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("errors", postgresql.JSONB, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("received_at", tz, nullable=False, server_default=sa.text("now()")),
        sa.UniqueConstraint("payload_key", name="uq_dead_letters_payload_key"),
    )

    op.create_table(
        "consumer_stats",
        sa.Column("worker", sa.Text, primary_key=True),
        sa.Column("started_at", tz, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
        sa.Column("batches", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("processed", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("duplicates", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("dead_lettered", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("errors", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("consecutive_errors", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", tz),
    )


def downgrade() -> None:
    for table in (
        "consumer_stats",
        "dead_letters",
        "model_routing_metrics",
        "routing_decisions",
        "routing_records",
    ):
        op.drop_table(table)
