"""Run the unmodified pywats-api 0.6.0rc1 client's core flows against our WATS emulator.

Usage (what ``uv run nox -s "upstream(package='pywats')"`` runs)::

    python packages/pywats/upstream/check.py --upstream-python /path/to/py312/bin/python

Starts ``python -m pywats.emulator`` from this interpreter on a free loopback port, waits until
it answers, runs ``flows.py`` beside this file with the upstream interpreter (which has
``requirements.txt`` installed), stops the emulator and exits with the flows' status: non-zero
when any flow failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 30.0
FLOWS_TIMEOUT = 600.0


def say(line: str) -> None:
    """A progress line on stdout (flushed: the subprocesses write to the same terminal)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll ``/api/health`` until the emulator answers; exit if it dies or never answers."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the emulator exited with status {process.returncode} before it answered")
        health = f"{url}/api/health"
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(health, timeout=2) as response,  # noqa: S310 - loopback URL
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    sys.exit(f"the emulator did not answer on {url} within {STARTUP_TIMEOUT:.0f} s")


def main() -> int:
    """Start the emulator, run the flows against it, stop it; 1 when any flow failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-python", required=True, help="interpreter with pywats-api")
    parser.add_argument("--flows", default=str(HERE / "flows.py"), help="the flows script to run")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    username, password = "upstream", secrets.token_urlsafe(12)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "pywats.emulator", "--host", "127.0.0.1", "--port", str(port),
         "--username", username, "--password", password, "--log-level", "warning"],
    )  # fmt: skip
    try:
        wait_until_up(url, emulator)
        say(f"emulator up on {url}; running {args.flows}")
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        flows = subprocess.run(
            [args.upstream_python, args.flows, "--url", url, "--username", username,
             "--password", password],
            env=env,
            timeout=FLOWS_TIMEOUT,
            check=False,
        )  # fmt: skip
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.wait()
    if flows.returncode:
        say(f"{flows.returncode} upstream flow(s) failed")
        return 1
    say("all upstream flows passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
