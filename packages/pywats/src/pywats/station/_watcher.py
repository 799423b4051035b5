"""Watch folders for result files and run each through the pipeline once.

On start every watch folder is scanned (files that arrived while the station was down), then
:func:`watchfiles.awatch` reports new and changed files. A file is converted only once its
size and modification time have stayed the same for ``settle`` seconds, so a file still
being written is left alone. Hidden files, temp files (``*.tmp``, ``*.part``, ``~`` ...),
reason files (``*.error.txt``) and names that match none of the converter's patterns are
ignored. Folders are watched without recursion: done and error folders may live inside the
watch folder.

Files are converted one at a time, oldest first, in a worker thread (conversion and the
durable enqueue block); the event loop stays free. A file the queue refused stays in place
and is tried again after ``retry_refused`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchfiles import Change, awatch

from pywats.station._converters import Converter, matches
from pywats.station._errors import ConfigError, StationError
from pywats.station._pipeline import ERROR_SUFFIX, FileOutcome, ReportSink, process_file

__all__ = ["ConverterBinding", "FolderWatcher", "is_ignored"]

log = logging.getLogger(__name__)

_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", ".lock", "~")


def is_ignored(name: str) -> bool:
    """Whether a file name is never converted: hidden, temporary or a reason file."""
    lowered = name.casefold()
    return (
        lowered.startswith((".", "~$"))
        or lowered.endswith(_TEMP_SUFFIXES)
        or lowered.endswith(ERROR_SUFFIX)
    )


@dataclass(frozen=True, slots=True)
class ConverterBinding:
    """A converter bound to its folders.

    Attributes:
        converter: the converter.
        watch: the folder it reads.
        done: where converted files go.
        error: where files that fail go, each with a ``<file>.error.txt``.
        patterns: glob patterns overriding the converter's own, or ``None``.
        settings: passed to ``convert``.
    """

    converter: Converter
    watch: Path
    done: Path
    error: Path
    patterns: tuple[str, ...] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def accepts(self, path: Path) -> bool:
        """Whether ``path`` is in this binding's watch folder and matches its patterns."""
        patterns = self.patterns if self.patterns is not None else self.converter.patterns
        return (
            path.parent == self.watch and not is_ignored(path.name) and matches(path.name, patterns)
        )


@dataclass
class _Candidate:
    binding: ConverterBinding
    signature: tuple[int, int] | None
    since: float
    not_before: float = 0.0


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return (info.st_size, info.st_mtime_ns)


