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
    # the registry's flat modules, split by stage (issue 20); mazeprobe.registry.scoring and .rules are
    # packages now and forward their old names themselves
    "mazeprobe.registry.model": "mazeprobe.registry.items.model",
    "mazeprobe.registry.yamlcheck": "mazeprobe.registry.items.yamlcheck",
    "mazeprobe.registry.subject": "mazeprobe.registry.items.subject",
    "mazeprobe.registry.history": "mazeprobe.registry.items.history",
    "mazeprobe.registry.load": "mazeprobe.registry.items.load",
    "mazeprobe.registry.lock": "mazeprobe.registry.items.lock",
    "mazeprobe.registry.edit": "mazeprobe.registry.items.edit",
    "mazeprobe.registry.resolutions": "mazeprobe.registry.items.resolutions",
    "mazeprobe.registry.trust": "mazeprobe.registry.items.trust",
    "mazeprobe.registry.rulebase": "mazeprobe.registry.rules.base",
    "mazeprobe.registry.editing_rules": "mazeprobe.registry.rules.editing",
    "mazeprobe.registry.quantities": "mazeprobe.registry.rules.quantities",
    "mazeprobe.registry.designs": "mazeprobe.registry.resolution.designs",
    "mazeprobe.registry.evidence": "mazeprobe.registry.resolution.evidence",
    "mazeprobe.registry.proof": "mazeprobe.registry.resolution.proof",
    "mazeprobe.registry.resolve": "mazeprobe.registry.resolution.resolve",
    "mazeprobe.registry.changes": "mazeprobe.registry.resolution.changes",
    "mazeprobe.registry.calibration": "mazeprobe.registry.scoring.calibration",
    "mazeprobe.registry.table": "mazeprobe.registry.scoring.table",
    "mazeprobe.registry.leaderboard": "mazeprobe.registry.report.leaderboard",
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
