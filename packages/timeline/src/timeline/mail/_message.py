"""Parsing a raw RFC 5322 message into a :class:`MailMessage`, and its event payload.

Parsing uses the standard library's ``email`` package with ``policy.default`` (decoded headers,
address lists); a header it cannot parse is kept as the raw text rather than failing the sync.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from timeline.mail._provider import MailMessage

_MSGID = re.compile(r"<([^<>\s]+)>")
# The instants a chain can store (see timeline._events): outside, the Date is not used.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_MAX_TEXT = 1_000_000


def _raw_values(msg: Message, name: str) -> list[str]:
    """The header's values as the message carries them (no parsing)."""
    wanted = name.lower()
    return [str(v) for k, v in msg.raw_items() if k.lower() == wanted]


def _header(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse: keep the raw text
        raw = _raw_values(msg, name)
        value = raw[0] if raw else None
    if value is None:
        return None
    return " ".join(str(value).split()) or None


def _addresses(msg: Message, name: str) -> list[str]:
    try:
        values = [str(v) for v in msg.get_all(name, [])]
    except Exception:
        values = _raw_values(msg, name)
    try:
        pairs = getaddresses(values)
    except Exception:
        return [" ".join(v.split()) for v in values]
    out = []
    for display, address in pairs:
        if not address and not display:
            continue
        out.append(f"{display} <{address}>" if display else address)
    return out


def _date(msg: Message) -> datetime | None:
    raw = _header(msg, "Date")
    if raw is None:
        return None
    try:
        value = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if value.tzinfo is None:  # "-0000": the zone is unknown; RFC 5322 says read it as UTC
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value if _EARLIEST <= value < _LATEST else None


def _msgids(text: str | None) -> list[str]:
    return _MSGID.findall(text or "")


def normalise_message_id(value: str | None) -> str | None:
    """The Message-ID without angle brackets and whitespace, its domain part lower-cased.

    ``<AbC@Example.ORG>`` and ``abc@example.org``-with-the-same-local-part compare equal only in
    the domain: the local part is case-sensitive (RFC 5322). ``None`` when there is no id.
    """
    if not value:
        return None
    found = _msgids(value)
    text = found[0] if found else "".join(value.split()).strip("<>")
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}" if at else text


def body_digest(raw: bytes) -> str:
    """SHA-256 (hex) of the raw body: the bytes after the blank line that ends the header."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(separator)
        if index >= 0:
            return hashlib.sha256(raw[index + len(separator) :]).hexdigest()
    return hashlib.sha256(b"").hexdigest()


def _attachments(msg: EmailMessage) -> tuple[bool, list[str]]:
    names: list[str] = []
    found = False
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if disposition == "attachment" or (filename and disposition != "inline"):
            found = True
            if filename:
                names.append(" ".join(filename.split()))
    return found, names


def _text_body(msg: EmailMessage) -> str | None:
    """The plain-text (else HTML) body, decoded, with LF line ends, at most 1 MB."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is None:
            return None
        content = part.get_content()
    except Exception:
        return None
    if not isinstance(content, str):
        return None
    return content.replace("\r\n", "\n")[:_MAX_TEXT]


def parse_message(
    raw: bytes, *, uid: int, size: int | None, internal_date: datetime | None, keep_body: bool
) -> MailMessage:
    """``raw`` (a whole RFC 5322 message) as a :class:`MailMessage`."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    has_attachments, names = _attachments(msg)
    return MailMessage(
        uid=uid,
        message_id=normalise_message_id(_header(msg, "Message-ID")),
        subject=_header(msg, "Subject"),
        from_=_addresses(msg, "From"),
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        reply_to=_addresses(msg, "Reply-To"),
        date=_date(msg),
        internal_date=internal_date,
        in_reply_to=normalise_message_id(_header(msg, "In-Reply-To")),
        references=[
            n for n in (normalise_message_id(r) for r in _msgids(_header(msg, "References"))) if n
        ],
        size=size if size is not None else len(raw),
        body_sha256=body_digest(raw),
        has_attachments=has_attachments,
        attachment_names=names,
        text_body=_text_body(msg) if keep_body else None,
    )


def message_key(message: MailMessage) -> str:
    """The dedupe key of a message: SHA-256 of its normalised Message-ID.

    A message without a Message-ID gets a stable surrogate: the SHA-256 of its Date header
    (ISO 8601 UTC, or empty), From addresses, Subject and size, joined by newlines. The same
    message fetched again gives the same key; two different messages without an id collide
    only if all four agree.
    """
    if message.message_id:
        basis = f"id\n{message.message_id}"
    else:
        date = message.date.isoformat() if message.date else ""
        basis = f"surrogate\n{date}\n{','.join(message.from_)}\n{message.subject or ''}\n"
        basis += str(message.size)
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()


def event_time(message: MailMessage) -> datetime:
    """When the message was sent: the Date header, else the server's INTERNALDATE, else now."""
    return message.date or message.internal_date or datetime.now(UTC)


def event_payload(message: MailMessage, *, mailbox: str, validity: int, key: str) -> dict[str, Any]:
    """The payload of the message's ``email_received`` event."""
    payload: dict[str, Any] = {
        "message_id": message.message_id,
        "message_key": key,
        "subject": message.subject,
        "from": message.from_,
        "to": message.to,
        "cc": message.cc,
        "reply_to": message.reply_to,
        "date": message.date.isoformat() if message.date else None,
        "in_reply_to": message.in_reply_to,
        "references": message.references,
        "size": message.size,
        "body_sha256": message.body_sha256,
        "has_attachments": message.has_attachments,
        "attachment_names": message.attachment_names,
        "mailbox": mailbox,
        "uid": message.uid,
        "uidvalidity": validity,
    }
    if message.text_body is not None:
        payload["text_body"] = message.text_body
    return payload
