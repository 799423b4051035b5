"""Run the unmodified upstream pym2v clients against our emulator; exit 1 if a flow fails.

``python check.py --upstream-python PATH`` starts ``python -m pym2v.emulator`` from the current
interpreter on a free loopback port and runs ``flows.py`` twice:

1. with ``PATH`` (a Python 3.12 venv holding ``requirements.txt``: upstream pym2v 0.2.0);
2. with a second 3.12 venv holding ``requirements-0.1.4.txt`` (upstream 0.1.4), which this
   script builds beside the first with ``uv venv`` + ``uv pip install`` unless
   ``--legacy-python`` names one; 0.1.4 runs with ``OAUTHLIB_INSECURE_TRANSPORT=1``, as it
   refuses plain HTTP otherwise.

``uv run nox -s "upstream(package='pym2v')"`` runs it. Each flow prints PASS or FAIL; the
emulator's log is printed when something fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATALOGUE = {"routers": 3, "machines": 12, "measurements": 6, "setpoints": 2}
CREDENTIALS = {
    "username": "flow-user",
    "password": "flow-password",
    "client_id": "backend",
    "client_secret": "flow-secret",
}


def say(line: str) -> None:
    """Diagnostics and results go to stdout, flushed (nox shows them as they come)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def free_port() -> int:
    """A free loopback port (the emulator binds it right after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_emulator(port: int, log: Path) -> subprocess.Popen[bytes]:
    """``python -m pym2v.emulator`` on ``port``, logging to ``log``; returns once it answers."""
    argv = [sys.executable, "-m", "pym2v.emulator", "--host", "127.0.0.1", "--port", str(port)]
    for name, value in {**CREDENTIALS, **CATALOGUE}.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    url = f"http://127.0.0.1:{port}/_emulator/faults"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return process
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                say(log.read_text(errors="replace"))
                msg = f"the emulator did not start on port {port}; its output is above"
                raise SystemExit(msg) from None
            time.sleep(0.2)


def legacy_python(upstream_python: Path) -> Path:
    """A 3.12 venv with upstream 0.1.4, built beside the 0.2.0 venv (reused when present)."""
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit(
            "uv is needed to build the pym2v 0.1.4 venv: install uv, or pass "
            "--legacy-python with a 3.12 venv holding requirements-0.1.4.txt"
        )
    venv = upstream_python.parent.parent.with_name(upstream_python.parent.parent.name + "-0.1.4")
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([uv, "venv", "--quiet", "-p", str(upstream_python), str(venv)], check=True)
    requirements = HERE / "requirements-0.1.4.txt"
    install = [uv, "pip", "install", "--quiet", "-p", str(python), "-r", str(requirements)]
    subprocess.run(install, check=True)
    return python


def run_flows(python: Path, version: str, base_url: str, *, insecure: bool) -> bool:
    """Run ``flows.py`` with ``python`` in an empty directory (no stray ``.env``)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("EUROGARD_")}
    env.update(
        {
            "EUROGARD_BASE_URL": base_url,
            "EUROGARD_USERNAME": CREDENTIALS["username"],
            "EUROGARD_PASSWORD": CREDENTIALS["password"],
            "EUROGARD_CLIENT_ID": CREDENTIALS["client_id"],
            "EUROGARD_CLIENT_SECRET": CREDENTIALS["client_secret"],
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
    if insecure:
        env["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
        env["LOGURU_LEVEL"] = "INFO"  # 0.1.4 logs every request body at DEBUG otherwise
    argv = [str(python), str(HERE / "flows.py"), "--version", version]
    for name, value in CATALOGUE.items():
        argv += [f"--{name}", str(value)]
    say(f"== upstream pym2v {version} ({python})")
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run(argv, cwd=cwd, env=env, check=False, timeout=600)
    return result.returncode == 0


def main() -> int:
    """Start the emulator, run both upstream versions' flows, stop it; 0 if all passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--upstream-python",
        type=Path,
        required=True,
        help="Python 3.12 with upstream pym2v 0.2.0 (requirements.txt)",
    )
    parser.add_argument(
        "--legacy-python",
        type=Path,
        help="Python 3.12 with upstream pym2v 0.1.4; built with uv when absent",
    )
    args = parser.parse_args()
    # Absolute, not resolved: the flows run in another directory, and resolving a venv's
    # python symlink would leave the venv.
    upstream = Path(os.path.abspath(args.upstream_python))
    legacy = Path(os.path.abspath(args.legacy_python or legacy_python(upstream)))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "emulator.log"
        emulator = start_emulator(port, log)
        try:
            ok = run_flows(upstream, "0.2.0", base_url, insecure=False)
            reset = urllib.request.Request(  # noqa: S310 - our loopback http URL
                f"{base_url}/_emulator/reset", method="POST"
            )
            urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310
            ok = run_flows(legacy, "0.1.4", base_url, insecure=True) and ok
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
        if not ok:
            say("== emulator output")
            say(log.read_text(errors="replace"))
    say("upstream check: " + ("all flows passed" if ok else "some flows FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
