"""The m2v emulator's FastAPI app: the Keycloak token route and the m2v backend routes.

Wire protocol as documented in the reference study (paths, casing, envelopes, paging) and in
``docs/pym2v/emulator.md`` (the decisions where the real server's behaviour is unknown).
Responses are serialised with orjson into plain :class:`~starlette.responses.Response` s: the
time-series bodies are assembled from cached bytes, not re-encoded.
"""

from __future__ import annotations

__all__ = ["Emulator", "create_app"]

import base64
import binascii
import logging
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

import anyio.to_thread
import orjson
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from corekit.clock import Clock, system_clock
from corekit.testing import FaultInjector
from pym2v.emulator._settings import EmulatorSettings
from pym2v.emulator._state import EmulatorState, ListQuery, ProtocolError
from pym2v.emulator._tokens import TokenError

logger = logging.getLogger(__name__)

TOKEN_PATH = "/auth/realms/iiot-platform/protocol/openid-connect/token"  # noqa: S105 - a path
_FORM = "application/x-www-form-urlencoded"
# Bounds that keep the generator's integer arithmetic far from overflow: 100 years per bucket,
# timestamps up to the end of year 9999.
_MAX_INTERVAL_S = 100 * 365 * 86_400
_MAX_EPOCH_MS = 253_402_300_799_999


class _KeycloakError(Exception):
    """An OAuth2 error answered the way Keycloak does: ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class _DataQuery(BaseModel):
    """The body of ``postDataByRangeAndInterval`` (other keys, e.g. ``machine``, ignored)."""

    model_config = ConfigDict(extra="ignore")

    condition: StrictStr = ""
    values: list[StrictStr]
    start: StrictInt
    end: StrictInt
    machineUuid: StrictStr
    intervalInS: StrictInt


class _SetPointWrite(BaseModel):
    """The body of the set-point write."""

    model_config = ConfigDict(extra="ignore")

    dataDefinitionKeyItemUuid: StrictStr
    machineUuid: StrictStr
    setPointValue: StrictStr
    timestamp: StrictInt | None = None


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


def _validation_message(exc: ValidationError) -> str:
    errors = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
    return "; ".join(errors)


class Emulator(FaultInjector):
    """The m2v emulator app: a :class:`~corekit.testing.FaultInjector` around the FastAPI app.

    Serve it with :func:`corekit.testing.serve` or uvicorn. Besides the injector's faults and
    request log it offers the emulator's own controls, in Python and under
    ``/_emulator/actions/``:

    * :meth:`revoke_tokens` (``revoke-tokens``): every token issued so far is refused;
    * :meth:`configure` (``configure``): change data modes and token lifetimes while running;
    * ``settings`` (``settings``): the configurable values now in force.

    :meth:`~corekit.testing.FaultInjector.reset` also restores the settings given at start.

    Attributes:
        state: the emulator's state (catalogue, tokens, cache, set-point writes).
    """

    def __init__(self, app: FastAPI, state: EmulatorState, clock: Clock) -> None:
        self.state = state
        super().__init__(
            app,
            clock=clock,
            on_reset=state.reset,
            actions={
                "revoke-tokens": lambda _body: self.revoke_tokens(),
                "configure": state.configure,
                "settings": lambda _body: state.current(),
            },
        )

    @property
    def settings(self) -> EmulatorSettings:
        """The settings now in force (those given at start plus :meth:`configure` changes)."""
        return self.state.settings

    def revoke_tokens(self) -> dict[str, bool]:
        """Refuse every access and refresh token issued so far (clients must log in again)."""
        self.state.issuer.revoke()
        logger.info("revoked every token issued so far")
        return {"revoked": True}

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change data modes (``sparse=True``, ...) or token lifetimes while running.

        Returns:
            The configurable values now in force.

        Raises:
            ValueError: an unknown name or an invalid value.
        """
        return self.state.configure(changes)


