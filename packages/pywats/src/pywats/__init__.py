"""pywats: the WATS manufacturing test-data API, sync and async.

Build test (UUT) and repair (UUR) reports, submit them to WATS, query them back, and manage
products, units, serial numbers and test assets::

    from pywats import WATS

    with WATS("http://127.0.0.1:8088", username="wats", password="wats") as wats:
        report = (
            wats.report.uut(part_number="PN-1", serial_number="SN-1", revision="A", process_code=10)
            .numeric("Voltage", 5.02, unit="V", low=4.5, high=5.5)
            .build()
        )
        wats.report.submit(report)

Names are imported lazily on first use, so ``import pywats`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corekit.lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from pywats._builder import SequenceBuilder, Station, UURBuilder, UUTBuilder
    from pywats._client import WATS, AsyncWATS
    from pywats._report import (
        AssetUsage,
        BinaryData,
        Failure,
        MiscInfo,
        SubUnit,
        UURInfo,
        UURReport,
        UURSubUnit,
        UUTInfo,
        UUTReport,
        parse_report,
    )
    from pywats._resources import (
        Asset,
        AssetLogEntry,
        AssetType,
        Process,
        Product,
        ProductRevision,
        ReportHeader,
        SerialNumberType,
        Tag,
        Unit,
        UnitVerification,
    )
    from pywats._settings import WATSSettings
    from pywats._steps import (
        ActionStep,
        Attachment,
        BooleanMeasurement,
        BooleanStep,
        Chart,
        GenericStep,
        NumericMeasurement,
        NumericStep,
        SeqCallInfo,
        SequenceCall,
        Step,
        StringMeasurement,
        StringStep,
    )
    from pywats._validation import validate_report
    from pywats._wire import CompOp, ReportResult, StepGroup, StepStatus
    from pywats._wsxf import from_wsxf, to_wsxf
    from pywats.errors import (
        PyWATSError,
        ReportValidationError,
        ValidationIssue,
        WATSAuthenticationError,
        WATSBadRequestError,
        WATSConfigurationError,
        WATSConflictError,
        WATSConnectError,
        WATSNotFoundError,
        WATSOperationError,
        WATSRateLimitedError,
        WATSServerError,
        WATSStatusError,
        WATSTimeoutError,
        WATSTransportError,
        WATSUnavailableError,
    )
    from pywats.odata import F, Filter

_LAZY = {
    "pywats._builder": ("SequenceBuilder", "Station", "UURBuilder", "UUTBuilder"),
    "pywats._client": ("WATS", "AsyncWATS"),
    "pywats._report": (
        "AssetUsage",
        "BinaryData",
        "Failure",
        "MiscInfo",
        "SubUnit",
        "UURInfo",
        "UURReport",
        "UURSubUnit",
        "UUTInfo",
        "UUTReport",
        "parse_report",
    ),
    "pywats._resources": (
        "Asset",
        "AssetLogEntry",
        "AssetType",
        "Process",
        "Product",
        "ProductRevision",
        "ReportHeader",
        "SerialNumberType",
        "Tag",
        "Unit",
        "UnitVerification",
    ),
    "pywats._settings": ("WATSSettings",),
    "pywats._steps": (
        "ActionStep",
        "Attachment",
        "BooleanMeasurement",
        "BooleanStep",
        "Chart",
        "GenericStep",
        "NumericMeasurement",
        "NumericStep",
        "SeqCallInfo",
        "SequenceCall",
        "Step",
        "StringMeasurement",
        "StringStep",
    ),
    "pywats._validation": ("validate_report",),
    "pywats._wire": ("CompOp", "ReportResult", "StepGroup", "StepStatus"),
    "pywats._wsxf": ("from_wsxf", "to_wsxf"),
    "pywats.errors": (
        "PyWATSError",
        "ReportValidationError",
        "ValidationIssue",
        "WATSAuthenticationError",
        "WATSBadRequestError",
        "WATSConfigurationError",
        "WATSConflictError",
        "WATSConnectError",
        "WATSNotFoundError",
        "WATSOperationError",
        "WATSRateLimitedError",
        "WATSServerError",
        "WATSStatusError",
        "WATSTimeoutError",
        "WATSTransportError",
        "WATSUnavailableError",
    ),
    "pywats.odata": ("F", "Filter"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "WATS",
    "ActionStep",
    "Asset",
    "AssetLogEntry",
    "AssetType",
    "AssetUsage",
    "AsyncWATS",
    "Attachment",
    "BinaryData",
    "BooleanMeasurement",
    "BooleanStep",
    "Chart",
    "CompOp",
    "F",
    "Failure",
    "Filter",
    "GenericStep",
    "MiscInfo",
    "NumericMeasurement",
    "NumericStep",
    "Process",
    "Product",
    "ProductRevision",
    "PyWATSError",
    "ReportHeader",
    "ReportResult",
    "ReportValidationError",
    "SeqCallInfo",
    "SequenceBuilder",
    "SequenceCall",
    "SerialNumberType",
    "Station",
    "Step",
    "StepGroup",
    "StepStatus",
    "StringMeasurement",
    "StringStep",
    "SubUnit",
    "Tag",
    "UURBuilder",
    "UURInfo",
    "UURReport",
    "UURSubUnit",
    "UUTBuilder",
    "UUTInfo",
    "UUTReport",
    "Unit",
    "UnitVerification",
    "ValidationIssue",
    "WATSAuthenticationError",
    "WATSBadRequestError",
    "WATSConfigurationError",
    "WATSConflictError",
    "WATSConnectError",
    "WATSNotFoundError",
    "WATSOperationError",
    "WATSRateLimitedError",
    "WATSServerError",
    "WATSSettings",
    "WATSStatusError",
    "WATSTimeoutError",
    "WATSTransportError",
    "WATSUnavailableError",
    "__version__",
    "from_wsxf",
    "parse_report",
    "to_wsxf",
    "validate_report",
]


__getattr__, __dir__ = _lazy_exports(__name__, _WHERE, __all__, distribution="pywats")
