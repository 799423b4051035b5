"""What both client faces share: defaults, configuration checks and request building.

:class:`_BaseClient` validates the arguments, owns the :class:`~corekit.http._pipeline.Pipeline`
and builds each request's flow; :mod:`corekit.http._client` adds the sync and async drivers.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

import httpx2

from corekit._retry import RetryPolicy
from corekit.breaker import CircuitBreaker
from corekit.clock import Clock
from corekit.errors import ConfigurationError
from corekit.http._pipeline import BodyTooLarge, Flow, Pipeline, default_breaker_key
from corekit.http._redact import Redactor, install_log_filters
from corekit.ratelimit import Limiter

if TYPE_CHECKING:
    from httpx2._client import UseClientDefault
    from httpx2._types import (
        HeaderTypes,
        QueryParamTypes,
        RequestContent,
        RequestData,
        RequestFiles,
    )

    RequestTimeout: TypeAlias = float | httpx2.Timeout | UseClientDefault | None
    RequestAuth: TypeAlias = httpx2.Auth | UseClientDefault | None

DEFAULT_TIMEOUT = httpx2.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
DEFAULT_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
"""Connection-pool limits of a client unless ``limits=`` says otherwise (httpx2's defaults)."""
"""Connect 5 s, read 30 s, write 30 s, wait for a pooled connection 5 s."""

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Largest response body a client reads by default (64 MiB)."""

_DEFAULT_RETRY = RetryPolicy()
_NO_RETRY = RetryPolicy.none()


class RequestOptions(TypedDict, total=False):
    """Keyword arguments of :meth:`Client.request` after ``method`` and ``url``."""

    params: QueryParamTypes | None
    headers: HeaderTypes | None
    json: Any
    content: RequestContent | None
    data: RequestData | None
    files: RequestFiles | None
    timeout: RequestTimeout
    auth: RequestAuth
    idempotent: bool | None
    bucket: str | None
    raise_for_status: bool


def _bad(name: str, value: object, accepted: str) -> ConfigurationError:
    return ConfigurationError(f"{name}={value!r} is invalid: {name} must be {accepted}")


class _BaseClient:
    """Configuration and request building shared by :class:`Client` and :class:`AsyncClient`."""

    _http: httpx2.Client | httpx2.AsyncClient

    def __init__(
        self,
        *,
        retry: RetryPolicy | None,
        rate_limiter: Limiter | None,
        rate_limit_bucket: str | Callable[[str, str], str],
        rate_limit_key: str,
        breaker: CircuitBreaker | None,
        breaker_key: Callable[[httpx2.Request], str] | None,
        max_response_bytes: int | None,
        http2: bool,
        request_id_header: str | None,
        sensitive_headers: Iterable[str],
        sensitive_params: Iterable[str],
        clock: Clock,
        name: str,
    ) -> None:
        if retry is None:
            retry = _NO_RETRY
        elif not isinstance(retry, RetryPolicy):
            raise _bad("retry", retry, "a corekit.retry.RetryPolicy or None")
        limit: object = max_response_bytes
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise _bad("max_response_bytes", max_response_bytes, "a positive int or None")
        if not (isinstance(rate_limit_bucket, str) or callable(rate_limit_bucket)):
            raise _bad(
                "rate_limit_bucket", rate_limit_bucket, "a bucket name or (method, path) -> name"
            )
        header: object = request_id_header
        if header is not None and (not isinstance(header, str) or not header.strip()):
            raise _bad("request_id_header", request_id_header, "a header name or None")
        if http2 and importlib.util.find_spec("h2") is None:
            msg = (
                "http2=True needs the 'h2' package, which is not installed: "
                "install the extra corekit[http2] or pass http2=False"
            )
            raise ConfigurationError(msg)
        self._clock = clock
        self._limiter = rate_limiter
        self._max_bytes = max_response_bytes
        self._redactor = Redactor(sensitive_headers, sensitive_params)
        self._name = name
        self._pipeline = Pipeline(
            retry=retry,
            limited=rate_limiter is not None,
            bucket=rate_limit_bucket,
            rate_limit_key=rate_limit_key,
            breaker=breaker,
            breaker_key=breaker_key or default_breaker_key,
            request_id_header=request_id_header,
            redactor=self._redactor,
            clock=clock,
            name=name,
        )
        install_log_filters()

    @property
    def headers(self) -> httpx2.Headers:
        """Default headers sent with every request; mutable (``client.headers["X-A"] = "b"``)."""
        return self._http.headers

    @headers.setter
    def headers(self, headers: HeaderTypes) -> None:
        self._http.headers = headers

    @property
    def auth(self) -> httpx2.Auth | None:
        """The auth flow run on every request (settable).

        Set it after building the client when the flow's login goes through this very client
        (the login request then passes ``auth=None``).
        """
        return self._http.auth

    @auth.setter
    def auth(self, auth: httpx2.Auth | None) -> None:
        # httpx2's setter accepts None at run time (no auth); its annotation omits it.
        self._http.auth = auth  # type: ignore[assignment]

    def _flow(
        self,
        method: str,
        url: str | httpx2.URL,
        *,
        params: QueryParamTypes | None,
        headers: HeaderTypes | None,
        json: Any,
        content: RequestContent | None,
        data: RequestData | None,
        files: RequestFiles | None,
        timeout: RequestTimeout,
        idempotent: bool | None,
        bucket: str | None,
        raise_for_status: bool,
    ) -> Flow:
        try:
            request = self._http.build_request(
                method,
                url,
                params=params,
                headers=headers,
                json=json,
                content=content,
                data=data,
                files=files,
                timeout=timeout,
            )
        except httpx2.InvalidURL as exc:
            msg = f"{method} {url!r}: not a valid URL ({exc}); pass an http(s) URL or path"
            raise ConfigurationError(msg) from None
        return self._pipeline.flow(
            request,
            idempotent=idempotent,
            bucket=bucket,
            raise_for_status=raise_for_status,
            # A one-shot body (an iterator of chunks) cannot be sent twice.
            replayable=content is None or isinstance(content, bytes | str),
        )

    def _body_limit(self, response: httpx2.Response) -> int:
        """Return the size limit; raise at once if Content-Length already exceeds it."""
        limit = self._max_bytes
        assert limit is not None
        declared = response.headers.get("content-length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > limit
            # HEAD and 304 announce the size of a body they do not carry.
            and response.request.method != "HEAD"
            and response.status_code != 304
        ):
            raise BodyTooLarge(limit, int(declared))
        return limit

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self._http.base_url)!r}, name={self._name!r})"
