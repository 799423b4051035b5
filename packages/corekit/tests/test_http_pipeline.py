"""Pipeline unit tests over httpx2.MockTransport; every scenario runs on both faces."""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from email.utils import format_datetime
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import pytest
import stamina
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

import corekit.http
from corekit.breaker import Admission, CircuitBreaker, CircuitState
from corekit.errors import (
    AuthenticationError,
    CircuitOpenError,
    ClientError,
    ConfigurationError,
    ConnectError,
    CorekitError,
    HTTPStatusError,
    NotFoundError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    TimeoutError,
    TransportError,
)
from corekit.http import AsyncClient, Client
from corekit.ratelimit import Rate, RateLimiter
from corekit.retry import RetryPolicy
from corekit.testing import FakeClock

pytestmark = pytest.mark.anyio

BASE = "http://api.test"
NO_JITTER = RetryPolicy(wait_initial=0.5, wait_max=3.0, wait_jitter=0.0)

Handler = Callable[[httpx2.Request], httpx2.Response]


class Recorder:
    """A MockTransport handler that answers from a script and records what it saw."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx2.Request] = []
        self.headers: list[dict[str, str]] = []  # as sent; the request object is reused

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        self.headers.append(dict(request.headers))
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if callable(outcome):
            outcome = outcome(request)
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, int):
            return httpx2.Response(outcome, text=f"status {outcome}")
        return outcome

    @property
    def calls(self) -> int:
        return len(self.requests)


class Chunks(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A response body without Content-Length, optionally breaking after some chunks."""

    def __init__(self, chunks: list[bytes], *, break_after: int | None = None) -> None:
        self.chunks = chunks
        self.break_after = break_after
        self.sent = 0
        self.closed = False

    def _next(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if self.break_after is not None and self.sent >= self.break_after:
                raise httpx2.RemoteProtocolError("peer closed connection without sending body")
            self.sent += 1
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


def dropped(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, stream=Chunks([b"a", b"b"], break_after=1))


def connect_error(request: httpx2.Request) -> Exception:
    return httpx2.ConnectError("[Errno 111] Connection refused", request=request)


def read_timeout(request: httpx2.Request) -> Exception:
    return httpx2.ReadTimeout("timed out", request=request)


# -- basics --------------------------------------------------------------------------------


def isort_key(name: str) -> tuple[int, str]:
    """Order of ruff's RUF022: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_public_names_sorted_and_complete():
    public = {n for n in dir(corekit.http) if not n.startswith("_")} - {"annotations"}
    assert corekit.http.__all__ == sorted(corekit.http.__all__, key=isort_key)
    assert set(corekit.http.__all__) == public
    assert corekit.http.Response is httpx2.Response
    assert corekit.http.Timeout is httpx2.Timeout


async def test_success_returns_read_response_with_request_id(face):
    handler = Recorder(httpx2.Response(200, json={"ok": True}))
    client = face.client(handler)
    response = await face.request(client, "GET", "/items", params={"page": 2})
    assert response.json() == {"ok": True}
    assert response.is_closed
    sent = handler.requests[0]
    assert str(sent.url) == f"{BASE}/items?page=2"
    assert re.fullmatch(r"[0-9a-f]{32}", sent.headers["X-Request-ID"])


async def test_caller_request_id_is_kept_and_ids_are_fresh_per_request(face):
    handler = Recorder(200)
    client = face.client(handler)
    await face.request(client, "GET", headers={"X-Request-ID": "mine"})
    await face.request(client, "GET")
    await face.request(client, "GET")
    ids = [r.headers["x-request-id"] for r in handler.requests]
    assert ids[0] == "mine"
    assert ids[1] != ids[2]


async def test_request_id_header_can_be_renamed_or_disabled(face):
    handler = Recorder(200)
    await face.request(face.client(handler, request_id_header="X-Correlation"), "GET")
    await face.request(face.client(handler, request_id_header=None), "GET")
    assert "x-correlation" in handler.requests[0].headers
    assert "x-request-id" not in handler.requests[0].headers
    assert "x-request-id" not in handler.requests[1].headers


async def test_default_and_per_request_timeouts(face):
    handler = Recorder(200)
    client = face.client(handler)
    await face.request(client, "GET")
    await face.request(client, "GET", timeout=1.5)
    first, second = (r.extensions["timeout"] for r in handler.requests)
    assert first == {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 5.0}
    assert second == {"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5}


async def test_headers_property_user_agent_and_shorthands(face):
    handler = Recorder(200)
    client = face.client(handler, user_agent="pym2v/1.0")
    client.headers["X-Default"] = "yes"
    for method in ("get", "head", "options", "post", "put", "patch", "delete"):
        result = getattr(client, method)("/s", params={"m": method})
        if face.kind == "async":
            result = await result
        assert result.status_code == 200
    assert [r.method for r in handler.requests] == [
        "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE",
    ]  # fmt: skip
    assert all(r.headers["x-default"] == "yes" for r in handler.requests)
    assert all(r.headers["user-agent"] == "pym2v/1.0" for r in handler.requests)


async def test_auth_flow_runs_on_every_attempt(face):
    class Stamp(httpx2.Auth):
        calls = 0

        def auth_flow(self, request):
            Stamp.calls += 1
            request.headers["Authorization"] = f"Bearer t{Stamp.calls}"
            yield request

    handler = Recorder(503, 200)
    client = face.client(handler, auth=Stamp(), retry=NO_JITTER)
    await face.request(client, "GET")
    assert [h["authorization"] for h in handler.headers] == ["Bearer t1", "Bearer t2"]


# -- retry schedule ------------------------------------------------------------------------


async def test_backoff_schedule_and_last_error(face):
    clock = FakeClock()
    handler = Recorder(httpx2.Response(503, text="down for maintenance"))
    client = face.client(handler, clock=clock, retry=NO_JITTER)
    with pytest.raises(ServerError) as info:
        await face.request(client, "GET", "/status")
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0]
    assert handler.calls == 5
    error = info.value
    request_id = handler.requests[0].headers["x-request-id"]
    assert {r.headers["x-request-id"] for r in handler.requests} == {request_id}
    assert error.request_id == request_id
    assert error.status_code == 503
    assert str(error) == (
        f"GET {BASE}/status -> 503 Service Unavailable "
        f"(request id {request_id}, after 5 attempts): down for maintenance"
    )


async def test_jitter_stays_within_stamina_bounds(face):
    clock = FakeClock()
    client = face.client(Recorder(500), clock=clock, retry=RetryPolicy(attempts=4))
    with pytest.raises(ServerError):
        await face.request(client, "GET")
    for n, wait in enumerate(clock.sleeps, start=1):
        base = 0.1 * 2 ** (n - 1)
        assert base <= wait <= base + 1.0


async def test_retry_after_seconds_is_honoured(face):
    clock = FakeClock()
    handler = Recorder(httpx2.Response(429, headers={"Retry-After": "7"}), 200)
    client = face.client(handler, clock=clock, retry=NO_JITTER)
    response = await face.request(client, "GET")
    assert response.status_code == 200
    assert clock.sleeps == [7.0]


async def test_retry_after_http_date_is_honoured(face):
    clock = FakeClock()
    when = dt.datetime.fromtimestamp(clock.time() + 30, tz=dt.UTC)
    date = format_datetime(when, usegmt=True)
    handler = Recorder(httpx2.Response(503, headers={"Retry-After": date}), 200)
    client = face.client(handler, clock=clock, retry=NO_JITTER)
    await face.request(client, "GET")
    assert clock.sleeps == [30.0]


async def test_server_error_keeps_the_retry_after_it_was_given(face):
    # A caller that gives up (here: one attempt) can still honour the server's wish later,
    # e.g. a durable queue scheduling its next try.
    handler = Recorder(httpx2.Response(503, headers={"Retry-After": "45"}))
    client = face.client(handler, retry=RetryPolicy.none())
    with pytest.raises(ServerError) as info:
        await face.request(client, "GET")
    assert info.value.retry_after == 45.0
    assert RetryPolicy().retry_hook(info.value) == 45.0


async def test_retry_after_beyond_max_fails_with_rate_limited_error(face):
    clock = FakeClock()
    handler = Recorder(httpx2.Response(429, headers={"Retry-After": "120"}))
    client = face.client(handler, clock=clock, retry=RetryPolicy(max_retry_after=60.0))
    with pytest.raises(RateLimitedError) as info:
        await face.request(client, "GET")
    assert info.value.retry_after == 120.0
    assert handler.calls == 1
    assert clock.sleeps == []
    assert any("max_retry_after" in note for note in info.value.__notes__)


async def test_budget_timeout_stops_retries_that_would_end_past_it(face):
    clock = FakeClock()
    policy = RetryPolicy(timeout=10.0, wait_initial=4.0, wait_jitter=0.0, wait_max=60.0)
    handler = Recorder(500)
    client = face.client(handler, clock=clock, retry=policy)
    with pytest.raises(ServerError) as info:
        await face.request(client, "GET")
    assert clock.sleeps == [4.0]  # the next wait (8 s) would end at 12 s > 10 s
    assert handler.calls == 2
    assert "after 2 attempts" in str(info.value)
    assert any("RetryPolicy.timeout=10" in note for note in info.value.__notes__)


async def test_budget_counts_retry_after_too(face):
    clock = FakeClock()
    handler = Recorder(httpx2.Response(429, headers={"Retry-After": "30"}))
    client = face.client(handler, clock=clock, retry=RetryPolicy(timeout=20.0))
    with pytest.raises(RateLimitedError):
        await face.request(client, "GET")
    assert clock.sleeps == []
    assert handler.calls == 1


# -- idempotency ---------------------------------------------------------------------------

FAILURES: dict[str, Any] = {
    "connect": connect_error,
    "read-timeout": read_timeout,
    "drop": dropped,
    **{str(s): s for s in (500, 503, 429, 400, 401, 403, 404, 422)},
}
RETRIED_IDEMPOTENT = {"connect", "read-timeout", "drop", "500", "503", "429"}
RETRIED_ALWAYS = {"connect", "429"}  # 429: refused before processing, safe for POST too


@pytest.mark.parametrize("kind", list(FAILURES))
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST", "PATCH"])
async def test_idempotency_rule(face, method, kind):
    handler = Recorder(FAILURES[kind], 200)
    client = face.client(handler, retry=RetryPolicy(attempts=2, wait_jitter=0.0))
    retried = kind in (RETRIED_IDEMPOTENT if method in ("GET", "PUT", "DELETE") else RETRIED_ALWAYS)
    if retried:
        response = await face.request(client, method)
        assert response.status_code == 200
    else:
        with pytest.raises(CorekitError):
            await face.request(client, method)
    assert handler.calls == (2 if retried else 1)


async def test_idempotent_override(face):
    handler = Recorder(503, 200)
    client = face.client(handler, retry=NO_JITTER)
    await face.request(client, "POST", json={"a": 1}, idempotent=True)
    assert handler.calls == 2
    assert handler.requests[1].content == b'{"a":1}'  # the body is replayed

    handler = Recorder(503, 200)
    client = face.client(handler, retry=NO_JITTER)
    with pytest.raises(ServerError):
        await face.request(client, "GET", idempotent=False)
    assert handler.calls == 1

    handler = Recorder(connect_error, 200)
    client = face.client(handler, retry=NO_JITTER)
    await face.request(client, "GET", idempotent=False)
    assert handler.calls == 2  # never left: safe even when not idempotent


async def test_one_shot_body_is_never_retried(face):
    def body() -> Iterator[bytes]:
        yield b"chunk"

    async def abody() -> AsyncIterator[bytes]:
        yield b"chunk"

    handler = Recorder(503, 200)
    client = face.client(handler, retry=NO_JITTER)
    content = body() if face.kind == "sync" else abody()
    with pytest.raises(ServerError, match="after 1 attempt"):
        await face.request(client, "PUT", content=content)
    assert handler.calls == 1


# -- breaker -------------------------------------------------------------------------------


class FakeBreaker:
    """Records the pipeline's calls, and that each outcome carries its call's admission."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.admitted: list[Admission] = []

    def before_call(self, key: str) -> Admission:
        self.events.append(("before", key))
        self.admitted.append(Admission(len(self.admitted)))
        return self.admitted[-1]

    def _outcome(self, name: str, key: str, admission: Admission | None) -> None:
        assert admission is self.admitted[-1], "outcome reported without its admission"
        self.events.append((name, key))

    def record_success(self, key: str, admission: Admission | None = None) -> None:
        self._outcome("success", key, admission)

    def record_failure(self, key: str, admission: Admission | None = None) -> None:
        self._outcome("failure", key, admission)

    def release(self, key: str, admission: Admission | None = None) -> None:
        self._outcome("release", key, admission)


async def test_breaker_bookkeeping_per_attempt(face):
    breaker = FakeBreaker()
    handler = Recorder(connect_error, 503, 404)
    client = face.client(handler, retry=NO_JITTER, breaker=breaker)
    with pytest.raises(NotFoundError):
        await face.request(client, "GET")
    key = "api.test:80"
    assert breaker.events == [
        ("before", key), ("failure", key),
        ("before", key), ("failure", key),
        ("before", key), ("success", key),  # a 4xx means the server is healthy
    ]  # fmt: skip


async def test_breaker_release_on_other_exceptions_and_custom_key(face):
    breaker = FakeBreaker()
    handler = Recorder(RuntimeError("bug in a hook"))
    client = face.client(handler, breaker=breaker, breaker_key=lambda r: r.url.path)
    with pytest.raises(RuntimeError, match="bug in a hook"):
        await face.request(client, "GET", "/p")
    assert breaker.events == [("before", "/p"), ("release", "/p")]


async def test_breaker_opens_and_refuses(face):
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, recovery_time=30.0, clock=clock)
    handler = Recorder(500)
    client = face.client(handler, clock=clock, retry=None, breaker=breaker)
    for _ in range(3):
        with pytest.raises(ServerError):
            await face.request(client, "GET")
    assert breaker.state("api.test:80") is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        await face.request(client, "GET")
    assert handler.calls == 3
    clock.advance(30.0)
    handler.outcomes = [200]
    assert (await face.request(client, "GET")).status_code == 200
    assert breaker.state("api.test:80") is CircuitState.CLOSED


