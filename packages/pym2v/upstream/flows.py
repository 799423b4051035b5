"""Every public method of the unmodified upstream pym2v, run against our m2v emulator.

Run by ``check.py`` with the upstream interpreter (Python 3.12, upstream pym2v 0.2.0 or 0.1.4
installed, nothing of ours): ``python flows.py --version 0.2.0 --machines 12 ...``. The client
reads ``EUROGARD_*`` from the environment, as its README says; the emulator's control API
(``/_emulator/``) is reached with the standard library only. Prints one line per flow and exits
1 if any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

DAY = timedelta(days=1)
START = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def say(line: str) -> None:
    """Write a line to stdout and flush (the parent reads it as it comes)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Control:
    """The emulator's control API under ``/_emulator/``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send a control request and decode its JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the emulator's own http URL
            self.base_url + "/_emulator" + path, data=data, method=method
        )
        request.add_header("content-type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def requests(self, path: str) -> list[dict[str, Any]]:
        """The logged requests whose path matches ``path``."""
        return list(self.call("GET", f"/requests?path={path}")["requests"])

    def token_grants(self) -> list[str]:
        """The ``grant_type`` of every logged token request, in order."""
        grants = []
        for record in self.requests("/auth/*"):
            fields = dict(p.partition("=")[::2] for p in (record["body"] or "").split("&"))
            grants.append(fields.get("grant_type", "?"))
        return grants


def check(condition: object, message: str) -> None:
    """Fail the flow with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


