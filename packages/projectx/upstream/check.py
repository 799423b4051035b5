"""Start our emulator and run the unmodified project-x-py against it.

    python packages/projectx/upstream/check.py --upstream-python /path/to/py312/bin/python

The emulator runs from this interpreter (``python -m projectx.emulator``) on a free loopback
port; ``flows.py`` runs with the upstream interpreter, which has project-x-py 4.4.1 installed
from ``requirements.txt``. Exits non-zero if the emulator does not come up or any flow fails.
``nox -s "upstream(package='projectx')"`` builds the upstream venv and runs this.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
USERNAME = "upstream-check"
API_KEY = "upstream-check-api-key"
# The upstream re-logs-in before every call when its token has under 5 minutes left.
TOKEN_LIFETIME = 3_600


def say(line: str) -> None:
    """Report on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, emulator: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll the emulator's ping until it answers.

    Raises:
        SystemExit: the emulator exited or did not answer in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.poll() is not None:
            raise SystemExit(f"the emulator exited with status {emulator.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/Status/ping", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise SystemExit(f"the emulator did not answer {url}/Status/ping within {timeout} s")


def main() -> int:
    """Run the check; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-python", required=True, help="Python 3.12 with project-x-py")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "projectx.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--username",
            USERNAME,
            "--api-key",
            API_KEY,
            "--token-lifetime",
            str(TOKEN_LIFETIME),
            "--log-level",
            "warning",
        ]
    )
    try:
        wait_until_up(url, emulator)
        flows = [
            args.upstream_python,
            str(HERE / "flows.py"),
            "--api-url",
            url,
            "--username",
            USERNAME,
            "--api-key",
            API_KEY,
        ]
        status = subprocess.run(flows, check=False, timeout=600).returncode
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    say(f"upstream check: {'passed' if status == 0 else f'{status} flow(s) failed'}")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
