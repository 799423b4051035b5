"""Files that survive crashes and processes that share them.

* :func:`atomic_write` / :func:`atomic_writer`: replace a file all at once (temp file in the
  same directory, fsync, rename, fsync of the directory). Readers and crashes only ever see
  the old or the new content.
* :func:`durable_move`: move a file so the move survives a crash (rename, then fsync of
  both directories; a durable copy first when the two are on different file systems).
* :class:`FileLock`: an exclusive lock shared across processes through a lock file, with a
  timeout and a sync and an async face.

All are hand-written on the standard library; the module docstrings of
:mod:`corekit._atomic` and :mod:`corekit._filelock` say why.

Example::

    from corekit.files import FileLock, atomic_write

    with FileLock("state.json.lock", timeout=10):
        atomic_write("state.json", json.dumps(state))
"""

from __future__ import annotations

from corekit._atomic import atomic_write, atomic_writer, durable_move
from corekit._filelock import FileLock

__all__ = ["FileLock", "atomic_write", "atomic_writer", "durable_move"]
