"""Report calls of both clients against the emulator over a socket."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from corekit.testing import FaultInjector
from pywats import (
    F,
    NumericMeasurement,
    ReportValidationError,
    StepStatus,
    UURReport,
    UUTReport,
    WATSBadRequestError,
    WATSNotFoundError,
    errors,
    from_wsxf,
    to_wsxf,
)

pytestmark = pytest.mark.anyio


def new_report(wats: Any, serial: str = "SN-1", **kwargs: Any) -> UUTReport:
    b = wats.report.uut(
        part_number=kwargs.pop("part_number", "PN-1"),
        serial_number=serial,
        revision="A",
        process_code=kwargs.pop("process_code", 10),
        operator="op",
        **kwargs,
    )
    b.misc("Firmware", "1.2.3")
    with b.sequence("Power") as power:
        power.numeric("Voltage", 5.01, unit="V", low=4.5, high=5.5)
        power.numeric("Noise", math.nan, unit="mV", comp="LOG")
    b.passfail("LED", True)
    b.string("FW", "1.2.3", limit="1.2.3")
    report: UUTReport = b.build()
    return report


async def test_submit_get_round_trip(wats: Any, resolve: Any, emulator: FaultInjector) -> None:
    report = new_report(wats)
    report_id = await resolve(wats.report.submit(report))
    assert report_id == report.id
    back = await resolve(wats.report.get(report_id))
    assert isinstance(back, UUTReport)
    assert back.to_dict() == report.to_dict()
    assert back.process_name == "SW Debug"
    (post,) = emulator.calls("POST", "/api/Report/WSJF")
    sent = json.loads(post.body)
    assert sent["root"]["steps"][0]["steps"][1]["numericMeas"][0]["value"] == "NaN"
    assert post.headers["content-type"] == "application/json"


async def test_station_identity_applies_to_built_reports(wats: Any, resolve: Any) -> None:
    report = new_report(wats)
    assert (report.machine_name, report.location, report.purpose) == (
        "ST-7",
        "Line 2",
        "Production",
    )
    await resolve(wats.report.submit(report))
    (header,) = await resolve(wats.report.query_headers(serial_number="SN-1"))
    assert (header.station_name, header.location, header.purpose) == (
        "ST-7",
        "Line 2",
        "Production",
    )


async def test_large_report_round_trips_in_meaning(wats: Any, resolve: Any) -> None:
    b = wats.report.uut(part_number="PN-BIG", serial_number="SN-BIG", revision="A", process_code=50)
    for block in range(10):
        with b.sequence(f"Block {block}") as seq:
            for i in range(100):
                kind = i % 4
                if kind == 0:
                    seq.numeric(f"N{i}", i / 7, unit="V", low=-1.0, high=100.0)
                elif kind == 1:
                    seq.passfail(f"B{i}", i % 3 != 0)
                elif kind == 2:
                    seq.string(f"S{i}", f"v{i}", limit=f"v{i}")
                else:
                    seq.multi_numeric(
                        f"M{i}",
                        [
                            NumericMeasurement(name="a", value=math.inf, comp_op="LOG"),
                            NumericMeasurement(name="b", value=-0.0, comp_op="EQ", low_limit=0.0),
                        ],
                    )
    report: UUTReport = b.build()
    assert sum(1 for s in report.root.walk()) == 1 + 10 + 1000
    await resolve(wats.report.submit(report))
    back = await resolve(wats.report.get(str(report.id)))
    assert json.loads(back.to_wsjf()) == json.loads(report.to_wsjf())
    assert back.result == report.result


async def test_submit_then_query_never_reads_stale_data(wats: Any, resolve: Any) -> None:
    assert await resolve(wats.report.query_headers(part_number="PN-1")) == []
    first = new_report(wats, "SN-A")
    await resolve(wats.report.submit(first))
    assert len(await resolve(wats.report.query_headers(part_number="PN-1"))) == 1
    await resolve(wats.report.submit(new_report(wats, "SN-B")))
    headers = await resolve(wats.report.query_headers(part_number="PN-1"))
    assert sorted(h.serial_number for h in headers) == ["SN-A", "SN-B"]
    # Same id overwrites: still two reports, the first now failed.
    first.result = "F"  # type: ignore[assignment]
    await resolve(wats.report.submit(first))
    headers = await resolve(wats.report.query_headers(part_number="PN-1", orderby="serialNumber"))
    assert [(h.serial_number, h.result) for h in headers] == [("SN-A", "F"), ("SN-B", "P")]


async def test_query_filters_paging_and_expand(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(5):
        report = new_report(wats, f"Q-{i}", start=start + timedelta(days=i))
        report.root.steps[0].status = StepStatus.PASSED
        await resolve(wats.report.submit(report))
    page = await resolve(
        wats.report.query_headers(
            F.serialNumber.startswith("Q-"),
            since=start + timedelta(days=1),
            until=start + timedelta(days=3),
            orderby="start desc",
            top=2,
            skip=1,
            expand=["miscInfo"],
        )
    )
    assert [h.serial_number for h in page] == ["Q-2", "Q-1"]
    assert page[0].misc_info is not None
    assert page[0].misc_info[0].value == "1.2.3"
    plain = await resolve(wats.report.query_headers(serial_number="Q-0", process_code=10))
    assert plain[0].misc_info is None
    (call, *_) = emulator.calls("GET", "/api/Report/Query/Header")
    query = parse_qs(call.query)
    assert query["reportType"] == ["U"]
    assert query["$filter"] == [
        "startswith(serialNumber,'Q-') and start ge 2026-03-02T00:00:00Z "
        "and start le 2026-03-04T00:00:00Z"
    ]
    assert query["$expand"] == ["miscInfo"]
    by_station = await resolve(
        wats.report.query_headers(station_name="ST-7", revision="A", result="P", top=1)
    )
    assert len(by_station) == 1


async def test_query_by_misc_info(wats: Any, resolve: Any) -> None:
    await resolve(wats.report.submit(new_report(wats, "M-1")))
    found = await resolve(wats.report.query_by_misc_info("Firmware", "1.2.3", top=5))
    assert [h.serial_number for h in found] == ["M-1"]
    assert await resolve(wats.report.query_by_misc_info("Firmware", "9")) == []


async def test_repair_reports(wats: Any, resolve: Any) -> None:
    failed = new_report(wats, "R-1")
    await resolve(wats.report.submit(failed))
    repair = wats.report.uur(failed, operator="tech").failure("Solder", "S01").build()
    await resolve(wats.report.submit(repair))
    back = await resolve(wats.report.get(repair.id))
    assert isinstance(back, UURReport)
    assert back.uur.ref_uut == failed.id
    headers = await resolve(wats.report.query_headers(report_type="R"))
    assert [h.serial_number for h in headers] == ["R-1"]


async def test_invalid_report_is_not_sent(wats: Any, resolve: Any, emulator: FaultInjector) -> None:
    report = new_report(wats)
    report.serial_number = ""
    with pytest.raises(ReportValidationError) as caught:
        await resolve(wats.report.submit(report))
    assert [i.path for i in caught.value.issues] == ["sn"]
    assert emulator.calls("POST") == []


async def test_server_side_rejection_carries_wats_message(wats: Any, resolve: Any) -> None:
    data = new_report(wats).to_dict()
    data["processCode"] = -5
    data["root"]["steps"][0]["steps"][0]["numericMeas"][0].pop("highLimit")
    with pytest.raises(WATSBadRequestError) as caught:
        await resolve(wats.report.submit(data, validate=False))
    error = caught.value
    assert error.status_code == 400
    assert error.route == "/api/Report/WSJF"
    assert "highLimit" in error.wats_message
    assert "highLimit" in str(error)


async def test_dict_reports_are_validated_too(wats: Any, resolve: Any) -> None:
    data = new_report(wats).to_dict()
    data["result"] = "Q"
    with pytest.raises(ReportValidationError) as caught:
        await resolve(wats.report.submit(data))
    assert [i.path for i in caught.value.issues] == ["result"]


async def test_missing_report_is_not_found(wats: Any, resolve: Any) -> None:
    with pytest.raises(WATSNotFoundError) as caught:
        await resolve(wats.report.get(uuid.uuid4()))
    assert caught.value.status_code == 404


async def test_submit_is_retried_after_a_server_error(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    emulator.fail("/api/Report/WSJF", 503, count=2)
    report = new_report(wats)
    assert await resolve(wats.report.submit(report)) == report.id
    statuses = [c.status for c in emulator.calls("POST", "/api/Report/WSJF")]
    assert statuses == [503, 503, 200]


async def test_submit_is_retried_after_a_lost_answer(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    emulator.drop("/api/Report/WSJF", count=1, after_app=True)
    report = new_report(wats)
    assert await resolve(wats.report.submit(report)) == report.id
    assert len(emulator.calls("POST", "/api/Report/WSJF")) == 2
    assert len(await resolve(wats.report.query_headers())) == 1


async def test_wsxf_submit_and_read_back(wats: Any, resolve: Any, emulator: FaultInjector) -> None:
    report = new_report(wats, "X-1")
    report_id = await resolve(wats.report.submit_wsxf(to_wsxf(report)))
    assert report_id == report.id
    back = await resolve(wats.report.get(report_id))
    assert back.to_dict() == report.to_dict()
    document = await resolve(wats.report.get_wsxf(report_id))
    (from_xml,) = from_wsxf(document)
    assert from_xml.to_dict() == report.to_dict()
    (post,) = emulator.calls("POST", "/api/Report/WSXF")
    assert post.headers["content-type"] == "application/xml"


async def test_wsxf_is_retried_only_when_every_report_has_an_id(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    with_id = to_wsxf(new_report(wats, "X-2"))
    emulator.fail("/api/Report/WSXF", 503, count=1)
    await resolve(wats.report.submit_wsxf(with_id))
    assert [c.status for c in emulator.calls("POST", "/api/Report/WSXF")] == [503, 200]
    # Without an ID, WATS gives the report a new one: a resubmit could store it twice.
    without_id = with_id.replace(b' ID="', b' Was="')
    emulator.reset()
    emulator.fail("/api/Report/WSXF", 503, count=1)
    with pytest.raises(errors.WATSServerError):
        await resolve(wats.report.submit_wsxf(without_id))
    assert len(emulator.calls("POST", "/api/Report/WSXF")) == 1
    emulator.fail("/api/Report/WSXF", 503, count=1)
    with pytest.raises(errors.WATSServerError):  # not XML at all: one attempt
        await resolve(wats.report.submit_wsxf("<Reports"))
    assert len(emulator.calls("POST", "/api/Report/WSXF")) == 2
