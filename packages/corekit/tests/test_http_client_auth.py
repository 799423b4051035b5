"""OAuth2Auth and TokenAuth inside corekit's Client / AsyncClient pipeline, on both faces.

The auth flows are tested on plain httpx2 clients elsewhere; here they run under the pipeline:
token endpoint failures meet the retry policy, and a login shares the client it authenticates.
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from typing import Any

import httpx2
import pytest

from corekit.errors import AuthenticationError, ConfigurationError, ConnectError, ServerError
from corekit.http import Client, OAuth2Auth, Token, TokenAuth
from corekit.retry import RetryPolicy
from corekit.testing import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

BASE = "http://api.test"
TOKEN_URL = f"{BASE}/oauth/token"
NO_JITTER = RetryPolicy(wait_initial=0.5, wait_max=3.0, wait_jitter=0.0)


class Server:
    """Token endpoint, ProjectX-style login and a protected API; token answers are scripted."""

    def __init__(self, *token_answers: httpx2.Response) -> None:
        self.token_answers = list(token_answers)
        self.calls: list[tuple[str, str, str | None]] = []
        self.issued = 0

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.calls]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.calls.append((request.method, path, request.headers.get("authorization")))
        if path in ("/oauth/token", "/login"):
            if self.token_answers:
                return self.token_answers.pop(0)
            self.issued += 1
            return httpx2.Response(200, json={"access_token": f"at-{self.issued}"})
        if request.headers.get("authorization", "").startswith("Bearer at-"):
            return httpx2.Response(200, json={"ok": True})
        return httpx2.Response(401)


DEFAULT_PATH = "/data"


def oauth() -> OAuth2Auth:
    return OAuth2Auth(TOKEN_URL, client_id="app", client_secret="s3cret", clock=FakeClock())


# -- token endpoint failures under the retry policy --------------------------------------------


async def test_an_unreachable_token_endpoint_is_named_in_the_error(face):
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/oauth/token":
            raise httpx2.ConnectError("connection refused", request=request)
        return httpx2.Response(200)

    client = face.client(handler, auth=oauth(), retry=RetryPolicy.none())
    with pytest.raises(ConnectError) as info:
        await face.request(client, "GET", "/data")
    assert str(info.value).startswith(f"POST {TOKEN_URL} could not connect")
    assert info.value.url == TOKEN_URL


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_token_endpoint_5xx_is_retried_for_any_method(face, method):
    # The API request was never sent, so repeating it is safe even for a POST.
    clock = FakeClock()
    server = Server(httpx2.Response(503, text="busy"))
    client = face.client(server, auth=oauth(), clock=clock, retry=NO_JITTER)
    response = await face.request(client, method, json={"order": 1})
    assert response.json() == {"ok": True}
    assert server.paths() == ["/oauth/token", "/oauth/token", "/data"]
    assert clock.sleeps == [0.5]


async def test_token_endpoint_429_waits_its_retry_after(face):
    clock = FakeClock()
    server = Server(httpx2.Response(429, json={"error": "slow_down"}, headers={"Retry-After": "4"}))
    client = face.client(server, auth=oauth(), clock=clock, retry=NO_JITTER)
    assert (await face.request(client, "GET")).status_code == 200
    assert clock.sleeps == [4.0]


async def test_token_endpoint_429_http_date_is_understood(face):
    clock = FakeClock()
    when = dt.datetime.fromtimestamp(clock.time() + 6, tz=dt.UTC)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}
    server = Server(httpx2.Response(429, headers=headers))
    auth = OAuth2Auth(TOKEN_URL, client_id="app", client_secret="s3cret", clock=clock)
    client = face.client(server, auth=auth, clock=clock, retry=NO_JITTER)
    assert (await face.request(client, "GET")).status_code == 200
    assert clock.sleeps == [6.0]


async def test_token_endpoint_refusal_is_not_retried_and_names_the_api_request(face):
    clock = FakeClock()
    refusal = httpx2.Response(401, json={"error": "invalid_client"})
    server = Server(refusal, refusal)
    client = face.client(server, auth=oauth(), clock=clock, retry=NO_JITTER)
    with pytest.raises(AuthenticationError, match="invalid_client") as info:
        await face.request(client, "GET", "/data", params={"access_token": "leak"})
    assert server.paths() == ["/oauth/token"]
    assert clock.sleeps == []
    notes = " ".join(info.value.__notes__)
    assert f"while authenticating GET {BASE}/data?access_token=[REDACTED]" in notes
    assert "attempt 1/5" in notes


async def test_token_endpoint_failing_on_every_attempt_raises_its_error(face):
    clock = FakeClock()
    server = Server(*[httpx2.Response(502, text="bad gateway")] * 3)
    client = face.client(server, auth=oauth(), clock=clock, retry=RetryPolicy(attempts=3))
    with pytest.raises(ServerError, match="HTTP 502") as info:
        await face.request(client, "GET")
    assert server.paths() == ["/oauth/token"] * 3
    assert len(clock.sleeps) == 2
    assert "attempt 3/3" in " ".join(info.value.__notes__)


# -- a login that shares the client it authenticates -------------------------------------------


def token_auth(face: Any, holder: dict[str, Any], **request_options: Any) -> TokenAuth:
    def parse(response: httpx2.Response) -> Token:
        return Token(response.json()["access_token"])

    if face.kind == "sync":

        def login() -> Token:
            return parse(holder["client"].post("/login", json={"k": 1}, **request_options))

        return TokenAuth(login)

    async def alogin() -> Token:
        return parse(await holder["client"].post("/login", json={"k": 1}, **request_options))

    return TokenAuth(alogin)


async def test_login_through_the_same_client_with_auth_none(face):
    server = Server()
    holder: dict[str, Any] = {}
    holder["client"] = client = face.client(server, auth=token_auth(face, holder, auth=None))
    assert (await face.request(client, "GET")).status_code == 200
    assert (await face.request(client, "GET")).status_code == 200
    assert server.calls == [
        ("POST", "/login", None),
        ("GET", "/data", "Bearer at-1"),
        ("GET", "/data", "Bearer at-1"),
    ]


async def test_login_failure_inside_the_client_is_retried_like_a_token_failure(face):
    # The login POST itself is not retried on 503 (not idempotent); the ServerError it raises
    # fails the API request's attempt before it was sent, so that request is tried again.
    clock = FakeClock()
    server = Server(httpx2.Response(503))
    holder: dict[str, Any] = {}
    auth = token_auth(face, holder, auth=None)
    holder["client"] = client = face.client(server, auth=auth, clock=clock, retry=NO_JITTER)
    assert (await face.request(client, "POST")).status_code == 200
    assert server.paths() == ["/login", "/login", "/data"]
    assert clock.sleeps == [0.5]


async def test_login_through_the_same_auth_fails_instead_of_deadlocking(face):
    server = Server()
    holder: dict[str, Any] = {}
    holder["client"] = client = face.client(server, auth=token_auth(face, holder), retry=None)
    with pytest.raises(ConfigurationError, match=r"auth=None"):
        await face.request(client, "GET")
    assert server.calls == []


def test_auth_can_be_set_after_the_client_is_built() -> None:
    seen: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx2.Response(200)

    with Client("http://api.test", transport=httpx2.MockTransport(handler)) as client:
        assert client.auth is None
        client.auth = TokenAuth(lambda: Token("t-1"))
        assert isinstance(client.auth, TokenAuth)
        client.get("/a")
        client.auth = None
        client.get("/b")
    assert seen == ["Bearer t-1", None]