async def test_breaker_opening_during_retries_stops_them(face):
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, recovery_time=30.0, clock=clock)
    handler = Recorder(503)
    client = face.client(handler, clock=clock, retry=NO_JITTER, breaker=breaker)
    with pytest.raises(CircuitOpenError) as info:
        await face.request(client, "GET")
    assert handler.calls == 2
    # What opened the breaker is kept: the last attempt's error, with its own cause.
    cause = info.value.__cause__
    assert isinstance(cause, ServerError)
    assert cause.status_code == 503
    assert "after 2 attempts" in str(cause)

    clock.advance(30.0)
    handler.outcomes = [connect_error]
    with pytest.raises(CircuitOpenError) as info:
        await face.request(client, "GET")
    assert isinstance(info.value.__cause__, ConnectError)
    assert isinstance(info.value.__cause__.__cause__, httpx2.ConnectError)

    with pytest.raises(CircuitOpenError) as info:
        await face.request(client, "GET")  # refused before any attempt: nothing to chain
    assert info.value.__cause__ is None


async def test_cancellation_releases_the_breaker():
    breaker = FakeBreaker()
    scopes: list[anyio.CancelScope] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        scopes[0].cancel()
        await anyio.lowlevel.checkpoint()
        return httpx2.Response(200)

    async with AsyncClient(
        BASE, transport=httpx2.MockTransport(handler), breaker=breaker, clock=FakeClock()
    ) as client:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await client.get("/x")
    assert scope.cancelled_caught
    assert breaker.events == [("before", "api.test:80"), ("release", "api.test:80")]


