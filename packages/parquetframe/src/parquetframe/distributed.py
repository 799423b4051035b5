"""Run parquetframe work on Dask distributed.

:func:`connect` returns a ``distributed.Client`` that becomes this process's default
client; while it is open, automatic engine choice picks Dask and every Dask frame computes on
the cluster. Needs ``pip install 'parquetframe[dask]'``.

Example::

    import parquetframe as pf
    from parquetframe.distributed import connect

    with connect() as client:  # a LocalCluster on this machine
        out = pf.read("sales/*.parquet").group_by("store").agg(pf.col("qty").sum()).collect()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parquetframe._config import get_config
from parquetframe._engine import _require, dask_client_active
from parquetframe.errors import EngineError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["connect", "is_connected"]

# Clients opened for the ``dask_address`` setting, kept open for the life of the process.
_configured: dict[str, Client] = {}


def connect(
    address: str | None = None,
    *,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    processes: bool = True,
    timeout: float = 10.0,
    **cluster_options: Any,
) -> Client:
    """Connect to a Dask scheduler, or start a LocalCluster when there is no address.

    Args:
        address: the scheduler (``tcp://host:8786``); defaults to the ``dask_address``
            setting; without either, a LocalCluster is started and owned by the client.
        n_workers: LocalCluster workers.
        threads_per_worker: threads in each LocalCluster worker.
        processes: LocalCluster workers are processes (``False``: threads).
        timeout: seconds to wait for the scheduler at ``address``.
        **cluster_options: more LocalCluster options.

    Returns:
        The client; close it (or use it in ``with``) to disconnect and stop a LocalCluster.

    Raises:
        EngineError: Dask distributed is not installed, or the scheduler cannot be reached.
    """
    _require("dask")
    from distributed import Client

    address = address or get_config().dask_address
    try:
        if address:
            return Client(address, timeout=f"{timeout}s")  # type: ignore[no-untyped-call]
        cluster_options.setdefault("dashboard_address", None)
        return Client(  # type: ignore[no-untyped-call]
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            **cluster_options,
        )
    except OSError as exc:
        msg = f"cannot reach the Dask scheduler at {address!r}: {exc}; check the address"
        raise EngineError(msg) from exc


def connect_configured() -> None:
    """Connect to the ``dask_address`` setting once, when a Dask read needs it.

    Without this, a read that chose Dask because the address is set would still compute on the
    local threaded scheduler. Does nothing when a client is already active or no address is set.

    Raises:
        EngineError: the configured scheduler cannot be reached.
    """
    address = get_config().dask_address
    if not address or dask_client_active():
        return
    stale = _configured.pop(address, None)
    if stale is not None:  # closed by the user since: open a new one
        stale.close()  # type: ignore[no-untyped-call]
    _configured[address] = connect(address)


def is_connected() -> bool:
    """Whether a Dask client is active in this process (automatic choice then picks Dask)."""
    return dask_client_active()
