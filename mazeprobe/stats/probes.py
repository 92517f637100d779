"""Linear probes on decision-square activations: where does the network keep the cheese?

Every probe is scored on held-out data by seeded K-fold cross-validation and always next to two
controls, so a number is never reported without its baseline:

* shuffled: the same probe, same folds, on targets permuted across mazes (what the probe finds in
  activations that carry no information about this particular maze's cheese);
* random weights: the same probe on activations of the same layer of an ImpalaCNN with random weights,
  computed on the same observations (what the architecture and the pixels give away on their own).

selectivity = score - control score (for error metrics such as MAE: control - score), so a positive
selectivity always means "better than the control".

The probes (the published analysis's settings: logistic C = 10 with balanced classes, ridge alpha = 100):

* `coordinate_probes`: the cheese's row and column as multinomial classes (LogisticRegression) and as
  numbers (Ridge), from all activations flattened;
* `sparse_probes`: the same, after keeping the top-K activations by ANOVA F-test, chosen inside each
  training fold (selection on all data would leak the test fold's labels into the features);
* `pixel_probe`: for a conv map (N, C, H, W), each position's C-vector is one sample, labelled 1 iff the
  cheese's tile maps to that position; one logistic regression shared by all positions.

Features are standardised inside each fold (so C and alpha mean the same for every layer). Cheese
coordinates default to the OUTER 25x25 grid (`cheese_outer_row/col`, row 0 at the bottom), which is what
the pixels show; the inner-grid coordinates also depend on the maze's size (`coords="inner"`).

    layer = "embedder.block2.res1.resadd_out"
    X, seeds = load_activations("data/runs/probe", layer)
    mazes = read_mazes("data/runs/probe/mazes.parquet")
    targets = probe_targets(mazes, seeds)
    obs = decision_square_observations(targets)  # what the network saw, re-rendered
    X_random = random_weight_activations(obs, layer, scale=4, seed=0)
    results_table(coordinate_probes(X, targets, X_random=X_random, layer=layer))

or all of it at once: `probe_run("data/runs/probe", layer)`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.stats.errors import FitError

__all__ = [
    "PROBES",
    "ActivationDataError",
    "ProbeResult",
    "coordinate_probes",
    "decision_square_observations",
    "fit_probe",
    "grid_to_spatial",
    "load_activations",
    "pixel_probe",
    "probe_run",
    "probe_targets",
    "random_weight_activations",
    "results_table",
    "sparse_probes",
]

WORLD = 25  # procgen's maze world is 25 x 25 tiles
OBS_SIZE = 64  # observation side in pixels
LOGISTIC_C = 10.0
RIDGE_ALPHA = 100.0
MAX_ITER = 1000
# Threads for BLAS/OpenMP inside the fits (None: the libraries' defaults). One by default: measured on
# a shared 2-CPU machine, the multinomial fits ran up to 40x slower with 2 threads (spin-waiting), and no
# faster at 3000 x 8192. Parallelism across layers/probes is better had from processes.
FIT_THREADS: int | None = 1
PROBES = ("cheese-coords", "cheese-pixel", "sparse")
TASKS = ("classification", "regression")
COORDS = {"outer": ("cheese_outer_row", "cheese_outer_col"), "inner": ("cheese_row", "cheese_col")}


# Errors: UsageError for bad arguments (shapes, counts, names), FitError for data that cannot be
# probed honestly (non-finite activations, missing targets, a single class), ActivationDataError for
# run-directory files that are missing or do not fit together.


class ActivationDataError(MazeprobeError, ValueError):
    """Activation files of a run directory that are missing or do not fit together."""


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


METRICS: dict[str, tuple[Callable[[Any, Any, Any], float], bool]] = {
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
    is None when no random-weight activations were given."""

    probe: str
    """coords-logistic, coords-ridge, sparse-logistic, sparse-ridge, pixel, or a caller's name."""
    target: str
    layer: str | None
    task: str
    """classification, regression or pixel."""
    primary: str
    """The headline metric: accuracy, r2 or balanced_accuracy (pixel)."""
    metrics: dict[str, float]
    shuffled: dict[str, float]
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
        """A flat, JSON-ready summary of the primary metric, plus every metric nested."""
        return {
            "probe": self.probe,
            "target": self.target,
            "layer": self.layer,
            "task": self.task,
            "metric": self.primary,
            "score": self.score,
            "shuffled": self.shuffled[self.primary],
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
            "shuffled_metrics": dict(self.shuffled),
            "random_weights_metrics": None if self.random_weights is None else dict(self.random_weights),
        }

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
                    "shuffled": self.shuffled[name],
                    "random_weights": np.nan if self.random_weights is None else self.random_weights[name],
                    "selectivity_shuffled": self.selectivity("shuffled", name),
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


