"""The emulator app: WATS routes behind Basic auth, routed case-insensitively, fault-injected."""

from __future__ import annotations

__all__ = ["create_app", "emulator_state", "wats_error_body"]

import re
from http import HTTPStatus
from typing import Any

from fastapi import Depends, FastAPI, Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from corekit.clock import Clock, system_clock
from corekit.testing import FaultInjector
from pywats.emulator._assets import add_asset_routes
from pywats.emulator._http import check_auth, install_error_handlers
from pywats.emulator._production import add_production_routes
from pywats.emulator._products import add_product_routes
from pywats.emulator._reports import add_report_routes
from pywats.emulator._settings import EmulatorSettings
from pywats.emulator._state import EmulatorState

# The client app's pre-flight probe needs no credentials.
_OPEN_PATHS = frozenset({"/api/health"})


class _TrailingSlash:
    """Strips a trailing slash, so ``/api/App/Version/`` routes like ``/api/App/Version``.

    Done here rather than with Starlette's ``redirect_slashes``: WATS answers such paths
    directly, and a redirect would turn a client's PUT into a GET on some clients.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def wats_error_body(status: int) -> dict[str, str]:
    """The body a WATS server gives its own errors: ``{"Message": ..., "message": ...}``.

    Injected faults queued without a body answer it too (from Python or over HTTP), so a
    client's error mapping sees the same shape for real and injected failures.
    """
    reason = HTTPStatus(status).phrase
    return {"Message": reason, "message": reason}


def _ignore_case(app: FastAPI) -> None:
    """Make every route match its path regardless of letter case, as IIS-hosted WATS does.

    Path parameters keep the case the client sent: only the literal segments are compared
    case-insensitively.
    """
    for route in app.router.routes:
        if isinstance(route, Route):
            route.path_regex = re.compile(route.path_regex.pattern, re.IGNORECASE)


def build_fastapi(state: EmulatorState, clock: Clock) -> FastAPI:
    """The FastAPI app of the emulator over ``state`` (no fault injection)."""
    settings = state.settings

    # async on purpose: FastAPI runs a sync dependency in a worker thread, a thread hop
    # on every request for a check that never blocks.
    async def authenticate(request: Request) -> str | None:
        if request.url.path.lower() in _OPEN_PATHS:
            return None
        return check_auth(settings, request)

    app = FastAPI(
        title="WATS emulator",
        description="The WATS REST API subset pywats and pywats-api use.",
        version=settings.version,
        redirect_slashes=False,
        # No Swagger UI: WATS has none, and /_emulator/ belongs to the fault injector.
        docs_url=None,
        openapi_url=None,
        redoc_url=None,
        dependencies=[Depends(authenticate)],
    )
    app.state.wats = state
    install_error_handlers(app)

    @app.get("/api/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "Healthy"}

    add_report_routes(app, state, clock.time)
    add_product_routes(app, state)
    add_production_routes(app, state)
    add_asset_routes(app, state)
    _ignore_case(app)
    return app


def create_app(
    settings: EmulatorSettings | None = None,
    *,
    clock: Clock = system_clock,
    log_limit: int = 10_000,
    body_limit: int = 64 * 1024,
) -> FaultInjector:
    """The WATS emulator as an ASGI app, wrapped in corekit's fault injection and request log.

    Serve it with :func:`corekit.testing.serve` or uvicorn. ``POST /_emulator/reset`` (or
    ``reset()`` on the returned injector) clears faults, the request log and every stored
    report, product, unit and asset.

    Args:
        settings: users and behaviour; :class:`EmulatorSettings` defaults when ``None``.
        clock: the clock injected latency sleeps on and receive times come from.
        log_limit: how many requests the request log keeps.
        body_limit: how many bytes of each request body the log keeps; ``0`` keeps none,
            which saves the log's secret redaction (about 2 ms per 10 kB report) in
            benchmarks.

    Returns:
        The :class:`~corekit.testing.FaultInjector` wrapping the app (injected errors carry
        :func:`wats_error_body`); its ``fail``, ``calls()`` and ``reset()`` drive it from Python,
        ``/_emulator/`` over HTTP.
    """
    state = EmulatorState(settings or EmulatorSettings(), clock=clock.time)
    app = build_fastapi(state, clock)
    return FaultInjector(
        _TrailingSlash(app),
        error_body=wats_error_body,
        clock=clock,
        on_reset=state.reset,
        ignore_case=True,
        log_limit=log_limit,
        body_limit=body_limit,
        actions={"stats": lambda _payload: _stats(state)},
    )


def emulator_state(app: FaultInjector) -> EmulatorState:
    """The state behind an app made by :func:`create_app` (tests inspect it directly).

    Raises:
        TypeError: ``app`` was not made by :func:`create_app`.
    """
    inner: Any = app.app
    state = getattr(getattr(getattr(inner, "app", None), "state", None), "wats", None)
    if not isinstance(state, EmulatorState):
        raise TypeError("emulator_state() needs an app made by pywats.emulator.create_app()")
    return state


def _stats(state: EmulatorState) -> dict[str, int]:
    with state.lock:
        return {
            "reports": len(state.reports),
            "products": len(state.products),
            "units": len(state.units),
            "assets": len(state.assets),
        }
