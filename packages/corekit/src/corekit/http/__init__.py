"""HTTP for every client in the workspace: one pipeline, a sync and an async face.

:class:`Client` and :class:`AsyncClient` wrap httpx2 and share one request pipeline: request
ids, rate limiting, circuit breaking, retries per :class:`~corekit.retry.RetryPolicy`
(``Retry-After`` honoured, waits on an injectable clock), a response-size limit, and errors
from :mod:`corekit.errors` with secrets redacted. :class:`Request`, :class:`Response`,
:class:`Timeout` and :class:`Limits` are httpx2's, re-exported so products never import httpx2
themselves.

Authentication plugs in through ``auth=``: :class:`OAuth2Auth` (password and client-credentials
grants on Authlib) and :class:`TokenAuth` (any login callable returning a :class:`Token`). Both
fetch lazily, refresh before expiry one at a time across threads and tasks, and re-authenticate
once on a 401.

Example::

    from corekit.http import Client

    with Client("https://api.example.com", timeout=10.0) as client:
        items = client.get("/items", params={"page": 1}).json()
"""

from __future__ import annotations

import typing as _typing

from httpx2 import Limits, Request, Response, Timeout

from corekit.http._base import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    RequestOptions,
)
from corekit.http._client import AsyncClient, Client
from corekit.http._token import Token, TokenAuth
from corekit.lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from corekit.http._oauth2 import OAuth2Auth

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "Client",
    "Limits",
    "OAuth2Auth",
    "Request",
    "RequestOptions",
    "Response",
    "Timeout",
    "Token",
    "TokenAuth",
]


# OAuth2Auth (and Authlib under it) loads on first use: a client without OAuth2 starts without it.
__getattr__, __dir__ = _lazy_exports(__name__, {"OAuth2Auth": "corekit.http._oauth2"}, __all__)
