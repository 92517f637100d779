"""The rule catalogue: the `Rule` record and the version of the rules' meaning (`base`), the rules that
read a fitted plan and `RULE_REGISTRY` (`fitted`), the rules that read a run's intervention tables, a
probe plan or a training record (`editing`), and how a quantity of a fit is read and identified
(`quantities`). Questions name these rules, so the catalogue sits below the items: it imports no other
part of the registry."""

from __future__ import annotations

from typing import Any

# the names code written before the split imported from mazeprobe.registry.rules, when it was one module
_OLD_NAMES = frozenset(
    {
        "ALIASED_KINDS",
        "ALIASED_WITH",
        "BINARY_ONLY_QUANTITIES",
        "CheckContext",
        "Fits",
        "Interval",
        "Problem",
        "QUANTITIES",
        "RULES",
        "RULE_REGISTRY",
        "Reading",
        "Rule",
        "RuleResult",
        "check_combination",
        "check_reading",
        "check_resolution",
        "evaluate",
        "read_interval",
        "read_plan",
        "read_quantity",
        "unresolved",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _OLD_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    import warnings

    new = "mazeprobe.registry.rules.fitted"
    warnings.warn(f"mazeprobe.registry.rules.{name} moved to {new}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(new), name)
