"""CORP calibration: reliability diagrams and score decompositions for binary probability forecasts.

CORP (Dimitriadis, Gneiting & Jordan 2021, PNAS) = Consistent, Optimally binned, Reproducible, PAV-based.
Instead of ad-hoc bins, the reliability curve is the isotonic (pool-adjacent-violators) regression of the
outcomes on the forecasts; those fitted values are the recalibrated forecasts p_hat. For a proper score S
(mean over items) with r the base rate (mean y) issued everywhere:

    MCB = S(p) - S(p_hat)     miscalibration, >= 0
    DSC = S(r) - S(p_hat)     discrimination, >= 0
    UNC = S(r)                uncertainty
    S(p) = MCB - DSC + UNC    exactly, by construction

The per-item scores S are the metrics' (mazeprobe.registry.scoring.metrics); this module knows none by
name. Only numpy is used, so scoring works without the optional ML stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mazeprobe.errors import UsageError

# --- forecasts and outcomes ---------------------------------------------------------------------


def check_forecasts(p, y) -> tuple[np.ndarray, np.ndarray]:
    """p and y as float arrays of one length; UsageError unless y is 0 or 1 and p lies in [0, 1]."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    if p.shape != y.shape or p.ndim != 1:
        raise UsageError(
            f"forecasts and outcomes must be 1-d arrays of one length, got {p.shape} and {y.shape}"
        )
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise UsageError("outcomes must be 0 or 1")
    if np.any((p < 0) | (p > 1) | ~np.isfinite(p)):
        raise UsageError("probabilities must lie in [0, 1]")
    return p, y


# --- isotonic regression ------------------------------------------------------------------------


def pav(values, weights=None) -> np.ndarray:
    """Weighted least-squares non-decreasing fit to `values` in the given order (pool adjacent violators).

    Each block holds (weighted mean, total weight, length); a new value that breaks monotonicity is merged
    with the block before it until the sequence of block means is non-decreasing again."""
    v = np.asarray(values, dtype=float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
    if v.shape != w.shape or v.ndim != 1:
        raise UsageError("pav: values and weights must be 1-d arrays of one length")
    if np.any(w <= 0):
        raise UsageError("pav: weights must be positive")
    means: list[float] = []
    totals: list[float] = []
    lengths: list[int] = []
    for value, weight in zip(v.tolist(), w.tolist(), strict=True):
        means.append(value)
        totals.append(weight)
        lengths.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            m2, w2, n2 = means.pop(), totals.pop(), lengths.pop()
            m1, w1, n1 = means.pop(), totals.pop(), lengths.pop()
            means.append((m1 * w1 + m2 * w2) / (w1 + w2))
            totals.append(w1 + w2)
            lengths.append(n1 + n2)
    return np.repeat(np.asarray(means), lengths)


@dataclass(frozen=True)
class Pooled:
    """Forecasts pooled by distinct value: CORP fits on these, so tied forecasts get one fitted value."""

    x: np.ndarray  # distinct forecast values, ascending
    counts: np.ndarray  # how many forecasts take each value
    positives: np.ndarray  # how many of those resolved yes
    inverse: np.ndarray  # item i has forecast x[inverse[i]]


def pool_ties(p, y) -> Pooled:
    p, y = check_forecasts(p, y)
    x, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    positives = np.bincount(inverse, weights=y, minlength=len(x))
    return Pooled(x=x, counts=counts, positives=positives, inverse=inverse)


def recalibrate(p, y) -> np.ndarray:
    """CORP recalibrated forecasts p_hat, one per item: PAV of y on p with ties pooled first."""
    pooled = pool_ties(p, y)
    if len(pooled.x) == 0:
        return np.zeros(0)
    cep = pav(pooled.positives / pooled.counts, pooled.counts)
    return cep[pooled.inverse]


# --- decomposition ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decomposition:
    score: float  # S(p)
    mcb: float
    dsc: float
    unc: float


def corp_decomposition(p, y, item: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Decomposition:
    """CORP decomposition S(p) = MCB - DSC + UNC of the mean of the per-item score `item` (a metric's:
    mazeprobe.registry.scoring.metrics.decompose finds it by name)."""
    p, y = check_forecasts(p, y)
    if len(p) == 0:
        raise UsageError("no resolved forecasts to decompose")
    p_hat = recalibrate(p, y)
    r = np.full_like(p, y.mean())
    s_p = float(item(p, y).mean())
    s_hat = float(item(p_hat, y).mean())
    s_r = float(item(r, y).mean())
    return Decomposition(score=s_p, mcb=s_p - s_hat, dsc=s_r - s_hat, unc=s_r)


# --- reliability diagram with consistency band --------------------------------------------------


@dataclass(frozen=True)
class Reliability:
    """A CORP reliability diagram: at each distinct forecast value, the recalibrated probability (CEP)
    and the band within which it would fall with probability `level` if the forecasts were calibrated."""

    x: np.ndarray
    counts: np.ndarray
    observed: np.ndarray  # raw frequency of yes at each x (before pooling across values)
    cep: np.ndarray  # PAV fit: conditional event probability
    band_low: np.ndarray
    band_high: np.ndarray
    level: float

    def to_json(self) -> dict:
        def floats(a: np.ndarray) -> list[float]:
            return [float(v) for v in a]

        return {
            "x": floats(self.x),
            "counts": [int(c) for c in self.counts],
            "observed": floats(self.observed),
            "cep": floats(self.cep),
            "band_low": floats(self.band_low),
            "band_high": floats(self.band_high),
            "level": self.level,
        }


def consistency_band(
    pooled: Pooled, *, n_resamples: int, level: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise quantiles of the PAV fit when outcomes are drawn from the forecasts themselves.

    Under perfect calibration the yes count at value x_j is Binomial(n_j, x_j), so drawing counts per
    distinct value is the same as drawing every outcome y* ~ Bernoulli(p)."""
    if n_resamples < 1:
        raise UsageError("consistency band needs at least one resample")
    draws = rng.binomial(pooled.counts, pooled.x, size=(n_resamples, len(pooled.x)))
    fits = np.vstack([pav(d / pooled.counts, pooled.counts) for d in draws])
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(fits, [tail, 1.0 - tail], axis=0)
    return low, high


def reliability(
    p, y, *, n_resamples: int = 1000, level: float = 0.90, rng: np.random.Generator | None = None
) -> Reliability:
    """The CORP reliability diagram of forecasts p against outcomes y, with a `level` consistency band."""
    rng = np.random.default_rng(0) if rng is None else rng
    pooled = pool_ties(p, y)
    if len(pooled.x) == 0:
        raise UsageError("no resolved forecasts for a reliability diagram")
    observed = pooled.positives / pooled.counts
    cep = pav(observed, pooled.counts)
    low, high = consistency_band(pooled, n_resamples=n_resamples, level=level, rng=rng)
    return Reliability(
        x=pooled.x,
        counts=pooled.counts,
        observed=observed,
        cep=cep,
        band_low=low,
        band_high=high,
        level=level,
    )


# --- bootstrap over questions -------------------------------------------------------------------


def bootstrap_mean_ci(
    values, *, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean of per-question `values`, resampling questions with replacement."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        raise UsageError("no values to bootstrap")
    if n_boot < 1:
        raise UsageError("bootstrap needs at least one resample")
    idx = rng.integers(0, len(v), size=(n_boot, len(v)))
    means = v[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)
