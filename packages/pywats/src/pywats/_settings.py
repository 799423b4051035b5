"""Settings for a WATS client, from arguments or ``PYWATS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WATSSettings(BaseSettings):
    """Where WATS is and who is calling, read from ``PYWATS_*`` environment variables.

    No ``.env`` file is read unless :meth:`from_env` is given one.

    Attributes:
        base_url: the WATS server, e.g. ``https://acme.wats.com`` (``PYWATS_BASE_URL``).
        username: user for HTTP Basic auth (``PYWATS_USERNAME``).
        password: that user's password or API token (``PYWATS_PASSWORD``).
        token: a pre-encoded Basic token, used when no username is set (``PYWATS_TOKEN``).
        station_name: ``machineName`` of built reports; default the host name.
        station_location: ``location`` of built reports.
        station_purpose: ``purpose`` of built reports.
        timeout: seconds to wait for WATS on each request.
    """

    model_config = SettingsConfigDict(env_prefix="PYWATS_", extra="ignore", env_file=None)

    base_url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    station_name: str | None = None
    station_location: str = "Unknown"
    station_purpose: str = "Test"
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env_file: str | Path | None = None) -> WATSSettings:
        """Read the environment, plus ``env_file`` if given (the environment wins)."""
        if env_file is None:
            return cls()
        return cls(_env_file=env_file)  # type: ignore[call-arg]
