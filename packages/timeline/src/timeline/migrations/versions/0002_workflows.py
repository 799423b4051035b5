"""Workflow rules, their execution log and the outbox of events awaiting evaluation.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from timeline._models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenant.id"), nullable=False)


def upgrade() -> None:
    """Create this feature's tables."""
    op.create_table(
        "workflow_rule",
        sa.Column("id", sa.String(32), primary_key=True),
        _tenant(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("action_type", sa.String(20), nullable=False),
        sa.Column("action", sa.JSON(), nullable=False),
        sa.Column("secret_encrypted", sa.Text()),
        sa.Column("headers_encrypted", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_workflow_rule_tenant_type", "workflow_rule", ["tenant_id", "event_type"])
    op.create_table(
        "workflow_execution",
        sa.Column("id", sa.String(32), primary_key=True),
        _tenant(),
        sa.Column("rule_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.Integer()),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ux_workflow_execution_rule_event",
        "workflow_execution",
        ["rule_id", "event_id"],
        unique=True,
    )
    op.create_index(
        "ix_workflow_execution_rule_created",
        "workflow_execution",
        ["tenant_id", "rule_id", "created_at", "id"],
    )
    op.create_index(
        "ix_workflow_execution_status",
        "workflow_execution",
        ["tenant_id", "action", "status", "created_at", "id"],
    )
    op.create_table(
        "workflow_outbox",
        sa.Column("event_id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_workflow_outbox_created", "workflow_outbox", ["created_at"])


def downgrade() -> None:
    """Drop this feature's tables."""
    op.drop_table("workflow_outbox")
    op.drop_table("workflow_execution")
    op.drop_table("workflow_rule")
