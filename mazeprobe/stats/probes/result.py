"""Probe results: the metric registry and `ProbeResult`, one probe on one target with its controls."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)

from mazeprobe.errors import UsageError
from mazeprobe.tables import Field, TableSchema

# --- metrics ----------------------------------------------------------------------------------------
# name -> (function of (y_true, y_pred, y_score), higher is better). A metric that fails is an error:
# no metric is ever silently dropped from a result.


def _mae(y_true, y_pred, _score) -> float:
    return float(mean_absolute_error(y_true, y_pred))


def _within_1(y_true, y_pred, _score) -> float:
    return float(np.mean(np.abs(np.asarray(y_pred, float) - y_true) <= 1))


def _balanced(y_true, y_pred, _score) -> float:
    with warnings.catch_warnings():
        # a fold's predictions may contain classes its test labels lack; that is a wrong answer, not news
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_true, y_pred))


def _exact(y_true, y_pred, _score) -> float:
    """Rows whose every coordinate is right (a (row, col) position: both)."""
    return float(np.mean(np.all(np.asarray(y_true) == np.asarray(y_pred), axis=1)))


def _within_1_position(y_true, y_pred, _score) -> float:
    """Rows whose every coordinate is within one of the truth: the predicted square is the cheese's or
    one of its eight neighbours."""
    off = np.abs(np.asarray(y_pred, float) - np.asarray(y_true, float))
    return float(np.mean(np.all(off <= 1, axis=1)))


def _row_right(y_true, y_pred, _score) -> float:
    return float(np.mean(np.asarray(y_true)[:, 0] == np.asarray(y_pred)[:, 0]))


def _col_right(y_true, y_pred, _score) -> float:
    return float(np.mean(np.asarray(y_true)[:, 1] == np.asarray(y_pred)[:, 1]))


METRICS: dict[str, tuple[Callable[[Any, Any, Any], float], bool]] = {
    "exact_position_accuracy": (_exact, True),
    "row_accuracy": (_row_right, True),
    "col_accuracy": (_col_right, True),
    "within_1_position_accuracy": (_within_1_position, True),
    "accuracy": (lambda t, p, s: float(accuracy_score(t, p)), True),
    "balanced_accuracy": (_balanced, True),
    "within_1": (_within_1, True),
    "r2": (lambda t, p, s: float(r2_score(t, p)), True),
    "mae": (_mae, False),
    "auc": (lambda t, p, s: float(roc_auc_score(t, s)), True),
}


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    """One probe on one target, scored on held-out folds, with its controls.

    `metrics`, `shuffled` and `random_weights` map metric name -> mean over the folds; `random_weights`
    is None when no random-weight activations were given, `shuffled` when the shuffled control was left out
    (the larger points of a learning curve: it is the costliest fit, and no rule reads it)."""

    probe: str
    """coords-logistic, coords-ridge, sparse-logistic, sparse-ridge, pixel, position, or a caller's name."""
    target: str
    layer: str | None
    task: str
    """classification, regression, pixel or position."""
    primary: str
    """The headline metric: accuracy, r2 or balanced_accuracy (pixel)."""
    metrics: dict[str, float]
    shuffled: dict[str, float] | None
    random_weights: dict[str, float] | None
    fold_scores: tuple[float, ...]
    """The primary metric in each fold."""
    n_samples: int
    """Mazes (for the pixel probe: mazes, each contributing H*W positions)."""
    n_features: int
    k: int | None
    """Activations kept by the F-test (None: all)."""
    folds: int
    seed: int
    not_converged: int = 0
    """Logistic fits (probe and controls, all folds) that hit max_iter before converging."""
    params: dict[str, Any] = field(default_factory=dict)
    curve: tuple[dict[str, Any], ...] = ()
    """A learning curve's points, smallest n first, the last being this result's own fit: each
    {n_samples, metrics, shuffled_metrics, random_weights_metrics, fold_scores, not_converged}; empty for a
    single fit."""

    def point(self) -> dict[str, Any]:
        """This fit as a point of a learning curve."""
        return {
            "n_samples": self.n_samples,
            "metrics": dict(self.metrics),
            "shuffled_metrics": None if self.shuffled is None else dict(self.shuffled),
            "random_weights_metrics": None if self.random_weights is None else dict(self.random_weights),
            "fold_scores": list(self.fold_scores),
            "not_converged": self.not_converged,
        }

    @property
    def score(self) -> float:
        return self.metrics[self.primary]

    def selectivity(self, control: str = "shuffled", metric: str | None = None) -> float | None:
        """score - control score (control - score for error metrics); None without that control."""
        metric = metric or self.primary
        if control not in ("shuffled", "random_weights"):
            raise UsageError(f"control must be 'shuffled' or 'random_weights'; got {control!r}")
        if metric not in self.metrics:
            raise UsageError(f"metric must be one of {', '.join(self.metrics)} here; got {metric!r}")
        ctrl = self.shuffled if control == "shuffled" else self.random_weights
        if ctrl is None:
            return None
        diff = self.metrics[metric] - ctrl[metric]
        return diff if METRICS[metric][1] else -diff

    def to_dict(self) -> dict[str, Any]:
        """A flat, JSON-ready summary of the primary metric, plus every metric nested (and a learning
        curve's points under `curve`, only when it has them: a single fit's dict is as it always was)."""
        out = {
            "probe": self.probe,
            "target": self.target,
            "layer": self.layer,
            "task": self.task,
            "metric": self.primary,
            "score": self.score,
            "shuffled": None if self.shuffled is None else self.shuffled[self.primary],
            "random_weights": None if self.random_weights is None else self.random_weights[self.primary],
            "selectivity_shuffled": self.selectivity("shuffled"),
            "selectivity_random": self.selectivity("random_weights"),
            "fold_scores": list(self.fold_scores),
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "k": self.k,
            "folds": self.folds,
            "seed": self.seed,
            "not_converged": self.not_converged,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "shuffled_metrics": None if self.shuffled is None else dict(self.shuffled),
            "random_weights_metrics": None if self.random_weights is None else dict(self.random_weights),
        }
        if self.curve:
            out["curve"] = [dict(p) for p in self.curve]
        return out

    def to_frame(self) -> pd.DataFrame:
        """The tidy table: one row per metric, with both controls and selectivities as columns."""
        rows = []
        for name, value in self.metrics.items():
            rows.append(
                {
                    "probe": self.probe,
                    "layer": self.layer,
                    "target": self.target,
                    "task": self.task,
                    "metric": name,
                    "primary": name == self.primary,
                    "higher_is_better": METRICS[name][1],
                    "value": value,
                    "shuffled": np.nan if self.shuffled is None else self.shuffled[name],
                    "random_weights": np.nan if self.random_weights is None else self.random_weights[name],
                    "selectivity_shuffled": _nan_if_none(self.selectivity("shuffled", name)),
                    "selectivity_random": _nan_if_none(self.selectivity("random_weights", name)),
                    "n_samples": self.n_samples,
                    "n_features": self.n_features,
                    "k": self.k,
                    "folds": self.folds,
                    "seed": self.seed,
                }
            )
        frame = pd.DataFrame(rows)
        return frame.astype({"k": "Int64", "layer": "string"})


