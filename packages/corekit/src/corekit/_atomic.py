"""Atomic file replacement, and file moves that survive a crash.

Replacement: temp file in the same directory, fsync, rename, fsync the directory. Moves:
rename, then fsync of both directories (a durable copy first across file systems).

Hand-written on the standard library: the recipe is a dozen calls, and ``atomicwrites``, the
library that packaged it, is archived by its author.

Readers of the target see either the old content or the new one, never a mix, and after a
crash (or a power loss, once the call returned) the file holds one complete version. A crash
can leave a temp file behind: the target's name (its first 40 characters) with a dot in
front, a random part and ``.tmp`` (``.name.<random>.tmp``), so it is hidden and cannot be
mistaken for the real file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

from corekit.errors import ConfigurationError

StrPath = str | os.PathLike[str]

_TEMP_SUFFIX = ".tmp"
_TEMP_NAME_CHARS = 40
"""The temp name keeps this much of the target's name: a target name near the file system's
limit (255 bytes) would otherwise make the temp name too long to create. 40 characters of up to
4 bytes each, plus the dots, random part and suffix, stay far below the limit."""


def _temp_prefix(target: str) -> str:
    return f".{os.path.basename(target)[:_TEMP_NAME_CHARS]}."


def _umask() -> int:
    # Linux shows the umask in /proc, which is the only way to read it without changing it:
    # os.umask() sets a new value, and for that instant other threads would create files
    # with the wrong permissions.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _permissions(target: str, mode: int | None) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        pass
    if mode is not None:
        return mode
    return 0o666 & ~_umask()


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable. Windows has no O_DIRECTORY and cannot open a
    # directory as a file; NTFS journals the rename, so there is nothing to do there.
    flag = getattr(os, "O_DIRECTORY", None)
    if flag is None:
        return
    fd = os.open(directory, os.O_RDONLY | flag)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_mode(mode: object) -> None:
    if mode is not None and (
        isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777
    ):
        msg = f"mode must be None or permission bits from 0 to 0o7777, got {mode!r}"
        raise ConfigurationError(msg)


class _Temp:
    """The open temp file behind one atomic replacement."""

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)


@contextlib.contextmanager
def _replacing(path: StrPath, mode: int | None) -> Iterator[int]:
    """Yield the descriptor of a temp file that replaces ``path`` when the block ends cleanly.

    The block writes through the descriptor (without closing it); this function makes the data
    durable, closes the file (Windows cannot rename an open file), renames it over the target
    and makes the rename durable.
    """
    _check_mode(mode)
    # Write through a symlink to the file it names, so a link stays a link.
    target = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target)
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=_TEMP_SUFFIX, dir=directory)
    temp = _Temp(fd, name)
    try:
        # mkstemp creates 0o600; give the new file the permissions the old one had.
        os.chmod(name, _permissions(target, mode))
        yield fd
        os.fsync(fd)
        temp.close()
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    _fsync_directory(directory)


def durable_move(source: StrPath, target: StrPath) -> Path:
    """Move (rename) ``source`` to ``target`` so that the move survives a crash.

    Like :func:`os.replace` (an existing ``target`` is replaced), followed by an fsync of
    the target's and the source's directories, so after the call returns a power loss
    cannot bring the file back to its old place or lose it. When the two are on different
    file systems, the file is copied to a hidden temp name beside ``target``, fsync'd and
    renamed into place, and only then is ``source`` removed: at every moment one complete
    copy exists.

    Args:
        source: the file to move.
        target: its new path (not a directory to move it into).

    Returns:
        ``target`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the move failed; ``source`` is still where it was (a partly written copy
            on another file system is removed).
    """
    source_name, target_name = os.fspath(source), os.fspath(target)
    try:
        os.replace(source_name, target_name)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _copy_across(source_name, target_name)
    _fsync_directory(os.path.dirname(os.path.abspath(target_name)))
    _fsync_directory(os.path.dirname(os.path.abspath(source_name)))
    return Path(target_name)


def _copy_across(source: str, target: str) -> None:
    """Copy ``source`` durably to ``target`` on another file system, then remove it."""
    temp = os.path.join(
        os.path.dirname(os.path.abspath(target)),
        f"{_temp_prefix(target)}{uuid.uuid4().hex}{_TEMP_SUFFIX}",
    )
    try:
        with open(source, "rb") as src, open(temp, "xb") as dst:
            shutil.copyfileobj(src, dst)
            dst.flush()
            os.fsync(dst.fileno())
        shutil.copystat(source, temp)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_directory(os.path.dirname(os.path.abspath(target)))
    os.unlink(source)


def atomic_write(
    path: StrPath, data: bytes | str, *, encoding: str = "utf-8", mode: int | None = None
) -> None:
    """Replace the file at ``path`` with ``data``, all at once.

    ``data`` as ``str`` is encoded with ``encoding`` and written without newline translation.
    If ``path`` exists, the new file keeps its permission bits; otherwise it gets ``mode``, or
    ``0o666`` minus the umask. If ``path`` is a symlink, the file it points to is replaced.

    On any error the target is untouched and the temp file removed.

    Raises:
        ConfigurationError: ``mode`` is not a permission value, or ``data`` is neither bytes
            nor str.
        OSError: the file could not be written (missing directory, no space, no permission).
    """
    given: object = data  # checked at run time: bytes(7) would write seven zero bytes
    if isinstance(given, str):
        payload: bytes | bytearray | memoryview = given.encode(encoding)
    elif isinstance(given, bytes | bytearray | memoryview):
        payload = given
    else:
        msg = f"data must be bytes or str, got {type(given).__name__}"
        raise ConfigurationError(msg)
    with _replacing(path, mode) as fd, open(fd, "wb", closefd=False) as file:
        file.write(payload)


@overload
def atomic_writer(
    path: StrPath,
    *,
    binary: Literal[False] = ...,
    encoding: str = ...,
    mode: int | None = ...,
) -> contextlib.AbstractContextManager[IO[str]]: ...


@overload
def atomic_writer(
    path: StrPath, *, binary: Literal[True], encoding: str = ..., mode: int | None = ...
) -> contextlib.AbstractContextManager[IO[bytes]]: ...


@overload
def atomic_writer(
    path: StrPath, *, binary: bool, encoding: str = ..., mode: int | None = ...
) -> contextlib.AbstractContextManager[IO[str]] | contextlib.AbstractContextManager[IO[bytes]]: ...


def atomic_writer(
    path: StrPath, *, binary: bool = False, encoding: str = "utf-8", mode: int | None = None
) -> contextlib.AbstractContextManager[IO[str]] | contextlib.AbstractContextManager[IO[bytes]]:
    """Open a temp file that atomically replaces ``path`` when the ``with`` block ends cleanly.

    Write to the yielded file object (text with ``encoding`` unless ``binary``). When the
    block raises, the temp file is removed and ``path`` keeps its old content. Permissions
    and symlinks are handled as in :func:`atomic_write`.

    Example::

        with atomic_writer("settings.json") as f:
            json.dump(settings, f)

    Raises:
        ConfigurationError: ``mode`` is not a permission value.
        OSError: the file could not be written.
    """
    return _writer(path, binary=binary, encoding=encoding, mode=mode)


@contextlib.contextmanager
def _writer(path: StrPath, *, binary: bool, encoding: str, mode: int | None) -> Iterator[IO[Any]]:
    with _replacing(path, mode) as fd:
        if binary:
            file: IO[Any] = open(fd, "wb", closefd=False)  # noqa: SIM115 - closed below
        else:
            file = open(fd, "w", encoding=encoding, closefd=False)  # noqa: SIM115
        with file:
            yield file
