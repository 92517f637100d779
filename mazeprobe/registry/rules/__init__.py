"""The rule catalogue: the `Rule` record and the version of the rules' meaning (`base`), the rules that
read a fitted plan and `RULE_REGISTRY` (`fitted`), the rules that read a run's intervention tables, a
probe plan or a training record (`editing`), and how a quantity of a fit is read and identified
(`quantities`). Questions name these rules, so the catalogue sits below the items: it imports no other
part of the registry."""

from __future__ import annotations

from mazeprobe.lazy import moved_names

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


__getattr__ = moved_names(__name__, _OLD_NAMES, "mazeprobe.registry.rules.fitted")
