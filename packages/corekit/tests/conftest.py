from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest

from corekit.http import AsyncClient, Client
from corekit.testing import FakeClock

MOCK_BASE = "http://api.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class ClientFace:
    """Drive a Client or an AsyncClient through one awaitable API, so each test is written once.

    ``client(target)`` takes a base URL (a real server) or a handler (an in-process
    ``MockTransport`` at ``MOCK_BASE``); clients get a ``FakeClock`` unless told otherwise and
    are closed when the test ends. A test module may set ``DEFAULT_PATH`` for ``request``.
    """

    def __init__(self, kind: str, default_path: str) -> None:
        self.kind = kind
        self.default_path = default_path
        self.clients: list[Client | AsyncClient] = []

    def __repr__(self) -> str:
        return self.kind

    def client(
        self, target: str | Callable[[httpx2.Request], Any], **kwargs: Any
    ) -> Client | AsyncClient:
        kwargs.setdefault("clock", FakeClock())
        cls = Client if self.kind == "sync" else AsyncClient
        if isinstance(target, str):
            client = cls(target, **kwargs)
        else:
            client = cls(MOCK_BASE, transport=httpx2.MockTransport(target), **kwargs)
        self.clients.append(client)
        return client

    async def request(
        self, client: Client | AsyncClient, method: str, url: str | None = None, **kwargs: Any
    ) -> httpx2.Response:
        url = self.default_path if url is None else url
        if isinstance(client, Client):
            return client.request(method, url, **kwargs)
        return await client.request(method, url, **kwargs)

    async def close(self) -> None:
        for client in self.clients:
            if isinstance(client, Client):
                client.close()
            else:
                await client.aclose()


@pytest.fixture(params=["sync", "async"])
async def face(request: pytest.FixtureRequest) -> AsyncIterator[ClientFace]:
    harness = ClientFace(request.param, getattr(request.module, "DEFAULT_PATH", "/x"))
    yield harness
    await harness.close()
