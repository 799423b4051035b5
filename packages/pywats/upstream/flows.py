"""Core flows of the unmodified pywats-api 0.6.0rc1 client, run against a WATS server.

Run with the upstream interpreter (Python 3.12 with ``pywats-api==0.6.0rc1``)::

    python flows.py --url http://127.0.0.1:8088 --username wats --password wats

Each flow prints ``PASS <name>`` or ``FAIL <name>: <reason>``; the exit status is the number of
failed flows (0 when all pass). The flows use only the public pywats-api API, with the GET cache
off (``enable_cache=False``): 0.6.0rc1 serves stale reads after a submit otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pywats import AsyncWATS, pyWATS
from pywats.core.exceptions import NotFoundError
from pywats.domains.production.models import Unit
from pywats.domains.report.report_models import UURReport, UUTReport
from pywats.shared.enums import CompOp

FLOWS: list[tuple[str, Callable[..., None]]] = []


def flow(function: Callable[..., None]) -> Callable[..., None]:
    """Register ``function`` as a flow (run in definition order)."""
    FLOWS.append((function.__name__, function))
    return function


def check(condition: object, message: str) -> None:
    """Fail the flow with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def say(line: str) -> None:
    """One result line on stdout, flushed so it interleaves with tracebacks on stderr."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def gone(read: Callable[[], object]) -> bool:
    """Whether a read finds nothing: ``None``, or ``NotFoundError`` (the client's STRICT mode)."""
    try:
        return read() is None
    except NotFoundError:
        return True


def tag() -> str:
    """A short random tag that keeps part and serial numbers unique per run."""
    return uuid.uuid4().hex[:8].upper()


def build_uut(api: pyWATS, pn: str, sn: str) -> UUTReport:
    """A UUT report built with the client's own factory and step builders."""
    report = api.report.create_uut_report(
        operator="upstream",
        part_number=pn,
        revision="A",
        serial_number=sn,
        operation_type=100,
        station_name="UPSTREAM-ST",
        location="Lab",
        purpose="Compatibility",
        start_time=datetime.now(UTC),
    )
    root = report.get_root_sequence_call()
    root.add_numeric_step(
        name="Voltage", value=5.02, unit="V", comp_op=CompOp.GELE, low_limit=4.5, high_limit=5.5
    )
    root.add_boolean_step(name="Power good", status="P")
    root.add_string_step(name="Firmware", value="1.2.3", comp_op=CompOp.IGNORECASE, limit="1.2.3")
    sub = root.add_sequence_call(name="Sub sequence")
    sub.add_numeric_step(name="Current", value=0.25, unit="A", comp_op=CompOp.LOG)
    report.add_misc_info(description="Firmware", value="1.2.3")
    report.add_sub_unit(part_type="PCB", sn=f"{sn}-PCB", pn=f"{pn}-PCB", rev="B")
    return report


@flow
def connection(api: pyWATS, **_: Any) -> None:
    """The connection probe the client and its service use."""
    check(api.test_connection(), "test_connection() returned False")
    version = api.get_version()
    check(version, f"get_version() returned {version!r}")


@flow
def processes(api: pyWATS, **_: Any) -> None:
    """The process table, with the test and repair codes the client defaults to."""
    found = api.process.get_processes()
    codes = {p.code for p in found}
    check({100, 500} <= codes, f"expected test 100 and repair 500 in {sorted(codes)}")


@flow
def submit_query_and_get_report(api: pyWATS, **_: Any) -> None:
    """Submit a UUT, find it by serial and by part number, read it back by id."""
    pn, sn = f"UP-{tag()}", f"SN-{tag()}"
    report = build_uut(api, pn, sn)
    report_id = api.report.submit_report(report)
    check(report_id and str(report_id).lower() == str(report.id).lower(), f"id {report_id!r}")
    headers = api.report.query_uut_headers(odata_filter=f"serialNumber eq '{sn}'")
    check(len(headers) == 1, f"query by serial found {len(headers)} headers")
    header = headers[0]
    check(header.part_number == pn, f"header part number {header.part_number!r}")
    check(str(header.uuid).lower() == str(report.id).lower(), f"header uuid {header.uuid!r}")
    by_pn = api.report.get_headers_by_part_number(pn)
    check(len(by_pn) == 1, f"query by part number found {len(by_pn)} headers")
    fetched = api.report.get_report(str(report.id))
    check(isinstance(fetched, UUTReport), f"get_report returned {type(fetched).__name__}")
    steps = fetched.get_root_sequence_call().steps
    check(
        [s.name for s in steps] == ["Voltage", "Power good", "Firmware", "Sub sequence"],
        f"step names {[s.name for s in steps]}",
    )
    check(fetched.sn == sn and fetched.pn == pn, "serial or part number changed on the way")


@flow
def resubmit_overwrites(api: pyWATS, **_: Any) -> None:
    """Submitting the same report id again replaces the stored report."""
    pn, sn = f"UP-{tag()}", f"SN-{tag()}"
    report = build_uut(api, pn, sn)
    api.report.submit_report(report)
    report.result = "F"
    api.report.submit_report(report)
    headers = api.report.query_uut_headers(odata_filter=f"serialNumber eq '{sn}'")
    check(len(headers) == 1, f"same id stored {len(headers)} times")
    check(headers[0].result == "F", f"result {headers[0].result!r} after the resubmit")


@flow
def repair_report(api: pyWATS, **_: Any) -> None:
    """A UUR made from a failed UUT is stored, read back as a UUR and queryable."""
    pn, sn = f"UP-{tag()}", f"SN-{tag()}"
    uut = build_uut(api, pn, sn)
    uut.result = "F"
    api.report.submit_report(uut)
    uur = api.report.create_uur_from_uut(uut, operator="repairer")
    repair_id = api.report.submit_report(uur)
    check(repair_id, "no id for the repair report")
    fetched = api.report.get_report(str(uur.id))
    check(isinstance(fetched, UURReport), f"get_report returned {type(fetched).__name__}")
    repairs = api.report.query_uur_headers(odata_filter=f"serialNumber eq '{sn}'")
    check(len(repairs) == 1, f"found {len(repairs)} repair headers")


@flow
def xml_report(api: pyWATS, **_: Any) -> None:
    """A WSXF (XML) report submitted and read back as XML and as WSJF."""
    report_id, sn = str(uuid.uuid4()), f"SN-{tag()}"
    xml = (
        '<Reports xmlns="http://www.wats.com/XmlFormats/2009/Report">'
        f'<Report ID="{report_id}" Type="T" PN="UP-XML" SN="{sn}" Rev="A" Result="Passed" '
        'MachineName="UPSTREAM-ST" Location="Lab" Purpose="Compatibility" '
        'Start="2026-01-01T12:00:00+00:00"><UUT UserLoginName="upstream"/><Process Code="100"/>'
        '<Step StepType="SequenceCall" Name="MainSequence Callback" Status="Passed"/>'
        "</Report></Reports>"
    )
    returned = api.report.submit_report_xml(xml)
    check(str(returned).lower() == report_id, f"submit_report_xml returned {returned!r}")
    document = api.report.get_report_xml(report_id)
    check(document and sn.encode() in document, "get_report_xml lost the serial number")
    fetched = api.report.get_report(report_id)
    check(isinstance(fetched, UUTReport) and fetched.sn == sn, f"get_report gave {fetched!r}")


@flow
def async_submit_and_query(url: str, token: str, **_: Any) -> None:
    """The same submit and query through ``AsyncWATS``."""

    async def run() -> None:
        async with AsyncWATS(base_url=url, token=token, enable_cache=False) as api:
            pn, sn = f"UP-{tag()}", f"SN-{tag()}"
            report = api.report.create_uut_report(
                operator="async",
                part_number=pn,
                revision="A",
                serial_number=sn,
                operation_type=100,
                station_name="UPSTREAM-ST",
                location="Lab",
                purpose="Compatibility",
            )
            report.get_root_sequence_call().add_numeric_step(name="V", value=1.0)
            await api.report.submit_report(report)
            headers = await api.report.query_uut_headers(odata_filter=f"serialNumber eq '{sn}'")
            check(len(headers) == 1, f"async query found {len(headers)} headers")

    asyncio.run(run())


@flow
def products(api: pyWATS, **_: Any) -> None:
    """Product and revision create, read, update, list and delete."""
    pn = f"PROD-{tag()}"
    created = api.product.create_product(pn, name="Upstream board", description="from flows")
    check(created is not None and created.part_number == pn, f"create_product gave {created!r}")
    fetched = api.product.get_product(pn)
    check(fetched is not None and fetched.name == "Upstream board", f"get_product gave {fetched!r}")
    fetched.description = "updated"
    updated = api.product.update_product(fetched)
    check(
        updated is not None and updated.description == "updated", "update_product lost the change"
    )
    revision = api.product.create_revision(pn, "B", name="Rev B")
    check(revision is not None and revision.revision == "B", f"create_revision gave {revision!r}")
    got = api.product.get_revision(pn, "B")
    check(got is not None and got.name == "Rev B", f"get_revision gave {got!r}")
    listed = {p.part_number for p in api.product.get_products()}
    check(pn in listed, "get_products does not list the new product")
    api.product.delete_revision(pn, "B")
    check(gone(lambda: api.product.get_revision(pn, "B")), "the revision survived its delete")
    api.product.delete_product(pn)
    check(gone(lambda: api.product.get_product(pn)), "the product survived its delete")


@flow
def units(api: pyWATS, **_: Any) -> None:
    """Units, tags, serial numbers and the unit grade computed from a report."""
    pn, sn = f"UNIT-{tag()}", f"SN-{tag()}"
    api.product.create_product(pn, name="Unit product")
    saved = api.production.create_units([Unit(serial_number=sn, part_number=pn, revision="A")])
    check(saved, f"create_units returned {saved!r}")
    unit = api.production.get_unit(sn, pn)
    check(unit is not None and unit.serial_number == sn, f"get_unit gave {unit!r}")
    api.production.set_unit_tag(sn, pn, "color", "red")
    unit = api.production.get_unit(sn, pn)
    check(unit is not None, "unit vanished after tagging")
    types = api.production.get_serial_number_types()
    check(types, "no serial number types")
    taken = api.production.take_serial_numbers(types[0].name, 2)
    check(len(taken) == 2 and taken[0] != taken[1], f"take_serial_numbers gave {taken!r}")
    report = build_uut(api, pn, sn)
    api.report.submit_report(report)
    grade = api.production.get_unit_grade(sn, pn)
    check(grade is not None and grade.status == "Passed", f"unit grade {grade!r}")
    check(api.production.delete_unit(sn, pn), "delete_unit failed")
    check(gone(lambda: api.production.get_unit(sn, pn)), "the unit survived its delete")


@flow
def assets(api: pyWATS, **_: Any) -> None:
    """Asset create, read, count, calibration, list and delete."""
    sn = f"FX-{tag()}"
    types = api.asset.get_asset_types()
    check(types, "no asset types")
    created = api.asset.create_asset(sn, types[0].type_id, asset_name="Upstream fixture")
    check(created is not None and created.asset_id, f"create_asset gave {created!r}")
    fetched = api.asset.get_asset_by_serial(sn)
    check(fetched is not None and fetched.asset_name == "Upstream fixture", f"got {fetched!r}")
    api.asset.increment_count(serial_number=sn, amount=3)
    fetched = api.asset.get_asset(serial_number=sn)
    check(fetched is not None and fetched.running_count == 3, f"running count {fetched!r}")
    api.asset.record_calibration(serial_number=sn, comment="upstream")
    fetched = api.asset.get_asset(serial_number=sn)
    check(fetched is not None and fetched.last_calibration_date, "calibration was not recorded")
    listed = {a.serial_number for a in api.asset.get_assets()}
    check(sn in listed, "get_assets does not list the new asset")
    api.asset.delete_asset(serial_number=sn)
    check(gone(lambda: api.asset.get_asset(serial_number=sn)), "the asset survived its delete")


def main() -> int:
    """Run the flows against ``--url``; the exit status is the number that failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--username", default="wats")
    parser.add_argument("--password", default="wats")
    parser.add_argument("--only", action="append", help="run only these flows")
    args = parser.parse_args()
    token = base64.b64encode(f"{args.username}:{args.password}".encode()).decode()
    api = pyWATS(base_url=args.url, token=token, enable_cache=False)
    failed = 0
    try:
        for name, function in FLOWS:
            if args.only and name not in args.only:
                continue
            try:
                function(api=api, url=args.url, token=token)
            except Exception as exc:  # every failure is reported, then counted
                failed += 1
                say(f"FAIL {name}: {type(exc).__name__}: {exc}")
                traceback.print_exc(file=sys.stderr)
            else:
                say(f"PASS {name}")
    finally:
        api.close()
    return failed


if __name__ == "__main__":
    sys.exit(main())
