"""Lazy package exports (PEP 562): names load from their modules on first access.

A package ``__init__`` that re-exports heavy modules lists where each name lives and lets this
module write its ``__getattr__`` and ``__dir__``::

    from corekit.lazy import lazy_exports

    __getattr__, __dir__ = lazy_exports(
        __name__, {"Client": "mypkg._client"}, __all__, distribution="mypkg"
    )

``import mypkg`` then stays cheap; ``mypkg.Client`` imports ``mypkg._client`` once and caches the
value in the package's namespace, so later lookups are ordinary attribute reads.
"""

from __future__ import annotations

__all__ = ["lazy_exports"]

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str,
    where: Mapping[str, str],
    exported: Iterable[str] = (),
    *,
    distribution: str | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package with lazily loaded names.

    Args:
        package: the package's ``__name__``.
        where: each lazy name and the module that defines it.
        exported: the package's ``__all__`` (listed by ``dir()`` before they load).
        distribution: when given, ``__version__`` is this installed distribution's version.

    Returns:
        The two module-level functions, to assign to ``__getattr__`` and ``__dir__``.
    """
    names = dict(where)
    listed = frozenset(exported)

    def __getattr__(name: str) -> Any:
        if name == "__version__" and distribution is not None:
            from importlib.metadata import version

            return version(distribution)
        module = names.get(name)
        if module is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *listed})

    return __getattr__, __dir__
