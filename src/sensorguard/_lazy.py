"""Lazy package exports: names resolve to their submodule on first use (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `package.<where[name]>` only when `name` is used.

    Keeps `import sensorguard.x` cheap for the CLI's start-up while `from sensorguard.x import Y`
    still works everywhere.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 (PEP 562 hook)
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
