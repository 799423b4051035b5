"""Errors raised by projectx.

Every error projectx raises derives from :class:`ProjectXError`, which is a
:class:`corekit.errors.CorekitError`, so one ``except CorekitError`` catches failures from
any package in the workspace.
"""

from __future__ import annotations

__all__ = ["ProjectXError"]

from corekit.errors import CorekitError


class ProjectXError(CorekitError):
    """Root of every error raised by projectx."""
