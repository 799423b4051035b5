"""HTTP routes of the documents feature, under ``/api/v1``."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from timeline._api_models import Page
from timeline._auth import Principal
from timeline._context import ContextDep, require
from timeline._routes import ERROR_RESPONSES, Cursor, Id, Limit
from timeline.documents import _service
from timeline.documents._api_models import DocumentOut, DocumentVerificationOut
from timeline.documents._storage import BlobStore, blob_key
from timeline.documents._upload import FILE_FIELD
from timeline.documents._verify import verify_documents
from timeline.errors import ApiError

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["documents"])

VersionQuery = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="a version (default: the latest)")
]

_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "the document (at most TIMELINE_MAX_DOCUMENT_BYTES)",
                        },
                        "event_id": {
                            "type": "string",
                            "pattern": "^[0-9a-f]{32}$",
                            "description": "an event of the same subject to link the upload to",
                        },
                        "title": {"type": "string", "maxLength": 500},
                    },
                }
            }
        },
    }
}


class DocumentContentMissingError(ApiError):
    """The stored content of a document is gone; an operator should run verification."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "DOCUMENT_CONTENT_MISSING"


def _store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.document_store
    return store


@router.post("/subjects/{subject_id}/documents", status_code=201, openapi_extra=_FORM_SCHEMA)
async def upload_document(
    subject_id: Id,
    request: Request,
    ctx: ContextDep,
    p: Annotated[Principal, require("document:create")],
) -> DocumentOut:
    """Upload a document to a subject (streamed ``multipart/form-data``; 409 if a duplicate).

    The upload is chained to the subject as a ``document_uploaded`` event carrying its SHA-256.
    """
    return await _service.upload(
        ctx,
        _store(request),
        p,
        _service.UploadTarget(subject_id),
        content_type=request.headers.get("content-type"),
        body=request.stream(),
    )


@router.get("/subjects/{subject_id}/documents")
async def list_documents(
    subject_id: Id,
    ctx: ContextDep,
    p: Annotated[Principal, require("document:read")],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[DocumentOut]:
    """The subject's live documents, each as its latest version, by id."""
    async with ctx.db.read() as session:
        return await _service.list_documents(
            session, p.tenant_id, subject_id, cursor=cursor, limit=limit
        )


@router.post("/documents/verify")
async def verify(
    request: Request, ctx: ContextDep, p: Annotated[Principal, require("verification:run")]
) -> DocumentVerificationOut:
    """Re-read every live document of the tenant against its row and chained upload event."""
    report = await verify_documents(ctx.db, _store(request), [p.tenant_id])
    return DocumentVerificationOut.model_validate(report.to_dict())


@router.get("/documents/{document_id}")
async def get_document(
    document_id: Id,
    ctx: ContextDep,
    p: Annotated[Principal, require("document:read")],
    version: VersionQuery = None,
) -> DocumentOut:
    """A document's latest version, or the one ``?version=`` names."""
    async with ctx.db.read() as session:
        doc, row = await _service.get_version(session, p.tenant_id, document_id, version)
    return _service.document_out(doc, row)


@router.get("/documents/{document_id}/versions")
async def list_versions(
    document_id: Id,
    ctx: ContextDep,
    p: Annotated[Principal, require("document:read")],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[DocumentOut]:
    """A document's versions, oldest first."""
    after = _service.versions_after(cursor)
    async with ctx.db.read() as session:
        return await _service.list_versions(
            session, p.tenant_id, document_id, after=after, limit=limit
        )


@router.post("/documents/{document_id}/versions", status_code=201, openapi_extra=_FORM_SCHEMA)
async def upload_version(
    document_id: Id,
    request: Request,
    ctx: ContextDep,
    p: Annotated[Principal, require("document:create")],
) -> DocumentOut:
    """Upload the next version of a document (same form as the first upload)."""
    return await _service.upload(
        ctx,
        _store(request),
        p,
        _service.UploadTarget("", document_id),
        content_type=request.headers.get("content-type"),
        body=request.stream(),
    )


@router.delete("/documents/{document_id}")
async def delete_document(
    document_id: Id, ctx: ContextDep, p: Annotated[Principal, require("document:delete")]
) -> DocumentOut:
    """Soft-delete a document (chained as ``document_deleted``); its content stays stored."""
    return await _service.soft_delete(ctx, p, document_id)


def content_disposition(filename: str) -> str:
    """An RFC 6266 ``attachment`` header: an ASCII fallback and the exact UTF-8 name.

    Only the last path segment of the stored name is used, and quotes, backslashes and
    control characters never reach the header.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "document"
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get(
    "/documents/{document_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 304: {}},
)
async def download(
    document_id: Id,
    request: Request,
    ctx: ContextDep,
    p: Annotated[Principal, require("document:read")],
    version: VersionQuery = None,
) -> Response:
    """The content of a document version, streamed; its ETag is the SHA-256.

    The content is checksummed as it is sent; if it no longer matches, the transfer is cut
    short (the client sees an incomplete body) rather than completed with changed bytes.
    """
    async with ctx.db.read() as session:
        doc, row = await _service.get_version(session, p.tenant_id, document_id, version)
    etag = f'"{row.sha256}"'
    headers = {
        "ETag": etag,
        "Content-Disposition": content_disposition(row.filename),
        "Cache-Control": "private, no-cache",
    }
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    key = blob_key(p.tenant_id, row.sha256)
    chunks = _store(request).read(key)
    try:
        first = await anext(chunks, b"")
    except FileNotFoundError as exc:
        logger.error("document %s version %d: content missing at %s", doc.id, row.version, key)
        msg = (
            f"the stored content of document {doc.id} version {row.version} is missing; "
            "an operator should run `timeline documents verify`"
        )
        raise DocumentContentMissingError(msg) from exc
    headers["Content-Length"] = str(row.size)
    return StreamingResponse(
        _checked(first, chunks, sha256=row.sha256, size=row.size, doc=doc.id, version=row.version),
        media_type=row.content_type,
        headers=headers,
    )


async def _checked(
    first: bytes, rest: AsyncIterator[bytes], *, sha256: str, size: int, doc: str, version: int
) -> AsyncIterator[bytes]:
    # One chunk is held back until the checksum is known, so changed content is never sent
    # whole: the response ends short of its Content-Length instead.
    digest = hashlib.sha256(first)
    held, total = first, len(first)
    try:
        async for chunk in rest:
            if held:
                yield held
            digest.update(chunk)
            total += len(chunk)
            held = chunk
    finally:
        close = getattr(rest, "aclose", None)
        if close is not None:
            await close()
    if digest.hexdigest() != sha256 or total != size:
        logger.error(
            "document %s version %d: stored content does not match its checksum; "
            "download cut short (run `timeline documents verify`)",
            doc,
            version,
        )
        return
    if held:
        yield held
