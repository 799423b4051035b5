from __future__ import annotations

import builtins

import pytest

from corekit import errors
from corekit.errors import (
    AuthenticationError,
    CircuitOpenError,
    ClientError,
    ConfigurationError,
    ConnectError,
    CorekitError,
    HTTPStatusError,
    OperationError,
    RateLimitedError,
    RateLimitExceededError,
    ServerError,
    TimeoutError,
    TransportError,
)


def test_every_public_error_descends_from_the_root() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), CorekitError), name


def test_misuse_is_apart_from_runtime_failures() -> None:
    assert issubclass(ConfigurationError, ValueError)
    assert not issubclass(ConfigurationError, OperationError)
    runtime = [n for n in errors.__all__ if n not in {"CorekitError", "ConfigurationError"}]
    for name in runtime:
        assert issubclass(getattr(errors, name), OperationError), name


def test_timeout_is_also_the_builtin_timeout() -> None:
    assert issubclass(TimeoutError, builtins.TimeoutError)
    assert issubclass(TimeoutError, TransportError)
    assert issubclass(ConnectError, TransportError)


def test_status_errors_carry_their_context() -> None:
    exc = ServerError(
        "boom", status_code=503, method="GET", url="http://x/y", body="oops", request_id="r1"
    )
    assert isinstance(exc, HTTPStatusError)
    assert (exc.status_code, exc.method, exc.url, exc.body, exc.request_id) == (
        503,
        "GET",
        "http://x/y",
        "oops",
        "r1",
    )
    assert issubclass(AuthenticationError, ClientError)


def test_rate_limited_error_keeps_retry_after_and_status() -> None:
    exc = RateLimitedError("slow down", retry_after=2.5, status_code=429, url="http://x")
    assert exc.retry_after == 2.5
    assert exc.status_code == 429
    assert exc.url == "http://x"


def test_breaker_and_limiter_errors_say_when_to_come_back() -> None:
    assert CircuitOpenError("open", key="h:1", retry_at=12.0).retry_at == 12.0
    limited = RateLimitExceededError("full", bucket="bars", retry_after=3.0)
    assert (limited.bucket, limited.retry_after) == ("bars", 3.0)


def test_all_is_sorted() -> None:
    assert errors.__all__ == sorted(errors.__all__)
    with pytest.raises(CorekitError):
        raise TransportError("down", method="GET", url="http://x")
