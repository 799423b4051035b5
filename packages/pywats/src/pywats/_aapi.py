"""The domains of the async client: the same surface as :mod:`pywats._api`, awaited.

Generated from ``_api.py`` by ``packages/pywats/scripts/gen_async.py``; do not edit by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pywats import _calls
from pywats._builder import Station, UURBuilder, UUTBuilder
from pywats._report import ReportBase, UURReport, UUTReport
from pywats._resources import (
    Asset,
    AssetLogEntry,
    AssetType,
    Process,
    Product,
    ProductRevision,
    ReportHeader,
    SerialNumberType,
    Unit,
    UnitVerification,
)
from pywats._transport import AsyncRunner
from pywats.odata import Filter


class _Domain:
    def __init__(self, runner: AsyncRunner, station: Station) -> None:
        self._runner = runner
        self._station = station


class AsyncAppAPI(_Domain):
    """Server information: version and the process table."""

    async def version(self) -> str:
        """Return the WATS server version (also a cheap connection test)."""
        return await self._runner.run(_calls.version())

    async def processes(
        self,
        *,
        include_test: bool = True,
        include_repair: bool = True,
        include_wip: bool = True,
        include_inactive: bool = False,
    ) -> list[Process]:
        """Return the processes (test, repair and WIP operations) WATS knows."""
        call = _calls.processes(
            include_test=include_test,
            include_repair=include_repair,
            include_wip=include_wip,
            include_inactive=include_inactive,
        )
        return await self._runner.run(call)


class AsyncReportAPI(_Domain):
    """Build, submit, read and query test (UUT) and repair (UUR) reports."""

    def uut(
        self,
        *,
        part_number: str,
        serial_number: str,
        revision: str,
        process_code: int,
        operator: str = "",
        **fields: Any,
    ) -> UUTBuilder:
        """Start a test report from this client's station; see :class:`~pywats.UUTBuilder`."""
        return UUTBuilder(
            part_number=part_number,
            serial_number=serial_number,
            revision=revision,
            process_code=process_code,
            operator=operator,
            station=self._station,
            **fields,
        )

    def uur(self, uut: UUTReport, *, operator: str = "", process_code: int = 500) -> UURBuilder:
        """Start a repair report of the unit ``uut`` tested, from this client's station."""
        return UURBuilder.from_uut(
            uut, operator=operator, station=self._station, process_code=process_code
        )

    async def submit(
        self, report: ReportBase | dict[str, Any], *, validate: bool = True
    ) -> uuid.UUID:
        """Submit a report (WSJF); return its id. Resubmitting the same id overwrites it.

        Raises:
            ReportValidationError: the report breaks a WATS rule (nothing was sent).
            WATSBadRequestError: WATS refused the report; ``wats_message`` says why.
        """
        return await self._runner.run(_calls.submit(report, validate=validate))

    async def submit_wsjf(self, document: str | bytes) -> uuid.UUID:
        """Submit WSJF bytes exactly as given (no validation, no re-serialisation).

        For stored reports (the station's queue): what was queued is what is sent.

        Raises:
            WATSBadRequestError: WATS refused the report; ``wats_message`` says why.
        """
        return await self._runner.run(_calls.submit_wsjf(document))

    async def submit_wsxf(self, document: str | bytes) -> uuid.UUID | str:
        """Submit a WSXF (XML) document as it is; return the id WATS answers."""
        return await self._runner.run(_calls.submit_wsxf(document))

    async def get(self, report_id: uuid.UUID | str) -> UUTReport | UURReport:
        """Return the report with this id.

        Raises:
            WATSNotFoundError: WATS has no report with this id.
        """
        return await self._runner.run(_calls.get_report(report_id))

    async def get_wsxf(self, report_id: uuid.UUID | str) -> bytes:
        """Return the report with this id as WSXF (XML bytes)."""
        return await self._runner.run(_calls.get_report_wsxf(report_id))

    async def query_headers(
        self,
        filter: Filter | str | None = None,
        *,
        report_type: str = "U",
        serial_number: str | None = None,
        part_number: str | None = None,
        revision: str | None = None,
        result: str | None = None,
        process_code: int | None = None,
        station_name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        top: int | None = None,
        skip: int | None = None,
        orderby: str | None = None,
        expand: Iterable[str] | str | None = None,
    ) -> list[ReportHeader]:
        """Return report headers matching an OData ``filter`` and the keyword filters.

        Args:
            filter: an OData expression (see :mod:`pywats.odata`).
            report_type: ``"U"`` for test reports, ``"R"`` for repair reports.
            serial_number: only this serial number.
            part_number: only this part number.
            revision: only this revision.
            result: only this result letter (``"P"``, ``"F"``, ...).
            process_code: only this process.
            station_name: only this station.
            since: started at or after (a naive datetime is local time).
            until: started at or before.
            top: at most this many.
            skip: skip this many first.
            orderby: e.g. ``"start desc"``.
            expand: also return ``subUnits``, ``miscInfo``, ``assets``.
        """
        call = _calls.query_headers(
            filter,
            report_type=report_type,
            serial_number=serial_number,
            part_number=part_number,
            revision=revision,
            result=result,
            process_code=process_code,
            station_name=station_name,
            since=since,
            until=until,
            top=top,
            skip=skip,
            orderby=orderby,
            expand=expand,
        )
        return await self._runner.run(call)

    async def query_by_misc_info(
        self, description: str, value: str, *, top: int | None = None
    ) -> list[ReportHeader]:
        """Return headers of reports with a misc info ``description`` equal to ``value``."""
        return await self._runner.run(_calls.query_by_misc_info(description, value, top=top))


