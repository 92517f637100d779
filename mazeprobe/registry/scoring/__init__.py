"""Scoring: the tidy forecast table of trusted items (`table`), the metrics as records (`metrics`), the tidy
score table, summaries, pairwise skill and the groups kept apart (`scores`), and the CORP calibration
pieces (`calibration`)."""

from __future__ import annotations

from mazeprobe.lazy import moved_names

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


__getattr__ = moved_names(__name__, _OLD_NAMES, "mazeprobe.registry.scoring.scores")
