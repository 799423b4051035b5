"""HTTP plumbing shared by the emulator's routes: WATS-style errors, Basic auth, JSON bodies."""

from __future__ import annotations

__all__ = [
    "WATSHTTPError",
    "check_auth",
    "install_error_handlers",
    "json_body",
    "query_params",
    "truthy",
]

import base64
import binascii
import hmac
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pywats.emulator._settings import EmulatorSettings
from pywats.emulator._wsjf import ReportRejected, parse_json

logger = logging.getLogger(__name__)

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WATSHTTPError(Exception):
    """Answered as ``{"Message": message, "message": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A WATS error body: the message under both spellings clients look for."""
    return JSONResponse({"Message": message, "message": message}, status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, including Starlette's own 404 and 405, with a WATS error body."""

    @app.exception_handler(WATSHTTPError)
    async def _wats(_request: Request, exc: WATSHTTPError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = (
                f"No HTTP resource was found that matches the request URI {request.url.path!r}."
            )
        elif exc.status_code == 405:
            message = f"The requested resource does not support http method {request.method!r}."
        return error_response(exc.status_code, message, exc.headers)


def check_auth(settings: EmulatorSettings, request: Request) -> str:
    """Check ``Authorization: Basic ...`` against the configured users; return the user name.

    Raises:
        WATSHTTPError: 401 without valid credentials, 403 when a read-only user writes, 400
            for an internal call without ``Referer`` when the settings require one.
    """
    challenge = {"WWW-Authenticate": 'Basic realm="WATS"'}
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise WATSHTTPError(401, "Authorization has been denied for this request.", challenge)
    user = "*"
    may_write = True
    if not settings.accept_any_token:
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, _, secret = decoded.partition(":")
        known = settings.credentials().get(user)
        # compare_digest on both branches: no timing difference between unknown and wrong.
        expected = known[0] if known is not None else "\0"
        if not hmac.compare_digest(secret.encode(), expected.encode()) or known is None:
            logger.info("rejected credentials for %s %s", request.method, request.url.path)
            raise WATSHTTPError(401, "Authorization has been denied for this request.", challenge)
        may_write = known[1]
    if not may_write and request.method.upper() not in _READ_METHODS:
        raise WATSHTTPError(403, f"User {user!r} has read-only access to WATS.")
    if (
        settings.require_referer
        and request.url.path.lower().startswith("/api/internal/")
        and not request.headers.get("referer")
    ):
        raise WATSHTTPError(400, "Internal API calls must send a Referer header.")
    return user


async def json_body(request: Request) -> Any:
    """The request body parsed as strict JSON.

    Raises:
        WATSHTTPError: 400 when the body is not JSON.
    """
    raw = await request.body()
    try:
        return parse_json(raw)
    except ReportRejected as exc:
        raise WATSHTTPError(400, str(exc)) from exc


def query_params(request: Request) -> dict[str, str]:
    """The query parameters, names matched regardless of case (``$Filter`` is ``$filter``)."""
    return {name.lower(): value for name, value in request.query_params.items()}


def truthy(value: str | None, default: bool) -> bool:
    """A query flag: ``true``/``1``/``yes`` are true, ``false``/``0``/``no`` false.

    Raises:
        WATSHTTPError: 400 for anything else.
    """
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise WATSHTTPError(400, f"expected true or false, got {value!r}")