# -- rate limiter --------------------------------------------------------------------------


class FakeLimiter:
    def __init__(self) -> None:
        self.grants: list[tuple[str, str]] = []

    def acquire(self, bucket: str = "default", *, key: str = "", **_: Any) -> None:
        self.grants.append((bucket, key))

    async def aacquire(self, bucket: str = "default", *, key: str = "", **_: Any) -> None:
        self.grants.append((bucket, key))


async def test_limiter_acquired_before_every_attempt(face):
    limiter = FakeLimiter()
    handler = Recorder(503, 503, 200)
    client = face.client(handler, retry=NO_JITTER, rate_limiter=limiter, rate_limit_key="acct")
    await face.request(client, "GET")
    assert limiter.grants == [("default", "acct")] * 3


async def test_limiter_bucket_rule_and_override(face):
    limiter = FakeLimiter()

    def rule(method: str, path: str) -> str:
        return "bars" if path.startswith("/bars") else f"other-{method}"

    client = face.client(Recorder(200), rate_limiter=limiter, rate_limit_bucket=rule)
    await face.request(client, "GET", "/bars/1")
    await face.request(client, "POST", "/orders")
    await face.request(client, "GET", "/bars/2", bucket="special")
    assert limiter.grants == [("bars", ""), ("other-POST", ""), ("special", "")]


