"""recent_outcomes: the learner's recency-weighted outcomes, one row per (model, complexity).

Replaces reading a window per tick out of metric_snapshots (which stays, for the anomaly
sweep). Nothing is backfilled: at its first tick after the upgrade the learner starts every row
from its history capped at ``history_weight`` outcomes, as it does for a row it sees for the
first time; the outcomes that follow outweigh it within a half-life or two on a busy model.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recent_outcomes",
        sa.Column("model_name", sa.String, primary_key=True),
        sa.Column("complexity_level", sa.String, primary_key=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_success_count", sa.BigInteger, nullable=False),
        sa.Column("seen_failure_count", sa.BigInteger, nullable=False),
        sa.Column("seen_histogram", sa.LargeBinary, nullable=False),
        sa.Column("weighted_successes", sa.Float, nullable=False),
        sa.Column("weighted_failures", sa.Float, nullable=False),
        sa.Column("weighted_histogram", sa.LargeBinary, nullable=False),
        # 122 buckets of 8 bytes (latency.py's layout when this revision was written).
        sa.CheckConstraint(
            "octet_length(seen_histogram) = 976 AND octet_length(weighted_histogram) = 976",
            name="ck_recent_outcomes_histograms",
        ),
    )


def downgrade() -> None:
    op.drop_table("recent_outcomes")
