"""The ``pym2v`` command against the emulator (part 6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pym2v import Settings
from pym2v.cli import app
from pym2v.emulator import Emulator

START, END = "2025-01-01T00:00:00Z", "2025-01-03T00:00:00"


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "EUROGARD_BASE_URL": settings.base_url,
        "EUROGARD_USERNAME": settings.username,
        "EUROGARD_PASSWORD": settings.password.get_secret_value(),
        "EUROGARD_CLIENT_ID": settings.client_id,
        "EUROGARD_CLIENT_SECRET": settings.client_secret.get_secret_value(),
        "EUROGARD_RETRY_ATTEMPTS": "1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_user_info_prints_json(runner: CliRunner, env: dict[str, str]) -> None:
    result = runner.invoke(app, ["user-info"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "ada"


def test_lists_print_one_page_or_every_page(
    runner: CliRunner, env: dict[str, str], emulator: Emulator, uuid: str
) -> None:
    page = json.loads(runner.invoke(app, ["machines", "--size", "2"]).stdout)
    assert page["maxCount"] == 5
    assert len(page["entities"]) == 2
    every = json.loads(runner.invoke(app, ["machines", "--all", "--size", "2"]).stdout)
    assert len(every) == 5
    assert every[0]["uuid"] == page["entities"][0]["uuid"]
    routers = json.loads(runner.invoke(app, ["routers", "--all"]).stdout)
    assert len(routers) == 3
    assert len(json.loads(runner.invoke(app, ["routers"]).stdout)["entities"]) == 3
    measurements = json.loads(runner.invoke(app, ["measurements", uuid]).stdout)
    assert measurements["maxCount"] == 4
    assert len(json.loads(runner.invoke(app, ["measurements", uuid, "--all"]).stdout)) == 4
    setpoints = json.loads(runner.invoke(app, ["setpoints", uuid, "--all"]).stdout)
    assert len(setpoints) == 2
    assert json.loads(runner.invoke(app, ["setpoints", uuid]).stdout)["maxCount"] == 2


def test_machine_uuid_by_name(
    runner: CliRunner, env: dict[str, str], emulator: Emulator, uuid: str
) -> None:
    name = emulator.state.catalogue.machines[uuid].entity["name"]
    result = runner.invoke(app, ["machine-uuid", name])
    assert result.exit_code == 0
    assert result.stdout.strip() == uuid
    missing = runner.invoke(app, ["machine-uuid", "nope"])
    assert missing.exit_code == 1
    assert "no machine named 'nope'" in missing.stderr
    assert missing.stdout == ""


def test_data_as_csv_on_stdout_with_progress_on_stderr(
    runner: CliRunner, env: dict[str, str], uuid: str, names: list[str]
) -> None:
    args = ["data", uuid, *names[:2], "--start", START, "--end", END, "--interval", "3600"]
    result = runner.invoke(app, [*args, "--max-frame-length", "86400"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(["timestamp", *names[:2]])
    assert len(lines) == 1 + 48
    assert lines[1].startswith("2025-01-01T01:00:00.000+0000")
    assert "pym2v: 48 rows" in result.stderr
    assert "batch" in result.stderr


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_data_to_a_file(
    runner: CliRunner,
    env: dict[str, str],
    uuid: str,
    names: list[str],
    tmp_path: Path,
    fmt: str,
) -> None:
    out = tmp_path / f"frame.{fmt}"
    args = ["data", uuid, names[0], "--start", START, "--end", END, "--interval", "600"]
    result = runner.invoke(app, [*args, "--format", fmt, "--output", str(out), "--no-progress"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    frame = {
        "csv": pl.read_csv,
        "json": pl.read_json,
        "parquet": pl.read_parquet,
    }[fmt](out)
    assert frame.height == 288
    assert frame.columns == ["timestamp", names[0]]


def test_data_long_format_as_json(
    runner: CliRunner, env: dict[str, str], uuid: str, names: list[str]
) -> None:
    args = ["data", uuid, *names[:2], "--start", START, "--end", "2025-01-01T01:00:00Z"]
    result = runner.invoke(app, [*args, "--format", "json", "--long", "--no-progress"])
    rows = json.loads(result.stdout)
    assert len(rows) == 120
    assert set(rows[0]) == {"timestamp", "name", "value"}


def test_errors_are_messages_and_exit_codes(
    runner: CliRunner, env: dict[str, str], emulator: Emulator, uuid: str, tmp_path: Path
) -> None:
    bad_args = runner.invoke(app, ["data", uuid, "a", "--start", END, "--end", START])
    assert bad_args.exit_code == 2
    assert "start must be before end" in bad_args.stderr
    bad_date = runner.invoke(app, ["data", uuid, "a", "--start", "soon", "--end", END])
    assert bad_date.exit_code == 2
    parquet = runner.invoke(
        app, ["data", uuid, "a", "--start", START, "--end", END, "--format", "parquet"]
    )
    assert parquet.exit_code == 2
    assert "--output" in parquet.stderr
    emulator.fail("*/machine-gui-controller/filter", 500)
    failed = runner.invoke(app, ["machines"])
    assert failed.exit_code == 1
    assert "500" in failed.stderr
    assert env["EUROGARD_PASSWORD"] not in failed.stderr + failed.stdout
    assert failed.stdout == ""


def test_missing_settings_exit_2(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EUROGARD_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    env_file = tmp_path / "m2v.env"
    env_file.write_text("EUROGARD_USERNAME=ada\n")
    result = runner.invoke(app, ["user-info", "--env-file", str(env_file)])
    assert result.exit_code == 2
    assert "EUROGARD_BASE_URL" in result.stderr


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from pym2v.cli import app\n"
        "heavy = {'polars', 'httpx2', 'pym2v._sync'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "pym2v", "--help"], capture_output=True, text=True, check=True
    )
    assert "machine-uuid" in result.stdout
