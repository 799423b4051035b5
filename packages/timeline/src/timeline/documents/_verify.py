"""Re-reading stored documents against their rows and their chained upload events.

For every version of every live document: the content is read back from the store and its
SHA-256 and size recomputed; they must equal the version row's, and the row must equal what its
``document_uploaded`` event recorded (document, version, checksum, size, filename, media type,
linked event). A blob changed in storage, a row changed in the database, or an event that is
missing or disagrees is reported. The chain itself (that the event was not changed) is checked
by chain verification, as for any event.

Work is bounded: versions are read a page at a time, and content is streamed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import select, true

from timeline._db import Database
from timeline._models import Event
from timeline.documents._models import Document, DocumentVersion
from timeline.documents._service import UPLOADED
from timeline.documents._storage import BlobStore, blob_key

__all__ = ["DocumentProblem", "DocumentReport", "verify_documents"]

ProblemKind = Literal["missing_blob", "checksum_mismatch", "row_event_mismatch", "missing_event"]
PAGE = 200


@dataclass(frozen=True, slots=True)
class DocumentProblem:
    """One thing found wrong with a stored document version."""

    kind: ProblemKind
    tenant_id: str
    document_id: str
    version: int
    message: str
    expected: str | None = None
    found: str | None = None


@dataclass
class DocumentReport:
    """What a verification run checked and found."""

    versions_checked: int = 0
    bytes_checked: int = 0
    problems: list[DocumentProblem] = field(default_factory=list)

    @property
    def status(self) -> Literal["valid", "invalid"]:
        """``valid`` when nothing was found wrong."""
        return "invalid" if self.problems else "valid"

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "status": self.status,
            "versions_checked": self.versions_checked,
            "bytes_checked": self.bytes_checked,
            "problems": [asdict(p) for p in self.problems],
        }


def _row_vs_event(row: DocumentVersion, payload: dict[str, Any]) -> list[str]:
    recorded = {
        "document_id": row.document_id,
        "version": row.version,
        "sha256": row.sha256,
        "size": row.size,
        "filename": row.filename,
        "content_type": row.content_type,
        "event_id": row.linked_event_id,
    }
    return [name for name, value in recorded.items() if payload.get(name) != value]


async def _page(
    db: Database, tenant_ids: list[str] | None, after: tuple[str, str]
) -> list[tuple[DocumentVersion, str, Event | None]]:
    async with db.read() as session:
        stmt = (
            select(DocumentVersion, Document.subject_id)
            .join(Document, Document.id == DocumentVersion.document_id)
            .where(
                DocumentVersion.tenant_id.in_(tenant_ids) if tenant_ids is not None else true(),
                Document.deleted_at.is_(None),
                (DocumentVersion.tenant_id > after[0])
                | ((DocumentVersion.tenant_id == after[0]) & (DocumentVersion.id > after[1])),
            )
            .order_by(DocumentVersion.tenant_id, DocumentVersion.id)
            .limit(PAGE)
        )
        rows = list((await session.execute(stmt)).all())
        ids = [r.upload_event_id for r, _ in rows]
        events = {
            e.id: e
            for e in (await session.execute(select(Event).where(Event.id.in_(ids)))).scalars()
        }
    return [(row, subject_id, events.get(row.upload_event_id)) for row, subject_id in rows]


async def _digest(store: BlobStore, key: str) -> tuple[str, int] | None:
    sha = hashlib.sha256()
    size = 0
    try:
        async for chunk in store.read(key):
            sha.update(chunk)
            size += len(chunk)
    except FileNotFoundError:
        return None
    return sha.hexdigest(), size


async def verify_documents(
    db: Database, store: BlobStore, tenant_ids: list[str] | None
) -> DocumentReport:
    """Check every version of every live document of ``tenant_ids`` (``None``: every tenant).

    Raises:
        StorageUnavailableError: the store failed (a missing blob is a finding, not this).
    """
    report = DocumentReport()
    after = ("", "")
    while True:
        page = await _page(db, tenant_ids, after)
        if not page:
            return report
        after = (page[-1][0].tenant_id, page[-1][0].id)
        digests: dict[str, tuple[str, int] | None] = {}
        for row, subject_id, event in page:
            report.versions_checked += 1
            report.problems += _check_event(row, subject_id, event)
            key = blob_key(row.tenant_id, row.sha256)
            if key not in digests:
                digests[key] = await _digest(store, key)
                report.bytes_checked += (digests[key] or ("", 0))[1]
            report.problems += _check_blob(row, key, digests[key])


def _problem(
    row: DocumentVersion, kind: ProblemKind, message: str, **facts: Any
) -> DocumentProblem:
    return DocumentProblem(kind, row.tenant_id, row.document_id, row.version, message, **facts)


def _check_event(
    row: DocumentVersion, subject_id: str, event: Event | None
) -> list[DocumentProblem]:
    if (
        event is None
        or event.tenant_id != row.tenant_id
        or event.subject_id != subject_id
        or event.event_type != UPLOADED
    ):
        message = f"the upload event {row.upload_event_id} is missing or not this document's"
        return [_problem(row, "missing_event", message)]
    try:
        payload = json.loads(event.payload)
    except ValueError:
        payload = {}
    differing = _row_vs_event(row, payload if isinstance(payload, dict) else {})
    if not differing:
        return []
    message = f"the row and its chained upload event disagree on {', '.join(differing)}"
    return [
        _problem(
            row,
            "row_event_mismatch",
            message,
            expected=json.dumps({k: payload.get(k) for k in differing}, sort_keys=True),
            found=json.dumps({k: getattr(row, _COLUMN.get(k, k)) for k in differing}),
        )
    ]


_COLUMN = {"event_id": "linked_event_id"}


def _check_blob(
    row: DocumentVersion, key: str, digest: tuple[str, int] | None
) -> list[DocumentProblem]:
    if digest is None:
        return [_problem(row, "missing_blob", f"no content is stored at {key}")]
    sha, size = digest
    if sha == row.sha256 and size == row.size:
        return []
    message = f"the content at {key} no longer matches its recorded checksum"
    return [
        _problem(
            row,
            "checksum_mismatch",
            message,
            expected=f"sha256={row.sha256} size={row.size}",
            found=f"sha256={sha} size={size}",
        )
    ]