class FolderWatcher:
    """Converts the files that appear in the bindings' watch folders.

    Example::

        watcher = FolderWatcher([ConverterBinding(CSVConverter(), watch, done, error)], queue)
        stop = asyncio.Event()
        await watcher.run(stop)  # until stop is set

    Args:
        bindings: the converters and their folders (several may share a watch folder; a
            file goes to the first binding that accepts it).
        queue: the report queue (``enqueue``).
        on_result: called on the event loop with each file's outcome.
        settle: seconds a file's size and modification time must stay unchanged.
        poll_interval: seconds between stability checks while files are waiting.
        retry_refused: seconds before a file the queue refused is tried again.
        debounce_ms: how long watchfiles gathers changes before reporting them.
        force_polling: poll the folders instead of using OS events (network shares).
    """

    def __init__(
        self,
        bindings: Sequence[ConverterBinding],
        queue: ReportSink,
        *,
        on_result: Callable[[FileOutcome], None] | None = None,
        settle: float = 1.0,
        poll_interval: float = 0.25,
        retry_refused: float = 30.0,
        debounce_ms: int = 200,
        force_polling: bool | None = None,
    ) -> None:
        self._bindings = [
            ConverterBinding(
                b.converter,
                b.watch.resolve(),
                b.done.resolve(),
                b.error.resolve(),
                b.patterns,
                b.settings,
            )
            for b in bindings
        ]
        self._queue = queue
        self._on_result = on_result
        self._settle = settle
        self._poll = poll_interval
        self._retry_refused = retry_refused
        self._debounce = debounce_ms
        self._force_polling = force_polling
        self._candidates: dict[Path, _Candidate] = {}
        self._wake = asyncio.Event()
        self.processed = 0
        """How many files went through the pipeline (any outcome)."""

    @property
    def waiting(self) -> int:
        """How many files wait to become stable (or to be retried after a refusal)."""
        return len(self._candidates)

    @property
    def bindings(self) -> list[ConverterBinding]:
        """The bindings, with resolved folders."""
        return list(self._bindings)

    def _prepare(self) -> None:
        for binding in self._bindings:
            if binding.watch in (binding.done, binding.error):
                msg = (
                    f"converter {binding.converter.name!r}: the done and error folders must "
                    f"differ from the watch folder {binding.watch} (a moved file would be "
                    "converted again); use sub-folders such as done/ and error/"
                )
                raise ConfigError(msg)
            for role, folder in (
                ("watch", binding.watch),
                ("done", binding.done),
                ("error", binding.error),
            ):
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    msg = (
                        f"converter {binding.converter.name!r}: cannot create the {role} "
                        f"folder {folder}: {exc.strerror or exc}; fix the path or permissions"
                    )
                    raise ConfigError(msg) from exc

    def _binding_for(self, path: Path) -> ConverterBinding | None:
        return next((b for b in self._bindings if b.accepts(path)), None)

    def _offer(self, path: Path) -> None:
        """Note ``path`` as a candidate (again, if it changed)."""
        if path in self._candidates:
            return
        binding = self._binding_for(path)
        if binding is not None:
            self._candidates[path] = _Candidate(binding, _signature(path), time.monotonic())

    def scan(self) -> int:
        """Offer every file now in the watch folders; return how many are waiting."""
        for folder in dict.fromkeys(b.watch for b in self._bindings):
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                log.error("cannot list the watch folder %s: %s", folder, exc)
                continue
            for entry in entries:
                self._offer(Path(entry.path))
        return len(self._candidates)

    def _ready(self) -> list[tuple[Path, _Candidate]]:
        """The candidates whose file has been stable for ``settle`` seconds, oldest first."""
        now = time.monotonic()
        ready: list[tuple[float, Path, _Candidate]] = []
        for path, candidate in list(self._candidates.items()):
            if now < candidate.not_before:
                continue
            signature = _signature(path)
            if signature is None:  # gone (or a folder): forget it
                del self._candidates[path]
                continue
            if signature != candidate.signature:
                candidate.signature, candidate.since = signature, now
                continue
            if now - candidate.since >= self._settle:
                ready.append((signature[1], path, candidate))
        ready.sort(key=lambda item: (item[0], item[1]))
        return [(path, candidate) for _, path, candidate in ready]

    async def _process_ready(self, stop: asyncio.Event) -> None:
        for path, candidate in self._ready():
            if stop.is_set():  # the file under way finished; the rest wait for the next start
                return
            binding = candidate.binding
            outcome = await asyncio.to_thread(
                process_file,
                path,
                binding.converter,
                self._queue,
                done_dir=binding.done,
                error_dir=binding.error,
                settings=binding.settings,
            )
            self.processed += 1
            if outcome.status == "refused" or (outcome.moved_to is None and path.exists()):
                # Stays in place: try again later, not in a tight loop.
                candidate.not_before = time.monotonic() + self._retry_refused
                candidate.signature = _signature(path)
            else:
                self._candidates.pop(path, None)
            if self._on_result is not None:
                try:
                    self._on_result(outcome)
                except Exception:
                    log.exception("the on_result callback failed for %s", path.name)

    def _keep(self, change: Change, path: str) -> bool:
        return change != Change.deleted and not is_ignored(os.path.basename(path))

    async def _watch(self, stop: asyncio.Event) -> None:
        folders = list(dict.fromkeys(b.watch for b in self._bindings))
        async for changes in awatch(
            *folders,
            watch_filter=self._keep,
            debounce=self._debounce,
            stop_event=stop,
            recursive=False,
            force_polling=self._force_polling,
        ):
            for _, name in changes:
                self._offer(Path(name))
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Scan, then watch and convert until ``stop`` is set.

        A conversion under way when ``stop`` is set finishes first.

        Raises:
            ConfigError: a folder cannot be created.
            OSError: file notifications failed (a ``StationError`` if they stopped on
                their own).
        """
        if not self._bindings:
            await stop.wait()
            return
        self._prepare()
        self.scan()
        watch = asyncio.create_task(self._watch(stop), name="pywats-folder-watch")
        stopping = asyncio.create_task(stop.wait(), name="pywats-folder-stop")
        try:
            while not stop.is_set():
                await self._process_ready(stop)
                if watch.done() and not stop.is_set():
                    watch.result()  # a watcher that died raises here
                    msg = "watching the folders ended unexpectedly; restart the station"
                    raise StationError(msg)
                self._wake.clear()
                timeout = self._poll if self._candidates else None
                waker = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {waker, stopping, watch},
                    timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waker.cancel()
        finally:
            stopping.cancel()
            if not watch.done():
                watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