async def test_real_rate_limiter_waits_on_its_clock(face):
    clock = FakeClock()
    limiter = RateLimiter({"default": [Rate(2, 10.0)]}, clock=clock)
    client = face.client(Recorder(200), clock=clock, rate_limiter=limiter)
    for _ in range(3):
        await face.request(client, "GET")
    assert clock.monotonic() >= 10.0


# -- error mapping -------------------------------------------------------------------------

TRANSPORT_FAMILIES = [
    (httpx2.ConnectError, ConnectError),
    (httpx2.ConnectTimeout, ConnectError),
    (httpx2.PoolTimeout, ConnectError),
    (httpx2.ReadTimeout, TimeoutError),
    (httpx2.WriteTimeout, TimeoutError),
    (httpx2.ReadError, TransportError),
    (httpx2.WriteError, TransportError),
    (httpx2.CloseError, TransportError),
    (httpx2.RemoteProtocolError, TransportError),
    (httpx2.LocalProtocolError, TransportError),
    (httpx2.ProxyError, TransportError),
    (httpx2.DecodingError, TransportError),
    (httpx2.TooManyRedirects, TransportError),
    (httpx2.UnsupportedProtocol, ConfigurationError),
    (httpx2.StreamConsumed, ConfigurationError),
    (httpx2.InvalidURL, TransportError),
]


