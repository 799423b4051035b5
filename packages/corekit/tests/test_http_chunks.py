"""``request_chunks``: the body as the chunks it arrived in, through the same pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest

from corekit.errors import NotFoundError, ResponseTooLargeError, TransportError
from corekit.http import AsyncClient, Client
from corekit.retry import RetryPolicy

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(attempts=3, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)


class Chunks(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A body sent in the given chunks, optionally breaking after some of them."""

    def __init__(self, chunks: list[bytes], *, break_after: int | None = None) -> None:
        self.chunks = chunks
        self.break_after = break_after
        self.closed = False

    def _next(self) -> Iterator[bytes]:
        for sent, chunk in enumerate(self.chunks):
            if self.break_after is not None and sent >= self.break_after:
                raise httpx2.RemoteProtocolError("peer closed connection without sending body")
            yield chunk

    def __iter__(self) -> Iterator[bytes]:
        yield from self._next()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._next():
            yield chunk

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def answers(*responses: Callable[[], httpx2.Response]) -> Callable[[httpx2.Request], Any]:
    """A handler giving each response in turn (built per call: streams are one-shot)."""
    queue = list(responses)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return queue.pop(0)()

    return handler


async def chunks_of(
    client: Client | AsyncClient, **options: Any
) -> tuple[httpx2.Response, list[bytes]]:
    if isinstance(client, Client):
        return client.request_chunks("GET", "/data", **options)
    return await client.request_chunks("GET", "/data", **options)


async def test_the_body_comes_back_in_its_chunks_unjoined(face: Any) -> None:
    parts = [b'{"a":', b"[1,2,", b"3]}"]
    stream = Chunks(parts)
    client = face.client(answers(lambda: httpx2.Response(200, stream=stream)))
    response, chunks = await chunks_of(client)
    assert response.status_code == 200
    assert chunks == parts
    assert stream.closed
    with pytest.raises(httpx2.ResponseNotRead):
        _ = response.content  # never joined into one buffer


async def test_a_body_broken_midway_is_fetched_again(face: Any) -> None:
    client = face.client(
        answers(
            lambda: httpx2.Response(200, stream=Chunks([b"ab", b"cd"], break_after=1)),
            lambda: httpx2.Response(200, stream=Chunks([b"wx", b"yz"])),
        ),
        retry=FAST_RETRY,
    )
    _, chunks = await chunks_of(client)
    assert chunks == [b"wx", b"yz"]  # only the attempt that succeeded


async def test_a_body_that_keeps_breaking_is_a_transport_error(face: Any) -> None:
    broken = lambda: httpx2.Response(200, stream=Chunks([b"ab", b"cd"], break_after=1))  # noqa: E731
    client = face.client(answers(broken, broken), retry=None)
    with pytest.raises(TransportError):
        await chunks_of(client)


async def test_the_size_limit_applies(face: Any) -> None:
    client = face.client(
        answers(lambda: httpx2.Response(200, stream=Chunks([b"0123456789"] * 5))),
        max_response_bytes=25,
    )
    with pytest.raises(ResponseTooLargeError, match="max_response_bytes=25"):
        await chunks_of(client)


async def test_no_size_limit_still_gives_chunks(face: Any) -> None:
    client = face.client(
        answers(lambda: httpx2.Response(200, stream=Chunks([b"x" * 10] * 3))),
        max_response_bytes=None,
    )
    _, chunks = await chunks_of(client)
    assert chunks == [b"x" * 10] * 3


async def test_error_answers_raise_or_come_back_read(face: Any) -> None:
    missing = lambda: httpx2.Response(404, stream=Chunks([b"no such ", b"thing"]))  # noqa: E731
    client = face.client(answers(missing, missing))
    with pytest.raises(NotFoundError, match="no such thing"):
        await chunks_of(client)
    response, chunks = await chunks_of(client, raise_for_status=False)
    assert response.status_code == 404
    assert response.content == b"no such thing"
    assert chunks == [b"no such ", b"thing"]
