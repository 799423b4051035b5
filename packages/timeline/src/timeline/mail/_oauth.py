"""Renewing the OAuth2 access token of an XOAUTH2 account (the ``refresh_token`` grant).

RFC 6749 section 6: ``POST token_url`` with ``grant_type=refresh_token``, the refresh token,
the client id and secret (``client_secret_post``: form fields, which Google and Microsoft both
accept) and, optionally, the scope. The answer's ``access_token`` and ``expires_in`` are kept,
and a new ``refresh_token`` when the server rotates it (else the old one stays valid).

Why not ``corekit.http.OAuth2Auth``: it is an ``httpx`` auth flow that signs HTTP requests to an
API, runs only the ``client_credentials``/``password`` grants as its base grant, and answers an
``invalid_grant`` refresh by running that grant again. An IMAP login is no HTTP request, and a
refused user refresh token must stop the sync (the user has to reconnect the account), so this
module makes the one token request itself with the same pieces: corekit's
:class:`~corekit.http.AsyncClient` (timeouts, response-size limit, redacted errors) and
Authlib's form encoding (``prepare_token_request``), as ``corekit.http._oauth2`` does.

No secret (client secret, refresh or access token) is ever put into an error message or log.
"""

from __future__ import annotations

__all__ = ["OAuth2Refresh", "RefreshedToken", "TokenRefreshError", "check_token_url", "refresh"]

import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.parameters import prepare_token_request

from corekit.errors import OperationError
from corekit.http import AsyncClient
from timeline._models import utcnow
from timeline.mail._provider import MailProviderError

_LOOPBACK_NAMES = frozenset({"localhost"})
_MAX_RESPONSE = 64 * 1024


