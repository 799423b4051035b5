"""One authenticated, rate-limited connection to the Gateway, and the response envelope.

Built on :mod:`corekit.http`: the :class:`~corekit.http.AsyncClient` pipeline does rate
limiting (two buckets: ``History/retrieveBars`` and everything else), retries (searches on
transport errors and 5xx; every call on 429 after its ``Retry-After`` and on connect errors)
and error mapping; :class:`~corekit.http.TokenAuth` does login, refresh before expiry (one at a
time), and one re-login and resend on a 401 (a refused request was not executed, so this is
safe for orders too). This module adds the Gateway's envelope (``success``/``errorCode``) and
the order-safety rule: an order-changing call whose outcome is unknown raises
:class:`~projectx.errors.OrderSubmissionUncertain` instead of being sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import anyio
import orjson

from corekit.clock import Clock
from corekit.errors import (
    AuthenticationError,
    ConnectError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
)
from corekit.http import AsyncClient, Token, TokenAuth
from corekit.ratelimit import Limiter, Rate, RateLimiter
from corekit.retry import RetryPolicy
from projectx._codes import gateway_error
from projectx._settings import ProjectXSettings
from projectx.errors import GatewayError, OrderSubmissionUncertain, ProjectXError

logger = logging.getLogger(__name__)

BARS_BUCKET = "bars"
DEFAULT_BUCKET = "default"
_BARS_PATH = "/history/retrievebars"


def bucket_for(method: str, path: str) -> str:  # noqa: ARG001 - corekit's bucket rule signature
    """Return the rate-limit bucket of a request path (case-insensitive, like the Gateway)."""
    return BARS_BUCKET if path.lower().endswith(_BARS_PATH) else DEFAULT_BUCKET


def gateway_limiter(settings: ProjectXSettings, clock: Clock) -> RateLimiter:
    """Return the limiter holding the Gateway's two budgets from ``settings``."""
    return RateLimiter(
        {
            BARS_BUCKET: Rate(settings.bars_limit, settings.bars_period),
            DEFAULT_BUCKET: Rate(settings.requests_limit, settings.requests_period),
        },
        clock=clock,
    )


