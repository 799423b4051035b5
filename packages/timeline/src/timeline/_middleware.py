"""ASGI middleware: request ids, security headers, body size limits and per-client rate limits.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so they add no task per request and can
refuse an oversized body while it streams in, whether or not it announced a Content-Length.
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corekit.errors import OperationError, RateLimitExceededError
from corekit.ratelimit import Limiter

logger = logging.getLogger(__name__)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# The interactive docs load their script and styles from a CDN; everything else gets nothing.
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
_DOCS_PATHS = ("/docs", "/redoc")


async def _send_error(send: Send, status: int, code: str, message: str, **extra: Any) -> None:
    body = json.dumps({"error": code, "message": message, "details": extra}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if "retry_after" in extra:
        headers.append((b"retry-after", str(math.ceil(extra["retry_after"])).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestIdMiddleware:
    """Echo a safe ``X-Request-ID`` or make one; log lines can include it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class SecurityHeadersMiddleware:
    """Add the headers a browser needs to treat API answers safely."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(_DOCS_PATHS)
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not docs:
                    headers += [
                        (b"content-security-policy", _API_CSP),
                        (b"cache-control", b"no-store"),
                    ]
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


_UPLOAD_PATH = re.compile(r"^/api/v1/(?:subjects/[^/]+/documents|documents/[^/]+/versions)/?$")
UPLOAD_ALLOWANCE = 64 * 1024
"""Bytes an upload body may carry beyond the document: multipart framing and form fields."""


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes with 413, announced or streamed.

    Document uploads (``POST`` to ``/api/v1/subjects/{id}/documents`` and
    ``/api/v1/documents/{id}/versions``) stream to storage instead of into memory, so they are
    limited by ``upload_limit`` (the service's ``max_document_bytes``) plus
    :data:`UPLOAD_ALLOWANCE`; the upload route itself holds the file to ``max_document_bytes``.

    Args:
        app: the application to guard.
        limit: the most bytes of any other request body.
        upload_limit: the largest document; ``None`` holds uploads to ``limit`` too.
    """

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    def _limit_for(self, scope: Scope) -> tuple[int, str]:
        if scope.get("method") == "POST" and _UPLOAD_PATH.match(scope["path"]):
            document = self.upload_limit
            if document is not None:
                return document + UPLOAD_ALLOWANCE, (
                    f"the upload is larger than {document} bytes, the most this service accepts "
                    "for a document; nothing was stored (the limit is "
                    "TIMELINE_MAX_DOCUMENT_BYTES)"
                )
        return self.limit, (
            f"the request body is larger than {self.limit} bytes; split it (batches of at most "
            "1000 events) or raise TIMELINE_MAX_REQUEST_BYTES"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, message = self._limit_for(scope)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_error(send, 413, "REQUEST_TOO_LARGE", message, limit=limit)
            return
        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            msg = await receive()
            if msg["type"] == "http.request" and not refused:
                received += len(msg.get("body", b""))
                if received > limit and not started:
                    # Answer now and tell the app the client left, so it stops reading; an
                    # exception here would be turned into a 400 by the body parser.
                    refused = True
                    await _send_error(send, 413, "REQUEST_TOO_LARGE", message, limit=limit)
                    return {"type": "http.disconnect"}
            return msg

        async def watched_send(msg: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        await self.app(scope, limited_receive, watched_send)


class ClientRateLimitMiddleware:
    """At most the configured requests per minute per client address (health checks exempt)."""

    def __init__(self, app: ASGIApp, limiter: Limiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http" or scope["path"].startswith("/health"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = client[0] if client else "unknown"
        try:
            await self.limiter.aacquire("client", key=key, timeout=0)
        except RateLimitExceededError as exc:
            await _send_error(
                send,
                429,
                "RATE_LIMITED",
                f"too many requests from this address; retry in {exc.retry_after:.1f} s",
                retry_after=exc.retry_after,
            )
            return
        except OperationError:
            # A shared limiter that is down must not take the service down with it.
            logger.warning("rate limiter unavailable; request let through", exc_info=True)
        await self.app(scope, receive, send)
