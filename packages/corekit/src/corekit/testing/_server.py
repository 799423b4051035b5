"""Run an ASGI app under uvicorn on a free loopback port, in a background thread.

Tests of HTTP clients run against emulators over a real socket, so the whole stack (connection
pooling, keep-alive, timeouts, protocol errors) is exercised, not a mock of it. :func:`serve`
binds the listening socket itself (port 0 picks a free port, with no window in which another
process can take it), hands it to uvicorn and waits for uvicorn to report that it has started.

Why not an existing runner: pytest plugins that do this (e.g. pytest-xprocess, or the
"uvicorn in a thread" recipes) either start a subprocess (slow, no shared memory with the test,
so no Python-side fault injection) or poll the port and swallow startup errors. Here a failed
startup raises with the application's own exception as the cause, a crash of the server thread is
re-raised when the block exits, and the socket and thread are always released, so the runner can
be used hundreds of times per session under ``filterwarnings = error``.

uvicorn is an optional dependency (``corekit[testing]``) and is imported only when
:func:`serve` is called.
"""

from __future__ import annotations

__all__ = ["ASGIApp", "ServedApp", "serve"]

import asyncio
import contextlib
import functools
import logging
import math
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from corekit.errors import ConfigurationError, OperationError

if TYPE_CHECKING:
    import uvicorn

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application: FastAPI, Starlette, or a plain ``async def app(scope, receive, send)``."""

logger = logging.getLogger(__name__)

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
# After should_exit, uvicorn notices within one 0.1 s tick and then drains connections for up
# to timeout_graceful_shutdown; this is the extra time granted on top before forcing the stop.
_STOP_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class ServedApp:
    """Where a served app listens.

    Attributes:
        host: the host the socket is bound to (as given to :func:`serve`).
        port: the port the socket is bound to (the free port chosen when ``port=0``).
    """

    host: str
    port: int

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``"http://127.0.0.1:54321"``, without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url


@contextlib.contextmanager
def serve(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
    shutdown_timeout: float = 5.0,
) -> Iterator[ServedApp]:
    """Serve ``app`` with uvicorn in a background thread for the duration of a ``with`` block.

    Works from sync and async tests alike (the server has its own thread and event loop).
    The application's lifespan runs (``lifespan="auto"``): startup before the block is entered,
    shutdown when it exits.

    Example::

        with serve(FaultInjector(app)) as server:
            httpx2.get(f"{server.url}/health")

    Args:
        app: the ASGI application.
        host: interface to bind; the loopback interface unless you need otherwise.
        port: port to bind; ``0`` picks a free one.
        log_level: level of uvicorn's loggers (``"warning"`` hides access logs).
        startup_timeout: seconds to wait for the application's startup to complete.
        shutdown_timeout: seconds uvicorn waits for open requests to finish when the block exits.

    Yields:
        Where the app listens; ``str(served)`` is its base URL.

    Raises:
        ConfigurationError: an argument is invalid, the address cannot be bound, or uvicorn
            is not installed.
        OperationError: the application failed to start (its exception is the ``__cause__``),
            did not start within ``startup_timeout``, failed during shutdown, or the server
            thread crashed.
    """
    _require_uvicorn()
    _check_arguments(host, port, log_level, startup_timeout, shutdown_timeout)
    runner = _Runner(app, host, port, log_level, shutdown_timeout)
    runner.start(startup_timeout)
    try:
        yield ServedApp(host=host, port=runner.port)
    except BaseException:
        # The block's own exception is what the test needs to see; a second failure while
        # stopping is logged rather than raised over it.
        runner.stop(raise_errors=False)
        raise
    runner.stop(raise_errors=True)


def run(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info"
) -> None:
    """Serve ``app`` with uvicorn in the foreground until interrupted: an emulator's command line.

    uvicorn's access log names each request's path and query; secret-looking query parameters
    (a WebSocket's ``access_token``, say) are redacted in it, as in the request log.

    Raises:
        ConfigurationError: an argument is invalid or uvicorn is not installed.
    """
    _require_uvicorn()
    _check_arguments(host, port, log_level, 1.0, 1.0)
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level)  # configures logging
    logging.getLogger("uvicorn.access").addFilter(_redact_access_record)
    uvicorn.Server(config).run()


def _redact_access_record(record: logging.LogRecord) -> bool:
    """Redact secret query parameters in a uvicorn access record ``(client, method, path, ...)``."""
    from corekit.testing._requestlog import redact_query

    args = record.args
    if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
        path, mark, query = args[2].partition("?")
        if mark:
            record.args = (*args[:2], f"{path}?{redact_query(query)}", *args[3:])
    return True


def _require_uvicorn() -> None:
    try:
        import uvicorn  # noqa: F401
    except ImportError as exc:
        msg = (
            "corekit.testing.serve needs uvicorn, which is not installed; "
            "install it with: pip install 'corekit[testing]'"
        )
        raise ConfigurationError(msg) from exc


def _check_arguments(
    host: object, port: object, log_level: object, startup_timeout: object, shutdown_timeout: object
) -> None:
    # Typed as object: these checks are for callers without a type checker.
    if not isinstance(host, str) or not host:
        msg = f"serve(host=...) must be a non-empty host name or address, got {host!r}"
        raise ConfigurationError(msg)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        msg = f"serve(port=...) must be an int from 0 (any free port) to 65535, got {port!r}"
        raise ConfigurationError(msg)
    if not isinstance(log_level, str) or log_level.lower() not in _LOG_LEVELS:
        msg = f"serve(log_level=...) got {log_level!r}; accepted: {', '.join(_LOG_LEVELS)}"
        raise ConfigurationError(msg)
    timeouts = {"startup_timeout": startup_timeout, "shutdown_timeout": shutdown_timeout}
    for name, value in timeouts.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            msg = f"serve({name}=...) must be a positive number of seconds, got {value!r}"
            raise ConfigurationError(msg)


class _LifespanWatch:
    """Wraps the app to keep what uvicorn only logs: why the lifespan startup or shutdown failed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.started = False
        self.startup_error: BaseException | None = None
        self.startup_message: str | None = None
        self.shutdown_error: BaseException | None = None
        self.shutdown_message: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def watched_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "lifespan.startup.complete":
                self.started = True
            elif kind == "lifespan.startup.failed":
                self.startup_message = str(message.get("message") or "")
            elif kind == "lifespan.shutdown.failed":
                self.shutdown_message = str(message.get("message") or "")
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except BaseException as exc:
            # An app without lifespan support raises here too; uvicorn ("auto") then runs
            # without lifespan, and the recorded error is ignored because the server starts.
            if self.started:
                self.shutdown_error = exc
            else:
                self.startup_error = exc
            raise


class _Runner:
    """One uvicorn server in one thread, with its socket; started and stopped exactly once."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        log_level: str,
        shutdown_timeout: float,
    ) -> None:
        self.watch = _LifespanWatch(app)
        self.shutdown_timeout = shutdown_timeout
        self.sock = _bind(host, port)
        self.port: int = self.sock.getsockname()[1]
        self.ready = threading.Event()
        self.crash: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        try:
            self.server = self._make_server(host, log_level)
        except BaseException:
            self.sock.close()
            raise
        self.thread = threading.Thread(
            target=self._run, name=f"corekit-serve-{self.port}", daemon=True
        )

    def _make_server(self, host: str, log_level: str) -> uvicorn.Server:
        import uvicorn

        config = uvicorn.Config(
            self.watch,
            host=host,
            port=self.port,
            # No dictConfig: library code must not install logging handlers. Records
            # propagate to the root logger (and pytest's caplog).
            log_config=None,
            log_level=log_level.lower(),
            lifespan="auto",
            # Pinned so that behaviour (notably of dropped connections) is the same
            # whether or not httptools / uvloop happen to be installed.
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=max(1, math.ceil(self.shutdown_timeout)),
        )
        server: uvicorn.Server = _server_class()(config, self)
        return server

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # SystemExit on a failed startup, or a crash
            self.crash = exc
        finally:
            self.ready.set()

    def start(self, startup_timeout: float) -> None:
        try:
            self.thread.start()
            if not self.ready.wait(startup_timeout):
                self._cancel()
                self._join(_STOP_GRACE)
                msg = (
                    f"the application did not finish starting within startup_timeout="
                    f"{startup_timeout} s (is its lifespan startup blocked?)"
                )
                raise OperationError(msg)
            if not self.server.started:
                self._join(_STOP_GRACE)
                raise self._startup_failure()
        except BaseException:
            self.sock.close()
            raise

    def _startup_failure(self) -> OperationError:
        watch = self.watch
        if watch.startup_error is not None:
            msg = f"the application failed to start: {watch.startup_error!r}"
            error = OperationError(msg)
            error.__cause__ = watch.startup_error
            return error
        if watch.startup_message:
            return OperationError(f"the application failed to start:\n{watch.startup_message}")
        error = OperationError(f"the server failed to start: {self.crash!r}")
        error.__cause__ = self.crash
        return error

    def stop(self, *, raise_errors: bool) -> None:
        try:
            self.server.should_exit = True
            if not self._join(self.shutdown_timeout + _STOP_GRACE):
                self.server.force_exit = True
                self._cancel()
                if not self._join(_STOP_GRACE):
                    self._report(
                        raise_errors,
                        OperationError(
                            f"the server thread on port {self.port} did not stop within "
                            f"shutdown_timeout={self.shutdown_timeout} s"
                        ),
                    )
                    return
        finally:
            self.sock.close()
        watch = self.watch
        if self.crash is not None:
            error = OperationError(f"the server thread crashed: {self.crash!r}")
            error.__cause__ = self.crash
            self._report(raise_errors, error)
        elif watch.shutdown_error is not None or watch.shutdown_message is not None:
            cause = watch.shutdown_error
            detail = repr(cause) if cause is not None else f"\n{watch.shutdown_message}"
            error = OperationError(f"the application failed to shut down: {detail}")
            error.__cause__ = cause
            self._report(raise_errors, error)

    @staticmethod
    def _report(raise_errors: bool, error: OperationError) -> None:
        if raise_errors:
            raise error
        logger.error("corekit.testing.serve: %s", error, exc_info=error.__cause__)

    def _join(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _cancel(self) -> None:
        # Cancelling the server's main task unblocks a lifespan startup that never returns
        # and, on shutdown, requests that never finish; asyncio.run then cleans up the rest.
        loop, task = self.loop, self.task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed: thread is ending
                loop.call_soon_threadsafe(task.cancel)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP (not the default 0): asyncio enables TCP_NODELAY only on such
    # sockets, and without it every keep-alive response stalls ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # A fixed port can be reused right after a previous server on it stopped.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        msg = f"serve could not bind host={host!r}, port={port!r}: {exc}"
        raise ConfigurationError(msg) from exc
    return sock


@functools.cache
def _server_class() -> type[Any]:
    """A uvicorn ``Server`` that signals the moment its startup completed (or failed)."""
    import uvicorn

    class _Server(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, runner: _Runner) -> None:
            super().__init__(config)
            self._runner = runner

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            self._runner.loop = asyncio.get_running_loop()
            self._runner.task = asyncio.current_task()
            await super().serve(sockets=sockets)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().startup(sockets=sockets)
            finally:
                self._runner.ready.set()

    return _Server
