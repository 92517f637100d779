"""Statistics of plain arrays that the models report: Wilson's interval for a rate, the AUC of a score."""

from __future__ import annotations

import numpy as np


def wilson_interval(rate: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion `rate` out of `n` (n may be an effective,
    non-integer sample size); it stays inside [0, 1] and is sensible at rates of 0 and 1."""
    denom = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denom
    half = z / denom * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    # exactly 0 (1) at a rate of 0 (1), which rounding in centre - half would miss
    low = 0.0 if rate <= 0 else max(0.0, centre - half)
    high = 1.0 if rate >= 1 else min(1.0, centre + half)
    return float(low), float(high)


def auc_score(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN when y holds one class."""
    pos = y == 1
    n1 = int(pos.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    from scipy.stats import rankdata  # here: the interval's readers (the rules) need no scipy.stats

    ranks = rankdata(score)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
