"""``WATS`` (sync) and ``AsyncWATS``: the clients, built on :mod:`corekit.http`.

Both take the same arguments and send the same calls (:mod:`pywats._calls`). The sync client
holds one :class:`corekit.http.Client`, whose connection pool is thread-safe, and keeps no
per-call state of its own: many threads may share it (upstream ran coroutines on per-thread
event loops over one shared async client, which broke under threads).

There is no response cache: every read goes to WATS, so a read after a write sees the write.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Self, TypeVar

from pydantic import SecretStr

from corekit.closing import AsyncClosing, Closing
from pywats._aapi import (
    AsyncAppAPI,
    AsyncAssetAPI,
    AsyncProductAPI,
    AsyncProductionAPI,
    AsyncReportAPI,
)
from pywats._api import AppAPI, AssetAPI, ProductAPI, ProductionAPI, ReportAPI
from pywats._builder import Station
from pywats._transport import AsyncRunner, SyncRunner, basic_token, normalize_base_url
from pywats.errors import WATSConfigurationError

if TYPE_CHECKING:
    from corekit.breaker import CircuitBreaker
    from corekit.clock import Clock
    from corekit.ratelimit import Limiter
    from corekit.retry import RetryPolicy
    from pywats._settings import WATSSettings

_UNSET: Any = object()
_H = TypeVar("_H")


def _user_agent() -> str:
    try:
        return f"pywats/{version('pywats')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "pywats"


class _Config:
    """What both clients derive from their arguments."""

    def __init__(
        self,
        base_url: str | None,
        *,
        username: str | None,
        password: str | SecretStr | None,
        token: str | SecretStr | None,
        station: Station | None,
        timeout: float,
        retry: RetryPolicy | None,
        rate_limiter: Limiter | None,
        breaker: CircuitBreaker | None,
        verify: bool | str,
        proxy: str | None,
        trust_env: bool,
        clock: Clock | None,
        http_options: dict[str, Any],
    ) -> None:
        if not base_url:
            msg = "base_url is required: pass base_url= (or set PYWATS_BASE_URL)"
            raise WATSConfigurationError(msg)
        self.base_url = normalize_base_url(base_url)
        self.station = station or Station.local()
        credentials = basic_token(username, password, token)
        options: dict[str, Any] = {
            "headers": {"Authorization": f"Basic {credentials}", "Accept": "application/json"},
            "timeout": timeout,
            "rate_limiter": rate_limiter,
            "breaker": breaker,
            "verify": verify,
            "proxy": proxy,
            "trust_env": trust_env,
            "user_agent": _user_agent(),
            "name": "pywats",
            **http_options,
        }
        if retry is not _UNSET:
            options["retry"] = retry
        if clock is not None:
            options["clock"] = clock
        self.options = options


def _from_settings(settings: WATSSettings) -> dict[str, Any]:
    station = None
    if settings.station_name:
        station = Station(
            settings.station_name, settings.station_location, settings.station_purpose
        )
    return {
        "base_url": settings.base_url,
        "username": settings.username,
        "password": settings.password,
        "token": settings.token,
        "station": station,
        "timeout": settings.timeout,
    }


class _Client(abc.ABC):
    """What both clients share: their arguments, settings constructors and ``repr``."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        username: str | None = None,
        password: str | SecretStr | None = None,
        token: str | SecretStr | None = None,
        station: Station | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = _UNSET,
        rate_limiter: Limiter | None = None,
        breaker: CircuitBreaker | None = None,
        verify: bool | str = True,
        proxy: str | None = None,
        trust_env: bool = True,
        clock: Clock | None = None,
        **http_options: Any,
    ) -> None:
        config = _Config(
            base_url,
            username=username,
            password=password,
            token=token,
            station=station,
            timeout=timeout,
            retry=retry,
            rate_limiter=rate_limiter,
            breaker=breaker,
            verify=verify,
            proxy=proxy,
            trust_env=trust_env,
            clock=clock,
            http_options=http_options,
        )
        self.base_url = config.base_url
        self.station = config.station
        self._connect(config)

    @abc.abstractmethod
    def _connect(self, config: _Config) -> None:
        """Open the HTTP client and the domains (each client its own kind)."""

    @classmethod
    def from_settings(cls, settings: WATSSettings, **kwargs: Any) -> Self:
        """Build a client from :class:`~pywats.WATSSettings`; ``kwargs`` override them."""
        return cls(**{**_from_settings(settings), **kwargs})

    @classmethod
    def from_env(cls, env_file: str | None = None, **kwargs: Any) -> Self:
        """Build a client from ``PYWATS_*`` environment variables (and ``env_file``)."""
        from pywats._settings import WATSSettings

        return cls.from_settings(WATSSettings.from_env(env_file), **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, station={self.station.name!r})"


