"""OAuth2 password grant of both clients against the emulator's Keycloak route (part 3)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import pytest

from corekit.testing import FakeClock
from pym2v import AsyncEurogardAPI, EurogardAPI, Settings
from pym2v.emulator import Emulator
from pym2v.errors import M2VAuthenticationError, M2VServerError

if TYPE_CHECKING:
    from conftest import Face

pytestmark = pytest.mark.anyio


def secrets_of(settings: Settings) -> list[str]:
    return [settings.password.get_secret_value(), settings.client_secret.get_secret_value()]


TOKEN = "/auth/realms/iiot-platform/protocol/openid-connect/token"
ME = "/backend/user-controller/meGUI"


async def test_token_is_fetched_lazily_with_the_password_grant(
    face: Face, settings: Settings, emulator: Emulator, grants: Callable[[], list[str]]
) -> None:
    api = face.api(settings)
    assert emulator.requests == []
    await face.call(api, "get_user_info")
    await face.call(api, "get_routers")
    assert grants() == ["password"]
    token_call = emulator.calls("POST", TOKEN)[0]
    form = dict(pair.split("=", 1) for pair in token_call.body.decode().split("&"))
    assert form["username"] == "ada"
    assert form["client_id"] == "backend"
    assert "client_secret" in form  # in the body, as 0.2.0 sends it
    assert emulator.calls("GET", ME)[0].headers["authorization"] == "Bearer [REDACTED]"


async def test_token_is_refreshed_before_expiry_with_the_refresh_token(
    face: Face,
    settings: Settings,
    emulator: Emulator,
    clock: FakeClock,
    grants: Callable[[], list[str]],
) -> None:
    api = face.api(settings)
    await face.call(api, "get_user_info")
    clock.advance(7200 - 30)  # inside the leeway: renewed before it expires
    await face.call(api, "get_user_info")
    await face.call(api, "get_user_info")
    assert grants() == ["password", "refresh_token"]
    assert [c.status for c in emulator.calls("GET", ME)] == [200, 200, 200]


async def test_password_grant_again_when_the_refresh_token_expired(
    face: Face,
    settings: Settings,
    emulator: Emulator,
    clock: FakeClock,
    grants: Callable[[], list[str]],
) -> None:
    api = face.api(settings)
    await face.call(api, "get_user_info")
    clock.advance(86400 + 60)
    await face.call(api, "get_user_info")
    assert grants() == ["password", "refresh_token", "password"]


async def test_a_401_renews_the_token_once_and_retries(
    face: Face, settings: Settings, emulator: Emulator, grants: Callable[[], list[str]]
) -> None:
    api = face.api(settings)
    await face.call(api, "get_user_info")
    emulator.revoke_tokens()  # the server forgot every session (e.g. a restart)
    info = await face.call(api, "get_user_info")
    assert info["username"] == "ada"
    assert [c.status for c in emulator.calls("GET", ME)] == [200, 401, 200]
    assert grants() == ["password", "refresh_token", "password"]


async def test_a_second_401_is_an_authentication_error(
    face: Face, settings: Settings, emulator: Emulator
) -> None:
    api = face.api(settings)
    emulator.fail(ME, 401, count=None)
    with pytest.raises(M2VAuthenticationError) as caught:
        await face.call(api, "get_user_info")
    assert caught.value.status_code == 401
    assert "EUROGARD_USERNAME" in str(caught.value)
    assert len(emulator.calls("GET", ME)) == 2  # one re-auth and retry, never more


async def test_wrong_password_is_an_authentication_error_without_secrets(
    face: Face, settings: Settings, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = settings.model_copy(update={"password": settings.password.__class__("wr0ng-pass")})
    api = face.api(wrong)
    with pytest.raises(M2VAuthenticationError, match="invalid_grant") as caught:
        await face.call(api, "get_machines")
    assert emulator.calls("GET", "*/filter") == []  # never sent without a token
    text = str(caught.value) + repr(caught.value.__dict__) + caplog.text
    for secret in ["wr0ng-pass", *secrets_of(settings)]:
        assert secret not in text


async def test_no_token_or_password_in_logs(
    face: Face, settings: Settings, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = face.api(settings)
    await face.call(api, "get_user_info")
    emulator.fail(ME, 500, count=None)
    with pytest.raises(M2VServerError) as caught:
        await face.call(api, "get_user_info")
    token = api._auth.token
    assert token is not None
    text = caplog.text + str(caught.value)
    for secret in [token["access_token"], token["refresh_token"], *secrets_of(settings)]:
        assert secret not in text
    assert "pa55" not in repr(settings)


async def test_trailing_slash_on_the_base_url_is_harmless(
    face: Face, settings: Settings, emulator: Emulator
) -> None:
    values = {**settings.model_dump(), "base_url": settings.base_url + "/"}
    values["password"] = settings.password.get_secret_value()
    values["client_secret"] = settings.client_secret.get_secret_value()
    api = face.api(Settings(**values))
    assert (await face.call(api, "get_user_info"))["username"] == "ada"
    assert [c.path for c in emulator.requests] == [TOKEN, ME]


def test_one_token_request_across_threads(settings: Settings, emulator: Emulator) -> None:
    with EurogardAPI(settings) as api:
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def call() -> None:
            barrier.wait()
            try:
                api.get_user_info()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(emulator.calls("POST", TOKEN)) == 1
    assert len(emulator.calls("GET", ME)) == 8


async def test_one_token_request_across_tasks(settings: Settings, emulator: Emulator) -> None:
    async with AsyncEurogardAPI(settings) as api, anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(api.get_user_info)
    assert len(emulator.calls("POST", TOKEN)) == 1
    assert len(emulator.calls("GET", ME)) == 8


async def test_sync_and_async_clients_can_share_one_token(
    settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    import datetime as dt

    with EurogardAPI(settings) as api:
        api.get_user_info()
        frame = await api.aget_frame_from_names(
            uuid,
            names,
            dt.datetime(2025, 1, 1),
            dt.datetime(2025, 1, 3),
            dt.timedelta(hours=1),
            dt.timedelta(days=1),
            timeout=10,
        )
    assert frame.height == 48
    assert len(emulator.calls("POST", TOKEN)) == 1


async def test_deprecated_async_spellings_warn_and_fetch(
    settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    import datetime as dt

    start, end = dt.datetime(2025, 1, 1), dt.datetime(2025, 1, 1, 6)
    with EurogardAPI(settings) as api, pytest.warns(DeprecationWarning, match="aget_frame"):
        old = await api.asmart_get_frame_from_names(uuid, names, start, end, dt.timedelta(hours=1))
    async with AsyncEurogardAPI(settings) as aapi:
        with pytest.warns(DeprecationWarning, match="get_long_frame_from_names"):
            same = await aapi.aget_frame_from_names(uuid, names, start, end, dt.timedelta(hours=1))
    assert old.height == 6
    assert old.equals(same)
