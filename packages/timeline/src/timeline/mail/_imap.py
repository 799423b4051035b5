"""The IMAP provider: the standard library's ``imaplib`` in a worker thread.

Why ``imaplib``: it is complete for what a sync needs (TLS and STARTTLS with an
``ssl.SSLContext``, LOGIN, AUTHENTICATE, UID SEARCH/FETCH) and adds no dependency; its calls
block, so each step runs in a worker thread (``anyio.to_thread``) with a socket timeout.

Security: plain-text IMAP is refused (``tls`` on port 993 or ``starttls`` on 143); the server
certificate is always verified, against the system CAs or an account's own CA bundle
(``tls_ca_pem``), and the host name checked. The mailbox is opened read-only (EXAMINE) and
bodies are fetched with ``BODY.PEEK[]``, so a sync changes no flag on the server.
"""

from __future__ import annotations

__all__ = ["ImapConfig", "ImapProvider"]

import contextlib
import imaplib
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

import anyio.to_thread

from timeline.mail._message import parse_message
from timeline.mail._provider import (
    FetchResult,
    MailMessage,
    MailProviderError,
    Position,
    ProgressCallback,
)

T = TypeVar("T")

_CHUNK = 25
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


@dataclass(frozen=True)
class ImapConfig:
    """How to reach and log in to one IMAP mailbox.

    ``secret`` is the password (``auth="password"``) or an OAuth2 access token
    (``auth="xoauth2"``); ``account`` names the account in error messages.
    """

    account: str
    host: str
    port: int
    security: Literal["tls", "starttls"]
    username: str
    secret: str
    auth: Literal["password", "xoauth2"] = "password"
    mailbox: str = "INBOX"
    tls_ca_pem: str | None = None
    timeout: float = 30.0

    def __repr__(self) -> str:
        """Everything but the credentials."""
        return (
            f"ImapConfig(account={self.account!r}, host={self.host!r}, port={self.port}, "
            f"security={self.security!r}, auth={self.auth!r}, mailbox={self.mailbox!r})"
        )


def tls_context(ca_pem: str | None) -> ssl.SSLContext:
    """A verifying client TLS context: the system CAs, or only ``ca_pem`` when given.

    Raises:
        ssl.SSLError: ``ca_pem`` holds no usable certificate.
    """
    if ca_pem:
        return ssl.create_default_context(cadata=ca_pem)
    return ssl.create_default_context()


