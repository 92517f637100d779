"""The scoring metrics, as a registry: one `Metric` record per score, in `METRICS`.

A record holds everything that scoring, the terminal table, the leaderboard and the JSON read about a
score: its name, its per-item function, its orientation (whether lower or higher is better), what a 50%
forecast scores, its decomposition (the CORP parts MCB, DSC, UNC; mazeprobe.registry.scoring.calibration)
and how it is shown. The first record's decomposition is the one the terminal table shows (the
leaderboard is ranked by Brier: mazeprobe.registry.report.boards.order).

The keys a forecaster's summary gets from a metric (`score_table`), for a metric named NAME:

    KEY (the mean score; `key`, NAME unless the record says otherwise), baseline_NAME, NAME_skill,
    NAME_ci, NAME_PART for each part of its decomposition; per question NAME; per pair relative_NAME and
    `p_value_key` (`score_table`'s pairwise skill)

Adding a metric is one record here and its test (CONTRIBUTING.md, "A scoring metric").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mazeprobe.errors import UsageError
from mazeprobe.registry.scoring.calibration import Decomposition, check_forecasts, corp_decomposition

CORP = ("mcb", "dsc", "unc")
"""The parts of a CORP decomposition: S(p) = MCB - DSC + UNC."""
ORIENTATIONS = ("lower", "higher")


def brier_scores(p, y) -> np.ndarray:
    """Per-item Brier score (p - y)^2 (0-1 scale, lower is better)."""
    p, y = check_forecasts(p, y)
    return (p - y) ** 2


def log_scores(p, y) -> np.ndarray:
    """Per-item log score -ln P(y) in nats (lower is better).

    P(y) = 0 is infinite loss; P(y) = 1 scores 0, which is what lets recalibrated forecasts of exactly 0 or
    1 (a PAV block whose outcomes all agree) enter the decomposition."""
    p, y = check_forecasts(p, y)
    prob = np.where(y == 1.0, p, 1.0 - p)
    with np.errstate(divide="ignore"):
        return -np.log(prob)


@dataclass(frozen=True)
class Metric:
    """One score: how it is computed, which way is better, how it decomposes and how it is shown."""

    name: str
    """Its name: the per-question key and the prefix of its summary keys."""
    item: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """Per-item scores of probabilities p against outcomes y (0 or 1)."""
    orientation: str
    """"lower" or "higher": which is better."""
    baseline: float
    """What a 50% forecast scores, whatever happens (skill is measured against it)."""
    label: str
    """Its name in tables and legends."""
    formula: str
    """One line for legends: what a forecast scores."""
    decomposition: tuple[str, ...] = ()
    """CORP for a proper score in the lower-is-better orientation, else () for none."""
    key: str = ""
    """The summary's key of the mean score ('' for `name`)."""
    p_value_key: str = ""
    """The pairwise entry's key of the permutation p-value ('' for p_value_NAME)."""
    column: str = ""
    """Its column in the report's score tables ('' for `label`)."""
    long_label: str = ""
    """Its name in the report's decomposition rows, with a unit if it has one ('' for `label`)."""

    def __post_init__(self) -> None:
        if self.orientation not in ORIENTATIONS:
            raise ValueError(f"metric {self.name}: orientation must be one of {ORIENTATIONS}")
        if self.decomposition not in ((), CORP):
            raise ValueError(f"metric {self.name}: decomposition must be {CORP} (CORP) or ()")
        if self.decomposition and self.orientation != "lower":
            raise ValueError(f"metric {self.name}: CORP decomposes a score where lower is better")

    @property
    def mean_key(self) -> str:
        return self.key or self.name

    @property
    def column_label(self) -> str:
        return self.column or self.label

    @property
    def row_label(self) -> str:
        return self.long_label or self.label

    @property
    def p_key(self) -> str:
        return self.p_value_key or f"p_value_{self.name}"

    def skill(self, score: float) -> float:
        """Skill against a 50% forecast: the share of the baseline's score gained (higher is better)."""
        if self.orientation == "lower":
            return 1.0 - score / self.baseline
        return score / self.baseline - 1.0

    def decompose(self, p, y) -> Decomposition | None:
        """Its decomposition of the mean score of forecasts p against outcomes y (None when it has none)."""
        return corp_decomposition(p, y, self.item) if self.decomposition else None


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            name="brier",
            item=brier_scores,
            orientation="lower",
            baseline=0.25,  # (0.5 - y)^2 whatever y is
            label="Brier",
            formula="mean (p - y)^2",
            decomposition=CORP,
            p_value_key="p_value",  # the first metric's p-value was the only one once; readers keep the key
        ),
        Metric(
            name="log",
            item=log_scores,
            orientation="lower",
            baseline=math.log(2.0),
            label="log",
            formula="mean -ln P(outcome), nats",
            decomposition=CORP,
            key="log_score",
            column="log score",
            long_label="log (nats)",
        ),
    )
}
"""Every metric by name, in the order tables show them; the first is the primary (its decomposition shown)."""


def metric(name: str) -> Metric:
    """The metric called `name`; UsageError naming the ones there are."""
    try:
        return METRICS[name]
    except KeyError:
        raise UsageError(f"unknown score {name!r}; expected one of {', '.join(METRICS)}") from None


def primary() -> Metric:
    """The primary metric (the first of METRICS): its decomposition is the one the terminal table shows."""
    return next(iter(METRICS.values()))


def item_scores(p, y, score: str) -> np.ndarray:
    """Per-item scores of the metric called `score`."""
    return metric(score).item(p, y)


def decompose(p, y, score: str = "brier") -> Decomposition:
    """CORP decomposition S(p) = MCB - DSC + UNC of the mean score of the metric called `score`."""
    found = metric(score).decompose(p, y)
    if found is None:
        raise UsageError(f"score {score!r} declares no decomposition")
    return found
