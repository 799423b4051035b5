"""``pywats station ...`` and ``pywats gui`` through typer's runner, on a real queue file."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from typer.testing import CliRunner

from pywats.cli import app
from pywats.station._credentials import CredentialStore
from pywats.station._queue import ReportQueue

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("PYWATS_STATION_CONFIG", "PYWATS_STATION_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _root_logging() -> Iterator[None]:
    """``station run`` installs a stderr handler: undo it (the runner's stream closes)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(
        '[server]\nurl = "http://127.0.0.1:9"\nusername = "op"\n'
        '[queue]\npath = "q.sqlite"\n[health]\nport = 1\n'
    )
    return path


@pytest.fixture
def queued(tmp_path: Path, config: Path, report_file: Callable[..., tuple[str, Path]]) -> list[str]:
    ids = []
    with ReportQueue(tmp_path / "q.sqlite") as queue:
        for i in range(3):
            report_id, path = report_file(tmp_path, i)
            queue.enqueue(path.read_bytes(), source=path.name)
            ids.append(report_id)
    return ids


def station(config: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["station", "--config", str(config), *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_queue_commands(tmp_path: Path, config: Path, queued: list[str]) -> None:
    code, out, err = station(config, "queue", "list")
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert sorted(r[0] for r in rows) == sorted(queued)
    assert {r[1] for r in rows} == {"pending"}
    assert "3 shown; queue: pending 3" in err

    code, out, _ = station(config, "queue", "list", "--state", "pending", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["report_id"] for r in records} == set(queued)
    assert records[0]["attempts"] == 0
    assert records[0]["serial_number"].startswith("SN-")

    code, out, _ = station(config, "queue", "list", "--state", "bogus")
    assert code == 2

    first, second, _third = queued
    code, out, _ = station(config, "queue", "hold", first, second)
    assert (code, out.strip()) == (0, "2 report(s) held")
    code, out, _ = station(config, "queue", "list", "--state", "held")
    assert sorted(line.split("\t")[0] for line in out.splitlines()) == sorted([first, second])
    assert station(config, "queue", "release", first)[1].strip() == "1 report(s) released"
    assert station(config, "queue", "requeue", second)[1].strip() == "1 report(s) requeued"
    assert station(config, "queue", "retry")[1].strip() == "0 report(s) set to retry now"
    assert station(config, "queue", "purge", "--older-than-days", "0")[1].strip() == (
        "0 report(s) purged"
    )

    code, out, _ = station(config, "queue", "show", first)
    shown = json.loads(out)
    assert shown["report_id"] == first
    assert shown["state"] == "pending"
    assert [h["outcome"] for h in shown["history"]] == ["held", "released"]

    code, _, err = station(config, "queue", "show", "00000000-0000-0000-0000-000000000000")
    assert code == 1
    assert "no report" in err

    code, out, _ = station(config, "queue", "export", first, "--to", str(tmp_path / "out"))
    assert code == 0
    written = sorted(Path(p).name for p in out.splitlines())
    assert written == [f"{first}.history.json", f"{first}.wsjf"]
    assert json.loads((tmp_path / "out" / f"{first}.wsjf").read_text())["id"] == first


def test_queue_without_a_queue_file(config: Path) -> None:
    code, _, err = station(config, "queue", "list")
    assert code == 1
    assert "has not run yet" in err


def test_missing_config_exits_2(tmp_path: Path) -> None:
    code, _, err = station(tmp_path / "none.toml", "config")
    assert code == 2
    assert "no station config" in err


def test_config_shows_effective_values(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYWATS_STATION_QUEUE__CONCURRENCY", "3")
    code, out, err = station(config, "config")
    assert code == 0
    assert "concurrency = 3" in out
    assert 'username = "op"' in out
    assert str(config) in err


def test_login_and_logout(tmp_path: Path, config: Path) -> None:
    code, _, err = station(config, "login", "--password-stdin", stdin="pa55word\n")
    assert code == 0, err
    assert "stored in" in err
    assert "pa55word" not in err
    stored = CredentialStore(tmp_path, environ={}).get_password("http://127.0.0.1:9", "op")
    assert stored is not None
    assert stored.get_secret_value() == "pa55word"
    assert b"pa55word" not in (tmp_path / "credentials.enc").read_bytes()

    code, _, err = station(config, "login", "--url", "http://x", "--username", "u", stdin="s\n")
    assert code == 0, err
    assert CredentialStore(tmp_path, environ={}).get_password("http://x", "u") is not None

    code, _, err = station(config, "login", "--password-stdin", stdin="\n")
    assert code == 2
    assert "empty" in err

    assert station(config, "logout")[2].strip() == "password removed"
    assert station(config, "logout")[2].strip() == "no password was stored"


def test_login_and_logout_need_a_server(tmp_path: Path) -> None:
    bare = tmp_path / "bare.toml"
    bare.write_text("")
    code, _, err = station(bare, "login", "--password-stdin", stdin="x\n")
    assert code == 2
    assert "--url and --username" in err
    code, _, err = station(bare, "logout")
    assert code == 2
    code, _, err = station(tmp_path / "absent.toml", "login", "--url", "u", "--username", "n",
                           "--password-stdin", stdin="pw\n")  # fmt: skip
    assert code == 0, err


def test_converters_lists_builtins(config: Path) -> None:
    code, out, _ = station(config, "converters")
    assert code == 0
    names = {line.split("\t")[0] for line in out.splitlines()}
    assert {"wsjf", "wsxf", "csv"} <= names


def test_status(tmp_path: Path) -> None:
    document = {"ready": True, "queue": {"counts": {"done": 1}}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = tmp_path / "s.toml"
        path.write_text(f'[health]\nhost = "0.0.0.0"\nport = {server.server_address[1]}\n')
        code, out, _ = station(path, "status")
        assert code == 0
        assert json.loads(out) == document
    finally:
        server.shutdown()
        server.server_close()


def test_status_when_not_running(config: Path) -> None:
    code, _, err = station(config, "status")
    assert code == 1
    assert "does not answer" in err


def test_run_with_bad_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[queue]\npath = "q.sqlite"\n[health]\nport = 0\n')
    code, _, err = station(path, "run")
    assert code == 2
    assert "[server] url and username" in err


def test_gui_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pywats.gui", None)
    result = runner.invoke(app, ["gui"])
    assert result.exit_code == 2
    assert "pip install 'pywats[gui]'" in result.stderr


def test_gui_starts_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    started: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        started.append(argv)
        return 3 if "--log-file" in argv else 0

    fake = types.ModuleType("pywats.gui")
    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pywats.gui", fake)
    assert runner.invoke(app, ["gui"]).exit_code == 0
    assert runner.invoke(app, ["gui", "--config", "st.toml", "--poll", "2"]).exit_code == 0
    assert runner.invoke(app, ["gui", "--log-file", "x.log"]).exit_code == 3  # its exit code
    assert started == [
        ["--poll", "5.0"],
        ["--poll", "2.0", "--config", "st.toml"],
        ["--poll", "5.0", "--log-file", "x.log"],
    ]


def test_help_lists_station_commands() -> None:
    result = runner.invoke(app, ["station", "--help"])
    assert result.exit_code == 0
    for command in ("run", "login", "queue", "converters", "status"):
        assert command in result.stdout
