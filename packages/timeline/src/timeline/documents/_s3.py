"""The S3 (and S3-compatible) document store, on boto3 in worker threads.

An upload is buffered one part at a time (``TIMELINE_S3_PART_BYTES``, at least 5 MiB, S3's
smallest part): content that fits in one part is put straight to its content key once its
checksum is known; anything larger goes as a multipart upload to a temporary key under
``<prefix>.incoming/``, and when it is complete it is copied server-side to its content key
(boto3's managed copy, multipart for large objects) and the temporary key is deleted. A failed
or refused upload is aborted, so memory holds at most one part and nothing is left behind
(add a bucket lifecycle rule that aborts incomplete multipart uploads, for crashes).

boto3 is an optional dependency (``pip install timeline[s3]``), imported only here.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from corekit.errors import ConfigurationError
from timeline.documents._storage import (
    CHUNK_BYTES,
    Hasher,
    StorageUnavailableError,
    StoredBlob,
    blob_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from timeline.settings import Settings

__all__ = ["S3BlobStore"]

T = TypeVar("T")
MIN_PART_BYTES = 5 * 1024 * 1024


@dataclass
class _Multipart:
    key: str
    upload_id: str
    parts: list[dict[str, Any]] = field(default_factory=list)
    completed: bool = False


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    """Content-addressed blobs in an S3 bucket.

    Args:
        client: a boto3 S3 client (thread-safe; used from worker threads).
        bucket: the bucket.
        prefix: a key prefix inside the bucket (``""`` or ending in ``/``).
        part_bytes: the multipart part size (at least 5 MiB).
        server_side_encryption: ``AES256`` or ``aws:kms`` to ask S3 to encrypt what it stores.
    """

    name = "s3"

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        prefix: str = "",
        part_bytes: int = 8 * 1024 * 1024,
        server_side_encryption: str | None = None,
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            msg = f"the S3 part size must be at least {MIN_PART_BYTES} bytes (S3's minimum)"
            raise ConfigurationError(msg)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_bytes = part_bytes
        self._extra: dict[str, Any] = (
            {"ServerSideEncryption": server_side_encryption} if server_side_encryption else {}
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        """A store for the ``TIMELINE_S3_*`` settings.

        Raises:
            ConfigurationError: no bucket is set, or boto3 is not installed.
        """
        if not settings.s3_bucket:
            msg = "TIMELINE_STORAGE_BACKEND=s3 needs TIMELINE_S3_BUCKET"
            raise ConfigurationError(msg)
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            msg = "the s3 document store needs boto3: pip install timeline[s3]"
            raise ConfigurationError(msg) from exc
        secret = settings.s3_secret_access_key
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
        )
        prefix = settings.s3_prefix.strip("/")
        return cls(
            client,
            settings.s3_bucket,
            prefix=f"{prefix}/" if prefix else "",
            part_bytes=settings.s3_part_bytes,
            server_side_encryption=settings.s3_server_side_encryption,
        )

    async def start(self) -> None:
        """Nothing to prepare: the bucket is checked by the first request that uses it."""

    async def stop(self) -> None:
        """Close the client's connection pool."""
        await self._call(self.client.close)

    async def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        except FileNotFoundError:
            raise
        except Exception as exc:
            if _missing(exc):
                raise FileNotFoundError(str(kwargs.get("Key", ""))) from exc
            if type(exc).__module__.startswith(("botocore", "boto3", "s3transfer", "urllib3")):
                # Botocore messages name the operation and error code; never credentials.
                msg = f"the S3 document store failed: {exc}; check the TIMELINE_S3_* settings"
                raise StorageUnavailableError(msg[:500]) from exc
            raise

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    async def write(
        self, tenant_id: str, chunks: AsyncIterator[bytes], *, max_bytes: int
    ) -> StoredBlob:
        """Store ``chunks`` under its content key (see :meth:`BlobStore.write`).

        Raises:
            DocumentTooLargeError: the stream is longer than ``max_bytes``.
            StorageUnavailableError: S3 refused or failed.
        """
        hasher = Hasher(max_bytes)
        buffer = bytearray()
        upload: _Multipart | None = None
        try:
            async for chunk in chunks:
                hasher.update(chunk)
                buffer += chunk
                if len(buffer) >= self.part_bytes:
                    upload = upload or await self._begin()
                    await self._part(upload, bytes(buffer))
                    buffer.clear()
            sha256 = hasher.hexdigest()
            key = blob_key(tenant_id, sha256)
            if upload is None:
                created = await self._put_small(key, bytes(buffer))
            else:
                if buffer or not upload.parts:
                    await self._part(upload, bytes(buffer))
                buffer.clear()
                created = await self._complete_and_copy(upload, key)
        except BaseException:
            if upload is not None:
                with anyio.CancelScope(shield=True):
                    await self._discard(upload)
            raise
        return StoredBlob(key=key, sha256=sha256, size=hasher.size, created=created)

    async def _begin(self) -> _Multipart:
        temp = self._key(f".incoming/{uuid.uuid4().hex}")
        answer = await self._call(
            self.client.create_multipart_upload, Bucket=self.bucket, Key=temp, **self._extra
        )
        return _Multipart(temp, answer["UploadId"])

    async def _part(self, upload: _Multipart, data: bytes) -> None:
        number = len(upload.parts) + 1
        answer = await self._call(
            self.client.upload_part,
            Bucket=self.bucket,
            Key=upload.key,
            UploadId=upload.upload_id,
            PartNumber=number,
            Body=data,
        )
        upload.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    async def _put_small(self, key: str, data: bytes) -> bool:
        if await self.exists(key):
            return False
        await self._call(
            self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data, **self._extra
        )
        return True

    async def _complete_and_copy(self, upload: _Multipart, key: str) -> bool:
        await self._call(
            self.client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=upload.key,
            UploadId=upload.upload_id,
            MultipartUpload={"Parts": upload.parts},
        )
        upload.completed = True
        created = not await self.exists(key)
        if created:
            await self._call(
                self.client.copy,
                {"Bucket": self.bucket, "Key": upload.key},
                self.bucket,
                self._key(key),
                ExtraArgs=self._extra or None,
            )
        await self._call(self.client.delete_object, Bucket=self.bucket, Key=upload.key)
        return created

    async def _discard(self, upload: _Multipart) -> None:
        try:
            if upload.completed:
                await self._call(self.client.delete_object, Bucket=self.bucket, Key=upload.key)
            else:
                await self._call(
                    self.client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=upload.key,
                    UploadId=upload.upload_id,
                )
        except (StorageUnavailableError, FileNotFoundError):
            # The lifecycle rule for incomplete uploads is the backstop; the upload's own
            # error is the one the caller needs to see.
            pass

    async def read(self, key: str) -> AsyncIterator[bytes]:
        """The content at ``key`` in chunks (see :meth:`BlobStore.read`).

        Raises:
            FileNotFoundError: nothing is stored at ``key``.
            StorageUnavailableError: S3 refused or failed.
        """
        answer = await self._call(self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        body = answer["Body"]
        try:
            while chunk := await self._call(body.read, CHUNK_BYTES):
                yield chunk
        finally:
            body.close()

    async def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""
        try:
            await self._call(self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        except FileNotFoundError:
            return False
        return True

    async def delete(self, key: str) -> None:
        """Remove the object at ``key`` (S3 answers the same whether or not there was one)."""
        await self._call(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))
