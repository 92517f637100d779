"""Old module paths, kept working for notebooks written before the code moved.

Each name maps a module path that no longer has a file to the module that now holds its code. The
mapping is data, read only when someone imports an old name: no mazeprobe module depends on it, so the
layering of the package (tests/test_layers.py) is not bent by it. Importing an old name warns.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "mazeprobe.agents.train": "mazeprobe.training.trainer",
    "mazeprobe.agents.collect": "mazeprobe.training.collect",
    "mazeprobe.agents.evaluate": "mazeprobe.training.evaluate",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}", DeprecationWarning, stacklevel=2)
        # the new module itself, so that both names see one set of globals
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module) -> None:
        pass  # already executed under its new name


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
