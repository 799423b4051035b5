"""The blocking client, :class:`EurogardAPI`."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from corekit.closing import Closing
from corekit.http import Client, Response
from pym2v import _frames as frames
from pym2v import _protocol as proto
from pym2v._base import BaseAPI, deprecated
from pym2v._errors import translated
from pym2v._progress import progress_bar
from pym2v.models import Machine, Measurement, Router, User

if TYPE_CHECKING:
    from polars import DataFrame


logger = logging.getLogger(__name__)


class EurogardAPI(BaseAPI, Closing):
    """Blocking client of the Eurogard m2v platform.

    Metadata methods return the API's JSON (``get_*``) or typed models over every page
    (``iter_*``, :meth:`find_machine`); data methods return polars frames with a
    ``timestamp`` column of dtype ``Datetime("ms", "UTC")`` and one Float64 column per
    requested name. Naive datetimes are read as UTC.

    Use it as a context manager, or call :meth:`close`. Nothing is sent before the first
    call; the OAuth2 token is fetched then and renewed as needed.

    Args:
        settings: connection and credentials; ``None`` reads ``EUROGARD_*`` from the
            environment (use :meth:`from_env` to read a dotenv file too).
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
            self._http = Client(self.settings.base_url, **self._client_options())

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _send(self, call: proto.Call) -> Response:
        with translated():
            return self._http.request(call.method, call.path, **self._options(call))

    def _send_chunks(self, call: proto.Call) -> tuple[Response, list[bytes]]:
        with translated():
            return self._http.request_chunks(call.method, call.path, **self._options(call))

    def _object(self, call: proto.Call) -> dict[str, Any]:
        return proto.json_object(self._send(call))

    def _envelope(self, call: proto.Call) -> dict[str, Any]:
        return proto.envelope(self._send(call))

    def _entities(
        self, path: str, *, filter: str, sort: str, order: str, page_size: int
    ) -> Iterator[dict[str, Any]]:
        pager = proto.Pager(path, filter=filter, sort=sort, order=order, size=page_size)
        while (call := pager.next_call()) is not None:
            yield from pager.take(self._envelope(call))

    # -- metadata (upstream 0.2.0 names, raw JSON) ----------------------------------------------

    def get_user_info(self) -> dict[str, Any]:
        """Return the logged-in user (``meGUI``) as JSON."""
        return self._object(proto.Call("GET", proto.USER_INFO))

    def get_routers(
        self,
        page: int = 0,
        size: int = 10,
        sort: str = "name",
        order: str = "asc",
        filter: str = proto.DEFAULT_FILTER,
    ) -> dict[str, Any]:
        """Return one page of routers: ``{maxCount, size, page, entities, ...}``."""
        return self._envelope(
            proto.page_call(
                proto.ROUTERS, page=page, size=size, sort=sort, order=order, filter=filter
            )
        )

    def get_machines(
        self,
        page: int = 0,
        size: int = 10,
        sort: str = "name",
        order: str = "asc",
        filter: str = proto.DEFAULT_FILTER,
    ) -> dict[str, Any]:
        """Return one page of machines: ``{maxCount, size, page, entities, ...}``."""
        return self._envelope(
            proto.page_call(
                proto.MACHINES, page=page, size=size, sort=sort, order=order, filter=filter
            )
        )

    def get_machine_measurement_names(  # noqa: PLR0917 - the upstream signature
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
        return self._envelope(
            proto.page_call(path, page=page, size=size, sort=sort, order=order, filter=filter)
        )

    def get_machine_setpoints(  # noqa: PLR0917 - the upstream signature
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
        return self._envelope(
            proto.page_call(path, page=page, size=size, sort=sort, order=order, filter=filter)
        )

    def get_machine_measurements(self, machine_uuid: str, *args: Any, **kwargs: Any) -> Any:
        """Deprecated 0.1.x name of :meth:`get_machine_measurement_names`."""
        deprecated("get_machine_measurements", "get_machine_measurement_names")
        return self.get_machine_measurement_names(machine_uuid, *args, **kwargs)

    # -- typed, every page ---------------------------------------------------------------------

    def get_user(self) -> User:
        """Return the logged-in user as a :class:`~pym2v.models.User`."""
        return User.model_validate(self.get_user_info())

    def iter_routers(
        self,
        *,
        filter: str = proto.DEFAULT_FILTER,
        sort: str = "name",
        order: str = "asc",
        page_size: int = 100,
    ) -> Iterator[Router]:
        """Yield every router, fetching page after page."""
        for entity in self._entities(
            proto.ROUTERS, filter=filter, sort=sort, order=order, page_size=page_size
        ):
            yield Router.model_validate(entity)

    def iter_machines(
        self,
        *,
        filter: str = proto.DEFAULT_FILTER,
        sort: str = "name",
        order: str = "asc",
        page_size: int = 100,
    ) -> Iterator[Machine]:
        """Yield every machine, fetching page after page.

        ``thingUuid:<uuid>`` in ``filter`` narrows the list to one router's machines.
        """
        for entity in self._entities(
            proto.MACHINES, filter=filter, sort=sort, order=order, page_size=page_size
        ):
            yield Machine.model_validate(entity)

    def iter_measurements(
        self,
        machine_uuid: str,
        *,
        filter: str = proto.DEFAULT_FILTER,
        sort: str = "updatedAt",
        order: str = "desc",
        page_size: int = 100,
    ) -> Iterator[Measurement]:
        """Yield every measurement of a machine."""
        path = proto.machine_path(proto.check_uuid(machine_uuid), "measurements")
        for entity in self._entities(
            path, filter=filter, sort=sort, order=order, page_size=page_size
        ):
            yield Measurement.model_validate(entity)

    def iter_setpoints(
        self,
        machine_uuid: str,
        *,
        filter: str = proto.DEFAULT_FILTER,
        sort: str = "updatedAt",
        order: str = "desc",
        page_size: int = 100,
    ) -> Iterator[Measurement]:
        """Yield every set-point of a machine."""
        path = proto.machine_path(proto.check_uuid(machine_uuid), "set-points")
        for entity in self._entities(
            path, filter=filter, sort=sort, order=order, page_size=page_size
        ):
            yield Measurement.model_validate(entity)

    def find_machine(self, name: str) -> Machine | None:
        """Return the machine with exactly this name, searching every page, or ``None``."""
        for machine in self.iter_machines(filter=proto.name_filter(name)):
            if self._match(machine, name):
                return machine
        return None

    def set_machine_setpoint(
        self,
        machine_uuid: str,
        data_definition_key_item_uuid: str,
        value: float | str,
        timestamp: datetime.datetime | None = None,
    ) -> Any:
        """Write a set-point value (sent once; retried only if it provably never left).

        Args:
            machine_uuid: the machine.
            data_definition_key_item_uuid: the set-point's key item
                (:attr:`pym2v.Measurement.data_definition_key_item_uuid`).
            value: the value; sent as text, as the API expects.
            timestamp: when the value applies; default now (naive means UTC).

        Returns:
            The server's JSON answer, or ``None`` if it sent no body.
        """
        call = proto.set_point_call(machine_uuid, data_definition_key_item_uuid, value, timestamp)
        response = self._send(call)
        return proto.json_object(response) if response.content.strip() else None

    # -- time series ---------------------------------------------------------------------------

    def get_historical_data(
        self,
        machine_uuid: str,
        data_definition_key_item_names: list[str],
        start: int,
        end: int,
        interval_in_s: int,
    ) -> dict[str, Any]:
        """Return the raw time-series answer for epoch-millisecond ``start`` and ``end``."""
        q = proto.raw_query(machine_uuid, data_definition_key_item_names, start, end, interval_in_s)
        response = self._send(proto.data_call(q, q.start_ms, q.end_ms))
        data = proto.json_object(response)
        frames.decode(response)  # checks the shape
        return data

    def get_frame_from_names(
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

        Args:
            machine_uuid: the machine.
            names: measurement names; the columns follow this order, and a name without
                data is an all-null column.
            start: window start (exclusive); naive means UTC; a date or ISO string works.
            end: window end (inclusive).
            interval: bucket length, whole seconds >= 1; each value is its bucket's mean,
                labelled with the bucket's end.
            long: return ``(timestamp, name, value)`` rows instead of one column per name.

        Raises:
            M2VConfigurationError: invalid arguments (before any request).
            M2VOperationError: the request failed or the answer had an unexpected shape.
        """
        q = proto.query(machine_uuid, names, start, end, interval, long=long)
        return self._fetch(q, [(q.start_ms, q.end_ms)], long=long, progress=False, timeout=None)

    def get_long_frame_from_names(  # noqa: PLR0917 - the upstream signature
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
    ) -> DataFrame:
        """Fetch a long window in batches of at most ``max_frame_length``, concurrently.

        Up to ``max_concurrent_requests`` batches are in flight; the first failure cancels
        the batches not yet started and is raised. ``show_progress`` draws a bar on stderr.
        The result is the same as :meth:`get_frame_from_names` for the whole window.
        """
        q = proto.query(machine_uuid, names, start, end, interval, long=long)
        windows = proto.batches(q, max_frame_length)
        return self._fetch(q, windows, long=long, progress=show_progress, timeout=None)

    async def aget_frame_from_names(  # noqa: PLR0917 - the upstream signature
        self,
        machine_uuid: str,
        names: Sequence[str],
        start: datetime.datetime,
        end: datetime.datetime,
        interval: datetime.timedelta,
        max_frame_length: datetime.timedelta = proto.DEFAULT_MAX_FRAME_LENGTH,
        timeout: float | None = None,  # noqa: ASYNC109 - per-request HTTP timeout, as upstream
        *,
        show_progress: bool = False,
        long: bool = False,
    ) -> DataFrame:
        """Async :meth:`get_long_frame_from_names`, sharing this client's token.

        ``timeout`` overrides ``EUROGARD_TIMEOUT`` for each request.
        """
        from pym2v._async import AsyncEurogardAPI

        async with AsyncEurogardAPI(self.settings, auth=self._auth, clock=self._clock) as api:
            return await api.get_long_frame_from_names(
                machine_uuid,
                names,
                start,
                end,
                interval,
                max_frame_length,
                show_progress,
                long=long,
                timeout=timeout,
            )

    async def asmart_get_frame_from_names(  # noqa: PLR0917 - the upstream signature
        self,
        machine_uuid: str,
        names: Sequence[str],
        start: datetime.datetime,
        end: datetime.datetime,
        interval: datetime.timedelta,
        timeout: float = 15,  # noqa: ASYNC109 - the 0.1.x signature
        max_recursion: int = 10,  # noqa: ARG002 - accepted for compatibility, unused
    ) -> DataFrame:
        """Deprecated 0.1.x name: now :meth:`aget_frame_from_names` with 30-day batches."""
        deprecated("asmart_get_frame_from_names", "aget_frame_from_names")
        return await self.aget_frame_from_names(
            machine_uuid, names, start, end, interval, timeout=timeout
        )

    def _fetch(
        self,
        q: proto.Query,
        windows: list[tuple[int, int]],
        *,
        long: bool,
        progress: bool,
        timeout: float | None,
    ) -> DataFrame:
        def fetch(window: tuple[int, int]) -> _Answer:
            return self._send_chunks(proto.data_call(q, *window, timeout=timeout))

        def decode(answer: _Answer, window: tuple[int, int]) -> DataFrame:
            return frames.batch(answer[0], q, window, long=long, chunks=answer[1])

        if len(windows) == 1:
            return frames.finish([decode(fetch(windows[0]), windows[0])], q, long=long)
        s = self.settings
        slots = proto.in_flight(q, windows, s.max_concurrent_requests, s.max_buffered_bytes)
        logger.debug(
            "fetching %d window(s) of %d name(s), %d at a time", len(windows), len(q.names), slots
        )
        parts = _run_batches(fetch, decode, windows, slots, progress)
        return frames.finish(parts, q, long=long)


_Answer = tuple[Response, list[bytes]]


def _run_batches(
    fetch: Callable[[tuple[int, int]], _Answer],
    decode: Callable[[_Answer, tuple[int, int]], DataFrame],
    windows: list[tuple[int, int]],
    slots: int,
    progress: bool,
) -> list[DataFrame]:
    """Each window's frame, fetched ``slots`` at a time on worker threads, in window order.

    Workers send the requests with the blocking client (blocking sockets cost far less CPU
    per byte than an event loop) while the calling thread decodes the answers as they
    arrive, one at a time. A window's slot is held until its answer is decoded, so at most
    ``slots`` answers are in memory at once. The first failure is raised: batches not yet
    started never are, and the running ones are waited for.
    """
    parts: list[DataFrame | None] = [None] * len(windows)
    queued = iter(enumerate(windows))
    running: dict[Future[_Answer], tuple[int, tuple[int, int]]] = {}
    bar = progress_bar(len(windows), progress)
    pool = ThreadPoolExecutor(slots, thread_name_prefix="pym2v-batch")

    def start_next() -> None:
        for index, window in queued:
            running[pool.submit(fetch, window)] = (index, window)
            return

    try:
        for _ in range(slots):
            start_next()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index, window = running.pop(future)
                parts[index] = decode(future.result(), window)
                del future
                bar.update(1)
                start_next()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return [part for part in parts if part is not None]
