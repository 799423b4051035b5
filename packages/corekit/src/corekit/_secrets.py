"""What counts as a secret, decided in one place for the whole of corekit.

The HTTP client's logs and errors and the emulators' request log (``corekit.testing``) hide
the same things the same way: the value of any header, query parameter or body field whose name
looks secret is replaced by :data:`REDACTED`. Over-redacting a harmless value costs a little
readability; under-redacting leaks a credential into a log, so the rule errs wide.
"""

from __future__ import annotations

import functools

__all__ = ["REDACTED", "could_hold_secret", "is_secret_name"]

REDACTED = "[REDACTED]"
"""What a secret value is replaced with."""

# A name containing one of these (lower case) is secret: "Authorization", "X-Auth-Token",
# "client_secret", "refresh_token", "X-API-Key", "apiKey", "Set-Cookie", "sessionid", ...
_FRAGMENTS = (
    "auth",
    "token",
    "secret",
    "password",
    "passwd",
    "api-key",
    "api_key",
    "apikey",
    "key",
    "cookie",
    "session",
    "signature",
    "credential",
)
# Short names that are secrets on their own (OAuth codes, signed-URL signatures) but too
# common as fragments.
_EXACT = frozenset({"code", "sig", "jwt"})


_FRAGMENT_BYTES = tuple(f.encode() for f in _FRAGMENTS)
_EXACT_QUOTED = tuple(b'"%s"' % name.encode() for name in _EXACT)


# Names repeat (the same JSON members in every request), so the answer is cached; the bound
# keeps a stream of distinct names from growing the cache.
@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Return whether values named ``name`` (a header, parameter or field) must be hidden."""
    lowered = name.lower()
    return lowered in _EXACT or any(fragment in lowered for fragment in _FRAGMENTS)


def could_hold_secret(text: bytes) -> bool:
    """Return False when no name in the JSON ``text`` can be secret, by a fast byte scan.

    A True answer means only "look closer": the fragment may sit in a value, not a name.
    """
    lowered = text.lower()
    return any(f in lowered for f in _FRAGMENT_BYTES) or any(q in lowered for q in _EXACT_QUOTED)
