from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest
import stamina
from hypothesis import given
from hypothesis import strategies as st

import corekit.retry
from corekit.errors import (
    AuthenticationError,
    CircuitOpenError,
    ClientError,
    ConfigurationError,
    ConnectError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TimeoutError,
    TransportError,
)
from corekit.retry import (
    DEFAULT_RETRY_STATUSES,
    RetryPolicy,
    http_retry_hook,
    is_idempotent,
    is_retryable,
    parse_retry_after,
)

NOW = 1_750_000_000.0


def status_error(status: int, method: str = "GET", retry_after: float | None = None):
    if status == 429:
        return RateLimitedError("429", status_code=429, method=method, retry_after=retry_after)
    if status in (401, 403):
        return AuthenticationError("auth", status_code=status, method=method)
    if status == 404:
        return NotFoundError("nf", status_code=404, method=method)
    cls = ServerError if status >= 500 else ClientError
    return cls("x", status_code=status, method=method)


def isort_key(name: str) -> tuple[int, str]:
    """Order of ruff's RUF022: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_public_names_sorted_and_complete():
    public = {n for n in dir(corekit.retry) if not n.startswith("_")} - {"annotations"}
    assert corekit.retry.__all__ == sorted(corekit.retry.__all__, key=isort_key)
    assert set(corekit.retry.__all__) == public


# -- RetryPolicy ---------------------------------------------------------------------------


def test_defaults_follow_stamina_and_brief():
    policy = RetryPolicy()
    assert (policy.attempts, policy.timeout) == (5, 45.0)
    assert (policy.wait_initial, policy.wait_max, policy.wait_jitter) == (0.1, 5.0, 1.0)
    assert policy.wait_exp_base == 2.0
    assert policy.max_retry_after == 60.0
    assert policy.retry_statuses == frozenset({408, 425, 429, 500, 502, 503, 504})
    assert RetryPolicy.none().attempts == 1
    assert RetryPolicy.patient().attempts > policy.attempts


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": 2.5}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"wait_initial": -0.1}, "wait_initial"),
        ({"wait_max": float("nan")}, "wait_max"),
        ({"wait_jitter": "1"}, "wait_jitter"),
        ({"wait_exp_base": 0.5}, "wait_exp_base"),
        ({"max_retry_after": float("inf")}, "max_retry_after"),
        ({"retry_statuses": {200}}, "retry_statuses"),
        ({"retry_statuses": {503, 404}}, "retry_statuses"),
        ({"retry_statuses": {401}}, "retry_statuses"),
        ({"retry_statuses": "503"}, "retry_statuses"),
    ],
)
def test_invalid_policy_names_the_argument(kwargs, name):
    with pytest.raises(ConfigurationError, match=name) as info:
        RetryPolicy(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(info.value)


def test_retry_statuses_become_a_frozenset():
    policy = RetryPolicy(retry_statuses={503, 409})
    assert policy.retry_statuses == frozenset({503, 409})
    assert isinstance(policy.retry_statuses, frozenset)


def test_policy_is_frozen():
    with pytest.raises(AttributeError):
        RetryPolicy().attempts = 3  # type: ignore[misc]


def test_backoff_without_jitter_is_exponential_and_capped():
    policy = RetryPolicy(wait_initial=0.5, wait_max=3.0, wait_jitter=0.0, wait_exp_base=2.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(10_000) == 3.0  # overflow is capped, not an error


@given(
    attempt=st.integers(min_value=1, max_value=60),
    initial=st.floats(min_value=0, max_value=10),
    jitter=st.floats(min_value=0, max_value=5),
    base=st.floats(min_value=1, max_value=4),
    cap=st.floats(min_value=0, max_value=100),
)
def test_backoff_matches_stamina_formula_bounds(attempt, initial, jitter, base, cap):
    policy = RetryPolicy(wait_initial=initial, wait_jitter=jitter, wait_exp_base=base, wait_max=cap)
    wait = policy.backoff(attempt)
    try:
        low = initial * base ** (attempt - 1)
    except OverflowError:
        low = float("inf")
    assert 0 <= wait <= cap
    assert wait >= min(cap, low) - 1e-9
    assert wait <= min(cap, low + jitter) + 1e-9


# -- parse_retry_after ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 99 Foo 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after_seconds_and_garbage(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_http_date():
    when = dt.datetime.fromtimestamp(NOW + 30, tz=dt.UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), now=NOW) == 30.0


def test_parse_retry_after_date_in_the_past_is_zero():
    when = dt.datetime.fromtimestamp(NOW - 300, tz=dt.UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), now=NOW) == 0.0


def test_parse_retry_after_date_without_zone_is_utc():
    when = dt.datetime.fromtimestamp(NOW + 10, tz=dt.UTC)
    assert parse_retry_after(when.strftime("%a, %d %b %Y %H:%M:%S"), now=NOW) == 10.0


# -- idempotency rule ----------------------------------------------------------------------

IDEMPOTENT = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", "get"]
NOT_IDEMPOTENT = ["POST", "PATCH", "post"]


@pytest.mark.parametrize("method", IDEMPOTENT)
def test_idempotent_methods(method):
    assert is_idempotent(method)
    assert not is_idempotent(method, idempotent=False)


@pytest.mark.parametrize("method", NOT_IDEMPOTENT)
def test_non_idempotent_methods(method):
    assert not is_idempotent(method)
    assert is_idempotent(method, idempotent=True)


FAILURES = {
    "connect": lambda m: ConnectError("c", method=m),
    "timeout": lambda m: TimeoutError("t", method=m),
    "transport": lambda m: TransportError("drop", method=m),
    **{str(s): (lambda m, s=s: status_error(s, m)) for s in (408, 425, 429, 500, 502, 503, 504)},
    **{str(s): (lambda m, s=s: status_error(s, m)) for s in (400, 401, 403, 404, 409, 422, 501)},
}
RETRY_IDEMPOTENT = {"connect", "timeout", "transport"} | {str(s) for s in DEFAULT_RETRY_STATUSES}
RETRY_ANY = {"connect", "429"}


@pytest.mark.parametrize("kind", sorted(FAILURES))
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST", "PATCH"])
def test_retry_rule_table(method, kind):
    error = FAILURES[kind](method)
    expected = kind in (RETRY_IDEMPOTENT if method in ("GET", "PUT", "DELETE") else RETRY_ANY)
    assert is_retryable(error, method=method) is expected


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_idempotent_override_widens_and_narrows(kind):
    error = FAILURES[kind]("POST")
    assert is_retryable(error, method="POST", idempotent=True) is (kind in RETRY_IDEMPOTENT)
    assert is_retryable(error, method="GET", idempotent=False) is (kind in RETRY_ANY)


def test_never_retry_even_if_listed_elsewhere():
    for status in (400, 401, 403, 404, 422):
        assert not is_retryable(status_error(status), method="GET", retry_statuses={status})


def test_custom_retry_statuses():
    assert is_retryable(status_error(409), method="GET", retry_statuses={409})
    assert not is_retryable(status_error(503), method="GET", retry_statuses={409})


def test_non_http_errors_are_not_retried():
    assert not is_retryable(CircuitOpenError("open", key="k", retry_at=1.0), method="GET")
    assert not is_retryable(ValueError("bug"), method="GET")


# -- stamina hook and decorator ------------------------------------------------------------


def test_http_retry_hook_results():
    assert http_retry_hook(ConnectError("c", method="POST")) is True
    assert http_retry_hook(TimeoutError("t", method="GET")) is True
    assert http_retry_hook(TimeoutError("t", method="POST")) is False
    assert http_retry_hook(status_error(503)) is True
    assert http_retry_hook(status_error(404)) is False
    assert http_retry_hook(status_error(429, retry_after=7.0)) == 7.0
    assert http_retry_hook(status_error(429, retry_after=None)) is True
    assert http_retry_hook(status_error(429, retry_after=600.0)) is False  # > max_retry_after
    assert http_retry_hook(ValueError("bug")) is False


def test_policy_hook_uses_policy_settings():
    policy = RetryPolicy(max_retry_after=1000.0, retry_statuses={409, 429})
    assert policy.retry_hook(status_error(429, retry_after=600.0)) == 600.0
    assert policy.retry_hook(status_error(409)) is True
    assert policy.retry_hook(status_error(503)) is False
    assert policy.retry_hook(status_error(503, "POST"), idempotent=True) is False
    assert policy.retry_hook(status_error(409, "POST"), idempotent=True) is True


def test_retrying_decorates_sync_functions_with_stamina():
    calls = []

    @RetryPolicy(attempts=3).retrying()
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ServerError("503", status_code=503, method="GET")
        return "ok"

    with stamina.set_testing(True, attempts=3):
        assert flaky() == "ok"
    assert len(calls) == 3


def test_retrying_stops_on_non_retryable_and_respects_attempts():
    calls = []

    @RetryPolicy(attempts=2).retrying()
    def post() -> None:
        calls.append(1)
        raise ServerError("503", status_code=503, method="POST")

    with stamina.set_testing(True, attempts=5, cap=True), pytest.raises(ServerError):
        post()
    assert len(calls) == 1  # POST + 503 is never retried

    calls.clear()

    @RetryPolicy(attempts=2).retrying(idempotent=True)
    def keyed_post() -> None:
        calls.append(1)
        raise ServerError("503", status_code=503, method="POST")

    with stamina.set_testing(True, attempts=5, cap=True), pytest.raises(ServerError):
        keyed_post()
    assert len(calls) == 2  # capped at the policy's attempts


@pytest.mark.anyio
async def test_retrying_decorates_async_functions_with_explicit_on():
    calls = []

    @RetryPolicy(attempts=4).retrying(on=KeyError)
    async def flaky() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise KeyError("x")
        return 42

    with stamina.set_testing(True, attempts=4):
        assert await flaky() == 42
    assert len(calls) == 2
