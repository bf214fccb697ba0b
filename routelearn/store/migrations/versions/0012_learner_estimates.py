"""The learner's latest estimate report (routelearn.domain.estimates), kept for the API's
central router, which receives no fan-out: one row, rewritten by every tick.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learner_estimates",
        sa.Column("id", sa.SmallInteger, nullable=False, server_default="1"),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("id = 1", name="learner_estimates_one_row"),
    )


def downgrade() -> None:
    op.drop_table("learner_estimates")
