"""Reading the service's /status from the real health server."""

from __future__ import annotations

import socket
from typing import Any

from pywats.gui._status import StationStatus, fetch_status


def test_fetch_reads_the_service_document(status_server: Any, status_doc: Any) -> None:
    status_server.source.document = status_doc(connected=False, last_error="503 busy")
    status = fetch_status(f"http://127.0.0.1:{status_server.port}")
    assert status.reachable
    assert status.connected is False
    assert status.last_error == "503 busy"
    assert not status.auth_problem
    assert [r["kind"] for r in status.recent] == ["submitted", "dead"]
    assert status.converters["csv"]["files"] == {"done": 3, "error": 1}
    assert "password" not in str(status.raw)


def test_a_stopped_service_is_reported_not_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status = fetch_status(f"http://127.0.0.1:{port}", timeout=2.0)
    assert not status.reachable
    assert status.error is not None
    assert str(port) in status.error


def test_a_document_that_is_not_an_object_is_refused(status_server: Any) -> None:
    status_server.source.document = []  # type: ignore[assignment]
    status = fetch_status(f"http://127.0.0.1:{status_server.port}")
    assert not status.reachable
    assert status.error is not None
    assert "not a JSON object" in status.error


def test_parsing_tolerates_missing_and_odd_fields() -> None:
    status = StationStatus.from_json(
        {
            "connected": "yes",
            "counts": {"pending": 2, "dead": "x"},
            "recent": [1, {"report_id": "a"}],
            "converters": {"csv": {"files": {}}, "bad": 3},
        }
    )
    assert status.connected is None
    assert status.counts == {"pending": 2}
    assert status.recent == [{"report_id": "a"}]
    assert list(status.converters) == ["csv"]
    empty = StationStatus.from_json({"converters": "nonsense", "server": {"last_error": ""}})
    assert empty.converters == {}
    assert empty.last_error is None
    nested = StationStatus.from_json({"queue": {"counts": {"held": 1}}, "server": []})
    assert nested.counts == {"held": 1}
