"""Crash test: SIGKILL a process in the middle of atomic writes, then inspect the file.

Each version is large (so a kill often lands inside a write) and self-describing: a header
with its number and length, a body of one repeated byte, a trailer. After every kill the
target must parse as one complete version, and anything else in the directory must be one of
atomic_write's dot-prefixed temp files.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from corekit.files import atomic_write

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

WRITER = textwrap.dedent(
    """
    import sys
    from corekit.files import atomic_write

    target, first = sys.argv[1], int(sys.argv[2])
    version = first
    while True:
        size = 1_000_000 + (version * 7919) % 1_000_000
        body = bytes([version % 251]) * size
        atomic_write(target, b"v%d %d\\n" % (version, size) + body + b"\\nend v%d\\n" % version)
        if version == first:
            print("wrote", flush=True)
        version += 1
    """
)

HEADER = re.compile(rb"v(\d+) (\d+)\n")


def parse_version(data: bytes) -> int:
    """Return the version number of a complete file, or fail the test."""
    header = HEADER.match(data)
    assert header is not None, f"bad header: {data[:40]!r} ({len(data)} bytes)"
    version, size = int(header[1]), int(header[2])
    body = data[header.end() : header.end() + size]
    assert body == bytes([version % 251]) * size, f"torn body in version {version}"
    assert data[header.end() + size :] == b"\nend v%d\n" % version, f"torn end of v{version}"
    return version


def test_sigkill_during_atomic_writes_never_tears_the_file(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    atomic_write(target, b"v0 3\n\x00\x00\x00\nend v0\n")
    temp_name = re.compile(r"\.blob\.bin\.[^/]+\.tmp")
    rng = random.Random(1234)
    seen_versions: list[int] = []
    strays = 0
    for kill in range(1, 9):
        first = kill * 1_000_000
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), str(first)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "wrote\n"
            time.sleep(rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        version = parse_version(target.read_bytes())
        assert first <= version < first + 1_000_000  # a version this process wrote
        seen_versions.append(version)
        others = [n for n in os.listdir(tmp_path) if n != target.name]
        assert all(temp_name.fullmatch(n) for n in others), others
        strays += len(others)
        for name in others:  # what a cleanup after a crash would do
            os.unlink(tmp_path / name)
    # Not an assertion on timing, just evidence the kills landed in varied places.
    print(f"versions at kill: {seen_versions}; stray temp files: {strays}")
