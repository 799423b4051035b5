"""What both m2v clients share: settings, the auth flow, client options and pure helpers."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from corekit.clock import Clock, system_clock
from corekit.http import Limits, OAuth2Auth, RequestOptions
from corekit.retry import RetryPolicy
from pym2v import _protocol as proto
from pym2v._errors import translated
from pym2v.errors import M2VConfigurationError
from pym2v.models import Machine
from pym2v.settings import Settings


def _version() -> str:
    from importlib.metadata import version

    return version("pym2v")


def deprecated(old: str, new: str) -> None:
    """Warn that ``old`` is a deprecated 0.1.x name for ``new``."""
    warnings.warn(
        f"{old} is the pym2v 0.1.x name and will be removed in pym2v 3.0; use {new} "
        "(see MIGRATION.md)",
        DeprecationWarning,
        stacklevel=3,
    )


class BaseAPI:
    """Configuration shared by :class:`~pym2v.EurogardAPI` and :class:`~pym2v.AsyncEurogardAPI`."""

    def __init__(
        self,
        settings: object = None,
        max_concurrent_requests: int | None = None,
        *,
        auth: OAuth2Auth | None = None,
        clock: Clock = system_clock,
    ) -> None:
        if settings is None:
            settings = Settings.from_env()
        elif not isinstance(settings, Settings):
            msg = f"settings must be a pym2v.Settings, got {type(settings).__name__}"
            raise M2VConfigurationError(msg)
        if max_concurrent_requests is not None:
            proto.check_int("max_concurrent_requests", max_concurrent_requests, minimum=1)
            settings = settings.model_copy(
                update={"max_concurrent_requests": max_concurrent_requests}
            )
        self.settings = settings
        self._clock = clock
        with translated():
            self._auth = auth if auth is not None else self._create_auth()
            self._retry = RetryPolicy(
                attempts=settings.retry_attempts,
                timeout=settings.retry_timeout,
                wait_max=settings.retry_wait_max,
                max_retry_after=settings.max_retry_after,
            )

    @classmethod
    def from_env(cls, env_file: str | Path | None = None, **overrides: Any) -> Self:
        """Build a client from ``EUROGARD_*`` variables and, if named, a dotenv file.

        Args:
            env_file: a dotenv file to read too (nothing is read implicitly).
            **overrides: settings that win over the environment (e.g. ``timeout=60``).

        Raises:
            M2VConfigurationError: a setting is missing or invalid.
        """
        return cls(Settings.from_env(env_file, **overrides))

    def _create_auth(self) -> OAuth2Auth:
        s = self.settings
        # The platform is Keycloak: the password grant, with the client credentials in the
        # form body as pym2v 0.2.0 sends them.
        return OAuth2Auth(
            s.token_url,
            client_id=s.client_id,
            client_secret=s.client_secret.get_secret_value(),
            grant_type="password",
            username=s.username,
            password=s.password.get_secret_value(),
            token_endpoint_auth_method="client_secret_post",  # noqa: S106
            clock=self._clock,
        )

    def _client_options(self) -> dict[str, Any]:
        s = self.settings
        return {
            "auth": self._auth,
            "timeout": s.timeout,
            "retry": self._retry,
            # Room for one long fetch's batches plus metadata calls beside them.
            "limits": Limits(
                max_connections=s.max_concurrent_requests + 4,
                max_keepalive_connections=s.max_concurrent_requests + 4,
            ),
            "max_response_bytes": s.max_response_bytes,
            "user_agent": f"pym2v/{_version()}",
            "trust_env": True,
            "clock": self._clock,
            "name": "pym2v",
        }

    @staticmethod
    def _options(call: proto.Call) -> RequestOptions:
        options: RequestOptions = {}
        if call.params is not None:
            options["params"] = dict(call.params)
        if call.json is not None:
            options["json"] = call.json
        if call.idempotent is not None:
            options["idempotent"] = call.idempotent
        if call.timeout is not None:
            options["timeout"] = call.timeout
        return options

    @staticmethod
    def get_machine_uuid(machine_name: str, machines: Mapping[str, Any]) -> str | None:
        """Return the uuid of the machine named ``machine_name`` in one fetched page.

        The upstream 0.2.0 helper: it searches only the envelope you pass (one page). Use
        :meth:`find_machine` to search every page.

        Args:
            machine_name: the exact machine name.
            machines: an envelope returned by :meth:`get_machines`.

        Returns:
            The first matching uuid, or ``None``.
        """
        for entity in machines.get("entities") or ():
            if isinstance(entity, Mapping) and entity.get("name") == machine_name:
                uuid = entity.get("uuid")
                return uuid if isinstance(uuid, str) else None
        return None

    @staticmethod
    def _match(machine: Machine, name: str) -> bool:
        return machine.name == name

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"{type(self).__name__}(base_url={s.base_url!r}, username={s.username!r}, "
            f"max_concurrent_requests={s.max_concurrent_requests})"
        )