class Flows:
    """The flows shared by both upstream versions, parameterised by what differs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.control = Control(args.base_url)
        self.legacy = args.version.startswith("0.1")
        self.results: list[tuple[str, bool]] = []
        self._api: Any = None

    # -- helpers ---------------------------------------------------------------------------

    def new_api(self) -> Any:
        """A client configured from the environment only (``Settings()`` reads EUROGARD_*)."""
        from pym2v.api import EurogardAPI

        return EurogardAPI()

    @property
    def api(self) -> Any:
        """One client shared by the flows that do not need a fresh one."""
        if self._api is None:
            self._api = self.new_api()
        return self._api

    def machine(self) -> dict[str, Any]:
        """The second machine of the first page."""
        return dict(self.api.get_machines()["entities"][1])

    def names(self, machine_uuid: str) -> list[str]:
        """The measurement names of a machine."""
        method = "get_machine_measurements" if self.legacy else "get_machine_measurement_names"
        page = getattr(self.api, method)(machine_uuid, size=100)
        return [m["name"] for m in page["entities"]]

    def run(self, name: str, flow: Callable[[], None]) -> None:
        """Run one flow and record whether it passed."""
        started = time.perf_counter()
        try:
            flow()
        except Exception:  # every failure is reported, then the next flow runs
            say(f"FAIL {name}\n{traceback.format_exc()}")
            self.results.append((name, False))
        else:
            say(f"PASS {name} ({time.perf_counter() - started:.2f} s)")
            self.results.append((name, True))

    # -- flows shared by 0.1.4 and 0.2.0 ------------------------------------------------------

    def construct(self) -> None:
        """The constructor: 0.1.4 logs in eagerly (Basic client auth), 0.2.0 lazily."""
        self.control.call("POST", "/reset")
        self.new_api()
        grants = self.control.token_grants()
        if self.legacy:
            check(grants == ["password"], f"0.1.4 logs in on construction, got {grants}")
            (record,) = self.control.requests("/auth/*")
            auth = record["headers"].get("authorization", "")
            check(auth.startswith("Basic"), f"0.1.4 sends the client as Basic auth: {auth!r}")
        else:
            check(grants == [], f"0.2.0 fetches no token before the first request, got {grants}")

    def get_user_info(self) -> None:
        """``get_user_info``: the user the emulator was started with."""
        user = self.api.get_user_info()
        check(user["username"] == os.environ["EUROGARD_USERNAME"], f"user: {user}")

    def get_routers(self) -> None:
        """``get_routers``: the paged envelope with its defaults."""
        routers = self.api.get_routers()
        check(routers["maxCount"] == self.args.routers, f"maxCount: {routers['maxCount']}")
        names = [r["name"] for r in routers["entities"]]
        check(names == sorted(names), f"sorted by name: {names}")
        check(len(self.api.get_routers(size=1)["entities"]) == 1, "size=1 gives one router")

    def get_machines(self) -> None:
        """``get_machines``: first page of 10, second page with the rest, filter by router."""
        first = self.api.get_machines()
        check(first["maxCount"] == self.args.machines, f"maxCount: {first['maxCount']}")
        check(len(first["entities"]) == min(10, self.args.machines), "a page holds 10")
        second = self.api.get_machines(page=1)
        check(len(second["entities"]) == max(0, self.args.machines - 10), "second page")
        router = first["entities"][0]["thingUuid"]
        mine = self.api.get_machines(size=100, filter=f"__archived:false;thingUuid:{router}")
        check(all(m["thingUuid"] == router for m in mine["entities"]), "thingUuid filter")
        check(0 < mine["maxCount"] < self.args.machines, f"router's machines: {mine['maxCount']}")

    def get_machine_uuid(self) -> None:
        """``get_machine_uuid`` over the envelope ``get_machines`` returned."""
        machines = self.api.get_machines()
        wanted = machines["entities"][3]
        found = self.api.get_machine_uuid(wanted["name"], machines)
        check(found == wanted["uuid"], f"{found} != {wanted['uuid']}")
        check(self.api.get_machine_uuid("no such machine", machines) is None, "unknown: None")

    def get_machine_measurements(self) -> None:
        """The measurements of a machine (renamed in 0.2.0)."""
        names = self.names(self.machine()["uuid"])
        check(len(names) == self.args.measurements, f"measurements: {names}")

    def get_machine_setpoints(self) -> None:
        """``get_machine_setpoints``."""
        page = self.api.get_machine_setpoints(self.machine()["uuid"])
        check(page["maxCount"] == self.args.setpoints, f"set-points: {page['maxCount']}")
        check(all(s["name"].startswith("SP-") for s in page["entities"]), "set-point names")

    def get_historical_data(self) -> None:
        """``get_historical_data``: raw results in request order, one day of minutes."""
        machine = self.machine()["uuid"]
        names = self.names(machine)[:3]
        start = int(START.timestamp() * 1000)
        data = self.api.get_historical_data(machine, names, start, start + 86_400_000, 60)
        got = [r["dataDefinitionKeyItemName"] for r in data["results"]]
        check(got == names, f"result order {got} != {names}")
        for result in data["results"]:
            stamps = [p["timestamp"] for p in result["values"]]
            check(len(stamps) == 1440, f"{len(stamps)} points")
            check(stamps[0] == start + 60_000 and stamps[-1] == start + 86_400_000, "labels")

    # -- flows of 0.2.0 (polars) -------------------------------------------------------------

    def frame(self) -> None:
        """``get_frame_from_names`` (0.2.0): one request, a wide polars frame."""
        machine = self.machine()["uuid"]
        names = self.names(machine)[:3]
        frame = self.api.get_frame_from_names(machine, names, START, START + DAY, MINUTE)
        check(frame.columns == ["timestamp", *names], f"columns {frame.columns}")
        check(frame.height == 1440, f"rows {frame.height}")
        check(frame["timestamp"].is_unique().all(), "unique timestamps")

    def long_frame(self) -> None:
        """``get_long_frame_from_names`` (0.2.0): batches merged, same as one request."""
        machine = self.machine()["uuid"]
        names = self.names(machine)[:3]
        end = START + 3 * DAY
        long = self.api.get_long_frame_from_names(
            machine, names, START, end, MINUTE, timedelta(hours=12), show_progress=True
        )
        whole = self.api.get_frame_from_names(machine, names, START, end, MINUTE)
        check(long.height == 3 * 1440, f"rows {long.height}")
        check(long.equals(whole), "batched frame differs from the single-request frame")

    def aget_frame(self) -> None:
        """``aget_frame_from_names`` (0.2.0): concurrent batches, same frame."""
        machine = self.machine()["uuid"]
        names = self.names(machine)[:3]
        end = START + 3 * DAY
        before = len(self.control.requests("/backend/machine-controller/postData*"))
        frame = asyncio.run(
            self.api.aget_frame_from_names(machine, names, START, end, MINUTE, timedelta(hours=12))
        )
        after = len(self.control.requests("/backend/machine-controller/postData*"))
        whole = self.api.get_frame_from_names(machine, names, START, end, MINUTE)
        check(after - before == 6, f"6 batches, saw {after - before} requests")
        check(frame.equals(whole), "async frame differs from the single-request frame")

    def modes_break_upstream(self) -> None:
        """The opt-in data modes reproduce 0.2.0's batch-concatenation crash (reference §12)."""
        import polars as pl

        machine = self.machine()["uuid"]
        names = self.names(machine)
        wanted = [names[0], names[-1]]  # the last measurement is the one missing_series drops
        for mode in ("missing_series", "integer_values", "reordered_results"):
            self.control.call("POST", "/reset")
            self.control.call("POST", "/actions/configure", {mode: True})
            try:
                self.api.get_long_frame_from_names(
                    machine, wanted, START, START + 2 * DAY, MINUTE, DAY
                )
            except pl.exceptions.PolarsError as exc:
                say(f"     {mode}: upstream 0.2.0 fails as expected ({type(exc).__name__})")
            else:
                raise AssertionError(f"{mode}: upstream 0.2.0 merged the batches; mode inert?")
        self.control.call("POST", "/reset")

    # -- flows of 0.1.4 (pandas) -------------------------------------------------------------

    def frame_legacy(self) -> None:
        """``get_frame_from_names`` (0.1.4): strings in, a DatetimeIndex frame out."""
        machine = self.machine()["uuid"]
        names = self.names(machine)[:3]
        frame = self.api.get_frame_from_names(machine, names, "2024-01-01", "2024-01-02", "60s")
        check(list(frame.columns) == names, f"columns {list(frame.columns)}")
        check(len(frame) == 1440, f"rows {len(frame)}")
        check(str(frame.index[0]) == "2024-01-01 00:01:00", f"first {frame.index[0]}")

    def long_frame_legacy(self) -> None:
        """``get_long_frame_from_names`` (0.1.4): batches concatenated, same as one request."""
        machine = self.machine()["uuid"]
        names = self.names(machine)[:3]
        long = self.api.get_long_frame_from_names(
            machine, names, "2024-01-01", "2024-01-04", "60s", "12h", show_progress=True
        )
        whole = self.api.get_frame_from_names(machine, names, "2024-01-01", "2024-01-04", "60s")
        check(len(long) == 3 * 1440, f"rows {len(long)}")
        check(long.index.is_unique, "no duplicate timestamps at batch boundaries")
        check(long.equals(whole), "batched frame differs from the single-request frame")

    def asmart_frame(self) -> None:
        """``asmart_get_frame_from_names`` (0.1.4), also its split-on-timeout path."""
        machine = self.machine()["uuid"]
        names = self.names(machine)[:2]
        whole = self.api.get_frame_from_names(machine, names, "2024-01-01", "2024-01-02", "60s")
        frame = asyncio.run(
            self.api.asmart_get_frame_from_names(machine, names, "2024-01-01", "2024-01-02", "60s")
        )
        check(frame.equals(whole), "asmart frame differs from get_frame_from_names")
        # The first request is slower than the 1 s timeout: upstream splits the day in halves.
        self.control.call(
            "POST",
            "/faults",
            {"kind": "latency", "path": "/backend/machine-controller/postData*", "seconds": 2},
        )
        before = len(self.control.requests("/backend/machine-controller/postData*"))
        split = asyncio.run(
            self.api.asmart_get_frame_from_names(
                machine, names, "2024-01-01", "2024-01-02", "60s", timeout=1
            )
        )
        time.sleep(1.5)  # the timed-out request still runs in upstream's thread; let it finish
        after = len(self.control.requests("/backend/machine-controller/postData*"))
        check(after - before == 3, f"1 slow request + 2 halves, saw {after - before}")
        check(split.equals(whole), "split frame differs from get_frame_from_names")

    # -- token refresh -----------------------------------------------------------------------

    def refresh(self) -> None:
        """An expired access token is renewed with the refresh grant."""
        # 0.2.0 renews 30 s before expiry, 0.1.4 at expiry: short lifetimes show both quickly.
        lifetime = 2 if self.legacy else 31
        self.control.call("POST", "/reset")
        self.control.call("POST", "/actions/configure", {"token_lifetime": lifetime})
        if not self.legacy:
            import httpx_auth

            httpx_auth.OAuth2.token_cache.clear()  # drop the 7200 s token of earlier flows
        api = self.new_api()
        api.get_user_info()
        time.sleep(2.5 if self.legacy else 1.5)
        api.get_user_info()
        grants = self.control.token_grants()
        self.control.call("POST", "/reset")
        check(grants == ["password", "refresh_token"], f"token grants: {grants}")

    def all(self) -> list[tuple[str, Callable[[], None]]]:
        """The flows for this version, in order."""
        shared = [
            ("constructor", self.construct),
            ("get_user_info", self.get_user_info),
            ("get_routers", self.get_routers),
            ("get_machines", self.get_machines),
            ("get_machine_uuid", self.get_machine_uuid),
            (
                "get_machine_measurements" if self.legacy else "get_machine_measurement_names",
                self.get_machine_measurements,
            ),
            ("get_machine_setpoints", self.get_machine_setpoints),
            ("get_historical_data", self.get_historical_data),
        ]
        if self.legacy:
            return [
                *shared,
                ("get_frame_from_names", self.frame_legacy),
                ("get_long_frame_from_names", self.long_frame_legacy),
                ("asmart_get_frame_from_names", self.asmart_frame),
                ("token refresh", self.refresh),
            ]
        return [
            *shared,
            ("get_frame_from_names", self.frame),
            ("get_long_frame_from_names", self.long_frame),
            ("aget_frame_from_names", self.aget_frame),
            ("token refresh", self.refresh),
            ("data modes reproduce the upstream concat crash", self.modes_break_upstream),
        ]


def main() -> int:
    """Run every flow; 0 if all passed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", required=True, help="the upstream version expected")
    parser.add_argument("--routers", type=int, required=True)
    parser.add_argument("--machines", type=int, required=True)
    parser.add_argument("--measurements", type=int, required=True)
    parser.add_argument("--setpoints", type=int, required=True)
    args = parser.parse_args()
    args.base_url = os.environ["EUROGARD_BASE_URL"]
    installed = importlib.metadata.version("pym2v")
    if installed != args.version:
        say(f"FAIL version: expected upstream pym2v {args.version}, found {installed}")
        return 1
    flows = Flows(args)
    for name, flow in flows.all():
        flows.run(name, flow)
    failed = [name for name, ok in flows.results if not ok]
    passed = len(flows.results) - len(failed)
    say(f"upstream pym2v {installed}: {passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
