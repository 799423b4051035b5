"""Where document content lives: one protocol, content-addressed keys, streaming with a limit.

A blob's key is derived from the tenant id and the SHA-256 of its content only
(``tenants/<tenant_id>/sha256/<first two hex digits>/<hex>``); no part of it ever comes from a
client, so a crafted filename cannot reach another file. The same content is stored once per
tenant, whichever documents and versions carry it.

Backends: :class:`~timeline.documents._local.LocalBlobStore` (a directory) and
:class:`~timeline.documents._s3.S3BlobStore` (S3 or an S3-compatible service). Both write a
stream to a temporary place while hashing and counting it, refuse it once it exceeds the limit
(leaving nothing behind), and only then move it to its content key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from timeline.errors import ApiError

if TYPE_CHECKING:
    from timeline.settings import Settings

__all__ = [
    "CHUNK_BYTES",
    "BlobStore",
    "DocumentTooLargeError",
    "Hasher",
    "StorageUnavailableError",
    "StoredBlob",
    "blob_key",
    "build_store",
]

CHUNK_BYTES = 64 * 1024
"""Size of the chunks downloads are read and sent in."""

_TENANT_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DocumentTooLargeError(ApiError):
    """The uploaded file is larger than ``TIMELINE_MAX_DOCUMENT_BYTES``; nothing was stored."""

    status_code: ClassVar[int] = 413
    code: ClassVar[str] = "DOCUMENT_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the document is larger than {limit} bytes, the most this service accepts; "
            "nothing was stored (the limit is TIMELINE_MAX_DOCUMENT_BYTES)",
            details={"limit": limit},
        )


class StorageUnavailableError(ApiError):
    """The document store failed or is misconfigured; the message names what to check."""

    status_code: ClassVar[int] = 503
    code: ClassVar[str] = "STORAGE_UNAVAILABLE"


def blob_key(tenant_id: str, sha256: str) -> str:
    """The storage key of the content ``sha256`` in tenant ``tenant_id``.

    Raises:
        ValueError: either part is not the hex id / digest the service makes (a bug, never
            client input: both come from the service itself).
    """
    if not _TENANT_ID.match(tenant_id) or not _SHA256.match(sha256):
        msg = "a blob key needs a 32-hex-digit tenant id and a 64-hex-digit SHA-256"
        raise ValueError(msg)
    return f"tenants/{tenant_id}/sha256/{sha256[:2]}/{sha256}"


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """The result of a write: the content's key, checksum and size.

    ``created`` says whether this write put the content there (``False``: the same content was
    already stored, and this write only confirmed it).
    """

    key: str
    sha256: str
    size: int
    created: bool


class Hasher:
    """SHA-256 and byte count of a stream, refusing it past ``limit`` bytes.

    Args:
        limit: the most bytes accepted.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._sha = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        """Count and hash ``chunk``.

        Raises:
            DocumentTooLargeError: the stream went past the limit.
        """
        self.size += len(chunk)
        if self.size > self.limit:
            raise DocumentTooLargeError(self.limit)
        self._sha.update(chunk)

    def hexdigest(self) -> str:
        """The SHA-256 of what was counted so far, in hex."""
        return self._sha.hexdigest()


class BlobStore(Protocol):
    """A content-addressed store of document blobs."""

    name: str

    async def start(self) -> None:
        """Prepare the store (create the root directory); called at service start-up."""

    async def stop(self) -> None:
        """Release what the store holds (connections); called at service shutdown."""

    async def write(
        self, tenant_id: str, chunks: AsyncIterator[bytes], *, max_bytes: int
    ) -> StoredBlob:
        """Store the stream ``chunks`` under its content key in ``tenant_id``.

        The stream is hashed and counted while it is written to a temporary place, then moved to
        :func:`blob_key`; on any failure (including the limit) nothing is left behind.

        Raises:
            DocumentTooLargeError: the stream is longer than ``max_bytes``.
            StorageUnavailableError: the store failed.
        """
        ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The content at ``key``, as chunks of at most :data:`CHUNK_BYTES`.

        Raises:
            FileNotFoundError: nothing is stored at ``key``.
            StorageUnavailableError: the store failed.
        """
        ...

    async def exists(self, key: str) -> bool:
        """Whether something is stored at ``key``."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the content at ``key`` (nothing happens if there is none)."""
        ...


def build_store(settings: Settings) -> BlobStore:
    """The store ``settings.storage_backend`` names, configured from ``settings``.

    Raises:
        ConfigurationError: the S3 backend lacks a bucket, or boto3 is not installed.
    """
    if settings.storage_backend == "s3":
        from timeline.documents._s3 import S3BlobStore

        return S3BlobStore.from_settings(settings)
    from timeline.documents._local import LocalBlobStore

    return LocalBlobStore(settings.storage_root)
