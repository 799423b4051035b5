"""parquetframe beside parquetframe 2.0.0 and raw polars, measured in one run.

Workloads (issue 9, part 10; reference study section 9):

* W1  read + filter + group-by on a ~1 GB Parquet file; target within 1.1x raw polars.
* W3  Avro round trip of 1M rows with exact values; target >= 20x faster than 2.0.0.
* W4  100,000 sequential entity saves (target < 60 s) and ``find`` by key (median < 5 ms).
* W5  ``import parquetframe`` (target < 0.3 s).

Every measurement runs in a fresh process (one warm-up, then ``BENCH_REPEAT`` timed runs,
median and min). Results of every side are written to files and checked for equality here; a
wrong answer is reported as FAIL, not as a time.

Data is generated deterministically (numpy ``default_rng(SEED)``, 1M-row row groups written in
chunks) into ``$PARQUETFRAME_BENCH_DIR`` (default: the temp dir) and reused by later runs.
parquetframe 2.0.0 ships wheels for CPython 3.11 only (its sdist needs a Rust toolchain):
``nox -s bench`` builds its venv (``$UPSTREAM_PYTHON``) with the Python named in
``packages/parquetframe/upstream/.python-version``.

Run with ``uv run nox -s bench -- parquetframe``; ``BENCH_ROWS`` shrinks the big file for a
quick try (default 28,000,000 rows, about 1 GB).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import polars.selectors as cs
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20_260_101
ROWS = int(os.environ.get("BENCH_ROWS", "28000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
UPSTREAM_REPEAT = int(os.environ.get("BENCH_UPSTREAM_REPEAT", "2"))
ENTITY_SAVES = int(os.environ.get("BENCH_ENTITY_SAVES", "100000"))
UPSTREAM_SAVE_SECONDS = float(os.environ.get("BENCH_UPSTREAM_SAVE_SECONDS", "30"))
CHUNK = 2_000_000
ROW_GROUP = 1_000_000
ROOT = Path(__file__).resolve().parents[3]
DATA = Path(os.environ.get("PARQUETFRAME_BENCH_DIR", tempfile.gettempdir())) / (
    f"parquetframe-bench-{SEED}-{ROWS}"
)
CATEGORIES = [f"cat{i:03d}" for i in range(100)]
WANTED = CATEGORIES[:20]
THREADS = {"POLARS_MAX_THREADS": str(os.cpu_count() or 1), "OMP_NUM_THREADS": "1"}


# -- data -----------------------------------------------------------------------------------
def _strings(rng: np.random.Generator, n: int, low: int, high: int) -> pa.Array:
    """Random lowercase strings built straight into Arrow buffers (no Python objects)."""
    lengths = rng.integers(low, high + 1, n, dtype=np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    chars = rng.integers(97, 123, int(offsets[-1]), dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))


def _chunk(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    maybe = rng.integers(0, 1000, n).astype(np.float64)
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "category": pa.array(np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)]),
            "store": pa.array(rng.integers(0, 50, n, dtype=np.int32)),
            "price": pa.array(np.round(rng.gamma(2.0, 60.0, n), 2)),
            "qty": pa.array(rng.integers(1, 20, n, dtype=np.int32)),
            "ts": pa.array(
                np.datetime64("2024-01-01T00:00:00", "us")
                + rng.integers(0, 365 * 86_400_000_000, n).astype("timedelta64[us]")
            ),
            "note": _strings(rng, n, 10, 40),
            "maybe_int": pa.array(maybe, mask=rng.random(n) < 0.05),
            "phone": pa.array(rng.integers(10**12, 10**13, n, dtype=np.int64)),
        }
    )


def generate() -> dict[str, Path]:
    """The benchmark's files, generated once per seed and size."""
    DATA.mkdir(parents=True, exist_ok=True)
    big, m1 = DATA / "big.parquet", DATA / "m1.parquet"
    if not big.exists():
        rng = np.random.default_rng(SEED)
        partial = DATA / "big.parquet.partial"
        writer = None
        for start in range(0, ROWS, CHUNK):
            table = _chunk(rng, start, min(CHUNK, ROWS - start))
            writer = writer or pq.ParquetWriter(partial, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=ROW_GROUP)
        assert writer is not None
        writer.close()
        partial.rename(big)
    if not m1.exists():
        pl.scan_parquet(big).head(1_000_000).sink_parquet(m1)
    return {"big": big, "m1": m1}