@dataclass(frozen=True)
class OAuth2Refresh:
    """An account's OAuth2 refresh configuration (secrets kept out of ``repr``)."""

    token_url: str
    client_id: str
    client_secret: str
    refresh_token: str
    scope: str | None = None

    def __repr__(self) -> str:
        """The token URL and client id only."""
        return f"OAuth2Refresh(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def as_dict(self) -> dict[str, Any]:
        """The stored form (inside the encrypted credentials)."""
        return {
            "token_url": self.token_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OAuth2Refresh:
        """The configuration stored by :meth:`as_dict`."""
        scope = data.get("scope")
        return cls(
            token_url=str(data["token_url"]),
            client_id=str(data["client_id"]),
            client_secret=str(data["client_secret"]),
            refresh_token=str(data["refresh_token"]),
            scope=None if scope is None else str(scope),
        )


@dataclass(frozen=True)
class RefreshedToken:
    """What the token endpoint issued (secrets kept out of ``repr``)."""

    access_token: str
    expires_at: datetime | None
    refresh_token: str | None

    def __repr__(self) -> str:
        """The expiry only."""
        return f"RefreshedToken(expires_at={self.expires_at!r})"


class TokenRefreshError(MailProviderError):
    """The access token could not be renewed (``kind`` is ``auth`` or ``connection``)."""


def _loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token_url(url: str) -> str:
    """``url`` if it may be used as a token endpoint.

    HTTPS is required; plain HTTP only to a loopback host (``localhost``, 127.0.0.0/8, ``::1``),
    for a token endpoint on the same machine and for tests. The refresh token and client
    secret travel in the request body, so they must not cross a network in clear.

    Args:
        url: the token endpoint.

    Returns:
        The URL unchanged.

    Raises:
        ValueError: the URL is not absolute https (or http to loopback); the message says which.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        msg = "token_url must be an absolute https:// URL of the OAuth2 token endpoint"
        raise ValueError(msg)
    if parts.username or parts.password:
        msg = "token_url must not contain credentials; give client_id and client_secret"
        raise ValueError(msg)
    if parts.scheme == "http" and not _loopback(host):
        msg = (
            "token_url must use https: a plain http token endpoint is only accepted on a "
            "loopback host (localhost, 127.0.0.1, ::1)"
        )
        raise ValueError(msg)
    return url


def _shown_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def refresh(
    config: OAuth2Refresh,
    *,
    account: str,
    http_timeout: float,
    client: AsyncClient | None = None,
) -> RefreshedToken:
    """Renew the access token with the ``refresh_token`` grant.

    Args:
        config: the account's refresh configuration.
        account: the account's name, for error messages.
        http_timeout: seconds the token request may take.
        client: an HTTP client to use (default: a fresh one, closed after the request).

    Returns:
        The new access token, its expiry (``None`` if the server gave no ``expires_in``) and
        a rotated refresh token (``None`` if the server kept the old one).

    Raises:
        TokenRefreshError: ``kind="auth"`` when the server refused the refresh token or the
            client (``invalid_grant``, ``invalid_client``, ...), ``kind="connection"`` when it
            could not be reached or gave no usable answer. The message names the account and
            the OAuth error code, never a secret.
    """
    body: str = prepare_token_request(
        "refresh_token",
        refresh_token=config.refresh_token,
        scope=config.scope,
        client_id=config.client_id,
        client_secret=config.client_secret,
    )
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    url = _shown_url(config.token_url)
    own = client is None
    http = client or AsyncClient(
        timeout=http_timeout,
        retry=None,
        max_response_bytes=_MAX_RESPONSE,
        name="timeline-mail-oauth2",
    )
    try:
        response = await http.post(
            config.token_url,
            content=body.encode(),
            headers=headers,
            raise_for_status=False,
            timeout=http_timeout,
        )
    except OperationError as exc:
        msg = (
            f"the OAuth2 token endpoint {url} of account {account!r} could not be reached or "
            f"gave no usable answer ({type(exc).__name__}); the next sync tries again"
        )
        raise TokenRefreshError(msg, kind="connection") from None
    finally:
        if own:
            await http.aclose()
    return _parse(response.status_code, response.content, config, account, url)


def _parse(
    status: int, content: bytes, config: OAuth2Refresh, account: str, url: str
) -> RefreshedToken:
    """The token endpoint's answer as a :class:`RefreshedToken`.

    Raises:
        TokenRefreshError: the answer is an OAuth2 error or carries no access token.
    """
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    error = data.get("error")
    if status >= 400 or error is not None:
        code = error if isinstance(error, str) and error.isascii() else "no OAuth error code"
        code = code[:60]
        if code == "invalid_grant":
            msg = (
                f"the refresh token of account {account!r} was refused (invalid_grant: expired "
                f"or revoked); reconnect the account (PATCH oauth2 with a new refresh_token)"
            )
            raise TokenRefreshError(msg, kind="auth")
        kind: Literal["auth", "connection"] = "auth" if 400 <= status < 500 else "connection"
        msg = (
            f"the OAuth2 token endpoint {url} of account {account!r} refused to renew the "
            f"access token: HTTP {status}, {code}"
        )
        if code == "invalid_client":
            msg += "; check the account's client_id and client_secret"
        raise TokenRefreshError(msg, kind=kind)
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        msg = (
            f"the OAuth2 token endpoint {url} of account {account!r} answered without an "
            f"access_token (HTTP {status})"
        )
        raise TokenRefreshError(msg, kind="connection")
    expires_at = None
    expires_in = data.get("expires_in")
    if isinstance(expires_in, int | float | str) and not isinstance(expires_in, bool):
        try:
            seconds = float(expires_in)
        except ValueError:
            seconds = -1.0
        if 0 <= seconds < 10 * 365 * 86_400:
            expires_at = utcnow() + timedelta(seconds=seconds)
    rotated = data.get("refresh_token")
    if not isinstance(rotated, str) or not rotated or rotated == config.refresh_token:
        rotated = None
    return RefreshedToken(access_token=access_token, expires_at=expires_at, refresh_token=rotated)
