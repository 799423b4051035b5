"""Errors raised by pywats.

Every error pywats raises derives from :class:`WATSError`, which is a
:class:`corekit.errors.CorekitError`, so one ``except CorekitError`` catches failures from
any package in the workspace.
"""

from __future__ import annotations

__all__ = ["WATSError"]

from corekit.errors import CorekitError


class WATSError(CorekitError):
    """Root of every error raised by pywats."""
