"""E-mail accounts, sync runs and imported message ids.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from timeline._models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=True)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenant.id"), nullable=False)


def _account() -> sa.Column[str]:
    return sa.Column(
        "account_id",
        sa.String(32),
        sa.ForeignKey("email_account.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    """Create the email_account, email_sync_run and email_message tables."""
    op.create_table(
        "email_account",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subject.id"), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(16), nullable=False),
        sa.Column("auth", sa.String(16), nullable=False),
        sa.Column("mailbox", sa.String(200), nullable=False),
        sa.Column("tls_ca_pem", sa.Text()),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("token_refresh", sa.Boolean(), nullable=False),
        sa.Column("token_expires_at", UTCDateTime()),
        sa.Column("uidvalidity", sa.BigInteger()),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("last_synced_at", UTCDateTime()),
        sa.Column("sync_lease_until", UTCDateTime()),
        sa.Column("sync_lease_owner", sa.String(32)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ux_email_account_tenant_name", "email_account", ["tenant_id", "name"], unique=True
    )
    op.create_table(
        "email_sync_run",
        _id(),
        _tenant(),
        _account(),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("uidvalidity_changed", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
    )
    op.create_index(
        "ix_email_sync_run_account_created", "email_sync_run", ["account_id", "created_at"]
    )
    op.create_table(
        "email_message",
        _id(),
        _account(),
        sa.Column("message_key", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ux_email_message_account_key", "email_message", ["account_id", "message_key"], unique=True
    )


def downgrade() -> None:
    """Drop this feature's tables."""
    op.drop_index("ux_email_message_account_key", table_name="email_message")
    op.drop_table("email_message")
    op.drop_index("ix_email_sync_run_account_created", table_name="email_sync_run")
    op.drop_table("email_sync_run")
    op.drop_index("ux_email_account_tenant_name", table_name="email_account")
    op.drop_table("email_account")
