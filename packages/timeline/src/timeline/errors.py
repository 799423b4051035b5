"""Errors raised by timeline.

Every error timeline raises derives from :class:`TimelineError`, which is a
:class:`corekit.errors.CorekitError`, so one ``except CorekitError`` catches failures from
any package in the workspace. The service turns each :class:`ApiError` into an HTTP answer with
the body ``{"error": code, "message": text, "details": {...}}``.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ChainConflictError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "RateLimitError",
    "TimelineError",
    "UnauthorizedError",
    "ValidationFailedError",
]

from typing import Any, ClassVar

from corekit.errors import CorekitError


class TimelineError(CorekitError):
    """Root of every error raised by timeline."""


class ApiError(TimelineError):
    """An error with an HTTP status and a stable machine-readable code.

    Args:
        message: what went wrong and what to do about it.
        details: extra structured facts for the client (never secrets).
    """

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class UnauthorizedError(ApiError):
    """No valid credential: log in again or send a valid API key."""

    status_code = 401
    code = "UNAUTHORIZED"


class ForbiddenError(ApiError):
    """The credential is valid but lacks the permission the route needs."""

    status_code = 403
    code = "FORBIDDEN"


class NotFoundError(ApiError):
    """Nothing with that id exists in the caller's tenant."""

    status_code = 404
    code = "NOT_FOUND"


class ConflictError(ApiError):
    """The request clashes with existing data (a duplicate code, reference or name)."""

    status_code = 409
    code = "CONFLICT"


class ChainConflictError(ConflictError):
    """Concurrent appends to one subject kept colliding; nothing was written, retry."""

    code = "CHAIN_CONFLICT"


class ValidationFailedError(ApiError):
    """The request is well-formed but its content is not acceptable."""

    status_code = 422
    code = "VALIDATION_ERROR"


class RateLimitError(ApiError):
    """Too many requests; wait ``retry_after`` seconds."""

    status_code = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after
