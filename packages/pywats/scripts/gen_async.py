"""Generate ``pywats/_aapi.py`` (the async domains) from ``pywats/_api.py`` (the sync ones).

Both faces send the same :class:`~pywats._transport.Call` objects; only ``await`` differs.
Writing the async file by hand would let the two drift, so it is derived:
``python packages/pywats/scripts/gen_async.py`` rewrites it (and formats it with ruff), and a
test fails when it is stale.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "pywats"
SYNC_ONLY = {"__init__", "uut", "uur"}
HEADER = '''"""The domains of the async client: the same surface as :mod:`pywats._api`, awaited.

Generated from ``_api.py`` by ``packages/pywats/scripts/gen_async.py``; do not edit by hand.
"""
'''


def _convert(line: str) -> str:
    line = line.replace("SyncRunner", "AsyncRunner")
    line = re.sub(r"^class (\w+API)\(", r"class Async\1(", line)
    match = re.match(r"^    def (\w+)\(", line)
    if match and match.group(1) not in SYNC_ONLY:
        line = line.replace("    def ", "    async def ", 1)
    return line.replace("return self._runner.run(", "return await self._runner.run(")


def generate(sync_source: str) -> str:
    """Return the async module's source for the sync module's source."""
    body = sync_source.split('"""', 2)[2]
    return HEADER + "\n".join(_convert(line) for line in body.splitlines()) + "\n"


def main() -> int:
    """Rewrite ``_aapi.py`` and format it."""
    target = SRC / "_aapi.py"
    target.write_text(generate((SRC / "_api.py").read_text()))
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    subprocess.run([ruff, "format", str(target)], check=True)
    sys.stderr.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
