"""The ``pywats`` command against the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corekit.testing import FaultInjector
from pywats import Station, UUTBuilder, to_wsxf
from pywats.cli import app


@pytest.fixture
def cli(base_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PYWATS_BASE_URL", base_url)
    monkeypatch.setenv("PYWATS_USERNAME", "operator")
    monkeypatch.setenv("PYWATS_PASSWORD", "s3cret")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return CliRunner()


def report_file(tmp_path: Path, serial: str, *, xml: bool = False) -> Path:
    report = (
        UUTBuilder(
            part_number="PN-CLI",
            serial_number=serial,
            revision="A",
            process_code=10,
            station=Station("CLI-ST"),
        )
        .numeric("V", 5.0, low=4.0, high=6.0)
        .build()
    )
    path = tmp_path / (f"{serial}.xml" if xml else f"{serial}.json")
    path.write_bytes(to_wsxf(report) if xml else report.to_wsjf())
    return path


def test_version_and_processes(cli: CliRunner) -> None:
    result = cli.invoke(app, ["version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "2026.3.0\n"
    result = cli.invoke(app, ["processes"])
    assert result.exit_code == 0
    assert "500\trepair\tRepair" in result.stdout.splitlines()
    assert "90\t" not in result.stdout
    assert "90\ttest\t" in cli.invoke(app, ["processes", "--inactive"]).stdout


def test_client_version_flag(cli: CliRunner) -> None:
    result = cli.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("pywats ")


def test_submit_query_and_get(cli: CliRunner, tmp_path: Path) -> None:
    files = [report_file(tmp_path, "C-1"), report_file(tmp_path, "C-2", xml=True)]
    result = cli.invoke(app, ["report", "submit", *map(str, files)])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(f) for f in files]
    assert "submitting" in result.stderr  # the progress bar
    result = cli.invoke(app, ["report", "query", "--pn", "PN-CLI", "--top", "10"])
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert sorted(r[2] for r in rows) == ["C-1", "C-2"]
    assert {r[5] for r in rows} == {"CLI-ST"}
    report_id = lines[0].split("\t")[1]
    result = cli.invoke(app, ["report", "get", report_id])
    assert json.loads(result.stdout)["sn"] == "C-1"
    result = cli.invoke(
        app,
        ["report", "query", "--sn", "C-2", "--since", "2020-01-01", "--json", "--result", "P"],
    )
    assert json.loads(result.stdout)["serialNumber"] == "C-2"
    result = cli.invoke(app, ["report", "query", "--repairs"])
    assert result.exit_code == 0
    assert result.stdout == ""


def test_submit_reports_each_bad_file_and_fails(
    cli: CliRunner, tmp_path: Path, emulator: FaultInjector
) -> None:
    good = report_file(tmp_path, "G-1")
    invalid = tmp_path / "invalid.json"
    data = json.loads(good.read_bytes())
    data["sn"] = ""
    invalid.write_text(json.dumps(data))
    missing = tmp_path / "missing.json"
    garbled = tmp_path / "garbled.json"
    garbled.write_bytes(b'{"id": "truncated')
    files = [invalid, missing, garbled, good]
    result = cli.invoke(app, ["report", "submit", *map(str, files)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{good}\t")
    assert "invalid.json: the report is not valid WSJF: sn: must not be empty" in result.stderr
    assert "missing.json: cannot read" in result.stderr
    assert "garbled.json: the report is not valid WSJF: <report>: not JSON" in result.stderr
    assert "3 of 4 files failed" in result.stderr
    assert len(emulator.calls("POST")) == 1


def test_lookups(cli: CliRunner, tmp_path: Path) -> None:
    cli.invoke(app, ["report", "submit", str(report_file(tmp_path, "L-1"))])
    product = json.loads(cli.invoke(app, ["product", "get", "PN-CLI"]).stdout)
    assert product["partNumber"] == "PN-CLI"
    unit = json.loads(cli.invoke(app, ["unit", "get", "L-1", "PN-CLI"]).stdout)
    assert unit["serialNumber"] == "L-1"
    verdict = json.loads(cli.invoke(app, ["unit", "verify", "L-1", "PN-CLI"]).stdout)
    assert verdict["status"] == "Passed"


def test_failures_are_clear(cli: CliRunner, base_url: str, tmp_path: Path) -> None:
    result = cli.invoke(app, ["asset", "get", "nope"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: GET /api/Asset/nope -> 404")
    result = cli.invoke(app, ["--password", "wrong", "version"])
    assert result.exit_code == 1
    assert "401" in result.stderr
    assert "wrong" not in result.stderr
    result = cli.invoke(app, ["--url", "ftp://x", "version"])
    assert result.exit_code == 2
    assert "PYWATS_BASE_URL" in result.stderr
    result = cli.invoke(app, ["report", "query", "--since", "last week"])
    assert result.exit_code == 2
    assert "ISO-8601" in result.stderr
    env = tmp_path / "wats.env"
    env.write_text("PYWATS_TIMEOUT=3\n")
    result = cli.invoke(
        app,
        ["--env-file", str(env), "--url", base_url, "--token", "b3BlcmF0b3I6czNjcmV0", "version"],
    )
    assert result.exit_code == 0, result.stderr


def test_help_does_not_import_the_client() -> None:
    code = (
        "import sys\n"
        "from pywats.cli import app\n"
        "print(','.join(m for m in ('pydantic', 'corekit.http', 'tqdm') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