@pytest.mark.parametrize(("raised", "expected"), TRANSPORT_FAMILIES)
async def test_every_httpx2_exception_is_mapped(face, raised, expected):
    def fail(request: httpx2.Request) -> Exception:
        if raised is httpx2.StreamConsumed:
            return raised()
        if raised is httpx2.InvalidURL:
            return raised("boom")
        return raised("boom", request=request)

    handler = Recorder(fail)
    client = face.client(handler, retry=None)
    with pytest.raises(expected) as info:
        await face.request(client, "GET", "/p", params={"q": "1"})
    error = info.value
    assert not isinstance(error, httpx2.HTTPError)
    assert isinstance(error.__cause__, raised)
    if isinstance(error, TransportError):
        assert (error.method, error.url) == ("GET", f"{BASE}/p")
        assert str(error).startswith(f"GET {BASE}/p?q=1 ")
        assert "after 1 attempt)" in str(error)
        assert handler.requests[0].headers["x-request-id"] in str(error)


async def test_exhausted_transport_retries_report_attempts(face):
    clock = FakeClock()
    client = face.client(Recorder(read_timeout), clock=clock, retry=NO_JITTER)
    with pytest.raises(TimeoutError, match=r"timed out: ReadTimeout: timed out .*after 5 attempts"):
        await face.request(client, "GET")
    assert len(clock.sleeps) == 4


async def test_invalid_urls_are_configuration_errors(face):
    client = face.client(Recorder(200))
    with pytest.raises(ConfigurationError, match="not a valid URL"):
        await face.request(client, "GET", "https://\x00x")
    bare = Client() if face.kind == "sync" else AsyncClient()
    face.clients.append(bare)
    with pytest.raises(ConfigurationError, match="http:// or https://"):
        await face.request(bare, "GET", "/relative")


STATUS_CLASSES = [
    (400, ClientError),
    (401, AuthenticationError),
    (403, AuthenticationError),
    (404, NotFoundError),
    (409, ClientError),
    (422, ClientError),
    (429, RateLimitedError),
    (500, ServerError),
    (502, ServerError),
    (599, ServerError),
]


@pytest.mark.parametrize(("status", "expected"), STATUS_CLASSES)
async def test_status_mapping(face, status, expected):
    handler = Recorder(httpx2.Response(status, json={"detail": "nope"}))
    client = face.client(handler, retry=None)
    with pytest.raises(expected) as info:
        await face.request(client, "DELETE", "/things/7", params={"force": "1"})
    error = info.value
    assert type(error) is expected
    assert error.status_code == status
    assert (error.method, error.url) == ("DELETE", f"{BASE}/things/7")
    assert error.request_id == handler.requests[0].headers["x-request-id"]
    assert error.body == '{"detail":"nope"}'
    assert str(error).startswith(f"DELETE {BASE}/things/7?force=1 -> {status} ")
    assert str(error).endswith(
        f'(request id {error.request_id}, after 1 attempt): {{"detail":"nope"}}'
    )


async def test_long_bodies_are_truncated_in_errors(face):
    handler = Recorder(httpx2.Response(500, text="é" * 5000))
    client = face.client(handler, retry=None)
    with pytest.raises(ServerError) as info:
        await face.request(client, "GET")
    assert info.value.body == "é" * 1000 + "... [8000 more bytes]"


