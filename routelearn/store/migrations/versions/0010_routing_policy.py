"""Routing policy set centrally: rules, agent preferences and workspace configs, and the outbox
of policy changes the fan-out sends to every instance.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    now = sa.text("now()")
    op.execute("CREATE SEQUENCE policy_version_seq")
    op.create_table(
        "routing_policy",
        sa.Column("kind", sa.String, primary_key=True),
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("created_at", tz, nullable=False, server_default=now),
        sa.Column("updated_at", tz, nullable=False, server_default=now),
        sa.CheckConstraint("kind IN ('rule', 'agent', 'workspace')", name="ck_routing_policy_kind"),
    )
    op.create_table(
        "policy_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("created_at", tz, nullable=False, server_default=now),
        sa.Column("sent_at", tz),
    )
    op.create_index(
        "idx_policy_changes_unsent",
        "policy_changes",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("policy_changes")
    op.drop_table("routing_policy")
    op.execute("DROP SEQUENCE policy_version_seq")
