"""Scoring: the tidy forecast table of trusted items (`table`), the metrics as records (`metrics`), the tidy
score table, summaries, pairwise skill and the groups kept apart (`scores`), and the CORP calibration
pieces (`calibration`)."""

from __future__ import annotations

from typing import Any

# the names code written before the split imported from mazeprobe.registry.scoring, when it was one module
_OLD_NAMES = frozenset(
    {
        "ANECDOTAL_BELOW",
        "BASELINE_BRIER",
        "BASELINE_LOG",
        "REQUIRED_COLUMNS",
        "ci_text",
        "network_name",
        "permutation_p_value",
        "relative_skill",
        "score_table",
        "scores_text",
        "stand_ins",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _OLD_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    import warnings

    new = "mazeprobe.registry.scoring.scores"
    warnings.warn(f"mazeprobe.registry.scoring.{name} moved to {new}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(new), name)
