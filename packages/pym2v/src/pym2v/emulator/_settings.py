"""Settings of the m2v emulator: credentials, catalogue size, token lifetimes and data modes."""

from __future__ import annotations

__all__ = ["DataModes", "EmulatorSettings"]

import hashlib
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class DataModes(BaseModel):
    """Opt-in deviations from the well-behaved default data (all off by default).

    Each mode reproduces something a real server may do and that a client must survive; see
    ``docs/pym2v/emulator.md`` for the exact rules.

    Attributes:
        sparse: leave out about a third of the buckets of every series (different ones per
            series), as the real server does for buckets without samples.
        missing_series: the last measurement of every machine has no data in buckets labelled
            within odd UTC days (days since the epoch), so a one-day batch on such a day has no
            result for it.
        integer_values: values of buckets labelled within even UTC days are rounded to whole
            numbers and written as JSON integers (``3``, not ``3.0``).
        reordered_results: every other time-series response (the 1st, 3rd, ... since start or
            reset) lists its results in reverse request order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sparse: bool = False
    missing_series: bool = False
    integer_values: bool = False
    reordered_results: bool = False


class EmulatorSettings(BaseModel):
    """What the emulator accepts and serves. Every field has a documented default.

    Attributes:
        username: user of the password grant.
        password: password of the password grant.
        client_id: OAuth2 client id (the vendor's example uses ``backend``).
        client_secret: OAuth2 client secret.
        token_lifetime: seconds an access token is valid (``expires_in``); the real server
            uses 7200. Use e.g. 31 to see upstream 0.2.0 refresh (it renews 30 s early).
        refresh_token_lifetime: seconds a refresh token is valid (``refresh_expires_in``).
        signing_key: key that signs tokens (HMAC-SHA256). ``None`` derives it from the
            credentials, so a restarted emulator with the same credentials still accepts the
            tokens it issued before (clients cache tokens process-wide).
        routers: number of routers ("things").
        machines: number of machines, spread over the routers in turn.
        measurements: measurements per machine.
        setpoints: set-points per machine.
        seed: varies every generated UUID, name suffix and curve; same seed, same data.
        sample_interval_s: seconds between the raw samples that buckets average.
        max_points: most points (summed over series) one time-series request may return;
            larger requests answer 400.
        cache_bytes: bytes of generated time-series responses kept for repeated requests.
        modes: the opt-in data modes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = "user"
    password: SecretStr = SecretStr("password")
    client_id: str = "backend"
    client_secret: SecretStr = SecretStr("secret")
    token_lifetime: Annotated[int, Field(ge=1)] = 7200
    refresh_token_lifetime: Annotated[int, Field(ge=1)] = 86400
    signing_key: SecretStr | None = None
    routers: Annotated[int, Field(ge=0, le=10_000)] = 2
    machines: Annotated[int, Field(ge=0, le=10_000)] = 3
    measurements: Annotated[int, Field(ge=0, le=1_000)] = 5
    setpoints: Annotated[int, Field(ge=0, le=1_000)] = 2
    seed: int = 0
    sample_interval_s: Annotated[int, Field(ge=1, le=86_400)] = 10
    max_points: Annotated[int, Field(ge=1)] = 5_000_000
    cache_bytes: Annotated[int, Field(ge=0)] = 256 * 1024 * 1024
    modes: DataModes = DataModes()

    def key(self) -> bytes:
        """The token-signing key: ``signing_key``, or one derived from the credentials."""
        if self.signing_key is not None:
            return self.signing_key.get_secret_value().encode()
        material = "\0".join(
            (
                "pym2v-emulator",
                self.username,
                self.password.get_secret_value(),
                self.client_id,
                self.client_secret.get_secret_value(),
            )
        )
        return hashlib.sha256(material.encode()).digest()


# Documented and imported as pym2v.emulator.*; cross-references in docs resolve there.
DataModes.__module__ = EmulatorSettings.__module__ = "pym2v.emulator"
