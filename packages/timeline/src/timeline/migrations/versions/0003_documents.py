"""Documents: content-addressed, versioned files linked to subjects.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from timeline._models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _tenant(*, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(
        "tenant_id",
        sa.String(32),
        sa.ForeignKey("tenant.id"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    """Create the document, document_version and document_content tables."""
    op.create_table(
        "document",
        sa.Column("id", sa.String(32), primary_key=True),
        _tenant(),
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subject.id"), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime()),
        sa.Column("deleted_by", sa.String(100)),
    )
    op.create_index("ix_document_tenant_subject", "document", ["tenant_id", "subject_id", "id"])
    op.create_table(
        "document_version",
        sa.Column("id", sa.String(32), primary_key=True),
        _tenant(),
        sa.Column("document_id", sa.String(32), sa.ForeignKey("document.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500)),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("upload_event_id", sa.String(32), sa.ForeignKey("event.id"), nullable=False),
        sa.Column("linked_event_id", sa.String(32), sa.ForeignKey("event.id")),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("document_id", "version", name="uq_document_version"),
    )
    op.create_index("ix_document_version_tenant_sha", "document_version", ["tenant_id", "sha256"])
    op.create_table(
        "document_content",
        _tenant(primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("document_id", sa.String(32), sa.ForeignKey("document.id"), nullable=False),
    )
    op.create_index("ix_document_content_document", "document_content", ["document_id"])


def downgrade() -> None:
    """Drop the documents tables (stored blobs are left where they are)."""
    op.drop_index("ix_document_content_document", table_name="document_content")
    op.drop_table("document_content")
    op.drop_index("ix_document_version_tenant_sha", table_name="document_version")
    op.drop_table("document_version")
    op.drop_index("ix_document_tenant_subject", table_name="document")
    op.drop_table("document")
