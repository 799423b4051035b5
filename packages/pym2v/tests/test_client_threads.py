"""The blocking client's long fetches: the event loop thread they run in, and its lifetime."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import threading

from pym2v import EurogardAPI, Settings

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def test_long_fetches_share_one_loop_thread_until_close(
    settings: Settings, uuid: str, names: list[str]
) -> None:
    def loops() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "pym2v-batches"]

    before = len(loops())
    api = EurogardAPI(settings)
    for _ in range(2):
        frame = api.get_long_frame_from_names(uuid, names[:1], START, START + DAY, 3600, HOUR * 6)
        assert frame.height == 24
    assert len(loops()) == before + 1
    api.close()
    assert len(loops()) == before


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
