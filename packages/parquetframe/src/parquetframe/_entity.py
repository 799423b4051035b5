"""``@entity`` and ``@rel``: persist dataclasses and pydantic models with a typed store.

The decorated class gains ``save``/``delete`` methods and ``find``, ``get``, ``find_all``,
``find_by``, ``count``, ``save_many``, ``delete_all`` and ``compact`` class methods, backed by
:class:`parquetframe._store.Store` (append-only log plus compacted base, under a file lock).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Union

from parquetframe._store import FieldSpec, Store
from parquetframe.errors import EntityError, EntityNotFoundError

__all__ = ["entity", "rel"]

_REGISTRY: dict[str, type[Any]] = {}
_SCALARS: dict[Any, str] = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    dt.datetime: "datetime",
    dt.date: "date",
}


def _kind(name: str, annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _kind(name, args[0])
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if annotation in (list, dict) or origin in (list, dict):
        return "json"
    msg = (
        f"field {name!r} has type {annotation!r}; entity fields may be int, float, str, bool, "
        "datetime, date, list or dict (optionally | None)"
    )
    raise EntityError(msg)


def _fields(cls: type[Any]) -> list[FieldSpec]:
    hints = typing.get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
    elif hasattr(cls, "model_fields"):
        names = list(cls.model_fields)
    else:
        msg = f"@entity needs a dataclass or a pydantic model; {cls.__name__} is neither"
        raise EntityError(msg)
    return [FieldSpec(n, _kind(n, hints[n])) for n in names]


def _make(cls: type[Any], row: dict[str, Any]) -> Any:
    validate = getattr(cls, "model_validate", None)
    if validate is not None:
        return validate(row)
    return cls(**row)


def _resolve_dir(
    storage_path: str | os.PathLike[str], base_path: str | os.PathLike[str] | None
) -> Path:
    path = Path(storage_path).expanduser()
    if path.is_absolute():
        return path
    if base_path is None:
        from parquetframe._config import get_config

        base_path = get_config().entity_base_path
    return Path(base_path or ".") / path


class _Binding:
    """What ``@entity`` knows about one class: its fields, key and store(s)."""

    def __init__(
        self,
        cls: type[Any],
        *,
        storage_path: str | os.PathLike[str],
        primary_key: str,
        format: str | None,
        base_path: str | os.PathLike[str] | None,
        compact_min: int,
    ) -> None:
        self.cls = cls
        self.fields = _fields(cls)
        self.names = [f.name for f in self.fields]
        if primary_key not in self.names:
            msg = f"primary_key {primary_key!r} is not a field of {cls.__name__}"
            raise EntityError(msg)
        if format not in (None, "parquet", "avro"):
            msg = f"entity format must be 'parquet' or 'avro', got {format!r}"
            raise EntityError(msg)
        self.primary_key = primary_key
        self.storage_path = storage_path
        self.format = format
        self.base_path = base_path
        self.compact_min = compact_min
        self._stores: dict[Path, Store] = {}
        self._settings: object = None
        self._store: Store | None = None

    def store(self) -> Store:
        """The store for the current settings (the base path may change between calls)."""
        from parquetframe._config import get_config

        settings = get_config()
        # Settings objects are replaced, never changed, so identity tells when to look again.
        if settings is self._settings and self._store is not None:
            return self._store
        directory = _resolve_dir(self.storage_path, self.base_path).resolve()
        if directory not in self._stores:
            self._stores[directory] = Store(
                directory,
                primary_key=self.primary_key,
                fields=self.fields,
                format=self.format or settings.entity_format,
                fsync=settings.entity_fsync,
                compact_min=self.compact_min,
            )
        self._settings, self._store = settings, self._stores[directory]
        return self._store

    def record(self, obj: Any) -> tuple[Any, ...]:
        if not isinstance(obj, self.cls):
            msg = f"expected a {self.cls.__name__}, got {type(obj).__name__}"
            raise EntityError(msg)
        values = tuple(getattr(obj, n) for n in self.names)
        if values[self.names.index(self.primary_key)] is None:
            msg = f"cannot save a {self.cls.__name__} whose {self.primary_key!r} is None"
            raise EntityError(msg)
        return values

    def predicate(self, predicates: tuple[Any, ...], equal: dict[str, Any]) -> Any:
        import polars as pl

        unknown = sorted(set(equal) - set(self.names))
        if unknown:
            msg = f"{self.cls.__name__} has no field(s) {unknown}; fields: {self.names}"
            raise EntityError(msg)
        exprs = [*predicates]
        exprs += [pl.col(k).is_null() if v is None else pl.col(k) == v for k, v in equal.items()]
        return pl.all_horizontal(exprs) if exprs else None


def _binding(cls: type[Any]) -> _Binding:
    binding: _Binding = cls._pf_entity
    return binding


def _save(self: Any) -> Any:
    """Insert or replace this instance in the store; returns it."""
    binding = _binding(type(self))
    binding.store().upsert([binding.record(self)])
    return self


def _delete(self: Any) -> None:
    """Remove this instance from the store."""
    binding = _binding(type(self))
    binding.store().delete([getattr(self, binding.primary_key)])


def _save_many(cls: type[Any], items: Iterable[Any]) -> int:
    """Insert or replace many instances in one append; returns how many."""
    binding = _binding(cls)
    records = [binding.record(i) for i in items]
    if records:
        binding.store().upsert(records)
    return len(records)


def _find(cls: type[Any], key: Any) -> Any:
    """The instance with this primary key, or ``None``."""
    row = _binding(cls).store().get(key)
    return None if row is None else _make(cls, row)


def _get(cls: type[Any], key: Any) -> Any:
    """The instance with this primary key.

    Raises:
        EntityNotFoundError: there is none.
    """
    found = _find(cls, key)
    if found is None:
        msg = f"no {cls.__name__} with {_binding(cls).primary_key}={key!r}"
        raise EntityNotFoundError(msg)
    return found


def _find_by(cls: type[Any], *predicates: Any, limit: int | None = None, **equal: Any) -> list[Any]:
    """Instances matching polars ``predicates`` and ``field=value`` pairs (pushed into the scan)."""
    binding = _binding(cls)
    rows = binding.store().query(binding.predicate(predicates, equal), limit=limit)
    return [_make(cls, r) for r in rows]


def _find_all(cls: type[Any]) -> list[Any]:
    """Every stored instance."""
    return [_make(cls, r) for r in _binding(cls).store().query()]


def _count(cls: type[Any]) -> int:
    """How many instances are stored."""
    return _binding(cls).store().count()


def _delete_all(cls: type[Any]) -> None:
    """Remove every instance."""
    _binding(cls).store().delete_all()


def _compact(cls: type[Any]) -> None:
    """Merge the log into a new base segment now (saves also do this on their own)."""
    _binding(cls).store().compact()


_CLASS_METHODS: dict[str, Callable[..., Any]] = {
    "compact": _compact,
    "count": _count,
    "delete_all": _delete_all,
    "find": _find,
    "find_all": _find_all,
    "find_by": _find_by,
    "get": _get,
    "save_many": _save_many,
}


def entity(
    storage_path: str | os.PathLike[str],
    primary_key: str,
    format: str | None = None,
    *,
    base_path: str | os.PathLike[str] | None = None,
    compact_min: int = 10_000,
) -> Callable[[type[Any]], type[Any]]:
    """Persist instances of a dataclass or pydantic model in ``storage_path``.

    The class gains ``save()`` and ``delete()`` methods and the class methods ``find(key)``,
    ``get(key)``, ``find_by(*predicates, **equal)``, ``find_all()``, ``count()``,
    ``save_many(items)``, ``delete_all()`` and ``compact()``.

    Args:
        storage_path: the store's directory; relative paths are resolved against
            ``base_path``, else the ``entity_base_path`` setting, else the working directory
            (when the store is first used).
        primary_key: the field that identifies an instance.
        format: ``parquet`` or ``avro`` for the compacted segments (default: the
            ``entity_format`` setting).
        base_path: the directory relative ``storage_path`` values are resolved against.
        compact_min: the log is compacted once it holds this many entries (and at least half
            as many as the base).

    Raises:
        EntityError: the class is neither a dataclass nor a pydantic model, a field type
            cannot be stored, or ``primary_key`` is not a field.
    """

    def decorate(cls: type[Any]) -> type[Any]:
        binding = _Binding(
            cls,
            storage_path=storage_path,
            primary_key=primary_key,
            format=format,
            base_path=base_path,
            compact_min=compact_min,
        )
        cls._pf_entity = binding
        cls.save = _save
        cls.delete = _delete
        for name, function in _CLASS_METHODS.items():
            setattr(cls, name, classmethod(function))
        _REGISTRY[cls.__name__] = cls
        return cls

    return decorate


def _target(target: type[Any] | str) -> type[Any]:
    if isinstance(target, str):
        if target not in _REGISTRY:
            msg = f"no @entity class named {target!r}; decorate it before following the relation"
            raise EntityError(msg)
        return _REGISTRY[target]
    return target


def rel(
    target: type[Any] | str, foreign_key: str, *, reverse: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make a method follow a relationship to another ``@entity`` class.

    Forward (``reverse=False``): ``post.author()`` returns ``Target.find(post.<foreign_key>)``.
    Reverse: ``user.posts(published=True)`` returns the targets whose ``foreign_key`` equals
    this instance's primary key, with extra ``field=value`` filters and polars predicates
    pushed into the target's scan. The decorated method's body is not called.
    """

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def follow(self: Any, *predicates: Any, **filters: Any) -> Any:
            cls = _target(target)
            if reverse:
                key = getattr(self, _binding(type(self)).primary_key)
                return cls.find_by(*predicates, **{foreign_key: key}, **filters)
            value = getattr(self, foreign_key)
            return None if value is None else cls.find(value)

        return follow

    return decorate
