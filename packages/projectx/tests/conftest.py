"""Fixtures: the emulated Gateway served over a real socket, and clients pointed at it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from corekit.testing import FakeClock, serve
from projectx import ProjectX, ProjectXSettings
from projectx.emulator import Emulator, EmulatorSettings, create_app

USER = "trader"
KEY = "emulator-key-1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    # Shared by the emulator and the clients: token expiry and Retry-After waits take no time.
    return FakeClock(epoch=time.time())


@dataclass
class Gateway:
    """A served emulator: its fault injector / state, and where it listens."""

    emulator: Emulator
    url: str
    clock: FakeClock | None

    def settings(self, **overrides: Any) -> ProjectXSettings:
        values: dict[str, Any] = {
            "api_url": f"{self.url}/api",
            "user_hub_url": f"{self.url}/hubs/user",
            "market_hub_url": f"{self.url}/hubs/market",
            "username": USER,
            "api_key": KEY,
            "http2": False,
        }
        values.update(overrides)
        return ProjectXSettings(**values)

    def client(self, **overrides: Any) -> ProjectX:
        kwargs: dict[str, Any] = {}
        if self.clock is not None:
            kwargs["clock"] = self.clock
        bar_cache = overrides.pop("bar_cache", None)
        return ProjectX(self.settings(**overrides), bar_cache=bar_cache, **kwargs)

    def count(self, path: str, method: str = "POST") -> int:
        return len(self.emulator.calls(method, path))


@pytest.fixture
def start_gateway(clock: FakeClock) -> Iterator[Callable[..., Gateway]]:
    """Start an emulator with these settings, on the test's fake clock (or ``shared_clock``)."""
    with ExitStack() as stack:

        def start(
            *, real_clock: bool = False, shared_clock: FakeClock | None = None, **settings: Any
        ) -> Gateway:
            values: dict[str, Any] = {"username": USER, "api_key": KEY}
            values.update(settings)
            shared = None if real_clock else (shared_clock or clock)
            emulator = (
                create_app(EmulatorSettings(**values))
                if shared is None
                else create_app(EmulatorSettings(**values), clock=shared)
            )
            served = stack.enter_context(serve(emulator))
            return Gateway(emulator, served.url, shared)

        yield start


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway]) -> Gateway:
    return start_gateway()


@pytest.fixture
def emulator(served: tuple[Emulator, str]) -> Emulator:
    """The emulator of the module's ``served`` fixture, reset to its first state."""
    served[0].reset()
    return served[0]
