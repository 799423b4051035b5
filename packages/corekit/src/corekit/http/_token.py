"""The generic token flow: your login callable, corekit's expiry, locking and 401 handling.

For APIs with their own login instead of OAuth2 (ProjectX: ``POST /api/Auth/loginKey`` returns a
JWT valid about 24 h, ``POST /api/Auth/validate`` trades it for a new one). The caller supplies
``login`` (and optionally ``refresh``) returning a :class:`Token`; :class:`TokenAuth` does the
rest with the state machine shared with :class:`~corekit.http.OAuth2Auth` (``_auth_base``).
No library offers this shape (httpx-auth and Authlib only know OAuth2), hence hand-written.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from corekit.clock import Clock, system_clock
from corekit.errors import AuthenticationError, ConfigurationError
from corekit.http._auth_base import Call, Flow, Reason, TokenFlowAuth, check_callable

__all__ = ["Token", "TokenAuth"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Token:
    """A credential returned by a login, and when it stops being valid.

    Attributes:
        value: the token itself (e.g. a JWT). Left out of ``repr()``.
        expires_at: expiry as seconds since the Unix epoch (compare with ``clock.time()``),
            or ``None`` if unknown: then the token is renewed only when the API answers 401.
    """

    value: str = field(repr=False)
    expires_at: float | None = None

    @classmethod
    def from_jwt(cls, value: str) -> Token:
        """Return a Token for the JWT ``value``, expiring at its ``exp`` claim.

        The signature is not checked (the server does that); the payload is only read for
        ``exp``. A value that is not a JWT, or has no numeric ``exp``, gives
        ``expires_at=None``: the token is then renewed when the API answers 401.
        """
        return cls(value, _jwt_exp(value))


LoginFn = Callable[[], Token] | Callable[[], Awaitable[Token]]
RefreshFn = Callable[[Token], Token] | Callable[[Token], Awaitable[Token]]


class TokenAuth(TokenFlowAuth[Token]):
    """An :class:`httpx2.Auth` that logs in lazily and keeps the token fresh.

    * The first request calls ``login``; later requests reuse its token.
    * From ``leeway`` seconds before ``expires_at`` (at most half the token's lifetime), the next
      request first calls ``refresh(current_token)`` if given, else ``login``. If ``refresh``
      raises :class:`~corekit.errors.AuthenticationError`, ``login`` runs instead.
    * A 401 from the API calls ``login`` once and sends the request again; a second 401 is
      returned as it is.
    * Only one renewal runs at a time: concurrent threads (sync client) or tasks (async client)
      wait for it and reuse its token.

    With a sync :class:`httpx2.Client` the callables must be sync; with an
    :class:`httpx2.AsyncClient` they may be coroutine functions or sync callables (run in a
    worker thread so their blocking I/O does not stall the event loop).

    Args:
        login: returns a new :class:`Token`; raise AuthenticationError when refused.
        refresh: trades the current token for a new one (e.g. ProjectX ``Auth/validate``).
        leeway: seconds before expiry at which the token is renewed.
        clock: time source for expiry decisions.
        header: request header that carries the token.
        scheme: prefix of the header value (``"Bearer"`` gives ``Bearer <token>``); ``None``
            sends the bare token.
        on_token: called with each new token, e.g. to persist it. Errors in it are logged,
            not raised (the token is still used).

    Raises:
        ConfigurationError: a callable is not callable, ``leeway`` is negative, or ``header``
            is empty.
    """

    def __init__(
        self,
        login: LoginFn,
        *,
        refresh: RefreshFn | None = None,
        leeway: float = 60.0,
        clock: Clock = system_clock,
        header: str = "Authorization",
        scheme: str | None = "Bearer",
        on_token: Callable[[Token], None] | None = None,
    ) -> None:
        super().__init__(leeway=leeway, clock=clock)
        check_callable("login", login, required=True)
        check_callable("refresh", refresh)
        check_callable("on_token", on_token)
        _check_header(header, scheme)
        self._login = login
        self._refresh = refresh
        self._header = header
        self._scheme = scheme
        self._on_token = on_token

    @property
    def token(self) -> Token | None:
        """The current token, or ``None`` before the first login."""
        return self._current()

    def _obtain(
        self,
        current: Token | None,
        reason: Reason,
        request: httpx2.Request,  # noqa: ARG002 - the login callables make their own requests
    ) -> Flow[Token]:
        if current is not None and self._refresh is not None and reason == "expired":
            try:
                token = yield Call(self._refresh, (current,), argument="refresh")
            except AuthenticationError as exc:
                logger.info("TokenAuth: refresh was refused (%s); logging in again", exc)
            else:
                return _checked(token, "refresh")
        token = yield Call(self._login, argument="login")
        return _checked(token, "login")

    def _apply(self, request: httpx2.Request, token: Token) -> None:
        value = token.value if self._scheme is None else f"{self._scheme} {token.value}"
        request.headers[self._header] = value

    def _expiry(self, token: Token) -> tuple[float | None, float | None]:
        if token.expires_at is None:
            return None, None
        return token.expires_at, token.expires_at - self._clock.time()

    def _notify(self, token: Token) -> None:
        if self._on_token is None:
            return
        try:
            self._on_token(token)
        except Exception:
            logger.warning(
                "TokenAuth: on_token hook failed; the new token is used but was not persisted",
                exc_info=True,
            )

    def __repr__(self) -> str:
        login = getattr(self._login, "__qualname__", type(self._login).__name__)
        state = "none" if self._held is None else ("expired" if self._stale() else "valid")
        return f"TokenAuth(login={login}, header={self._header!r}, token={state})"

    def _stale(self) -> bool:
        held = self._held
        return held is None or self._is_stale(held)


def _check_header(header: object, scheme: object) -> None:
    if not isinstance(header, str) or not header.strip():
        msg = f"header must be a non-empty header name, got {header!r}"
        raise ConfigurationError(msg)
    if scheme is not None and (not isinstance(scheme, str) or not scheme.strip()):
        msg = f"scheme must be a non-empty string such as 'Bearer', or None, got {scheme!r}"
        raise ConfigurationError(msg)


def _checked(token: Any, name: str) -> Token:
    if not isinstance(token, Token):
        msg = f"{name} must return a corekit.http.Token, got {type(token).__name__}"
        raise ConfigurationError(msg)
    value: object = token.value
    if not isinstance(value, str) or not value:
        msg = f"{name} returned a Token with an empty value; raise AuthenticationError instead"
        raise ConfigurationError(msg)
    return token


def _jwt_exp(value: str) -> float | None:
    parts = value.split(".")
    if len(parts) != 3:  # header.payload.signature
        return None
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):  # also UnicodeDecodeError and JSONDecodeError
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return None
    return float(exp)
