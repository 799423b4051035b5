"""Run blocking work (network, disk, SQLite) off the GUI thread.

PySide6-Essentials does not ship QtAsyncio, and qasync would add a second event loop to
reason about, so the client uses a small thread pool instead: a call runs on a worker thread
and its result (or error) comes back through a queued Qt signal, so every callback runs on the
GUI thread. That is the fix for the upstream ``AsyncTaskRunner``, whose plain callbacks ran on
its loop thread and touched widgets from there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

__all__ = ["TaskRunner"]

_log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a worker hands back: the callback to run and its argument."""

    callback: Callable[[Any], None]
    value: Any


class TaskRunner(QObject):
    """A pool of worker threads whose results are delivered on the GUI thread.

    Args:
        parent: the owning Qt object.
        max_workers: worker threads; a few are enough for a station's loopback calls.

    Signals:
        failed(str): a task raised and had no ``on_error``; the text is the error message.
        busy_changed(int): the number of tasks submitted and not yet delivered.
    """

    failed = Signal(str)
    busy_changed = Signal(int)
    _delivered = Signal(object)

    def __init__(self, parent: QObject | None = None, *, max_workers: int = 4) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="pywats-gui")
        self._pending = 0
        self._closed = False
        # The receiver (self) lives on the GUI thread, so emits from workers are queued.
        self._delivered.connect(self._deliver)

    @property
    def pending(self) -> int:
        """Tasks submitted whose callbacks have not run yet."""
        return self._pending

    def submit(
        self,
        work: Callable[[], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future[T]:
        """Run ``work`` on a worker thread; call ``on_done`` or ``on_error`` on the GUI thread.

        Args:
            work: the blocking call.
            on_done: receives the result.
            on_error: receives the exception; without it the error is logged and
                :attr:`failed` is emitted with its message.

        Returns:
            The future of the call (for tests and cancellation).
        """
        self._pending += 1
        self.busy_changed.emit(self._pending)
        future = self._pool.submit(work)
        future.add_done_callback(lambda f: self._finish(f, on_done, on_error))
        return future

    def _finish(
        self,
        future: Future[T],
        on_done: Callable[[T], None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        # Runs on the worker thread: only emit, never touch widgets here.
        if self._closed:
            return
        error = None if future.cancelled() else future.exception()
        if future.cancelled():
            outcome = _Outcome(_ignore, None)
        elif error is not None:
            outcome = _Outcome(on_error or self._report, error)
        else:
            outcome = _Outcome(on_done or _ignore, future.result())
        try:
            self._delivered.emit(outcome)
        except RuntimeError:  # pragma: no cover - the runner was deleted while closing
            _log.debug("task finished after the runner was deleted")

    @Slot(object)
    def _deliver(self, outcome: _Outcome) -> None:
        self._pending -= 1
        self.busy_changed.emit(self._pending)
        if self._closed:
            return
        outcome.callback(outcome.value)

    def _report(self, error: BaseException) -> None:
        _log.warning("background task failed: %s", error)
        self.failed.emit(str(error) or type(error).__name__)

    def close(self) -> None:
        """Stop accepting results and cancel tasks that have not started."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def on_gui_thread() -> bool:
        """Whether the caller runs on the main (GUI) thread."""
        return threading.current_thread() is threading.main_thread()


def _ignore(_value: object) -> None:
    """The callback for results nobody asked for."""