class Session:
    """The HTTP side of a :class:`~projectx.ProjectX` client.

    Args:
        settings: the client settings.
        clock: time source of token expiry, rate limits and waits.
        rate_limiter: share one limiter between clients of the same user; default: own one.
    """

    def __init__(
        self,
        settings: ProjectXSettings,
        *,
        clock: Clock,
        rate_limiter: Limiter | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._token_listeners: list[Callable[[str], object]] = []
        self.http = AsyncClient(
            settings.api_url + "/",
            timeout=settings.timeout,
            http2=settings.http2,
            retry=RetryPolicy(
                attempts=settings.retry_attempts,
                timeout=None,
                max_retry_after=settings.max_retry_after,
            ),
            rate_limiter=rate_limiter or gateway_limiter(settings, clock),
            rate_limit_bucket=bucket_for,
            rate_limit_key=settings.username,
            headers={"Accept": "application/json"},
            user_agent=f"projectx/{version('projectx')}",
            clock=clock,
            name="projectx",
        )
        self.auth = TokenAuth(
            self._login,
            refresh=self._validate,
            leeway=settings.token_leeway,
            clock=clock,
            on_token=self._on_token,
        )
        self.http.auth = self.auth

    # -- auth --------------------------------------------------------------------------------

    async def _login(self) -> Token:
        body = {
            "userName": self.settings.username,
            "apiKey": self.settings.api_key.get_secret_value(),
        }
        response = await self.http.post("Auth/loginKey", json=body, auth=None, idempotent=True)
        data = envelope("Auth/loginKey", response.content)
        token = data.get("token")
        if not isinstance(token, str) or not token:
            msg = "Auth/loginKey answered success without a token; the Gateway misbehaved"
            raise ProjectXError(msg)
        logger.info("logged in to %s as %s", self.settings.api_url, self.settings.username)
        return Token.from_jwt(token)

    async def _validate(self, current: Token) -> Token:
        # Trades the current (possibly just expired) token for a new one; any refusal falls
        # back to a full login (TokenAuth catches AuthenticationError).
        response = await self.http.post(
            "Auth/validate",
            headers={"Authorization": f"Bearer {current.value}"},
            auth=None,
            idempotent=True,
            raise_for_status=False,
        )
        if response.status_code != 200:
            msg = f"Auth/validate answered HTTP {response.status_code}; logging in again"
            raise AuthenticationError(msg, status_code=response.status_code)
        try:
            data = envelope("Auth/validate", response.content)
        except GatewayError as exc:
            raise AuthenticationError(str(exc), status_code=401) from exc
        token = data.get("newToken")
        if not isinstance(token, str) or not token:
            raise AuthenticationError("Auth/validate gave no newToken", status_code=401)
        logger.debug("session token renewed with Auth/validate")
        return Token.from_jwt(token)

    def _on_token(self, token: Token) -> None:
        for listener in list(self._token_listeners):
            listener(token.value)

    def add_token_listener(self, listener: Callable[[str], object]) -> None:
        """Call ``listener(jwt)`` with every new session token (realtime hubs reconnect with it)."""
        self._token_listeners.append(listener)

    def remove_token_listener(self, listener: Callable[[str], object]) -> None:
        """Stop calling ``listener``."""
        if listener in self._token_listeners:
            self._token_listeners.remove(listener)

    async def token(self, *, renew: bool = False, refused: str | None = None) -> str:
        """Return a valid session token, logging in or renewing it first if needed.

        Args:
            renew: get a new token even if the current one looks valid.
            refused: with ``renew``, the token the server refused: renewed only while it is
                still the current one, so callers refused at once (both hubs after a
                revocation) share one new login instead of replacing each other's token.
        """
        current = self.auth.token
        if renew and refused is not None and current is not None and current.value != refused:
            renew = False  # someone already replaced the refused token
        if renew:
            self.auth.invalidate()
        stale = (
            renew
            or current is None
            or (
                current.expires_at is not None
                and self.clock.time() >= current.expires_at - self.settings.token_leeway
            )
        )
        if stale:
            # Any authenticated call renews the token through the auth flow.
            await self.call("Account/search", {"onlyActiveAccounts": True})
        token = self.auth.token
        assert token is not None
        return token.value

    async def logout(self) -> None:
        """End the session on the Gateway (``Auth/logout``); later calls log in again."""
        if self.auth.token is None:
            return
        await self.call("Auth/logout")
        self.auth.invalidate()

    # -- calls -------------------------------------------------------------------------------

    async def call(self, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a read-only call (retried on transport errors and 5xx); return the envelope.

        Raises:
            GatewayError: ``success: false`` (a subclass per ``errorCode``).
        """
        response = await self.http.post(endpoint, json=body, idempotent=True)
        return envelope(endpoint, response.content)

    async def call_bytes(self, endpoint: str, body: dict[str, Any] | None = None) -> bytes:
        """POST a read-only call like :meth:`call`; return the answer unparsed.

        The caller checks the envelope (:func:`envelope`) on what it decodes itself.
        """
        response = await self.http.post(endpoint, json=body, idempotent=True)
        return response.content

    async def mutate(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST an order-changing call: sent once unless it provably never left.

        The request is shielded from cancellation: once sent, it completes, so the
        connection pool stays sound and the outcome is decided by the Gateway, not by a timeout
        of the caller.

        Raises:
            OrderSubmissionUncertain: it left, but its outcome is unknown (timeout, dropped
                connection, 5xx, unreadable answer).
            GatewayError: the Gateway refused it (``success: false``).
        """
        sent_at = self.clock.time()
        with anyio.CancelScope(shield=True):
            try:
                response = await self.http.post(endpoint, json=body, idempotent=False)
            except ConnectError:
                raise  # never reached the server: certainly not executed
            except (TransportError, ServerError, ResponseTooLargeError) as exc:
                if _during_auth(exc):
                    raise  # the login failed, so the order itself was never sent
                raise _uncertain(endpoint, body, sent_at, exc) from exc
        try:
            return envelope(endpoint, response.content)
        except GatewayError:
            raise
        except ProjectXError as exc:
            raise _uncertain(endpoint, body, sent_at, exc) from exc


def _during_auth(exc: Exception) -> bool:
    # corekit's pipeline notes errors raised by the auth flow (login or refresh), which it
    # raises before the API request is sent.
    return any("while authenticating" in note for note in getattr(exc, "__notes__", ()))


def _uncertain(
    endpoint: str, body: dict[str, Any], sent_at: float, exc: Exception
) -> OrderSubmissionUncertain:
    what = "the order" if endpoint.lower() == "order/place" else "the change"
    msg = (
        f"{endpoint} was sent but its outcome is unknown ({type(exc).__name__}: {exc}); "
        f"{what} may or may not have been executed: call ProjectX.orders.reconcile(error) "
        f"before trying again"
    )
    return OrderSubmissionUncertain(msg, endpoint=endpoint, payload=dict(body), sent_at=sent_at)


def envelope(endpoint: str, content: bytes) -> dict[str, Any]:
    """Parse a Gateway answer; raise the mapped error when ``success`` is false."""
    try:
        data = orjson.loads(content) if content else {}
    except orjson.JSONDecodeError:
        msg = f"{endpoint} answered something that is not JSON: {content[:200]!r}"
        raise ProjectXError(msg) from None
    if not isinstance(data, dict):
        msg = f"{endpoint} answered {type(data).__name__} where a JSON object was expected"
        raise ProjectXError(msg)
    if data.get("success") is False:
        raise gateway_error(endpoint, data.get("errorCode"), data.get("errorMessage"))
    return data
