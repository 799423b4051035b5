"""Fixtures: the m2v emulator over a real socket, and one harness for both clients.

Most tests run twice, once per face (``sync``: :class:`EurogardAPI`, ``async``:
:class:`AsyncEurogardAPI`), through :class:`Face`, so each behaviour is written once and
checked on both. The session emulator shares a :class:`FakeClock` with the clients: token
expiry and retry waits happen in fake time, nothing sleeps. Tests that need real latency
(timeouts, concurrency) use ``realtime`` instead.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from corekit.testing import FakeClock, serve
from pym2v import AsyncEurogardAPI, EurogardAPI, Settings
from pym2v.emulator import Emulator, EmulatorSettings, create_app

USER, PASSWORD = "ada", "pa55-w0rd-ada"
CLIENT_ID, CLIENT_SECRET = "backend", "s3cret-backend-42"
DATA = "/backend/machine-controller/postDataByRangeAndInterval"
TOKEN = "/auth/realms/iiot-platform/protocol/openid-connect/token"

EMULATOR_SETTINGS = EmulatorSettings(
    username=USER,
    password=PASSWORD,
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    routers=3,
    machines=5,
    measurements=4,
    setpoints=2,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def session_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def served(session_clock: FakeClock) -> Iterator[tuple[Emulator, str]]:
    app = create_app(EMULATOR_SETTINGS, clock=session_clock)
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def emulator(served: tuple[Emulator, str]) -> Iterator[Emulator]:
    app, _ = served
    app.reset()
    yield app
    app.reset()


@pytest.fixture
def clock(session_clock: FakeClock) -> FakeClock:
    session_clock.sleeps.clear()
    return session_clock


def make_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "base_url": url,
        "username": USER,
        "password": PASSWORD,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(served: tuple[Emulator, str], emulator: Emulator) -> Settings:
    return make_settings(served[1])


@pytest.fixture(scope="session")
def realtime_served() -> Iterator[tuple[Emulator, str]]:
    app = create_app(EMULATOR_SETTINGS)
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def realtime(realtime_served: tuple[Emulator, str]) -> Iterator[tuple[Emulator, str]]:
    realtime_served[0].reset()
    yield realtime_served
    realtime_served[0].reset()


class Face:
    """Drive :class:`EurogardAPI` or :class:`AsyncEurogardAPI` through one awaitable API."""

    def __init__(self, kind: str, clock: FakeClock) -> None:
        self.kind = kind
        self.clock = clock
        self.apis: list[EurogardAPI | AsyncEurogardAPI] = []

    def __repr__(self) -> str:
        return self.kind

    def api(self, settings: Settings, **kwargs: Any) -> EurogardAPI | AsyncEurogardAPI:
        kwargs.setdefault("clock", self.clock)
        cls = EurogardAPI if self.kind == "sync" else AsyncEurogardAPI
        api = cls(settings, **kwargs)
        self.apis.append(api)
        return api

    async def call(
        self, api: EurogardAPI | AsyncEurogardAPI, method: str, *a: Any, **k: Any
    ) -> Any:
        result = getattr(api, method)(*a, **k)
        if inspect.isawaitable(result):
            return await result
        return result

    async def collect(
        self, api: EurogardAPI | AsyncEurogardAPI, method: str, *a: Any, **k: Any
    ) -> list[Any]:
        found = getattr(api, method)(*a, **k)
        if isinstance(found, AsyncIterator):
            return [item async for item in found]
        return list(found)

    async def close(self) -> None:
        for api in self.apis:
            if isinstance(api, AsyncEurogardAPI):
                await api.aclose()
            else:
                api.close()


@pytest.fixture(params=["sync", "async"])
async def face(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Face]:
    harness = Face(request.param, clock)
    yield harness
    await harness.close()


@pytest.fixture
def uuid(emulator: Emulator) -> str:
    """The uuid of the emulator's first machine."""
    return next(iter(emulator.state.catalogue.machines))


@pytest.fixture
def names(emulator: Emulator) -> list[str]:
    """The measurement names of the emulator's first machine, in catalogue order."""
    machine = next(iter(emulator.state.catalogue.machines.values()))
    return [m.entity["name"] for m in machine.measurements]


@pytest.fixture
def grants(emulator: Emulator) -> Callable[[], list[str]]:
    """``grants()``: the grant types of the token requests in the log, in order."""

    def found() -> list[str]:
        types = []
        for call in emulator.calls("POST", TOKEN):
            for pair in call.body.decode().split("&"):
                key, _, value = pair.partition("=")
                if key == "grant_type":
                    types.append(value)
        return types

    return found
