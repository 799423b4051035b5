"""Keep secrets out of log lines and error messages.

A header or query parameter is secret by the one rule of :mod:`corekit._secrets` (its name
contains ``auth``, ``token``, ``key``, ``session`` ...) or if the client was told so; its value
is replaced by ``[REDACTED]``, as is the password (or a lone user name, often a token) in a
URL.

httpx2 logs every request URL (query string included) at INFO and httpcore2 logs response
headers (``Set-Cookie``) at DEBUG. No library offers a hook for that, so
:func:`install_log_filters` adds a :class:`logging.Filter` to exactly those loggers that
redacts the records in place. Filters are not handlers: where the records go stays the
application's choice.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from contextvars import ContextVar
from urllib.parse import quote

import httpx2

from corekit._secrets import REDACTED, is_secret_name


class Redactor:
    """Decides which names are secret and renders URLs without their secrets.

    Args:
        headers: extra header names to treat as secret.
        params: extra query parameter names to treat as secret.
    """

    __slots__ = ("_headers", "_params")

    def __init__(self, headers: Iterable[str] = (), params: Iterable[str] = ()) -> None:
        self._headers = frozenset(h.lower() for h in headers)
        self._params = frozenset(p.lower() for p in params)

    def is_secret_header(self, name: str) -> bool:
        """Return whether the value of header ``name`` must not be shown."""
        lowered = name.lower()
        return lowered in self._headers or is_secret_name(lowered)

    def is_secret_param(self, name: str) -> bool:
        """Return whether the value of query parameter ``name`` must not be shown."""
        lowered = name.lower()
        return lowered in self._params or is_secret_name(lowered)

    def url(self, url: httpx2.URL) -> str:
        """Render ``url`` with secret query values and credentials redacted."""
        base = self.url_without_query(url)
        if not url.query:
            return base
        parts = [
            f"{quote(name, safe='')}="
            + (REDACTED if self.is_secret_param(name) else quote(value, safe=""))
            for name, value in url.params.multi_items()
        ]
        return f"{base}?{'&'.join(parts)}"

    def url_without_query(self, url: httpx2.URL) -> str:
        """Render ``url`` without its query string and with credentials redacted."""
        userinfo = ""
        if url.password:
            userinfo = f"{url.username}:{REDACTED}@"
        elif url.username:
            userinfo = f"{REDACTED}@"
        port = f":{url.port}" if url.port is not None else ""
        host = f"[{url.host}]" if ":" in url.host else url.host
        return f"{url.scheme}://{userinfo}{host}{port}{url.path}"

    def scrub(self, text: str, url: httpx2.URL) -> str:
        """Replace any rendering of ``url`` in ``text`` (e.g. a library's message) by a safe one."""
        raw = str(url)
        if raw in text:
            text = text.replace(raw, self.url(url))
        return text


_DEFAULT = Redactor()

_ACTIVE: ContextVar[Redactor] = ContextVar("corekit_http_redactor", default=_DEFAULT)
"""The redactor of the client whose request is in flight (set by the clients around a send)."""

# httpcore2 traces render headers as reprs of (name, value) byte pairs.
_QUOTED = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_HEADER_PAIR = re.compile(rf"\(b({_QUOTED}), b{_QUOTED}\)")


class _HttpxRequestFilter(logging.Filter):
    """Redact the URL argument of httpx2's ``HTTP Request: %s %s ...`` records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 1 and isinstance(args[1], httpx2.URL):
            record.args = (args[0], _ACTIVE.get().url(args[1]), *args[2:])
        return True


class _HttpcoreHeaderFilter(logging.Filter):
    """Redact secret header values in httpcore2's DEBUG trace records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "'" in message:
            redacted = _HEADER_PAIR.sub(_redact_pair, message)
            if redacted != message:
                record.msg = redacted
                record.args = None
        return True


def _redact_pair(match: re.Match[str]) -> str:
    quoted_name = match.group(1)
    if _ACTIVE.get().is_secret_header(quoted_name[1:-1]):
        return f"(b{quoted_name}, b'{REDACTED}')"
    return match.group(0)


_installed = False
_install_lock = threading.Lock()


def install_log_filters() -> None:
    """Attach the redacting filters to the httpx2 and httpcore2 loggers (once per process)."""
    global _installed  # noqa: PLW0603
    with _install_lock:
        if _installed:
            return
        logging.getLogger("httpx2").addFilter(_HttpxRequestFilter())
        header_filter = _HttpcoreHeaderFilter()
        for name in ("http11", "http2", "connection", "proxy", "socks"):
            logging.getLogger(f"httpcore2.{name}").addFilter(header_filter)
        _installed = True
