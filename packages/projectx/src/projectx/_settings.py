"""Settings of a :class:`projectx.ProjectX` client, read from ``PROJECTX_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ProjectXSettings"]

DEFAULT_API_URL = "https://api.topstepx.com/api"
DEFAULT_USER_HUB_URL = "https://rtc.topstepx.com/hubs/user"
DEFAULT_MARKET_HUB_URL = "https://rtc.topstepx.com/hubs/market"


class ProjectXSettings(BaseSettings):
    """Everything a :class:`projectx.ProjectX` client needs, one ``PROJECTX_`` prefix.

    Build it directly (keyword arguments win over the environment) or with :meth:`from_env`.
    No ``.env`` file is read unless you name one. Unknown ``PROJECTX_*`` variables are ignored.

    Attributes:
        api_url: REST base URL ending in ``/api`` (``PROJECTX_API_URL``).
        username: the Gateway user name (``PROJECTX_USERNAME``).
        api_key: the API key (``PROJECTX_API_KEY``); never logged.
        account: account to trade, by name or numeric id (``PROJECTX_ACCOUNT``); ``None`` picks
            the first active account.
        user_hub_url: SignalR user hub (``PROJECTX_USER_HUB_URL``).
        market_hub_url: SignalR market hub (``PROJECTX_MARKET_HUB_URL``).
        timeout: seconds to wait for a response.
        http2: offer HTTP/2 (used where the server accepts it over TLS).
        timezone: IANA zone of the ``timestamp`` column of bar frames, and of naive datetimes
            given to the client.
        bars_limit: requests to ``History/retrieveBars`` per ``bars_period`` seconds.
        bars_period: window of the bars budget, seconds.
        requests_limit: requests to every other endpoint per ``requests_period`` seconds.
        requests_period: window of the general budget, seconds.
        max_retry_after: longest ``Retry-After`` (seconds) a 429 is waited out before failing.
        retry_attempts: tries per request, including the first (searches; order-changing
            calls are only re-sent when they provably never left).
        token_leeway: renew the session token this many seconds before it expires.
        auto_tag: give orders placed without a custom tag a unique one, so
            :meth:`projectx.Orders.reconcile` can always find them.
    """

    model_config = SettingsConfigDict(
        env_prefix="PROJECTX_",
        env_file=None,
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    api_url: str = DEFAULT_API_URL
    username: str = Field(min_length=1)
    api_key: SecretStr
    account: str | None = None
    user_hub_url: str = DEFAULT_USER_HUB_URL
    market_hub_url: str = DEFAULT_MARKET_HUB_URL
    timeout: float = Field(default=30.0, gt=0)
    http2: bool = True
    timezone: str = "UTC"
    bars_limit: int = Field(default=50, ge=1)
    bars_period: float = Field(default=30.0, gt=0)
    requests_limit: int = Field(default=200, ge=1)
    requests_period: float = Field(default=60.0, gt=0)
    max_retry_after: float = Field(default=120.0, ge=0)
    retry_attempts: int = Field(default=4, ge=1)
    token_leeway: float = Field(default=300.0, ge=0)
    auto_tag: bool = True

    @field_validator("api_url", "user_hub_url", "market_hub_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "ws://", "wss://")):
            msg = f"must be an http(s) URL such as {DEFAULT_API_URL!r}, got {value!r}"
            raise ValueError(msg)
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"must be an IANA time zone such as 'UTC' or 'America/Chicago', got {value!r}"
            raise ValueError(msg) from None
        return value

    @classmethod
    def from_env(cls, env_file: str | Path | None = None, **overrides: Any) -> Self:
        """Read the settings from ``PROJECTX_*`` variables (and ``env_file``, if given).

        Args:
            env_file: a dotenv file to read as well; the environment wins over it.
            **overrides: field values that win over both.

        Raises:
            ValueError: a variable is missing or invalid (a pydantic ``ValidationError``
                naming it); :meth:`projectx.ProjectX.from_env` raises ``SettingsError``.
        """
        return cls(_env_file=env_file, **overrides)  # type: ignore[call-arg]
