"""The local-filesystem document store.

Layout under the root: ``tenants/<tenant_id>/sha256/<ab>/<hex>`` for content (files 0640,
directories 0750) and ``.incoming/`` for uploads in progress. An upload is written to a temp
file in ``.incoming`` (same file system), fsync'd, and moved to its content key with
:func:`corekit.files.durable_move` (rename plus fsync of both directories), so a crash leaves
either no content or the whole content, never part of it. Every path is checked to resolve
inside the root before it is used.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

from corekit.errors import ConfigurationError
from corekit.files import durable_move
from timeline.documents._storage import (
    CHUNK_BYTES,
    Hasher,
    StorageUnavailableError,
    StoredBlob,
    blob_key,
)

__all__ = ["LocalBlobStore"]

FILE_MODE = 0o640
DIR_MODE = 0o750
INCOMING = ".incoming"


class LocalBlobStore:
    """Content-addressed blobs in a directory.

    Args:
        root: the store's directory (created at start-up, 0750).
    """

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    async def start(self) -> None:
        """Create the root and the incoming directory.

        Raises:
            ConfigurationError: the directory cannot be created.
        """
        try:
            await anyio.to_thread.run_sync(self._make_dirs, self.root / INCOMING)
        except OSError as exc:
            msg = (
                f"the document store {self.root} cannot be created ({exc.strerror or exc}); "
                "set TIMELINE_STORAGE_ROOT to a writable directory"
            )
            raise ConfigurationError(msg) from exc

    async def stop(self) -> None:
        """Nothing to release."""

    def path_of(self, key: str) -> Path:
        """The file of ``key``, checked to stay inside the root.

        Raises:
            StorageUnavailableError: the key resolves outside the root (a symlink planted in
                the store, or a key the service did not make).
        """
        root = self.root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root) or path == root:
            msg = "a document path resolves outside TIMELINE_STORAGE_ROOT; check the store"
            raise StorageUnavailableError(msg)
        return path

    def _make_dirs(self, directory: Path) -> None:
        missing = []
        current = directory
        while not current.exists():
            missing.append(current)
            current = current.parent
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):
                path.mkdir(mode=DIR_MODE)
            os.chmod(path, DIR_MODE)  # mkdir's mode is reduced by the umask

    def _open_temp(self) -> tuple[Path, BinaryIO]:
        incoming = self.root / INCOMING
        self._make_dirs(incoming)
        temp = self.path_of(f"{INCOMING}/{uuid.uuid4().hex}.part")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        return temp, os.fdopen(fd, "wb")

    @staticmethod
    def _finish_temp(handle: BinaryIO) -> None:
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()

    def _place(self, temp: Path, key: str) -> bool:
        target = self.path_of(key)
        self._make_dirs(target.parent)
        created = not target.exists()
        # Same key, same content: replacing an existing copy changes nothing but is atomic.
        durable_move(temp, target)
        return created

    async def write(
        self, tenant_id: str, chunks: AsyncIterator[bytes], *, max_bytes: int
    ) -> StoredBlob:
        """Store ``chunks`` under its content key (see :meth:`BlobStore.write`).

        Raises:
            DocumentTooLargeError: the stream is longer than ``max_bytes``.
            StorageUnavailableError: the file system failed.
        """
        hasher = Hasher(max_bytes)
        try:
            temp, handle = await anyio.to_thread.run_sync(self._open_temp)
        except OSError as exc:
            raise _unavailable(exc) from exc
        try:
            async for chunk in chunks:
                hasher.update(chunk)
                await anyio.to_thread.run_sync(handle.write, chunk)
            await anyio.to_thread.run_sync(self._finish_temp, handle)
            sha256 = hasher.hexdigest()
            key = blob_key(tenant_id, sha256)
            created = await anyio.to_thread.run_sync(self._place, temp, key)
        except OSError as exc:
            raise _unavailable(exc) from exc
        finally:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return StoredBlob(key=key, sha256=sha256, size=hasher.size, created=created)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        """The content at ``key`` in chunks (see :meth:`BlobStore.read`).

        Raises:
            FileNotFoundError: nothing is stored at ``key``.
        """
        path = self.path_of(key)
        handle = await anyio.to_thread.run_sync(path.open, "rb")
        try:
            while chunk := await anyio.to_thread.run_sync(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def exists(self, key: str) -> bool:
        """Whether a file is stored at ``key``."""
        return await anyio.to_thread.run_sync(self.path_of(key).is_file)

    async def delete(self, key: str) -> None:
        """Remove the file at ``key`` if there is one."""
        await anyio.to_thread.run_sync(lambda: self.path_of(key).unlink(missing_ok=True))


def _unavailable(exc: OSError) -> StorageUnavailableError:
    # The OS error names a path and a reason; neither is secret, both help the operator.
    msg = f"the document store failed ({exc.strerror or exc}); check TIMELINE_STORAGE_ROOT"
    return StorageUnavailableError(msg)