def _nan_if_none(x: float | None) -> float:
    return np.nan if x is None else x


_TEXT = pa.large_string()
PROBE_TABLE = TableSchema(
    "probes/<layer>.parquet",
    (
        Field("probe", _TEXT, "the probe's name (mazeprobe.stats.probes.PROBES)"),
        Field("layer", _TEXT, "the probed layer's activation name"),
        Field("target", _TEXT, "what the probe predicts (e.g. cheese_outer_row)"),
        Field("task", _TEXT, "classification or regression"),
        Field("metric", _TEXT, "the held-out metric of this row"),
        Field("primary", pa.bool_(), "whether it is the probe's primary metric"),
        Field("higher_is_better", pa.bool_(), "the metric's direction"),
        Field("value", pa.float64(), "the metric on the recorded activations"),
        Field("shuffled", pa.float64(), "the same probe on targets shuffled across mazes"),
        Field("random_weights", pa.float64(), "the same probe on a random-weight network's activations"),
        Field("selectivity_shuffled", pa.float64(), "value beyond the shuffled control (positive: better)"),
        Field("selectivity_random", pa.float64(), "value beyond the random-weight control"),
        Field("n_samples", pa.int64(), "mazes (for the pixel probe, map positions)"),
        Field("n_features", pa.int64(), "features the probe saw"),
        Field("k", pa.int64(), "activations kept (the sparse probe; null for the others)"),
        Field("folds", pa.int64(), "cross-validation folds"),
        Field("seed", pa.int64(), "the folds' seed"),
    ),
)
"""One row per (probe result, metric): what `mazeprobe probe` writes (ProbeResult.to_frame)."""


def results_table(results: Iterable[ProbeResult]) -> pd.DataFrame:
    """All results as one tidy table (see `ProbeResult.to_frame`), checked against PROBE_TABLE."""
    frames = [r.to_frame() for r in results]
    if not frames:
        raise UsageError("results_table needs at least one ProbeResult")
    table = pd.concat(frames, ignore_index=True)
    PROBE_TABLE.check(pa.Table.from_pandas(table, preserve_index=False), "results_table")
    return table
