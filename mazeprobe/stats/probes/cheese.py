"""The cheese probes: where is the cheese, from a layer's activations? Its row and column (as classes
and as numbers, all activations or the top K), its position (row and column both right), and per
position of a conv map "the cheese is here"."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.maze.procgen import map_position, world_margin
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.probes import COORDS, POSITION_METRICS
from mazeprobe.stats.probes.cv import (
    LOGISTIC_C,
    _check_activations,
    _check_folds,
    _check_same_n,
    _cross_validate,
    _flat,
    _kfold,
    _pipeline,
    _task_metrics,
    fit_probe,
)
from mazeprobe.stats.probes.result import ProbeResult
from mazeprobe.validation import check_int

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
    k = check_int(k, "k", 1)
    return coordinate_probes(
        X, targets, X_random=X_random, coords=coords, k=k, folds=folds, seed=seed, layer=layer
    )


def grid_to_spatial(outer_row: Any, outer_col: Any, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The (h, w) index in a side x side activation map of outer-grid (world) tiles, row 0 at the
    bottom: mazeprobe.maze.procgen.map_position, the one owner of the mapping."""
    return map_position(outer_row, outer_col, side)


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
    seed = check_int(seed, "seed", 0)
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
    out["margin"] = world_margin(size)
    out["cheese_outer_row"] = out["cheese_row"].to_numpy(np.int64) + out["margin"]
    out["cheese_outer_col"] = out["cheese_col"].to_numpy(np.int64) + out["margin"]
    return out


def position_probe(
    X: np.ndarray,
    targets: pd.DataFrame,
    *,
    X_random: np.ndarray | None = None,
    coords: str = "outer",
    folds: int = 5,
    seed: int = 0,
    layer: str | None = None,
    shuffled: bool = True,
) -> ProbeResult:
    """The cheese's position as (row, col) classes, one logistic regression per coordinate (C = 10,
    balanced classes) on all activations flattened and standardised; a maze counts as right when BOTH
    coordinates are right: `exact_position_accuracy` (primary), with each coordinate's accuracy beside it
    and `within_1_position_accuracy` (both coordinates within one square: the cheese's square or one of
    its eight neighbours).
    The controls: the same probe on targets shuffled across mazes, and on random-weight activations."""
    from sklearn.multioutput import MultiOutputClassifier
    from sklearn.pipeline import Pipeline

    X = _check_activations(X, "X")
    n = len(X)
    cols = _coordinate_columns(targets, coords)
    _check_same_n(n, len(targets), "targets")
    if targets[list(cols)].isna().any().any():
        raise FitError("some targets have no cheese position; drop those mazes first")
    y = targets[list(cols)].to_numpy(np.int64)
    folds = _check_folds(folds, n)
    seed = check_int(seed, "seed", 0)
    base = _pipeline("classification", None, seed)
    pipe = Pipeline([base.steps[0], ("model", MultiOutputClassifier(base.steps[-1][1]))])
    metrics = POSITION_METRICS
    splits = _kfold(n, folds, seed)
    flat = _flat(X)
    main, per_fold, nc = _cross_validate(flat, y, splits, pipe, metrics)
    shuffled_metrics, nc_s = None, 0
    if shuffled:  # `shuffled=False`: the learning curve's larger points (see ProbeResult)
        shuffled_y = y[np.random.default_rng(seed).permutation(n)]
        shuffled_metrics, _, nc_s = _cross_validate(flat, shuffled_y, splits, pipe, metrics)
    random_weights, nc_r = None, 0
    if X_random is not None:
        X_random = _check_activations(X_random, "X_random")
        _check_same_n(n, len(X_random), "X_random")
        random_weights, _, nc_r = _cross_validate(_flat(X_random), y, splits, pipe, metrics)
    return ProbeResult(
        probe="position",
        target="cheese_position",
        layer=layer,
        task="position",
        primary=metrics[0],
        metrics=main,
        shuffled=shuffled_metrics,
        random_weights=random_weights,
        fold_scores=tuple(f[metrics[0]] for f in per_fold),
        n_samples=n,
        n_features=flat.shape[1],
        k=None,
        folds=folds,
        seed=seed,
        not_converged=nc + nc_s + nc_r,
        params={"C": LOGISTIC_C, "class_weight": "balanced", "coords": coords},
    )
