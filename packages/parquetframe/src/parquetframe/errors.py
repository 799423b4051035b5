"""Errors raised by parquetframe.

Every error parquetframe raises derives from :class:`ParquetFrameError`, which is a
:class:`corekit.errors.CorekitError`, so one ``except CorekitError`` catches failures from
any package in the workspace. Misuse (:class:`ConfigError`) is a
:class:`corekit.errors.ConfigurationError` and a :class:`ValueError`.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EngineError",
    "EntityError",
    "EntityNotFoundError",
    "FormatError",
    "ParquetFrameError",
    "SQLError",
]

from corekit.errors import ConfigurationError, CorekitError, OperationError


class ParquetFrameError(CorekitError):
    """Root of every error raised by parquetframe."""


class ConfigError(ParquetFrameError, ConfigurationError):
    """A setting or argument is invalid; the message names it and what is accepted."""


class FormatError(ParquetFrameError, ValueError):
    """A file format is unknown or a file cannot be read or written in it."""


class EngineError(ParquetFrameError):
    """An engine is unknown or not installed (install ``parquetframe[dask]`` for Dask)."""


class SQLError(ParquetFrameError, ValueError):
    """A SQL query failed to parse, bind or run."""


class EntityError(ParquetFrameError):
    """An entity class is misdeclared or its store cannot be used."""


class EntityNotFoundError(EntityError, OperationError, KeyError):
    """No entity has the requested primary key."""
