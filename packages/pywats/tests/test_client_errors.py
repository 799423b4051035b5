"""Failures over the socket become pywats errors; retries only where they are safe."""

from __future__ import annotations

import socket
from typing import Any

import pytest

import corekit.errors
from corekit.breaker import CircuitBreaker
from corekit.testing import FakeClock, FaultInjector
from pywats import (
    PyWATSError,
    WATSAuthenticationError,
    WATSBadRequestError,
    WATSConflictError,
    WATSConnectError,
    WATSNotFoundError,
    WATSOperationError,
    WATSRateLimitedError,
    WATSServerError,
    WATSStatusError,
    WATSTimeoutError,
    WATSTransportError,
    WATSUnavailableError,
)
from pywats.errors import translate, wats_message

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_reads_are_retried_on_server_errors(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    emulator.fail("/api/App/Version", 502, count=2)
    assert await resolve(wats.app.version()) == "2026.3.0"
    assert [c.status for c in emulator.calls("GET", "/api/App/Version")] == [502, 502, 200]


async def test_persistent_server_error_is_a_server_error(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    emulator.fail("/api/App/Version", 500, count=None, body={"Message": "database offline"})
    with pytest.raises(WATSServerError) as caught:
        await resolve(wats.app.version())
    error = caught.value
    assert isinstance(error, corekit.errors.ServerError)
    assert isinstance(error, PyWATSError)
    assert error.status_code == 500
    assert error.wats_message == "database offline"
    assert error.route == "/api/App/Version"
    assert "retry later" in str(error)
    assert len(emulator.calls("GET", "/api/App/Version")) == 5


async def test_non_idempotent_posts_are_not_retried(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    emulator.fail("/api/Production/SerialNumbers/Take", 503, count=1)
    with pytest.raises(WATSServerError):
        await resolve(wats.production.take_serial_numbers("Default"))
    assert len(emulator.calls("POST", "/api/Production/SerialNumbers/Take")) == 1


async def test_rate_limit_is_honoured_then_retried(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    emulator.rate_limit("/api/App/Processes", retry_after=2, count=1)
    assert await resolve(wats.app.processes())
    assert [c.status for c in emulator.calls("GET", "/api/App/Processes")] == [429, 200]


async def test_rate_limit_without_retries_is_its_own_error(
    kind: str, client_factory: Any, resolve: Any, emulator: FaultInjector
) -> None:
    client = client_factory(kind, retry=None)
    emulator.rate_limit("/api/App/Version", retry_after=7, count=1)
    with pytest.raises(WATSRateLimitedError) as caught:
        await resolve(client.app.version())
    assert caught.value.retry_after == 7


async def test_wrong_password_is_refused_without_retry(
    kind: str, client_factory: Any, resolve: Any, emulator: FaultInjector
) -> None:
    client = client_factory(kind, password="wrong")
    with pytest.raises(WATSAuthenticationError) as caught:
        await resolve(client.app.version())
    assert caught.value.status_code == 401
    assert "PYWATS_PASSWORD" in str(caught.value)
    assert "wrong" not in str(caught.value)
    assert len(emulator.calls()) == 1


async def test_conflict_and_not_found(wats: Any, resolve: Any) -> None:
    await resolve(wats.product.put({"partNumber": "PN-C"}))
    unit = {"serialNumber": "C-1", "partNumber": "PN-C"}
    await resolve(wats.production.create_unit(unit))
    with pytest.raises(WATSConflictError) as caught:
        await resolve(wats.production.create_unit(unit))
    assert caught.value.status_code == 409
    assert "update it instead" in str(caught.value)
    with pytest.raises(corekit.errors.NotFoundError):
        await resolve(wats.production.get_unit("nope", "PN-C"))


async def test_unreachable_server_is_a_connect_error(kind: str, resolve: Any) -> None:
    from pywats import WATS, AsyncWATS

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cls = WATS if kind == "sync" else AsyncWATS
    client = cls(
        f"http://127.0.0.1:{port}", token="eDp5", retry=None, clock=FakeClock(), trust_env=False
    )
    try:
        with pytest.raises(WATSConnectError) as caught:
            await resolve(client.app.version())
    finally:
        if isinstance(client, WATS):
            client.close()
        else:
            await client.aclose()
    assert isinstance(caught.value, corekit.errors.ConnectError)
    assert "base URL" in str(caught.value)


async def test_slow_answer_is_a_timeout(
    kind: str, client_factory: Any, resolve: Any, emulator: FaultInjector
) -> None:
    client = client_factory(kind, timeout=0.2, retry=None)
    emulator.delay("/api/App/Version", 5.0, count=1)
    with pytest.raises(WATSTimeoutError) as caught:
        await resolve(client.app.version())
    assert isinstance(caught.value, TimeoutError)


async def test_dropped_connection_on_a_post_is_a_transport_error(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    emulator.drop("/api/Production/SerialNumbers/Take", count=1)
    with pytest.raises(WATSTransportError):
        await resolve(wats.production.take_serial_numbers("Default"))


async def test_open_breaker_pauses_calls(
    kind: str, client_factory: Any, resolve: Any, emulator: FaultInjector
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, recovery_time=60.0, clock=FakeClock())
    client = client_factory(kind, breaker=breaker, retry=None)
    emulator.fail("/api/App/Version", 503, count=None)
    for _ in range(2):
        with pytest.raises(WATSServerError):
            await resolve(client.app.version())
    with pytest.raises(WATSUnavailableError) as caught:
        await resolve(client.app.version())
    assert isinstance(caught.value, corekit.errors.CircuitOpenError)
    assert len(emulator.calls()) == 2


async def test_unreadable_answer_is_an_operation_error(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    emulator.fail("/api/Product/*", 200, body="<html>login page</html>")
    with pytest.raises(WATSOperationError, match="base URL points at a WATS server"):
        await resolve(wats.product.get("PN"))
    emulator.fail("/api/App/Version", 200, body=b"")
    with pytest.raises(WATSOperationError):
        await resolve(wats.app.version())


async def test_oversized_answer_is_an_operation_error(
    kind: str, client_factory: Any, resolve: Any
) -> None:
    client = client_factory(kind, max_response_bytes=10)
    with pytest.raises(WATSOperationError):
        await resolve(client.app.processes())


async def test_asp_net_error_details_reach_the_message_without_secrets(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    body = {
        "Message": "The request is invalid.",
        "ModelState": {"report.pn": ["The pn field is required."], "report.sn": "Too long."},
    }
    emulator.fail("/api/Product/PN-1", 400, count=1, body=body)
    with pytest.raises(WATSBadRequestError) as caught:
        await resolve(wats.product.get("PN-1"))
    error = caught.value
    assert error.wats_message == (
        "The request is invalid. report.pn: The pn field is required. report.sn: Too long."
    )
    assert error.route == "/api/Product/PN-1"
    text = str(error) + repr(error.args)
    assert "Basic" not in text
    assert "d2F0czp3YXRz" not in text  # base64("wats:wats"), the fixture's credentials


def test_wats_message_extraction() -> None:
    assert (
        wats_message(
            '{"Message": "An error has occurred.", "ExceptionMessage": "Timeout expired.", '
            '"StackTrace": "at Wats.Db.Query()"}'
        )
        == "An error has occurred. Timeout expired."
    )
    assert wats_message('{"ModelState": {"x": ["bad"]}}') == "x: bad"
    assert wats_message('{"Message": "a", "message": "b"}') == "a"
    assert wats_message('{"detail": "d"}') == "d"
    assert wats_message('{"other": 1}') == ""
    assert wats_message('"quoted"') == "quoted"
    assert wats_message("[1]") == ""
    assert wats_message(" plain text ") == "plain text"


def test_translation_keeps_pywats_errors_and_maps_other_statuses() -> None:
    mine = WATSNotFoundError("x", status_code=404)
    assert translate(mine, "/r") is mine
    teapot = corekit.errors.ClientError("t", status_code=418, method="GET", url="u")
    error = translate(teapot, "/api/x")
    assert type(error) is WATSStatusError
    assert str(error) == "GET /api/x -> 418"
    other = translate(corekit.errors.QueueError("q"), "/api/y")
    assert isinstance(other, WATSOperationError)
    config = translate(corekit.errors.ConfigurationError("bad"), "/api/z")
    assert isinstance(config, ValueError)
    assert isinstance(config, PyWATSError)
