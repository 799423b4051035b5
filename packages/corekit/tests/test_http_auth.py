"""OAuth2Auth and TokenAuth against a real token endpoint + protected API over loopback.

Each scenario runs on the sync face (httpx2.Client, threads) and the async face
(httpx2.AsyncClient driven through an anyio blocking portal, tasks), with the same FakeClock
driving both the flows' expiry decisions and the server's token validation.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx2
import pytest
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from corekit.errors import AuthenticationError, ServerError
from corekit.http._oauth2 import OAuth2Auth
from corekit.http._token import Token, TokenAuth
from corekit.testing import FakeClock, serve

CLIENT_ID = "app"
CLIENT_SECRET = "client-s3cret-XYZ"
USERNAME = "alice"
PASSWORD = "pa55-w0rd-QRS"
API_KEY = "api-key-LMN"


# -- the server: token endpoint, ProjectX-style login, protected API -------------------------


@dataclass
class ServerState:
    clock: FakeClock
    expires_in: float = 300
    issue_refresh: bool = True
    refresh_valid: bool = True
    client_auth: str = "client_secret_basic"
    token_delay: float = 0.0
    token_answers: list[tuple[int, Any]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    api_calls: list[int] = field(default_factory=list)
    access: dict[str, float] = field(default_factory=dict)
    refresh: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def grants(self) -> list[str]:
        return [r["form"].get("grant_type", "") for r in self.token_requests]

    def issue(self, prefix: str = "at") -> str:
        token = f"{prefix}-{secrets.token_hex(6)}"
        self.access[token] = self.clock.time() + self.expires_in
        return token

    def bearer_ok(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        expires_at = self.access.get(token)
        return token if expires_at is not None and self.clock.time() < expires_at else None


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _client_ok(state: ServerState, request: Request, form: dict[str, str]) -> bool:
    header = request.headers.get("authorization")
    if state.client_auth == "client_secret_basic":
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        return header == f"Basic {expected}" and "client_secret" not in form
    if state.client_auth == "client_secret_post":
        return header is None and (form.get("client_id"), form.get("client_secret")) == (
            CLIENT_ID,
            CLIENT_SECRET,
        )
    return header is None and form.get("client_id") == CLIENT_ID and "client_secret" not in form


def build_app(holder: dict[str, ServerState]) -> FastAPI:
    app = FastAPI()

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        state = holder["state"]
        form = dict(parse_qsl((await request.body()).decode()))
        with state.lock:
            state.token_requests.append(
                {"form": form, "authorization": request.headers.get("authorization")}
            )
            answer = state.token_answers.pop(0) if state.token_answers else None
        if state.token_delay:
            await anyio.sleep(state.token_delay)  # widen the race window for the lock tests
        if answer is not None:
            status, payload = answer
            if isinstance(payload, str):
                return PlainTextResponse(payload, status_code=status)
            return JSONResponse(payload, status_code=status)
        if not _client_ok(state, request, form):
            return _oauth_error(401, "invalid_client", "Invalid client or client credentials")
        grant = form.get("grant_type")
        with state.lock:
            if grant == "password":
                if (form.get("username"), form.get("password")) != (USERNAME, PASSWORD):
                    return _oauth_error(400, "invalid_grant", "Invalid user credentials")
            elif grant == "refresh_token":
                refresh = form.get("refresh_token", "")
                if not state.refresh_valid or refresh not in state.refresh:
                    return _oauth_error(400, "invalid_grant", "Token is not active")
                state.refresh.discard(refresh)
            elif grant != "client_credentials":
                return _oauth_error(400, "unsupported_grant_type", f"{grant} is not supported")
            body: dict[str, Any] = {
                "access_token": state.issue(),
                "token_type": "Bearer",
                "expires_in": state.expires_in,
            }
            if state.issue_refresh:
                body["refresh_token"] = f"rt-{secrets.token_hex(6)}"
                state.refresh.add(body["refresh_token"])
        return JSONResponse(body)

    @app.post("/auth/loginKey")
    async def login_key(request: Request) -> Response:
        state = holder["state"]
        data = await request.json()
        if state.token_delay:
            await anyio.sleep(state.token_delay)
        with state.lock:
            state.logins.append("loginKey")
            if (data.get("userName"), data.get("apiKey")) != (USERNAME, API_KEY):
                return JSONResponse({"success": False, "errorCode": 3, "token": None})
            return JSONResponse(
                {"success": True, "errorCode": 0, "token": state.issue("jwt")},
            )

    @app.post("/auth/validate")
    async def validate(request: Request) -> Response:
        state = holder["state"]
        header = request.headers.get("authorization", "")
        if state.token_delay:
            await anyio.sleep(state.token_delay)
        with state.lock:
            state.logins.append("validate")
            # Like ProjectX: an expired (but not revoked) session can be validated.
            if header.removeprefix("Bearer ") not in state.access:
                return JSONResponse({"success": False, "errorCode": 1}, status_code=401)
            return JSONResponse({"success": True, "errorCode": 0, "newToken": state.issue("jwt")})

    @app.api_route("/api/data", methods=["GET", "POST"])
    async def data(request: Request) -> Response:
        state = holder["state"]
        body = await request.body()
        ok = state.bearer_ok(request) is not None
        with state.lock:
            state.api_calls.append(200 if ok else 401)
        if not ok:
            return JSONResponse(
                {"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return JSONResponse({"ok": True, "body": body.decode()})

    @app.get("/api/always-401")
    async def always_401() -> Response:
        holder["state"].api_calls.append(401)
        return JSONResponse({"error": "invalid_token"}, status_code=401)

    @app.post("/_revoke")
    async def revoke() -> Response:
        holder["state"].access.clear()
        return Response(status_code=204)

    return app


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, dict[str, ServerState]]]:
    holder: dict[str, ServerState] = {}
    with serve(build_app(holder)) as server:
        yield server.url, holder


@pytest.fixture
def state(served: tuple[str, dict[str, ServerState]], clock: FakeClock) -> ServerState:
    served[1]["state"] = fresh = ServerState(clock)
    return fresh


@pytest.fixture
def url(served: tuple[str, dict[str, ServerState]], state: ServerState) -> str:
    return served[0]


# -- the two faces -----------------------------------------------------------------------------


class SyncCaller:
    def __init__(self, client: httpx2.Client) -> None:
        self.client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        return self.client.request(method, url, **kwargs)

    def get(self, url: str) -> httpx2.Response:
        return self.client.get(url)

    def concurrent(self, n: int, url: str) -> list[httpx2.Response]:
        barrier = threading.Barrier(n)

        def one(_: int) -> httpx2.Response:
            barrier.wait()
            return self.client.get(url)

        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(one, range(n)))


class AsyncCaller:
    def __init__(self, client: httpx2.AsyncClient, portal: Any) -> None:
        self.client = client
        self.portal = portal

    def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        async def call() -> httpx2.Response:
            return await self.client.request(method, url, **kwargs)

        return self.portal.call(call)  # type: ignore[no-any-return]

    def get(self, url: str) -> httpx2.Response:
        return self.request("GET", url)

    def concurrent(self, n: int, url: str) -> list[httpx2.Response]:
        async def run() -> list[httpx2.Response]:
            results: list[httpx2.Response] = []

            async def one() -> None:
                results.append(await self.client.get(url))

            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(one)
            return results

        return self.portal.call(run)  # type: ignore[no-any-return]


Caller = SyncCaller | AsyncCaller


@contextmanager
def open_caller(face: str, auth: httpx2.Auth) -> Iterator[Caller]:
    if face == "sync":
        with httpx2.Client(auth=auth, timeout=10) as client:
            yield SyncCaller(client)
        return
    with start_blocking_portal("asyncio") as portal:
        async_client = httpx2.AsyncClient(auth=auth, timeout=10)
        try:
            yield AsyncCaller(async_client, portal)
        finally:
            portal.call(async_client.aclose)


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def oauth(url: str, clock: FakeClock, **kwargs: Any) -> OAuth2Auth:
    kwargs.setdefault("client_id", CLIENT_ID)
    kwargs.setdefault("client_secret", CLIENT_SECRET)
    return OAuth2Auth(f"{url}/oauth/token", clock=clock, **kwargs)


def password_oauth(url: str, clock: FakeClock, **kwargs: Any) -> OAuth2Auth:
    return oauth(url, clock, grant_type="password", username=USERNAME, password=PASSWORD, **kwargs)


# -- OAuth2Auth --------------------------------------------------------------------------------


def test_first_request_fetches_the_token_lazily(
    face: str, url: str, state: ServerState, clock: FakeClock
) -> None:
    auth = oauth(url, clock, scope=["read", "write"])
    before = auth.token
    assert before is None
    with open_caller(face, auth) as caller:
        assert state.token_requests == []
        assert caller.get(f"{url}/api/data").status_code == 200
        assert caller.get(f"{url}/api/data").status_code == 200
    assert state.grants() == ["client_credentials"]
    assert state.token_requests[0]["form"]["scope"] == "read write"
    assert state.api_calls == [200, 200]
    assert auth.token is not None
    assert auth.token["expires_at"] == pytest.approx(clock.time() + 300, abs=1)


def test_proactive_refresh_uses_the_refresh_token(
    face: str, url: str, state: ServerState, clock: FakeClock
) -> None:
    auth = password_oauth(url, clock, leeway=60)
    with open_caller(face, auth) as caller:
        caller.get(f"{url}/api/data")
        clock.advance(239)  # 61 s left: still fresh
        caller.get(f"{url}/api/data")
        assert state.grants() == ["password"]
        clock.advance(2)  # 59 s left: inside the leeway
        assert caller.get(f"{url}/api/data").status_code == 200
        assert state.grants() == ["password", "refresh_token"]
        clock.advance(200)  # the refreshed token is good until +300
        caller.get(f"{url}/api/data")
    assert state.grants() == ["password", "refresh_token"]
    # The server never saw an expired token: renewal happened before, not after a 401.
    assert state.api_calls == [200, 200, 200, 200]


@pytest.mark.parametrize("grant", ["password", "client_credentials"])
def test_without_refresh_token_the_grant_runs_again(
    face: str, url: str, state: ServerState, clock: FakeClock, grant: str
) -> None:
    state.issue_refresh = False
    auth = password_oauth(url, clock) if grant == "password" else oauth(url, clock)
    with open_caller(face, auth) as caller:
        caller.get(f"{url}/api/data")
        clock.advance(250)
        assert caller.get(f"{url}/api/data").status_code == 200
    assert state.grants() == [grant, grant]
    if grant == "password":
        assert state.token_requests[1]["form"]["username"] == USERNAME
    assert state.api_calls == [200, 200]


def test_refresh_refused_with_invalid_grant_falls_back_to_the_grant(
    face: str, url: str, state: ServerState, clock: FakeClock
) -> None:
    auth = password_oauth(url, clock)
    with open_caller(face, auth) as caller:
        caller.get(f"{url}/api/data")
        state.refresh_valid = False
        clock.advance(250)
        assert caller.get(f"{url}/api/data").status_code == 200
    assert state.grants() == ["password", "refresh_token", "password"]
    assert state.api_calls == [200, 200]


def test_401_renews_once_and_resends(
    face: str, url: str, state: ServerState, clock: FakeClock
) -> None:
    auth = password_oauth(url, clock)
    with open_caller(face, auth) as caller:
        caller.get(f"{url}/api/data")
        caller.request("POST", f"{url}/_revoke")
        response = caller.request("POST", f"{url}/api/data", content=b"payload")
    assert response.status_code == 200
    assert response.json()["body"] == "payload"  # the body was replayed on the resend
    assert state.api_calls == [200, 401, 200]
    assert state.grants() == ["password", "refresh_token"]


def test_a_second_401_is_returned_as_is(
    face: str, url: str, state: ServerState, clock: FakeClock
) -> None:
    auth = oauth(url, clock)
    with open_caller(face, auth) as caller:
        response = caller.get(f"{url}/api/always-401")
    assert response.status_code == 401
    assert state.api_calls == [401, 401]
    assert state.grants() == ["client_credentials", "refresh_token"]


@pytest.mark.parametrize("when", ["first", "expired"])
def test_concurrent_requests_share_one_token_request(
    face: str, url: str, state: ServerState, clock: FakeClock, when: str
) -> None:
    auth = password_oauth(url, clock)
    with open_caller(face, auth) as caller:
        if when == "expired":
            caller.get(f"{url}/api/data")
            clock.advance(290)
        state.token_delay = 0.05
        responses = caller.concurrent(5, f"{url}/api/data")
    assert [r.status_code for r in responses] == [200] * 5
    expected = ["password"] if when == "first" else ["password", "refresh_token"]
    assert state.grants() == expected


def test_on_token_persists_and_a_persisted_token_is_reused(
    face: str, url: str, state: ServerState, clock: FakeClock
) -> None:
    saved: list[dict[str, Any]] = []
    with open_caller(face, password_oauth(url, clock, on_token=saved.append)) as caller:
        caller.get(f"{url}/api/data")
        clock.advance(250)
        caller.get(f"{url}/api/data")
    assert len(saved) == 2
    assert saved[1]["access_token"] != saved[0]["access_token"]
    assert saved[1]["expires_at"] == pytest.approx(clock.time() + 300, abs=1)

    restored = password_oauth(url, clock, token=saved[-1])
    with open_caller(face, restored) as caller:
        assert caller.get(f"{url}/api/data").status_code == 200
    assert len(state.token_requests) == 2  # no new token request
    assert restored.token is not None
    assert restored.token["access_token"] == saved[-1]["access_token"]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"client_secret": "wrong-" + CLIENT_SECRET}, 401, "invalid_client"),
        ({"password": "wrong-" + PASSWORD}, 400, "invalid_grant"),
    ],
)
def test_token_endpoint_refusal_raises_without_secrets(
    face: str,
    url: str,
    state: ServerState,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    kwargs: dict[str, str],
    status: int,
    code: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    options = {"client_secret": CLIENT_SECRET, "password": PASSWORD, **kwargs}
    auth = oauth(url, clock, grant_type="password", username=USERNAME, **options)
    with open_caller(face, auth) as caller, pytest.raises(AuthenticationError) as info:
        caller.get(f"{url}/api/data")
    exc = info.value
    assert exc.status_code == status
    assert code in str(exc)
    assert exc.url == f"{url}/oauth/token"
    assert state.api_calls == []  # the API request was never sent
    texts = [str(exc), repr(exc), exc.body, caplog.text, repr(auth)]
    for secret in (*options.values(), CLIENT_SECRET, PASSWORD):
        assert all(secret not in text for text in texts)


@pytest.mark.parametrize(
    ("answer", "error", "needle"),
    [
        ((200, "not json"), AuthenticationError, "not a JSON object"),
        (
            (200, {"token_type": "Bearer", "refresh_token": "rt-LEAK"}),
            AuthenticationError,
            "no access_token",
        ),
        ((503, "<html>down</html>"), ServerError, "HTTP 503"),
    ],
)
def test_malformed_or_failed_token_answer(
    face: str,
    url: str,
    state: ServerState,
    clock: FakeClock,
    answer: tuple[int, Any],
    error: type[Exception],
    needle: str,
) -> None:
    state.token_answers.append(answer)
    with open_caller(face, oauth(url, clock)) as caller, pytest.raises(error) as info:
        caller.get(f"{url}/api/data")
    assert needle in str(info.value)
    assert "rt-LEAK" not in str(info.value)
    assert "rt-LEAK" not in getattr(info.value, "body", "")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none"])
def test_client_authentication_method_reaches_the_server(
    face: str, url: str, state: ServerState, clock: FakeClock, method: str
) -> None:
    state.client_auth = method
    secret = None if method == "none" else CLIENT_SECRET
    auth = oauth(url, clock, client_secret=secret, token_endpoint_auth_method=method)
    with open_caller(face, auth) as caller:
        assert caller.get(f"{url}/api/data").status_code == 200
    seen = state.token_requests[0]
    if method == "client_secret_basic":
        assert seen["authorization"].startswith("Basic ")
        assert "client_secret" not in seen["form"]
    elif method == "client_secret_post":
        assert seen["authorization"] is None
        assert seen["form"]["client_secret"] == CLIENT_SECRET
    else:
        assert seen["authorization"] is None
        assert seen["form"]["client_id"] == CLIENT_ID
        assert "client_secret" not in seen["form"]


# -- TokenAuth with ProjectX-style login/validate ---------------------------------------------


def _token_from(data: dict[str, Any], key: str, clock: FakeClock) -> Token:
    if not data.get("success"):
        msg = f"login refused (errorCode {data.get('errorCode')})"
        raise AuthenticationError(msg, status_code=200)
    return Token(data[key], clock.time() + 300)


def sync_callables(
    url: str, clock: FakeClock, api_key: str = API_KEY
) -> tuple[Callable[[], Token], Callable[[Token], Token]]:
    def login() -> Token:
        with httpx2.Client(base_url=url) as c:
            answer = c.post("/auth/loginKey", json={"userName": USERNAME, "apiKey": api_key})
        return _token_from(answer.json(), "token", clock)

    def refresh(token: Token) -> Token:
        with httpx2.Client(base_url=url) as c:
            answer = c.post("/auth/validate", headers={"Authorization": f"Bearer {token.value}"})
        return _token_from(answer.json(), "newToken", clock)

    return login, refresh


def async_callables(url: str, clock: FakeClock) -> tuple[Any, Any]:
    async def login() -> Token:
        async with httpx2.AsyncClient(base_url=url) as c:
            answer = await c.post("/auth/loginKey", json={"userName": USERNAME, "apiKey": API_KEY})
        return _token_from(answer.json(), "token", clock)

    async def refresh(token: Token) -> Token:
        async with httpx2.AsyncClient(base_url=url) as c:
            headers = {"Authorization": f"Bearer {token.value}"}
            answer = await c.post("/auth/validate", headers=headers)
        return _token_from(answer.json(), "newToken", clock)

    return login, refresh


@dataclass
class TokenCase:
    face: str
    login: Any
    refresh: Any


@pytest.fixture(
    params=["sync-client/sync-login", "async-client/sync-login", "async-client/async-login"]
)
def case(request: pytest.FixtureRequest, url: str, clock: FakeClock) -> TokenCase:
    client, callables = str(request.param).split("/")
    make = async_callables if callables == "async-login" else sync_callables
    login, refresh = make(url, clock)
    return TokenCase(client.removesuffix("-client"), login, refresh)


def test_token_auth_logs_in_lazily_and_refreshes_before_expiry(
    case: TokenCase, url: str, state: ServerState, clock: FakeClock
) -> None:
    face, login, refresh = case.face, case.login, case.refresh
    seen: list[Token] = []
    auth = TokenAuth(login, refresh=refresh, clock=clock, on_token=seen.append)
    with open_caller(face, auth) as caller:
        assert state.logins == []
        assert caller.get(f"{url}/api/data").status_code == 200
        assert caller.get(f"{url}/api/data").status_code == 200
        assert state.logins == ["loginKey"]
        clock.advance(250)
        assert caller.get(f"{url}/api/data").status_code == 200
    assert state.logins == ["loginKey", "validate"]
    assert state.api_calls == [200, 200, 200]
    assert len(seen) == 2
    assert auth.token == seen[-1]


def test_token_auth_logs_in_again_when_refresh_is_refused(
    case: TokenCase, url: str, state: ServerState, clock: FakeClock
) -> None:
    face, login, refresh = case.face, case.login, case.refresh
    auth = TokenAuth(login, refresh=refresh, clock=clock)
    with open_caller(face, auth) as caller:
        caller.get(f"{url}/api/data")
        caller.request("POST", f"{url}/_revoke")  # validate now refuses the old session
        clock.advance(250)
        assert caller.get(f"{url}/api/data").status_code == 200
    assert state.logins == ["loginKey", "validate", "loginKey"]


def test_token_auth_401_logs_in_again_and_resends(
    case: TokenCase, url: str, state: ServerState, clock: FakeClock
) -> None:
    face, login, refresh = case.face, case.login, case.refresh
    auth = TokenAuth(login, refresh=refresh, clock=clock)
    with open_caller(face, auth) as caller:
        caller.get(f"{url}/api/data")
        caller.request("POST", f"{url}/_revoke")
        assert caller.get(f"{url}/api/data").status_code == 200
        assert caller.get(f"{url}/api/always-401").status_code == 401
    # 401 means "this token is refused": log in, do not validate the refused token.
    assert state.logins == ["loginKey", "loginKey", "loginKey"]
    assert state.api_calls == [200, 401, 200, 401, 401]


@pytest.mark.parametrize("when", ["first", "expired"])
def test_token_auth_concurrent_requests_share_one_login(
    case: TokenCase, url: str, state: ServerState, clock: FakeClock, when: str
) -> None:
    face, login, refresh = case.face, case.login, case.refresh
    auth = TokenAuth(login, refresh=refresh, clock=clock)
    with open_caller(face, auth) as caller:
        if when == "expired":
            caller.get(f"{url}/api/data")
            clock.advance(290)
        state.token_delay = 0.05
        responses = caller.concurrent(5, f"{url}/api/data")
    assert [r.status_code for r in responses] == [200] * 5
    assert state.logins == (["loginKey"] if when == "first" else ["loginKey", "validate"])


def test_token_auth_login_refused_raises(
    face: str, url: str, state: ServerState, clock: FakeClock
) -> None:
    login, _ = sync_callables(url, clock, api_key="wrong")
    auth = TokenAuth(login, clock=clock)
    with open_caller(face, auth) as caller, pytest.raises(AuthenticationError, match="errorCode 3"):
        caller.get(f"{url}/api/data")
    assert state.api_calls == []