def results_table(results: Iterable[ProbeResult]) -> pd.DataFrame:
    """All results as one tidy table (see `ProbeResult.to_frame`)."""
    frames = [r.to_frame() for r in results]
    if not frames:
        raise UsageError("results_table needs at least one ProbeResult")
    return pd.concat(frames, ignore_index=True)


# --- input checks -----------------------------------------------------------------------------------


def _check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise UsageError(f"{name} must be an integer >= {low}; got {value!r}")
    if high is not None and value > high:
        raise UsageError(f"{name} must be at most {high} here; got {value}")
    return int(value)


def _check_activations(X: Any, name: str, ndim: int | None = None) -> np.ndarray:
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise UsageError(f"{name} must be a real numeric array; got dtype {X.dtype}")
    if ndim is not None and X.ndim != ndim:
        raise UsageError(
            f"{name} must have {ndim} dimensions (N, C, H, W) for the pixel probe; got shape {X.shape} "
            "(a conv layer's activations are needed, not a flattened or fc layer)"
        )
    if X.ndim < 2:
        raise UsageError(f"{name} must be (N, ...) with one entry per maze; got shape {X.shape}")
    if X.shape[0] == 0 or X[0].size == 0:
        raise UsageError(f"{name} is empty (shape {X.shape})")
    if not np.isfinite(X).all():
        # float16 files overflow to inf silently; better to stop than to fit on it
        bad = int(X.size - np.isfinite(X).sum())
        raise FitError(f"{name} contains {bad} NaN or infinite value(s); check the activation files")
    return X


def _check_same_n(n: int, other: int, what: str) -> None:
    if n != other:
        raise UsageError(
            f"{what} has {other} entries but the activations have {n}; they must be aligned one per maze "
            "(use load_activations' seeds with probe_targets)"
        )


def _check_folds(folds: Any, n: int) -> int:
    folds = _check_int(folds, "folds", 2)
    if folds > n:
        raise UsageError(f"folds ({folds}) cannot exceed the number of mazes ({n})")
    return folds


def _flat(X: np.ndarray) -> np.ndarray:
    # float32 halves the memory of float64 and sklearn's lbfgs and ridge accept it as is
    return np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32)


# --- the generic probe ------------------------------------------------------------------------------


def _quiet_f(test: Callable, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`test` (f_classif or f_regression) without its warnings, and with usable ranks: relu maps have
    constant (all-zero) activations, whose F is undefined, so they rank last; a perfectly separating
    activation (infinite F) ranks first."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", (RuntimeWarning, UserWarning))
        f, p = test(X, y)
    big = np.finfo(f.dtype).max
    return np.nan_to_num(f, nan=0.0, posinf=big), np.nan_to_num(p, nan=1.0)


def _pipeline(task: str, k: int | None, seed: int) -> Pipeline:
    steps: list[tuple[str, Any]] = []
    if k is not None:
        score = partial(_quiet_f, f_classif if task == "classification" else f_regression)
        steps.append(("select", SelectKBest(score, k=k)))
    steps.append(("scale", StandardScaler()))
    if task == "regression":
        steps.append(("model", Ridge(alpha=RIDGE_ALPHA)))
    else:
        model = LogisticRegression(
            C=LOGISTIC_C, class_weight="balanced", max_iter=MAX_ITER, random_state=seed
        )
        steps.append(("model", model))
    return Pipeline(steps)


def _task_metrics(task: str, ordinal: bool = False) -> tuple[str, ...]:
    if task == "regression":
        return ("r2", "mae")
    if task == "pixel":
        return ("balanced_accuracy", "accuracy", "auc")
    # for ordered classes (cheese coordinates), how far off a wrong class is, in squares
    base = ("accuracy", "balanced_accuracy")
    return (*base, "mae", "within_1") if ordinal else base


