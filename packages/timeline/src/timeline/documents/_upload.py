"""Reading a ``multipart/form-data`` upload as a stream, with bounded memory.

python-multipart's push parser is fed the request body chunk by chunk; the bytes of the
``file`` part are handed on as they arrive (to the store, which hashes and writes them), and
the few small text fields are collected on the side. Nothing is spooled to a temp file and no
part is held whole in memory, whatever the file's size.

Hand-written around the parser rather than Starlette's ``request.form()`` because that spools
the file to a temp file first: here it goes straight to its store, hashed on the way.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect

from timeline.errors import ApiError, ValidationFailedError

__all__ = ["FILE_FIELD", "MultipartUpload", "UploadAbortedError"]

FILE_FIELD = "file"
MAX_PARTS = 16
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_MEDIA_PART = r"[A-Za-z0-9!#$&^_.+-]{1,100}"
_CONTENT_TYPE = re.compile(rf"^{_MEDIA_PART}/{_MEDIA_PART}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_FILENAME = 255


class UploadAbortedError(ApiError):
    """The client went away (or was stopped by the size limit) before the body ended."""

    code = "UPLOAD_ABORTED"


def _bad(message: str) -> ValidationFailedError:
    return ValidationFailedError(message)


def clean_filename(raw: str | None) -> str:
    """The client's filename as metadata: control characters dropped, at most 255 characters.

    It is never used as a path (see :func:`timeline.documents._storage.blob_key`).
    """
    name = _CONTROL.sub("", raw or "").strip()[:MAX_FILENAME]
    return name or "document"


def clean_content_type(raw: str | None) -> str:
    """The part's media type (``type/subtype``, lower case), or ``application/octet-stream``."""
    media = (raw or "").split(";", 1)[0].strip().lower()
    return media if _CONTENT_TYPE.match(media) else DEFAULT_CONTENT_TYPE


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    name: str = ""
    value: bytearray = field(default_factory=bytearray)
    is_file: bool = False


class MultipartUpload:
    """One ``multipart/form-data`` body with a ``file`` part and small text fields.

    Iterate :meth:`file_chunks` to the end: it yields the file's bytes as they arrive and
    reads the rest of the body, after which :attr:`fields`, :attr:`filename` and
    :attr:`content_type` are set.

    Args:
        content_type: the request's Content-Type header.
        body: the request body as chunks (``request.stream()``).
        fields: the text fields allowed besides ``file``, with their longest length.

    Raises:
        ValidationFailedError: the request is not ``multipart/form-data`` with a boundary.
    """

    def __init__(
        self, content_type: str | None, body: AsyncIterator[bytes], fields: Mapping[str, int]
    ) -> None:
        media, options = parse_options_header(content_type or "")
        boundary = options.get(b"boundary")
        if media != b"multipart/form-data" or not boundary:
            msg = (
                "send the document as multipart/form-data with the file in a field named "
                "'file' (curl -F file=@report.pdf)"
            )
            raise _bad(msg)
        self._body = body
        self._allowed = dict(fields)
        self.fields: dict[str, str] = {}
        self.filename: str = "document"
        self.content_type: str = DEFAULT_CONTENT_TYPE
        self.file_seen = False
        self._ended = False
        self._parts = 0
        self._pending: list[bytes] = []
        self._part = _Part()
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except FormParserError as exc:
            raise _bad(f"the multipart boundary is not acceptable: {exc}") from exc

    # --- parser callbacks (synchronous, called from inside ``write``) ---------------------

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            msg = f"the form has more than {MAX_PARTS} parts; send 'file' and the named fields"
            raise _bad(msg)
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _on_header_end(self) -> None:
        part = self._part
        name = part.header_name.decode("latin-1").strip().lower()
        part.headers[name] = part.header_value.decode("latin-1").strip()
        part.header_name.clear()
        part.header_value.clear()

    def _on_headers_finished(self) -> None:
        part = self._part
        kind, options = parse_options_header(part.headers.get("content-disposition", ""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if kind != b"form-data" or not name:
            msg = "every form part needs a Content-Disposition: form-data header with a name"
            raise _bad(msg)
        part.name = name
        if name == FILE_FIELD:
            if self.file_seen:
                raise _bad("send exactly one file, in the field 'file'")
            self.file_seen = part.is_file = True
            # Headers arrive as latin-1 by HTTP's rules; browsers and curl send UTF-8 there.
            raw = options.get(b"filename")
            self.filename = clean_filename(raw.decode("utf-8", "replace") if raw else None)
            self.content_type = clean_content_type(part.headers.get("content-type"))
        elif name not in self._allowed:
            allowed = ", ".join([FILE_FIELD, *sorted(self._allowed)])
            raise _bad(f"unknown form field {name[:50]!r}; this upload takes {allowed}")
        elif name in self.fields:
            raise _bad(f"the form field {name!r} is given twice")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.is_file:
            self._pending.append(data[start:end])
            return
        part.value += data[start:end]
        if len(part.value) > 4 * self._allowed[part.name]:
            raise _bad(f"the form field {part.name!r} is too long")

    def _on_part_end(self) -> None:
        part = self._part
        if part.is_file:
            return
        try:
            value = part.value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _bad(f"the form field {part.name!r} is not UTF-8 text") from exc
        if len(value) > self._allowed[part.name]:
            msg = f"the form field {part.name!r} is longer than {self._allowed[part.name]}"
            raise _bad(msg)
        self.fields[part.name] = value

    def _on_end(self) -> None:
        self._ended = True

    # --- the stream ------------------------------------------------------------------------

    async def file_chunks(self) -> AsyncGenerator[bytes, None]:
        """The file's bytes as they arrive; reads the whole body.

        Raises:
            ValidationFailedError: the body is not well-formed, has no ``file`` part, or has
                unknown or oversized fields.
            UploadAbortedError: the client disconnected before the body ended.
        """
        try:
            async for chunk in self._body:
                if self._ended:
                    continue  # the epilogue after the closing boundary carries nothing
                try:
                    self._parser.write(chunk)
                except FormParserError as exc:
                    msg = f"the multipart body is malformed: {str(exc)[:200]}"
                    raise _bad(msg) from exc
                if self._pending:
                    data = b"".join(self._pending)
                    self._pending.clear()
                    yield data
        except ClientDisconnect as exc:
            msg = "the client disconnected before the upload ended; nothing was stored"
            raise UploadAbortedError(msg) from exc
        if not self._ended:
            raise _bad("the multipart body ended before its closing boundary")
        if not self.file_seen:
            raise _bad("the form has no 'file' part; send the document as -F file=@path")
