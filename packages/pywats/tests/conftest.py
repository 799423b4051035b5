"""Fixtures: one WATS emulator per session over a real socket, and clients of both faces.

Client tests are written once and run against the sync and the async client: the ``wats``
fixture is parametrized, and ``resolve`` awaits what the async client returns.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import pytest

from corekit.testing import FakeClock, FaultInjector, ServedApp, serve
from pywats import WATS, AsyncWATS, Station
from pywats.emulator import EmulatorSettings, create_app

USER = "operator"
PASSWORD = "s3cret"
STATION = Station("ST-7", "Line 2", "Production")

T = TypeVar("T")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _server() -> Iterator[tuple[FaultInjector, ServedApp]]:
    app = create_app(EmulatorSettings(username=USER, password=PASSWORD))
    with serve(app) as served:
        yield app, served


@pytest.fixture
def emulator(_server: tuple[FaultInjector, ServedApp]) -> FaultInjector:
    """The emulator, reset: no faults, no requests logged, nothing stored."""
    app, _ = _server
    app.reset()
    return app


@pytest.fixture
def base_url(_server: tuple[FaultInjector, ServedApp], emulator: FaultInjector) -> str:
    return _server[1].url


def make_client(kind: str, base_url: str, **kwargs: Any) -> WATS | AsyncWATS:
    """A client of the emulator with the test user, station and a fake clock."""
    kwargs.setdefault("username", USER)
    kwargs.setdefault("password", PASSWORD)
    kwargs.setdefault("station", STATION)
    kwargs.setdefault("clock", FakeClock())
    kwargs.setdefault("trust_env", False)
    cls = WATS if kind == "sync" else AsyncWATS
    return cls(base_url, **kwargs)


async def close(client: WATS | AsyncWATS) -> None:
    if isinstance(client, WATS):
        client.close()
    else:
        await client.aclose()


@pytest.fixture(params=["sync", "async"])
async def wats(request: pytest.FixtureRequest, base_url: str) -> AsyncIterator[Any]:
    """A sync or an async client of the emulator (typed Any: tests ``resolve`` results)."""
    client = make_client(request.param, base_url)
    yield client
    await close(client)


async def _resolve(value: T) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


@pytest.fixture
def resolve() -> Any:
    """``await resolve(x)``: the value itself (sync client) or its result (async client)."""
    return _resolve


@pytest.fixture
async def client_factory(base_url: str) -> AsyncIterator[Any]:
    """``client_factory(kind, **kwargs)``: more clients of the emulator, closed at the end."""
    made: list[WATS | AsyncWATS] = []

    def factory(kind: str, **kwargs: Any) -> WATS | AsyncWATS:
        kwargs.setdefault("base_url", base_url)
        client = make_client(kind, **kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        await close(client)
