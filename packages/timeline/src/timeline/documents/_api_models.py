"""Answer bodies of the document routes (what the OpenAPI document describes)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["DocumentOut", "DocumentProblemOut", "DocumentVerificationOut"]


class DocumentOut(BaseModel):
    """One version of a document and what the service knows about it."""

    id: str = Field(description="the document (series) id; versions share it")
    subject_id: str = Field(description="the subject the document belongs to")
    version: int = Field(description="this version's number (1, 2, ...)")
    latest_version: int = Field(description="the newest version of the document")
    title: str | None = Field(description="an optional title given at upload")
    filename: str = Field(description="the client's filename (metadata only, never a path)")
    content_type: str = Field(description="the media type given at upload")
    size: int = Field(description="bytes")
    sha256: str = Field(description="SHA-256 of the content, hex; also the download's ETag")
    upload_event_id: str = Field(description="the chained document_uploaded event")
    event_id: str | None = Field(description="the event of the same subject this links to")
    created_by: str = Field(description="who uploaded this version (user:<id> or api_key:<id>)")
    created_at: datetime = Field(description="when this version was uploaded")
    deleted_at: datetime | None = Field(
        default=None, description="when the document was deleted (soft delete)"
    )


class DocumentProblemOut(BaseModel):
    """One thing verification found wrong with a stored document version."""

    kind: Literal["missing_blob", "checksum_mismatch", "row_event_mismatch", "missing_event"]
    tenant_id: str
    document_id: str
    version: int
    message: str
    expected: str | None = None
    found: str | None = None


class DocumentVerificationOut(BaseModel):
    """The result of re-reading every live document version of a tenant."""

    status: Literal["valid", "invalid"]
    versions_checked: int
    bytes_checked: int
    problems: list[DocumentProblemOut]
