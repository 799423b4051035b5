"""The async client, :class:`AsyncEurogardAPI` (asyncio or trio, through anyio)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from corekit.closing import AsyncClosing
from corekit.http import AsyncClient, Response
from pym2v import _frames as frames
from pym2v import _protocol as proto
from pym2v._base import BaseAPI, deprecated
from pym2v._errors import translated
from pym2v._progress import progress_bar
from pym2v.models import Machine, Measurement, Router, User

if TYPE_CHECKING:
    import anyio.abc
    from polars import DataFrame


logger = logging.getLogger(__name__)


class AsyncEurogardAPI(BaseAPI, AsyncClosing):
    """Async client of the Eurogard m2v platform.

    The same methods as :class:`~pym2v.EurogardAPI`, awaitable (``iter_*`` are async
    iterators).

    One connection pool serves every call; the concurrency limit of a long fetch is created
    per call, so a client is not tied to the first event loop that used it (its connections
    are: use one client per event loop). Use ``async with`` or call :meth:`aclose`.

    Args:
        settings: connection and credentials; ``None`` reads ``EUROGARD_*`` from the
            environment.
        max_concurrent_requests: overrides ``settings.max_concurrent_requests``.
        auth: an OAuth2 flow to share with another client (the same token).
        clock: time source for token expiry and retry waits (tests pass a fake).

    Raises:
        M2VConfigurationError: invalid settings or arguments.
    """

    def __init__(
        self,
        settings: Any = None,
        max_concurrent_requests: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(settings, max_concurrent_requests, **kwargs)
        with translated():
            self._http = AsyncClient(self.settings.base_url, **self._client_options())

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    close = aclose

    # -- plumbing ------------------------------------------------------------------------------

    async def _send(self, call: proto.Call) -> Response:
        with translated():
            return await self._http.request(call.method, call.path, **self._options(call))

    async def _send_chunks(self, call: proto.Call) -> tuple[Response, list[bytes]]:
        with translated():
            return await self._http.request_chunks(call.method, call.path, **self._options(call))

    async def _object(self, call: proto.Call) -> dict[str, Any]:
        return proto.json_object(await self._send(call))

    async def _envelope(self, call: proto.Call) -> dict[str, Any]:
        return proto.envelope(await self._send(call))

    async def _entities(
        self, path: str, *, filter: str, sort: str, order: str, page_size: int
    ) -> AsyncIterator[dict[str, Any]]:
        pager = proto.Pager(path, filter=filter, sort=sort, order=order, size=page_size)
        while (call := pager.next_call()) is not None:
            for entity in pager.take(await self._envelope(call)):
                yield entity

    # -- metadata ------------------------------------------------------------------------------

    async def get_user_info(self) -> dict[str, Any]:
        """Return the logged-in user (``meGUI``) as JSON."""
        return await self._object(proto.Call("GET", proto.USER_INFO))

    async def get_routers(
        self,
        page: int = 0,
        size: int = 10,
        sort: str = "name",
        order: str = "asc",
        filter: str = proto.DEFAULT_FILTER,
    ) -> dict[str, Any]:
        """Return one page of routers: ``{maxCount, size, page, entities, ...}``."""
        return await self._envelope(
            proto.page_call(
                proto.ROUTERS, page=page, size=size, sort=sort, order=order, filter=filter
            )
        )

    async def get_machines(
        self,
        page: int = 0,
        size: int = 10,
        sort: str = "name",
        order: str = "asc",
        filter: str = proto.DEFAULT_FILTER,
    ) -> dict[str, Any]:
        """Return one page of machines: ``{maxCount, size, page, entities, ...}``."""
        return await self._envelope(
            proto.page_call(
                proto.MACHINES, page=page, size=size, sort=sort, order=order, filter=filter
            )
        )

    async def get_machine_measurement_names(  # noqa: PLR0917 - the upstream signature
        self,
        machine_uuid: str,
        page: int = 0,
        size: int = 10,
        sort: str = "updatedAt",
        order: str = "desc",
        filter: str = proto.DEFAULT_FILTER,
    ) -> dict[str, Any]:
        """Return one page of a machine's measurements (their ``name`` is the data key)."""
        path = proto.machine_path(proto.check_uuid(machine_uuid), "measurements")
        return await self._envelope(
            proto.page_call(path, page=page, size=size, sort=sort, order=order, filter=filter)
        )

    async def get_machine_setpoints(  # noqa: PLR0917 - the upstream signature
        self,
        machine_uuid: str,
        page: int = 0,
        size: int = 10,
        sort: str = "updatedAt",
        order: str = "desc",
        filter: str = proto.DEFAULT_FILTER,
    ) -> dict[str, Any]:
        """Return one page of a machine's set-points."""
        path = proto.machine_path(proto.check_uuid(machine_uuid), "set-points")
        return await self._envelope(
            proto.page_call(path, page=page, size=size, sort=sort, order=order, filter=filter)
        )

    async def get_machine_measurements(
        self, machine_uuid: str, *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """Deprecated 0.1.x name of :meth:`get_machine_measurement_names`."""
        deprecated("get_machine_measurements", "get_machine_measurement_names")
        return await self.get_machine_measurement_names(machine_uuid, *args, **kwargs)

    async def get_user(self) -> User:
        """Return the logged-in user as a :class:`~pym2v.models.User`."""
        return User.model_validate(await self.get_user_info())

    async def iter_routers(
        self,
        *,
        filter: str = proto.DEFAULT_FILTER,
        sort: str = "name",
        order: str = "asc",
        page_size: int = 100,
    ) -> AsyncIterator[Router]:
        """Yield every router, fetching page after page."""
        async for entity in self._entities(
            proto.ROUTERS, filter=filter, sort=sort, order=order, page_size=page_size
        ):
            yield Router.model_validate(entity)

    async def iter_machines(
        self,
        *,
        filter: str = proto.DEFAULT_FILTER,
        sort: str = "name",
        order: str = "asc",
        page_size: int = 100,
    ) -> AsyncIterator[Machine]:
        """Yield every machine, fetching page after page."""
        async for entity in self._entities(
            proto.MACHINES, filter=filter, sort=sort, order=order, page_size=page_size
        ):
            yield Machine.model_validate(entity)

    async def iter_measurements(
        self,
        machine_uuid: str,
        *,
        filter: str = proto.DEFAULT_FILTER,
        sort: str = "updatedAt",
        order: str = "desc",
        page_size: int = 100,
    ) -> AsyncIterator[Measurement]:
        """Yield every measurement of a machine."""
        path = proto.machine_path(proto.check_uuid(machine_uuid), "measurements")
        async for entity in self._entities(
            path, filter=filter, sort=sort, order=order, page_size=page_size
        ):
            yield Measurement.model_validate(entity)

    async def iter_setpoints(
        self,
        machine_uuid: str,
        *,
        filter: str = proto.DEFAULT_FILTER,
        sort: str = "updatedAt",
        order: str = "desc",
        page_size: int = 100,
    ) -> AsyncIterator[Measurement]:
        """Yield every set-point of a machine."""
        path = proto.machine_path(proto.check_uuid(machine_uuid), "set-points")
        async for entity in self._entities(
            path, filter=filter, sort=sort, order=order, page_size=page_size
        ):
            yield Measurement.model_validate(entity)

    async def find_machine(self, name: str) -> Machine | None:
        """Return the machine with exactly this name, searching every page, or ``None``."""
        async for machine in self.iter_machines(filter=proto.name_filter(name)):
            if self._match(machine, name):
                return machine
        return None

    async def set_machine_setpoint(
        self,
        machine_uuid: str,
        data_definition_key_item_uuid: str,
        value: float | str,
        timestamp: datetime.datetime | None = None,
    ) -> Any:
        """Write a set-point value; see :meth:`pym2v.EurogardAPI.set_machine_setpoint`."""
        call = proto.set_point_call(machine_uuid, data_definition_key_item_uuid, value, timestamp)
        response = await self._send(call)
        return proto.json_object(response) if response.content.strip() else None

    # -- time series ---------------------------------------------------------------------------

    async def get_historical_data(
        self,
        machine_uuid: str,
        data_definition_key_item_names: list[str],
        start: int,
        end: int,
        interval_in_s: int,
    ) -> dict[str, Any]:
        """Return the raw time-series answer for epoch-millisecond ``start`` and ``end``."""
        q = proto.raw_query(machine_uuid, data_definition_key_item_names, start, end, interval_in_s)
        response = await self._send(proto.data_call(q, q.start_ms, q.end_ms))
        data = proto.json_object(response)
        frames.decode(response)
        return data

    async def get_frame_from_names(
        self,
        machine_uuid: str,
        names: Sequence[str],
        start: datetime.datetime,
        end: datetime.datetime,
        interval: datetime.timedelta,
        *,
        long: bool = False,
    ) -> DataFrame:
        """Fetch one window in a single request.

        See :meth:`pym2v.EurogardAPI.get_frame_from_names`.
        """
        q = proto.query(machine_uuid, names, start, end, interval, long=long)
        return await self._fetch(q, [(q.start_ms, q.end_ms)], long=long, progress=False)

    async def get_long_frame_from_names(  # noqa: PLR0917 - the upstream signature
        self,
        machine_uuid: str,
        names: Sequence[str],
        start: datetime.datetime,
        end: datetime.datetime,
        interval: datetime.timedelta,
        max_frame_length: datetime.timedelta = proto.DEFAULT_MAX_FRAME_LENGTH,
        show_progress: bool = False,
        *,
        long: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - per-request HTTP timeout
    ) -> DataFrame:
        """Fetch a long window in concurrent batches; the first failure cancels the rest.

        See :meth:`pym2v.EurogardAPI.get_long_frame_from_names`; ``timeout`` overrides
        ``EUROGARD_TIMEOUT`` for each request.
        """
        q = proto.query(machine_uuid, names, start, end, interval, long=long)
        windows = proto.batches(q, max_frame_length)
        return await self._fetch(q, windows, long=long, progress=show_progress, timeout=timeout)

    async def aget_frame_from_names(self, *args: Any, **kwargs: Any) -> DataFrame:
        """Deprecated: 0.2.0 had it on the sync client; use :meth:`get_long_frame_from_names`."""
        deprecated("AsyncEurogardAPI.aget_frame_from_names", "get_long_frame_from_names")
        return await self.get_long_frame_from_names(*args, **kwargs)

    async def _fetch(
        self,
        q: proto.Query,
        windows: list[tuple[int, int]],
        *,
        long: bool,
        progress: bool,
        timeout: float | None = None,  # noqa: ASYNC109 - per-request HTTP timeout
    ) -> DataFrame:
        parts: list[DataFrame | None] = [None] * len(windows)
        failures: list[Exception] = []
        # Created per call: anyio primitives bind to the event loop that first waits on them.
        s = self.settings
        slots = proto.in_flight(q, windows, s.max_concurrent_requests, s.max_buffered_bytes)
        in_flight = anyio.CapacityLimiter(slots)
        decoding = anyio.CapacityLimiter(1)

        def decode(response: Response, chunks: list[bytes], window: tuple[int, int]) -> DataFrame:
            return frames.batch(response, q, window, long=long, chunks=chunks)

        logger.debug(
            "fetching %d window(s) of %d name(s), %d at a time", len(windows), len(q.names), slots
        )
        bar = progress_bar(len(windows), progress)

        async def run(index: int, window: tuple[int, int], group: anyio.abc.TaskGroup) -> None:
            try:
                # The slot is held until the answer is decoded, so at most that many
                # answers are in memory at once. Decoding runs off the event loop (a 30-day
                # batch takes ~0.1 s), one batch at a time.
                async with in_flight:
                    call = proto.data_call(q, *window, timeout=timeout)
                    response, chunks = await self._send_chunks(call)
                    parts[index] = await anyio.to_thread.run_sync(
                        decode, response, chunks, window, limiter=decoding
                    )
                    del response, chunks
                bar.update(1)
            except Exception as exc:
                if not failures:
                    failures.append(exc)
                group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                for index, window in enumerate(windows):
                    group.start_soon(run, index, window, group)
        finally:
            bar.close()
        if failures:
            raise failures[0]
        done = [p for p in parts if p is not None]
        return frames.finish(done, q, long=long)
