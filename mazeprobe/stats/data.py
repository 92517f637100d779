"""From an input table to the matrix a model sees: filter, outcome, null handling, checks, z-scores.

Every row that is left out is counted, and every count that is not zero becomes a warning in the
result; data that cannot be fitted honestly (too few rows, one class almost empty, a constant feature)
raises FitError instead of producing a table of NaNs. The input is a table (a run directory is read by
mazeprobe.experiments.inputs.load_input).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mazeprobe.stats.errors import FitError
from mazeprobe.stats.planspec import AnalysisPlan, Filter

MIN_ROWS = 10
MIN_PER_CLASS = 5


# --- the analysed matrix -------------------------------------------------------------------------


@dataclass
class AnalysisData:
    """The rows a plan's models are fitted to, after filtering, null handling and z-scoring."""

    X: np.ndarray
    """(n, k) float64 features, z-scored when the plan standardizes."""
    y: np.ndarray
    """(n,) float64 outcome: 0/1 (binary) or a probability (fraction)."""
    features: tuple[str, ...]
    outcome: str
    outcome_kind: str
    groups: np.ndarray | None
    """(n,) maze seed of each row, when the input has a seed column (clustering, grouped splits)."""
    seed: int
    standardized: bool
    means: dict[str, float]
    sds: dict[str, float]
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    jobs: int = 1
    """Worker processes for the repeated-split fits (the results do not depend on it)."""
    cache: dict = field(default_factory=dict)
    """Fits shared between models of one plan (the same splits, the same subsets)."""

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def k(self) -> int:
        return len(self.features)

    @property
    def repeated(self) -> bool:
        """Whether some maze contributes several rows (several rollouts per maze)."""
        return self.groups is not None and len(np.unique(self.groups)) < self.n

    @property
    def n_clusters(self) -> int:
        return self.n if self.groups is None else len(np.unique(self.groups))


def _filter_mask(frame: pd.DataFrame, f: Filter) -> np.ndarray:
    col = frame[f.column]
    if f.op == "eq":
        hit = col == f.value
    elif f.op == "in":
        hit = col.isin(list(f.value))
    else:
        lo, hi = f.value
        hit = pd.Series(True, index=col.index)
        if lo is not None:
            hit &= col >= lo
        if hi is not None:
            hit &= col <= hi
    # a null (undefined) value never passes a filter
    return pd.Series(hit).fillna(False).to_numpy(dtype=bool)


