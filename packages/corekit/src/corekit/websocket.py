"""WebSocket connections over an :class:`~corekit.http.AsyncClient`, with corekit errors.

Realtime clients (SignalR hubs and the like) need a WebSocket next to their REST calls. This
opens one through the same httpx2 client (its base URL, proxies, TLS settings and default
headers), using httpx2's WebSocket support (the ``corekit[websockets]`` extra, wsproto), and
maps its failures to :mod:`corekit.errors`, so products never import httpx2::

    from corekit.http import AsyncClient
    from corekit.websocket import aconnect

    async with AsyncClient("https://rtc.example.com") as client:
        async with aconnect(client, "/hubs/user", params={"access_token": jwt}) as ws:
            await ws.send_text("hello")
            reply = await ws.receive_text(timeout=10)

A refused upgrade raises the status error of its status (a 401 is an
:class:`~corekit.errors.AuthenticationError`); a connection that cannot be made raises
:class:`~corekit.errors.ConnectError`; a connection that drops or closes while in use raises
:class:`WebSocketClosed`, a :class:`~corekit.errors.TransportError`.
"""

from __future__ import annotations

from corekit._websocket import (
    DEFAULT_MAX_MESSAGE_BYTES,
    AsyncWebSocket,
    WebSocketClosed,
    aconnect,
)

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "AsyncWebSocket", "WebSocketClosed", "aconnect"]
