"""Fine-grained cases of OAuth2Auth / TokenAuth over httpx2.MockTransport, on both faces."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx2
import pytest

from corekit.errors import (
    AuthenticationError,
    ConfigurationError,
    RateLimitedError,
    ServerError,
)
from corekit.http._oauth2 import OAuth2Auth
from corekit.http._token import Token, TokenAuth
from corekit.testing import FakeClock

TOKEN_URL = "https://idp.test/realms/x/token"
API = "https://api.test/data"
SECRET = "client-secret-ABC"
PASSWORD = "user-password-DEF"

Handler = Callable[[httpx2.Request], httpx2.Response]


class Server:
    """A scripted token endpoint + API: answers from queues, records what it saw."""

    def __init__(self, expires_in: Any = 300, refresh: bool = True) -> None:
        self.expires_in = expires_in
        self.refresh = refresh
        self.token_answers: list[httpx2.Response] = []
        self.api_answers: list[int] = []
        self.token_requests: list[httpx2.Request] = []
        self.api_requests: list[httpx2.Request] = []
        self.api_bodies: list[bytes] = []
        self.issued = 0

    def grants(self) -> list[str]:
        return [dict(parse_qsl(r.content.decode()))["grant_type"] for r in self.token_requests]

    def forms(self) -> list[dict[str, str]]:
        return [dict(parse_qsl(r.content.decode())) for r in self.token_requests]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/token"):
            self.token_requests.append(request)
            if self.token_answers:
                return self.token_answers.pop(0)
            self.issued += 1
            body: dict[str, Any] = {"access_token": f"at-{self.issued}", "token_type": "Bearer"}
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            if self.refresh:
                body["refresh_token"] = f"rt-{self.issued}"
            return httpx2.Response(200, json=body)
        self.api_requests.append(request)
        self.api_bodies.append(request.read())
        status = self.api_answers.pop(0) if self.api_answers else 200
        return httpx2.Response(status, json={"auth": request.headers.get("authorization")})


class Caller:
    """Sends requests through a sync httpx2.Client or an async one (each call in anyio.run)."""

    def __init__(self, face: str, auth: httpx2.Auth, handler: Handler, **options: Any) -> None:
        self.face = face
        self.auth = auth
        self.transport = httpx2.MockTransport(handler)
        self.options = options

    def request(self, method: str = "GET", url: str = API, **kwargs: Any) -> httpx2.Response:
        if self.face == "sync":
            with httpx2.Client(auth=self.auth, transport=self.transport, **self.options) as c:
                return c.request(method, url, **kwargs)

        async def call() -> httpx2.Response:
            async with httpx2.AsyncClient(
                auth=self.auth, transport=self.transport, **self.options
            ) as c:
                return await c.request(method, url, **kwargs)

        return anyio.run(call)


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_oauth(clock: FakeClock, **kwargs: Any) -> OAuth2Auth:
    kwargs.setdefault("client_id", "app")
    kwargs.setdefault("client_secret", SECRET)
    return OAuth2Auth(TOKEN_URL, clock=clock, **kwargs)


# -- misconfiguration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"client_id": ""}, "client_id"),
        ({"grant_type": "password", "password": PASSWORD}, "username"),
        ({"grant_type": "password", "username": "alice"}, "password"),
        ({"grant_type": "password", "username": "alice", "password": ""}, "password"),
        ({"leeway": -1}, "leeway"),
        ({"leeway": float("nan")}, "leeway"),
        ({"grant_type": "authorization_code"}, "grant_type"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"),
        ({"client_secret": None}, "client_secret"),
        ({"token_url": "/relative/token"}, "token_url"),
        ({"token_url": "ftp://idp.test/token"}, "token_url"),
        ({"username": "alice"}, "grant_type='password'"),
        ({"extra_params": {"grant_type": "x", "audience": "api"}}, "grant_type"),
        ({"token": {"token_type": "Bearer"}}, "access_token"),
        ({"token": {"access_token": "a", "expires_at": "soon"}}, "expires_at"),
        ({"scope": 42}, "scope"),
        ({"on_token": "not callable"}, "on_token"),
    ],
)
def test_oauth2_misconfiguration_names_the_argument(
    clock: FakeClock, kwargs: dict[str, Any], needle: str
) -> None:
    options: dict[str, Any] = {"client_id": "app", "client_secret": SECRET, **kwargs}
    token_url = options.pop("token_url", TOKEN_URL)
    with pytest.raises(ConfigurationError) as info:
        OAuth2Auth(token_url, clock=clock, **options)
    assert needle in str(info.value)
    assert SECRET not in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        (("not callable",), {}, "login"),
        ((lambda: None,), {"refresh": 3}, "refresh"),
        ((lambda: None,), {"leeway": -0.5}, "leeway"),
        ((lambda: None,), {"header": ""}, "header"),
        ((lambda: None,), {"scheme": ""}, "scheme"),
    ],
)
def test_token_auth_misconfiguration_names_the_argument(
    args: tuple[Any, ...], kwargs: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        TokenAuth(*args, **kwargs)


def test_async_login_on_a_sync_client_is_a_configuration_error(clock: FakeClock) -> None:
    async def login() -> Token:
        return Token("v", None)

    server = Server()
    # A coroutine function, and a sync callable that returns a coroutine.
    for callable_ in (login, lambda: login()):  # noqa: PLW0108
        caller = Caller("sync", TokenAuth(callable_, clock=clock), server)
        with pytest.raises(ConfigurationError, match="use an AsyncClient"):
            caller.request()
    assert server.api_requests == []


def test_login_must_return_a_token(face: str, clock: FakeClock) -> None:
    bad: Any = lambda: "bare-string"  # noqa: E731
    caller = Caller(face, TokenAuth(bad, clock=clock), Server())
    with pytest.raises(ConfigurationError, match=r"login must return a corekit\.http\.Token"):
        caller.request()


def test_reprs_hide_secrets(clock: FakeClock) -> None:
    auth = make_oauth(
        clock,
        grant_type="password",
        username="alice",
        password=PASSWORD,
        token={"access_token": "at-SECRET", "refresh_token": "rt-SECRET"},
    )
    text = repr(auth)
    assert "client_id='app'" in text
    for secret in (SECRET, PASSWORD, "at-SECRET", "rt-SECRET"):
        assert secret not in text
    assert "jwt-SECRET" not in repr(Token("jwt-SECRET", 1.0))
    token_auth = TokenAuth(lambda: Token("jwt-SECRET", None))
    assert "jwt-SECRET" not in repr(token_auth)


# -- OAuth2Auth details ------------------------------------------------------------------------


def test_token_request_uses_the_api_requests_timeouts(face: str, clock: FakeClock) -> None:
    server = Server()
    caller = Caller(face, make_oauth(clock), server, timeout=httpx2.Timeout(3.0, connect=1.5))
    caller.request()
    assert server.token_requests[0].extensions["timeout"] == {
        "connect": 1.5,
        "read": 3.0,
        "write": 3.0,
        "pool": 3.0,
    }
    assert server.token_requests[0].headers["content-type"] == "application/x-www-form-urlencoded"


def test_leeway_is_capped_at_half_a_short_lifetime(face: str, clock: FakeClock) -> None:
    server = Server(expires_in=30)
    caller = Caller(face, make_oauth(clock, leeway=60), server)
    caller.request()
    clock.advance(14)
    caller.request()
    assert server.grants() == ["client_credentials"]  # not renewed on every request
    clock.advance(2)
    caller.request()
    assert server.grants() == ["client_credentials", "refresh_token"]


def test_expires_in_as_a_numeric_string_is_understood(face: str, clock: FakeClock) -> None:
    server = Server(expires_in="300")
    auth = make_oauth(clock)
    caller = Caller(face, auth, server)
    caller.request()
    assert auth.token is not None
    assert auth.token["expires_at"] == int(clock.time() + 300)
    clock.advance(241)
    caller.request()
    assert server.grants() == ["client_credentials", "refresh_token"]


def test_invalid_expires_in_means_renew_only_on_401(
    face: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server(expires_in="soon")
    caller = Caller(face, make_oauth(clock), server)
    caller.request()
    assert "ignoring invalid expires_in" in caplog.text
    clock.advance(10_000)
    caller.request()
    assert server.grants() == ["client_credentials"]
    server.api_answers = [401]
    assert caller.request().status_code == 200
    assert server.grants() == ["client_credentials", "refresh_token"]


def test_invalidate_makes_the_next_request_renew(face: str, clock: FakeClock) -> None:
    server = Server()
    auth = make_oauth(clock)
    caller = Caller(face, auth, server)
    auth.invalidate()  # nothing held yet: no-op
    caller.request()
    auth.invalidate()
    assert caller.request().json()["auth"] == "Bearer at-2"
    assert server.grants() == ["client_credentials", "refresh_token"]


def test_token_property_is_a_copy(clock: FakeClock) -> None:
    auth = make_oauth(clock, token={"access_token": "at-0", "expires_in": 100})
    token = auth.token
    assert token is not None
    assert token["expires_at"] == int(clock.time() + 100)
    token["access_token"] = "mutated"
    assert auth.token is not None
    assert auth.token["access_token"] == "at-0"


def test_on_token_errors_are_logged_and_the_token_used(
    face: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(token: dict[str, Any]) -> None:
        raise OSError("disk full")

    caller = Caller(face, make_oauth(clock, on_token=broken), Server())
    assert caller.request().json()["auth"] == "Bearer at-1"
    assert "on_token hook failed" in caplog.text


def test_extra_params_go_to_the_grant_not_the_refresh(face: str, clock: FakeClock) -> None:
    server = Server()
    caller = Caller(face, make_oauth(clock, extra_params={"audience": "api"}), server)
    caller.request()
    clock.advance(250)
    caller.request()
    first, second = server.forms()
    assert first["audience"] == "api"
    assert "audience" not in second
    assert second["refresh_token"] == "rt-1"


def test_refresh_refused_with_another_error_is_raised(face: str, clock: FakeClock) -> None:
    server = Server()
    caller = Caller(face, make_oauth(clock), server)
    caller.request()
    clock.advance(250)
    server.token_answers.append(
        httpx2.Response(401, json={"error": "invalid_client", "error_description": "bad client"})
    )
    with pytest.raises(AuthenticationError, match="invalid_client: bad client"):
        caller.request()
    assert server.grants() == ["client_credentials", "refresh_token"]  # no re-grant


def test_refresh_answer_without_refresh_token_keeps_the_old_one(
    face: str, clock: FakeClock
) -> None:
    server = Server()
    auth = make_oauth(clock)
    caller = Caller(face, auth, server)
    caller.request()
    clock.advance(250)
    server.token_answers.append(httpx2.Response(200, json={"access_token": "at-x"}))
    caller.request()
    assert auth.token is not None
    assert auth.token["refresh_token"] == "rt-1"
    assert "expires_at" not in auth.token


@pytest.mark.parametrize(
    ("status", "answer", "error", "needle"),
    [
        (
            400,
            {
                "json": {
                    "error": "invalid_grant",
                    "error_description": f"password {PASSWORD} is wrong",
                }
            },
            AuthenticationError,
            "invalid_grant: password [REDACTED] is wrong",
        ),
        (200, {"json": {"error": "access_denied"}}, AuthenticationError, "HTTP 200, access_denied"),
        (
            429,
            {"json": {"error": "slow_down"}, "headers": {"Retry-After": "5"}},
            RateLimitedError,
            "HTTP 429, slow_down",
        ),
        (502, {"text": "bad gateway"}, ServerError, "HTTP 502"),
        (404, {"text": "<html>"}, AuthenticationError, "not an OAuth2 error"),
    ],
)
def test_token_endpoint_failures(
    face: str,
    clock: FakeClock,
    status: int,
    answer: dict[str, Any],
    error: type[Exception],
    needle: str,
) -> None:
    server = Server()
    server.token_answers.append(httpx2.Response(status, **answer))
    auth = make_oauth(clock, grant_type="password", username="alice", password=PASSWORD)
    with pytest.raises(error) as info:
        Caller(face, auth, server).request()
    assert type(info.value) is error
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert needle in str(info.value)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in info.value.body  # type: ignore[attr-defined]
    assert server.api_requests == []
    if error is RateLimitedError:
        assert info.value.retry_after == 5.0  # type: ignore[attr-defined]


def test_transport_error_during_the_token_request_releases_the_lock(
    face: str, clock: FakeClock
) -> None:
    server = Server()
    failures = [httpx2.ConnectError("refused")]

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/token") and failures:
            raise failures.pop()
        return server(request)

    caller = Caller(face, make_oauth(clock), handler)
    with pytest.raises(httpx2.ConnectError):
        caller.request()
    assert caller.request().status_code == 200  # would hang if the lock were still held


def test_streamed_body_is_replayed_after_a_401(face: str, clock: FakeClock) -> None:
    server = Server()
    server.api_answers = [401]
    caller = Caller(face, make_oauth(clock), server)
    if face == "sync":
        content: Any = iter([b"par", b"ts"])
    else:

        async def parts() -> AsyncIterator[bytes]:
            yield b"par"
            yield b"ts"

        content = parts()
    assert caller.request("POST", content=content).status_code == 200
    assert server.api_bodies == [b"parts", b"parts"]


# -- async specifics ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelled_token_request_releases_the_async_lock(clock: FakeClock) -> None:
    server = Server()
    entered = anyio.Event()
    hang = [True]

    async def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/token") and hang:
            hang.clear()
            entered.set()
            await anyio.sleep_forever()
        return server(request)

    auth = make_oauth(clock)
    async with httpx2.AsyncClient(auth=auth, transport=httpx2.MockTransport(handler)) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.get, API)
            await entered.wait()
            tg.cancel_scope.cancel()
        with anyio.fail_after(5):
            response = await client.get(API)
    assert response.status_code == 200
    assert server.grants() == ["client_credentials"]


def test_one_auth_object_serves_several_event_loops(clock: FakeClock) -> None:
    server = Server()
    auth = make_oauth(clock)

    async def burst() -> list[int]:
        statuses: list[int] = []
        async with httpx2.AsyncClient(auth=auth, transport=httpx2.MockTransport(server)) as c:

            async def one() -> None:
                statuses.append((await c.get(API)).status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(one)
        return statuses

    assert anyio.run(burst) == [200] * 3
    clock.advance(250)
    assert anyio.run(burst) == [200] * 3
    assert server.grants() == ["client_credentials", "refresh_token"]


# -- TokenAuth details -------------------------------------------------------------------------


class Logins:
    def __init__(self, clock: FakeClock, ttl: float | None = 300) -> None:
        self.clock = clock
        self.ttl = ttl
        self.calls: list[str] = []

    def login(self) -> Token:
        self.calls.append("login")
        expires = None if self.ttl is None else self.clock.time() + self.ttl
        return Token(f"tok-{len(self.calls)}", expires)


def test_custom_header_and_bare_token(face: str, clock: FakeClock) -> None:
    logins = Logins(clock)
    server = Server()
    auth = TokenAuth(logins.login, header="X-Session", scheme=None, clock=clock)
    Caller(face, auth, server).request()
    assert server.api_requests[0].headers["x-session"] == "tok-1"
    assert "authorization" not in server.api_requests[0].headers


def test_token_without_expiry_is_renewed_only_on_401(face: str, clock: FakeClock) -> None:
    logins = Logins(clock, ttl=None)
    server = Server()
    caller = Caller(face, TokenAuth(logins.login, clock=clock), server)
    caller.request()
    clock.advance(1e6)
    caller.request()
    assert logins.calls == ["login"]
    server.api_answers = [401]
    assert caller.request().json()["auth"] == "Bearer tok-2"


def test_an_already_expired_login_token_costs_one_login_per_request(
    face: str, clock: FakeClock
) -> None:
    logins = Logins(clock, ttl=-5)
    caller = Caller(face, TokenAuth(logins.login, clock=clock), Server())
    for _ in range(3):
        assert caller.request().status_code == 200
    assert logins.calls == ["login"] * 3


def test_refresh_failing_otherwise_propagates_without_login(face: str, clock: FakeClock) -> None:
    logins = Logins(clock)

    def refresh(token: Token) -> Token:
        raise ServerError("validate answered 503", status_code=503)

    caller = Caller(face, TokenAuth(logins.login, refresh=refresh, clock=clock), Server())
    caller.request()
    clock.advance(250)
    with pytest.raises(ServerError):
        caller.request()
    assert logins.calls == ["login"]


def test_refresh_refused_falls_back_to_login(face: str, clock: FakeClock) -> None:
    logins = Logins(clock)
    refreshed: list[Token] = []

    def refresh(token: Token) -> Token:
        refreshed.append(token)
        raise AuthenticationError("session expired", status_code=401)

    auth = TokenAuth(logins.login, refresh=refresh, clock=clock)
    caller = Caller(face, auth, Server())
    caller.request()
    clock.advance(250)
    assert caller.request().json()["auth"] == "Bearer tok-2"
    assert [t.value for t in refreshed] == ["tok-1"]
    assert auth.token is not None
    assert auth.token.value == "tok-2"


def _jwt(payload: object) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("value", "expires_at"),
    [
        (_jwt({"exp": 1_750_000_300, "sub": "ä"}), 1_750_000_300.0),
        (_jwt({"exp": 1_750_000_300.5}), 1_750_000_300.5),
        (_jwt({"sub": "no exp"}), None),
        (_jwt({"exp": "1750000300"}), None),
        (_jwt({"exp": True}), None),
        (_jwt({"exp": float("inf")}), None),
        (_jwt([1, 2]), None),
        ("opaque-token", None),
        ("a.%%%.c", None),
        ("a.\u00ff.c", None),
        ("a..c", None),
    ],
)
def test_token_from_jwt_reads_exp(value: str, expires_at: float | None) -> None:
    token = Token.from_jwt(value)
    assert token == Token(value, expires_at)


def test_token_auth_with_jwt_tokens_renews_before_exp(face: str, clock: FakeClock) -> None:
    logins: list[float] = []

    def login() -> Token:
        logins.append(clock.time())
        return Token.from_jwt(_jwt({"exp": clock.time() + 600}))

    caller = Caller(face, TokenAuth(login, clock=clock), Server())
    caller.request()
    clock.advance(539)
    caller.request()
    assert len(logins) == 1
    clock.advance(2)  # 59 s before exp: inside the default leeway
    caller.request()
    assert len(logins) == 2
