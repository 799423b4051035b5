"""HTTP for every client in the workspace: one pipeline, a sync and an async face.

:class:`Client` and :class:`AsyncClient` wrap httpx2 and share one request pipeline: request
ids, rate limiting, circuit breaking, retries per :class:`~corekit.retry.RetryPolicy`
(``Retry-After`` honoured, waits on an injectable clock), a response-size limit, and errors
from :mod:`corekit.errors` with secrets redacted. :class:`Request`, :class:`Response` and
:class:`Timeout` are httpx2's, re-exported so products never import httpx2 themselves.

Example::

    from corekit.http import Client

    with Client("https://api.example.com", timeout=10.0) as client:
        items = client.get("/items", params={"page": 1}).json()
"""

from __future__ import annotations

from httpx2 import Request, Response, Timeout

from corekit.http._client import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    AsyncClient,
    Client,
    RequestOptions,
)

# auth flows: exported by the lead

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "Client",
    "Request",
    "RequestOptions",
    "Response",
    "Timeout",
]
