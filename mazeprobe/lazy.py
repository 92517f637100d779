"""Package fronts that name their contents without importing them: a light command that imports a package
for one name does not pay for torch, scikit-learn or statsmodels, which other modules of the package load.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_names(package: str, owners: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: each name in `owners` is imported from its owner module on
    first use."""

    def __getattr__(name: str) -> Any:
        if name in owners:
            return getattr(importlib.import_module(owners[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def moved_names(package: str, names: Iterable[str], new: str) -> Callable[[str], Any]:
    """A module `__getattr__` for a module that became a package: its old names still work, from `new`,
    with a DeprecationWarning that says where they live now."""
    old = frozenset(names)

    def __getattr__(name: str) -> Any:
        if name not in old:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        warnings.warn(f"{package}.{name} moved to {new}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new), name)

    return __getattr__