def _open(factory: Callable[..., _H], config: _Config) -> _H:
    try:
        return factory(config.base_url, **config.options)
    except Exception as exc:
        raise WATSConfigurationError(str(exc)) from exc


class WATS(_Client, Closing):
    """The sync WATS client; safe to share between threads.

    Example::

        from pywats import WATS

        with WATS("https://acme.wats.com", username="me", password="secret") as wats:
            print(wats.app.version())

    Args:
        base_url: the server, ``http(s)://host[:port]``; a trailing ``/`` or ``/api`` is
            removed.
        username: user for HTTP Basic auth.
        password: that user's password or API token.
        token: a pre-encoded Basic token (base64 of ``user:secret``), used without username.
        station: the station identity every report built through this client carries;
            default: this host's name.
        timeout: seconds to wait for WATS on each request.
        retry: the retry policy (default :class:`corekit.retry.RetryPolicy`); ``None`` for
            one attempt. Reads, puts, deletes and report submits (idempotent by report id) are
            retried; other posts only when they never left.
        rate_limiter: a :class:`corekit.ratelimit.Limiter` shared by all calls.
        breaker: a :class:`corekit.breaker.CircuitBreaker` to stop calling a failing server.
        verify: TLS verification: ``True``, ``False`` or a CA bundle path.
        proxy: a proxy URL.
        trust_env: read proxy settings from the environment.
        clock: the clock retries wait on (tests pass a ``FakeClock``).
        **http_options: more keyword arguments for :class:`corekit.http.Client`
            (e.g. ``limits``, ``max_response_bytes``).

    Raises:
        WATSConfigurationError: a missing base URL or credentials, or an invalid argument.
    """

    def _connect(self, config: _Config) -> None:
        from corekit.http import Client

        self._http = _open(Client, config)
        runner = SyncRunner(self._http)
        self.app = AppAPI(runner, self.station)
        """Server version and processes."""
        self.report = ReportAPI(runner, self.station)
        """Build, submit, read and query reports."""
        self.product = ProductAPI(runner, self.station)
        """Products and revisions."""
        self.production = ProductionAPI(runner, self.station)
        """Units and serial numbers."""
        self.asset = AssetAPI(runner, self.station)
        """Test assets."""

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


class AsyncWATS(_Client, AsyncClosing):
    """The async WATS client: the arguments of :class:`WATS`, awaitable methods.

    Example::

        async with AsyncWATS("https://acme.wats.com", token="dXNlcjpzZWNyZXQ=") as wats:
            headers = await wats.report.query_headers(part_number="PN-1", top=10)

    Raises:
        WATSConfigurationError: a missing base URL or credentials, or an invalid argument.
    """

    def _connect(self, config: _Config) -> None:
        from corekit.http import AsyncClient

        self._http = _open(AsyncClient, config)
        runner = AsyncRunner(self._http)
        self.app = AsyncAppAPI(runner, self.station)
        """Server version and processes."""
        self.report = AsyncReportAPI(runner, self.station)
        """Build, submit, read and query reports."""
        self.product = AsyncProductAPI(runner, self.station)
        """Products and revisions."""
        self.production = AsyncProductionAPI(runner, self.station)
        """Units and serial numbers."""
        self.asset = AsyncAssetAPI(runner, self.station)
        """Test assets."""

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
