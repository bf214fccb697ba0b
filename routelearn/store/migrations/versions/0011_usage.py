"""Cost and attribution: the audit rows' new optional fields, hourly usage rollups per model,
workspace, agent type and instance, and each workspace's spend per quarter hour.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("workspace_id", sa.Text),
    ("agent_type", sa.Text),
    ("request_type", sa.Text),
    ("prompt_tokens", sa.BigInteger),
    ("completion_tokens", sa.BigInteger),
    ("cost_usd", sa.Float),
    ("rule_id", sa.Text),
    ("split_arm", sa.Text),
)


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    # Nullable, no default: a catalog change only, whatever the table's size.
    for name, type_ in _COLUMNS:
        op.add_column("routing_records", sa.Column(name, type_))
    # Only the events of rule-routed decisions: what a split's evaluation reads.
    op.create_index(
        "idx_routing_records_rule",
        "routing_records",
        ["rule_id", "timestamp"],
        postgresql_where=sa.text("rule_id IS NOT NULL"),
    )
    op.create_table(
        "usage_rollups_hourly",
        sa.Column("hour", tz, nullable=False),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("agent_type", sa.Text, nullable=False),
        sa.Column("instance_id", sa.Text, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("success_count", sa.BigInteger, nullable=False),
        sa.Column("failure_count", sa.BigInteger, nullable=False),
        sa.Column("response_time_count", sa.BigInteger, nullable=False),
        sa.Column("response_time_sum", sa.Float, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("hour", "model_name", "workspace_id", "agent_type", "instance_id"),
    )
    # Covering: a workspace's top models and a model's tokens and cost read the index alone.
    op.create_index(
        "idx_usage_rollups_hourly_workspace",
        "usage_rollups_hourly",
        ["workspace_id", "hour"],
        postgresql_include=["model_name", "requests", "cost_usd"],
    )
    op.create_index(
        "idx_usage_rollups_hourly_model",
        "usage_rollups_hourly",
        ["model_name", "hour"],
        postgresql_include=["prompt_tokens", "completion_tokens", "cost_usd"],
    )
    op.create_table(
        "workspace_rollups_hourly",
        sa.Column("hour", tz, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("success_count", sa.BigInteger, nullable=False),
        sa.Column("failure_count", sa.BigInteger, nullable=False),
        sa.Column("response_time_count", sa.BigInteger, nullable=False),
        sa.Column("response_time_sum", sa.Float, nullable=False),
        sa.Column("response_time_histogram", ARRAY(sa.BigInteger), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "hour"),
    )
    op.create_table(
        "model_quality",
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("complexity_level", sa.Text, nullable=False),
        sa.Column("success_rate", sa.Float),
        sa.Column("latency_ms", sa.Float),
        sa.Column("samples", sa.BigInteger, nullable=False),
        sa.Column("as_of", tz, nullable=False),
        sa.PrimaryKeyConstraint("model_name", "complexity_level"),
    )
    op.create_table(
        "workspace_spend",
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("quarter", tz, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "quarter"),
    )


def downgrade() -> None:
    op.drop_table("workspace_spend")
    op.drop_table("model_quality")
    op.drop_table("workspace_rollups_hourly")
    op.drop_index("idx_routing_records_rule", table_name="routing_records")
    op.drop_table("usage_rollups_hourly")
    for name, _ in reversed(_COLUMNS):
        op.drop_column("routing_records", name)
