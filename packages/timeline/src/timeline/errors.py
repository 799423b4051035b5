"""Errors raised by timeline.

Every error timeline raises derives from :class:`TimelineError`, which is a
:class:`corekit.errors.CorekitError`, so one ``except CorekitError`` catches failures from
any package in the workspace.
"""

from __future__ import annotations

__all__ = ["TimelineError"]

from corekit.errors import CorekitError


class TimelineError(CorekitError):
    """Root of every error raised by timeline."""
