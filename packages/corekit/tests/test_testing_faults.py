"""corekit.testing.FaultInjector: faults, request log and control API, over a real socket.

One emulator (FastAPI inside the injector, under uvicorn) serves the whole module and is reset
before each test. Every scenario runs through the sync and the async httpx2 client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI, Request

from corekit.errors import ConfigurationError
from corekit.testing import REDACTED, FakeClock, FaultInjector, ServedApp, serve
from corekit.testing._requestlog import redact_body
from corekit.testing._server import Message, Receive, Scope, Send

Call = Callable[..., Awaitable[httpx2.Response]]

# What the apps' POST /items handled: the side effect a dropped response must not undo.
CREATED: list[dict[str, Any]] = []


@dataclass
class Emulator:
    injector: FaultInjector
    server: ServedApp
    clock: FakeClock
    resets: list[str] = field(default_factory=list)
    action_calls: list[dict[str, Any]] = field(default_factory=list)


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/items/{item_id}/parts")
    def get_parts(item_id: int) -> list[int]:
        return [item_id]

    @app.post("/items", status_code=201)
    async def create_item(request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        CREATED.append(body)
        return body

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[Emulator]:
    clock = FakeClock()
    holder: list[Emulator] = []

    def revoke_tokens(payload: dict[str, Any]) -> dict[str, Any]:
        holder[0].action_calls.append(payload)
        if "user" not in payload:
            raise ValueError("field 'user' is required")
        return {"revoked": payload["user"]}

    async def slow_action(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        holder[0].action_calls.append({"async": True, **payload})

    injector = FaultInjector(
        make_app(),
        clock=clock,
        on_reset=lambda: holder[0].resets.append("reset"),
        actions={"revoke-tokens": revoke_tokens, "noop": slow_action},
    )
    with serve(injector) as server:
        holder.append(Emulator(injector, server, clock))
        yield holder[0]


@pytest.fixture
def emulator(module_emulator: Emulator) -> Emulator:
    module_emulator.injector.reset()
    module_emulator.resets.clear()
    module_emulator.action_calls.clear()
    module_emulator.clock.sleeps.clear()
    CREATED.clear()
    return module_emulator


@pytest.fixture(params=["sync", "async"])
async def call(
    request: pytest.FixtureRequest, emulator: Emulator, anyio_backend: str
) -> AsyncIterator[Call]:
    """``await call(method, path, **httpx2 kwargs)`` through the sync or the async client."""
    if request.param == "sync":
        with httpx2.Client(base_url=emulator.server.url) as client:

            async def sync_call(method: str, path: str, **kwargs: Any) -> httpx2.Response:
                return client.request(method, path, **kwargs)

            yield sync_call
    else:
        async with httpx2.AsyncClient(base_url=emulator.server.url) as aclient:

            async def async_call(method: str, path: str, **kwargs: Any) -> httpx2.Response:
                return await aclient.request(method, path, **kwargs)

            yield async_call


pytestmark = pytest.mark.anyio


# -- status faults -------------------------------------------------------------------------------


async def test_status_fault_answers_count_times_then_expires(
    emulator: Emulator, call: Call
) -> None:
    fault = emulator.injector.fail("/items/1", 503, count=2)
    statuses = [(await call("GET", "/items/1")).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert emulator.injector.faults == []
    assert [r.fault_id for r in emulator.injector.requests] == [fault.id, fault.id, None]


async def test_status_fault_default_and_custom_body_and_headers(
    emulator: Emulator, call: Call
) -> None:
    emulator.injector.fail("/items/1", 500)
    emulator.injector.fail("/items/1", 418, body={"code": "TEAPOT"}, headers={"X-Trace": "t-1"})
    emulator.injector.fail("/items/1", 502, body="<html>bad gateway</html>")
    default = await call("GET", "/items/1")
    assert default.json() == {"detail": "Internal Server Error"}
    custom = await call("GET", "/items/1")
    assert (custom.status_code, custom.json(), custom.headers["x-trace"]) == (
        418,
        {"code": "TEAPOT"},
        "t-1",
    )
    text = await call("GET", "/items/1")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == "<html>bad gateway</html>"


async def test_count_none_applies_until_reset(emulator: Emulator, call: Call) -> None:
    emulator.injector.fail("/health", 503, count=None)
    assert [(await call("GET", "/health")).status_code for _ in range(4)] == [503] * 4
    assert emulator.injector.faults[0].remaining is None
    emulator.injector.reset()
    assert (await call("GET", "/health")).status_code == 200


async def test_method_and_glob_matching(emulator: Emulator, call: Call) -> None:
    emulator.injector.fail("/items/*", 503, count=None, method="post")
    emulator.injector.fail("/items/*", 504, count=None, method="GET")
    assert (await call("GET", "/health")).status_code == 200
    assert (await call("GET", "/items/7")).status_code == 504
    assert (await call("GET", "/items/7/parts")).status_code == 504  # "*" spans "/"
    assert (await call("POST", "/items/", json={})).status_code == 503
    assert (await call("POST", "/items", json={})).status_code == 201  # "/items/*" needs a "/"


def test_paths_match_regardless_of_case_when_asked() -> None:
    # The apps behind ProjectX and WATS route paths case-insensitively; so can their faults.
    injector = FaultInjector(make_app(), ignore_case=True)
    strict = FaultInjector(make_app())
    with serve(injector) as loose_server, serve(strict) as strict_server:
        injector.fail("/ITEMS/*", 503)
        strict.fail("/ITEMS/*", 503)
        assert httpx2.get(f"{loose_server.url}/items/1").status_code == 503
        assert httpx2.get(f"{strict_server.url}/items/1").status_code == 200
        listed = httpx2.get(f"{loose_server.url}/_emulator/requests?path=/Items/*").json()
    assert [r["path"] for r in listed["requests"]] == ["/items/1"]
    assert [r.path for r in injector.calls("GET", "/ITEMS/1")] == ["/items/1"]
    assert strict.calls("GET", "/ITEMS/1") == []


def test_error_body_gives_injected_errors_the_service_shape() -> None:
    # An emulator answers injected errors as its service would (WATS: {"Message": ...}),
    # whether the fault was queued from Python or over HTTP; an explicit body still wins.
    injector = FaultInjector(make_app(), error_body=lambda status: {"Message": f"E{status}"})
    with serve(injector) as server:
        injector.fail("/items/1", 503)
        injector.rate_limit("/items/2", retry_after=3)
        httpx2.post(
            f"{server.url}/_emulator/faults",
            json={"kind": "status", "path": "/items/3", "status": 400},
        ).raise_for_status()
        injector.fail("/items/4", 500, body={"own": True})
        got = [httpx2.get(f"{server.url}/items/{n}") for n in (1, 2, 3, 4)]
    assert [r.status_code for r in got] == [503, 429, 400, 500]
    assert [r.json() for r in got] == [
        {"Message": "E503"},
        {"Message": "E429"},
        {"Message": "E400"},
        {"own": True},
    ]
    assert got[1].headers["retry-after"] == "3"


async def test_oldest_matching_fault_applies_first(emulator: Emulator, call: Call) -> None:
    emulator.injector.fail("/health", 500)
    emulator.injector.fail("/health", 501)
    statuses = [(await call("GET", "/health")).status_code for _ in range(3)]
    assert statuses == [500, 501, 200]


async def test_head_request_to_a_status_fault_gets_no_body(emulator: Emulator, call: Call) -> None:
    emulator.injector.fail("/health", 503)
    response = await call("HEAD", "/health")
    assert response.status_code == 503
    assert response.content == b""
    assert (await call("GET", "/health")).status_code == 200  # connection still usable


# -- latency, drop, rate limit -------------------------------------------------------------------


async def test_latency_uses_the_injected_clock(emulator: Emulator, call: Call) -> None:
    start = emulator.clock.monotonic()
    emulator.injector.delay("/items/3", 30.0)
    response = await call("GET", "/items/3")
    assert response.json() == {"id": 3}
    assert emulator.clock.sleeps == [30.0]
    assert emulator.clock.monotonic() == start + 30.0
    (record,) = emulator.injector.requests
    assert (record.fault, record.status, record.duration) == ("latency", 200, 30.0)
    assert record.started == start


async def test_drop_makes_httpx2_raise_a_remote_protocol_error(
    emulator: Emulator, call: Call
) -> None:
    emulator.injector.drop("/items/*", method="GET")
    with pytest.raises(httpx2.RemoteProtocolError, match="peer closed connection") as caught:
        await call("GET", "/items/1")
    assert isinstance(caught.value, httpx2.TransportError)
    (record,) = emulator.injector.requests
    assert (record.fault, record.status) == ("drop", None)
    assert (await call("GET", "/items/1")).json() == {"id": 1}  # the client recovers


@pytest.mark.parametrize("after_app", [False, True])
async def test_drop_after_app_loses_only_the_response(
    emulator: Emulator, call: Call, after_app: bool
) -> None:
    emulator.injector.drop("/items", method="POST", after_app=after_app)
    with pytest.raises(httpx2.RemoteProtocolError):
        await call("POST", "/items", json={"order": 1})
    # After the app, the order is booked although the client saw a transport error.
    assert ([{"order": 1}] if after_app else []) == CREATED
    (record,) = emulator.injector.requests
    assert (record.fault, record.status) == ("drop", 201 if after_app else None)
    assert record.json() == {"order": 1}
    assert (await call("POST", "/items", json={"order": 2})).status_code == 201


async def test_latency_replays_the_body_to_the_app(emulator: Emulator, call: Call) -> None:
    emulator.injector.delay("/items", 5.0, method="POST")
    response = await call("POST", "/items", json={"name": "slow"})
    assert (response.status_code, response.json()) == (201, {"name": "slow"})
    assert emulator.clock.sleeps == [5.0]


def test_latency_ends_when_the_client_gives_up() -> None:
    # Real time: the client times out after 0.2 s of a 30 s delay. The server stops waiting
    # and handles the request (as a slow server would), instead of holding the connection
    # (and the server's shutdown) for the rest of the delay.
    handled = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        handled.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message.get("body", b"")})

    injector = FaultInjector(app)
    injector.delay("/slow", 30.0)
    started = time.monotonic()
    with serve(injector) as server:
        with pytest.raises(httpx2.ReadTimeout):
            httpx2.post(f"{server.url}/slow", content=b"payload", timeout=0.2)
        assert handled.wait(timeout=5)
    assert time.monotonic() - started < 10
    (record,) = injector.requests
    assert (record.fault, record.body) == ("latency", b"payload")
    assert record.duration < 10


async def test_rate_limit_with_retry_after_seconds(emulator: Emulator, call: Call) -> None:
    emulator.injector.rate_limit("/health", 2.5)
    response = await call("GET", "/health")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"  # whole seconds, rounded up
    assert response.json() == {"detail": "Too Many Requests", "retry_after": 3}


async def test_rate_limit_with_retry_after_http_date(emulator: Emulator, call: Call) -> None:
    emulator.injector.rate_limit("/health", 60, http_date=True, body={"error": "slow down"})
    response = await call("GET", "/health")
    assert response.status_code == 429
    announced = email.utils.parsedate_to_datetime(response.headers["retry-after"])
    assert announced.timestamp() == pytest.approx(emulator.clock.time() + 60, abs=1)
    assert response.json() == {"error": "slow down"}


async def test_concurrent_requests_use_up_a_count_exactly(emulator: Emulator, call: Call) -> None:
    emulator.injector.fail("/items/*", 503, count=5)
    responses = await asyncio.gather(*(call("GET", f"/items/{i}") for i in range(12)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [503] * 5
    assert len(emulator.injector.requests) == 12


def test_threads_use_up_a_count_exactly(emulator: Emulator) -> None:
    emulator.injector.fail("/health", 503, count=4)
    with (
        httpx2.Client(base_url=emulator.server.url) as client,
        concurrent.futures.ThreadPoolExecutor(6) as pool,
    ):
        statuses = list(pool.map(lambda _: client.get("/health").status_code, range(12)))
    assert sorted(statuses) == [200] * 8 + [503] * 4


# -- request log ---------------------------------------------------------------------------------


async def test_request_log_records_each_request(emulator: Emulator, call: Call) -> None:
    emulator.clock.advance(5)
    now = emulator.clock.monotonic()
    await call("POST", "/items", json={"name": "x"}, params={"page": "2"})
    await call("GET", "/missing")
    create, missing = emulator.injector.requests
    assert (create.method, create.path, create.query, create.status) == (
        "POST",
        "/items",
        "page=2",
        201,
    )
    assert create.body_size == len(b'{"name":"x"}')
    assert create.headers["content-type"] == "application/json"
    assert (create.fault, create.fault_id, create.started, create.duration) == (None, None, now, 0)
    assert (missing.status, missing.body_size) == (404, 0)
    assert emulator.injector.calls("get", "/missing") == [missing]
    assert emulator.injector.calls(path="/item*") == [create]
    assert emulator.injector.calls("DELETE") == []


async def test_request_log_redacts_credentials(emulator: Emulator, call: Call) -> None:
    await call(
        "GET",
        "/health",
        headers={
            "Authorization": "Bearer secret",
            "Cookie": "session=secret",
            "X-API-Key": "secret",
            "X-Refresh-Token": "secret",
        },
        params={"access_token": "secret", "q": "visible"},
    )
    (record,) = emulator.injector.requests
    assert "secret" not in repr(record)
    assert record.headers["authorization"] == f"Bearer {REDACTED}"
    assert record.headers["x-api-key"] == REDACTED
    assert record.headers["cookie"] == REDACTED
    assert record.headers["x-refresh-token"] == REDACTED
    assert "q=visible" in record.query
    served = await call("GET", "/_emulator/requests")
    assert "secret" not in served.text
    assert served.json()["requests"][0]["headers"]["authorization"] == f"Bearer {REDACTED}"


async def test_request_log_keeps_bodies_with_secrets_redacted(
    emulator: Emulator, call: Call
) -> None:
    sent = {"userName": "ada", "apiKey": "secret", "nested": {"password": "secret"}}
    await call("POST", "/items", json=sent)
    emulator.injector.fail("/token", 401)  # answered by the injector, which reads the body
    await call(
        "POST",
        "/token",
        data={"grant_type": "password", "username": "ada", "password": "secret"},
    )
    as_json, as_form = emulator.injector.requests
    assert as_json.json() == {
        "userName": "ada",
        "apiKey": REDACTED,
        "nested": {"password": REDACTED},
    }
    assert as_form.body == f"grant_type=password&username=ada&password={REDACTED}".encode()
    assert as_form.body_size == len(b"grant_type=password&username=ada&password=secret")
    served = await call("GET", "/_emulator/requests")
    assert "secret" not in served.text
    served_json = served.json()["requests"][0]["body"]
    assert (
        served_json
        == as_json.body.decode()
        == '{"userName":"ada","apiKey":"[REDACTED]",' + ('"nested":{"password":"[REDACTED]"}}')
    )


async def test_request_log_body_limit(anyio_backend: str) -> None:
    injector = FaultInjector(make_app(), body_limit=12)
    silent = FaultInjector(make_app(), body_limit=0)
    for logger in (injector, silent):
        with serve(logger) as server:
            async with httpx2.AsyncClient(base_url=server.url) as client:
                await client.post("/items", json={"note": "x" * 100, "token": "secret"})
    (cut,) = injector.requests
    (empty,) = silent.requests
    assert (cut.body, empty.body) == (b'{"note":"xxx', b"")
    assert cut.body_size == empty.body_size > 100
    with pytest.raises(ValueError, match="Unterminated string"):
        cut.json()


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        # Cut off inside the secret by the body limit: still redacted.
        (b'{"user": "ada", "apiKey": "sec', "application/json", b'{"user": "ada", "apiKey": "%s"'),
        # An escaped quote does not end the secret; other bytes stay exactly as sent.
        (
            b'{"password" : "s\\"ec", "n": 1}',
            "application/vnd.x+json",
            b'{"password" : "%s", "n": 1}',
        ),
        (
            b"password=sec&user=ada",
            "application/x-www-form-urlencoded; charset=utf-8",
            b"password=%s&user=ada",
        ),
        (b"<password>sec</password>", "application/xml", b"<password>sec</password>"),
    ],
)
def test_redact_body(body: bytes, content_type: str, expected: bytes) -> None:
    assert redact_body(body, content_type) == expected.replace(b"%s", REDACTED.encode())


async def test_control_calls_are_not_logged(emulator: Emulator, call: Call) -> None:
    await call("GET", "/_emulator/faults")
    await call("GET", "/_emulator/requests")
    assert emulator.injector.requests == []


async def test_log_keeps_the_latest_log_limit_requests(anyio_backend: str) -> None:
    injector = FaultInjector(make_app(), log_limit=3)
    with serve(injector) as server:
        async with httpx2.AsyncClient(base_url=server.url) as client:
            for i in range(5):
                await client.get(f"/items/{i}")
    assert [r.path for r in injector.requests] == ["/items/2", "/items/3", "/items/4"]


# -- reset ---------------------------------------------------------------------------------------


async def test_reset_clears_faults_and_log_and_calls_on_reset(
    emulator: Emulator, call: Call
) -> None:
    emulator.injector.fail("/health", 503, count=None)
    await call("GET", "/health")
    emulator.injector.reset()
    assert (emulator.injector.faults, emulator.injector.requests) == ([], [])
    assert emulator.resets == ["reset"]
    emulator.injector.fail("/health", 503, count=None)
    await call("GET", "/health")
    response = await call("POST", "/_emulator/reset")
    assert (response.status_code, response.json()) == (200, {"reset": True})
    assert (emulator.injector.faults, emulator.injector.requests) == ([], [])
    assert emulator.resets == ["reset", "reset"]


# -- HTTP control API ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected_status"),
    [
        ({"kind": "status", "status": 503, "body": {"e": 1}, "headers": {"X-A": "b"}}, 503),
        ({"kind": "rate_limit", "retry_after": 4}, 429),
        ({"kind": "latency", "seconds": 12.5}, 200),
    ],
)
async def test_control_api_queues_each_answering_kind(
    emulator: Emulator, call: Call, spec: dict[str, Any], expected_status: int
) -> None:
    created = await call("POST", "/_emulator/faults", json={"path": "/items/*", **spec})
    assert created.status_code == 201
    fault = created.json()
    assert fault["id"].startswith("fault-")
    assert (fault["kind"], fault["count"], fault["remaining"]) == (spec["kind"], 1, 1)
    response = await call("GET", "/items/9")
    assert response.status_code == expected_status
    if spec["kind"] == "status":
        assert (response.json(), response.headers["x-a"]) == ({"e": 1}, "b")
    if spec["kind"] == "rate_limit":
        assert response.headers["retry-after"] == "4"
    if spec["kind"] == "latency":
        assert emulator.clock.sleeps == [12.5]
    assert emulator.injector.requests[0].fault_id == fault["id"]
    assert (await call("GET", "/items/9")).status_code == 200


async def test_control_api_drop_and_method_filter(emulator: Emulator, call: Call) -> None:
    body = {"kind": "drop", "path": "/health", "method": "GET", "count": None}
    created = await call("POST", "/_emulator/faults", json=body)
    assert (created.status_code, created.json()["after_app"]) == (201, False)
    for _ in range(2):
        with pytest.raises(httpx2.RemoteProtocolError):
            await call("GET", "/health")
    assert (await call("HEAD", "/health")).status_code == 405  # FastAPI: not dropped


async def test_control_api_lists_and_clears_faults(emulator: Emulator, call: Call) -> None:
    emulator.injector.fail("/health", 503, count=3)
    await call("GET", "/health")
    listed = (await call("GET", "/_emulator/faults")).json()["faults"]
    assert [(f["path"], f["status"], f["count"], f["remaining"]) for f in listed] == [
        ("/health", 503, 3, 2)
    ]
    cleared = await call("DELETE", "/_emulator/faults")
    assert cleared.json() == {"cleared": 1}
    assert emulator.injector.faults == []


async def test_control_api_serves_the_log_with_filters(emulator: Emulator, call: Call) -> None:
    await call("GET", "/health")
    await call("GET", "/items/1")
    await call("POST", "/items", json={})
    served = await call("GET", "/_emulator/requests", params={"method": "get", "path": "/items/*"})
    (only,) = served.json()["requests"]
    assert (only["method"], only["path"], only["status"]) == ("GET", "/items/1", 200)


async def test_actions_receive_the_posted_object(emulator: Emulator, call: Call) -> None:
    response = await call("POST", "/_emulator/actions/revoke-tokens", json={"user": "ada"})
    assert (response.status_code, response.json()) == (200, {"revoked": "ada"})
    empty = await call("POST", "/_emulator/actions/noop")
    assert (empty.status_code, empty.json()) == (200, None)
    assert emulator.action_calls == [{"user": "ada"}, {"async": True}]
    refused = await call("POST", "/_emulator/actions/revoke-tokens", json={})
    assert refused.status_code == 422
    assert "field 'user' is required" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "status", "detail"),
    [
        ("GET", "/_emulator/nothing", 404, "available: GET/POST/DELETE /_emulator/faults"),
        ("GET", "/_emulator", 404, "no control endpoint"),
        ("POST", "/_emulator/actions/unknown", 404, "registered: noop, revoke-tokens"),
        ("PUT", "/_emulator/faults", 405, "allowed: DELETE, GET, POST"),
        ("GET", "/_emulator/reset", 405, "allowed: POST"),
    ],
)
async def test_unknown_control_calls(
    emulator: Emulator, call: Call, method: str, path: str, status: int, detail: str
) -> None:
    response = await call(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert detail in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"not json", "body: expected a JSON object, got invalid JSON"),
        (b"[1, 2]", "body: expected a JSON object, got list"),
        (b"", "body: expected a JSON object"),
        (b'{"path": "/x"}', "kind: got None; accepted: 'drop', 'latency', 'rate_limit', 'status'"),
        (b'{"kind": "boom", "path": "/x"}', "kind: got 'boom'"),
        (b'{"kind": "status", "path": "/x"}', "status: required for kind 'status'"),
        (b'{"kind": "status", "path": "/x", "status": "503"}', "status: expected an int"),
        (b'{"kind": "status", "path": "x", "status": 503}', "path: expected a request path"),
        (b'{"kind": "drop", "path": "/x", "count": 0}', "count: expected a positive int"),
        (b'{"kind": "drop", "path": "/x", "seconds": 1}', "seconds: not a field of kind 'drop'"),
        (b'{"kind": "latency", "path": "/x", "seconds": -1}', "seconds: expected a non-negative"),
        (b'{"kind": "rate_limit", "path": "/x", "retry_after": 1, "http_date": 1}', "http_date"),
        (b'{"kind": "status", "path": "/x", "status": 503, "headers": [1]}', "headers: expected"),
        (b'{"kind": "status", "path": "/x", "status": 204, "body": {}}', "body: a 204 response"),
        (b'{"kind": "drop", "path": "/x", "method": "G T"}', "method: expected an HTTP method"),
        (b'{"kind": "drop", "path": "/x", "after_app": 1}', "after_app: expected true or false"),
    ],
)
async def test_bad_fault_bodies_answer_422_naming_the_field(
    emulator: Emulator, call: Call, body: bytes, detail: str
) -> None:
    response = await call("POST", "/_emulator/faults", content=body)
    assert response.status_code == 422
    assert detail in response.json()["detail"]
    assert emulator.injector.faults == []


# -- Python API misuse, pass-through, plain ASGI --------------------------------------------------


@pytest.mark.parametrize(
    ("action", "named"),
    [
        (lambda i: i.fail("/x", 99), "status"),
        (lambda i: i.fail("/x", 503, count=0), "count"),
        (lambda i: i.fail("/x", 503, body={1, 2}), "body"),
        (lambda i: i.fail("/x", 503, headers={"Content-Length": "1"}), "headers"),
        (lambda i: i.fail("/x", 503, headers={"X-A": "b\r\nX-B: c"}), "headers"),
        (lambda i: i.delay("/x", float("inf")), "seconds"),
        (lambda i: i.rate_limit("/x", -1), "retry_after"),
        (lambda i: i.drop("no-slash"), "path"),
        (lambda i: i.add("explode", "/x"), "kind"),
        (lambda i: i.add("drop", "/x", colour="red"), "colour"),
    ],
    ids=[
        "status",
        "count",
        "body-not-json",
        "framing-header",
        "header-injection",
        "infinite-delay",
        "negative-retry-after",
        "relative-path",
        "unknown-kind",
        "unknown-field",
    ],
)
def test_python_api_misuse_raises_configuration_error(
    action: Callable[[FaultInjector], object], named: str
) -> None:
    injector = FaultInjector(make_app())
    with pytest.raises(ConfigurationError, match=named):
        action(injector)
    assert injector.faults == []


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"prefix": "_emulator"}, "prefix"),
        ({"prefix": "/_emulator/"}, "prefix"),
        ({"log_limit": 0}, "log_limit"),
        ({"on_reset": "no"}, "on_reset"),
        ({"actions": {"a/b": print}}, "actions"),
        ({"actions": {"a": "not callable"}}, "actions"),
        ({"on_reset": asyncio.sleep}, "on_reset"),
        ({"body_limit": -1}, "body_limit"),
        ({"body_limit": True}, "body_limit"),
    ],
)
def test_bad_injector_arguments(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        FaultInjector(make_app(), **kwargs)


async def test_websocket_and_lifespan_scopes_pass_through_untouched(anyio_backend: str) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    injector = FaultInjector(app)
    injector.fail("*", 503, count=None)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        raise AssertionError(message)

    await injector({"type": "websocket", "path": "/ws"}, receive, send)
    await injector({"type": "lifespan"}, receive, send)
    assert seen == ["websocket", "lifespan"]
    assert injector.requests == []
    assert injector.faults[0].remaining is None


async def test_plain_asgi_app_with_custom_prefix(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain"})

    injector = FaultInjector(app, prefix="/__control")
    with serve(injector) as server:
        async with httpx2.AsyncClient(base_url=server.url) as client:
            created = await client.post(
                "/__control/faults", json={"kind": "status", "path": "/a", "status": 500}
            )
            assert created.status_code == 201
            assert (await client.get("/a")).status_code == 500
            assert (await client.get("/a")).text == "plain"
            # The default prefix is just another path for this injector.
            assert (await client.get("/_emulator/faults")).text == "plain"
    assert [r.path for r in injector.requests] == ["/a", "/a", "/_emulator/faults"]
