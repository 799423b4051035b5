"""Products, revisions, units, assets, processes and report headers as WATS sends them.

Every field is optional except the keys WATS needs to store the record, and unknown fields
are kept, so a record read, changed and written back loses nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from pywats._wire import ResourceModel


class Tag(ResourceModel):
    """A ``key: value`` tag on a product, revision, unit or asset."""

    key: str
    value: str | None = None


class ProductRevision(ResourceModel):
    """A revision of a product."""

    revision: str
    part_number: str | None = None
    name: str | None = None
    description: str | None = None
    state: int | None = None
    product_revision_id: UUID | None = None
    product_id: UUID | None = None
    tags: list[Tag] = Field(default_factory=list)


class Product(ResourceModel):
    """A product (part number) with its revisions."""

    part_number: str
    name: str | None = None
    description: str | None = None
    non_serial: bool = False
    state: int | None = None
    product_id: UUID | None = None
    product_category_id: UUID | None = None
    product_category_name: str | None = None
    revisions: list[ProductRevision] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)


class Unit(ResourceModel):
    """A produced unit, keyed by serial number and part number."""

    serial_number: str
    part_number: str
    revision: str | None = None
    parent_serial_number: str | None = None
    batch_number: str | None = None
    serial_date: datetime | None = None
    current_location: str | None = None
    unit_phase_id: int | None = None
    unit_phase: str | None = None
    process_code: int | None = None
    tags: list[Tag] = Field(default_factory=list)
    sub_units: list[dict[str, Any]] = Field(default_factory=list)


class UnitVerification(ResourceModel):
    """Whether a unit has passed the processes it needs (``status``, ``grade``)."""

    status: str | None = None
    grade: str | None = None
    results: list[dict[str, Any]] = Field(default_factory=list)


class SerialNumberType(ResourceModel):
    """A serial-number series WATS can hand out numbers from."""

    name: str
    description: str | None = None
    format: str | None = None


class AssetType(ResourceModel):
    """A kind of asset (fixture, instrument) with its calibration and maintenance rules."""

    type_name: str
    type_id: UUID | None = None
    calibration_interval: float | None = None
    maintenance_interval: float | None = None
    running_count_limit: int | None = None
    total_count_limit: int | None = None


class Asset(ResourceModel):
    """A test asset: fixture, instrument, cable, with its counts and dates."""

    serial_number: str
    type_id: UUID | None = None
    asset_id: UUID | None = None
    asset_name: str | None = None
    part_number: str | None = None
    revision: str | None = None
    parent_asset_id: UUID | None = None
    parent_serial_number: str | None = None
    state: int | None = None
    description: str | None = None
    location: str | None = None
    total_count: int | None = None
    running_count: int | None = None
    last_calibration_date: datetime | None = None
    next_calibration_date: datetime | None = None
    last_maintenance_date: datetime | None = None
    next_maintenance_date: datetime | None = None
    tags: list[Tag] = Field(default_factory=list)
    asset_type: AssetType | None = None


class AssetLogEntry(ResourceModel):
    """One entry of an asset's log.

    ``type``: 0 message, 1 register, 2 update, 3 count reset, 4 calibration, 5 maintenance,
    6 state change.
    """

    log_id: int | None = None
    asset_id: UUID | None = None
    serial_number: str | None = None
    type: int | None = None
    date: datetime | None = None
    user: str | None = None
    comment: str | None = None


class Process(ResourceModel):
    """A process (operation): a test, repair or WIP step a unit goes through."""

    code: int
    name: str
    description: str | None = None
    is_test_operation: bool = False
    is_repair_operation: bool = False
    is_wip_operation: bool = False
    process_index: int | None = None
    state: int | None = None


class HeaderSubUnit(ResourceModel):
    """A sub-unit listed in a report header."""

    serial_number: str | None = None
    part_number: str | None = None
    revision: str | None = None
    part_type: str | None = None


class HeaderMiscInfo(ResourceModel):
    """A misc info listed in a report header."""

    description: str | None = None
    value: str | None = None


class ReportHeader(ResourceModel):
    """The summary WATS keeps of a submitted report (what a header query returns)."""

    uuid: UUID
    serial_number: str | None = None
    part_number: str | None = None
    revision: str | None = None
    report_type: str | None = None
    station_name: str | None = None
    location: str | None = None
    purpose: str | None = None
    process_code: int | None = None
    process_name: str | None = None
    result: str | None = None
    start_utc: datetime | None = None
    operator: str | None = None
    comment: str | None = None
    execution_time: float | None = None
    fixture_id: str | None = None
    batch_number: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    receive_count: int | None = None
    report_size: int | None = None
    sub_units: list[HeaderSubUnit] | None = None
    misc_info: list[HeaderMiscInfo] | None = None
    assets: list[dict[str, Any]] | None = None
