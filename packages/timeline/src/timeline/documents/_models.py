"""Tables of the documents feature (registered on timeline's one ``Base.metadata``).

* :class:`Document`: one document series, linked to a subject; soft-deleted, never removed.
* :class:`DocumentVersion`: one uploaded version of a series, with the checksum its chained
  ``document_uploaded`` event also carries.
* :class:`DocumentContent`: which live document holds a given content in a tenant. Its primary
  key (tenant, SHA-256) is what makes duplicate detection hold under concurrent uploads; a soft
  delete releases the claim, so the same content can be uploaded again.

No path of the storage is kept: a blob's key is derived from the tenant id and the SHA-256
(:func:`timeline.documents._storage.blob_key`), so nothing in a row can point a download at
another file.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from timeline._models import Base, new_id, utcnow


class Document(Base):
    """A series of versions of one file, linked to a subject."""

    __tablename__ = "document"
    __table_args__ = (Index("ix_document_tenant_subject", "tenant_id", "subject_id", "id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"))
    latest_version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column()
    deleted_by: Mapped[str | None] = mapped_column(String(100))


class DocumentVersion(Base):
    """One uploaded version of a document."""

    __tablename__ = "document_version"
    __table_args__ = (
        UniqueConstraint("document_id", "version", name="uq_document_version"),
        Index("ix_document_version_tenant_sha", "tenant_id", "sha256"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    document_id: Mapped[str] = mapped_column(ForeignKey("document.id"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    upload_event_id: Mapped[str] = mapped_column(ForeignKey("event.id"))
    linked_event_id: Mapped[str | None] = mapped_column(ForeignKey("event.id"))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DocumentContent(Base):
    """The live document that holds a content (by SHA-256) in a tenant."""

    __tablename__ = "document_content"
    __table_args__ = (Index("ix_document_content_document", "document_id"),)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("document.id"))