async def test_raise_for_status_false_returns_final_response(face):
    clock = FakeClock()
    handler = Recorder(404)
    client = face.client(handler, clock=clock, retry=NO_JITTER)
    assert (await face.request(client, "GET", raise_for_status=False)).status_code == 404
    handler.outcomes = [503]
    response = await face.request(client, "GET", raise_for_status=False)
    assert response.status_code == 503
    assert response.text == "status 503"
    assert handler.calls == 1 + 5  # still retried
    assert len(clock.sleeps) == 4


# -- response size -------------------------------------------------------------------------


async def test_size_limit_by_content_length(face):
    breaker = FakeBreaker()
    handler = Recorder(httpx2.Response(200, content=b"x" * 100))
    client = face.client(handler, max_response_bytes=50, breaker=breaker)
    with pytest.raises(ResponseTooLargeError, match="Content-Length is 100") as info:
        await face.request(client, "GET")
    assert info.value.limit == 50
    assert handler.calls == 1
    assert breaker.events[-1][0] == "release"


async def test_size_limit_while_streaming(face):
    stream = Chunks([b"0123456789"] * 10)
    handler = Recorder(httpx2.Response(200, stream=stream))
    client = face.client(handler, max_response_bytes=35)
    with pytest.raises(ResponseTooLargeError, match="max_response_bytes=35"):
        await face.request(client, "GET")
    assert stream.sent == 4  # stopped as soon as the limit was crossed
    assert stream.closed


async def test_head_and_304_content_length_is_not_a_body(face):
    head = httpx2.Response(200, headers={"Content-Length": "1000000"})
    client = face.client(Recorder(head), max_response_bytes=10)
    assert (await face.request(client, "HEAD")).headers["content-length"] == "1000000"
    not_modified = httpx2.Response(304, headers={"Content-Length": "1000000"})
    client = face.client(Recorder(not_modified), max_response_bytes=10)
    assert (await face.request(client, "GET")).status_code == 304


async def test_streamed_body_within_limit_and_no_limit(face):
    for limit in (100, None):
        stream = Chunks([b"0123456789"] * 10)
        client = face.client(
            Recorder(httpx2.Response(200, stream=stream)), max_response_bytes=limit
        )
        response = await face.request(client, "GET")
        assert response.content == b"0123456789" * 10
        assert stream.closed


async def test_gzip_body_is_limited_after_decoding(face):
    import gzip

    packed = gzip.compress(b"a" * 10_000)
    response = httpx2.Response(200, content=packed, headers={"Content-Encoding": "gzip"})
    client = face.client(Recorder(response), max_response_bytes=5_000)
    with pytest.raises(ResponseTooLargeError):
        await face.request(client, "GET")


# -- stamina integration -------------------------------------------------------------------


async def test_stamina_inactive_means_one_attempt(face):
    handler = Recorder(503)
    client = face.client(handler, retry=NO_JITTER)
    stamina.set_active(False)
    try:
        with pytest.raises(ServerError, match="after 1 attempt"):
            await face.request(client, "GET")
    finally:
        stamina.set_active(True)
    assert handler.calls == 1


async def test_stamina_testing_sets_attempts_and_removes_waits(face):
    clock = FakeClock()
    handler = Recorder(httpx2.Response(429, headers={"Retry-After": "9"}))
    client = face.client(handler, clock=clock, retry=NO_JITTER)
    with stamina.set_testing(True, attempts=3), pytest.raises(RateLimitedError):
        await face.request(client, "GET")
    assert handler.calls == 3
    assert clock.sleeps == []

    handler.requests.clear()
    capped = face.client(handler, clock=clock, retry=RetryPolicy(attempts=2))
    with stamina.set_testing(True, attempts=10, cap=True), pytest.raises(RateLimitedError):
        await face.request(capped, "GET")
    assert handler.calls == 2
    assert clock.sleeps == []


@contextmanager
def retry_hooks(*hooks: Any) -> Iterator[None]:
    set_on_retry_hooks(hooks)
    try:
        yield
    finally:
        set_on_retry_hooks(None)


