"""The timeline command line, against a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from timeline_support import tamper
from typer.testing import CliRunner

from timeline.cli import app


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("TIMELINE_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, timeline.cli\n"
        "heavy = ('fastapi', 'sqlalchemy', 'alembic', 'cryptography')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run(
        [sys.executable, "-m", "timeline", "--help"], check=True, capture_output=True, text=True
    )
    assert "serve" in out.stdout
    assert "verify" in out.stdout


def test_migrate_create_tenant_checkpoint_and_verify(workdir: Path) -> None:
    runner = CliRunner()
    url = f"sqlite+aiosqlite:///{workdir / 'cli.db'}"
    migrated = runner.invoke(app, ["migrate", "--database-url", url])
    assert migrated.exit_code == 0, migrated.output
    created = runner.invoke(
        app,
        ["tenant", "create", "acme", "--database-url", url],
        input="hunter2-long\nhunter2-long\n",
    )
    assert created.exit_code == 0, created.output
    tenant = json.loads(created.stdout.strip().splitlines()[-1])
    assert tenant["code"] == "acme"
    again = runner.invoke(
        app, ["tenant", "create", "acme", "--database-url", url, "--admin-password", "hunter2-long"]
    )
    assert again.exit_code == 1
    assert "taken" in again.stderr
    short = runner.invoke(
        app, ["tenant", "create", "beta", "--database-url", url, "--admin-password", "short"]
    )
    assert short.exit_code == 2

    checkpoint = runner.invoke(app, ["checkpoint", "--tenant", "acme", "--database-url", url])
    assert checkpoint.exit_code == 0, checkpoint.output
    export = workdir / "checkpoint.json"
    export.write_text(checkpoint.stdout)
    assert json.loads(checkpoint.stdout)["subject_count"] == 1  # the audit chain

    ok = runner.invoke(app, ["verify", "--tenant", "acme", "--database-url", url])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["status"] == "valid"
    assert "valid" in ok.stderr

    tamper(url, ("UPDATE event SET payload = '{}' WHERE seq = 1", {}))
    bad = runner.invoke(
        app, ["verify", "--tenant", "acme", "--database-url", url, "--checkpoint", str(export)]
    )
    assert bad.exit_code == 1
    findings = json.loads(bad.stdout)["findings"]
    assert findings[0]["code"] == "HASH_MISMATCH"
    audit_subject = findings[0]["subject_id"]
    one = runner.invoke(
        app, ["verify", "--tenant", "acme", "--subject", audit_subject, "--database-url", url]
    )
    assert one.exit_code == 1

    unknown = runner.invoke(app, ["verify", "--tenant", "nope", "--database-url", url])
    assert unknown.exit_code == 2
    unknown = runner.invoke(app, ["checkpoint", "--tenant", "nope", "--database-url", url])
    assert unknown.exit_code == 2


def test_tenant_create_migrates_the_default_sqlite_file(workdir: Path) -> None:
    result = CliRunner().invoke(
        app, ["tenant", "create", "first", "--admin-password", "long-enough-pw"]
    )
    assert result.exit_code == 0, result.output
    assert (workdir / "timeline.db").exists()


def test_serve_migrates_once_then_hands_the_factory_to_uvicorn(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    # uvicorn.run blocks until the server stops; record what it was asked to run instead.
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    url = f"sqlite+aiosqlite:///{workdir / 'served.db'}"
    # The command sets these for its workers; monkeypatch removes them again afterwards.
    monkeypatch.setenv("TIMELINE_DATABASE_URL", "unused")
    monkeypatch.setenv("TIMELINE_AUTO_MIGRATE", "true")
    result = CliRunner().invoke(
        app, ["serve", "--port", "8123", "--workers", "3", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert calls == [
        (
            ("timeline._app:app_from_env",),
            {
                "factory": True,
                "host": "127.0.0.1",
                "port": 8123,
                "workers": 3,
                "log_level": "info",
            },
        )
    ]
    assert os.environ["TIMELINE_DATABASE_URL"] == url
    assert os.environ["TIMELINE_AUTO_MIGRATE"] == "false"  # workers must not race to migrate
    assert (workdir / "served.db").exists()
    assert "http://127.0.0.1:8123" in result.stderr
