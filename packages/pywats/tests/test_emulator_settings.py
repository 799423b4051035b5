"""EmulatorSettings, the public names of pywats.emulator, time from the emulator clock, threads."""

from __future__ import annotations

import concurrent.futures
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr, ValidationError

import pywats.emulator
from corekit.testing import FakeClock, serve
from pywats.emulator import (
    DEFAULT_PROCESSES,
    EmulatorProcess,
    EmulatorSettings,
    create_app,
    emulator_state,
)


def test_all_lists_the_public_names() -> None:
    public = {n for n in vars(pywats.emulator) if not n.startswith("_")} - {"annotations"}
    assert sorted(pywats.emulator.__all__) == pywats.emulator.__all__
    assert set(pywats.emulator.__all__) == public


def test_defaults_and_secrets() -> None:
    settings = EmulatorSettings(
        password="s3cret", users={"a": "1x"}, read_only_users={"r": SecretStr("2x")}
    )
    assert isinstance(settings.password, SecretStr)
    assert not {"s3cret", "1x", "2x"} & set(repr(settings).replace("'", " ").split())
    assert "s3cret" not in repr(settings)
    assert settings.credentials() == {
        "a": ("1x", True), "r": ("2x", False), "wats": ("s3cret", True),
    }  # fmt: skip
    assert EmulatorSettings().credentials() == {"wats": ("wats", True)}
    assert settings.processes == DEFAULT_PROCESSES


def test_settings_refuse_unknown_fields_and_empty_user() -> None:
    with pytest.raises(ValidationError, match="passwd"):
        EmulatorSettings(passwd="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="username"):
        EmulatorSettings(username="")


def test_custom_process_table() -> None:
    processes = (
        EmulatorProcess(code=7, name="Flash"),
        EmulatorProcess(code=8, name="Fix", kind="repair"),
    )
    with serve(create_app(EmulatorSettings(processes=processes))) as server:
        listed = httpx2.get(f"{server.url}/api/App/Processes", auth=("wats", "wats")).json()
    assert [(p["code"], p["isRepairOperation"]) for p in listed] == [(7, False), (8, True)]


def _report(**extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()), "type": "T", "pn": "PN", "sn": "SN", "rev": "A",
        "processCode": 10, "result": "P", "machineName": "M", "location": "L", "purpose": "P",
        "start": "2026-01-01T00:00:00Z", **extra,
    }  # fmt: skip


def test_time_comes_from_the_emulator_clock() -> None:
    clock = FakeClock(epoch=datetime(2030, 5, 1, tzinfo=UTC).timestamp())
    app = create_app(clock=clock)
    with serve(app) as server, httpx2.Client(base_url=server.url, auth=("wats", "wats")) as c:
        asset = c.put(
            "/api/Asset",
            json={"serialNumber": "FX", "typeId": "00000000-0000-0000-0000-000000000001"},
        )
        assert asset.json()["firstSeenDate"] == "2030-05-01T00:00:00Z"
        c.post("/api/Asset/Calibration", params={"serialNumber": "FX"})
        assert c.get("/api/Asset/FX").json()["nextCalibrationDate"] == "2031-05-01T00:00:00Z"
        clock.advance(366 * 86400)
        assert c.get("/api/Asset/Status", params={"serialNumber": "FX"}).json()["alarmState"] == 2
        c.post("/api/Report/WSJF", json=_report()).raise_for_status()
    assert emulator_state(app).reports.popitem()[1].received == clock.time()


def test_concurrent_submits_from_twenty_threads_are_all_stored() -> None:
    app = create_app()
    with serve(app) as server, httpx2.Client(base_url=server.url, auth=("wats", "wats")) as c:
        reports = [_report(sn=f"SN-{i}") for i in range(200)]
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            statuses = list(
                pool.map(lambda r: c.post("/api/Report/WSJF", json=r).status_code, reports)
            )
        headers = c.get("/api/Report/Query/Header").json()
    assert statuses == [200] * 200
    assert sorted(h["uuid"] for h in headers) == sorted(r["id"] for r in reports)
    assert len(emulator_state(app).units) == 200


def test_non_json_bodies_are_400() -> None:
    with (
        serve(create_app()) as server,
        httpx2.Client(base_url=server.url, auth=("wats", "wats")) as c,
    ):
        response = c.put("/api/Product", content=b"<product/>")
        assert response.status_code == 400
        assert "not valid JSON" in response.json()["Message"]
        uur = _report(type="R", uur={"refUUT": "nope"})
        bad_ref = c.post("/api/Report/WSJF", json=uur)
        assert bad_ref.status_code == 400
        assert "uur.refUUT" in bad_ref.json()["Message"]


def test_request_log_limits_are_configurable() -> None:
    app = create_app(log_limit=2, body_limit=0)
    with serve(app) as server, httpx2.Client(base_url=server.url, auth=("wats", "wats")) as c:
        for _ in range(3):
            c.post("/api/Report/WSJF", json=_report()).raise_for_status()
    assert len(app.requests) == 2
    assert all(r.body == b"" and r.body_size > 0 for r in app.requests)
