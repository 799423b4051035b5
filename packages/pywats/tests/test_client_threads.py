"""One sync client shared by 20 threads (upstream's sync client broke under threads)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from corekit.testing import FakeClock, FaultInjector
from pywats import WATS, UUTReport

THREADS = 20


@pytest.fixture
def shared(base_url: str) -> Iterator[WATS]:
    from pywats import Station

    with WATS(
        base_url,
        username="operator",
        password="s3cret",
        station=Station("ST-T"),
        clock=FakeClock(),
        trust_env=False,
    ) as client:
        yield client


def test_twenty_threads_share_one_client(shared: WATS, emulator: FaultInjector) -> None:
    barrier = threading.Barrier(THREADS)
    # Some calls meet a transient failure, so retries run concurrently with other calls too.
    emulator.fail("/api/Report/WSJF", 503, count=5)

    def work(n: int) -> tuple[UUTReport, object, int]:
        report = (
            shared.report.uut(
                part_number="PN-T", serial_number=f"T-{n:02d}", revision="A", process_code=10
            )
            .numeric("V", n / 10, low=0.0, high=10.0)
            .build()
        )
        barrier.wait(timeout=30)
        shared.report.submit(report)
        back = shared.report.get(report.id)
        headers = shared.report.query_headers(serial_number=f"T-{n:02d}")
        return report, back, len(headers)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))

    for report, back, count in results:
        assert isinstance(back, UUTReport)
        assert back.to_dict() == report.to_dict()
        assert count == 1
    assert len(shared.report.query_headers(part_number="PN-T")) == THREADS
    posts = emulator.calls("POST", "/api/Report/WSJF")
    assert [c.status for c in posts].count(503) == 5
    assert [c.status for c in posts].count(200) == THREADS