def _cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    pipe: Pipeline,
    metrics: Sequence[str],
) -> tuple[dict[str, float], list[dict[str, float]], int]:
    """Fit a fresh copy of `pipe` per fold; returns mean metrics, per-fold metrics, unconverged fits."""
    per_fold = []
    not_converged = 0
    for train, test in splits:
        model = clone(pipe)
        with threadpool_limits(FIT_THREADS):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(X[train], y[train])
            pred = model.predict(X[test])
            score = model.decision_function(X[test]) if "auc" in metrics else None
        not_converged += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        for w in caught:  # pass on whatever else was raised
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        per_fold.append({m: METRICS[m][0](y[test], pred, score) for m in metrics})
    mean = {m: float(np.mean([f[m] for f in per_fold])) for m in metrics}
    return mean, per_fold, not_converged


def _kfold(n: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(n)))


def fit_probe(
    X: np.ndarray,
    y: Any,
    task: str,
    *,
    X_random: np.ndarray | None = None,
    k: int | None = None,
    folds: int = 5,
    seed: int = 0,
    probe: str | None = None,
    target: str = "target",
    layer: str | None = None,
    ordinal: bool = False,
) -> ProbeResult:
    """Cross-validate one linear probe from activations X (N, ...) to one target y (N,), with controls.

    task: "classification" (LogisticRegression C=10, balanced classes) or "regression" (Ridge alpha=100).
    k: keep the top-k activations by F-test, chosen inside each training fold (None keeps all).
    X_random: activations (N, ...) of a random-weight network on the same observations, for the second
    control. ordinal: the classes are numbers on a line (grid coordinates), so also report the MAE of the
    predicted class and the share within 1 of the truth. Folds are KFold(shuffle, seed); the shuffled
    control permutes y with the same seed."""
    if task not in TASKS:
        raise UsageError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    X = _check_activations(X, "X")
    n = len(X)
    y = np.asarray(y)
    if y.ndim != 1:
        raise UsageError(f"y must be one target per maze, shape (N,); got shape {y.shape}")
    _check_same_n(n, len(y), "y")
    if pd.isna(y).any():
        raise FitError(f"y ({target}) has {int(pd.isna(y).sum())} missing values; drop those mazes first")
    if task == "regression":
        if not np.issubdtype(y.dtype, np.number):
            raise UsageError(f"regression needs a numeric target; {target} has dtype {y.dtype}")
        y = y.astype(np.float64)
    elif len(np.unique(y)) < 2:
        raise FitError(f"classification needs at least 2 classes; {target} has only {np.unique(y)}")
    folds = _check_folds(folds, n)
    seed = _check_int(seed, "seed", 0)
    Xf = _flat(X)
    if k is not None:
        k = min(_check_int(k, "k", 1), Xf.shape[1])  # k >= features is the full probe, recorded as such
    if X_random is not None:
        X_random = _check_activations(X_random, "X_random")
        _check_same_n(n, len(X_random), "X_random")

    if ordinal and not np.issubdtype(y.dtype, np.number):
        raise UsageError(f"ordinal classes must be numbers; {target} has dtype {y.dtype}")
    metrics = _task_metrics(task, ordinal and task == "classification")
    primary = metrics[0]
    pipe = _pipeline(task, k, seed)
    splits = _kfold(n, folds, seed)
    shuffled_y = y[np.random.default_rng(seed).permutation(n)]
    main, per_fold, nc = _cross_validate(Xf, y, splits, pipe, metrics)
    shuffled, _, nc_s = _cross_validate(Xf, shuffled_y, splits, pipe, metrics)
    random_weights = None
    nc_r = 0
    if X_random is not None:
        Xr = _flat(X_random)
        pipe_r = _pipeline(task, None if k is None else min(k, Xr.shape[1]), seed)
        random_weights, _, nc_r = _cross_validate(Xr, y, splits, pipe_r, metrics)
    kind = "logistic" if task == "classification" else "ridge"
    return ProbeResult(
        probe=probe or f"{'sparse' if k is not None else 'full'}-{kind}",
        target=target,
        layer=layer,
        task=task,
        primary=primary,
        metrics=main,
        shuffled=shuffled,
        random_weights=random_weights,
        fold_scores=tuple(f[primary] for f in per_fold),
        n_samples=n,
        n_features=Xf.shape[1],
        k=k,
        folds=folds,
        seed=seed,
        not_converged=nc + nc_s + nc_r,
        params={"C": LOGISTIC_C, "class_weight": "balanced"}
        if task == "classification"
        else {"alpha": RIDGE_ALPHA},
    )


# --- cheese probes ----------------------------------------------------------------------------------


