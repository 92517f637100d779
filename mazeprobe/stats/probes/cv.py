"""The generic probe: seeded K-fold cross-validation of one linear probe, with shuffled-target and
random-weight controls."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mazeprobe.errors import UsageError
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.probes.result import METRICS, ProbeResult
from mazeprobe.validation import check_int

LOGISTIC_C = 10.0
RIDGE_ALPHA = 100.0
MAX_ITER = 1000
# Threads for BLAS/OpenMP inside the fits (None: the libraries' defaults). One by default: measured on
# a shared 2-CPU machine, the multinomial fits ran up to 40x slower with 2 threads (spin-waiting), and no
# faster at 3000 x 8192. Parallelism across layers/probes is better had from processes.
FIT_THREADS: int | None = 1
TASKS = ("classification", "regression")


# --- input checks -----------------------------------------------------------------------------------


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
    folds = check_int(folds, "folds", 2)
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
    seed = check_int(seed, "seed", 0)
    Xf = _flat(X)
    if k is not None:
        k = min(check_int(k, "k", 1), Xf.shape[1])  # k >= features is the full probe, recorded as such
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
