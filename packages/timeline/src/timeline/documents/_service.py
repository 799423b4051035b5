"""Documents in the database: uploads with their chained events, versions, reads, deletes.

An upload is stored first (streamed, hashed, content-addressed) and recorded second, in one
write transaction that locks the subject's chain head, checks for a live duplicate, links the
optional event, appends the ``document_uploaded`` event and inserts the rows. If recording
fails, content this upload created and no row refers to is removed again. Duplicates are caught
by the ``document_content`` primary key even when two uploads of the same content race.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from timeline import _chain, _events
from timeline._api_models import Page
from timeline._models import Event, new_id, utcnow
from timeline.documents._api_models import DocumentOut
from timeline.documents._models import Document, DocumentContent, DocumentVersion
from timeline.documents._storage import BlobStore, StoredBlob
from timeline.documents._upload import MultipartUpload
from timeline.errors import (
    ChainConflictError,
    ConflictError,
    NotFoundError,
    ValidationFailedError,
)

if TYPE_CHECKING:
    from timeline._auth import Principal
    from timeline._context import Context

__all__ = [
    "DELETED",
    "UPLOADED",
    "DuplicateDocumentError",
    "UploadTarget",
    "content_holder",
    "document_out",
    "get_document",
    "get_version",
    "list_documents",
    "list_versions",
    "soft_delete",
    "upload",
    "versions_after",
]

logger = logging.getLogger(__name__)

UPLOADED = "document_uploaded"
DELETED = "document_deleted"
FORM_FIELDS = {"event_id": 32, "title": 500}
_EVENT_ID = re.compile(r"^[0-9a-f]{32}$")


class DuplicateDocumentError(ConflictError):
    """The same content is already a live document of the tenant (``details.document_id``)."""

    code = "DUPLICATE_DOCUMENT"

    def __init__(self, document_id: str) -> None:
        super().__init__(
            f"this content is already stored as document {document_id}; upload a new version "
            "of that document or delete it first",
            details={"document_id": document_id},
        )


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where an upload goes: a new document of a subject, or a new version of a document."""

    subject_id: str
    document_id: str | None = None


def document_out(doc: Document, row: DocumentVersion) -> DocumentOut:
    """The API view of version ``row`` of ``doc``."""
    return DocumentOut(
        id=doc.id,
        subject_id=doc.subject_id,
        version=row.version,
        latest_version=doc.latest_version,
        title=row.title,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        upload_event_id=row.upload_event_id,
        event_id=row.linked_event_id,
        created_by=row.created_by,
        created_at=row.created_at,
        deleted_at=doc.deleted_at,
    )


# --- reads -----------------------------------------------------------------------------------


async def get_document(
    session: AsyncSession, tenant_id: str, document_id: str, *, for_update: bool = False
) -> Document:
    """The live document ``document_id`` of the tenant.

    Raises:
        NotFoundError: no such document in the tenant, or it was deleted.
    """
    stmt = select(Document).where(Document.tenant_id == tenant_id, Document.id == document_id)
    if for_update:
        stmt = stmt.with_for_update()
    doc = (await session.execute(stmt)).scalar_one_or_none()
    if doc is None or doc.deleted_at is not None:
        msg = f"document {document_id} does not exist in this tenant"
        raise NotFoundError(msg)
    return doc