class AsyncProductAPI(_Domain):
    """Products and their revisions."""

    async def get(self, part_number: str) -> Product:
        """Return the product.

        Raises:
            WATSNotFoundError: no such product.
        """
        return await self._runner.run(_calls.get_product(part_number))

    async def put(self, product: Product | dict[str, Any]) -> Product:
        """Create or update a product (by part number); return it as WATS stored it."""
        return await self._runner.run(_calls.put_product(product))

    async def put_many(self, products: Iterable[Product | dict[str, Any]]) -> list[Product]:
        """Create or update several products in one call."""
        return await self._runner.run(_calls.put_products(products))

    async def query(
        self,
        filter: Filter | str | None = None,
        *,
        top: int | None = None,
        skip: int | None = None,
        orderby: str | None = None,
    ) -> list[Product]:
        """Return products matching an OData ``filter``."""
        return await self._runner.run(
            _calls.query_products(filter, top=top, skip=skip, orderby=orderby)
        )

    async def get_revision(self, part_number: str, revision: str) -> ProductRevision:
        """Return one revision of a product."""
        return await self._runner.run(_calls.get_revision(part_number, revision))

    async def put_revision(self, revision: ProductRevision | dict[str, Any]) -> ProductRevision:
        """Create or update a revision (``part_number`` names its product)."""
        return await self._runner.run(_calls.put_revision(revision))

    async def delete(self, part_number: str, revision: str | None = None) -> None:
        """Delete a product, or only one of its revisions."""
        return await self._runner.run(_calls.delete_product(part_number, revision))


