"""Repeated random train/test splits scored by an L1-penalised logit (liblinear): the engine of the
l1-logit, single and drop-one models.

The splits are seeded by the plan's seed and shared by every model of a plan (stratified, or grouped by
maze seed when mazes repeat), so the models are compared on the same test rows; a set of columns is
scored once per plan. Fits run in `data.jobs` worker processes, with the same numbers (and the same
warnings) for any number of them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

from mazeprobe.stats.data import AnalysisData
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.fitwarnings import WarningTally, recording, summarize
from mazeprobe.stats.measures import auc_score
from mazeprobe.stats.planspec import ModelSpec

FITS = "split fits"
"""What WarningTally.lines calls the fits of this engine."""


@dataclass(frozen=True)
class SplitScores:
    """One entry per split (in split order) of an L1 logit on some columns."""

    accuracy: np.ndarray
    """Test accuracy."""
    auc: np.ndarray
    """Test AUC; NaN where the test rows hold one outcome class."""
    baseline: np.ndarray
    """Test accuracy of predicting the training rows' majority class."""
    intercept: np.ndarray
    coef: np.ndarray
    """(splits, columns) coefficients."""
    fit_warnings: WarningTally
    """Warnings met in the fits (liblinear's ConvergenceWarning, ...), counted over the splits."""


def l1_model(C: float) -> LogisticRegression:
    """An unfitted L1-penalised logit (liblinear, deterministic) with inverse strength C."""
    # scikit-learn 1.8 deprecated `penalty` in favour of l1_ratio; older versions ignore l1_ratio
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
        return LogisticRegression(l1_ratio=1.0, solver="liblinear", C=C, random_state=0)
    return LogisticRegression(penalty="l1", solver="liblinear", C=C, random_state=0)


def make_splits(data: AnalysisData, n_splits: int, test_size: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The plan's (train rows, test rows) splits, made once per plan."""
    key = ("splits", n_splits, test_size)
    if key not in data.cache:
        try:
            if data.repeated:
                # rollouts of one maze stay on one side, or the test set would hold training mazes
                splitter = GroupShuffleSplit(n_splits, test_size=test_size, random_state=data.seed)
                data.cache[key] = list(splitter.split(data.X, data.y, data.groups))
            else:
                splitter = StratifiedShuffleSplit(n_splits, test_size=test_size, random_state=data.seed)
                data.cache[key] = list(splitter.split(data.X, data.y))
        except ValueError as exc:
            raise FitError(
                f"cannot make {n_splits} splits with test_size {test_size} of {data.n} rows: {exc}"
            ) from None
    return data.cache[key]


def score_splits(X: np.ndarray, y: np.ndarray, splits: list, C: float) -> tuple[np.ndarray, WarningTally]:
    """One row per split: accuracy, AUC, majority baseline, intercept, then the coefficients; and the
    warnings met. Runs in a worker process, where a warning printed would be lost: so it is counted."""
    out = np.empty((len(splits), 4 + X.shape[1]))
    tally = WarningTally()
    for s, (train, test) in enumerate(splits):
        ytr, yte = y[train], y[test]
        with recording() as caught:
            model = l1_model(C).fit(X[train], ytr)
            score = model.decision_function(X[test])
        tally.add(summarize(caught, "scikit-learn"))
        majority = 1 if ytr.mean() >= 0.5 else 0
        out[s, :4] = (
            np.mean((score > 0) == (yte == 1)),
            auc_score(yte, score),
            np.mean(yte == majority),
            model.intercept_[0],
        )
        out[s, 4:] = model.coef_[0]
    return out, tally


def cv_scores(data: AnalysisData, cols: tuple[int, ...], spec: ModelSpec) -> SplitScores:
    """Per split: test accuracy, AUC, majority-class baseline, coefficients of an L1 logit on `cols`."""
    key = ("cv", cols, spec.C, spec.splits, spec.test_size)
    if key in data.cache:
        return data.cache[key]
    rows = make_splits(data, spec.splits, spec.test_size)
    X = data.X[:, list(cols)]
    y = data.y.astype(int)
    for s, (train, _) in enumerate(rows):
        if y[train].min() == y[train].max():
            raise FitError(
                f"split {s} has one outcome class in its training rows; use fewer splits or more data"
            )
    if data.jobs > 1 and len(rows) > 1:
        from joblib import Parallel, delayed

        # whole blocks of splits per worker; liblinear is deterministic, so the result does not depend on
        # jobs, and the blocks are put back together in split order (the warning counts too)
        blocks = np.array_split(np.arange(len(rows)), min(data.jobs, len(rows)))
        parts = Parallel(n_jobs=len(blocks))(
            delayed(score_splits)(X, y, [rows[i] for i in block], spec.C) for block in blocks
        )
        table = np.concatenate([part for part, _ in parts])
        tally = WarningTally()
        for _, part_tally in parts:
            tally.merge(part_tally)
    else:
        table, tally = score_splits(X, y, rows, spec.C)
    out = SplitScores(
        accuracy=table[:, 0],
        auc=table[:, 1],
        baseline=table[:, 2],
        intercept=table[:, 3],
        coef=table[:, 4:],
        fit_warnings=tally,
    )
    data.cache[key] = out
    return out


def auc_note(scores: SplitScores, what: str) -> list[str]:
    """The warning of a run whose AUC is undefined on some test splits (none when it never is)."""
    undefined = int(np.isnan(scores.auc).sum())
    if undefined:
        return [
            f"{what}: AUC undefined in {undefined} test splits holding one outcome class (left out of "
            "auc_mean)"
        ]
    return []


def mean_sd(values: np.ndarray) -> tuple[float, float]:
    """Mean and sd (ddof=1) over the splits, NaN entries left out."""
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def cv_settings(data: AnalysisData, spec: ModelSpec) -> dict:
    """The settings a model of this engine reports with its numbers."""
    rows = make_splits(data, spec.splits, spec.test_size)
    return {
        "C": spec.C,
        "splits": spec.splits,
        "test_size": spec.test_size,
        "n_test": int(np.mean([len(t) for _, t in rows])),
        "split_kind": "grouped by maze seed" if data.repeated else "stratified",
    }