async def get_version(
    session: AsyncSession, tenant_id: str, document_id: str, version: int | None
) -> tuple[Document, DocumentVersion]:
    """A live document and one of its versions (the latest when ``version`` is ``None``).

    Raises:
        NotFoundError: no such document, or no such version of it.
    """
    doc = await get_document(session, tenant_id, document_id)
    wanted = doc.latest_version if version is None else version
    stmt = select(DocumentVersion).where(
        DocumentVersion.document_id == doc.id, DocumentVersion.version == wanted
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        msg = f"document {document_id} has no version {wanted} (its latest is {doc.latest_version})"
        raise NotFoundError(msg)
    return doc, row


async def list_versions(
    session: AsyncSession, tenant_id: str, document_id: str, *, after: int, limit: int
) -> Page[DocumentOut]:
    """A page of a live document's versions, oldest first.

    Raises:
        NotFoundError: no such document in the tenant.
    """
    doc = await get_document(session, tenant_id, document_id)
    stmt = (
        select(DocumentVersion)
        .where(DocumentVersion.document_id == doc.id, DocumentVersion.version > after)
        .order_by(DocumentVersion.version)
        .limit(limit + 1)
    )
    rows = list((await session.execute(stmt)).scalars())
    more = len(rows) > limit
    return Page(
        items=[document_out(doc, r) for r in rows[:limit]],
        next_cursor=_events.encode_cursor(rows[limit - 1].version) if more else None,
        total=doc.latest_version,
    )


async def list_documents(
    session: AsyncSession, tenant_id: str, subject_id: str, *, cursor: str | None, limit: int
) -> Page[DocumentOut]:
    """A page of a subject's live documents (each as its latest version), by id.

    Raises:
        NotFoundError: no such subject in the tenant.
    """
    await _events.get_subject(session, tenant_id, subject_id)
    live = (
        Document.tenant_id == tenant_id,
        Document.subject_id == subject_id,
        Document.deleted_at.is_(None),
    )
    total = await _events.count(session, select(Document.id).where(*live))
    base = (
        select(Document, DocumentVersion)
        .join(
            DocumentVersion,
            (DocumentVersion.document_id == Document.id)
            & (DocumentVersion.version == Document.latest_version),
        )
        .where(*live)
    )
    stmt = base
    if cursor is not None:
        stmt = stmt.where(Document.id > str(_events.decode_cursor(cursor, 1)[0]))
    rows = list((await session.execute(stmt.order_by(Document.id).limit(limit + 1))).all())
    more = len(rows) > limit
    return Page(
        items=[document_out(doc, row) for doc, row in rows[:limit]],
        next_cursor=_events.encode_cursor(rows[limit - 1][0].id) if more else None,
        total=total,
    )


async def content_holder(session: AsyncSession, tenant_id: str, sha256: str) -> str | None:
    """The live document that holds ``sha256`` in the tenant, if any."""
    stmt = select(DocumentContent.document_id).where(
        DocumentContent.tenant_id == tenant_id, DocumentContent.sha256 == sha256
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# --- uploads ---------------------------------------------------------------------------------


async def check_target(ctx: Context, tenant_id: str, target: UploadTarget) -> UploadTarget:
    """``target`` with the subject filled in, checked before any byte is read.

    Raises:
        NotFoundError: the subject or document does not exist in the tenant.
    """
    async with ctx.db.read() as session:
        if target.document_id is not None:
            doc = await get_document(session, tenant_id, target.document_id)
            return UploadTarget(doc.subject_id, doc.id)
        await _events.get_subject(session, tenant_id, target.subject_id)
        return target


async def upload(
    ctx: Context,
    store: BlobStore,
    principal: Principal,
    target: UploadTarget,
    *,
    content_type: str | None,
    body: AsyncIterator[bytes],
) -> DocumentOut:
    """Store the streamed multipart ``body`` and record it as a document or a new version.

    Raises:
        NotFoundError: the subject or document does not exist in the tenant.
        ValidationFailedError: the form is not acceptable (no file, empty file, bad event id).
        DocumentTooLargeError: the file is over ``max_document_bytes``; nothing was stored.
        DuplicateDocumentError: the content is already a live document of the tenant.
    """
    tenant_id = principal.tenant_id
    target = await check_target(ctx, tenant_id, target)
    form = MultipartUpload(content_type, body, FORM_FIELDS)
    chunks = form.file_chunks()
    try:
        blob = await store.write(tenant_id, chunks, max_bytes=ctx.settings.max_document_bytes)
    finally:
        await chunks.aclose()  # a refused upload leaves the rest of the body unread
    try:
        if blob.size == 0:
            msg = "the file is empty; upload a file with content"
            raise ValidationFailedError(msg)
        event_id = form.fields.get("event_id") or None
        if event_id is not None and not _EVENT_ID.match(event_id):
            msg = "event_id must be the 32-hex-digit id of an event of the same subject"
            raise ValidationFailedError(msg)
        title = form.fields.get("title") or None

        async def work(session: AsyncSession) -> tuple[DocumentOut, list[Event]]:
            return await _record(
                session,
                principal,
                target,
                blob,
                filename=form.filename,
                content_type=form.content_type,
                title=title,
                linked_event_id=event_id,
            )

        try:
            out, events = await _chain.run_write(ctx.db, work, retries=ctx.settings.append_retries)
        except (DuplicateDocumentError, ChainConflictError):
            raise
        except ConflictError as exc:
            # Two uploads of the same content raced: the loser lands on the primary key.
            async with ctx.db.read() as session:
                holder = await content_holder(session, tenant_id, blob.sha256)
            if holder is None:
                raise
            raise DuplicateDocumentError(holder) from exc
    except BaseException:
        with anyio.CancelScope(shield=True):  # a cancelled request still cleans up
            await _discard(ctx, store, tenant_id, blob)
        raise
    await ctx.events_appended(tenant_id, events, origin="document")
    return out


async def _record(
    session: AsyncSession,
    principal: Principal,
    target: UploadTarget,
    blob: StoredBlob,
    *,
    filename: str,
    content_type: str,
    title: str | None,
    linked_event_id: str | None,
) -> tuple[DocumentOut, list[Event]]:
    tenant_id = principal.tenant_id
    # The chain head lock serialises every upload to this subject, versions included.
    await _chain.lock_head(session, tenant_id, target.subject_id)
    now = utcnow()
    if target.document_id is None:
        doc = Document(
            id=new_id(),
            tenant_id=tenant_id,
            subject_id=target.subject_id,
            latest_version=0,
            created_by=principal.actor,
            created_at=now,
        )
        session.add(doc)
        latest_sha = None
    else:
        doc = await get_document(session, tenant_id, target.document_id, for_update=True)
        latest_sha = (
            await session.execute(
                select(DocumentVersion.sha256).where(
                    DocumentVersion.document_id == doc.id,
                    DocumentVersion.version == doc.latest_version,
                )
            )
        ).scalar_one()
    holder = await content_holder(session, tenant_id, blob.sha256)
    # An earlier version's content may come back as a new version; the same content twice in a
    # row, or content another live document holds, is a duplicate.
    if holder is not None and (holder != doc.id or latest_sha == blob.sha256):
        raise DuplicateDocumentError(holder)
    if linked_event_id is not None:
        await _check_link(session, tenant_id, target.subject_id, linked_event_id)
    doc.latest_version += 1
    await session.flush()
    if holder is None:
        session.add(DocumentContent(tenant_id=tenant_id, sha256=blob.sha256, document_id=doc.id))
        await session.flush()
    payload: dict[str, Any] = {
        "document_id": doc.id,
        "version": doc.latest_version,
        "sha256": blob.sha256,
        "size": blob.size,
        "filename": filename,
        "content_type": content_type,
        "event_id": linked_event_id,
    }
    # Outbox rows always (uploads are not on the hot path): rules see the upload even if this
    # process dies right after the commit.
    events = await _chain.append(
        session,
        tenant_id,
        target.subject_id,
        [_events.system_event(UPLOADED, payload, now)],
        outbox=True,
    )
    row = DocumentVersion(
        id=new_id(),
        tenant_id=tenant_id,
        document_id=doc.id,
        version=doc.latest_version,
        title=title,
        filename=filename,
        content_type=content_type,
        size=blob.size,
        sha256=blob.sha256,
        upload_event_id=events[0].id,
        linked_event_id=linked_event_id,
        created_by=principal.actor,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return document_out(doc, row), events


async def _check_link(
    session: AsyncSession, tenant_id: str, subject_id: str, event_id: str
) -> None:
    stmt = select(Event.subject_id).where(Event.tenant_id == tenant_id, Event.id == event_id)
    owner = (await session.execute(stmt)).scalar_one_or_none()
    if owner != subject_id:
        msg = f"event_id {event_id} is not an event of subject {subject_id}"
        raise ValidationFailedError(msg)


async def _discard(ctx: Context, store: BlobStore, tenant_id: str, blob: StoredBlob) -> None:
    """Remove content this upload created, unless a row refers to it by now."""
    if not blob.created:
        return
    try:
        async with ctx.db.read() as session:
            stmt = select(func.count()).where(
                DocumentVersion.tenant_id == tenant_id, DocumentVersion.sha256 == blob.sha256
            )
            if (await session.execute(stmt)).scalar_one():
                return
        await store.delete(blob.key)
    except Exception:
        # The upload's own error is what the client needs; an orphan blob is harmless.
        logger.warning("could not remove unrecorded document content", exc_info=True)


# --- deletes ---------------------------------------------------------------------------------


async def soft_delete(ctx: Context, principal: Principal, document_id: str) -> DocumentOut:
    """Mark a document deleted, release its content claim and chain a ``document_deleted``.

    The content stays in the store (earlier events refer to it); the same content can then be
    uploaded again.

    Raises:
        NotFoundError: no such live document in the tenant.
    """
    tenant_id = principal.tenant_id
    async with ctx.db.read() as session:
        subject_id = (await get_document(session, tenant_id, document_id)).subject_id

    async def work(session: AsyncSession) -> tuple[DocumentOut, list[Event]]:
        await _chain.lock_head(session, tenant_id, subject_id)
        doc, row = await get_version(session, tenant_id, document_id, None)
        now = utcnow()
        doc.deleted_at = now
        doc.deleted_by = principal.actor
        await session.execute(
            delete(DocumentContent).where(
                DocumentContent.tenant_id == tenant_id, DocumentContent.document_id == doc.id
            )
        )
        payload = {
            "document_id": doc.id,
            "latest_version": doc.latest_version,
            "deleted_by": principal.actor,
        }
        events = await _chain.append(
            session,
            tenant_id,
            subject_id,
            [_events.system_event(DELETED, payload, now)],
            outbox=True,
        )
        await session.flush()
        return document_out(doc, row), events

    out, events = await _chain.run_write(ctx.db, work, retries=ctx.settings.append_retries)
    await ctx.events_appended(tenant_id, events, origin="document")
    return out


def versions_after(cursor: str | None) -> int:
    """The version a versions cursor points after (0 for the first page).

    Raises:
        ValidationFailedError: the cursor was not issued by this service.
    """
    if cursor is None:
        return 0
    (after,) = _events.decode_cursor(cursor, 1)
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 2**31:
        msg = "cursor is not valid; pass next_cursor from the previous page unchanged"
        raise ValidationFailedError(msg)
    return after
