"""A long fetch draws a progress bar only when asked for, and imports tqdm only then."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pym2v import Settings
from pym2v._progress import progress_bar
from pym2v.emulator import Emulator

# Both clients fetch two days in one-day batches (the batched path, which owns the bar), in
# a fresh interpreter so that no other test has imported tqdm already.
_FETCH = """
import asyncio, datetime as dt, json, sys
from pym2v import AsyncEurogardAPI, EurogardAPI, Settings

cfg = json.loads(sys.argv[1])
start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
args = (cfg["uuid"], cfg["names"], start, start + dt.timedelta(days=2),
        dt.timedelta(minutes=1), dt.timedelta(days=1))
with EurogardAPI(Settings(**cfg["settings"])) as api:
    blocking = api.get_long_frame_from_names(*args).height

async def fetch():
    async with AsyncEurogardAPI(Settings(**cfg["settings"])) as api:
        return (await api.get_long_frame_from_names(*args)).height

print(json.dumps([blocking, asyncio.run(fetch()), "tqdm" in sys.modules]))
"""


def test_a_fetch_without_a_bar_never_imports_tqdm(
    realtime: tuple[Emulator, str], settings: Settings
) -> None:
    app, url = realtime  # the same accounts as the fake-clock emulator, on the real clock
    machine = next(iter(app.state.catalogue.machines.values()))
    cfg = {
        "settings": {
            "base_url": url,
            **settings.model_dump(include={"username", "client_id"}),
            "password": settings.password.get_secret_value(),
            "client_secret": settings.client_secret.get_secret_value(),
        },
        "uuid": next(iter(app.state.catalogue.machines)),
        "names": [m.entity["name"] for m in machine.measurements][:2],
    }
    done = subprocess.run(
        [sys.executable, "-c", _FETCH, json.dumps(cfg)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2 * 1440, 2 * 1440, False]


def test_a_disabled_bar_counts_nothing_and_closes(capsys: pytest.CaptureFixture[str]) -> None:
    bar = progress_bar(3, enabled=False)
    bar.update(1)
    bar.update(2)
    bar.close()
    assert capsys.readouterr() == ("", "")


def test_an_enabled_bar_draws_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    bar = progress_bar(2, enabled=True)
    bar.update(1)
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "pym2v:" in captured.err
    assert "/2 [" in captured.err