async def test_stamina_on_retry_hooks_see_http_retries(face):
    seen: list[RetryDetails] = []
    entered: list[str] = []

    class Span:
        def __enter__(self) -> None:
            entered.append("enter")

        def __exit__(self, *exc: object) -> None:
            entered.append("exit")

    def hook(details: RetryDetails) -> Span:
        seen.append(details)
        return Span()

    clock = FakeClock()
    handler = Recorder(503, read_timeout, 200)
    client = face.client(handler, clock=clock, retry=NO_JITTER, name="pym2v")
    with retry_hooks(hook):
        await face.request(client, "GET")
    assert [(d.name, d.retry_num, d.wait_for, d.waited_so_far) for d in seen] == [
        ("pym2v", 1, 0.5, 0.0),
        ("pym2v", 2, 1.0, 0.5),
    ]
    assert isinstance(seen[0].caused_by, ServerError)
    assert isinstance(seen[1].caused_by, TimeoutError)
    assert (seen[0].args, seen[0].kwargs) == ((), {})
    assert entered == ["enter", "exit", "enter", "exit"]


# -- logging and redaction -----------------------------------------------------------------

SECRETS = ["SeCrEtPw", "tok-123456", "key-abcdef", "cookie-xyz", "sig-778899", "custom-5566"]


async def test_no_secret_reaches_logs_or_errors(face, caplog):
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    handler = Recorder(
        httpx2.Response(503, headers={"Set-Cookie": "session=cookie-xyz"}),
        connect_error,
        httpx2.Response(401, text="who are you"),
    )
    client = face.client(handler, clock=clock, retry=NO_JITTER, sensitive_params=["custom"])
    client.headers["X-API-Key"] = "key-abcdef"
    with (
        retry_hooks(stamina.instrumentation.LoggingOnRetryHook),
        pytest.raises(AuthenticationError) as info,
    ):
        await face.request(
            client,
            "GET",
            "http://user:SeCrEtPw@api.test/x",
            params={
                "access_token": "tok-123456",
                "signature": "sig-778899",
                "custom": "custom-5566",
            },
            headers={"Authorization": "Bearer tok-123456", "Cookie": "s=cookie-xyz"},
        )
    assert handler.requests[0].url.params["access_token"] == "tok-123456"  # it was sent
    texts = [str(info.value), repr(info.value), info.value.url, info.value.body]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.extend(str(v) for v in vars(record).values())
    assert any("[REDACTED]" in t for t in texts)
    assert any("Retrying GET" in t for t in texts)
    assert any("stamina.retry_scheduled" in t for t in texts)
    leaks = [t for t in texts for s in SECRETS if s in t]
    assert leaks == []


async def test_debug_line_per_attempt_and_warning_per_retry(face, caplog):
    caplog.set_level(logging.DEBUG, logger="corekit.http")
    handler = Recorder(503, 200)
    client = face.client(handler, retry=NO_JITTER)
    await face.request(client, "GET", "/ping")
    ours = [r for r in caplog.records if r.name.startswith("corekit.http")]
    request_id = handler.requests[0].headers["x-request-id"]
    assert [r.levelname for r in ours] == ["DEBUG", "WARNING", "DEBUG"]
    assert re.fullmatch(
        rf"GET {BASE}/ping -> 503 in [0-9.]+ ms \(request id {request_id}, attempt 1/5\)",
        ours[0].getMessage(),
    )
    assert ours[1].getMessage() == (
        f"Retrying GET {BASE}/ping in 0.50 s after status 503 "
        f"(request id {request_id}, attempt 1/5)"
    )
    assert "-> 200" in ours[2].getMessage()
    assert "attempt 2/5" in ours[2].getMessage()


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_response_bytes": 0}, "max_response_bytes"),
        ({"max_response_bytes": 1.5}, "max_response_bytes"),
        ({"rate_limit_bucket": 3}, "rate_limit_bucket"),
        ({"request_id_header": " "}, "request_id_header"),
        ({"retry": 3}, "retry"),
    ],
)
@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_invalid_configuration(cls, kwargs, name):
    with pytest.raises(ConfigurationError, match=name):
        cls(BASE, **kwargs)


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_http2_without_h2_names_the_extra(cls, monkeypatch):
    monkeypatch.setitem(sys.modules, "h2", None)
    with pytest.raises(ConfigurationError, match=r"corekit\[http2\]"):
        cls(BASE, http2=True)


def test_repr_names_base_url():
    with Client(BASE, name="pym2v") as client:
        assert repr(client) == "Client(base_url='http://api.test', name='pym2v')"


def test_status_error_classes_are_http_status_errors():
    assert all(issubclass(cls, HTTPStatusError) for _, cls in STATUS_CLASSES)
