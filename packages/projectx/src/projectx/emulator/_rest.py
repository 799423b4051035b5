"""The Gateway's REST API under ``/api``: one table of endpoints, one dispatcher.

Every endpoint goes through the same steps, in the Gateway's order: the rate-limit budget
(429 with ``Retry-After``), the bearer token (401), the body (400), then the handler, whose
business failures are HTTP 200 with ``success: false`` and the endpoint's own ``errorCode``.
Paths match regardless of case, as ASP.NET routes them.
"""

from __future__ import annotations

__all__ = ["ENDPOINTS", "Runtime", "handle_api"]

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from corekit.clock import Clock
from corekit.ratelimit import Rate, RateLimiter
from projectx.emulator import _requests as rq
from projectx.emulator._bars import UNIT_SECONDS
from projectx.emulator._engine import Gateway
from projectx.emulator._entities import Failure, GatewayFailure, iso
from projectx.emulator._settings import EmulatorSettings
from projectx.emulator._tokens import Session, SessionStore, TokenProblem

logger = logging.getLogger(__name__)


def _limiter(settings: EmulatorSettings, clock: Clock) -> RateLimiter:
    return RateLimiter(
        {
            "bars": Rate(settings.bars_rate_limit, settings.bars_rate_period),
            "default": Rate(settings.rate_limit, settings.rate_period),
        },
        clock=clock,
    )


