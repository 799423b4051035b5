"""Errors of the station service: one root under :class:`pywats.PyWATSError`."""

from __future__ import annotations

from pywats.errors import PyWATSError


class StationError(PyWATSError):
    """The station could not do its work (the queue file, a folder, the disk)."""


class QueueFullError(StationError):
    """The report queue is at capacity; nothing was stored (the source file stays put)."""


class ConversionError(StationError):
    """A file could not be converted into reports.

    Attributes:
        reason: why, in words for the ``<file>.error.txt`` reason file and the logs.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(StationError):
    """The station's configuration is wrong: the message names the setting and the fix."""
