"""Credentials and permissions: passwords, tokens, API keys and role-based access.

Passwords are hashed with argon2 (pwdlib) in a worker thread, so a login never stalls the event
loop. Access and refresh tokens are HS256 JWTs carrying the user's ``token_version``: bumping it
(deactivation, password change) invalidates every token issued before. API keys are random
256-bit secrets; only their SHA-256 is stored, which is enough for secrets of that entropy.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio.to_thread
import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from timeline.errors import UnauthorizedError

RESOURCES = (
    "api_key",
    "audit",
    "checkpoint",
    "document",
    "email_account",
    "event",
    "role",
    "schema",
    "subject",
    "tenant",
    "user",
    "verification",
    "workflow",
)

SEEDED_ROLES: dict[str, tuple[str, list[str]]] = {
    "admin": ("Administrator", ["*:*"]),
    "manager": (
        "Manager",
        [
            "subject:*",
            "schema:*",
            "event:*",
            "verification:*",
            "checkpoint:*",
            "document:*",
            "email_account:*",
            "workflow:*",
            "audit:read",
            "user:read",
            "role:read",
            "tenant:read",
        ],
    ),
    "agent": (
        "Agent",
        [
            "subject:read",
            "subject:create",
            "event:read",
            "event:create",
            "schema:read",
            "document:read",
            "document:create",
        ],
    ),
    "auditor": ("Auditor", ["*:read", "verification:run", "checkpoint:create"]),
}

API_KEY_PREFIX = "tlk_"
# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): about 30 ms here, so logins on a
# small server stay responsive; pwdlib's default costs ten times that.
_hasher = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19_456, parallelism=1),))


async def hash_password(password: str) -> str:
    """The argon2 hash of ``password`` (computed off the event loop)."""
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def check_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches ``hashed``."""
    return await anyio.to_thread.run_sync(_hasher.verify, password, hashed)


@functools.cache
def _dummy_hash() -> str:
    # A real hash to compare against when the user does not exist, so the answer takes as long.
    return _hasher.hash(secrets.token_hex(8))


async def check_password_or_dummy(password: str, hashed: str | None) -> bool:
    """Like :func:`check_password`, spending the same time when there is no user."""
    ok = await check_password(password, hashed or _dummy_hash())
    return ok and hashed is not None


def new_api_key() -> tuple[str, str]:
    """A fresh API key and the hash to store."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_api_key(key)


def hash_api_key(key: str) -> str:
    """What is stored for ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


def permission_granted(granted: Iterable[str], needed: str) -> bool:
    """Whether any of ``granted`` (wildcards allowed) covers ``needed`` (``resource:action``)."""
    resource, _, action = needed.partition(":")
    return any(
        p in (needed, "*:*", f"{resource}:*", f"*:{action}")
        for p in granted  # wildcards only as a whole segment
    )


def valid_permission(permission: str) -> bool:
    """Whether ``permission`` is ``resource:action`` with known parts or wildcards."""
    resource, sep, action = permission.partition(":")
    return (
        bool(sep)
        and (resource == "*" or resource in RESOURCES)
        and (action == "*" or (action.isidentifier() and action.islower()))
    )


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user or an API key of one tenant, with its permissions."""

    tenant_id: str
    kind: Literal["user", "api_key"]
    id: str
    permissions: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor(self) -> str:
        """``user:<id>`` or ``api_key:<id>``, as recorded in the audit trail."""
        return f"{self.kind}:{self.id}"

    def can(self, permission: str) -> bool:
        """Whether this principal holds ``permission``."""
        return permission_granted(self.permissions, permission)


TokenType = Literal["access", "refresh"]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says."""

    user_id: str
    tenant_id: str
    version: int


class TokenIssuer:
    """Issues and checks access and refresh tokens.

    Args:
        secret: the HMAC key.
        access_ttl: access token lifetime in seconds.
        refresh_ttl: refresh token lifetime in seconds.
    """

    #: Verified tokens remembered, so a client's repeated token skips the HMAC and JSON work.
    CHECKED_CACHE = 4096

    def __init__(self, secret: str, *, access_ttl: int, refresh_ttl: int) -> None:
        self._secret = secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        # (token, kind) -> (claims, exp); only tokens whose signature and claims checked out.
        # The expiry is checked again on every use; revocation is the database's job.
        self._checked: OrderedDict[tuple[str, str], tuple[TokenClaims, int]] = OrderedDict()

    def issue(self, user_id: str, tenant_id: str, version: int, kind: TokenType) -> str:
        """A signed token of ``kind``."""
        now = int(time.time())
        ttl = self.access_ttl if kind == "access" else self.refresh_ttl
        claims: dict[str, Any] = {
            "sub": user_id,
            "tid": tenant_id,
            "ver": version,
            "typ": kind,
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def check(self, token: str, kind: TokenType) -> TokenClaims:
        """The claims of ``token``.

        Raises:
            UnauthorizedError: bad signature, expired, or not a ``kind`` token.
        """
        known = self._checked.get((token, kind))
        if known is not None:
            if known[1] > time.time():
                return known[0]
            del self._checked[token, kind]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "tid", "typ", "ver"]},
            )
        except jwt.ExpiredSignatureError as exc:
            msg = "the token has expired; refresh it or log in again"
            raise UnauthorizedError(msg) from exc
        except jwt.InvalidTokenError as exc:
            msg = "the token is not valid; log in again"
            raise UnauthorizedError(msg) from exc
        if claims["typ"] != kind:
            msg = f"a {claims['typ']} token cannot be used here; send the {kind} token"
            raise UnauthorizedError(msg)
        checked = TokenClaims(str(claims["sub"]), str(claims["tid"]), int(claims["ver"]))
        self._checked[token, kind] = (checked, int(claims["exp"]))
        if len(self._checked) > self.CHECKED_CACHE:
            self._checked.popitem(last=False)
        return checked
