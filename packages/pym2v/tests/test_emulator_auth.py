"""The emulator's Keycloak token route and bearer-token checks, over a real socket."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx2
import pytest
from pydantic import SecretStr

from corekit.testing import REDACTED, FakeClock, serve
from pym2v.emulator import TOKEN_PATH, Emulator, EmulatorSettings, create_app

ME = "/backend/user-controller/meGUI"
SETTINGS = EmulatorSettings(
    username="alice", password="wonder land", client_id="pym2v", client_secret="s3cr:et"
)
FORM = {
    "grant_type": "password",
    "username": "alice",
    "password": "wonder land",
    "client_id": "pym2v",
    "client_secret": "s3cr:et",
}


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(epoch=1_750_000_000.0)


@pytest.fixture(scope="module")
def served(clock: FakeClock) -> Iterator[tuple[Emulator, str]]:
    app = create_app(SETTINGS.model_copy(update={"token_lifetime": 60}), clock=clock)
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def app(served: tuple[Emulator, str]) -> Emulator:
    served[0].reset()
    return served[0]


@pytest.fixture
def client(served: tuple[Emulator, str]) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=served[1]) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: httpx2.Client) -> dict[str, object]:
    response = client.post(TOKEN_PATH, data=FORM)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_password_grant_with_client_credentials_in_the_body(
    app: Emulator, client: httpx2.Client
) -> None:
    response = client.post(TOKEN_PATH, data=FORM)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "refresh_token",
        "token_type",
        "not-before-policy",
        "session_state",
        "scope",
    }
    assert body["expires_in"] == 60
    assert body["refresh_expires_in"] == 86400
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "email profile"
    _, payload, _ = body["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] == 1_750_000_000 + 60
    assert claims["azp"] == "pym2v"
    assert client.get(ME, headers=bearer(body["access_token"])).status_code == 200


def test_password_grant_with_basic_client_authentication(
    app: Emulator, client: httpx2.Client
) -> None:
    # requests-oauthlib (upstream 0.1.4) sends the client as Basic, url-encoded, not in the body.
    basic = base64.b64encode(f"{quote('pym2v')}:{quote('s3cr:et')}".encode()).decode()
    form = {"grant_type": "password", "username": "alice", "password": "wonder land"}
    response = client.post(TOKEN_PATH, data=form, headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.text
    assert client.get(ME, headers=bearer(response.json()["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"password": "wrong"}, 401, "invalid_grant"),
        ({"username": "bob"}, 401, "invalid_grant"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "other"}, 401, "invalid_client"),
        ({"client_id": None, "client_secret": None}, 401, "invalid_client"),
        ({"password": None}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": None}, 400, "unsupported_grant_type"),
    ],
)
def test_token_errors_look_like_keycloak(
    app: Emulator,
    client: httpx2.Client,
    change: dict[str, str | None],
    status: int,
    error: str,
) -> None:
    form = {k: v for k, v in {**FORM, **change}.items() if v is not None}
    response = client.post(TOKEN_PATH, data=form)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert "wonder" not in response.text


def test_bad_basic_header_is_an_invalid_client(app: Emulator, client: httpx2.Client) -> None:
    form = {"grant_type": "password", "username": "alice", "password": "wonder land"}
    response = client.post(TOKEN_PATH, data=form, headers={"Authorization": "Basic %%%"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_token_route_wants_a_form(app: Emulator, client: httpx2.Client) -> None:
    response = client.post(TOKEN_PATH, json=FORM)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_refresh_grant_issues_new_tokens_in_the_same_session(
    app: Emulator, client: httpx2.Client, clock: FakeClock
) -> None:
    first = login(client)
    clock.advance(61)
    assert client.get(ME, headers=bearer(str(first["access_token"]))).status_code == 401
    response = client.post(
        TOKEN_PATH,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": "pym2v",
            "client_secret": "s3cr:et",
        },
    )
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["session_state"] == first["session_state"]
    assert second["access_token"] != first["access_token"]
    assert client.get(ME, headers=bearer(second["access_token"])).status_code == 200


@pytest.mark.parametrize("which", ["access", "missing", "garbage", "expired"])
def test_refresh_grant_refuses_bad_refresh_tokens(
    app: Emulator, client: httpx2.Client, clock: FakeClock, which: str
) -> None:
    tokens = login(client)
    form = {"grant_type": "refresh_token", "client_id": "pym2v", "client_secret": "s3cr:et"}
    if which == "access":
        form["refresh_token"] = str(tokens["access_token"])
    elif which == "garbage":
        form["refresh_token"] = "not.a.jwt"
    elif which == "expired":
        form["refresh_token"] = str(tokens["refresh_token"])
        clock.advance(86_401)
    response = client.post(TOKEN_PATH, data=form)
    assert response.status_code == 400
    expected = "invalid_request" if which == "missing" else "invalid_grant"
    assert response.json()["error"] == expected


def test_refresh_token_of_another_client_is_refused(app: Emulator, client: httpx2.Client) -> None:
    foreign = app.state.issuer.issue(
        "Refresh", subject="alice", client_id="someone-else", session="s", lifetime=600
    )
    form = {
        "grant_type": "refresh_token",
        "refresh_token": foreign,
        "client_id": "pym2v",
        "client_secret": "s3cr:et",
    }
    response = client.post(TOKEN_PATH, data=form)
    assert response.status_code == 400
    assert "client" in response.json()["error_description"]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic abc",
        "Bearer",
        "Bearer a.b",
        "Bearer abc.def.ghi",
        "Bearer x.eyJ.y",
        "Bearer ###.###.###",
    ],
)
def test_backend_refuses_requests_without_a_valid_bearer_token(
    app: Emulator, client: httpx2.Client, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401
    assert body["error"] == "Unauthorized"
    assert body["path"] == ME
    assert body["timestamp"].endswith("Z")


def test_forged_token_is_refused(app: Emulator, client: httpx2.Client) -> None:
    token = str(login(client)["access_token"])
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 10_000
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = client.get(ME, headers=bearer(f"{header}.{forged}.{signature}"))
    assert response.status_code == 401
    assert "signature" in response.json()["message"]


def test_refresh_token_is_not_an_access_token(app: Emulator, client: httpx2.Client) -> None:
    tokens = login(client)
    response = client.get(ME, headers=bearer(str(tokens["refresh_token"])))
    assert response.status_code == 401


def test_revoked_tokens_are_refused_until_the_client_logs_in_again(
    app: Emulator, client: httpx2.Client
) -> None:
    tokens = login(client)
    assert app.revoke_tokens() == {"revoked": True}
    assert client.get(ME, headers=bearer(str(tokens["access_token"]))).status_code == 401
    refresh = client.post(
        TOKEN_PATH,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "pym2v",
            "client_secret": "s3cr:et",
        },
    )
    assert refresh.status_code == 400
    fresh = login(client)
    assert client.get(ME, headers=bearer(str(fresh["access_token"]))).status_code == 200


def test_revoke_over_http_and_reset_forgets_it(app: Emulator, client: httpx2.Client) -> None:
    tokens = login(client)
    response = client.post("/_emulator/actions/revoke-tokens")
    assert response.json() == {"revoked": True}
    assert client.get(ME, headers=bearer(str(tokens["access_token"]))).status_code == 401
    app.reset()
    assert client.get(ME, headers=bearer(str(tokens["access_token"]))).status_code == 200


def test_token_lifetime_can_change_while_running(app: Emulator, client: httpx2.Client) -> None:
    assert (
        client.post("/_emulator/actions/configure", json={"token_lifetime": 31}).json()[
            "token_lifetime"
        ]
        == 31
    )
    assert login(client)["expires_in"] == 31
    app.reset()
    assert login(client)["expires_in"] == 60


def test_tokens_survive_a_restart_with_the_same_credentials(clock: FakeClock) -> None:
    with serve(create_app(SETTINGS, clock=clock)) as first, httpx2.Client() as http:
        token = http.post(first.url + TOKEN_PATH, data=FORM).json()["access_token"]
    with serve(create_app(SETTINGS, clock=clock)) as second, httpx2.Client() as http:
        assert http.get(second.url + ME, headers=bearer(token)).status_code == 200
    other = SETTINGS.model_copy(update={"signing_key": SecretStr("another key")})
    with serve(create_app(other, clock=clock)) as third, httpx2.Client() as http:
        assert http.get(third.url + ME, headers=bearer(token)).status_code == 401


def test_request_log_never_holds_the_password_or_tokens(
    app: Emulator, client: httpx2.Client
) -> None:
    token = str(login(client)["access_token"])
    client.get(ME, headers=bearer(token))
    (token_call,) = app.calls("POST", TOKEN_PATH)
    assert f"password={REDACTED}" in token_call.body.decode()
    assert "wonder" not in token_call.body.decode()
    (me_call,) = app.calls("GET", ME)
    assert me_call.headers["authorization"] == f"Bearer {REDACTED}"
    assert token not in repr(app.requests)


def test_settings_repr_hides_secrets() -> None:
    assert "wonder" not in repr(SETTINGS)
    assert "s3cr" not in repr(SETTINGS)
    assert SETTINGS.key() != EmulatorSettings().key()
