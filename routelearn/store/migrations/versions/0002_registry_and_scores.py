"""Instance registry, learned scores and their history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "instances",
        sa.Column("instance_id", sa.String, primary_key=True),
        sa.Column("first_seen_at", tz, nullable=False, server_default=sa.text("now()")),
        sa.Column("last_seen_at", tz),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("registered_by", sa.String, nullable=False, server_default=sa.text("'events'")),
        sa.Column("retired_at", tz),
    )
    op.create_table(
        "model_scores",
        sa.Column("model_name", sa.String, primary_key=True),
        sa.Column("complexity_level", sa.String, primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("policy", sa.String),
        sa.Column("confidence", sa.Float),
        sa.Column("based_on_samples", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("source", sa.String, nullable=False, server_default=sa.text("'catalog'")),
        sa.Column("updated_at", tz, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("score >= 0 AND score <= 5", name="ck_model_scores_range"),
    )
    op.create_table(
        "score_history",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model_name", sa.String, nullable=False),
        sa.Column("complexity_level", sa.String, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("old_score", sa.Float),
        sa.Column("new_score", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("based_on_samples", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("confidence", sa.Float),
        sa.Column("policy", sa.String, nullable=False),
        sa.Column("changed_at", tz, nullable=False, server_default=sa.text("now()")),
    )
    op.create_index(
        "idx_score_history_model_time",
        "score_history",
        ["model_name", "complexity_level", "changed_at"],
    )


def downgrade() -> None:
    for table in ("score_history", "model_scores", "instances"):
        op.drop_table(table)
