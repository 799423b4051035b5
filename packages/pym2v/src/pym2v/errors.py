"""Errors raised by pym2v.

Every error pym2v raises derives from :class:`M2VError`, which is a
:class:`corekit.errors.CorekitError`, so one ``except CorekitError`` catches failures from
any package in the workspace.
"""

from __future__ import annotations

__all__ = ["M2VError"]

from corekit.errors import CorekitError


class M2VError(CorekitError):
    """Root of every error raised by pym2v."""
