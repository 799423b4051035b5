"""One request pipeline for both clients: a :class:`Call` describes a request and its parsing.

Each API method builds a :class:`Call` (method, route, parameters, body, how to read the
answer) once; :class:`SyncRunner` and :class:`AsyncRunner` only send it through
:class:`corekit.http.Client` or :class:`corekit.http.AsyncClient` and translate failures into
:mod:`pywats.errors`. So the sync and async faces cannot drift apart.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from pywats.errors import (
    PyWATSError,
    WATSConfigurationError,
    WATSOperationError,
    translate,
)

if TYPE_CHECKING:
    from corekit.http import AsyncClient, Client, Response

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """A request to WATS and how to turn its answer into a Python value.

    Attributes:
        method: HTTP method.
        route: the path under the base URL, e.g. ``/api/Report/WSJF``.
        parse: turns the (successful) response into the result.
        params: query parameters (``None`` values are dropped).
        json: a JSON body (serialised by the HTTP client).
        content: a raw body (bytes or text), e.g. pre-serialised WSJF or WSXF.
        headers: extra headers (e.g. ``Content-Type`` for ``content``).
        idempotent: retry like an idempotent request (a report submit: same id overwrites).
    """

    method: str
    route: str
    parse: Callable[[Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotent: bool | None = None

    def request_options(self) -> dict[str, Any]:
        """Keyword arguments for ``corekit.http.Client.request``."""
        options: dict[str, Any] = {"idempotent": self.idempotent}
        if self.params:
            options["params"] = {k: v for k, v in self.params.items() if v is not None}
        if self.json is not None:
            options["json"] = self.json
        if self.content is not None:
            options["content"] = self.content
        if self.headers:
            options["headers"] = self.headers
        return options


class SyncRunner:
    """Sends calls through a :class:`corekit.http.Client` (thread-safe: no per-call state)."""

    def __init__(self, http: Client) -> None:
        self.http = http

    def run(self, call: Call[T]) -> T:
        """Send ``call`` and return its parsed result.

        Raises:
            PyWATSError: the request failed, WATS refused it, or its answer is unreadable.
        """
        try:
            response = self.http.request(call.method, call.route, **call.request_options())
        except PyWATSError:
            raise
        except Exception as exc:
            raise _translated(exc, call) from exc
        return _parse(call, response)


class AsyncRunner:
    """Sends calls through a :class:`corekit.http.AsyncClient`."""

    def __init__(self, http: AsyncClient) -> None:
        self.http = http

    async def run(self, call: Call[T]) -> T:
        """Send ``call`` and return its parsed result; see :meth:`SyncRunner.run`."""
        try:
            response = await self.http.request(call.method, call.route, **call.request_options())
        except PyWATSError:
            raise
        except Exception as exc:
            raise _translated(exc, call) from exc
        return _parse(call, response)


def _translated(exc: Exception, call: Call[Any]) -> Exception:
    from corekit.errors import CorekitError

    if not isinstance(exc, CorekitError):
        return exc
    error = translate(exc, call.route)
    # The route only: parameters may name units or carry keys; the error holds the rest.
    logger.debug("%s %s failed: %s", call.method, call.route, type(error).__name__)
    return error


def _parse(call: Call[T], response: Response) -> T:
    try:
        return call.parse(response)
    except (ValueError, ValidationError) as exc:
        msg = (
            f"{call.method} {call.route}: WATS answered {response.status_code} with a body "
            f"this client cannot read ({type(exc).__name__}: {str(exc)[:300]}); check that the "
            "base URL points at a WATS server of a supported version"
        )
        raise WATSOperationError(msg) from exc


def body(response: Response) -> Any:
    """The response body as JSON, or ``None`` when it is empty."""
    content = response.content
    if not content.strip():
        return None
    return orjson.loads(content)


def nothing(response: Response) -> None:
    """Ignore the body (for calls whose success is the status alone)."""


def raw(response: Response) -> bytes:
    """The body as bytes."""
    return response.content


def model(cls: type[M]) -> Callable[[Response], M]:
    """Parse the body as one ``cls``."""

    def parse(response: Response) -> M:
        return cls.model_validate(body(response))

    return parse


def models(cls: type[M]) -> Callable[[Response], list[M]]:
    """Parse the body as a (bare JSON) array of ``cls``; an empty body is an empty list."""
    adapter = TypeAdapter(list[cls])  # type: ignore[valid-type]

    def parse(response: Response) -> list[M]:
        data = body(response)
        if data is None:
            return []
        result: list[M] = adapter.validate_python(data)
        return result

    return parse


def normalize_base_url(url: str) -> str:
    """Return ``scheme://host[:port][/prefix]`` with any trailing ``/`` and ``/api`` removed.

    Raises:
        WATSConfigurationError: the URL is empty or not http(s).
    """
    cleaned = str(url).strip()
    while True:
        stripped = cleaned.rstrip("/")
        if stripped.lower().endswith("/api"):
            stripped = stripped[:-4]
        if stripped == cleaned:
            break
        cleaned = stripped
    scheme, sep, rest = cleaned.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        msg = (
            f"base_url={url!r} is not a WATS server URL: pass http(s)://host[:port], "
            "e.g. https://acme.wats.com (setting PYWATS_BASE_URL)"
        )
        raise WATSConfigurationError(msg)
    return cleaned


def _reveal(value: str | SecretStr | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def basic_token(
    username: str | None = None,
    password: str | SecretStr | None = None,
    token: str | SecretStr | None = None,
) -> str:
    """Return the value after ``Basic`` in the ``Authorization`` header.

    With a ``username``, the secret is ``password`` (or ``token``, an API token) and the pair
    is base64-encoded as HTTP Basic auth says. Without one, ``token`` is taken as already
    encoded (what the WATS web UI hands out).

    Raises:
        WATSConfigurationError: the combination gives no credentials.
    """
    secret = _reveal(password)
    given = _reveal(token)
    if username:
        pair_secret = secret if secret is not None else given
        if pair_secret is None:
            msg = (
                f"username={username!r} needs a password or API token: pass password= "
                "(setting PYWATS_PASSWORD) or token= (PYWATS_TOKEN)"
            )
            raise WATSConfigurationError(msg)
        return base64.b64encode(f"{username}:{pair_secret}".encode()).decode("ascii")
    if given:
        return given.strip()
    if secret is not None:
        msg = "password= needs username= as well (settings PYWATS_USERNAME, PYWATS_PASSWORD)"
        raise WATSConfigurationError(msg)
    msg = (
        "no WATS credentials: pass username= and password=, or token= (a pre-encoded Basic "
        "token); settings PYWATS_USERNAME, PYWATS_PASSWORD, PYWATS_TOKEN"
    )
    raise WATSConfigurationError(msg)
