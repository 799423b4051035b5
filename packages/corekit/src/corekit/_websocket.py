"""WebSocket connections over an AsyncClient: the implementation behind :mod:`corekit.websocket`."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio

from corekit.errors import ConfigurationError, ConnectError, TimeoutError, TransportError
from corekit.http import AsyncClient

if TYPE_CHECKING:
    from httpx2._types import HeaderTypes, QueryParamTypes

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "AsyncWebSocket", "WebSocketClosed", "aconnect"]

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
"""Largest message received by default (1 MiB); a larger one closes the connection."""


class WebSocketClosed(TransportError):
    """The WebSocket was closed (by either side) or broke while in use.

    Attributes:
        code: the close code, if the peer sent one (1000 is a normal close).
        reason: the close reason, if any.
    """

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class AsyncWebSocket:
    """An open WebSocket (from :func:`aconnect`): send and receive text messages."""

    def __init__(self, session: Any, url: str) -> None:
        self._session = session
        self.url = url

    async def send_text(self, data: str) -> None:
        """Send one text message.

        Raises:
            WebSocketClosed: the connection is closed or broken.
        """
        try:
            await self._session.send_text(data)
        except _failures() as exc:
            raise _closed(self.url, exc) from exc

    async def receive_text(self, timeout: float | None = None) -> str:  # noqa: ASYNC109
        """Return the next text message, waiting at most ``timeout`` seconds (``None``: forever).

        Raises:
            TimeoutError: nothing arrived within ``timeout``.
            WebSocketClosed: the connection was closed or broke.
        """
        try:
            text: str = await self._session.receive_text(timeout=timeout)
        except builtins.TimeoutError as exc:  # anyio.fail_after inside httpx2
            msg = f"no WebSocket message from {self.url} within {timeout} s"
            raise TimeoutError(msg, url=self.url) from exc
        except _failures() as exc:
            raise _closed(self.url, exc) from exc
        return text

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (idempotent; errors while closing are ignored)."""
        with contextlib.suppress(Exception):
            await self._session.close(code, reason)

    def __repr__(self) -> str:
        return f"AsyncWebSocket(url={self.url!r})"


@contextlib.asynccontextmanager
async def aconnect(
    client: AsyncClient,
    url: str,
    *,
    params: QueryParamTypes | None = None,
    headers: HeaderTypes | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    keepalive_interval: float | None = None,
) -> AsyncIterator[AsyncWebSocket]:
    """Open a WebSocket to ``url`` (``http(s)://`` or a path on the client's base URL).

    The upgrade request goes straight to the connection, without the client's retry, rate
    limit or auth flow: pass credentials in ``params`` or ``headers``.

    Args:
        client: the client whose connection settings to use.
        url: the WebSocket endpoint.
        params: query parameters of the upgrade request.
        headers: headers of the upgrade request.
        max_message_bytes: largest message accepted.
        keepalive_interval: seconds between WebSocket pings; ``None`` sends none (protocols
            with their own keep-alive, such as SignalR, do not need them).

    Yields:
        The open connection; it is closed when the block exits.

    Raises:
        ConfigurationError: the ``corekit[websockets]`` extra is not installed.
        ConnectError: no connection could be made.
        HTTPStatusError: the server refused the upgrade (a subclass per status).
    """
    try:
        from httpx2.websockets import AsyncWebSocketClient, WebSocketUpgradeError
    except ImportError as exc:  # pragma: no cover - the extra is installed in the test venvs
        msg = "WebSockets need the corekit[websockets] extra (wsproto): install it"
        raise ConfigurationError(msg) from exc
    import httpx2

    from corekit.http._errors import status_error

    ws_client = AsyncWebSocketClient(
        client._http,
        max_message_size_bytes=max_message_bytes,
        keepalive_ping_interval_seconds=keepalive_interval,
        keepalive_ping_timeout_seconds=keepalive_interval,
    )
    shown = str(client._http.base_url.join(url).copy_with(query=None))
    opened = False
    try:
        async with ws_client.connect(url, params=params, headers=headers, auth=None) as session:
            opened = True
            yield AsyncWebSocket(session, shown)
    except WebSocketUpgradeError as exc:
        if opened:
            raise
        # The refused response's stream is already closed: keep its status and headers.
        refused = httpx2.Response(
            exc.response.status_code, headers=exc.response.headers, request=exc.response.request
        )
        raise status_error(
            refused, redactor=client._redactor, request_id=None, attempts=1, now=0.0
        ) from None
    except (httpx2.ConnectError, httpx2.ConnectTimeout, OSError) as exc:
        if opened:
            raise
        msg = f"could not open a WebSocket to {shown}: {exc}"
        raise ConnectError(msg, method="GET", url=shown) from exc
    except httpx2.HTTPError as exc:
        if opened:
            raise
        msg = f"WebSocket upgrade to {shown} failed: {exc}"
        raise TransportError(msg, method="GET", url=shown) from exc


def _failures() -> tuple[type[BaseException], ...]:
    from httpx2.websockets import HTTPXWSException
    from wsproto.utilities import LocalProtocolError  # sending after the peer closed

    return (
        HTTPXWSException,
        LocalProtocolError,
        OSError,
        anyio.BrokenResourceError,
        anyio.ClosedResourceError,
    )


def _closed(url: str, exc: BaseException) -> WebSocketClosed:
    code = getattr(exc, "code", None)
    reason = getattr(exc, "reason", "") or ""
    detail = f" (code {code}{', ' + reason if reason else ''})" if code is not None else ""
    return WebSocketClosed(
        f"the WebSocket to {url} is closed{detail}: {type(exc).__name__}",
        code=code if isinstance(code, int) else None,
        reason=str(reason),
    )
