"""Retry policies over stamina, and the HTTP retry rules of corekit.

:class:`RetryPolicy` holds stamina's parameters (attempts, total timeout, exponential backoff
with jitter) plus HTTP knobs. :meth:`RetryPolicy.retrying` decorates ordinary functions via
:func:`stamina.retry`; :class:`corekit.http.Client` applies the same policy to every request.

Idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or ``idempotent=True``) are
retried on transport errors and on 408, 425, 429, 500, 502, 503 and 504. Other requests are
retried only where they provably never reached the server (connect errors) or were explicitly
refused before processing (429). 400, 401, 403, 404 and 422 are never retried.
"""

from __future__ import annotations

from corekit._retry import (
    DEFAULT_RETRY_STATUSES,
    IDEMPOTENT_METHODS,
    RetryPolicy,
    http_retry_hook,
    is_idempotent,
    is_retryable,
    parse_retry_after,
)

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "IDEMPOTENT_METHODS",
    "RetryPolicy",
    "http_retry_hook",
    "is_idempotent",
    "is_retryable",
    "parse_retry_after",
]
