"""``Client`` and ``AsyncClient``: thin drivers of the shared request pipeline.

Everything both faces share (configuration checks, building requests, the pipeline itself)
lives in :class:`~corekit.http._base._BaseClient`; each face only performs the pipeline's
actions with its own primitives: ``limiter.acquire`` / ``aacquire``, ``clock.sleep`` /
``asleep`` and ``httpx2.Client.send`` / ``httpx2.AsyncClient.send`` with a size-limited read.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Unpack

import httpx2

from corekit.breaker import CircuitBreaker
from corekit.clock import Clock, system_clock
from corekit.closing import AsyncClosing, Closing
from corekit.http._base import (
    _DEFAULT_RETRY,
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    RequestOptions,
    _BaseClient,
)
from corekit.http._pipeline import Acquire, BodyTooLarge, Send
from corekit.http._redact import _ACTIVE
from corekit.ratelimit import Limiter
from corekit.retry import RetryPolicy

if TYPE_CHECKING:
    from httpx2._types import (
        HeaderTypes,
        QueryParamTypes,
        RequestContent,
        RequestData,
        RequestFiles,
    )

    from corekit.http._base import RequestAuth, RequestTimeout


class Client(_BaseClient, Closing):
    """HTTP client with retries, rate limiting, circuit breaking and safe errors.

    Every request goes through one pipeline: a request id header, a rate-limit grant and a
    circuit-breaker admission before each attempt, retries per the :class:`RetryPolicy`
    (idempotent requests on transport errors and transient statuses, others only when the
    request never left; waits on ``clock``, honouring ``Retry-After``), a response-size limit,
    and errors from :mod:`corekit.errors` with secrets redacted. No httpx2 exception escapes.

    A request whose ``content`` is an iterator (a one-shot stream) is sent once: it cannot be
    replayed, so it is never retried.

    Args:
        base_url: prefix for relative request URLs.
        headers: default headers for every request.
        params: default query parameters for every request.
        auth: an ``httpx2.Auth`` flow (e.g. ``OAuth2Auth``, ``TokenAuth``), run on every attempt.
            A corekit error it raises (token endpoint or login failed) fails that attempt; it
            is retried per ``retry`` whatever the method, as the request was not processed.
        timeout: seconds, or a :class:`Timeout`; default ``DEFAULT_TIMEOUT`` (connect 5 s,
            read and write 30 s, pool 5 s).
        retry: the retry policy; ``None`` for a single attempt.
        rate_limiter: a :class:`~corekit.ratelimit.Limiter` to acquire from before each attempt.
        rate_limit_bucket: the bucket name, or ``(method, path) -> bucket name``.
        rate_limit_key: the limiter key (e.g. an account) for this client's requests.
        breaker: a :class:`~corekit.breaker.CircuitBreaker`; transport errors and 5xx count as
            failures, every other response as a success.
        breaker_key: ``request -> key`` for the breaker; default ``"host:port"``.
        max_response_bytes: largest body read (decoded); ``None`` for no limit.
        http2: negotiate HTTP/2 (needs the ``corekit[http2]`` extra).
        follow_redirects: follow 3xx redirects.
        verify: TLS verification: ``True``, ``False``, a CA bundle path or an ``SSLContext``.
        limits: connection-pool limits (:class:`Limits`: max connections, keep-alive).
        proxy: a proxy URL for every request, e.g. ``"http://proxy.local:3128"``.
        trust_env: read proxies and CA bundles from the environment (``HTTPS_PROXY``, ...).
        user_agent: ``User-Agent`` header value; default httpx2's.
        request_id_header: header carrying a fresh uuid4 hex per logical request (kept if the
            caller sets one; the same on every retry); ``None`` to send none.
        sensitive_headers: more header names whose values are redacted in logs and errors.
        sensitive_params: more query parameter names whose values are redacted.
        transport: an ``httpx2.BaseTransport`` to send through (tests: ``MockTransport``).
        clock: waits, the retry budget and ``Retry-After`` dates.
        name: names the client in logs and stamina's retry instrumentation.

    Raises:
        ConfigurationError: an invalid argument, or ``http2=True`` without ``h2`` installed.
    """

    _http: httpx2.Client

    def __init__(
        self,
        base_url: str = "",
        *,
        headers: HeaderTypes | None = None,
        params: QueryParamTypes | None = None,
        auth: httpx2.Auth | None = None,
        timeout: float | httpx2.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        rate_limiter: Limiter | None = None,
        rate_limit_bucket: str | Callable[[str, str], str] = "default",
        rate_limit_key: str = "",
        breaker: CircuitBreaker | None = None,
        breaker_key: Callable[[httpx2.Request], str] | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        http2: bool = False,
        follow_redirects: bool = False,
        verify: ssl.SSLContext | str | bool = True,
        limits: httpx2.Limits = DEFAULT_LIMITS,
        proxy: str | None = None,
        trust_env: bool = True,
        user_agent: str | None = None,
        request_id_header: str | None = "X-Request-ID",
        sensitive_headers: Iterable[str] = (),
        sensitive_params: Iterable[str] = (),
        transport: httpx2.BaseTransport | None = None,
        clock: Clock = system_clock,
        name: str = "corekit",
    ) -> None:
        super().__init__(
            retry=retry,
            rate_limiter=rate_limiter,
            rate_limit_bucket=rate_limit_bucket,
            rate_limit_key=rate_limit_key,
            breaker=breaker,
            breaker_key=breaker_key,
            max_response_bytes=max_response_bytes,
            http2=http2,
            request_id_header=request_id_header,
            sensitive_headers=sensitive_headers,
            sensitive_params=sensitive_params,
            clock=clock,
            name=name,
        )
        self._http = httpx2.Client(
            base_url=base_url,
            headers=headers,
            params=params,
            auth=auth,
            timeout=timeout,
            http2=http2,
            follow_redirects=follow_redirects,
            verify=verify,
            limits=limits,
            proxy=proxy,
            trust_env=trust_env,
            transport=transport,
        )
        if user_agent is not None:
            self._http.headers["User-Agent"] = user_agent

    def request(
        self,
        method: str,
        url: str | httpx2.URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        json: Any = None,
        content: RequestContent | None = None,
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        timeout: RequestTimeout = httpx2.USE_CLIENT_DEFAULT,
        auth: RequestAuth = httpx2.USE_CLIENT_DEFAULT,
        idempotent: bool | None = None,
        bucket: str | None = None,
        raise_for_status: bool = True,
    ) -> httpx2.Response:
        """Send a request through the pipeline and return the fully read response.

        Args:
            method: HTTP method.
            url: absolute URL, or a path relative to ``base_url``.
            params: query parameters, merged with the client's.
            headers: headers, merged with the client's.
            json: a JSON body.
            content: a raw body (bytes or str; an iterator is sent once and never retried).
            data: a form body.
            files: multipart files.
            timeout: override the client's timeout for this request.
            auth: override the client's ``auth`` for this request; ``None`` sends it without
                (e.g. the login request of a :class:`TokenAuth` that shares this client).
            idempotent: ``True`` to retry like an idempotent request (e.g. a POST with an
                idempotency key), ``False`` to retry only when the request never left;
                ``None`` to judge by the method.
            bucket: rate-limit bucket for this request instead of the client's rule.
            raise_for_status: raise for 4xx/5xx (after retries); else return the response.

        Returns:
            The response, body read (``.content``, ``.text``, ``.json()`` work).

        Raises:
            HTTPStatusError: a 4xx/5xx answer (a subclass per status family).
            TransportError: connect failure, timeout or broken connection.
            ResponseTooLargeError: the body is larger than ``max_response_bytes``.
            CircuitOpenError: the breaker refuses calls to this host.
            RateLimitExceededError: the rate limiter could not grant in time.
            ConfigurationError: an invalid URL or a one-shot body that had to be re-sent.
        """
        return self._request(
            method,
            url,
            None,
            params=params,
            headers=headers,
            json=json,
            content=content,
            data=data,
            files=files,
            timeout=timeout,
            auth=auth,
            idempotent=idempotent,
            bucket=bucket,
            raise_for_status=raise_for_status,
        )

    def request_chunks(
        self, method: str, url: str | httpx2.URL, **options: Unpack[RequestOptions]
    ) -> tuple[httpx2.Response, list[bytes]]:
        """Like :meth:`request`, but return the body as the chunks it arrived in.

        A large body (tens of MB) is never joined into one buffer, which would hold it twice
        for a moment; the caller parses the pieces. Retries (a transport error while reading
        the body too), the size limit and error mapping are those of :meth:`request`; the
        chunks are those of the attempt that succeeded.

        Returns:
            The response, whose ``content`` is set only for a 4xx/5xx status (returned when
            ``raise_for_status=False``), and its body's chunks (``b"".join`` them for the
            whole body).

        Raises:
            The errors of :meth:`request`.
        """
        chunks: list[bytes] = []
        response = self._request(method, url, chunks, **options)
        return response, chunks

    def _request(
        self,
        method: str,
        url: str | httpx2.URL,
        keep: list[bytes] | None,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        json: Any = None,
        content: RequestContent | None = None,
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        timeout: RequestTimeout = httpx2.USE_CLIENT_DEFAULT,
        auth: RequestAuth = httpx2.USE_CLIENT_DEFAULT,
        idempotent: bool | None = None,
        bucket: str | None = None,
        raise_for_status: bool = True,
    ) -> httpx2.Response:
        flow = self._flow(
            method,
            url,
            params=params,
            headers=headers,
            json=json,
            content=content,
            data=data,
            files=files,
            timeout=timeout,
            idempotent=idempotent,
            bucket=bucket,
            raise_for_status=raise_for_status,
        )
        token = _ACTIVE.set(self._redactor)
        try:
            action = next(flow)
            while True:
                try:
                    if type(action) is Send:
                        outcome: httpx2.Response | None = self._send(action.request, auth, keep)
                    elif type(action) is Acquire:
                        assert self._limiter is not None
                        self._limiter.acquire(action.bucket, key=action.key)
                        outcome = None
                    else:
                        self._clock.sleep(action.seconds)  # type: ignore[union-attr]
                        outcome = None
                except BaseException as exc:
                    action = flow.throw(exc)
                else:
                    action = flow.send(outcome)
        except StopIteration as stop:
            response: httpx2.Response = stop.value
            return response
        finally:
            flow.close()
            _ACTIVE.reset(token)

    def _send(
        self, request: httpx2.Request, auth: RequestAuth, keep: list[bytes] | None = None
    ) -> httpx2.Response:
        response = self._http.send(request, stream=True, auth=auth)
        try:
            if self._max_bytes is None and keep is None:
                response.read()
                return response
            limit = None if self._max_bytes is None else self._body_limit(response)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if limit is not None and size > limit:
                    raise BodyTooLarge(limit, None)
                chunks.append(chunk)
        except BaseException:
            response.close()
            raise
        return _finish_body(response, chunks, keep)

    def get(self, url: str | httpx2.URL, **options: Unpack[RequestOptions]) -> httpx2.Response:
        """Send a GET request; see :meth:`request` for the options."""
        return self.request("GET", url, **options)

    def head(self, url: str | httpx2.URL, **options: Unpack[RequestOptions]) -> httpx2.Response:
        """Send a HEAD request; see :meth:`request` for the options."""
        return self.request("HEAD", url, **options)

    def options(self, url: str | httpx2.URL, **options: Unpack[RequestOptions]) -> httpx2.Response:
        """Send an OPTIONS request; see :meth:`request` for the options."""
        return self.request("OPTIONS", url, **options)

    def post(self, url: str | httpx2.URL, **options: Unpack[RequestOptions]) -> httpx2.Response:
        """Send a POST request (not idempotent unless ``idempotent=True``); see :meth:`request`."""
        return self.request("POST", url, **options)

    def put(self, url: str | httpx2.URL, **options: Unpack[RequestOptions]) -> httpx2.Response:
        """Send a PUT request; see :meth:`request` for the options."""
        return self.request("PUT", url, **options)

    def patch(self, url: str | httpx2.URL, **options: Unpack[RequestOptions]) -> httpx2.Response:
        """Send a PATCH request (not idempotent unless ``idempotent=True``); see :meth:`request`."""
        return self.request("PATCH", url, **options)

    def delete(self, url: str | httpx2.URL, **options: Unpack[RequestOptions]) -> httpx2.Response:
        """Send a DELETE request; see :meth:`request` for the options."""
        return self.request("DELETE", url, **options)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


class AsyncClient(_BaseClient, AsyncClosing):
    """The async face of :class:`Client`: same pipeline, same arguments, awaitable methods.

    Waits use ``clock.asleep`` and the limiter's ``aacquire``; ``transport`` is an
    ``httpx2.AsyncBaseTransport``. See :class:`Client` for the arguments.

    Raises:
        ConfigurationError: an invalid argument, or ``http2=True`` without ``h2`` installed.
    """

    _http: httpx2.AsyncClient

    def __init__(
        self,
        base_url: str = "",
        *,
        headers: HeaderTypes | None = None,
        params: QueryParamTypes | None = None,
        auth: httpx2.Auth | None = None,
        timeout: float | httpx2.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        rate_limiter: Limiter | None = None,
        rate_limit_bucket: str | Callable[[str, str], str] = "default",
        rate_limit_key: str = "",
        breaker: CircuitBreaker | None = None,
        breaker_key: Callable[[httpx2.Request], str] | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        http2: bool = False,
        follow_redirects: bool = False,
        verify: ssl.SSLContext | str | bool = True,
        limits: httpx2.Limits = DEFAULT_LIMITS,
        proxy: str | None = None,
        trust_env: bool = True,
        user_agent: str | None = None,
        request_id_header: str | None = "X-Request-ID",
        sensitive_headers: Iterable[str] = (),
        sensitive_params: Iterable[str] = (),
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Clock = system_clock,
        name: str = "corekit",
    ) -> None:
        super().__init__(
            retry=retry,
            rate_limiter=rate_limiter,
            rate_limit_bucket=rate_limit_bucket,
            rate_limit_key=rate_limit_key,
            breaker=breaker,
            breaker_key=breaker_key,
            max_response_bytes=max_response_bytes,
            http2=http2,
            request_id_header=request_id_header,
            sensitive_headers=sensitive_headers,
            sensitive_params=sensitive_params,
            clock=clock,
            name=name,
        )
        self._http = httpx2.AsyncClient(
            base_url=base_url,
            headers=headers,
            params=params,
            auth=auth,
            timeout=timeout,
            http2=http2,
            follow_redirects=follow_redirects,
            verify=verify,
            limits=limits,
            proxy=proxy,
            trust_env=trust_env,
            transport=transport,
        )
        if user_agent is not None:
            self._http.headers["User-Agent"] = user_agent

    async def request(
        self,
        method: str,
        url: str | httpx2.URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        json: Any = None,
        content: RequestContent | None = None,
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        timeout: RequestTimeout = httpx2.USE_CLIENT_DEFAULT,  # noqa: ASYNC109 - HTTP timeout
        auth: RequestAuth = httpx2.USE_CLIENT_DEFAULT,
        idempotent: bool | None = None,
        bucket: str | None = None,
        raise_for_status: bool = True,
    ) -> httpx2.Response:
        """Send a request through the pipeline; see :meth:`Client.request`.

        Returns:
            The response, body read.
        """
        return await self._request(
            method,
            url,
            None,
            params=params,
            headers=headers,
            json=json,
            content=content,
            data=data,
            files=files,
            timeout=timeout,
            auth=auth,
            idempotent=idempotent,
            bucket=bucket,
            raise_for_status=raise_for_status,
        )

    async def request_chunks(
        self, method: str, url: str | httpx2.URL, **options: Unpack[RequestOptions]
    ) -> tuple[httpx2.Response, list[bytes]]:
        """Like :meth:`request`, but return the body as the chunks it arrived in.

        See :meth:`Client.request_chunks`.
        """
        chunks: list[bytes] = []
        response = await self._request(method, url, chunks, **options)
        return response, chunks

    async def _request(
        self,
        method: str,
        url: str | httpx2.URL,
        keep: list[bytes] | None,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        json: Any = None,
        content: RequestContent | None = None,
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        timeout: RequestTimeout = httpx2.USE_CLIENT_DEFAULT,  # noqa: ASYNC109 - HTTP timeout
        auth: RequestAuth = httpx2.USE_CLIENT_DEFAULT,
        idempotent: bool | None = None,
        bucket: str | None = None,
        raise_for_status: bool = True,
    ) -> httpx2.Response:
        flow = self._flow(
            method,
            url,
            params=params,
            headers=headers,
            json=json,
            content=content,
            data=data,
            files=files,
            timeout=timeout,
            idempotent=idempotent,
            bucket=bucket,
            raise_for_status=raise_for_status,
        )
        token = _ACTIVE.set(self._redactor)
        try:
            action = next(flow)
            while True:
                try:
                    if type(action) is Send:
                        outcome: httpx2.Response | None = await self._send(
                            action.request, auth, keep
                        )
                    elif type(action) is Acquire:
                        assert self._limiter is not None
                        await self._limiter.aacquire(action.bucket, key=action.key)
                        outcome = None
                    else:
                        await self._clock.asleep(action.seconds)  # type: ignore[union-attr]
                        outcome = None
                except BaseException as exc:
                    action = flow.throw(exc)
                else:
                    action = flow.send(outcome)
        except StopIteration as stop:
            response: httpx2.Response = stop.value
            return response
        finally:
            flow.close()
            _ACTIVE.reset(token)

    async def _send(
        self, request: httpx2.Request, auth: RequestAuth, keep: list[bytes] | None = None
    ) -> httpx2.Response:
        response = await self._http.send(request, stream=True, auth=auth)
        try:
            if self._max_bytes is None and keep is None:
                await response.aread()
                return response
            limit = None if self._max_bytes is None else self._body_limit(response)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if limit is not None and size > limit:
                    raise BodyTooLarge(limit, None)
                chunks.append(chunk)
        except BaseException:
            await response.aclose()
            raise
        return _finish_body(response, chunks, keep)

    async def get(
        self, url: str | httpx2.URL, **options: Unpack[RequestOptions]
    ) -> httpx2.Response:
        """Send a GET request; see :meth:`Client.request` for the options."""
        return await self.request("GET", url, **options)

    async def head(
        self, url: str | httpx2.URL, **options: Unpack[RequestOptions]
    ) -> httpx2.Response:
        """Send a HEAD request; see :meth:`Client.request` for the options."""
        return await self.request("HEAD", url, **options)

    async def options(
        self, url: str | httpx2.URL, **options: Unpack[RequestOptions]
    ) -> httpx2.Response:
        """Send an OPTIONS request; see :meth:`Client.request` for the options."""
        return await self.request("OPTIONS", url, **options)

    async def post(
        self, url: str | httpx2.URL, **options: Unpack[RequestOptions]
    ) -> httpx2.Response:
        """Send a POST request (not idempotent unless ``idempotent=True``)."""
        return await self.request("POST", url, **options)

    async def put(
        self, url: str | httpx2.URL, **options: Unpack[RequestOptions]
    ) -> httpx2.Response:
        """Send a PUT request; see :meth:`Client.request` for the options."""
        return await self.request("PUT", url, **options)

    async def patch(
        self, url: str | httpx2.URL, **options: Unpack[RequestOptions]
    ) -> httpx2.Response:
        """Send a PATCH request (not idempotent unless ``idempotent=True``)."""
        return await self.request("PATCH", url, **options)

    async def delete(
        self, url: str | httpx2.URL, **options: Unpack[RequestOptions]
    ) -> httpx2.Response:
        """Send a DELETE request; see :meth:`Client.request` for the options."""
        return await self.request("DELETE", url, **options)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


def _finish_body(
    response: httpx2.Response, chunks: list[bytes], keep: list[bytes] | None
) -> httpx2.Response:
    """Store a fully read body as ``content`` (what ``Response.read()`` does), or as chunks.

    Chunks go to ``keep`` when the caller asked for them; an error answer is joined too, as
    the pipeline reads it for its error message.
    """
    if keep is not None:
        keep[:] = chunks
        if response.status_code < 400:
            return response
    response._content = b"".join(chunks)
    return response