class AsyncProductionAPI(_Domain):
    """Units, their phases, processes, tags and children; serial numbers."""

    async def get_unit(self, serial_number: str, part_number: str) -> Unit:
        """Return a unit.

        Raises:
            WATSNotFoundError: no such unit.
        """
        return await self._runner.run(_calls.get_unit(serial_number, part_number))

    async def put_units(self, units: Iterable[Unit | dict[str, Any]]) -> list[Unit]:
        """Create or update units; return them as stored (empty if WATS returns a summary)."""
        return await self._runner.run(_calls.put_units(units))

    async def create_unit(self, unit: Unit | dict[str, Any]) -> None:
        """Create one unit.

        Raises:
            WATSConflictError: the unit exists.
        """
        return await self._runner.run(_calls.create_unit(unit))

    async def update_unit(self, unit: Unit | dict[str, Any]) -> None:
        """Update one unit."""
        return await self._runner.run(_calls.update_unit(unit))

    async def delete_unit(self, serial_number: str, part_number: str) -> None:
        """Delete one unit."""
        return await self._runner.run(_calls.delete_unit(serial_number, part_number))

    async def query_units(
        self,
        filter: Filter | str | None = None,
        *,
        top: int | None = None,
        skip: int | None = None,
        orderby: str | None = None,
    ) -> list[Unit]:
        """Return units matching an OData ``filter``."""
        return await self._runner.run(
            _calls.query_units(filter, top=top, skip=skip, orderby=orderby)
        )

    async def set_phase(self, serial_number: str, part_number: str, phase: str | int) -> None:
        """Move a unit to a production phase."""
        return await self._runner.run(_calls.set_unit_phase(serial_number, part_number, phase))

    async def set_process(self, serial_number: str, part_number: str, process_code: int) -> None:
        """Set the process a unit is at."""
        return await self._runner.run(
            _calls.set_unit_process(serial_number, part_number, process_code)
        )

    async def set_tag(self, serial_number: str, part_number: str, key: str, value: str) -> None:
        """Set a tag on a unit."""
        return await self._runner.run(_calls.set_unit_tag(serial_number, part_number, key, value))

    async def add_child(
        self,
        parent_serial_number: str,
        parent_part_number: str,
        child_serial_number: str,
        child_part_number: str,
    ) -> None:
        """Assemble a child unit into a parent unit."""
        call = _calls.child_unit(
            "AddChildUnit",
            parent_serial_number,
            parent_part_number,
            child_serial_number,
            child_part_number,
        )
        return await self._runner.run(call)

    async def remove_child(
        self,
        parent_serial_number: str,
        parent_part_number: str,
        child_serial_number: str,
        child_part_number: str,
    ) -> None:
        """Remove a child unit from a parent unit."""
        call = _calls.child_unit(
            "RemoveChildUnit",
            parent_serial_number,
            parent_part_number,
            child_serial_number,
            child_part_number,
        )
        return await self._runner.run(call)

    async def verify(
        self, serial_number: str, part_number: str, revision: str | None = None
    ) -> UnitVerification:
        """Return whether the unit passed the processes it needs."""
        return await self._runner.run(_calls.verify_unit(serial_number, part_number, revision))

    async def serial_number_types(self) -> list[SerialNumberType]:
        """Return the serial-number series WATS hands out numbers from."""
        return await self._runner.run(_calls.serial_number_types())

    async def take_serial_numbers(
        self,
        serial_number_type: str,
        quantity: int = 1,
        *,
        ref_serial_number: str | None = None,
        ref_part_number: str | None = None,
    ) -> list[str]:
        """Take ``quantity`` new serial numbers of a type (for this client's station)."""
        call = _calls.take_serial_numbers(
            serial_number_type,
            quantity,
            ref_serial_number=ref_serial_number,
            ref_part_number=ref_part_number,
            station_name=self._station.name,
        )
        return await self._runner.run(call)


