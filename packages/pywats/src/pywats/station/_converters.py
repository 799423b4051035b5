"""Converters: the plugin API that turns a result file into WATS reports.

A converter is any object with a ``name``, glob ``patterns``, a ``validate`` that says how
sure it is that a file is its format (a :class:`Validation` with a confidence from 0 to 1)
and a ``convert`` that returns the reports. Converters are found through the entry point
group ``pywats.converters``; the built-in ones (``wsjf``, ``wsxf``, ``csv``) are registered
there too, so a plugin is loaded exactly like them.

Confidence rules, applied by the pipeline before converting:

* below :data:`REJECT_BELOW` (0.2) the file is refused: it goes to the error folder with the
  converter's message;
* below :data:`WARN_BELOW` (0.5) the file is converted, with a warning in the log;
* otherwise the file is converted.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pywats.station._errors import ConfigError

if TYPE_CHECKING:
    from pywats._report import ReportBase

__all__ = [
    "ENTRY_POINT_GROUP",
    "REJECT_BELOW",
    "WARN_BELOW",
    "Converter",
    "ConverterRegistry",
    "PluginError",
    "Validation",
    "matches",
    "stable_report_id",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pywats.converters"
"""The entry point group converters are registered under."""

REJECT_BELOW = 0.2
"""A file whose validation confidence is below this is refused (error folder)."""

WARN_BELOW = 0.5
"""A file whose validation confidence is below this is converted with a warning."""

_ID_NAMESPACE = uuid.UUID("6f1d3c2e-9a4b-5e7f-8c1d-2b3a4c5d6e7f")


@dataclass(frozen=True, slots=True)
class Validation:
    """How sure a converter is that a file is in its format.

    Attributes:
        confidence: from 0 (certainly not) to 1 (certainly).
        message: why; shown in the log and in the error file when the file is refused.
    """

    confidence: float
    message: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            msg = f"confidence must be between 0 and 1, got {self.confidence!r}"
            raise ValueError(msg)

    @property
    def rejected(self) -> bool:
        """Whether the file is refused (confidence below 0.2)."""
        return self.confidence < REJECT_BELOW

    @property
    def doubtful(self) -> bool:
        """Whether the file is converted with a warning (confidence 0.2 to below 0.5)."""
        return REJECT_BELOW <= self.confidence < WARN_BELOW


@runtime_checkable
class Converter(Protocol):
    """What the station needs of a converter.

    ``convert`` raises ``ConversionError`` (or
    :class:`~pywats.errors.ReportValidationError`) with a reason when the file cannot be
    converted. It must be deterministic: converting the same file twice gives reports with the
    same ids (use :func:`~pywats.station.stable_report_id` when the file carries
    none), so a file converted again after a crash is not queued twice.
    """

    name: str
    patterns: tuple[str, ...]

    def validate(self, path: Path) -> Validation:
        """Return how sure the converter is that ``path`` is in its format."""
        ...

    def convert(self, path: Path, settings: Mapping[str, Any]) -> list[ReportBase]:
        """Convert the file at ``path`` into one or more reports."""
        ...


def stable_report_id(content: bytes, index: int = 0) -> uuid.UUID:
    """Return a report id derived from a file's bytes and the report's position in it.

    A converter uses it for reports whose file carries no id: converting the same file again
    gives the same id, and the queue (keyed by id) then holds the report once.
    """
    digest = hashlib.sha256(content).hexdigest()
    return uuid.uuid5(_ID_NAMESPACE, f"{digest}:{index}")


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether a file name matches one of the glob ``patterns`` (case-insensitive)."""
    lowered = name.casefold()
    return any(fnmatch.fnmatchcase(lowered, p.casefold()) for p in patterns)


@dataclass(frozen=True, slots=True)
class PluginError:
    """A converter plugin that could not be loaded.

    Attributes:
        name: the entry point's name.
        target: what it points at (``module:attribute``).
        message: what went wrong and what to do.
    """

    name: str
    target: str
    message: str


