"""Stateless signed tokens (JWT, HS256) for the emulator's Keycloak token route.

The tokens carry their own expiry and are checked by signature, not looked up, so a restarted
emulator with the same key accepts tokens it issued before (upstream pym2v 0.2.0 caches tokens
process-wide). Revocation is the one piece of state: each token carries a generation number,
and tokens of an older generation than the current one are refused. Hand-written because
HS256 over stdlib ``hmac`` is a few lines, and a JWT library would be a dependency for the
emulator alone.
"""

from __future__ import annotations

__all__ = ["TokenError", "TokenIssuer"]

import base64
import hashlib
import hmac
import json
import math
import uuid
from typing import Any, Literal

from corekit.clock import Clock

TokenType = Literal["Bearer", "Refresh"]

_HEADER = {"alg": "HS256", "typ": "JWT"}


class TokenError(Exception):
    """A token is malformed, forged, expired, revoked or of the wrong type."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and verifies access and refresh tokens signed with one key.

    Args:
        key: HMAC-SHA256 key.
        clock: where ``iat``/``exp`` come from and what verification compares against.
    """

    def __init__(self, key: bytes, clock: Clock) -> None:
        self._key = key
        self._clock = clock
        self._generation = 0

    def issue(
        self, kind: TokenType, *, subject: str, client_id: str, session: str, lifetime: int
    ) -> str:
        """A signed token of ``kind`` valid for ``lifetime`` seconds from now."""
        now = self._clock.time()
        claims = {
            # Rounded up: the token never expires before the expires_in the client was told.
            "exp": math.ceil(now + lifetime),
            "iat": now,
            "jti": str(uuid.uuid4()),
            "iss": "pym2v-emulator/realms/iiot-platform",
            "typ": kind,
            "azp": client_id,
            "sid": session,
            "preferred_username": subject,
            "scope": "email profile",
            "gen": self._generation,
        }
        header = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = _b64(hmac.new(self._key, signing_input, hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}"

    def verify(self, token: str, kind: TokenType) -> dict[str, Any]:
        """The claims of a valid token of ``kind``.

        Raises:
            TokenError: the token is malformed, not signed with this key, of another kind,
                expired, or issued before the last :meth:`revoke`.
        """
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("malformed token")
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            signature = _unb64(parts[2])
            claims = json.loads(_unb64(parts[1]))
        except ValueError as exc:
            raise TokenError("malformed token") from exc
        if not hmac.compare_digest(signature, expected) or not isinstance(claims, dict):
            raise TokenError("invalid signature")
        if claims.get("typ") != kind:
            raise TokenError(f"not a {kind.lower()} token")
        now = self._clock.time()
        if now >= claims["exp"]:
            raise TokenError("token expired")
        if claims.get("gen", -1) < self._generation:
            raise TokenError("token revoked")
        return claims

    def revoke(self) -> None:
        """Refuse every token issued up to now (access and refresh)."""
        self._generation += 1

    def reset(self) -> None:
        """Forget revocations: tokens of every generation are accepted again."""
        self._generation = 0