def _as_float(col: pd.Series) -> np.ndarray:
    # via the nullable Float64 so that pandas NA (nullable int/bool columns) becomes NaN
    return col.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def prepare(frame: pd.DataFrame, plan: AnalysisPlan, both_classes: bool = True) -> AnalysisData:
    """Apply the plan's filter, outcome and features to `frame`; raise FitError where no honest fit is
    possible, and record every dropped row in `counts` and `warnings`.

    `both_classes`: whether a binary outcome needs enough rows of each class; fit_plan passes False for a
    plan whose models all describe the outcome alone (ModelKind.needs_both_classes: a rate).
    """
    needed = [f.column for f in plan.filter] + [plan.outcome, *plan.features]
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        hint = ""
        if plan.outcome in missing:
            hint = (
                " (a maze table has no outcomes: give a run directory"
                + (
                    ", recorded with record.decision_square_probs: true"
                    if plan.outcome_kind == "fraction"
                    else ""
                )
                + ")"
            )
        raise FitError(f"plan {plan.name}: the input has no column(s) {', '.join(missing)}{hint}")

    warnings: list[str] = []
    counts = {"input_rows": len(frame)}
    mask = np.ones(len(frame), dtype=bool)
    for f in plan.filter:
        mask &= _filter_mask(frame, f)
    counts["filtered_out"] = int((~mask).sum())
    sub = frame.loc[mask]
    if sub.empty:
        raise FitError(
            f"plan {plan.name}: no row of {len(frame)} passes the filter "
            + ", ".join(f"{f.column} {f.op} {f.value}" for f in plan.filter)
        )

    groups = sub["seed"].to_numpy() if "seed" in sub.columns else None
    counts["deduplicated"] = 0
    if plan.outcome_kind == "fraction" and groups is not None:
        # a probability at the decision square is a property of the maze, repeated on each episode row
        cols = [plan.outcome, *plan.features]
        varying = sub.groupby("seed")[cols].nunique(dropna=False).max()
        bad = [c for c in cols if varying[c] > 1]
        if bad:
            raise FitError(
                f"plan {plan.name}: {', '.join(bad)} vary between rows of the same maze seed; "
                f"{plan.outcome} is modelled one row per maze"
            )
        before = len(sub)
        sub = sub.drop_duplicates("seed")
        counts["deduplicated"] = before - len(sub)
        groups = sub["seed"].to_numpy()

    # the outcome
    raw_y = sub[plan.outcome]
    y_null = raw_y.isna().to_numpy()
    counts["null_outcome"] = int(y_null.sum())
    if y_null.any():
        warnings.append(f"dropped {y_null.sum()} rows with a null outcome ({plan.outcome})")
    try:
        y = _as_float(raw_y)
    except (TypeError, ValueError):
        raise FitError(
            f"plan {plan.name}: outcome {plan.outcome} is not numeric (dtype {raw_y.dtype})"
        ) from None
    if plan.outcome_kind == "binary":
        values = set(np.unique(y[~y_null]).tolist())
        if not values <= {0.0, 1.0}:
            raise FitError(
                f"plan {plan.name}: outcome {plan.outcome} must be true/false or 0/1; "
                f"found values {sorted(values)[:5]}"
            )
    else:
        yy = y[~y_null]
        if len(yy) and (yy.min() < 0 or yy.max() > 1):
            raise FitError(
                f"plan {plan.name}: outcome {plan.outcome} must lie in [0, 1]; found values "
                f"from {yy.min():g} to {yy.max():g}"
            )

    # the features
    X = np.empty((len(sub), len(plan.features)))
    for j, name in enumerate(plan.features):
        try:
            X[:, j] = _as_float(sub[name])
        except (TypeError, ValueError):
            raise FitError(
                f"plan {plan.name}: feature {name} is not numeric (dtype {sub[name].dtype})"
            ) from None
    if np.isinf(X).any():
        bad = [n for j, n in enumerate(plan.features) if np.isinf(X[:, j]).any()]
        raise FitError(f"plan {plan.name}: feature(s) {', '.join(bad)} hold infinite values")
    x_null = np.isnan(X)
    keep = ~y_null & ~x_null.any(axis=1)
    dropped = int((~y_null & x_null.any(axis=1)).sum())
    counts["null_feature"] = dropped
    if dropped:
        per = ", ".join(
            f"{n}: {int((x_null[:, j] & ~y_null).sum())}"
            for j, n in enumerate(plan.features)
            if (x_null[:, j] & ~y_null).any()
        )
        warnings.append(f"dropped {dropped} rows with a null feature value ({per})")
    X, y = X[keep], y[keep]
    if groups is not None:
        groups = groups[keep]
    counts["analysed"] = len(y)

    # enough data to say anything
    unit = "rows" if plan.outcome_kind == "binary" else "mazes"
    if len(y) < MIN_ROWS:
        raise FitError(
            f"plan {plan.name}: too few {unit}: {len(y)} left after the filter and null "
            f"handling (need at least {MIN_ROWS})"
        )
    # a rate is estimated honestly even at 0 or 1 (the agent never gets the cheese); the regressions
    # need both outcome classes
    if plan.outcome_kind == "binary" and both_classes:
        pos = int(y.sum())
        if min(pos, len(y) - pos) < MIN_PER_CLASS:
            raise FitError(
                f"plan {plan.name}: too few rows in one outcome class: {pos} with "
                f"{plan.outcome} true and {len(y) - pos} false (need at least {MIN_PER_CLASS} "
                "of each)"
            )
    sds = X.std(axis=0, ddof=1)
    constant = [n for j, n in enumerate(plan.features) if not sds[j] > 0]
    if constant:
        raise FitError(
            f"plan {plan.name}: feature(s) {', '.join(constant)} are constant in the "
            f"filtered data (value {X[0, plan.features.index(constant[0])]:g}); no coefficient "
            "can be estimated: remove them from features"
        )

    means = X.mean(axis=0)
    if plan.standardize:
        X = (X - means) / sds
    return AnalysisData(
        X=X,
        y=y,
        features=plan.features,
        outcome=plan.outcome,
        outcome_kind=plan.outcome_kind,
        groups=groups,
        seed=plan.seed,
        standardized=plan.standardize,
        means=dict(zip(plan.features, means.tolist(), strict=True)),
        sds=dict(zip(plan.features, sds.tolist(), strict=True)),
        counts=counts,
        warnings=warnings,
    )