def _coordinate_columns(targets: pd.DataFrame, coords: str) -> tuple[str, str]:
    if coords not in COORDS:
        raise UsageError(f"coords must be one of {', '.join(COORDS)}; got {coords!r}")
    cols = COORDS[coords]
    if not isinstance(targets, pd.DataFrame):
        raise UsageError(f"targets must be a DataFrame from probe_targets(); got {type(targets).__name__}")
    missing = [c for c in cols if c not in targets.columns]
    if missing:
        raise UsageError(
            f"targets lack column(s) {', '.join(missing)}; build them with probe_targets(mazes, seeds)"
        )
    return cols


def coordinate_probes(
    X: np.ndarray,
    targets: pd.DataFrame,
    *,
    X_random: np.ndarray | None = None,
    coords: str = "outer",
    k: int | None = None,
    folds: int = 5,
    seed: int = 0,
    layer: str | None = None,
) -> list[ProbeResult]:
    """Cheese row and column, each as classes (logistic) and as numbers (ridge): four results.

    coords "outer" probes the 25x25 world grid coordinates (what the image shows), "inner" the maze's
    own grid. With k, the probes are sparse (see `sparse_probes`)."""
    cols = _coordinate_columns(targets, coords)
    prefix = "coords" if k is None else "sparse"
    results = []
    for task, kind in (("classification", "logistic"), ("regression", "ridge")):
        for col in cols:
            y = targets[col].to_numpy()
            results.append(
                fit_probe(
                    X,
                    y.astype(np.int64) if not pd.isna(y).any() else y,
                    task,
                    X_random=X_random,
                    k=k,
                    folds=folds,
                    seed=seed,
                    probe=f"{prefix}-{kind}",
                    target=col,
                    layer=layer,
                    ordinal=True,
                )
            )
    return results


def sparse_probes(
    X: np.ndarray,
    targets: pd.DataFrame,
    *,
    k: int = 1000,
    X_random: np.ndarray | None = None,
    coords: str = "outer",
    folds: int = 5,
    seed: int = 0,
    layer: str | None = None,
) -> list[ProbeResult]:
    """The coordinate probes on the top-k activations by F-test (f_classif / f_regression), the selection
    fitted on each training fold only."""
    k = _check_int(k, "k", 1)
    return coordinate_probes(
        X, targets, X_random=X_random, coords=coords, k=k, folds=folds, seed=seed, layer=layer
    )


