"""Settings of the m2v clients: pydantic-settings with the ``EUROGARD_`` prefix.

``Settings()`` reads only the process environment; a dotenv file is read only when you name
it (``Settings.from_env(env_file=".env")`` or ``EurogardAPI.from_env(env_file=...)``).
Environment keys that are not settings are ignored, so a shared ``.env`` does not break it.
"""

from __future__ import annotations

__all__ = ["TOKEN_ROUTE", "Settings"]

from pathlib import Path
from typing import Any, Self

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pym2v.errors import M2VConfigurationError

TOKEN_ROUTE = "/auth/realms/iiot-platform/protocol/openid-connect/token"  # noqa: S105
"""Path of the Keycloak token endpoint, relative to ``base_url``."""


class Settings(BaseSettings):
    """Connection, credentials and behaviour of :class:`~pym2v.EurogardAPI`.

    Every field can come from an environment variable named ``EUROGARD_<FIELD>`` (any case),
    e.g. ``EUROGARD_BASE_URL``, ``EUROGARD_PASSWORD``, ``EUROGARD_TIMEOUT``.

    Attributes:
        base_url: the platform, e.g. ``https://eurogard.cloud``; a trailing ``/`` is dropped.
        username: the m2v user.
        password: the user's password (never shown in ``repr``, logs or errors).
        client_id: the OAuth2 client id (the platform's is usually ``backend``).
        client_secret: the OAuth2 client secret.
        timeout: seconds to wait for a connection, a read or a write of one request.
        max_concurrent_requests: batches of a long fetch in flight at once.
        retry_attempts: tries per request, including the first (``1`` disables retries).
        retry_timeout: seconds all tries and waits of one request may take together.
        retry_wait_max: longest backoff between two tries, in seconds.
        max_retry_after: the longest ``Retry-After`` honoured; a longer one fails at once.
        max_response_bytes: largest answer read; a 30-day batch of one-minute data for
            5 names is about 12 MB.
        max_buffered_bytes: answer bytes a long fetch may hold at once, estimated from the
            points per batch (about 56 bytes each); fewer batches than
            ``max_concurrent_requests`` are in flight when their answers would exceed it, and
            at least one always is.
    """

    model_config = SettingsConfigDict(
        env_prefix="EUROGARD_",
        case_sensitive=False,
        extra="ignore",
        env_file=None,
        validate_default=True,
    )

    base_url: str
    username: str = Field(min_length=1)
    password: SecretStr
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    max_concurrent_requests: int = Field(default=5, ge=1, le=64)
    retry_attempts: int = Field(default=5, ge=1, le=20)
    retry_timeout: float = Field(default=120.0, gt=0, allow_inf_nan=False)
    retry_wait_max: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    max_retry_after: float = Field(default=60.0, ge=0, allow_inf_nan=False)
    max_response_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    max_buffered_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in {"http", "https"} or not rest:
            msg = f"must be an absolute http(s) URL such as https://eurogard.cloud, got {value!r}"
            raise ValueError(msg)
        return url

    @property
    def token_url(self) -> str:
        """The absolute URL of the token endpoint."""
        return self.base_url + TOKEN_ROUTE

    @classmethod
    def from_env(cls, env_file: str | Path | None = None, **overrides: Any) -> Self:
        """Read the settings from the environment and, if given, a dotenv file.

        Args:
            env_file: a dotenv file to read as well; the environment wins over it.
            **overrides: values that win over both.

        Raises:
            M2VConfigurationError: a setting is missing or invalid; the message names the
                environment variable. A named ``env_file`` that does not exist is an error.
        """
        if env_file is not None and not Path(env_file).is_file():
            msg = f"env_file {str(env_file)!r} does not exist or is not a file"
            raise M2VConfigurationError(msg)
        try:
            return cls(_env_file=env_file, **overrides)  # type: ignore[call-arg]
        except ValidationError as exc:
            raise settings_error(exc) from None


def settings_error(exc: ValidationError) -> M2VConfigurationError:
    """Return a :class:`M2VConfigurationError` naming each bad ``EUROGARD_*`` variable."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        problems.append(f"EUROGARD_{field.upper()} ({field}): {error['msg']}")
    msg = "invalid pym2v settings: " + "; ".join(problems)
    return M2VConfigurationError(msg)
