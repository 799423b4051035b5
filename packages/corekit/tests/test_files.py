from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import corekit.files
from corekit import errors
from corekit.errors import ConfigurationError
from corekit.files import FileLock, atomic_write, atomic_writer, durable_move
from corekit.testing import FakeClock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and signals")


def temp_names(directory: Path, target: str) -> list[str]:
    return [n for n in os.listdir(directory) if n != target]


def test_public_names() -> None:
    assert corekit.files.__all__ == ["FileLock", "atomic_write", "atomic_writer", "durable_move"]


# -- atomic_write / atomic_writer ----------------------------------------------------------------


def test_atomic_write_replaces_content_bytes_and_str(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    atomic_write(target, b"first\r\n")
    assert target.read_bytes() == b"first\r\n"
    atomic_write(str(target), "zweite Größe\n", encoding="latin-1")
    assert target.read_bytes() == "zweite Größe\n".encode("latin-1")
    atomic_write(target, "ünïcode\r\n")  # no newline translation
    assert target.read_bytes() == "ünïcode\r\n".encode()
    assert os.listdir(tmp_path) == ["data.txt"]


@pytest.mark.parametrize("binary", [False, True])
def test_atomic_writer_replaces_on_clean_exit_only(tmp_path: Path, binary: bool) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    if binary:
        with atomic_writer(target, binary=True) as fb:
            fb.write(b"new ")
            fb.write(b"content")
            assert target.read_text() == "old"  # not visible before the block ends
    else:
        with atomic_writer(target) as ft:
            ft.write("new ")
            ft.write("content")
            assert target.read_text() == "old"
    assert target.read_text() == "new content"
    assert os.listdir(tmp_path) == ["state.json"]


def chunks_then_fail() -> Iterator[str]:
    yield "partial " * 10_000
    raise RuntimeError("producer failed")


@pytest.mark.parametrize("failure", ["generator", "encoding", "binary"])
def test_atomic_writer_failure_midway_keeps_old_content(tmp_path: Path, failure: str) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old content")
    with pytest.raises((RuntimeError, UnicodeEncodeError)):  # noqa: PT012
        if failure == "binary":
            with atomic_writer(target, binary=True) as fb:
                fb.write(b"x" * 1_000_000)
                raise RuntimeError("midway")
        else:
            with atomic_writer(target, encoding="ascii") as ft:
                if failure == "generator":
                    ft.writelines(chunks_then_fail())
                else:
                    ft.write("fine so far\n" * 1000)
                    ft.write("but not this: é")
    assert target.read_text() == "old content"
    assert os.listdir(tmp_path) == ["report.csv"]


def test_atomic_write_str_that_cannot_be_encoded_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with pytest.raises(UnicodeEncodeError):
        atomic_write(target, "€", encoding="ascii")
    assert os.listdir(tmp_path) == []


def test_atomic_write_keeps_existing_permissions(tmp_path: Path) -> None:
    target = tmp_path / "secret.env"
    target.write_text("A=1")
    target.chmod(0o640)
    atomic_write(target, "A=2", mode=0o666)  # mode only applies to new files
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    target.chmod(0o604)
    with atomic_writer(target) as f:
        f.write("A=3")
    assert stat.S_IMODE(target.stat().st_mode) == 0o604
    assert target.read_text() == "A=3"


def test_new_file_gets_mode_or_umask_default(tmp_path: Path) -> None:
    atomic_write(tmp_path / "private", b"x", mode=0o600)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "default", b"x")
        with atomic_writer(tmp_path / "default2", binary=True) as f:
            f.write(b"y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "default").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "default2").stat().st_mode) == 0o640


@pytest.mark.parametrize("mode", [-1, 0o10000, 1.5, True, "644"])
def test_invalid_mode_is_misuse(tmp_path: Path, mode: Any) -> None:
    with pytest.raises(ConfigurationError, match="mode") as info:
        atomic_write(tmp_path / "f", b"x", mode=mode)
    assert repr(mode) in str(info.value)
    assert os.listdir(tmp_path) == []


def test_atomic_write_through_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.conf"
    real.write_text("old")
    link = tmp_path / "link.conf"
    link.symlink_to(real)
    atomic_write(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link.conf", "real.conf"]


@pytest.mark.parametrize("char", ["a", "\N{GRINNING FACE}"])  # 1 and 4 bytes in UTF-8
def test_target_name_at_the_file_system_limit(tmp_path: Path, char: str) -> None:
    name = char * (255 // len(char.encode()))  # the longest name ext4 and tmpfs allow
    target = tmp_path / name
    target.write_text("old")
    atomic_write(target, "new")  # the temp name used to be longer than 255 bytes
    with atomic_writer(target) as f:
        f.write("newer")
    assert target.read_text() == "newer"
    assert os.listdir(tmp_path) == [name]


@pytest.mark.parametrize("data", [7, None, ["a"], bytearray(b"ba"), memoryview(b"mv")])
def test_atomic_write_data_must_be_bytes_or_str(tmp_path: Path, data: Any) -> None:
    target = tmp_path / "f"
    if isinstance(data, bytearray | memoryview):
        atomic_write(target, data)
        assert target.read_bytes() == bytes(data)
        return
    with pytest.raises(ConfigurationError, match=f"got {type(data).__name__}"):
        atomic_write(target, data)  # atomic_write(p, 7) used to write seven zero bytes
    assert os.listdir(tmp_path) == []


def test_missing_directory_raises_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "f", b"x")
    assert os.listdir(tmp_path) == []


def test_failed_rename_removes_temp_and_keeps_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "t"
    target.write_bytes(b"old")

    def broken_replace(src: Any, dst: Any) -> None:
        raise PermissionError("replace refused")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["t"]


def test_file_and_directory_are_fsynced_before_and_after_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "t"
    log: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        log.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(target, b"data")
    with atomic_writer(target) as f:
        f.write("text")
    assert log == ["fsync-file", "replace", "fsync-dir"] * 2
    assert target.read_text() == "text"


# -- durable_move ---------------------------------------------------------------------------------


def test_durable_move_renames_then_fsyncs_both_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    source = tmp_path / "a" / "r.csv"
    source.write_bytes(b"data")
    (tmp_path / "b" / "r.csv").write_bytes(b"old")
    log: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append(
            os.readlink(f"/proc/self/fd/{fd}") if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        )
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        log.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    moved = durable_move(source, str(tmp_path / "b" / "r.csv"))
    assert moved == tmp_path / "b" / "r.csv"
    assert moved.read_bytes() == b"data"  # an existing target is replaced
    assert not source.exists()
    assert log == ["replace", str(tmp_path / "b"), str(tmp_path / "a")]


def test_durable_move_missing_source_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        durable_move(tmp_path / "nope", tmp_path / "there")
    assert not (tmp_path / "there").exists()


def _cross_device(real: Callable[..., None]) -> Callable[..., None]:
    calls = []

    def replace(src: Any, dst: Any) -> None:
        calls.append(src)
        if len(calls) == 1:  # the first rename crosses file systems; the temp's does not
            raise OSError(18, "Invalid cross-device link")
        real(src, dst)

    return replace


def test_durable_move_across_file_systems_copies_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 100_000)
    os.chmod(source, 0o640)
    target = tmp_path / "done" / "src.bin"
    target.parent.mkdir()
    monkeypatch.setattr(os, "replace", _cross_device(os.replace))
    assert durable_move(source, target) == target
    assert target.read_bytes() == b"x" * 100_000
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert not source.exists()
    assert os.listdir(target.parent) == ["src.bin"]  # no temp file left


def test_durable_move_across_real_file_systems(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.fail("this test needs /dev/shm on a file system other than the temp folder")
    source = shm / f"corekit-move-{os.getpid()}.txt"
    source.write_text("across")
    moved = durable_move(source, tmp_path / "m.txt")
    assert moved.read_text() == "across"
    assert not source.exists()


def test_durable_move_failed_copy_keeps_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"keep me")
    (tmp_path / "done").mkdir()

    def no_space(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", _cross_device(os.replace))
    monkeypatch.setattr("corekit._atomic.shutil.copyfileobj", no_space)
    with pytest.raises(OSError, match="No space left"):
        durable_move(source, tmp_path / "done" / "src.bin")
    assert source.read_bytes() == b"keep me"
    assert os.listdir(tmp_path / "done") == []


def test_durable_move_other_errors_propagate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "s"
    source.write_text("s")

    def denied(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(PermissionError):
        durable_move(source, tmp_path / "t")
    assert source.exists()


# -- FileLock: helpers ----------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys
    from corekit.files import FileLock

    lock = FileLock(sys.argv[1])
    lock.acquire()
    print("locked", flush=True)
    sys.stdin.read()  # hold until the parent closes stdin
    lock.release()
    """
)


class Holder:
    """A subprocess that holds the lock until told to stop (or killed)."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "locked\n"

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=10) == 0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Callable[[], Holder]]:
    started: list[Holder] = []

    def start() -> Holder:
        h = Holder(tmp_path / "app.lock")
        started.append(h)
        return h

    yield start
    for h in started:
        h.close()


async def take(face: str, lock: FileLock) -> None:
    """Acquire through the chosen face."""
    if face == "sync":
        lock.acquire()
    else:
        await lock.aacquire()


FACES = ["sync", "async"]


# -- FileLock against other processes ------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("face", FACES)
async def test_timeout_while_another_process_holds_it(
    face: str, tmp_path: Path, holder: Callable[[], Holder]
) -> None:
    holder()
    lock = FileLock(tmp_path / "app.lock", timeout=0.2)
    start = time.monotonic()
    with pytest.raises(errors.LockTimeoutError) as info:
        await take(face, lock)
    assert 0.2 <= time.monotonic() - start < 3
    assert str(tmp_path / "app.lock") in str(info.value)
    assert "timeout=0.2" in str(info.value)
    assert isinstance(info.value, TimeoutError)  # the builtin, too
    assert not lock.locked


@pytest.mark.anyio
@pytest.mark.parametrize("face", FACES)
async def test_timeout_follows_the_injected_clock(
    face: str, tmp_path: Path, holder: Callable[[], Holder], clock: FakeClock
) -> None:
    holder()
    lock = FileLock(tmp_path / "app.lock", timeout=30.0, poll_interval=1.0, clock=clock)
    with pytest.raises(errors.LockTimeoutError):
        await take(face, lock)
    assert clock.sleeps == [1.0] * 30
    assert clock.monotonic() == 30.0
    zero = FileLock(tmp_path / "app.lock", timeout=0, clock=clock)
    with pytest.raises(errors.LockTimeoutError):
        await take(face, zero)  # timeout=0 tries exactly once
    assert len(clock.sleeps) == 30


@pytest.mark.anyio
@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("how", ["exit", "kill"])
async def test_lock_is_free_once_the_holder_exits_or_dies(
    face: str, how: str, tmp_path: Path, holder: Callable[[], Holder]
) -> None:
    h = holder()
    lock = FileLock(tmp_path / "app.lock", timeout=0)
    with pytest.raises(errors.LockTimeoutError):
        await take(face, lock)
    if how == "exit":
        h.stop()
    else:
        h.kill()
    await take(face, lock)
    assert lock.locked
    lock.release()
    assert (tmp_path / "app.lock").exists()  # never deleted


@pytest.mark.anyio
@pytest.mark.parametrize("face", FACES)
async def test_waiter_gets_the_lock_when_the_holder_releases(
    face: str, tmp_path: Path, holder: Callable[[], Holder]
) -> None:
    h = holder()
    timer = threading.Timer(0.2, h.stop)
    timer.start()
    try:
        lock = FileLock(tmp_path / "app.lock", timeout=10, poll_interval=0.02)
        start = time.monotonic()
        await take(face, lock)
        assert time.monotonic() - start >= 0.15
        lock.release()
    finally:
        timer.join()


def test_blocking_acquire_without_timeout_waits_for_the_holder(
    tmp_path: Path, holder: Callable[[], Holder]
) -> None:
    h = holder()
    timer = threading.Timer(0.2, h.stop)
    timer.start()
    try:
        with FileLock(tmp_path / "app.lock") as lock:
            assert lock.locked
    finally:
        timer.join()
    assert h.proc.returncode == 0


COUNTER = textwrap.dedent(
    """
    import sys
    from corekit.files import FileLock

    lock_path, counter_path = sys.argv[1], sys.argv[2]
    sys.stdin.readline()  # start together
    for _ in range(200):
        with FileLock(lock_path, timeout=30):
            with open(counter_path) as f:
                value = int(f.read())
            with open(counter_path, "w") as f:
                f.write(str(value + 1))
    """
)


def test_two_processes_increment_a_counter_under_the_lock(tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    argv = [sys.executable, "-c", COUNTER, str(tmp_path / "c.lock"), str(counter)]
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.close()
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    assert counter.read_text() == "400"


# -- FileLock within one process ------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_context_manager_and_lock_file_creation(tmp_path: Path) -> None:
    path = tmp_path / "sub.lock"
    lock = FileLock(path, timeout=1)
    assert not path.exists()
    async with lock as held:
        assert held is lock
        assert held.locked
        assert path.exists()
        other = FileLock(path, timeout=0)
        with pytest.raises(errors.LockTimeoutError):
            await other.aacquire()
    assert not lock.locked
    assert path.exists()
    async with other:
        pass


def test_not_reentrant_and_release_needs_a_holder(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "x.lock", timeout=0)
    with pytest.raises(ConfigurationError, match="not held"):
        lock.release()
    with lock:
        with pytest.raises(ConfigurationError, match="not re-entrant"):
            lock.acquire()
        assert lock.locked
        assert "locked=True" in repr(lock)
    with pytest.raises(ConfigurationError, match="not held"):
        lock.release()
    with lock:  # reusable after release
        pass


def test_separate_objects_exclude_each_other_across_threads(tmp_path: Path) -> None:
    path = tmp_path / "t.lock"
    inside = 0
    peak = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, peak
        for _ in range(30):
            with FileLock(path, timeout=10, poll_interval=0.001):
                with guard:
                    inside += 1
                    peak = max(peak, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert peak == 1


@pytest.mark.anyio
async def test_cancelled_async_wait_leaves_the_object_reusable(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "c.lock"
    owner = FileLock(path)
    owner.acquire()
    waiter = FileLock(path, poll_interval=0.5, clock=clock)
    with anyio.move_on_after(0.05):
        await waiter.aacquire()  # FakeClock sleeps yield to the loop; real time cancels
    assert not waiter.locked
    assert len(clock.sleeps) > 0
    owner.release()
    await waiter.aacquire()
    waiter.release()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": float("inf")}, "poll_interval"),
    ],
)
def test_invalid_lock_settings_are_misuse(
    tmp_path: Path, kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(ConfigurationError, match=name) as info:
        FileLock(tmp_path / "x.lock", **kwargs)
    assert repr(next(iter(kwargs.values()))) in str(info.value)
