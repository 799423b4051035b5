"""Login, token renewal and 401 recovery against the emulator over a socket."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import pytest

from corekit.errors import AuthenticationError
from corekit.testing import FakeClock
from projectx import (
    AccountSelectionError,
    LoginError,
    OrderSubmissionUncertain,
    ProjectXError,
)

if TYPE_CHECKING:
    from conftest import Gateway

KEY = "emulator-key-1"  # conftest's

pytestmark = pytest.mark.anyio


async def test_entering_logs_in_selects_the_account_and_leaving_logs_out(
    gateway: Gateway,
) -> None:
    async with gateway.client(account="emu-combine-150k") as px:
        assert px.account.name == "EMU-COMBINE-150K"
        assert await px.ping()
        assert "EMU-COMBINE-150K" in repr(px)
        other = await px.use_account(1001)
        assert px.account == other
    assert gateway.count("/api/Auth/loginKey") == 1
    assert gateway.count("/api/Auth/logout") == 1
    login = gateway.emulator.calls("POST", "/api/Auth/loginKey")[0]
    assert login.json()["userName"] == "trader"


async def test_refused_credentials_raise_a_login_error_with_the_gateway_code(
    gateway: Gateway,
) -> None:
    px = gateway.client(api_key="wrong-key")
    with pytest.raises(LoginError) as caught:
        await px.connect()
    assert caught.value.error_code == 3
    assert caught.value.code_name == "InvalidCredentials"
    assert "wrong-key" not in str(caught.value)
    assert "PROJECTX_API_KEY" in str(caught.value)
    await px.aclose()
    # A failed login is not retried: the key will not become right by itself.
    assert gateway.count("/api/Auth/loginKey") == 1


async def test_unknown_account_names_the_ones_that_exist(gateway: Gateway) -> None:
    with pytest.raises(AccountSelectionError, match="PRAC-V2-EMU-1"):
        async with gateway.client(account="nope"):
            pass


async def test_no_account_before_connecting(gateway: Gateway) -> None:
    px = gateway.client()
    with pytest.raises(ProjectXError, match="async with"):
        _ = px.account
    await px.aclose()


async def test_token_expiring_mid_session_is_renewed_with_validate_before_it_lapses(
    start_gateway: Callable[..., Gateway], clock: FakeClock
) -> None:
    gw = start_gateway(token_lifetime=600)
    async with gw.client(token_leeway=60) as px:
        first = await px.token()
        clock.advance(550)  # inside the leeway: renewed before the Gateway would refuse it
        await px.orders.open()
        assert gw.count("/api/Auth/validate") == 1
        second = await px.token()
        assert second != first
        clock.advance(550)
        await px.positions.open()
        assert gw.count("/api/Auth/validate") == 2
    assert gw.count("/api/Auth/loginKey") == 1
    assert all(r.status != 401 for r in gw.emulator.requests)


async def test_validate_refused_falls_back_to_login(
    start_gateway: Callable[..., Gateway], clock: FakeClock
) -> None:
    gw = start_gateway(token_lifetime=600, validate_window=10)
    async with gw.client(token_leeway=60) as px:
        clock.advance(3600)  # long past expiry and past the validate window
        await px.orders.open()
    assert gw.count("/api/Auth/validate") == 1
    assert gw.count("/api/Auth/loginKey") == 2


async def test_a_401_logs_in_once_and_resends(gateway: Gateway) -> None:
    async with gateway.client() as px:
        seen: list[str] = []
        px.on_token(seen.append)
        gateway.emulator.revoke_tokens()
        accounts = await px.accounts.search()
        assert accounts
        assert len(seen) == 1  # the new token reached the listeners (the realtime hubs)
    statuses = [r.status for r in gateway.emulator.calls("POST", "/api/Account/search")]
    assert statuses == [200, 401, 200]
    assert gateway.count("/api/Auth/loginKey") == 2


async def test_an_order_refused_with_401_is_sent_again_and_booked_once(gateway: Gateway) -> None:
    async with gateway.client() as px:
        contract = await px.contracts.front_month("MNQ")
        gateway.emulator.revoke_tokens()
        order_id = await px.orders.market(contract.id, "buy", 1)
        orders = await px.orders.search()
    assert [o.id for o in orders] == [order_id]
    statuses = [r.status for r in gateway.emulator.calls("POST", "/api/Order/place")]
    assert statuses == [401, 200]


async def test_a_second_401_is_an_authentication_error(gateway: Gateway) -> None:
    async with gateway.client() as px:
        gateway.emulator.fail("/api/Account/search", 401, count=2)
        with pytest.raises(AuthenticationError):
            await px.accounts.search()


async def test_logout_ends_the_session_and_the_next_call_logs_in_again(gateway: Gateway) -> None:
    px = gateway.client()
    await px.logout()  # nothing to end yet: no request
    await px.connect()
    await px.logout()
    await px.accounts.search()
    await px.aclose()
    assert gateway.count("/api/Auth/logout") == 1
    assert gateway.count("/api/Auth/loginKey") == 2


async def test_validate_answering_an_error_status_falls_back_to_login(
    start_gateway: Callable[..., Gateway], clock: FakeClock
) -> None:
    gw = start_gateway(token_lifetime=600)
    async with gw.client(token_leeway=60) as px:
        gw.emulator.fail("/api/Auth/validate", 403)
        clock.advance(580)
        await px.orders.open()
    assert gw.count("/api/Auth/loginKey") == 2


async def test_a_login_without_a_token_is_reported(gateway: Gateway) -> None:
    gateway.emulator.fail(
        "/api/Auth/loginKey", 200, body={"success": True, "errorCode": 0, "token": None}
    )
    px = gateway.client()
    with pytest.raises(ProjectXError, match="without a token"):
        await px.connect()
    await px.aclose()


async def test_a_failed_logout_does_not_hide_the_result(gateway: Gateway) -> None:
    async with gateway.client(retry_attempts=1) as px:
        gateway.emulator.fail("/api/Auth/logout", 500)
        accounts = await px.accounts.search()
    assert accounts


async def test_no_api_key_or_token_reaches_logs_or_errors(
    start_gateway: Callable[..., Gateway], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = start_gateway(token_lifetime=600)
    tokens: list[str] = []
    errors: list[Exception] = []
    async with gw.client(token_leeway=60) as px:
        px.on_token(tokens.append)
        tokens.append(await px.token())
        clock.advance(580)  # renewed with Auth/validate
        await px.orders.open()
        gw.emulator.revoke_tokens()  # a 401, then a new login
        await px.accounts.search()
        contract = (await px.contracts.front_month("MNQ")).id
        gw.emulator.drop("/api/Order/place", after_app=True)
        with pytest.raises(OrderSubmissionUncertain) as uncertain:
            await px.orders.market(contract, "buy", 1)
        errors.append(uncertain.value)
        gw.emulator.fail("/api/Account/search", 401, count=2)
        with pytest.raises(AuthenticationError) as refused:
            await px.accounts.search()
        errors.append(refused.value)
    px = gw.client(api_key=KEY + "-wrong")
    with pytest.raises(LoginError) as login:
        await px.connect()
    errors.append(login.value)
    await px.aclose()
    assert len(set(tokens)) >= 3
    shown = caplog.text + "".join(f"{e}{e!r}{e.__cause__}" for e in errors)
    for secret in (KEY, *tokens):
        assert secret not in shown


async def test_tasks_refused_the_same_token_share_one_new_login(gateway: Gateway) -> None:
    async with gateway.client() as px:
        first = await px.token()
        gateway.emulator.revoke_tokens()
        renewed: list[str] = []

        async def renew() -> None:
            renewed.append(await px.token(True, first))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(renew)
            tasks.start_soon(renew)
        assert renewed[0] == renewed[1] != first
        assert await px.token(True, first) == renewed[0]  # a late one: nothing to renew
        assert await px.token(True) != renewed[0]  # renew without naming a token: always
    assert gateway.count("/api/Auth/loginKey") == 3
