"""``ProjectX``: the async client, one account, its resources as attributes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from pydantic import ValidationError

from corekit.clock import Clock, system_clock
from corekit.errors import ConfigurationError, CorekitError
from corekit.ratelimit import Limiter
from projectx._contracts import Accounts, Contracts
from projectx._models import Account
from projectx._session import Session
from projectx._settings import ProjectXSettings
from projectx._trading import Orders, Positions, Trades
from projectx.errors import ProjectXError, SettingsError

if TYPE_CHECKING:
    from projectx._bars import Bars
    from projectx._cache import BarCache

__all__ = ["ProjectX"]

logger = logging.getLogger(__name__)


class ProjectX:
    """Async client of the ProjectX Gateway for one user and one account.

    ::

        async with ProjectX.from_env() as px:
            contract = await px.contracts.front_month("MNQ")
            bars = await px.bars.get(contract.id, lookback=timedelta(days=1))
            order_id = await px.orders.limit(contract.id, "buy", 1, price=21_000.25)

    Entering the context logs in (``Auth/loginKey``) and selects the account named by the
    ``account`` setting (or the first active one); leaving it logs out and closes the
    connections. The session token is renewed before it expires (``Auth/validate``, login as
    the fallback) and once more after a 401.

    Resources: ``accounts`` (:class:`Accounts`), ``contracts`` (:class:`Contracts`), ``bars``
    (:class:`Bars`), ``orders`` (:class:`Orders`), ``positions`` (:class:`Positions`) and
    ``trades`` (:class:`Trades`).

    Args:
        settings: what to connect to and how; see :class:`ProjectXSettings`.
        clock: time source of token expiry, rate limits and waits (tests: a ``FakeClock``).
        bar_cache: a :class:`BarCache` for closed bar windows; ``None`` for no cache.
        rate_limiter: a limiter with ``"bars"`` and ``"default"`` buckets shared by several
            clients of one user (e.g. a :class:`corekit.ratelimit.RedisRateLimiter`); default:
            the client's own, from the settings.
    """

    def __init__(
        self,
        settings: ProjectXSettings,
        *,
        clock: Clock = system_clock,
        bar_cache: BarCache | None = None,
        rate_limiter: Limiter | None = None,
    ) -> None:
        given: object = settings
        if not isinstance(given, ProjectXSettings):
            msg = (
                f"settings must be a ProjectXSettings, got {type(given).__name__}; "
                f"use ProjectX.from_env() to read PROJECTX_* variables"
            )
            raise ConfigurationError(msg)
        self.settings = settings
        self._session = Session(settings, clock=clock, rate_limiter=rate_limiter)
        self._account: Account | None = None
        self._bar_cache = bar_cache
        self._bars: Bars | None = None
        self.accounts = Accounts(self._session)
        self.contracts = Contracts(self._session)
        self.orders = Orders(self._session, self._account_id)
        self.positions = Positions(self._session, self._account_id)
        self.trades = Trades(self._session, self._account_id)

    @classmethod
    def from_env(
        cls,
        env_file: str | Path | None = None,
        *,
        clock: Clock = system_clock,
        bar_cache: BarCache | None = None,
        **overrides: Any,
    ) -> Self:
        """Build a client from ``PROJECTX_*`` variables (and ``env_file``, if given).

        ``overrides`` are settings that win over the environment (``api_url=...``).

        Raises:
            SettingsError: a variable is missing or invalid; the message names it.
        """
        try:
            settings = ProjectXSettings.from_env(env_file, **overrides)
        except ValidationError as exc:
            problems = "; ".join(
                f"PROJECTX_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
            )
            msg = f"invalid or missing ProjectX settings: {problems}"
            raise SettingsError(msg) from None
        return cls(settings, clock=clock, bar_cache=bar_cache)

    @property
    def bars(self) -> Bars:
        """Historical bars as polars frames (imports polars on first use)."""
        if self._bars is None:
            from projectx._bars import Bars

            self._bars = Bars(self._session, self._bar_cache, self.settings.timezone)
        return self._bars

    @property
    def account(self) -> Account:
        """The selected account.

        Raises:
            ProjectXError: no account selected yet (use ``async with`` or :meth:`connect`).
        """
        if self._account is None:
            msg = "no account selected yet: use `async with ProjectX(...)` or `await px.connect()`"
            raise ProjectXError(msg)
        return self._account

    def _account_id(self) -> int:
        return self.account.id

    async def connect(self) -> Account:
        """Log in and select the account of the ``account`` setting; return it.

        Raises:
            LoginError: the user name or API key was refused.
            AccountSelectionError: no active account matches the setting.
        """
        self._account = await self.accounts.select(self.settings.account)
        return self._account

    async def use_account(self, account: str | int) -> Account:
        """Switch to another of the user's accounts, by id or name."""
        self._account = await self.accounts.select(account)
        return self._account

    async def token(self, renew: bool = False, refused: str | None = None) -> str:
        """Return a valid session JWT (logging in or renewing first if needed).

        Args:
            renew: get a new one even if the current one looks valid (it was refused).
            refused: with ``renew``, the JWT that was refused; when another task has already
                replaced it, that newer token is returned without a second login.
        """
        return await self._session.token(renew=renew, refused=refused)

    def on_token(self, listener: Callable[[str], object]) -> None:
        """Call ``listener(jwt)`` with every new session token (the realtime client uses it)."""
        self._session.add_token_listener(listener)

    async def ping(self) -> bool:
        """Return whether the Gateway answers ``GET /Status/ping`` with ``"pong"``."""
        response = await self._session.http.get("Status/ping", auth=None)
        return response.content.strip() in (b'"pong"', b"pong")

    async def logout(self) -> None:
        """End the session on the Gateway (``Auth/logout``)."""
        await self._session.logout()

    async def aclose(self) -> None:
        """Close the connections (without logging out)."""
        await self._session.http.aclose()

    async def __aenter__(self) -> Self:
        try:
            await self.connect()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.logout()
        except CorekitError as error:
            # The session ends at its expiry anyway; a failed logout must not hide the result.
            logger.warning("logout failed (%s); closing the connection anyway", error)
        finally:
            await self.aclose()

    def __repr__(self) -> str:
        account = self._account.name if self._account else None
        return (
            f"ProjectX(api_url={self.settings.api_url!r}, "
            f"username={self.settings.username!r}, account={account!r})"
        )
