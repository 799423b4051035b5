"""The ``projectx`` command against the emulator over a socket."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from typer.testing import CliRunner

from projectx.cli import app

if TYPE_CHECKING:
    from conftest import Gateway

runner = CliRunner()


@pytest.fixture
def env(start_gateway: Callable[..., Gateway], monkeypatch: pytest.MonkeyPatch) -> Gateway:
    gw = start_gateway(real_clock=True)
    for key, value in {
        "PROJECTX_API_URL": f"{gw.url}/api",
        "PROJECTX_USERNAME": "trader",
        "PROJECTX_API_KEY": "emulator-key-1",
        "PROJECTX_HTTP2": "false",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PROJECTX_ACCOUNT", raising=False)
    return gw


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_accounts_and_positions_print_json_lines(env: Gateway) -> None:
    result = runner.invoke(app, ["accounts"])
    assert result.exit_code == 0, result.output
    assert [a["name"] for a in lines(result.stdout)] == ["PRAC-V2-EMU-1", "EMU-COMBINE-150K"]
    result = runner.invoke(app, ["--account", "EMU-COMBINE-150K", "positions"])
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == []


def test_contracts_search_and_front_month(env: Gateway) -> None:
    result = runner.invoke(app, ["contracts", "MNQ"])
    assert result.exit_code == 0, result.output
    assert len(lines(result.stdout)) >= 2
    result = runner.invoke(app, ["contracts", "MNQ", "--front"])
    [front] = lines(result.stdout)
    assert front["active_contract"] is True


def test_orders_place_list_and_cancel(env: Gateway) -> None:
    contract = lines(runner.invoke(app, ["contracts", "MNQ", "--front"]).stdout)[0]["id"]
    placed = runner.invoke(
        app, ["orders", "place", str(contract), "buy", "1", "--limit", "20000", "--tag", "cli-1"]
    )
    assert placed.exit_code == 0, placed.output
    order_id = json.loads(placed.stdout)["orderId"]
    listed = lines(runner.invoke(app, ["orders", "list", "--open"]).stdout)
    assert [(o["id"], o["custom_tag"]) for o in listed] == [(order_id, "cli-1")]
    stop = runner.invoke(app, ["orders", "place", str(contract), "sell", "1", "--stop", "19000"])
    assert stop.exit_code == 0, stop.output
    market = runner.invoke(app, ["orders", "place", str(contract), "buy", "1"])
    assert market.exit_code == 0, market.output
    cancelled = runner.invoke(app, ["orders", "cancel", str(order_id)])
    assert json.loads(cancelled.stdout) == {"cancelled": order_id}
    every = lines(runner.invoke(app, ["orders", "list"]).stdout)
    assert len(every) == 3
    again = runner.invoke(app, ["orders", "cancel", str(order_id)])
    assert again.exit_code == 1
    assert "Order/cancel failed" in again.stderr
    bad_side = runner.invoke(app, ["orders", "place", str(contract), "hold", "1"])
    assert bad_side.exit_code == 2


def test_bars_to_csv_stdout_and_to_parquet(env: Gateway, tmp_path: Path) -> None:
    contract = "CON.F.US.MNQ.Z26"
    result = runner.invoke(app, ["bars", contract, "--days", "0.1", "--unit", "minute"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header == "timestamp,open,high,low,close,volume"
    out = tmp_path / "bars.parquet"
    start = "2026-01-05T00:00:00+00:00"
    result = runner.invoke(
        app,
        ["bars", contract, "--start", start, "--days", "1", "--unit", "hour", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    assert frame.columns == ["timestamp", "open", "high", "low", "close", "volume"]
    assert f"wrote {frame.height} bars" in result.stderr
    csv = tmp_path / "bars.csv"
    result = runner.invoke(app, ["bars", contract, "--days", "0.1", "--out", str(csv)])
    assert result.exit_code == 0, result.output
    assert csv.read_text().startswith("timestamp,")
    assert runner.invoke(app, ["bars", contract]).exit_code == 2
    assert (
        runner.invoke(app, ["bars", contract, "--days", "1", "--unit", "fortnight"]).exit_code == 2
    )


def test_failures_exit_with_a_reason_on_stderr(
    env: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECTX_API_KEY", "wrong")
    refused = runner.invoke(app, ["accounts"])
    assert refused.exit_code == 1
    assert "InvalidCredentials" in refused.stderr
    assert refused.stdout == ""
    monkeypatch.delenv("PROJECTX_USERNAME")
    missing = runner.invoke(app, ["accounts"])
    assert missing.exit_code == 2
    assert "PROJECTX_USERNAME" in missing.stderr


def test_help_is_fast_and_imports_no_client() -> None:
    code = (
        "import sys\nfrom projectx.cli import app\n"
        "print([m for m in ('polars', 'httpx2', 'projectx._client') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    shown = subprocess.run(
        [sys.executable, "-m", "projectx.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "bars" in shown.stdout
