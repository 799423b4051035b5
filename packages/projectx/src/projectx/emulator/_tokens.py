"""Sessions and their JWTs: issue, check, renew, revoke.

The Gateway's token is a JWT whose payload carries ``exp``; clients read it to refresh in time.
The emulator signs its tokens with HS256 and a per-process random key, so a token from another
emulator run (or a forged one) is unknown, and tracks each session so that logout and
revocation take effect at once. Written by hand because it is a few lines of ``hmac`` and a
JWT library would be a dependency for them.
"""

from __future__ import annotations

__all__ = ["Session", "SessionStore", "TokenProblem"]

import base64
import enum
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass

from corekit.clock import Clock


class TokenProblem(enum.Enum):
    """Why a token was refused."""

    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(slots=True)
class Session:
    """One login: the token's id, owner, expiry and whether it was revoked."""

    jti: str
    username: str
    expires: float
    revoked: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionStore:
    """Issues signed JWTs and remembers their sessions (thread-safe)."""

    def __init__(self, clock: Clock, lifetime: float) -> None:
        self._clock = clock
        self.lifetime = lifetime
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def issue(self, username: str) -> str:
        """A new session for ``username``; returns its JWT."""
        now = self._clock.time()
        session = Session(jti=secrets.token_hex(12), username=username, expires=now + self.lifetime)
        with self._lock:
            self._sessions[session.jti] = session
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        claims = {
            "sub": username,
            "name": username,
            "jti": session.jti,
            "iat": int(now),
            "nbf": int(now),
            # A float exp would be legal JWT, but clients commonly expect a whole number.
            "exp": int(session.expires),
        }
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(self._sign(f"{header}.{payload}"))
        return f"{header}.{payload}.{signature}"

    def _sign(self, text: str) -> bytes:
        return hmac.new(self._key, text.encode("ascii"), hashlib.sha256).digest()

    def lookup(self, token: str) -> Session | None:
        """The session of a token this store signed (expired or revoked ones too), else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            expected = self._sign(f"{parts[0]}.{parts[1]}")
            if not hmac.compare_digest(expected, _unb64(parts[2])):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeError):
            return None
        jti = claims.get("jti") if isinstance(claims, dict) else None
        with self._lock:
            return self._sessions.get(jti) if isinstance(jti, str) else None

    def check(self, token: str) -> tuple[Session | None, TokenProblem | None]:
        """The session of a usable token, or the problem with it."""
        session = self.lookup(token)
        if session is None:
            return None, TokenProblem.UNKNOWN
        if session.revoked:
            return session, TokenProblem.REVOKED
        # int(): the JWT carries whole seconds, and a client may rely on exactly that value.
        if self._clock.time() >= int(session.expires):
            return session, TokenProblem.EXPIRED
        return session, None

    def revoke(self, session: Session) -> None:
        """End one session (logout)."""
        with self._lock:
            session.revoked = True

    def revoke_all(self) -> int:
        """End every live session; returns how many were live."""
        with self._lock:
            live = [s for s in self._sessions.values() if not s.revoked]
            for session in live:
                session.revoked = True
        return len(live)

    def expire_all(self) -> int:
        """Make every live session's token expired now (it can still be renewed)."""
        now = self._clock.time()
        with self._lock:
            live = [s for s in self._sessions.values() if not s.revoked and s.expires > now]
            for session in live:
                session.expires = now
        return len(live)

    def clear(self) -> None:
        """Forget every session."""
        with self._lock:
            self._sessions.clear()
