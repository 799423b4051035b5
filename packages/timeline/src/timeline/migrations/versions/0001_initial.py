"""Initial schema: tenants, access control, subjects, chains, schemas, checkpoints.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from timeline._models import UTCDateTime
from timeline._triggers import create_triggers, drop_triggers

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=True)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenant.id"), nullable=False)


def _created() -> sa.Column[object]:
    return sa.Column("created_at", UTCDateTime(), nullable=False)


def upgrade() -> None:
    """Create every table, index and immutability trigger."""
    op.create_table(
        "tenant",
        _id(),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _created(),
    )
    op.create_table(
        "app_user",
        _id(),
        _tenant(),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        _created(),
        sa.UniqueConstraint("tenant_id", "username", name="uq_user_tenant_username"),
    )
    op.create_index("ix_app_user_tenant_id", "app_user", ["tenant_id"])
    op.create_table(
        "role",
        _id(),
        _tenant(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("is_system", sa.Boolean(), nullable=False),
        _created(),
        sa.UniqueConstraint("tenant_id", "code", name="uq_role_tenant_code"),
    )
    op.create_index("ix_role_tenant_id", "role", ["tenant_id"])
    op.create_table(
        "user_role",
        sa.Column(
            "user_id",
            sa.String(32),
            sa.ForeignKey("app_user.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "role_id", sa.String(32), sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True
        ),
        _tenant(),
    )
    op.create_index("ix_user_role_tenant_id", "user_role", ["tenant_id"])
    op.create_table(
        "api_key",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role_id", sa.String(32), sa.ForeignKey("role.id"), nullable=False),
        _created(),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_index("ix_api_key_tenant_id", "api_key", ["tenant_id"])
    op.create_table(
        "subject",
        _id(),
        _tenant(),
        sa.Column("subject_type", sa.String(100), nullable=False),
        sa.Column("external_ref", sa.String(200)),
        sa.Column("display_name", sa.String(500)),
        _created(),
        sa.UniqueConstraint("tenant_id", "external_ref", name="uq_subject_tenant_ref"),
    )
    op.create_index("ix_subject_tenant_type", "subject", ["tenant_id", "subject_type", "id"])
    op.create_table(
        "chain_head",
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subject.id"), primary_key=True),
        _tenant(),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(64)),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_chain_head_tenant_id", "chain_head", ["tenant_id"])
    op.create_table(
        "event_schema",
        _id(),
        _tenant(),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        _created(),
        sa.UniqueConstraint("tenant_id", "event_type", "version", name="uq_schema_type_version"),
    )
    op.create_table(
        "event",
        _id(),
        _tenant(),
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subject.id"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("event_time", UTCDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64)),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ux_event_subject_seq", "event", ["subject_id", "seq"], unique=True)
    op.create_index("ux_event_subject_prev", "event", ["subject_id", "prev_hash"], unique=True)
    op.create_index(
        "ux_event_subject_genesis",
        "event",
        ["subject_id"],
        unique=True,
        sqlite_where=sa.text("prev_hash IS NULL"),
        postgresql_where=sa.text("prev_hash IS NULL"),
    )
    op.create_index("ix_event_tenant_time", "event", ["tenant_id", "event_time", "id"])
    op.create_index(
        "ix_event_tenant_type_time", "event", ["tenant_id", "event_type", "event_time", "id"]
    )
    op.create_table(
        "checkpoint",
        _id(),
        _tenant(),
        _created(),
        sa.Column("subject_count", sa.Integer(), nullable=False),
        sa.Column("merkle_root", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
    )
    op.create_index("ix_checkpoint_tenant_created", "checkpoint", ["tenant_id", "created_at"])
    op.create_table(
        "checkpoint_leaf",
        sa.Column(
            "checkpoint_id",
            sa.String(32),
            sa.ForeignKey("checkpoint.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("subject_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    create_triggers(op.get_bind())


def downgrade() -> None:
    """Drop everything ``upgrade`` created."""
    drop_triggers(op.get_bind())
    for table in (
        "checkpoint_leaf",
        "checkpoint",
        "event",
        "event_schema",
        "chain_head",
        "subject",
        "api_key",
        "user_role",
        "role",
        "app_user",
        "tenant",
    ):
        op.drop_table(table)
