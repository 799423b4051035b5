"""Files that survive crashes and processes that share them.

* :func:`atomic_write` / :func:`atomic_writer`: replace a file all at once (temp file in the
  same directory, fsync, rename, fsync of the directory). Readers and crashes only ever see
  the old or the new content.
* :class:`FileLock`: an exclusive lock shared across processes through a lock file, with a
  timeout and a sync and an async face.

Both are hand-written on the standard library; the module docstrings of
:mod:`corekit._atomic` and :mod:`corekit._filelock` say why.

Example::

    from corekit.files import FileLock, atomic_write

    with FileLock("state.json.lock", timeout=10):
        atomic_write("state.json", json.dumps(state))
"""

from __future__ import annotations

from corekit._atomic import atomic_write, atomic_writer
from corekit._filelock import FileLock

__all__ = ["FileLock", "atomic_write", "atomic_writer"]
