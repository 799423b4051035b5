"""The emulator app: REST under ``/api``, SignalR under ``/hubs``, control under ``/_emulator``."""

from __future__ import annotations

__all__ = ["Emulator", "create_app"]

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket
from starlette.types import Receive, Scope, Send

from corekit.clock import Clock, system_clock
from corekit.testing import ASGIApp, FaultInjector
from projectx.emulator._engine import Gateway
from projectx.emulator._entities import GatewayFailure
from projectx.emulator._hubs import Hubs
from projectx.emulator._rest import Runtime, handle_api
from projectx.emulator._settings import EmulatorSettings

logger = logging.getLogger(__name__)


class Emulator(FaultInjector):
    """The emulated Gateway, wrapped in :class:`corekit.testing.FaultInjector`.

    Serve it with :func:`corekit.testing.serve` (or uvicorn). Besides the injector's API
    (faults, request log, :meth:`~corekit.testing.FaultInjector.reset`), it gives tests in
    the same process the Gateway's state and a few controls, which are also control actions
    over HTTP:

    * ``POST /_emulator/actions/set-price`` with ``{"contractId": ..., "price": p}`` or
      ``{"contractId": ..., "prices": [p, ...]}``: :meth:`set_price`; answers
      ``{"filled": [orders], "lastPrice": p}``;
    * ``POST /_emulator/actions/revoke-tokens``: :meth:`revoke_tokens`; ``{"revoked": n}``;
    * ``POST /_emulator/actions/expire-tokens``: :meth:`expire_tokens`; ``{"expired": n}``.

    Attributes:
        settings: the settings it was built with.
        gateway: accounts, orders, positions, trades and prices.
        runtime: the state shared by the routes (sessions, rate-limit budgets).
    """

    def __init__(self, settings: EmulatorSettings, clock: Clock) -> None:
        self.settings = settings
        self.runtime = Runtime(settings, clock)
        self.gateway: Gateway = self.runtime.gateway
        self.hubs = Hubs(self.runtime)
        super().__init__(
            _case_insensitive(_fastapi(self.runtime, self.hubs)),
            clock=clock,
            on_reset=self.runtime.reset,
            actions={
                "set-price": self._set_price_action,
                "revoke-tokens": lambda _: {"revoked": self.revoke_tokens()},
                "expire-tokens": lambda _: {"expired": self.expire_tokens()},
            },
            ignore_case=True,
        )

    def set_price(self, contract_id: str, price: float) -> list[dict[str, Any]]:
        """Move a contract's last price; returns the orders it filled (Gateway order model).

        Raises:
            ValueError: the contract is unknown or the price is not positive.
        """
        try:
            return self.gateway.set_price(contract_id, price)
        except GatewayFailure as exc:
            raise ValueError(exc.message) from None

    def _set_price_action(self, body: dict[str, Any]) -> dict[str, Any]:
        contract_id = body.get("contractId")
        prices = body.get("prices", [body.get("price")])
        if not isinstance(contract_id, str) or not isinstance(prices, list) or not prices:
            msg = 'expected {"contractId": "CON...", "price": 123.25} or "prices": [...]'
            raise ValueError(msg)
        filled: list[dict[str, Any]] = []
        for price in prices:
            if isinstance(price, bool) or not isinstance(price, int | float):
                raise ValueError(f"price must be a number, got {price!r}")
            filled += self.set_price(contract_id, float(price))
        with self.gateway.lock:
            last = self.gateway.market.last(self.gateway.market.contract(contract_id).id)
        return {"filled": filled, "lastPrice": last}

    def revoke_tokens(self) -> int:
        """End every session: their tokens get 401 and cannot be renewed; returns how many."""
        revoked = self.runtime.sessions.revoke_all()
        self.hubs.logout_all()
        return revoked

    def expire_tokens(self) -> int:
        """Expire every live token now (``Auth/validate`` can renew them); returns how many."""
        return self.runtime.sessions.expire_all()

    def token(self) -> str:
        """A fresh token for the configured user, as ``Auth/loginKey`` would issue it."""
        return self.runtime.sessions.issue(self.settings.username)


def _case_insensitive(app: ASGIApp) -> ASGIApp:
    """Route ``/API/...`` and ``/Hubs/...`` as ASP.NET does: regardless of letter case."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and path.lower().startswith(("/api/", "/hubs/")):
            scope = dict(scope)
            scope["path"] = path.lower()
            scope["raw_path"] = path.lower().encode()
        await app(scope, receive, send)

    return route


def _fastapi(runtime: Runtime, hubs: Hubs) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with hubs.running():
            yield

    app = FastAPI(
        title="ProjectX Gateway emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )

    @app.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def api(path: str, request: Request) -> Response:
        return await handle_api(runtime, request, path)

    @app.post("/hubs/{hub}/negotiate")
    async def negotiate(hub: str, request: Request) -> Response:
        return hubs.negotiate(hub, request)

    @app.websocket("/hubs/{hub}")
    async def hub_socket(hub: str, websocket: WebSocket) -> None:
        await hubs.serve(hub, websocket)

    return app


def create_app(
    settings: EmulatorSettings | None = None, *, clock: Clock = system_clock
) -> Emulator:
    """Build the emulated Gateway: a FastAPI app wrapped in fault injection.

    Args:
        settings: credentials, token lifetime, budgets, accounts and contracts; the
            defaults of :class:`EmulatorSettings` when omitted.
        clock: time for tokens, budgets, timestamps and bars; a
            :class:`corekit.testing.FakeClock` in tests.

    Returns:
        The :class:`Emulator` (a :class:`corekit.testing.FaultInjector`) to serve.
    """
    return Emulator(settings or EmulatorSettings(), clock)
