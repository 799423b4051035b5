"""Property tests: any value survives WSJF and WSXF round trips in meaning."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pywats import CompOp, Station, UUTBuilder, from_wsxf, parse_report, to_wsxf
from pywats.odata import literal

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    str.strip
)
NUMBERS = st.floats(allow_nan=True, allow_infinity=True)


def report_with(name: str, text: str, value: float, low: float, high: float) -> UUTBuilder:
    b = UUTBuilder(
        part_number="PN",
        serial_number="SN",
        revision="A",
        process_code=10,
        station=Station("ST"),
    )
    b.misc(name[:100], text)
    with b.sequence(name[:100]) as seq:
        seq.numeric(name[:100], value, low=low, high=high, unit=text[:10])
        seq.numeric("log", value, comp=CompOp.LOG)
        seq.string(name[:100], text, limit=text)
    return b


@settings(max_examples=60, deadline=None)
@given(name=TEXT, text=TEXT, value=NUMBERS, low=NUMBERS, high=NUMBERS)
def test_wsjf_and_wsxf_round_trips(
    name: str, text: str, value: float, low: float, high: float
) -> None:
    report = report_with(name, text, value, low, high).build()
    wire = json.loads(report.to_wsjf())  # plain JSON: NaN and infinities are strings
    assert json.loads(parse_report(report.to_wsjf()).to_wsjf()) == wire
    (from_xml,) = from_wsxf(to_wsxf(report))
    assert json.loads(from_xml.to_wsjf()) == wire


@given(st.text(max_size=30))
def test_odata_strings_are_always_one_quoted_literal(value: str) -> None:
    quoted = literal(value)
    assert quoted.startswith("'")
    assert quoted.endswith("'")
    inner = quoted[1:-1]
    # Every quote inside is doubled, so the literal cannot end early.
    assert inner.replace("''", "").count("'") == 0
    assert inner.replace("''", "'") == value
