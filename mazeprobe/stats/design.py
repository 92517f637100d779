"""The design matrix of a model, and which of its features have a coefficient of their own.

A feature that is an exact linear combination of other features (on the analysed rows: in a maze, which
is a tree, steps cheese -> top-right = steps cheese -> decision square + steps decision square ->
top-right) is not identified in a joint regression. `identified` finds such features as R's glm does,
from the features' covariance matrix, so no fit is spent on a rank check.
"""

from __future__ import annotations

import numpy as np

from mazeprobe.stats.data import AnalysisData

ALIAS_TOL = 1e-9
"""A feature whose variance left after regressing it on other features is below this fraction of its
own variance is an exact linear combination of them (exact up to rounding)."""


def design_matrix(data: AnalysisData, cols: tuple[int, ...]) -> np.ndarray:
    """A column of ones, then the feature columns `cols`."""
    return np.column_stack([np.ones(data.n), data.X[:, list(cols)]])


def centred_gram(data: AnalysisData) -> np.ndarray:
    """Covariance matrix (ddof=0) of the features, computed once per plan."""
    # centred, so the intercept is orthogonal to every feature and drops out of the alias test
    if "gram" not in data.cache:
        Xc = data.X - data.X.mean(axis=0)
        data.cache["gram"] = Xc.T @ Xc / data.n
    return data.cache["gram"]


def residual_share(gram: np.ndarray, c: int, others: list[int]) -> tuple[float, np.ndarray]:
    """Share of column c's variance not explained by `others`, and the regression weights."""
    if not others:
        return 1.0, np.zeros(0)
    g = gram[np.ix_(others, others)]
    beta = np.linalg.lstsq(g, gram[others, c], rcond=None)[0]
    return float((gram[c, c] - gram[others, c] @ beta) / gram[c, c]), beta


def identified(data: AnalysisData, order: list[int]) -> tuple[tuple[int, ...], dict[int, list[int]]]:
    """Walk the features in `order`, dropping each one that is an exact linear combination of those
    kept before it (as R's glm does). Returns the kept columns (sorted) and, for each dropped one, the
    kept columns it is a combination of."""
    gram = centred_gram(data)
    kept: list[int] = []
    aliased: dict[int, list[int]] = {}
    for c in order:
        share, beta = residual_share(gram, c, kept)
        if share < ALIAS_TOL:
            aliased[c] = [k for k, b in zip(kept, beta, strict=True) if abs(b) > 1e-6]
        else:
            kept.append(c)
    return tuple(sorted(kept)), aliased


def alias_names(data: AnalysisData, aliased: dict[int, list[int]]) -> dict[str, list[str]]:
    """`identified`'s dropped columns by feature name: feature -> the kept features it combines."""
    return {data.features[c]: [data.features[p] for p in partners] for c, partners in aliased.items()}


def alias_text(aliased: dict[str, list[str]]) -> str:
    """For a warning: "c is an exact linear combination of a, b; ..."."""
    return "; ".join(
        f"{name} is an exact linear combination of " + ", ".join(partners)
        for name, partners in aliased.items()
    )
