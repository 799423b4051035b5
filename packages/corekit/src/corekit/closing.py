"""Context-manager plumbing for objects that hold resources until closed.

A class defines ``close()`` (or ``async aclose()``) and inherits the ``with`` support::

    class Pool(Closing):
        def close(self) -> None:
            self._sockets.close()


    with Pool() as pool:  # closed when the block ends, whatever happened in it
        ...
"""

from __future__ import annotations

__all__ = ["AsyncClosing", "Closing"]

import abc
from types import TracebackType
from typing import Self


class Closing(abc.ABC):
    """A context manager whose exit calls :meth:`close`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release what the object holds; calling it twice must be harmless."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClosing(abc.ABC):
    """An async context manager whose exit awaits :meth:`aclose`."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release what the object holds; calling it twice must be harmless."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
