"""Realtime events from the Gateway's SignalR hubs (extra ``projectx[realtime]``).

::

    from projectx import ProjectX
    from projectx.realtime import Realtime

    async with ProjectX.from_env() as px, Realtime(px) as live:
        await live.subscribe_orders()
        await live.subscribe_quotes("CON.F.US.MNQ.Z26")
        live.on("GatewayQuote", lambda event: print(event.contract_id, event.data))
        async for event in live.events("GatewayUserOrder"):
            print(event.data["id"], event.data["status"])

Both hubs (user: accounts, orders, positions, own trades; market: quotes, trades, depth) stay
connected: a dropped connection is re-opened with backoff, with the client's current session
token (renewed by the REST client), and every subscription is sent again.
"""

from __future__ import annotations

from projectx.realtime._client import EventStream, Realtime, RealtimeEvent
from projectx.realtime._hub import HubError

__all__ = ["EventStream", "HubError", "Realtime", "RealtimeEvent"]