def create_app(
    settings: EmulatorSettings | None = None, *, clock: Clock = system_clock
) -> Emulator:
    """Build the emulator: the FastAPI app wrapped in fault injection and a request log.

    Args:
        settings: credentials, catalogue size, lifetimes and modes; defaults documented on
            :class:`EmulatorSettings`.
        clock: the clock tokens expire by and injected latency sleeps on; a
            :class:`corekit.testing.FakeClock` shared with the client tests token expiry
            without waiting.

    Returns:
        The app to serve, with the fault-injection API and the emulator's controls.
    """
    settings = settings if settings is not None else EmulatorSettings()
    state = EmulatorState(settings, clock)
    app = FastAPI(title="pym2v m2v emulator", docs_url=None, redoc_url=None, openapi_url=None)
    _install_error_handlers(app, state)
    _add_token_route(app, state)
    _add_backend_routes(app, state)
    return Emulator(app, state, clock)


def _spring_error(state: EmulatorState, status: int, message: str, path: str) -> Response:
    """An error body the way the m2v (Spring) backend shapes it."""
    stamp = datetime.fromtimestamp(state.clock.time(), UTC).isoformat(timespec="milliseconds")
    body = {
        "timestamp": stamp.replace("+00:00", "Z"),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "path": path,
    }
    headers = {"www-authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return _json(body, status, headers)


def _install_error_handlers(app: FastAPI, state: EmulatorState) -> None:
    async def protocol_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProtocolError)
        return _spring_error(state, exc.status, exc.message, request.url.path)

    async def keycloak_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _KeycloakError)
        return _json({"error": exc.error, "error_description": exc.description}, exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _spring_error(state, exc.status_code, str(exc.detail), request.url.path)

    app.add_exception_handler(ProtocolError, protocol_error)
    app.add_exception_handler(_KeycloakError, keycloak_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """Client id and secret from ``Authorization: Basic`` (0.1.4) or the form body (0.2.0)."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _KeycloakError(401, "invalid_client", "Invalid client credentials") from None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    if "client_id" not in form:
        raise _KeycloakError(401, "invalid_client", "Invalid client or Invalid client credentials")
    return form["client_id"], form.get("client_secret", "")


def _add_token_route(app: FastAPI, state: EmulatorState) -> None:
    @app.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip()
        if content_type.lower() != _FORM:
            raise _KeycloakError(400, "invalid_request", f"Content-Type must be {_FORM}")
        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        settings = state.settings
        client_id, client_secret = _client_credentials(request, form)
        if client_id != settings.client_id or client_secret != (
            settings.client_secret.get_secret_value()
        ):
            raise _KeycloakError(
                401, "invalid_client", "Invalid client or Invalid client credentials"
            )
        grant = form.get("grant_type")
        if grant == "password":
            username, password = form.get("username"), form.get("password")
            if username is None or password is None:
                raise _KeycloakError(400, "invalid_request", "Missing parameter: username/password")
            if username != settings.username or password != settings.password.get_secret_value():
                raise _KeycloakError(401, "invalid_grant", "Invalid user credentials")
            session = str(uuid.uuid4())
        elif grant == "refresh_token":
            refresh = form.get("refresh_token")
            if not refresh:
                raise _KeycloakError(400, "invalid_request", "Missing parameter: refresh_token")
            try:
                claims = state.issuer.verify(refresh, "Refresh")
            except TokenError as exc:
                raise _KeycloakError(
                    400, "invalid_grant", f"Invalid refresh token: {exc}"
                ) from None
            if claims.get("azp") != client_id:
                raise _KeycloakError(
                    400, "invalid_grant", "Token client and authorized client don't match"
                )
            session = str(claims["sid"])
        else:
            raise _KeycloakError(400, "unsupported_grant_type", f"Unsupported grant_type {grant!r}")
        issue = state.issuer.issue
        who = {"subject": settings.username, "client_id": client_id, "session": session}
        return _json(
            {
                "access_token": issue("Bearer", lifetime=settings.token_lifetime, **who),
                "expires_in": settings.token_lifetime,
                "refresh_expires_in": settings.refresh_token_lifetime,
                "refresh_token": issue("Refresh", lifetime=settings.refresh_token_lifetime, **who),
                "token_type": "Bearer",
                "not-before-policy": 0,
                "session_state": session,
                "scope": "email profile",
            },
            headers={"cache-control": "no-store", "pragma": "no-cache"},
        )


def _authorize(request: Request, state: EmulatorState) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProtocolError(401, "Full authentication is required to access this resource")
    try:
        state.issuer.verify(token.strip(), "Bearer")
    except TokenError as exc:
        raise ProtocolError(401, f"invalid bearer token: {exc}") from None


def _list(request: Request, state: EmulatorState, entities: list[dict[str, Any]]) -> Response:
    _authorize(request, state)
    query = ListQuery.parse(dict(request.query_params))
    return _json(query.apply(entities))


async def _body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ProtocolError(400, "the request body is not valid JSON") from None


def _add_backend_routes(app: FastAPI, state: EmulatorState) -> None:
    @app.get("/backend/user-controller/meGUI")
    async def me(request: Request) -> Response:
        _authorize(request, state)
        return _json(state.catalogue.user)

    @app.get("/backend/thing-gui-controller/filter")
    async def routers(request: Request) -> Response:
        return _list(request, state, state.catalogue.routers)

    @app.get("/backend/machine-gui-controller/filter")
    async def machines(request: Request) -> Response:
        entities = [m.entity for m in state.catalogue.machines.values()]
        return _list(request, state, entities)

    @app.get("/backend/machine-controller/{machine_uuid}/measurements")
    async def measurements(request: Request, machine_uuid: str) -> Response:
        _authorize(request, state)
        entities = [s.entity for s in state.machine(machine_uuid).measurements]
        return _list(request, state, entities)

    @app.get("/backend/machine-controller/{machine_uuid}/set-points")
    async def setpoints(request: Request, machine_uuid: str) -> Response:
        _authorize(request, state)
        entities = [s.entity for s in state.machine(machine_uuid).setpoints]
        return _list(request, state, entities)

    @app.post("/backend/machine-controller/postDataByRangeAndInterval")
    async def data(request: Request) -> Response:
        _authorize(request, state)
        try:
            query = _DataQuery.model_validate(await _body(request))
        except ValidationError as exc:
            raise ProtocolError(400, _validation_message(exc)) from None
        if not 1 <= query.intervalInS <= _MAX_INTERVAL_S:
            msg = f"intervalInS: expected 1 to {_MAX_INTERVAL_S} seconds, got {query.intervalInS}"
            raise ProtocolError(400, msg)
        for name, value in (("start", query.start), ("end", query.end)):
            if not 0 <= value <= _MAX_EPOCH_MS:
                msg = f"{name}: expected epoch milliseconds from 0 to {_MAX_EPOCH_MS}, got {value}"
                raise ProtocolError(400, msg)
        machine = state.machine(query.machineUuid)
        body = await anyio.to_thread.run_sync(
            state.series_response, machine, query.values, query.start, query.end, query.intervalInS
        )
        return Response(body, media_type="application/json")

    @app.post("/backend/data-definition-key-item-controller/set-point")
    async def write_setpoint(request: Request) -> Response:
        _authorize(request, state)
        try:
            write = _SetPointWrite.model_validate(await _body(request))
        except ValidationError as exc:
            raise ProtocolError(400, _validation_message(exc)) from None
        machine = state.machine(write.machineUuid)
        target = next(
            (s for s in machine.setpoints if s.item_uuid == write.dataDefinitionKeyItemUuid), None
        )
        if target is None:
            msg = (
                f"machine {machine.uuid!r} has no set-point with dataDefinitionKeyItemUuid "
                f"{write.dataDefinitionKeyItemUuid!r}"
            )
            raise ProtocolError(404, msg)
        stamp = write.timestamp if write.timestamp is not None else int(state.clock.time() * 1000)
        item = target.entity["dataDefinitionKeyItem"]
        item["lastValue"] = write.setPointValue
        item["lastTimestamp"] = stamp
        record = {
            "dataDefinitionKeyItemUuid": write.dataDefinitionKeyItemUuid,
            "machineUuid": machine.uuid,
            "setPointValue": write.setPointValue,
            "timestamp": stamp,
        }
        state.setpoint_writes.append(record)
        return _json(record)
