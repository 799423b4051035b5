"""App, product, production and asset calls of both clients against the emulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest

from corekit.testing import REDACTED, FaultInjector
from pywats import (
    Asset,
    AssetType,
    F,
    Product,
    ProductRevision,
    Tag,
    Unit,
    WATSBadRequestError,
    WATSConfigurationError,
    WATSConflictError,
    WATSNotFoundError,
    WATSOperationError,
    to_wsxf,
)

pytestmark = pytest.mark.anyio

FIXTURE_TYPE = uuid.UUID("00000000-0000-0000-0000-000000000001")


async def test_app_version_and_processes(wats: Any, resolve: Any) -> None:
    assert await resolve(wats.app.version()) == "2026.3.0"
    processes = await resolve(wats.app.processes())
    by_code = {p.code: p for p in processes}
    assert by_code[100].is_test_operation
    assert by_code[500].is_repair_operation
    assert 90 not in by_code
    only_repair = await resolve(
        wats.app.processes(include_test=False, include_wip=False, include_inactive=True)
    )
    assert [p.code for p in only_repair] == [500]
    with_inactive = await resolve(wats.app.processes(include_inactive=True))
    assert 90 in {p.code for p in with_inactive}


async def test_products_and_revisions(wats: Any, resolve: Any) -> None:
    saved = await resolve(
        wats.product.put(Product(part_number="PN-9", name="Widget", tags=[Tag(key="k", value="v")]))
    )
    assert saved.product_id is not None
    assert saved.name == "Widget"
    fetched = await resolve(wats.product.get("PN-9"))
    assert fetched.product_id == saved.product_id
    fetched.description = "changed"
    updated = await resolve(wats.product.put(fetched))
    assert updated.product_id == saved.product_id
    assert updated.description == "changed"
    rev = await resolve(
        wats.product.put_revision(ProductRevision(part_number="PN-9", revision="B", name="rev B"))
    )
    assert rev.product_id == saved.product_id
    assert (await resolve(wats.product.get_revision("PN-9", "B"))).name == "rev B"
    many = await resolve(
        wats.product.put_many(
            [{"partNumber": "PN-10", "name": "Gadget"}, Product(part_number="PN-11")]
        )
    )
    assert {p.part_number for p in many} == {"PN-10", "PN-11"}
    found = await resolve(wats.product.query(F.partNumber.startswith("PN-1"), orderby="partNumber"))
    assert [p.part_number for p in found] == ["PN-10", "PN-11"]
    assert len(await resolve(wats.product.query(top=1))) == 1
    await resolve(wats.product.delete("PN-9", "B"))
    with pytest.raises(WATSNotFoundError):
        await resolve(wats.product.get_revision("PN-9", "B"))
    await resolve(wats.product.delete("PN-9"))
    with pytest.raises(WATSNotFoundError):
        await resolve(wats.product.get("PN-9"))


async def test_path_segments_are_quoted(wats: Any, resolve: Any) -> None:
    await resolve(wats.product.put({"partNumber": "A B#1?x"}))
    assert (await resolve(wats.product.get("A B#1?x"))).part_number == "A B#1?x"


async def test_units(wats: Any, resolve: Any, emulator: FaultInjector) -> None:
    await resolve(wats.product.put(Product(part_number="PN-U")))
    serial_date = datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
    saved = await resolve(
        wats.production.put_units(
            [Unit(serial_number="U-1", part_number="PN-U", revision="A", serial_date=serial_date)]
        )
    )
    assert [u.serial_number for u in saved] == ["U-1"]
    unit = await resolve(wats.production.get_unit("U-1", "PN-U"))
    assert unit.serial_date == serial_date
    await resolve(wats.production.create_unit({"serialNumber": "U-2", "partNumber": "PN-U"}))
    with pytest.raises(WATSConflictError):
        await resolve(wats.production.create_unit(Unit(serial_number="U-2", part_number="PN-U")))
    unit.batch_number = "B-1"
    await resolve(wats.production.update_unit(unit))
    assert (await resolve(wats.production.get_unit("U-1", "PN-U"))).batch_number == "B-1"
    await resolve(wats.production.set_tag("U-1", "PN-U", "color", "red"))
    await resolve(wats.production.set_process("U-1", "PN-U", 50))
    await resolve(wats.production.set_phase("U-1", "PN-U", "Finalized"))
    unit = await resolve(wats.production.get_unit("U-1", "PN-U"))
    assert [(t.key, t.value) for t in unit.tags] == [("color", "red")]
    assert unit.process_code == 50
    assert unit.unit_phase == "Finalized"
    await resolve(wats.production.add_child("U-1", "PN-U", "U-2", "PN-U"))
    parent = await resolve(wats.production.get_unit("U-1", "PN-U"))
    assert [s["serialNumber"] for s in parent.sub_units] == ["U-2"]
    await resolve(wats.production.remove_child("U-1", "PN-U", "U-2", "PN-U"))
    assert (await resolve(wats.production.get_unit("U-1", "PN-U"))).sub_units == []
    found = await resolve(wats.production.query_units(F.batchNumber == "B-1", top=5))
    assert [u.serial_number for u in found] == ["U-1"]
    await resolve(wats.production.delete_unit("U-2", "PN-U"))
    with pytest.raises(WATSNotFoundError):
        await resolve(wats.production.get_unit("U-2", "PN-U"))
    (tag_call,) = emulator.calls("PUT", "/api/Production/UnitTag")
    assert parse_qs(tag_call.query) == {
        "serialNumber": ["U-1"],
        "partNumber": ["PN-U"],
        "key": [REDACTED],  # the request log hides anything named like a secret
        "value": ["red"],
    }


async def test_unit_verification_follows_reports(wats: Any, resolve: Any) -> None:
    for code, ok in ((10, True), (50, True)):
        b = wats.report.uut(
            part_number="PN-V", serial_number="V-1", revision="A", process_code=code
        )
        b.passfail("ok", ok)
        await resolve(wats.report.submit(b.build()))
    verdict = await resolve(wats.production.verify("V-1", "PN-V"))
    assert verdict.status == "Passed"
    assert verdict.grade == "A"
    assert [r["processCode"] for r in verdict.results] == [10, 50]
    assert (await resolve(wats.production.verify("V-1", "PN-V", revision="Z"))).status == "Untested"


async def test_serial_numbers(wats: Any, resolve: Any, emulator: FaultInjector) -> None:
    types = await resolve(wats.production.serial_number_types())
    name = types[0].name
    taken = await resolve(wats.production.take_serial_numbers(name, 3, ref_serial_number="X"))
    assert len(set(taken)) == 3
    more = await resolve(wats.production.take_serial_numbers(name))
    assert len(more) == 1
    assert more[0] not in taken
    (call, _) = emulator.calls("POST", "/api/Production/SerialNumbers/Take")
    query = parse_qs(call.query)
    assert query["stationName"] == ["ST-7"]
    assert query["refSN"] == ["X"]
    with pytest.raises(WATSNotFoundError, match="known"):
        await resolve(wats.production.take_serial_numbers("nope"))


async def test_assets(wats: Any, resolve: Any) -> None:
    types = await resolve(wats.asset.types())
    assert FIXTURE_TYPE in {t.type_id for t in types}
    created = await resolve(
        wats.asset.put(Asset(serial_number="FX-1", type_id=FIXTURE_TYPE, asset_name="Bed of nails"))
    )
    assert created.asset_id is not None
    assert (await resolve(wats.asset.get("FX-1"))).asset_id == created.asset_id
    assert (await resolve(wats.asset.get(created.asset_id))).serial_number == "FX-1"
    assert [
        a.serial_number for a in await resolve(wats.asset.query(F.assetName == "Bed of nails"))
    ] == ["FX-1"]
    await resolve(wats.asset.set_count(serial_number="FX-1", increment_by=5))
    await resolve(wats.asset.set_count(asset_id=created.asset_id, total_count=20))
    asset = await resolve(wats.asset.get("FX-1"))
    assert (asset.total_count, asset.running_count) == (20, 20)
    await resolve(wats.asset.reset_running_count(serial_number="FX-1"))
    await resolve(wats.asset.set_state(3, serial_number="FX-1"))
    when = datetime(2026, 1, 1, tzinfo=UTC)
    await resolve(wats.asset.calibrate(serial_number="FX-1", when=when, comment="yearly"))
    await resolve(wats.asset.maintain(serial_number="FX-1", comment="cleaned"))
    await resolve(wats.asset.message("hello", serial_number="FX-1", user="op"))
    asset = await resolve(wats.asset.get("FX-1"))
    assert asset.state == 3
    assert asset.running_count == 0
    assert asset.last_calibration_date == when
    assert asset.next_calibration_date is not None
    status = await resolve(wats.asset.status(serial_number="FX-1"))
    assert status["serialNumber"] == "FX-1"
    log = await resolve(wats.asset.log(serial_number="FX-1"))
    assert {e.type for e in log} >= {0, 3, 4, 5, 6}
    assert any(e.comment == "hello" and e.user == "op" for e in log)
    everything = await resolve(wats.asset.log(top=2))
    assert len(everything) == 2
    by_id = await resolve(wats.asset.log(asset_id=created.asset_id))
    assert len(by_id) == len(log)
    new_type = await resolve(
        wats.asset.put_type(AssetType(type_name="Cable", calibration_interval=30))
    )
    assert new_type.type_id is not None
    await resolve(wats.asset.delete(serial_number="FX-1"))
    with pytest.raises(WATSNotFoundError):
        await resolve(wats.asset.get("FX-1"))


async def test_asset_calls_need_exactly_one_key(wats: Any, resolve: Any) -> None:
    with pytest.raises(WATSConfigurationError, match="exactly one"):
        await resolve(wats.asset.status())
    with pytest.raises(WATSConfigurationError, match="exactly one"):
        await resolve(wats.asset.delete(asset_id="x", serial_number="y"))


async def test_asset_rejections_carry_the_message(wats: Any, resolve: Any) -> None:
    with pytest.raises(WATSBadRequestError) as caught:
        await resolve(wats.asset.put({"serialNumber": "FX-2"}))
    assert "typeId" in caught.value.wats_message


async def test_serial_numbers_in_the_xml_form(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    xml = '<SerialNumbers><SN id="X-1"/><SN>X-2</SN></SerialNumbers>'
    take = "/api/Production/SerialNumbers/Take"
    emulator.fail(take, 200, body=xml.encode(), headers={"content-type": "application/xml"})
    assert await resolve(wats.production.take_serial_numbers("Default", 2)) == ["X-1", "X-2"]
    emulator.fail(take, 200, body=xml)  # the XML as a JSON string
    assert await resolve(wats.production.take_serial_numbers("Default", 2)) == ["X-1", "X-2"]
    emulator.fail(
        take, 200, body=b"<SerialNumbers><SN", headers={"content-type": "application/xml"}
    )
    with pytest.raises(WATSOperationError, match="serial-number XML"):
        await resolve(wats.production.take_serial_numbers("Default"))
    emulator.fail(take, 200, body={"not": "a list"})
    with pytest.raises(WATSOperationError, match="list of serial numbers"):
        await resolve(wats.production.take_serial_numbers("Default"))


async def test_wsxf_documents_are_sent_as_xml(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    report = wats.report.uut(part_number="PN-X", serial_number="X-1", revision="A", process_code=10)
    document = to_wsxf(report.passfail("ok", True).build())
    emulator.fail("/api/Report/WSXF", 200, body=[{"ID": str(uuid.UUID(int=7))}])
    assert await resolve(wats.report.submit_wsxf(document)) == uuid.UUID(int=7)
    emulator.fail("/api/Report/WSXF", 200, body="accepted")
    assert await resolve(wats.report.submit_wsxf(document.decode())) == "accepted"
    (first, second) = emulator.calls("POST", "/api/Report/WSXF")
    assert first.headers["content-type"] == "application/xml"
    assert first.body == document
    assert second.body == document
    emulator.fail("/api/Report/Wsxf/*", 200, body=document, headers={"content-type": "text/xml"})
    assert await resolve(wats.report.get_wsxf(uuid.UUID(int=7))) == document


async def test_units_summary_answer_is_an_empty_list(
    wats: Any, resolve: Any, emulator: FaultInjector
) -> None:
    emulator.fail("/api/Production/Units", 200, body={"errorCount": 0})
    assert (
        await resolve(wats.production.put_units([{"serialNumber": "S", "partNumber": "P"}])) == []
    )


async def test_submit_answer_forms(wats: Any, resolve: Any, emulator: FaultInjector) -> None:
    report = wats.report.uut(part_number="PN", serial_number="S", revision="A", process_code=10)
    built = report.passfail("ok", True).build()
    emulator.fail("/api/Report/WSJF", 200, body={"uuid": str(uuid.UUID(int=3))})
    assert await resolve(wats.report.submit(built)) == uuid.UUID(int=3)
    emulator.fail("/api/Report/WSJF", 200, body=b"")
    assert await resolve(wats.report.submit(built)) == built.id