def grid_to_spatial(outer_row: Any, outer_col: Any, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The (h, w) index in a side x side activation map of outer-grid tiles (row 0 at the bottom).

    The anchor mapping: h = ((24 - row) + 0.5) * 2.56 // 2**b and w = (col + 0.5) * 2.56 // 2**b with
    2**b = 64 / side, computed in integers ((2r + 1) * 32 // (25 * 2**b)) so no tile lands on the wrong
    side of a float rounding."""
    side = _check_int(side, "side", 1)
    if OBS_SIZE % side or side & (side - 1):
        raise UsageError(f"side must be 64 / 2**b (64, 32, 16, 8, ...); got {side}")
    stride = OBS_SIZE // side
    row = np.asarray(outer_row, dtype=np.int64)
    col = np.asarray(outer_col, dtype=np.int64)
    for name, v in (("outer_row", row), ("outer_col", col)):
        if v.size and (v.min() < 0 or v.max() >= WORLD):
            raise UsageError(f"{name} must lie in [0, {WORLD - 1}]; got values from {v.min()} to {v.max()}")
    image_row = WORLD - 1 - row  # image rows run top-down, grid rows bottom-up
    h = ((2 * image_row + 1) * 32) // (25 * stride)
    w = ((2 * col + 1) * 32) // (25 * stride)
    return h, w


def _pixel_data(X: np.ndarray, h: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N*H*W, C) position samples, maze-major, and their 0/1 cheese labels."""
    n, c, hh, ww = X.shape
    samples = np.ascontiguousarray(X.transpose(0, 2, 3, 1).reshape(n * hh * ww, c), dtype=np.float32)
    return samples, _pixel_labels(n, hh, ww, h, w)


def _pixel_labels(n: int, hh: int, ww: int, h: np.ndarray, w: np.ndarray) -> np.ndarray:
    labels = np.zeros((n, hh, ww), dtype=np.int64)
    labels[np.arange(n), h, w] = 1
    return labels.reshape(-1)


def _expand(splits, per_maze: int) -> list[tuple[np.ndarray, np.ndarray]]:
    # folds are drawn over mazes: all positions of a maze sit on the same side of a split
    def rows(mazes: np.ndarray) -> np.ndarray:
        return (mazes[:, None] * per_maze + np.arange(per_maze)[None, :]).reshape(-1)

    return [(rows(tr), rows(te)) for tr, te in splits]


def pixel_probe(
    X: np.ndarray,
    targets: pd.DataFrame,
    *,
    X_random: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    layer: str | None = None,
) -> ProbeResult:
    """Per-position "this spatial position holds the cheese" probe on a conv map X (N, C, H, W).

    Every position's C-vector is a sample; its label is 1 iff the cheese's tile maps there
    (`grid_to_spatial` at resolution H). Folds split mazes, not positions. The shuffled control gives
    each maze another maze's cheese position. Metrics: balanced accuracy (primary), accuracy, AUC."""
    X = _check_activations(X, "X", ndim=4)
    n, _, hh, ww = X.shape
    if hh != ww:
        raise UsageError(f"the pixel probe needs square maps (N, C, H, H); got shape {X.shape}")
    row_col, col_col = _coordinate_columns(targets, "outer")
    _check_same_n(n, len(targets), "targets")
    h, w = grid_to_spatial(targets[row_col].to_numpy(), targets[col_col].to_numpy(), hh)
    folds = _check_folds(folds, n)
    seed = _check_int(seed, "seed", 0)
    if X_random is not None:
        X_random = _check_activations(X_random, "X_random", ndim=4)
        _check_same_n(n, len(X_random), "X_random")
        if X_random.shape[2:] != X.shape[2:]:
            raise UsageError(
                f"X_random maps are {X_random.shape[2:]} but X maps are {X.shape[2:]}; the control must "
                "come from the same layer"
            )

    metrics = _task_metrics("pixel")
    pipe = _pipeline("classification", None, seed)
    splits = _expand(_kfold(n, folds, seed), hh * ww)
    samples, labels = _pixel_data(X, h, w)
    main, per_fold, nc = _cross_validate(samples, labels, splits, pipe, metrics)
    perm = np.random.default_rng(seed).permutation(n)
    shuffled_labels = _pixel_labels(n, hh, ww, h[perm], w[perm])
    shuffled, _, nc_s = _cross_validate(samples, shuffled_labels, splits, pipe, metrics)
    random_weights = None
    nc_r = 0
    if X_random is not None:
        samples_r, _ = _pixel_data(X_random, h, w)
        random_weights, _, nc_r = _cross_validate(samples_r, labels, splits, pipe, metrics)
    return ProbeResult(
        probe="pixel",
        target="cheese_here",
        layer=layer,
        task="pixel",
        primary=metrics[0],
        metrics=main,
        shuffled=shuffled,
        random_weights=random_weights,
        fold_scores=tuple(f[metrics[0]] for f in per_fold),
        n_samples=n,
        n_features=X.shape[1],
        k=None,
        folds=folds,
        seed=seed,
        not_converged=nc + nc_s + nc_r,
        params={"C": LOGISTIC_C, "class_weight": "balanced", "side": hh},
    )


# --- run directories --------------------------------------------------------------------------------


def _recorded_layers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def load_activations(run_dir: str | os.PathLike[str], layer: str) -> tuple[np.ndarray, np.ndarray]:
    """The decision-square activations of `layer` in a finished run: X (N, ...) in the stored dtype and
    the level seed of each entry (N,), in the order of activations/index.parquet."""
    run_dir = Path(run_dir)
    folder = run_dir / "activations"
    if not folder.is_dir():
        raise ActivationDataError(
            f"{run_dir}: no activations/ folder; record them with `record: activations: {{layers: [...]}}`"
        )
    layers = _recorded_layers(folder)
    if layer not in layers:
        raise ActivationDataError(
            f"{run_dir}: layer {layer!r} was not recorded; recorded layers: {', '.join(layers) or 'none'}"
        )
    index_path = folder / "index.parquet"
    if not index_path.is_file():
        raise ActivationDataError(
            f"{run_dir}: no activations/index.parquet; the run is not finished (run it again with --resume)"
        )
    index = pq.read_table(index_path).to_pandas()
    missing_cols = {"seed", "chunk", "row"} - set(index.columns)
    if missing_cols:
        raise ActivationDataError(f"{index_path}: missing column(s) {', '.join(sorted(missing_cols))}")
    seeds = index["seed"].to_numpy(np.int64)
    if len(np.unique(seeds)) != len(seeds):
        raise ActivationDataError(f"{index_path}: a level seed appears more than once")
    chunks = index["chunk"].to_numpy(np.int64)
    rows = index["row"].to_numpy(np.int64)

    out: np.ndarray | None = None
    for chunk in np.unique(chunks):
        path = folder / layer / f"chunk-{chunk:05d}.npy"
        if not path.is_file():
            raise ActivationDataError(f"{path}: missing, but activations/index.parquet refers to it")
        array = np.load(path, mmap_mode="r")  # read only the rows the index asks for
        where = np.flatnonzero(chunks == chunk)
        if len(array) != len(where) or rows[where].max() >= len(array):
            raise ActivationDataError(
                f"{path}: holds {len(array)} entries but the index lists {len(where)} (rows up to "
                f"{rows[where].max()}); the files are from different runs"
            )
        if out is None:
            out = np.empty((len(seeds), *array.shape[1:]), dtype=array.dtype)
        elif array.shape[1:] != out.shape[1:]:
            raise ActivationDataError(f"{path}: entries of shape {array.shape[1:]}, others {out.shape[1:]}")
        out[where] = array[rows[where]]
    if out is None:
        raise ActivationDataError(f"{index_path}: no entries (no maze had a decision square)")
    return out, seeds


def probe_targets(mazes: pd.DataFrame, seeds: Any) -> pd.DataFrame:
    """One row per seed, in the order of `seeds`: the maze table's columns (without `grid`) plus
    `margin` and the cheese in the outer 25x25 grid, `cheese_outer_row` and `cheese_outer_col`."""
    if not isinstance(mazes, pd.DataFrame):
        raise UsageError(f"mazes must be a maze table (DataFrame); got {type(mazes).__name__}")
    need = ["seed", "maze_size", "cheese_row", "cheese_col"]
    lacking = [c for c in need if c not in mazes.columns]
    if lacking:
        raise UsageError(f"the maze table lacks column(s) {', '.join(lacking)}; read it with read_mazes()")
    seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
    table = mazes.drop(columns=["grid"], errors="ignore").reset_index(drop=True)
    if table["seed"].duplicated().any():
        raise UsageError("the maze table lists a seed more than once; seeds must identify mazes")
    position = pd.Series(np.arange(len(table)), index=table["seed"].to_numpy(np.int64))
    absent = ~np.isin(seeds, position.index.to_numpy())
    if absent.any():
        raise UsageError(
            f"{int(absent.sum())} seed(s) are not in the maze table, e.g. {seeds[absent][:5].tolist()}; "
            "use the run's own mazes.parquet"
        )
    out = table.iloc[position.loc[seeds].to_numpy()].reset_index(drop=True)
    if out[["maze_size", "cheese_row", "cheese_col"]].isna().any().any():
        raise FitError("some of these mazes have no cheese or no size; they cannot be probe targets")
    size = out["maze_size"].to_numpy(np.int64)
    out["margin"] = (WORLD - size) // 2
    out["cheese_outer_row"] = out["cheese_row"].to_numpy(np.int64) + out["margin"]
    out["cheese_outer_col"] = out["cheese_col"].to_numpy(np.int64) + out["margin"]
    return out


def random_weight_activations(
    obs_uint8: np.ndarray, layer: str, scale: int, seed: int, batch_size: int = 256
) -> np.ndarray:
    """`layer`'s activations (N, ...) float32 of `random_impala(scale, seed)` on procgen uint8
    observations (N, 64, 64, 3): the random-weight control of a probe."""
    import torch

    from mazeprobe.agents.impala import activation_shapes, obs_to_tensor, random_impala

    shapes = activation_shapes(scale)
    if layer not in shapes:
        raise UsageError(f"unknown activation name {layer!r}; valid names are: {', '.join(shapes)}")
    batch_size = _check_int(batch_size, "batch_size", 1)
    model = random_impala(scale, _check_int(seed, "seed", 0)).eval()
    obs = np.asarray(obs_uint8)
    out = np.empty((len(obs), *shapes[layer]), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(obs), batch_size):
            _, _, cache = model.run_with_cache(obs_to_tensor(obs[start : start + batch_size]), [layer])
            out[start : start + batch_size] = cache[layer].float().numpy()
    return out


def decision_square_observations(mazes: pd.DataFrame, num_envs: int = 32) -> np.ndarray:
    """The 64x64 observations (N, 64, 64, 3) uint8 with the mouse on each maze's decision square, in
    table order: what a run's network saw when its decision-square activations were recorded."""
    from mazeprobe.experiments.rollout import Roller, start_states

    need = ["seed", "cheese_row", "cheese_col", "dsq_row", "dsq_col"]
    lacking = [c for c in need if c not in mazes.columns]
    if lacking:
        raise UsageError(f"the maze table lacks column(s) {', '.join(lacking)}; read it with read_mazes()")
    no_dsq = mazes["dsq_row"].isna().to_numpy()
    if no_dsq.any():
        raise UsageError(
            f"{int(no_dsq.sum())} maze(s) have no decision square, e.g. seeds "
            f"{mazes['seed'][no_dsq].head(5).tolist()}"
        )
    table = mazes.reset_index(drop=True)
    roller = Roller(_check_int(num_envs, "num_envs", 1))
    states = start_states(table, roller.loader)
    dsq = table[["dsq_row", "dsq_col"]].to_numpy(np.int64)
    return roller.render([state.with_mouse(*dsq[m]) for m, state in enumerate(states)])


def _run_scale(run_dir: Path, layer: str, shape: tuple[int, ...]) -> int:
    """The network's scale: from the run's checkpoint if it names one, else from the layer's shape."""
    import json

    from mazeprobe.agents.impala import activation_shapes, load_checkpoint

    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        checkpoint = json.loads(manifest.read_text()).get("policy", {}).get("checkpoint")
        if checkpoint and Path(checkpoint).is_file():
            return load_checkpoint(checkpoint).scale
    fits = [s for s in range(1, 65) if activation_shapes(s).get(layer) == tuple(shape)]
    if len(fits) != 1:
        raise UsageError(
            f"cannot tell the network's scale from {layer} {tuple(shape)} and the run names no readable "
            "checkpoint; pass scale="
        )
    return fits[0]


def probe_run(
    run_dir: str | os.PathLike[str],
    layer: str,
    probes: Sequence[str] = PROBES,
    k: int = 1000,
    folds: int = 5,
    seed: int = 0,
    coords: str = "outer",
    scale: int | None = None,
    control_seed: int | None = None,
    num_envs: int = 32,
) -> list[ProbeResult]:
    """Run the named probes on a run's decision-square activations of `layer`, with both controls.

    The random-weight control re-renders the same decision-square observations and runs
    `random_impala(scale, control_seed)` (default 7919 + seed: not a seed researchers are likely to have
    used for their own random-weight networks) on them, rounded to the stored dtype like the recorded
    activations. `scale` defaults to the run's checkpoint's (or what the layer's shape implies)."""
    from mazeprobe.maze.sampling import read_mazes

    probes = [probes] if isinstance(probes, str) else list(probes)
    unknown = [p for p in probes if p not in PROBES]
    if unknown or not probes:
        raise UsageError(f"probes must be among {', '.join(PROBES)}; got {probes!r}")
    run_dir = Path(run_dir)
    X, seeds = load_activations(run_dir, layer)
    if "cheese-pixel" in probes and X.ndim != 4:
        raise UsageError(
            f"the cheese-pixel probe needs a conv layer (N, C, H, W); {layer} is {X.shape[1:]}; "
            "leave cheese-pixel out of probes"
        )
    mazes_path = run_dir / "mazes.parquet"
    if not mazes_path.is_file():
        raise ActivationDataError(f"{run_dir}: no mazes.parquet")
    mazes = read_mazes(mazes_path)
    targets = probe_targets(mazes, seeds)
    if scale is None:
        scale = _run_scale(run_dir, layer, X.shape[1:])
    obs = decision_square_observations(targets, num_envs=num_envs)  # in activation order
    control_seed = 7919 + seed if control_seed is None else control_seed
    X_random = random_weight_activations(obs, layer, scale, control_seed).astype(X.dtype)

    common = {"X_random": X_random, "folds": folds, "seed": seed, "layer": layer}
    results: list[ProbeResult] = []
    for name in probes:
        if name == "cheese-coords":
            results += coordinate_probes(X, targets, coords=coords, **common)
        elif name == "sparse":
            results += sparse_probes(X, targets, k=k, coords=coords, **common)
        else:
            results.append(pixel_probe(X, targets, **common))
    return results
