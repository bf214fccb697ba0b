"""The score learner: counter snapshots, runs, and the outcome count of the last adjustment.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.add_column(
        "model_scores",
        sa.Column(
            "outcomes_at_adjustment", sa.BigInteger, nullable=False, server_default=sa.text("0")
        ),
    )
    op.create_table(
        "metric_snapshots",
        sa.Column("taken_at", tz, primary_key=True),
        sa.Column("model_name", sa.String, primary_key=True),
        sa.Column("complexity_level", sa.String, primary_key=True),
        sa.Column("success_count", sa.BigInteger, nullable=False),
        sa.Column("failure_count", sa.BigInteger, nullable=False),
        sa.Column("response_time_histogram", postgresql.ARRAY(sa.BigInteger), nullable=False),
    )
    op.create_table(
        "learner_runs",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("started_at", tz, nullable=False),
        sa.Column("finished_at", tz, nullable=False, server_default=sa.text("now()")),
        sa.Column("policy", sa.String, nullable=False),
        sa.Column("rows_considered", sa.Integer, nullable=False),
        sa.Column("changed", sa.Integer, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("learner_runs")
    op.drop_table("metric_snapshots")
    op.drop_column("model_scores", "outcomes_at_adjustment")