class AsyncAssetAPI(_Domain):
    """Test assets (fixtures, instruments): records, types, state, counts, calibration, log.

    Calls on one asset take ``asset_id=`` or ``serial_number=`` (exactly one).
    """

    async def get(self, id_or_serial: uuid.UUID | str) -> Asset:
        """Return an asset by its id or serial number.

        Raises:
            WATSNotFoundError: no such asset.
        """
        return await self._runner.run(_calls.get_asset(id_or_serial))

    async def query(
        self,
        filter: Filter | str | None = None,
        *,
        top: int | None = None,
        skip: int | None = None,
        orderby: str | None = None,
    ) -> list[Asset]:
        """Return assets matching an OData ``filter``."""
        return await self._runner.run(
            _calls.query_assets(filter, top=top, skip=skip, orderby=orderby)
        )

    async def put(self, asset: Asset | dict[str, Any]) -> Asset:
        """Create or update an asset (create needs ``serial_number`` and ``type_id``)."""
        return await self._runner.run(_calls.put_asset(asset))

    async def delete(
        self, *, asset_id: uuid.UUID | str | None = None, serial_number: str | None = None
    ) -> None:
        """Delete an asset."""
        return await self._runner.run(
            _calls.delete_asset(_calls.asset_key(asset_id, serial_number))
        )

    async def types(self) -> list[AssetType]:
        """Return the asset types."""
        return await self._runner.run(_calls.asset_types())

    async def put_type(self, asset_type: AssetType | dict[str, Any]) -> AssetType:
        """Create or update an asset type."""
        return await self._runner.run(_calls.put_asset_type(asset_type))

    async def status(
        self, *, asset_id: uuid.UUID | str | None = None, serial_number: str | None = None
    ) -> dict[str, Any]:
        """Return an asset's status (counts and calibration/maintenance due)."""
        return await self._runner.run(
            _calls.asset_status(_calls.asset_key(asset_id, serial_number))
        )

    async def set_state(
        self,
        state: int,
        *,
        asset_id: uuid.UUID | str | None = None,
        serial_number: str | None = None,
    ) -> None:
        """Set an asset's state (0-6)."""
        key = _calls.asset_key(asset_id, serial_number)
        return await self._runner.run(_calls.set_asset_state(key, state))

    async def set_count(
        self,
        *,
        asset_id: uuid.UUID | str | None = None,
        serial_number: str | None = None,
        total_count: int | None = None,
        increment_by: int | None = None,
    ) -> None:
        """Set the total count, or add ``increment_by`` uses to the counts."""
        key = _calls.asset_key(asset_id, serial_number)
        call = _calls.asset_count(key, total_count=total_count, increment_by=increment_by)
        return await self._runner.run(call)

    async def reset_running_count(
        self, *, asset_id: uuid.UUID | str | None = None, serial_number: str | None = None
    ) -> None:
        """Reset the running count (after maintenance)."""
        key = _calls.asset_key(asset_id, serial_number)
        return await self._runner.run(_calls.asset_action("ResetRunningCount", key))

    async def calibrate(
        self,
        *,
        asset_id: uuid.UUID | str | None = None,
        serial_number: str | None = None,
        when: datetime | None = None,
        comment: str | None = None,
    ) -> None:
        """Record a calibration (``when`` defaults to now on the server)."""
        key = _calls.asset_key(asset_id, serial_number)
        return await self._runner.run(
            _calls.asset_action("Calibration", key, when=when, comment=comment)
        )

    async def maintain(
        self,
        *,
        asset_id: uuid.UUID | str | None = None,
        serial_number: str | None = None,
        when: datetime | None = None,
        comment: str | None = None,
    ) -> None:
        """Record a maintenance (``when`` defaults to now on the server)."""
        key = _calls.asset_key(asset_id, serial_number)
        return await self._runner.run(
            _calls.asset_action("Maintenance", key, when=when, comment=comment)
        )

    async def log(
        self,
        filter: Filter | str | None = None,
        *,
        asset_id: uuid.UUID | str | None = None,
        serial_number: str | None = None,
        top: int | None = None,
        skip: int | None = None,
        orderby: str | None = None,
    ) -> list[AssetLogEntry]:
        """Return log entries of one asset, or of all assets when neither key is given."""
        key = None
        if asset_id is not None or serial_number is not None:
            key = _calls.asset_key(asset_id, serial_number)
        call = _calls.asset_log(key, filter, top=top, skip=skip, orderby=orderby)
        return await self._runner.run(call)

    async def message(
        self,
        message: str,
        *,
        asset_id: uuid.UUID | str | None = None,
        serial_number: str | None = None,
        user: str | None = None,
    ) -> None:
        """Write a message into an asset's log."""
        key = _calls.asset_key(asset_id, serial_number)
        return await self._runner.run(_calls.asset_message(key, message, user))