def _instantiate(loaded: object) -> object:
    # An entry point names a converter class (or a zero-argument factory) or an instance.
    if isinstance(loaded, Converter) and not isinstance(loaded, type):
        return loaded
    if callable(loaded):
        return loaded()
    return loaded


def _check(converter: object, origin: str) -> Converter:
    if not isinstance(converter, Converter) or isinstance(converter, type):
        msg = (
            f"{origin} is not a converter: it needs a name, patterns, validate(path) and "
            "convert(path, settings)"
        )
        raise ConfigError(msg)
    # Plugins are untrusted: check at run time what the protocol only declares.
    name: object = converter.name
    if not isinstance(name, str) or not name:
        msg = f"{origin} has no name; give the converter a non-empty string name"
        raise ConfigError(msg)
    patterns: object = converter.patterns
    if not isinstance(patterns, tuple | list) or not all(isinstance(p, str) for p in patterns):
        msg = f"{origin}: patterns must be a tuple of glob strings, got {patterns!r}"
        raise ConfigError(msg)
    return converter


class ConverterRegistry:
    """The converters the station knows, by name.

    Example::

        registry = ConverterRegistry.load()  # built-ins and installed plugins
        csv = registry.get("csv")
        for problem in registry.errors:  # plugins that failed to load
            print(problem.name, problem.message)
    """

    def __init__(self, converters: Iterable[Converter] = ()) -> None:
        self._converters: dict[str, Converter] = {}
        self.errors: list[PluginError] = []
        """Plugins that failed to load (the others were loaded)."""
        for converter in converters:
            self.register(converter)

    @classmethod
    def load(cls, *, group: str = ENTRY_POINT_GROUP) -> ConverterRegistry:
        """Return a registry of every converter registered under the entry point ``group``.

        A plugin that fails to import, to instantiate or to look like a converter is logged
        and listed in :attr:`errors`; the others still load.
        """
        registry = cls()
        for point in sorted(entry_points(group=group), key=lambda p: p.name):
            registry._load_one(point)
        return registry

    def _load_one(self, point: EntryPoint) -> None:
        origin = f"converter plugin {point.name!r} ({point.value})"
        try:
            converter = _check(_instantiate(point.load()), "the object it names")
            self.register(converter)
        except Exception as exc:  # a broken plugin must not stop the others
            reason = exc if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            message = (
                f"{origin} failed to load: {reason}; fix or uninstall the plugin "
                "(the other converters are loaded)"
            )
            log.error("%s", message)
            self.errors.append(PluginError(point.name, point.value, message))

    def register(self, converter: Converter) -> None:
        """Add a converter.

        Raises:
            ConfigError: it is not a converter, or its name is already taken.
        """
        checked = _check(converter, f"converter {type(converter).__name__}")
        if checked.name in self._converters:
            msg = (
                f"two converters are named {checked.name!r}; converter names must be unique, "
                "rename one of them"
            )
            raise ConfigError(msg)
        self._converters[checked.name] = checked

    def get(self, name: str) -> Converter:
        """Return the converter called ``name``.

        Raises:
            ConfigError: there is none; the message lists the ones there are.
        """
        try:
            return self._converters[name]
        except KeyError:
            known = ", ".join(sorted(self._converters)) or "none"
            msg = f"no converter named {name!r}; known converters: {known}"
            raise ConfigError(msg) from None

    def names(self) -> list[str]:
        """Return the converters' names, sorted."""
        return sorted(self._converters)

    def for_file(self, path: Path) -> list[Converter]:
        """Return the converters whose patterns match ``path``'s name, by name."""
        return [
            self._converters[n]
            for n in self.names()
            if matches(path.name, self._converters[n].patterns)
        ]

    def __contains__(self, name: object) -> bool:
        return name in self._converters

    def __iter__(self) -> Iterator[Converter]:
        return iter(self._converters[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._converters)