# -- running one side in a fresh process -------------------------------------------------------
_PRELUDE = """
import json, sys, time
args = json.loads(sys.argv[1])
def done(**fields):
    # VmHWM is this process's own peak; ru_maxrss would include the parent's peak at fork.
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    print("RESULT " + json.dumps({"rss_mb": round(kb / 1024), **fields}))
"""


def run(python: str, body: str, **args: Any) -> dict[str, Any]:
    """Run ``body`` in a fresh ``python``; it calls ``done(seconds=...)``."""
    code = _PRELUDE + textwrap.dedent(body)
    env = {**os.environ, **THREADS}
    proc = subprocess.run(
        [python, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": tail[:200]}


def repeat(python: str, body: str, *, times: int = REPEAT, **args: Any) -> dict[str, Any]:
    """One warm-up, then ``times`` timed runs; median and min of ``seconds``."""
    warm = run(python, body, **args)
    if "error" in warm:
        return warm
    runs = [run(python, body, **args) for _ in range(times)]
    errors = [r for r in runs if "error" in r]
    if errors:
        return errors[0]
    seconds = [r["seconds"] for r in runs]
    return {
        **runs[-1],
        "seconds": statistics.median(seconds),
        "min": min(seconds),
        "rss_mb": max(r["rss_mb"] for r in runs),
    }


def upstream_python() -> str | None:
    """The interpreter from ``$UPSTREAM_PYTHON`` if it imports 2.0.0, else None."""
    check = "import parquetframe, sys; sys.exit(parquetframe.__version__ != '2.0.0')"
    given = os.environ.get("UPSTREAM_PYTHON")
    if (
        given
        and subprocess.run([given, "-c", check], capture_output=True, check=False).returncode == 0
    ):
        return given
    return None


# -- workloads -------------------------------------------------------------------------------
# One-time costs (imports of polars, pyarrow, pydantic; polars' thread pool; narwhals' backend
# modules) are paid before the clock starts by a tiny query on each side. W1 also reports one
# "cold" run per side with those costs inside the clock, and W5 the bare import.
_WARM = """
import polars as pl
import pyarrow.parquet, psutil
import parquetframe as pf
pf.get_config()
tiny = pf.Frame(pl.LazyFrame({"a": [1, 2]})).filter(pf.col("a") > 1)
tiny.group_by("a").agg(pf.len()).to_polars()
"""
_COLD = """
t = time.perf_counter()
import parquetframe as pf
"""
_COLD_POLARS = """
t = time.perf_counter()
import polars as pl
"""
_WARM_POLARS = """
import polars as pl
pl.LazyFrame({"a": [1, 2]}).filter(pl.col("a") > 1).group_by("a").agg(pl.len()).collect()
"""

_W1_OURS_BODY = """
frame = pf.read(args["path"])
out = (
    frame.filter((pf.col("price") > 100) & pf.col("category").is_in(args["cats"]))
    .group_by("category", "store")
    .agg(pf.col("qty").sum().alias("qty"), pf.col("price").mean().alias("mean_price"),
         pf.len().alias("n"))
    .sort("category", "store")
    .to_polars()
)
seconds = time.perf_counter() - t
out.write_parquet(args["out"])
done(seconds=seconds, engine=frame.engine)
"""
W1_OURS = _WARM + "t = time.perf_counter()\n" + _W1_OURS_BODY
W1_OURS_COLD = _COLD + _W1_OURS_BODY

_W1_POLARS_BODY = """
out = (
    pl.scan_parquet(args["path"])
    .filter((pl.col("price") > 100) & pl.col("category").is_in(args["cats"]))
    .group_by("category", "store")
    .agg(pl.col("qty").sum().alias("qty"), pl.col("price").mean().alias("mean_price"),
         pl.len().alias("n"))
    .sort("category", "store")
    .collect()
)
seconds = time.perf_counter() - t
out.write_parquet(args["out"])
done(seconds=seconds, engine="polars")
"""
W1_POLARS = _WARM_POLARS + "t = time.perf_counter()\n" + _W1_POLARS_BODY
W1_POLARS_COLD = _COLD_POLARS + _W1_POLARS_BODY

# parquetframe 2.0.0's most favourable documented path: auto engine, then the native
# polars query, since its proxy cannot group a polars frame itself.
W1_UPSTREAM = """
import parquetframe as pf
import polars as pl
t = time.perf_counter()
proxy = pf.read(args["path"])
native = proxy.native
engine = proxy.engine_name
if isinstance(native, pl.LazyFrame):
    out = (
        native.filter((pl.col("price") > 100) & pl.col("category").is_in(args["cats"]))
        .group_by("category", "store")
        .agg(pl.col("qty").sum().alias("qty"), pl.col("price").mean().alias("mean_price"),
             pl.len().alias("n"))
        .sort("category", "store")
        .collect()
    )
else:
    df = native[(native["price"] > 100) & native["category"].isin(args["cats"])]
    df = df.groupby(["category", "store"]).agg(
        qty=("qty", "sum"), mean_price=("price", "mean"), n=("qty", "size"))
    if hasattr(df, "compute"):
        df = df.compute()
    out = pl.from_pandas(df.reset_index()).sort("category", "store")
seconds = time.perf_counter() - t
out.write_parquet(args["out"])
done(seconds=seconds, engine=engine)
"""

W3_OURS = (
    _WARM
    + """
source = pf.read(args["path"]).collect()
t = time.perf_counter()
source.write(args["avro"])
t_write = time.perf_counter() - t
back = pf.read(args["avro"]).to_polars()
seconds = time.perf_counter() - t
back.write_parquet(args["out"])
done(seconds=seconds, write=t_write, read=seconds - t_write)
"""
)

W3_UPSTREAM = """
import parquetframe as pf
import polars as pl
source = pf.read_parquet(args["path"], engine="pandas")
if args["drop"]:
    source = pf.ParquetFrame(source.native.drop(columns=args["drop"]))
t = time.perf_counter()
source.to_avro(args["avro"])
t_write = time.perf_counter() - t
back = pf.read_avro(args["avro"]).native
seconds = time.perf_counter() - t
if hasattr(back, "compute"):
    back = back.compute()
if not isinstance(back, pl.DataFrame):
    back = pl.from_pandas(back)
back.write_parquet(args["out"])
done(seconds=seconds, write=t_write, read=seconds - t_write)
"""

W4_OURS = """
import dataclasses, datetime as dt, random
import parquetframe as pf

@pf.entity(args["dir"], primary_key="user_id")
@dataclasses.dataclass
class User:
    user_id: int
    name: str
    email: str
    created: dt.datetime
    score: float | None

def user(i):
    created = dt.datetime(2024, 1, 1) + dt.timedelta(seconds=i)
    return User(i, f"user {i}", f"u{i}@example.com", created, None if i % 10 == 0 else i / 3)

t = time.perf_counter()
saved = 0
for i in range(args["n"]):
    user(i).save()
    saved += 1
    if time.perf_counter() - t > args["cap"]:
        break
save_seconds = time.perf_counter() - t
rng = random.Random(7)
latencies, ok = [], True
for _ in range(args["finds"]):
    key = rng.randrange(saved)
    s = time.perf_counter()
    found = User.find(key)
    latencies.append(time.perf_counter() - s)
    ok = ok and found == user(key)
latencies.sort()
n = len(latencies)
done(seconds=save_seconds, saved=saved, find_p50=latencies[n // 2],
     find_p99=latencies[n * 99 // 100], exact=ok, count=User.count())
"""

W4_UPSTREAM = W4_OURS.replace(
    "import parquetframe as pf\n",
    "import parquetframe as pf\nfrom parquetframe.entity import entity\n",
).replace(
    '@pf.entity(args["dir"], primary_key="user_id")',
    '@entity(storage_path=args["dir"], primary_key="user_id")',
)

W5 = """
import subprocess
best = min(
    float(subprocess.run([sys.executable, "-c",
        "import time; t = time.perf_counter(); import parquetframe; "
        "print(time.perf_counter() - t)"],
        capture_output=True, text=True, check=True).stdout)
    for _ in range(5)
)
done(seconds=best)
"""


# -- reporting -------------------------------------------------------------------------------
def _fmt(result: dict[str, Any] | None, key: str = "seconds") -> str:
    if result is None:
        return "n/a"
    if "error" in result:
        return "ERROR"
    return f"{result[key]:.3f} s" if key in result else "n/a"


def _same(a: Path, b: Path, *, exact: bool) -> str:
    try:
        left, right = pl.read_parquet(a), pl.read_parquet(b)
        if not exact:
            left = left.with_columns(cs.numeric().cast(pl.Float64))
            right = right.with_columns(cs.numeric().cast(pl.Float64))
        pl.testing.assert_frame_equal(left, right, check_dtypes=exact, rel_tol=1e-9)
    except (AssertionError, OSError, pl.exceptions.PolarsError) as exc:
        return f"FAIL ({str(exc).splitlines()[0][:80]})"
    return "equal"


def main() -> None:
    import polars.testing  # noqa: F401 - used through pl.testing

    files = generate()
    up = upstream_python()
    mem = psutil.virtual_memory().total / 2**30
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {mem:.0f} GiB RAM, "
        f"Python {platform.python_version()}, polars {pl.__version__}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    size = files["big"].stat().st_size / 2**20
    print(
        f"data: seed {SEED}, big.parquet {ROWS:,} rows {size:,.0f} MiB, m1.parquet 1,000,000 rows; "
        f"{REPEAT} timed runs after a warm-up, each in a fresh process"
    )
    print(f"upstream: {up or 'parquetframe 2.0.0 not available (no interpreter could import it)'}")
    work = Path(tempfile.mkdtemp(prefix="pf-bench-"))
    try:
        _w1(files, up, work)
        _w3(files, up, work)
        _w4(up, work)
        _w5(up)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _w1(files: dict[str, Path], up: str | None, work: Path) -> None:
    args = {"path": str(files["big"]), "cats": WANTED}
    ours = repeat(sys.executable, W1_OURS, **args, out=str(work / "w1-ours.parquet"))
    raw = repeat(sys.executable, W1_POLARS, **args, out=str(work / "w1-polars.parquet"))
    upstream = repeat(up, W1_UPSTREAM, **args, out=str(work / "w1-up.parquet")) if up else None
    cold_ours = run(sys.executable, W1_OURS_COLD, **args, out=str(work / "w1-cold.parquet"))
    cold_raw = run(sys.executable, W1_POLARS_COLD, **args, out=str(work / "w1-cold-pl.parquet"))
    print("\nW1 read + filter + group-by on big.parquet (median / min, peak RSS)")
    for name, r in (
        ("parquetframe (ours)", ours),
        ("raw polars", raw),
        ("parquetframe 2.0.0", upstream),
    ):
        extra = (
            ""
            if r is None or "error" in r
            else f" / {r['min']:.3f} s, {r['rss_mb']} MB, engine {r['engine']}"
        )
        print(f"  {name:22} {_fmt(r)}{extra}" + (f"  {r['error']}" if r and "error" in r else ""))
    if "error" not in ours and "error" not in raw:
        ratio = ours["seconds"] / raw["seconds"]
        verdict = "meets" if ratio <= 1.1 else "misses"
        print(
            f"  ours / raw polars: {ratio:.2f}x ({verdict} the 1.1x target); result vs polars: "
            f"{_same(work / 'w1-ours.parquet', work / 'w1-polars.parquet', exact=False)}"
        )
    print(
        f"  one cold run each, imports inside the clock: ours {_fmt(cold_ours)}, "
        f"raw polars {_fmt(cold_raw)}"
    )
    if upstream is not None and "error" not in upstream:
        print(
            f"  2.0.0 result vs polars: "
            f"{_same(work / 'w1-up.parquet', work / 'w1-polars.parquet', exact=False)}"
        )


def _w3(files: dict[str, Path], up: str | None, work: Path) -> None:
    args = {"path": str(files["m1"])}
    ours = repeat(
        sys.executable,
        W3_OURS,
        **args,
        avro=str(work / "o.avro"),
        out=str(work / "w3-ours.parquet"),
    )
    print("\nW3 Avro round trip, 1M rows, all columns (write + read; median)")
    if "error" in ours:
        print(f"  parquetframe (ours)    ERROR {ours['error']}")
        return
    fidelity = _same(work / "w3-ours.parquet", files["m1"], exact=True)
    print(
        f"  parquetframe (ours)    {_fmt(ours)} (write {ours['write']:.3f} s, read "
        f"{ours['read']:.3f} s), {ours['rss_mb']} MB; values and dtypes vs source: {fidelity}"
    )
    if up is None:
        return
    for label, drop in (("all columns", []), ("without maybe_int", ["maybe_int"])):
        # About 20-100 s per run, so fewer runs: the gap is far wider than run-to-run noise.
        r = repeat(
            up,
            W3_UPSTREAM,
            times=UPSTREAM_REPEAT,
            **args,
            drop=drop,
            avro=str(work / "u.avro"),
            out=str(work / "w3-up.parquet"),
        )
        if "error" in r:
            print(f"  parquetframe 2.0.0, {label}: ERROR {r['error']}")
            continue
        reference = work / "m1-cols.parquet"
        pl.read_parquet(files["m1"]).drop(drop).write_parquet(reference)
        print(
            f"  parquetframe 2.0.0, {label}: {_fmt(r)} (write {r['write']:.3f} s, read "
            f"{r['read']:.3f} s), {r['rss_mb']} MB; values vs source: "
            f"{_same(work / 'w3-up.parquet', reference, exact=True)}"
        )
        if not drop:
            continue
        speedup = r["seconds"] / ours["seconds"]
        verdict = "meets" if speedup >= 20 else "misses"
        print(f"  ours is {speedup:.1f}x faster ({verdict} the 20x target)")


def _w4(up: str | None, work: Path) -> None:
    ours = run(
        sys.executable, W4_OURS, dir=str(work / "ours-users"), n=ENTITY_SAVES, cap=600, finds=1000
    )
    print(f"\nW4 {ENTITY_SAVES:,} sequential entity saves, then 1,000 find(pk)")
    if "error" in ours:
        print(f"  parquetframe (ours)    ERROR {ours['error']}")
    else:
        verdict = "meets" if ours["seconds"] < 60 and ours["find_p50"] < 0.005 else "misses"
        print(
            f"  parquetframe (ours)    {ours['saved']:,} saves in {ours['seconds']:.1f} s "
            f"({ours['saved'] / ours['seconds']:,.0f}/s); "
            f"find p50 {ours['find_p50'] * 1000:.3f} ms, "
            f"p99 {ours['find_p99'] * 1000:.3f} ms; count {ours['count']:,}; types exact: "
            f"{ours['exact']} ({verdict} the 60 s / 5 ms targets)"
        )
    if up is None:
        return
    # Each of its finds replays the store (~0.2 s and up), so it gets 20 instead of 1,000.
    r = run(
        up,
        W4_UPSTREAM,
        dir=str(work / "up-users"),
        n=ENTITY_SAVES,
        cap=UPSTREAM_SAVE_SECONDS,
        finds=20,
    )
    if "error" in r:
        print(f"  parquetframe 2.0.0     ERROR {r['error']}")
        return
    rate = r["saved"] / r["seconds"]
    print(
        f"  parquetframe 2.0.0     DNF: {r['saved']:,} saves in {r['seconds']:.1f} s "
        f"({rate:,.1f}/s, and each save gets slower as the store grows); find p50 "
        f"{r['find_p50'] * 1000:.1f} ms on {r['saved']:,} rows (20 finds); "
        f"types exact: {r['exact']}"
    )


def _w5(up: str | None) -> None:
    ours = run(sys.executable, W5)
    upstream = run(up, W5) if up else None
    print("\nW5 import parquetframe (best of 5 fresh processes)")
    print(
        f"  parquetframe (ours)    {_fmt(ours)}"
        + (
            ""
            if "error" in ours
            else f" ({'meets' if ours['seconds'] < 0.3 else 'misses'} the 0.3 s target)"
        )
    )
    print(f"  parquetframe 2.0.0     {_fmt(upstream)}")


if __name__ == "__main__":
    main()
