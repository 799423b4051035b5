"""The progress bar of a long fetch: tqdm on stderr when asked for, else nothing at all.

tqdm is imported only when a bar is shown: a fetch without one (the default) should not pay
for the import (a few hundred milliseconds without cached bytecode) inside its own run time.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol


class ProgressBar(Protocol):
    """What a fetch needs of a bar: count finished batches, then close."""

    def update(self, n: int = 1) -> Any:
        """Count ``n`` more finished batches."""

    def close(self) -> None:
        """Remove the bar."""


class _NoBar:
    """A bar that shows nothing."""

    def update(self, n: int = 1) -> None:
        """Ignore the progress."""

    def close(self) -> None:
        """Nothing to remove."""


def progress_bar(total: int, enabled: bool) -> ProgressBar:
    """A bar over ``total`` batches on stderr if ``enabled``, else one that shows nothing.

    Args:
        total: the number of batches of the fetch.
        enabled: draw the bar (``show_progress``).

    Returns:
        An object with ``update(n)`` and ``close()``.
    """
    if not enabled:
        return _NoBar()
    from tqdm import tqdm  # type: ignore[import-untyped]

    bar: ProgressBar = tqdm(total=total, file=sys.stderr, unit="batch", desc="pym2v", leave=False)
    return bar
