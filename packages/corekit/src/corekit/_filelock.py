"""A cross-process exclusive lock on a lock file: ``fcntl.flock``, or ``msvcrt.locking``.

Hand-written rather than built on ``filelock`` (tox-dev), the maintained library: its waits run
on real time with no injectable clock (tests would sleep), its async lock hands each attempt
to a thread pool, and it raises its own ``Timeout`` outside corekit's error tree. What corekit
needs is one non-blocking lock attempt plus a polling loop driven by a
:class:`~corekit.clock.Clock`, the same loop for threads and event loops.

The operating system drops the lock when the holder's file descriptor closes, including when
the process dies, so a crashed holder never leaves a stale lock behind.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Self

from corekit import errors
from corekit.clock import Clock, system_clock
from corekit.errors import ConfigurationError

StrPath = str | os.PathLike[str]

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        # Lock the first byte; locking past the end of the file is allowed on Windows.
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _lock_blocking(_fd: int) -> bool:
        # LK_LOCK gives up after about ten seconds: poll instead.
        return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _lock_blocking(fd: int) -> bool:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _is_seconds(value: object, *, zero_ok: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value >= 0 if zero_ok else value > 0


class FileLock:
    """An exclusive lock shared by processes (and threads) through a lock file.

    ``with lock:`` or ``async with lock:`` holds it for the block; :meth:`acquire` and
    :meth:`release` do the same by hand. The lock file is created if missing and never deleted:
    deleting it would let a waiter lock the old file while a newcomer locks a new one.

    One object is one holder. The lock is not re-entrant: acquiring it again through the same
    object while held raises :class:`~corekit.errors.ConfigurationError` rather than
    deadlocking. Threads or tasks that must exclude each other each create their own
    ``FileLock`` on the same path; the operating system arbitrates between them as between
    processes.

    ``flock`` locks are advisory (only code that takes the lock is excluded) and may not work
    on network file systems; keep the lock file on a local disk.

    Args:
        path: the lock file.
        timeout: seconds to wait for the lock; ``None`` waits forever, ``0`` tries once.
        poll_interval: seconds between attempts while waiting.
        clock: time source for the deadline and the sleeps between attempts.

    Raises:
        ConfigurationError: a negative ``timeout`` or a ``poll_interval`` that is not positive.
    """

    def __init__(
        self,
        path: StrPath,
        *,
        timeout: float | None = None,
        poll_interval: float = 0.05,
        clock: Clock = system_clock,
    ) -> None:
        if timeout is not None and not _is_seconds(timeout, zero_ok=True):
            msg = f"FileLock timeout must be None or a number of seconds >= 0, got {timeout!r}"
            raise ConfigurationError(msg)
        if not _is_seconds(poll_interval, zero_ok=False) or poll_interval == math.inf:
            msg = f"FileLock poll_interval must be a number of seconds > 0, got {poll_interval!r}"
            raise ConfigurationError(msg)
        self.path = os.fspath(path)
        self.timeout = timeout
        self.poll_interval = float(poll_interval)
        self._clock = clock
        self._fd: int | None = None
        # Guards _busy (acquiring or held) only; never held while waiting for the file lock.
        self._state_lock = threading.Lock()
        self._busy = False

    def __repr__(self) -> str:
        return f"FileLock({self.path!r}, timeout={self.timeout!r}, locked={self.locked})"

    @property
    def locked(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _begin(self) -> int:
        with self._state_lock:
            if self._busy:
                msg = (
                    f"FileLock({self.path!r}) is already held or being acquired through this "
                    "object; it is not re-entrant: create one FileLock per holder"
                )
                raise ConfigurationError(msg)
            self._busy = True
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except BaseException:
            with self._state_lock:
                self._busy = False
            raise

    def _abandon(self, fd: int) -> None:
        os.close(fd)
        with self._state_lock:
            self._busy = False

    def _waits(self, fd: int) -> Iterator[float]:
        """Try to lock ``fd`` until it works, yielding how long to sleep between attempts.

        The sync and the async face drive this one loop with their own sleep.

        Raises:
            LockTimeoutError: the deadline passed.
        """
        deadline = None if self.timeout is None else self._clock.monotonic() + self.timeout
        while not _try_lock(fd):
            delay = self.poll_interval
            if deadline is not None:
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    msg = (
                        f"could not lock {self.path!r} within timeout={self.timeout} s: another "
                        "process or FileLock holds it; raise the timeout or find the holder"
                    )
                    raise errors.LockTimeoutError(
                        msg, path=str(self.path), timeout=self.timeout or 0.0
                    )
                delay = min(delay, remaining)
            yield delay

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout`` seconds.

        Raises:
            LockTimeoutError: the lock stayed taken for ``timeout`` seconds (also a builtin
                :class:`TimeoutError`).
            ConfigurationError: this object already holds the lock.
        """
        fd = self._begin()
        try:
            if self.timeout is None and _lock_blocking(fd):
                pass
            else:
                for delay in self._waits(fd):
                    self._clock.sleep(delay)
        except BaseException:
            self._abandon(fd)
            raise
        self._fd = fd

    async def aacquire(self) -> None:
        """Take the lock without blocking the event loop, polling up to ``timeout`` seconds.

        Raises:
            LockTimeoutError: the lock stayed taken for ``timeout`` seconds (also a builtin
                :class:`TimeoutError`).
            ConfigurationError: this object already holds the lock.
        """
        fd = self._begin()
        try:
            for delay in self._waits(fd):
                await self._clock.asleep(delay)
        except BaseException:
            self._abandon(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Release the lock; the lock file stays.

        Raises:
            ConfigurationError: this object does not hold the lock.
        """
        with self._state_lock:
            fd = self._fd
            if fd is None:
                msg = f"FileLock({self.path!r}) is not held by this object; nothing to release"
                raise ConfigurationError(msg)
            self._fd = None
            try:
                _unlock(fd)
            finally:
                os.close(fd)
                self._busy = False

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    async def __aenter__(self) -> Self:
        await self.aacquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