@dataclass
class Runtime:
    """Everything the routes share: settings, clock, state, sessions and rate-limit budgets.

    ``on_logout`` hooks run when ``Auth/logout`` ends a session (the hubs close its connections).
    """

    settings: EmulatorSettings
    clock: Clock
    gateway: Gateway = field(init=False)
    sessions: SessionStore = field(init=False)
    limiter: RateLimiter = field(init=False)
    on_logout: list[Callable[[Session], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gateway = Gateway(self.settings, self.clock)
        self.sessions = SessionStore(self.clock, self.settings.token_lifetime)
        self.limiter = _limiter(self.settings, self.clock)

    def reset(self) -> None:
        """Back to the starting state: no sessions, full budgets, fresh trading state."""
        self.sessions.clear()
        self.limiter = _limiter(self.settings, self.clock)
        self.gateway.reset()


# A handler answers the JSON data of the reply (the envelope, or ping's bare "pong").
Handler = Callable[[Runtime, Any, Session | None], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST endpoint: its body model, handler, budget and ``errorCode`` for each failure."""

    path: str
    handler: Handler
    model: type[BaseModel] | None = None
    payload: str | None = None
    codes: dict[Failure, int] = field(default_factory=dict)
    auth: bool = True
    bucket: str = "default"
    method: str = "POST"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def _ok(**payload: Any) -> dict[str, Any]:
    return {**payload, "success": True, "errorCode": 0, "errorMessage": None}


# -- handlers ------------------------------------------------------------------------------


def _login(rt: Runtime, body: rq.LoginKey, _: Session | None) -> dict[str, Any]:
    settings = rt.settings
    if body.user_name != settings.username or body.api_key != settings.api_key.get_secret_value():
        # One code for a wrong user and a wrong key: the answer must not reveal which.
        logger.info("login refused for user %r", body.user_name)
        return {
            "token": None,
            "success": False,
            "errorCode": 3,
            "errorMessage": "Invalid credentials: check the user name and API key",
        }
    return _ok(token=rt.sessions.issue(body.user_name))


def _validate(rt: Runtime, _: None, session: Session | None) -> dict[str, Any]:
    assert session is not None
    return _ok(newToken=rt.sessions.issue(session.username))


def _logout(rt: Runtime, _: None, session: Session | None) -> dict[str, Any]:
    assert session is not None
    rt.sessions.revoke(session)
    for hook in rt.on_logout:
        hook(session)
    return _ok()


def _accounts(rt: Runtime, body: rq.AccountSearch, _: Session | None) -> dict[str, Any]:
    return _ok(accounts=rt.gateway.list_accounts(only_active=body.only_active_accounts))


def _contract_search(rt: Runtime, body: rq.ContractSearch, _: Session | None) -> dict[str, Any]:
    with rt.gateway.lock:
        return _ok(contracts=rt.gateway.market.listed(live=body.live, text=body.search_text or ""))


def _contract_by_id(rt: Runtime, body: rq.ByContract, _: Session | None) -> dict[str, Any]:
    with rt.gateway.lock:
        market = rt.gateway.market
        return _ok(contract=market.to_wire(market.contract(body.contract_id)))


def _contracts_available(rt: Runtime, body: rq.LiveOnly, _: Session | None) -> dict[str, Any]:
    with rt.gateway.lock:
        return _ok(contracts=rt.gateway.market.listed(live=body.live))


def _bars(rt: Runtime, body: rq.Bars, _: Session | None) -> dict[str, Any]:
    market = rt.gateway.market
    with rt.gateway.lock:
        contract = market.contract(body.contract_id)
    if body.unit not in (*UNIT_SECONDS, 6):
        msg = f"unit {body.unit} is invalid; use 1 Second, 2 Minute, 3 Hour, 4 Day, 5 Week, 6 Month"
        return _refuse("bars", 2, msg)
    if body.unit_number < 1:
        return _refuse("bars", 3, f"unitNumber must be at least 1, got {body.unit_number}")
    if body.limit < 1:
        return _refuse("bars", 4, f"limit must be at least 1, got {body.limit}")
    bars = market.path(contract.id).bars(
        body.unit,
        body.unit_number,
        start=body.start_time.timestamp(),
        end=body.end_time.timestamp(),
        now=rt.clock.time(),
        limit=min(body.limit, rt.settings.max_bars),
        partial=body.include_partial_bar,
    )
    return _ok(bars=bars)


def _refuse(payload: str | None, code: int, message: str) -> dict[str, Any]:
    head = {payload: None} if payload else {}
    return {**head, "success": False, "errorCode": code, "errorMessage": message}


def _place(rt: Runtime, body: rq.Place, _: Session | None) -> dict[str, Any]:
    def bracket(b: rq.Bracket | None) -> tuple[int, int] | None:
        return None if b is None else (b.type, b.ticks)

    order_id = rt.gateway.place_order(
        account_id=body.account_id,
        contract_id=body.contract_id,
        type=body.type,
        side=body.side,
        size=body.size,
        limit_price=body.limit_price,
        stop_price=body.stop_price,
        trail_price=body.trail_price,
        custom_tag=body.custom_tag,
        stop_loss=bracket(body.stop_loss_bracket),
        take_profit=bracket(body.take_profit_bracket),
    )
    return _ok(orderId=order_id)


def _cancel(rt: Runtime, body: rq.ById, _: Session | None) -> dict[str, Any]:
    rt.gateway.cancel_order(body.account_id, body.order_id)
    return _ok()


def _modify(rt: Runtime, body: rq.Modify, _: Session | None) -> dict[str, Any]:
    rt.gateway.modify_order(
        body.account_id,
        body.order_id,
        size=body.size,
        limit_price=body.limit_price,
        stop_price=body.stop_price,
        trail_price=body.trail_price,
    )
    return _ok()


def _order_search(rt: Runtime, body: rq.TimeWindow, _: Session | None) -> dict[str, Any]:
    end = body.end_timestamp.timestamp() if body.end_timestamp else None
    orders = rt.gateway.find_orders(
        body.account_id, start=body.start_timestamp.timestamp(), end=end
    )
    return _ok(orders=orders)


def _order_open(rt: Runtime, body: rq.ByAccount, _: Session | None) -> dict[str, Any]:
    return _ok(orders=rt.gateway.open_orders(body.account_id))


def _order_by_id(rt: Runtime, body: rq.ById, _: Session | None) -> dict[str, Any]:
    return _ok(order=rt.gateway.order(body.account_id, body.order_id))


def _order_query(rt: Runtime, body: rq.OrderQuery, _: Session | None) -> dict[str, Any]:
    flt = body.filter
    orders = rt.gateway.query_orders(flt.account_id, flt.statuses, flt.contract_id)
    size = max(body.page_size, 1)
    page = orders[max(body.page_offset, 0) * size :][:size]
    extra = {"totalCount": len(orders)} if body.include_total_count else {}
    return _ok(orders=page, **extra)


def _positions(rt: Runtime, body: rq.ByAccount, _: Session | None) -> dict[str, Any]:
    return _ok(positions=rt.gateway.open_positions(body.account_id))


def _close(rt: Runtime, body: rq.ByAccountContract, _: Session | None) -> dict[str, Any]:
    rt.gateway.close_position(body.account_id, body.contract_id)
    return _ok()


def _partial_close(rt: Runtime, body: rq.PartialClose, _: Session | None) -> dict[str, Any]:
    rt.gateway.close_position(body.account_id, body.contract_id, body.size)
    return _ok()


def _trades(rt: Runtime, body: rq.TimeWindow, _: Session | None) -> dict[str, Any]:
    end = body.end_timestamp.timestamp() if body.end_timestamp else None
    trades = rt.gateway.find_trades(
        body.account_id,
        start=body.start_timestamp.timestamp(),
        end=end,
        contract_id=body.contract_id,
    )
    return _ok(trades=trades)


# -- the table -----------------------------------------------------------------------------

_F = Failure
_ACCOUNT = {_F.ACCOUNT_NOT_FOUND: 1}
_CANCEL = {_F.ACCOUNT_NOT_FOUND: 1, _F.ORDER_NOT_FOUND: 2, _F.ORDER_NOT_OPEN: 3}
_CANCEL |= {_F.ORDER_REJECTED: 3, _F.ACCOUNT_REJECTED: 6}
_CLOSE = {_F.ACCOUNT_NOT_FOUND: 1, _F.POSITION_NOT_FOUND: 2, _F.CONTRACT_NOT_FOUND: 3}
_CLOSE |= {_F.CONTRACT_NOT_ACTIVE: 4, _F.ORDER_REJECTED: 5, _F.ACCOUNT_REJECTED: 8}
_PARTIAL = {**_CLOSE, _F.INVALID_CLOSE_SIZE: 5, _F.ORDER_REJECTED: 6, _F.ACCOUNT_REJECTED: 9}
_PLACE = {_F.ACCOUNT_NOT_FOUND: 1, _F.ORDER_REJECTED: 2, _F.CONTRACT_NOT_FOUND: 8}
_PLACE |= {_F.CONTRACT_NOT_ACTIVE: 9, _F.ACCOUNT_REJECTED: 10}
_BY_ID = {_F.ACCOUNT_NOT_FOUND: 1, _F.ORDER_NOT_FOUND: 1}

ENDPOINTS = {
    e.path.lower(): e
    for e in [
        Endpoint("Auth/loginKey", _login, rq.LoginKey, "token", auth=False),
        Endpoint("Auth/validate", _validate, payload="newToken"),
        Endpoint("Auth/logout", _logout),
        Endpoint("Status/ping", lambda *_: "pong", auth=False, method="GET"),
        Endpoint("Account/search", _accounts, rq.AccountSearch, "accounts"),
        Endpoint("Contract/search", _contract_search, rq.ContractSearch, "contracts"),
        Endpoint(
            "Contract/searchById",
            _contract_by_id,
            rq.ByContract,
            "contract",
            {_F.CONTRACT_NOT_FOUND: 1},
        ),
        Endpoint("Contract/available", _contracts_available, rq.LiveOnly, "contracts"),
        Endpoint(
            "History/retrieveBars",
            _bars,
            rq.Bars,
            "bars",
            {_F.CONTRACT_NOT_FOUND: 1},
            bucket="bars",
        ),
        Endpoint("Order/place", _place, rq.Place, "orderId", _PLACE),
        Endpoint("Order/cancel", _cancel, rq.ById, None, _CANCEL),
        Endpoint("Order/modify", _modify, rq.Modify, None, {**_CANCEL, _F.CONTRACT_NOT_FOUND: 7}),
        Endpoint("Order/search", _order_search, rq.TimeWindow, "orders", _ACCOUNT),
        Endpoint("Order/searchOpen", _order_open, rq.ByAccount, "orders", _ACCOUNT),
        Endpoint("Order/searchById", _order_by_id, rq.ById, "order", _BY_ID),
        Endpoint("Order/v2/query", _order_query, rq.OrderQuery, "orders", _ACCOUNT),
        Endpoint("Position/searchOpen", _positions, rq.ByAccount, "positions", _ACCOUNT),
        Endpoint("Position/closeContract", _close, rq.ByAccountContract, None, _CLOSE),
        Endpoint("Position/partialCloseContract", _partial_close, rq.PartialClose, None, _PARTIAL),
        Endpoint("Trade/search", _trades, rq.TimeWindow, "trades", _ACCOUNT),
    ]
}


# -- dispatch ------------------------------------------------------------------------------


def _unauthorized(problem: str) -> Response:
    challenge = f'Bearer error="invalid_token", error_description="{problem}"'
    return Response(status_code=401, headers={"WWW-Authenticate": challenge})


def _authenticate(  # noqa: PLR0911 - one return per way a token can be refused
    rt: Runtime, request: Request, *, renewing: bool
) -> Session | Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    session, problem = rt.sessions.check(token.strip())
    if problem is None and session is not None:
        return session
    if not renewing:
        description = {
            TokenProblem.UNKNOWN: "The token is not valid",
            TokenProblem.REVOKED: "The session has ended",
            TokenProblem.EXPIRED: "The token expired",
        }[problem or TokenProblem.UNKNOWN]
        return _unauthorized(description)
    # Auth/validate renews a known token even after it expired (within validate_window).
    if session is None:
        return _json(_refuse("newToken", 2, "Session not found: log in with Auth/loginKey"))
    if problem is TokenProblem.REVOKED:
        return _json(_refuse("newToken", 1, "The session has ended: log in with Auth/loginKey"))
    if rt.clock.time() > session.expires + rt.settings.validate_window:
        expired = iso(session.expires)
        msg = f"The token expired at {expired}, too long ago to renew: log in with Auth/loginKey"
        return _json(_refuse("newToken", 3, msg))
    return session


async def handle_api(  # noqa: PLR0911 - the steps answer in turn, as the Gateway does
    rt: Runtime, request: Request, path: str
) -> Response:
    """Answer one request to ``/api/<path>``."""
    endpoint = ENDPOINTS.get(path.strip("/").lower())
    if endpoint is None:
        return _json({"detail": f"No Gateway endpoint at /api/{path}"}, 404)
    if request.method != endpoint.method:
        return Response(status_code=405, headers={"Allow": endpoint.method})
    if rt.settings.rate_limits:
        wait = rt.limiter.try_acquire(endpoint.bucket)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            rate = rt.limiter.buckets[endpoint.bucket][0]
            scope = "History/retrieveBars" if endpoint.bucket == "bars" else "this API"
            message = f"Rate limit of {rate} on {scope} exceeded; retry after {seconds} s"
            refusal = {"success": False, "errorCode": None, "errorMessage": message}
            return _json(refusal, 429, {"Retry-After": str(seconds)})
    session: Session | None = None
    if endpoint.auth:
        checked = _authenticate(rt, request, renewing=endpoint.path == "Auth/validate")
        if isinstance(checked, Response):
            return checked
        session = checked
    body: Any = None
    if endpoint.model is not None:
        try:
            body = rq.parse(endpoint.model, await request.body())
        except rq.BadRequestError as exc:
            return _json(exc.problem(), 400)
    try:
        return _json(endpoint.handler(rt, body, session))
    except GatewayFailure as failure:
        code = endpoint.codes.get(failure.failure)
        if code is None:  # pragma: no cover - a failure the table forgot is a bug here
            raise
        return _json(_refuse(endpoint.payload, code, failure.message))
