"""Parsing messages into ``email_received`` payloads (no server needed)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from dovecot_support import make_message

from timeline.mail._imap import parse_fetch, quote_mailbox
from timeline.mail._message import (
    body_digest,
    event_payload,
    event_time,
    message_key,
    normalise_message_id,
    parse_message,
)


def test_message_ids_are_normalised() -> None:
    assert normalise_message_id(" <Abc.1@Example.ORG> ") == "Abc.1@example.org"
    assert normalise_message_id("abc@EXAMPLE.org") == "abc@example.org"
    assert normalise_message_id("<x@y>\r\n (comment)") == "x@y"
    assert normalise_message_id("") is None
    assert normalise_message_id(None) is None
    assert normalise_message_id("<>") is None


def test_surrogate_key_is_stable_and_distinct() -> None:
    raw = make_message(1, message_id=None)
    first = parse_message(raw, uid=1, size=len(raw), internal_date=None, keep_body=False)
    again = parse_message(raw, uid=99, size=len(raw), internal_date=None, keep_body=False)
    assert first.message_id is None
    assert message_key(first) == message_key(again)
    other = make_message(2, message_id=None)
    second = parse_message(other, uid=2, size=len(other), internal_date=None, keep_body=False)
    assert message_key(first) != message_key(second)
    with_id = parse_message(make_message(1), uid=1, size=None, internal_date=None, keep_body=False)
    assert message_key(with_id) != message_key(first)


def test_malformed_messages_still_parse() -> None:
    raw = (
        b"From: =?utf-8?q?broken <not an address\r\n"
        b"To: ,,,\r\n"
        b"Date: the day after tomorrow\r\n"
        b"Subject: =?unknown-charset?b?SGVsbG8=?=\r\n"
        b"Message-ID: no brackets@Host.Example\r\n"
        b"\r\n"
        b"\xff\xfe body bytes \x00\r\n"
    )
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    message = parse_message(raw, uid=3, size=None, internal_date=when, keep_body=True)
    assert message.message_id == "nobrackets@host.example"
    assert message.date is None
    assert event_time(message) == when  # INTERNALDATE when the Date is unusable
    assert message.size == len(raw)
    assert message.body_sha256 == hashlib.sha256(b"\xff\xfe body bytes \x00\r\n").hexdigest()
    assert message.has_attachments is False
    payload = event_payload(message, mailbox="INBOX", validity=5, key=message_key(message))
    assert payload["uid"] == 3
    assert payload["uidvalidity"] == 5
    assert isinstance(payload["subject"], str)
    nothing = parse_message(b"", uid=1, size=0, internal_date=None, keep_body=True)
    assert (nothing.message_id, nothing.subject, nothing.from_) == (None, None, [])
    assert nothing.body_sha256 == hashlib.sha256(b"").hexdigest()


def test_dates_and_zones() -> None:
    raw = make_message(1).replace(b"Date: ", b"Date: Thu, 1 Jan 2026 10:00:00 +0200\r\nX-Old: ", 1)
    message = parse_message(raw, uid=1, size=None, internal_date=None, keep_body=False)
    assert message.date == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    ancient = make_message(1, when=datetime(1901, 1, 1, tzinfo=UTC))
    message = parse_message(ancient, uid=1, size=None, internal_date=None, keep_body=False)
    assert message.date is None
    assert body_digest(b"no header end") == hashlib.sha256(b"").hexdigest()


def test_fetch_responses_in_any_item_order() -> None:
    one, two = make_message(1), make_message(2, attachment=("a b.txt", b"x"))
    data: list[object] = [
        (
            b'1 (UID 11 RFC822.SIZE 999 INTERNALDATE " 2-Jan-2026 10:00:00 +0100" BODY[] {%d}'
            % len(one),
            one,
        ),
        b")",
        (b"2 (BODY[] {%d}" % len(two), two),
        b' UID 12 RFC822.SIZE 55 INTERNALDATE "03-Jan-2026 00:00:00 +0000")',
        b"3 (FLAGS (\\Seen))",
    ]
    first, second = parse_fetch(data, keep_body=False)
    assert (first.uid, first.size) == (11, 999)
    assert first.internal_date == datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
    assert (second.uid, second.size, second.attachment_names) == (12, 55, ["a b.txt"])
    assert second.internal_date == datetime(2026, 1, 3, tzinfo=UTC)


def test_mailbox_names_are_quoted() -> None:
    assert quote_mailbox("INBOX") == '"INBOX"'
    assert quote_mailbox('a "b" \\c') == '"a \\"b\\" \\\\c"'
