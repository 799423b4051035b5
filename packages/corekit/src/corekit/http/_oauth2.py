"""OAuth2 client-credentials and password grants as an httpx2 auth flow, on Authlib.

Authlib does the protocol: the token request body (``prepare_token_request``), client
authentication (``ClientAuth``: ``client_secret_basic`` / ``client_secret_post`` / ``none``),
the bearer header (``add_bearer_token``) and the token model (``OAuth2Token``). Its own httpx
clients cannot be used as they are: they replace our client instead of plugging into it, have no
lazy first fetch, do not lock the sync refresh, do not re-run a password grant, and ignore 401s
(aesthetics study, section B.7). So this module is the thin wrapper the study recommends: token
requests are yielded from the auth flow, so they use the client's own transport and timeouts,
and the lifecycle comes from the state machine in ``_auth_base`` shared with :class:`TokenAuth`.

Parsing the token endpoint's answer is done here, in a few lines: Authlib's parser
(``OAuth2Client.parse_response_token``) needs its session client, raises httpx2's own
exceptions for non-JSON bodies and clears nothing secret from error texts. Expiry is computed
from the injected clock rather than ``OAuth2Token.is_expired`` (which reads ``time.time()``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import httpx2
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import (
    prepare_token_request,
)
from authlib.oauth2.rfc6750 import add_bearer_token

from corekit._secrets import REDACTED
from corekit.clock import Clock, system_clock
from corekit.errors import (
    AuthenticationError,
    ConfigurationError,
    OperationError,
    RateLimitedError,
    ServerError,
)
from corekit.http._auth_base import Flow, Reason, Send, TokenFlowAuth, check_callable
from corekit.http._errors import retry_after

__all__ = ["OAuth2Auth"]

logger = logging.getLogger(__name__)

GrantType = Literal["password", "client_credentials"]
ClientAuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]

_GRANT_TYPES = ("client_credentials", "password")
_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
_RESERVED_PARAMS = frozenset(
    {"grant_type", "username", "password", "client_id", "client_secret", "refresh_token", "scope"}
)
_MAX_DESCRIPTION = 300


class _Refusal:
    """A token endpoint answer that carries no usable token."""

    __slots__ = ("description", "error", "retry_after", "status_code")

    def __init__(
        self,
        status_code: int,
        error: str | None,
        description: str,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.error = error
        self.description = description
        self.retry_after = retry_after


class OAuth2Auth(TokenFlowAuth[dict[str, Any]]):
    """OAuth2 for :class:`httpx2.Client` and :class:`httpx2.AsyncClient` (``auth=``).

    * The first request runs the grant (``client_credentials`` or ``password``).
    * From ``leeway`` seconds before the token expires (at most half its lifetime), the next
      request first renews it: with the ``refresh_token`` grant when the server issued a
      refresh token, else by running the grant again. A refresh refused with ``invalid_grant``
      (expired or revoked refresh token) falls back to the grant, once.
    * A 401 from the API renews the token the same way and sends the request once more; a
      second 401 is returned as it is.
    * One renewal at a time: threads of a sync client, or tasks of an async client, that find
      the token stale wait for the one token request and reuse its result.

    Token requests go through the client's transport with the API request's timeouts. Failures
    raise :class:`~corekit.errors.AuthenticationError` (4xx or an OAuth error body, or a
    malformed answer), :class:`~corekit.errors.RateLimitedError` (429) or
    :class:`~corekit.errors.ServerError` (5xx); their messages carry the OAuth ``error`` code,
    its description and the status, never a secret.

    Args:
        token_url: absolute http(s) URL of the token endpoint.
        client_id: OAuth2 client id.
        client_secret: client secret; required unless ``token_endpoint_auth_method="none"``.
        grant_type: ``"client_credentials"`` or ``"password"`` (resource owner password).
        username: resource owner name (password grant only).
        password: resource owner password (password grant only).
        scope: requested scope, a space-separated string or a sequence of scopes.
        token_endpoint_auth_method: how the client authenticates at the token endpoint:
            HTTP Basic (``client_secret_basic``), form fields (``client_secret_post``) or only
            ``client_id`` in the form (``none``, public clients).
        token: a token persisted earlier (a dict as passed to ``on_token``) to start from.
        on_token: called with a copy of each new token (with ``expires_at``), e.g. to persist
            it. Errors in it are logged, not raised (the token is still used).
        leeway: seconds before expiry at which the token is renewed.
        clock: time source for expiry decisions.
        extra_params: further form fields for the grant request (e.g. ``audience``).

    Raises:
        ConfigurationError: an argument is missing or invalid; the message names it.
    """

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str,
        client_secret: str | None = None,
        grant_type: GrantType = "client_credentials",
        username: str | None = None,
        password: str | None = None,
        scope: str | Sequence[str] | None = None,
        token_endpoint_auth_method: ClientAuthMethod = "client_secret_basic",  # noqa: S107
        token: Mapping[str, Any] | None = None,
        on_token: Callable[[dict[str, Any]], None] | None = None,
        leeway: float = 60.0,
        clock: Clock = system_clock,
        extra_params: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(leeway=leeway, clock=clock)
        self._token_url = _check_url(token_url)
        self._client_id = _check_text("client_id", client_id)
        if grant_type not in _GRANT_TYPES:
            msg = f"grant_type must be one of {', '.join(_GRANT_TYPES)}, got {grant_type!r}"
            raise ConfigurationError(msg)
        if token_endpoint_auth_method not in _AUTH_METHODS:
            msg = (
                f"token_endpoint_auth_method must be one of {', '.join(_AUTH_METHODS)}, "
                f"got {token_endpoint_auth_method!r}"
            )
            raise ConfigurationError(msg)
        if token_endpoint_auth_method != "none":  # noqa: S105
            if client_secret is None:
                msg = (
                    f"client_secret is required with token_endpoint_auth_method="
                    f"{token_endpoint_auth_method!r}; for a public client pass "
                    f"token_endpoint_auth_method='none'"
                )
                raise ConfigurationError(msg)
            _check_text("client_secret", client_secret, show=False)
        if grant_type == "password":
            username = _check_text("username", username, hint="the password grant needs it")
            password = _check_text(
                "password", password, show=False, hint="the password grant needs it"
            )
        elif username is not None or password is not None:
            msg = "username and password are only used with grant_type='password'"
            raise ConfigurationError(msg)
        check_callable("on_token", on_token)
        self._client_secret = client_secret
        self._grant_type: GrantType = grant_type
        self._username = username
        self._password = password
        self._scope = _check_scope(scope)
        self._auth_method: ClientAuthMethod = token_endpoint_auth_method
        self._on_token = on_token
        self._extra_params = _check_extra(extra_params)
        if token is not None:
            self._held = self._hold(self._initial_token(token))

    # -- public ------------------------------------------------------------------------------

    @property
    def token(self) -> dict[str, Any] | None:
        """A copy of the current token (``access_token``, ``expires_at``, ...) or ``None``."""
        current = self._current()
        return None if current is None else dict(current)

    def __repr__(self) -> str:
        secret = ", client_secret='***'" if self._client_secret is not None else ""
        return (
            f"OAuth2Auth({_strip_query(self._token_url)!r}, client_id={self._client_id!r}"
            f"{secret}, grant_type={self._grant_type!r}, "
            f"token_endpoint_auth_method={self._auth_method!r}, "
            f"token={'none' if self._held is None else 'held'})"
        )

    # -- hooks of the shared flow ------------------------------------------------------------

    def _obtain(
        self,
        current: dict[str, Any] | None,
        reason: Reason,  # noqa: ARG002 - refresh or grant depends only on the refresh token
        request: httpx2.Request,
    ) -> Flow[dict[str, Any]]:
        refresh_token = None if current is None else current.get("refresh_token")
        if isinstance(refresh_token, str) and refresh_token:
            body = prepare_token_request("refresh_token", refresh_token=refresh_token)
            outcome = yield from self._token_request(body, request, "refresh_token")
            if not isinstance(outcome, _Refusal):
                # Servers may omit an unchanged refresh token (RFC 6749 section 6).
                outcome.setdefault("refresh_token", refresh_token)
                return outcome
            if outcome.error != "invalid_grant":
                raise self._error(outcome, "refresh_token", current)
            logger.info(
                "OAuth2Auth: the refresh token was refused (invalid_grant); "
                "running the %s grant again",
                self._grant_type,
            )
        outcome = yield from self._token_request(self._grant_body(), request, self._grant_type)
        if isinstance(outcome, _Refusal):
            raise self._error(outcome, self._grant_type, current)
        return outcome

    def _apply(self, request: httpx2.Request, token: dict[str, Any]) -> None:
        # Always "Bearer", whatever the token_type says (Keycloak et al. send "Bearer";
        # other schemes such as DPoP need proofs this flow does not make).
        _, headers, _ = add_bearer_token(token["access_token"], "", {}, "")
        request.headers.update(headers)

    def _expiry(self, token: dict[str, Any]) -> tuple[float | None, float | None]:
        expires_at = token.get("expires_at")
        expires_in = token.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else None
        return (None if expires_at is None else float(expires_at)), lifetime

    def _notify(self, token: dict[str, Any]) -> None:
        if self._on_token is None:
            return
        try:
            self._on_token(dict(token))
        except Exception:
            logger.warning(
                "OAuth2Auth: on_token hook failed; the new token is used but was not persisted",
                exc_info=True,
            )

    # -- protocol ----------------------------------------------------------------------------

    def _grant_body(self) -> str:
        params: dict[str, Any] = dict(self._extra_params)
        if self._scope is not None:
            params["scope"] = self._scope
        if self._grant_type == "password":
            params["username"] = self._username
            params["password"] = self._password
        body: str = prepare_token_request(self._grant_type, **params)
        return body

    def _token_request(
        self,
        body: str,
        request: httpx2.Request,
        grant: str,
    ) -> Flow[dict[str, Any] | _Refusal]:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        client = ClientAuth(self._client_id, self._client_secret, self._auth_method)
        _, headers, body = client.prepare("POST", self._token_url, headers, body)
        extensions = {}
        if "timeout" in request.extensions:
            # A request built here has no timeouts of its own: borrow the API request's.
            extensions["timeout"] = request.extensions["timeout"]
        token_request = httpx2.Request(
            "POST",
            self._token_url,
            headers=headers,
            content=body.encode(),
            extensions=extensions,
        )
        logger.debug(
            "OAuth2Auth: requesting a token (grant_type=%s) from %s",
            grant,
            _strip_query(self._token_url),
        )
        response: httpx2.Response = yield Send(token_request, read_body=True)
        return self._parse(response)

    def _parse(self, response: httpx2.Response) -> dict[str, Any] | _Refusal:
        status = response.status_code
        if status == httpx2.codes.TOO_MANY_REQUESTS:
            return _Refusal(
                status,
                _error_code(response),
                "the token endpoint is rate limiting",
                retry_after(response, now=self._clock.time()),
            )
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if isinstance(data, dict) and ("error" in data or status >= httpx2.codes.BAD_REQUEST):
            error = data.get("error")
            description = data.get("error_description")
            return _Refusal(
                status,
                error if isinstance(error, str) else None,
                description if isinstance(description, str) else "",
            )
        if status >= httpx2.codes.BAD_REQUEST:
            return _Refusal(status, None, "the answer is not an OAuth2 error object")
        if not isinstance(data, dict):
            return _Refusal(status, None, "malformed token response: the body is not a JSON object")
        access_token = data.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            return _Refusal(status, None, "malformed token response: it has no access_token")
        return self._received(data)

    def _received(self, data: dict[str, Any]) -> dict[str, Any]:
        token = dict(data)
        expires_in = token.get("expires_in")
        token.pop("expires_at", None)
        if expires_in is not None:
            try:
                seconds = float(expires_in)
            except (TypeError, ValueError):
                seconds = math.nan
            if math.isfinite(seconds):
                if isinstance(expires_in, str):
                    token["expires_in"] = seconds
                token["expires_at"] = self._clock.time() + seconds
            else:
                # OAuth2Token would compute from time.time() or fail on it: drop it instead.
                logger.warning(
                    "OAuth2Auth: ignoring invalid expires_in %r; the token is renewed on 401",
                    str(expires_in)[:40],
                )
                del token["expires_in"]
        return dict(OAuth2Token.from_dict(token))

    def _initial_token(self, token: object) -> dict[str, Any]:
        if not isinstance(token, Mapping):
            msg = f"token must be a mapping as passed to on_token, got {type(token).__name__}"
            raise ConfigurationError(msg)
        access_token = token.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            msg = "token must contain a non-empty 'access_token' string"
            raise ConfigurationError(msg)
        expires_at = token.get("expires_at")
        if expires_at is None:
            return self._received(dict(token))
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
            msg = f"token['expires_at'] must be epoch seconds (a number), got {expires_at!r}"
            raise ConfigurationError(msg)
        return dict(OAuth2Token.from_dict(dict(token)))

    def _error(
        self, refusal: _Refusal, grant: str, current: dict[str, Any] | None
    ) -> OperationError:
        secrets = [self._client_secret, self._password]
        if current is not None:
            secrets += [current.get("access_token"), current.get("refresh_token")]
        description = _scrub(refusal.description, secrets)[:_MAX_DESCRIPTION]
        url = _strip_query(self._token_url)
        code = refusal.error or "no OAuth error code"
        message = (
            f"OAuth2 token request (grant_type={grant}) to {url} failed: "
            f"HTTP {refusal.status_code}, {code}"
        )
        if description:
            message += f": {description}"
        body = json.dumps({"error": refusal.error, "error_description": description})
        fields: dict[str, Any] = {
            "status_code": refusal.status_code,
            "method": "POST",
            "url": url,
            "body": body,
        }
        if refusal.status_code == httpx2.codes.TOO_MANY_REQUESTS:
            return RateLimitedError(message, retry_after=refusal.retry_after, **fields)
        if refusal.status_code >= httpx2.codes.INTERNAL_SERVER_ERROR:
            return ServerError(message, **fields)
        return AuthenticationError(message, **fields)


def _check_url(url: object) -> str:
    if isinstance(url, str):
        try:
            parsed = httpx2.URL(url)
        except httpx2.InvalidURL:
            pass
        else:
            if parsed.scheme in {"http", "https"} and parsed.host:
                return url
        shown = _strip_query(url)
    else:
        shown = type(url).__name__
    msg = f"token_url must be an absolute http(s) URL, got {shown!r}"
    raise ConfigurationError(msg)


def _check_text(name: str, value: object, *, show: bool = True, hint: str = "") -> str:
    if isinstance(value, str) and value:
        return value
    shown = repr(value) if show or value is None or value == "" else type(value).__name__
    msg = f"{name} must be a non-empty string, got {shown}"
    if hint:
        msg += f" ({hint})"
    raise ConfigurationError(msg)


def _check_scope(scope: object) -> str | None:
    if scope is None:
        return None
    if isinstance(scope, str):
        return scope or None
    if isinstance(scope, Sequence | set | frozenset) and all(isinstance(s, str) for s in scope):
        return " ".join(scope) or None
    msg = f"scope must be a string or a sequence of strings, got {scope!r}"
    raise ConfigurationError(msg)


def _check_extra(extra: object) -> dict[str, str]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        msg = f"extra_params must be a mapping of form fields, got {type(extra).__name__}"
        raise ConfigurationError(msg)
    reserved = sorted(_RESERVED_PARAMS.intersection(extra))
    if reserved:
        msg = (
            f"extra_params must not set {', '.join(reserved)}: "
            f"use the OAuth2Auth arguments of those names"
        )
        raise ConfigurationError(msg)
    return {str(k): str(v) for k, v in extra.items()}


def _error_code(response: httpx2.Response) -> str | None:
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None


def _strip_query(url: str) -> str:
    try:
        return str(httpx2.URL(url).copy_with(query=None, fragment=None, username=None))
    except (httpx2.InvalidURL, TypeError):
        return "<invalid URL>"


def _scrub(text: str, secrets: Sequence[object]) -> str:
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text
