"""The blocking client's long fetches: the worker threads they run on, and their lifetime."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import threading
from typing import Any
from unittest import mock

from pym2v import EurogardAPI, Settings

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def test_long_fetches_leave_no_worker_thread_behind(
    settings: Settings, uuid: str, names: list[str]
) -> None:
    def workers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("pym2v-batch")]

    with EurogardAPI(settings, max_concurrent_requests=3) as api:
        seen: set[str] = set()
        real_send = api._send_chunks

        def spy(*args: Any) -> Any:
            seen.add(threading.current_thread().name)
            return real_send(*args)

        for _ in range(2):
            with mock.patch.object(api, "_send_chunks", spy):
                frame = api.get_long_frame_from_names(
                    uuid, names[:1], START, START + DAY, 3600, HOUR * 6
                )
            assert frame.height == 24
            assert workers() == []
    # The requests went out from the worker threads, several of them.
    assert len(seen) > 1
    assert all(name.startswith("pym2v-batch") for name in seen)


def test_an_unclosed_client_lets_the_interpreter_exit(settings: Settings, uuid: str) -> None:
    url, user, password = settings.base_url, settings.username, settings.password
    client_id, client_secret = settings.client_id, settings.client_secret
    script = textwrap.dedent(
        f"""
        import datetime as dt
        from pym2v import EurogardAPI, Settings
        api = EurogardAPI(Settings(base_url={url!r}, username={user!r},
                                   password={password.get_secret_value()!r},
                                   client_id={client_id!r},
                                   client_secret={client_secret.get_secret_value()!r}))
        start = dt.datetime(2025, 1, 1)
        frame = api.get_long_frame_from_names(
            {uuid!r}, ["MW-pH"], start, start + dt.timedelta(hours=2), 60, 3600
        )
        print(frame.height)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["120"]