def quote_mailbox(name: str) -> str:
    """``name`` as an IMAP quoted string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _internaldate(meta: bytes) -> datetime | None:
    found = _INTERNALDATE.search(meta)
    if found is None:
        return None
    try:
        return datetime.strptime(found.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


def parse_fetch(data: list[object], *, keep_body: bool) -> list[MailMessage]:
    """The messages of an ``imaplib`` ``UID FETCH (UID RFC822.SIZE INTERNALDATE BODY.PEEK[])``."""
    records: list[tuple[bytes, bytes]] = []
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            meta, literal = item
            records.append((bytes(meta), bytes(literal)))
        elif isinstance(item, bytes) and records:
            # The rest of the FETCH item after the literal (``)`` or `` UID 5)``).
            meta, literal = records[-1]
            records[-1] = (meta + item, literal)
    messages = []
    for meta, raw in records:
        uid = _UID.search(meta)
        if uid is None:
            continue
        size = _SIZE.search(meta)
        messages.append(
            parse_message(
                raw,
                uid=int(uid.group(1)),
                size=int(size.group(1)) if size else None,
                internal_date=_internaldate(meta),
                keep_body=keep_body,
            )
        )
    return messages


class _XOAuth2:
    """The SASL XOAUTH2 exchange: the initial response, then an empty answer to an error."""

    def __init__(self, username: str, token: str) -> None:
        self._initial: bytes | None = f"user={username}\x01auth=Bearer {token}\x01\x01".encode()

    def __call__(self, _challenge: bytes) -> bytes:
        initial, self._initial = self._initial, None
        # On failure the server sends a JSON error as a challenge; an empty line ends it.
        return initial if initial is not None else b""


class ImapProvider:
    """A :class:`~timeline.mail._provider.MailProvider` over IMAP4rev1.

    Args:
        config: where and how to log in.
    """

    def __init__(self, config: ImapConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        """The provider and its configuration, without credentials."""
        return f"ImapProvider({self.config!r})"

    @property
    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one blocking step, mapping failures to :class:`MailProviderError`."""
        name = self.config.account
        try:
            return fn()
        except MailProviderError:
            raise
        except ssl.SSLCertVerificationError as exc:
            msg = (
                f"the TLS certificate of {self._where} (account {name}) could not be verified: "
                f"{exc.verify_message}; give the account the CA that signed it (tls_ca_pem)"
            )
            raise MailProviderError(msg, kind="tls") from exc
        except ssl.SSLError as exc:
            msg = f"the TLS handshake with {self._where} (account {name}) failed: {exc.reason}"
            raise MailProviderError(msg, kind="tls") from exc
        except ConnectionRefusedError as exc:
            msg = f"connection to {self._where} refused (account {name}); check host and port"
            raise MailProviderError(msg, kind="connection") from exc
        except TimeoutError as exc:
            msg = f"the IMAP server {self._where} (account {name}) timed out while {what}"
            raise MailProviderError(msg, kind="connection") from exc
        except imaplib.IMAP4.abort as exc:
            msg = (
                f"the IMAP server {self._where} (account {name}) closed the connection while "
                f"{what}: {_text(exc)}"
            )
            raise MailProviderError(msg, kind="protocol") from exc
        except imaplib.IMAP4.error as exc:
            msg = f"the IMAP server {self._where} (account {name}) refused {what}: {_text(exc)}"
            raise MailProviderError(msg, kind="protocol") from exc
        except OSError as exc:
            msg = f"cannot reach {self._where} (account {name}): {exc.strerror or exc}"
            raise MailProviderError(msg, kind="connection") from exc

    def _connect(self) -> imaplib.IMAP4:
        cfg = self.config
        try:
            context = tls_context(cfg.tls_ca_pem)
        except ssl.SSLError as exc:
            msg = f"the CA bundle of account {cfg.account} is not usable PEM: {exc.reason}"
            raise MailProviderError(msg, kind="tls") from exc
        if cfg.security == "tls":
            return imaplib.IMAP4_SSL(cfg.host, cfg.port, ssl_context=context, timeout=cfg.timeout)
        conn = imaplib.IMAP4(cfg.host, cfg.port, timeout=cfg.timeout)
        try:
            conn.starttls(context)
        except imaplib.IMAP4.error as exc:
            _shutdown(conn)
            msg = (
                f"the IMAP server {self._where} (account {cfg.account}) does not offer STARTTLS;"
                " plain-text IMAP is refused: use security 'tls' (port 993) if it offers that"
            )
            raise MailProviderError(msg, kind="tls") from exc
        except BaseException:
            _shutdown(conn)
            raise
        return conn

    def _login(self, conn: imaplib.IMAP4) -> None:
        cfg = self.config
        try:
            if cfg.auth == "xoauth2":
                conn.authenticate("XOAUTH2", _XOAuth2(cfg.username, cfg.secret))
            else:
                conn.login(cfg.username, cfg.secret)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            msg = f"the IMAP server refused the credentials of account {cfg.account}"
            raise MailProviderError(msg, kind="auth") from exc

    def _open(self, position: Position) -> tuple[imaplib.IMAP4, int, bool, list[int]]:
        conn = self._connect()
        try:
            self._login(conn)
            typ, data = conn.select(quote_mailbox(self.config.mailbox), readonly=True)
            if typ != "OK":
                msg = (
                    f"mailbox {self.config.mailbox!r} of account {self.config.account} cannot be "
                    f"opened: {_text(data)}"
                )
                raise MailProviderError(msg, kind="mailbox")
            _, values = conn.response("UIDVALIDITY")
            if not values or values[0] is None:
                msg = f"the IMAP server {self._where} sent no UIDVALIDITY for the mailbox"
                raise MailProviderError(msg, kind="protocol")
            validity = int(values[0])
            changed = position.validity is not None and position.validity != validity
            after = 0 if changed or position.validity is None else position.last_uid
            typ, data = conn.uid("SEARCH", f"UID {after + 1}:*")
            if typ != "OK":
                msg = f"the IMAP server {self._where} refused UID SEARCH: {_text(data)}"
                raise MailProviderError(msg, kind="protocol")
            # "n:*" always includes the last message, even when its UID is below n: filter.
            uids = sorted(
                {int(u) for chunk in data if chunk for u in bytes(chunk).split() if int(u) > after}
            )
        except BaseException:
            _close(conn)
            raise
        return conn, validity, changed, uids

    def _fetch_chunk(
        self, conn: imaplib.IMAP4, uids: list[int], keep_body: bool
    ) -> list[MailMessage]:
        typ, data = conn.uid(
            "FETCH", ",".join(map(str, uids)), "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])"
        )
        if typ != "OK":
            msg = f"the IMAP server {self._where} refused UID FETCH: {_text(data)}"
            raise MailProviderError(msg, kind="protocol")
        return parse_fetch(list(data), keep_body=keep_body)

    async def fetch(
        self,
        position: Position,
        *,
        limit: int,
        keep_body: bool,
        progress: ProgressCallback,
    ) -> FetchResult:
        """See :meth:`timeline.mail._provider.MailProvider.fetch`."""
        conn, validity, changed, uids = await anyio.to_thread.run_sync(
            self._call, "logging in and opening the mailbox", lambda: self._open(position)
        )
        try:
            selected, remaining = uids[:limit], max(0, len(uids) - limit)
            messages: list[MailMessage] = []
            await progress(0, len(selected))
            for start in range(0, len(selected), _CHUNK):
                chunk = selected[start : start + _CHUNK]
                fetched = await anyio.to_thread.run_sync(
                    self._call,
                    "fetching messages",
                    lambda chunk=chunk: self._fetch_chunk(conn, chunk, keep_body),
                )
                messages.extend(fetched)
                await progress(len(messages), len(selected))
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close, conn)
        messages.sort(key=lambda m: m.uid)
        if selected:
            last_uid = selected[-1]
        else:
            last_uid = 0 if changed or position.validity is None else position.last_uid
        return FetchResult(
            validity=validity,
            validity_changed=changed,
            messages=messages,
            last_uid=last_uid,
            remaining=remaining,
        )


def _shutdown(conn: imaplib.IMAP4) -> None:
    """Close the socket; it may already be gone (a failed TLS handshake closes it)."""
    with contextlib.suppress(Exception):
        conn.shutdown()


def _close(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except Exception:  # the connection may already be gone; nothing to hand back
        _shutdown(conn)


def _text(value: object) -> str:
    """Server text from an imaplib error or response (bounded, printable)."""
    if isinstance(value, list):
        value = b" ".join(v if isinstance(v, bytes) else str(v).encode() for v in value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(str(value).split())
    return text[:300]
