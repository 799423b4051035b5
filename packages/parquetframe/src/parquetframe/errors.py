"""Errors raised by parquetframe.

Every error parquetframe raises derives from :class:`ParquetFrameError`, which is a
:class:`corekit.errors.CorekitError`, so one ``except CorekitError`` catches failures from
any package in the workspace.
"""

from __future__ import annotations

__all__ = ["ParquetFrameError"]

from corekit.errors import CorekitError


class ParquetFrameError(CorekitError):
    """Root of every error raised by parquetframe."""
