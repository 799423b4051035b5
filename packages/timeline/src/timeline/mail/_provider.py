"""What a mail provider gives the sync: a protocol, a provider-neutral message, and its errors.

A provider reads one mailbox incrementally. Its position is (``validity``, ``last_uid``), as in
IMAP (UIDVALIDITY and UID): UIDs only grow while the validity stays the same. When the server
reports another validity the old UIDs mean nothing any more; the provider then lists the
mailbox from the start and says so (``validity_changed``), and the sync relies on Message-ID
dedupe to import nothing twice.
"""

from __future__ import annotations

__all__ = [
    "FetchResult",
    "MailMessage",
    "MailProvider",
    "MailProviderError",
    "Position",
    "ProgressCallback",
]

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from timeline.errors import TimelineError


class MailProviderError(TimelineError):
    """The mail server could not be used; the message says why (never a credential).

    Args:
        message: what failed, naming the account and what to check.
        kind: ``connection`` (refused, unreachable, timeout), ``tls`` (certificate or
            handshake), ``auth`` (credentials refused), ``mailbox`` (cannot select the
            mailbox) or ``protocol`` (an unexpected answer).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: Literal["connection", "tls", "auth", "mailbox", "protocol"],
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Position:
    """Where the previous sync stopped: the mailbox validity and the last UID imported."""

    validity: int | None
    last_uid: int = 0


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One message, parsed into what an ``email_received`` event records.

    Addresses are ``"Name <addr>"`` strings as the headers give them (decoded); ``date`` is
    the Date header as aware UTC (``None`` when missing or unparseable); ``body_sha256`` is
    the SHA-256 of the raw body bytes (everything after the blank line ending the header).
    """

    uid: int
    message_id: str | None
    subject: str | None
    from_: list[str]
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    date: datetime | None
    internal_date: datetime | None
    in_reply_to: str | None
    references: list[str]
    size: int
    body_sha256: str
    has_attachments: bool
    attachment_names: list[str] = field(default_factory=list)
    text_body: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch returned.

    Attributes:
        validity: the mailbox's current validity.
        validity_changed: the stored validity differed, so the mailbox was listed from the start.
        messages: the new messages, by UID.
        last_uid: the position to store (the highest UID listed, even if that message vanished
            before it could be fetched).
        remaining: new messages left for the next fetch (beyond ``limit``).
    """

    validity: int
    validity_changed: bool
    messages: list[MailMessage]
    last_uid: int
    remaining: int


ProgressCallback = Callable[[int, int], Awaitable[None]]
"""Called with (messages fetched so far, messages this fetch will return)."""


class MailProvider(Protocol):
    """A source of new messages in one mailbox."""

    async def fetch(
        self,
        position: Position,
        *,
        limit: int,
        keep_body: bool,
        progress: ProgressCallback,
    ) -> FetchResult:
        """The messages after ``position``, oldest first, at most ``limit`` of them.

        Args:
            position: the stored position; a different validity on the server means the
                mailbox is listed again from the start.
            limit: the most messages to return (the rest stay for the next fetch).
            keep_body: fill :attr:`MailMessage.text_body`.
            progress: awaited after every chunk of messages fetched.

        Raises:
            MailProviderError: the server could not be reached, refused the credentials,
                or answered unexpectedly.
        """
        ...
