"""The models of an analysis plan: each a function `fit_KIND(data, spec) -> ModelResult`.

A ModelResult holds model-level statistics (`stats`), one row per feature (`table`), and the warnings
met while fitting. Everything random (splits, subsets) is seeded by the plan's `seed`, so a plan fitted
twice to the same data gives the same numbers.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import norm, rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit
from statsmodels.stats.outliers_influence import variance_inflation_factor
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

from mazeprobe.stats.data import AnalysisData
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.plan import ModelSpec

VIF_WARN = 10.0


@dataclass
class ModelResult:
    kind: str
    key: str
    stats: dict
    """Model-level numbers and settings (accuracy_mean, pseudo_r2, cov_type, ...)."""
    table: pd.DataFrame
    """One row per feature (index: feature names), numeric columns."""
    intercept: dict | None = None
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Further tables, e.g. the correlation matrix of `vif`."""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    explained: tuple[str, ...] = ()
    """`feature.column` cells that are not finite for a reason a warning already gives."""

    def __post_init__(self) -> None:
        # a NaN or inf in a result is never silent: it is named in the warnings (and written as null)
        shown_rows = self.table
        if "aliased" in shown_rows.columns:  # aliased rows are null on purpose, with their own warning
            shown_rows = shown_rows.loc[~shown_rows["aliased"].astype(bool)]
        bad = [
            f"{feat}.{col}"
            for col in shown_rows.columns
            for feat, v in shown_rows[col].items()
            if not np.isfinite(v) and f"{feat}.{col}" not in self.explained
        ]
        bad += [f"{k}" for k, v in self.stats.items() if isinstance(v, float) and not np.isfinite(v)]
        bad += [f"intercept.{k}" for k, v in (self.intercept or {}).items() if not np.isfinite(v)]
        if bad:
            shown = ", ".join(bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
            self.warnings.append(f"not finite (written as null): {shown}")


# --- shared fitting helpers ----------------------------------------------------------------------


def _design(data: AnalysisData, cols: tuple[int, ...]) -> np.ndarray:
    return np.column_stack([np.ones(data.n), data.X[:, list(cols)]])


ALIAS_TOL = 1e-9
"""A feature whose variance left after regressing it on other features is below this fraction of its
own variance is an exact linear combination of them (exact up to rounding)."""


def _gram(data: AnalysisData) -> np.ndarray:
    # centred, so the intercept is orthogonal to every feature and drops out of the alias test
    if "gram" not in data.cache:
        Xc = data.X - data.X.mean(axis=0)
        data.cache["gram"] = Xc.T @ Xc / data.n
    return data.cache["gram"]


def _residual_share(gram: np.ndarray, c: int, others: list[int]) -> tuple[float, np.ndarray]:
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
    gram = _gram(data)
    kept: list[int] = []
    aliased: dict[int, list[int]] = {}
    for c in order:
        share, beta = _residual_share(gram, c, kept)
        if share < ALIAS_TOL:
            aliased[c] = [k for k, b in zip(kept, beta, strict=True) if abs(b) > 1e-6]
        else:
            kept.append(c)
    return tuple(sorted(kept)), aliased


def _alias_text(data: AnalysisData, aliased: dict[int, list[int]]) -> str:
    return "; ".join(
        f"{data.features[c]} is an exact linear combination of "
        + ", ".join(data.features[p] for p in partners)
        for c, partners in aliased.items()
    )


def _resolve_cov(data: AnalysisData, cov_type: str) -> tuple[str, dict]:
    if cov_type == "auto":
        if data.repeated:
            cov_type = "cluster"
        else:
            cov_type = "nonrobust" if data.outcome_kind == "binary" else "HC0"
    if cov_type == "cluster":
        if data.groups is None:
            raise FitError("cov_type cluster needs a seed column to cluster by maze")
        return "cluster", {"groups": data.groups}
    return cov_type, {}


class _NoFit(Exception):
    """A maximum-likelihood fit that did not converge or met perfect separation."""


def _mle(
    data: AnalysisData, cols: tuple[int, ...], cov_type: str = "nonrobust", cov_kwds: dict | None = None
):
    """Logit (binary outcome) or fractional logit (GLM Binomial, probability outcome) on `cols`."""
    exog = _design(data, cols)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if data.outcome_kind == "binary":
                # identification is checked by `identified`; statsmodels' own rank check is a QR per fit
                res = sm.Logit(data.y, exog, check_rank=False).fit(
                    disp=0, method="newton", maxiter=100, cov_type=cov_type, cov_kwds=cov_kwds
                )
                converged = bool(res.mle_retvals.get("converged", False))
            else:
                res = sm.GLM(data.y, exog, family=sm.families.Binomial()).fit(
                    maxiter=100, cov_type=cov_type, cov_kwds=cov_kwds
                )
                converged = bool(res.converged)
        except PerfectSeparationError as exc:
            raise _NoFit("perfect separation") from exc
        except np.linalg.LinAlgError as exc:
            raise _NoFit(f"singular matrix ({exc})") from exc
    # a probability outcome strictly inside (0, 1) that the model fits exactly is a perfect fit with
    # finite coefficients, not separation
    interior = data.outcome_kind == "fraction" and bool(((data.y > 0) & (data.y < 1)).all())
    if not interior and any(issubclass(w.category, PerfectSeparationWarning) for w in caught):
        raise _NoFit("perfect separation")
    params = np.asarray(res.params)
    if not converged or not np.isfinite(params).all():
        raise _NoFit("no convergence")
    return res


def _separation_error(data: AnalysisData, reason: str) -> FitError:
    return FitError(
        f"the maximum-likelihood fit failed ({reason}): the features separate {data.outcome} perfectly or "
        "almost perfectly, so the coefficients run off to infinity and no interval is meaningful. Check "
        "that the outcome is not a function of a feature; drop that feature, or use l1-logit (penalised)"
    )


def _l1_model(C: float) -> LogisticRegression:
    # scikit-learn 1.8 deprecated `penalty` in favour of l1_ratio; older versions ignore l1_ratio
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
        return LogisticRegression(l1_ratio=1.0, solver="liblinear", C=C, random_state=0)
    return LogisticRegression(penalty="l1", solver="liblinear", C=C, random_state=0)


def auc_score(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN when y holds one class."""
    pos = y == 1
    n1 = int(pos.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _splits(data: AnalysisData, n_splits: int, test_size: float) -> list[tuple[np.ndarray, np.ndarray]]:
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


def _score_splits(X: np.ndarray, y: np.ndarray, splits: list, C: float) -> np.ndarray:
    """One row per split: accuracy, AUC, majority baseline, intercept, then the coefficients."""
    out = np.empty((len(splits), 4 + X.shape[1]))
    for s, (train, test) in enumerate(splits):
        ytr, yte = y[train], y[test]
        model = _l1_model(C).fit(X[train], ytr)
        score = model.decision_function(X[test])
        majority = 1 if ytr.mean() >= 0.5 else 0
        out[s, :4] = (
            np.mean((score > 0) == (yte == 1)),
            auc_score(yte, score),
            np.mean(yte == majority),
            model.intercept_[0],
        )
        out[s, 4:] = model.coef_[0]
    return out


def _cv(data: AnalysisData, cols: tuple[int, ...], spec: ModelSpec) -> dict[str, np.ndarray]:
    """Per split: test accuracy, AUC, majority-class baseline, coefficients of an L1 logit on `cols`."""
    key = ("cv", cols, spec.C, spec.splits, spec.test_size)
    if key in data.cache:
        return data.cache[key]
    splits = _splits(data, spec.splits, spec.test_size)
    X = data.X[:, list(cols)]
    y = data.y.astype(int)
    for s, (train, _) in enumerate(splits):
        if y[train].min() == y[train].max():
            raise FitError(
                f"split {s} has one outcome class in its training rows; use fewer splits or more data"
            )
    if data.jobs > 1 and len(splits) > 1:
        from joblib import Parallel, delayed

        # whole blocks of splits per worker; liblinear is deterministic, so the result does not depend on jobs
        blocks = np.array_split(np.arange(len(splits)), min(data.jobs, len(splits)))
        parts = Parallel(n_jobs=len(blocks))(
            delayed(_score_splits)(X, y, [splits[i] for i in block], spec.C) for block in blocks
        )
        table = np.concatenate(parts)
    else:
        table = _score_splits(X, y, splits, spec.C)
    out = {name: table[:, i] for i, name in enumerate(("accuracy", "auc", "baseline", "intercept"))}
    out["coef"] = table[:, 4:]
    data.cache[key] = out
    return out


def _cv_warnings(scores: dict[str, np.ndarray], what: str) -> list[str]:
    undefined = int(np.isnan(scores["auc"]).sum())
    if undefined:
        return [
            f"{what}: AUC undefined in {undefined} test splits holding one outcome class (left out of "
            "auc_mean)"
        ]
    return []


def _mean_sd(values: np.ndarray) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _cv_settings(data: AnalysisData, spec: ModelSpec) -> dict:
    splits = _splits(data, spec.splits, spec.test_size)
    return {
        "C": spec.C,
        "splits": spec.splits,
        "test_size": spec.test_size,
        "n_test": int(np.mean([len(t) for _, t in splits])),
        "split_kind": "grouped by maze seed" if data.repeated else "stratified",
    }


# --- the models ----------------------------------------------------------------------------------


def fit_logit(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """Multiple logistic regression (statsmodels Logit), or a fractional logit (GLM Binomial with
    robust or clustered standard errors) when the outcome is a probability.

    A feature that is an exact linear combination of features listed before it is left out (its row
    is null and flagged `aliased`, with a warning), as R's glm does: its coefficient is not identified.
    """
    cols, aliased = identified(data, list(range(data.k)))
    cov_type, cov_kwds = _resolve_cov(data, spec.cov_type or "auto")
    try:
        res = _mle(data, cols, cov_type, cov_kwds)
    except _NoFit as exc:
        raise _separation_error(data, str(exc)) from None
    alpha = spec.alpha if spec.alpha is not None else 0.05
    params = np.asarray(res.params)
    ci = np.asarray(res.conf_int(alpha))
    terms = pd.DataFrame(
        {
            "coef": params,
            "se": np.asarray(res.bse),
            "z": np.asarray(res.tvalues),
            "p": np.asarray(res.pvalues),
            "ci_low": ci[:, 0],
            "ci_high": ci[:, 1],
            "odds_ratio": np.exp(params),
            "or_ci_low": np.exp(ci[:, 0]),
            "or_ci_high": np.exp(ci[:, 1]),
        },
        index=["(intercept)", *(data.features[c] for c in cols)],
    )
    table = terms.iloc[1:].reindex(list(data.features))
    table["aliased"] = [j in aliased for j in range(data.k)]
    binary = data.outcome_kind == "binary"
    stats = {
        "model": "Logit" if binary else "fractional logit (GLM Binomial, logit link)",
        "n": data.n,
        "n_clusters": data.n_clusters if cov_type == "cluster" else None,
        "cov_type": cov_type,
        "alpha": alpha,
        "pseudo_r2": float(res.prsquared if binary else res.pseudo_rsquared(kind="mcf")),
        "llf": float(res.llf),
        "llnull": float(res.llnull),
        "aic": float(res.aic),
        "bic": float(res.bic if binary else res.bic_llf),
        "iterations": int(res.mle_retvals["iterations"]) if binary else int(res.fit_history["iteration"]),
    }
    if binary:
        stats["llr_p"] = float(res.llr_pvalue)
    result = ModelResult(
        kind="logit",
        key=spec.key,
        stats=stats,
        table=table,
        intercept={k: float(v) for k, v in terms.iloc[0].items()},
    )
    if aliased:
        result.warnings.append(
            f"{_alias_text(data, aliased)} (on the analysed rows): not identified in a joint regression, so "
            "left out of the fit (coefficient null, aliased true). List the feature you want estimated "
            "before its partners in `features` to keep it instead; l1-logit and sign-stability still use it"
        )
    if cov_type == "cluster" and data.n_clusters < 30:
        result.warnings.append(
            f"only {data.n_clusters} maze clusters: clustered standard errors need a few dozen"
        )
    if not binary:
        result.warnings.append(
            f"{data.outcome} is a probability: a fractional logit (quasi-likelihood); "
            "llf, AIC, BIC and pseudo_r2 are quasi-likelihood values"
        )
        spread = float(np.std(data.y))
        if spread < 1e-9:
            result.warnings.append(
                f"{data.outcome} is constant (sd {spread:.1e}, value {float(np.mean(data.y)):.6g}): "
                "every coefficient is 0 by construction and says nothing about the features"
            )
    return result


def fit_l1_logit(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """L1-penalised logistic regression (liblinear) over repeated random train/test splits."""
    _need_binary(data, spec)
    scores = _cv(data, tuple(range(data.k)), spec)
    acc, acc_sd = _mean_sd(scores["accuracy"])
    auc, auc_sd = _mean_sd(scores["auc"])
    base, base_sd = _mean_sd(scores["baseline"])
    coef = scores["coef"]
    table = pd.DataFrame(
        {
            "coef_mean": coef.mean(axis=0),
            "coef_sd": coef.std(axis=0, ddof=1) if len(coef) > 1 else np.zeros(data.k),
            "coef_q025": np.percentile(coef, 2.5, axis=0),
            "coef_q975": np.percentile(coef, 97.5, axis=0),
            "zero_rate": (coef == 0).mean(axis=0),
        },
        index=list(data.features),
    )
    stats = {
        "accuracy_mean": acc,
        "accuracy_sd": acc_sd,
        "auc_mean": auc,
        "auc_sd": auc_sd,
        "baseline_accuracy": base,
        "baseline_sd": base_sd,
        "accuracy_gain": acc - base,
        "intercept_mean": float(scores["intercept"].mean()),
        "n": data.n,
        **_cv_settings(data, spec),
    }
    return ModelResult("l1-logit", spec.key, stats, table, warnings=_cv_warnings(scores, "l1-logit"))


def fit_single(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """Each feature alone: cross-validated accuracy and AUC on the same splits as l1-logit."""
    _need_binary(data, spec)
    rows = {}
    notes: list[str] = []
    baseline = None
    for j, name in enumerate(data.features):
        scores = _cv(data, (j,), spec)
        acc, acc_sd = _mean_sd(scores["accuracy"])
        auc, auc_sd = _mean_sd(scores["auc"])
        baseline = _mean_sd(scores["baseline"])[0]
        rows[name] = {
            "accuracy_mean": acc,
            "accuracy_sd": acc_sd,
            "auc_mean": auc,
            "auc_sd": auc_sd,
            "accuracy_gain": acc - baseline,
            "coef_mean": float(scores["coef"].mean()),
        }
        notes += _cv_warnings(scores, f"single {name}")
    stats = {"baseline_accuracy": baseline, "n": data.n, **_cv_settings(data, spec)}
    return ModelResult(
        "single", spec.key, stats, pd.DataFrame.from_dict(rows, orient="index"), warnings=notes
    )


def fit_drop_one(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """Accuracy and AUC lost (paired over the same splits) when each feature leaves the full set."""
    _need_binary(data, spec)
    if data.k < 2:
        raise FitError("drop-one needs at least 2 features")
    everything = tuple(range(data.k))
    full = _cv(data, everything, spec)
    rows = {}
    notes = _cv_warnings(full, "drop-one (all features)")
    for j, name in enumerate(data.features):
        scores = _cv(data, tuple(i for i in everything if i != j), spec)
        acc_loss = full["accuracy"] - scores["accuracy"]
        auc_loss = full["auc"] - scores["auc"]
        rows[name] = {
            "accuracy_mean": _mean_sd(scores["accuracy"])[0],
            "auc_mean": _mean_sd(scores["auc"])[0],
            "accuracy_loss_mean": _mean_sd(acc_loss)[0],
            "accuracy_loss_sd": _mean_sd(acc_loss)[1],
            "auc_loss_mean": _mean_sd(auc_loss)[0],
            "auc_loss_sd": _mean_sd(auc_loss)[1],
        }
        notes += _cv_warnings(scores, f"drop-one without {name}")
    stats = {
        "accuracy_mean": _mean_sd(full["accuracy"])[0],
        "auc_mean": _mean_sd(full["auc"])[0],
        "baseline_accuracy": _mean_sd(full["baseline"])[0],
        "n": data.n,
        **_cv_settings(data, spec),
    }
    return ModelResult(
        "drop-one", spec.key, stats, pd.DataFrame.from_dict(rows, orient="index"), warnings=notes
    )


def _subset_coef(data: AnalysisData, j: int, cols: list[int], fits: dict) -> tuple[float | None, bool]:
    """Coefficient of feature j in a (fractional) logit on `cols` (which contain j), after leaving out
    the features that are exact linear combinations of j and those before them; and whether any was
    left out. None where the fit does not converge."""
    kept, aliased = identified(data, [j, *(c for c in cols if c != j)])
    if kept not in fits:
        try:
            fits[kept] = np.asarray(_mle(data, kept).params)[1:]
        except _NoFit:
            fits[kept] = None
    coefs = fits[kept]
    return (None if coefs is None else float(coefs[kept.index(j)])), bool(aliased)


def fit_sign_stability(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """For each feature, `subsets` random feature subsets that contain it (sizes uniform on 2..k): how
    often its (fractional) logit coefficient has the opposite sign to the full model's.

    Each feature's reference is the full model; where features are exact linear combinations of others,
    the fits keep the feature under study and leave out the combination partner that comes last.
    """
    everything = list(range(data.k))
    rng = np.random.default_rng(data.seed)
    n_subsets = spec.subsets or 1
    fits = data.cache.setdefault("subset_fits", {})
    rows = {}
    failed_total = 0
    notes = []
    _, aliased = identified(data, everything)
    if aliased:
        notes.append(
            f"{_alias_text(data, aliased)}: a fit holding all of them (the full model included) leaves out "
            "the last listed one other than the feature under study; aliased_dropped counts such subsets"
        )
    for j, name in enumerate(data.features):
        full, _ = _subset_coef(data, j, everything, fits)
        if full is None:
            raise _separation_error(data, "no convergence")
        others = np.array([i for i in everything if i != j], dtype=int)
        coefs = []
        failed = reduced_count = 0
        distinct = set()
        for _ in range(n_subsets):
            size = int(rng.integers(2, data.k + 1)) if data.k >= 2 else 1
            cols = sorted([j, *rng.choice(others, size - 1, replace=False).tolist()])
            distinct.add(tuple(cols))
            coef, reduced = _subset_coef(data, j, cols, fits)
            reduced_count += reduced
            if coef is None:
                failed += 1
            else:
                coefs.append(coef)
        c = np.array(coefs)
        flips = int((np.sign(c) != np.sign(full)).sum())
        rows[name] = {
            "full_coef": full,
            "flip_rate": flips / len(c) if len(c) else float("nan"),
            "flips": flips,
            "subsets": len(c),
            "distinct_subsets": len(distinct),
            "failed": failed,
            "aliased_dropped": reduced_count,
            "coef_min": float(c.min()) if len(c) else float("nan"),
            "coef_median": float(np.median(c)) if len(c) else float("nan"),
            "coef_max": float(c.max()) if len(c) else float("nan"),
        }
        failed_total += failed
    result = ModelResult(
        "sign-stability",
        spec.key,
        {
            "subsets": n_subsets,
            "subset_sizes": f"2..{data.k}" if data.k >= 2 else "1",
            "distinct_fits": len(fits),
            "failed_fits": failed_total,
            "model": "Logit" if data.outcome_kind == "binary" else "fractional logit",
        },
        pd.DataFrame.from_dict(rows, orient="index"),
        warnings=notes,
    )
    if data.k < 2:
        result.warnings.append("one feature only: its one subset is the full model, so flip_rate is 0")
    if failed_total:
        result.warnings.append(
            f"{failed_total} of the subset fits did not converge (separation) and are left out of flip_rate"
        )
    return result


def fit_vif(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """Variance inflation factors (each feature regressed on the others and a constant) and the
    Pearson correlation matrix of the analysed rows. An exact linear combination has VIF inf."""
    exog = _design(data, tuple(range(data.k)))
    gram = _gram(data)
    vif = np.empty(data.k)
    for j in range(data.k):
        others = [i for i in range(data.k) if i != j]
        if _residual_share(gram, j, others)[0] < ALIAS_TOL:
            vif[j] = np.inf  # rounding would otherwise report some huge finite number
        else:
            # statsmodels warns about the conditioning of the whole design when other features are
            # exactly dependent; this feature's VIF is still well defined
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vif[j] = variance_inflation_factor(exog, j + 1)
    corr = np.atleast_2d(np.corrcoef(data.X, rowvar=False))
    off = np.abs(corr - np.eye(data.k))
    table = pd.DataFrame(
        {"vif": vif, "max_abs_corr": off.max(axis=1) if data.k > 1 else np.zeros(1)},
        index=list(data.features),
    )
    corr_frame = pd.DataFrame(corr, index=list(data.features), columns=list(data.features))
    inf = [n for n, v in zip(data.features, vif, strict=True) if not np.isfinite(v)]
    result = ModelResult(
        "vif",
        spec.key,
        {"n": data.n},
        table,
        extra={"correlation": corr_frame},
        warnings=[f"exact linear dependency among {', '.join(inf)}: VIF infinite (written as null)"]
        if inf
        else [],
        explained=tuple(f"{n}.vif" for n in inf),
    )
    high = [
        f"{n} ({v:.1f})" for n, v in zip(data.features, vif, strict=True) if np.isfinite(v) and v > VIF_WARN
    ]
    if high:
        result.warnings.append(
            f"VIF above {VIF_WARN:g}: {', '.join(high)}; the logit coefficients of these features are "
            "poorly separated from each other (see sign-stability)"
        )
    return result


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


def fit_rate(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """The outcome's mean over the analysed rows with a (1 - alpha) interval.

    Binary outcome: Wilson's score interval; when mazes repeat (several rollouts each) the sample size
    is divided by the design effect (the cluster-robust variance of the mean over the binomial one), as
    episodes of one maze are not independent. Probability outcome (one row per maze): a normal interval
    on the mean, clipped to [0, 1]. The features are not used.
    """
    alpha = spec.alpha if spec.alpha is not None else 0.05
    z = float(norm.ppf(1 - alpha / 2))
    y, n = data.y, data.n
    rate = float(y.mean())
    stats: dict = {"rate": rate}
    if data.outcome_kind == "binary":
        deff = 1.0
        naive = rate * (1 - rate) / n
        if data.repeated and naive > 0:
            _, inverse = np.unique(data.groups, return_inverse=True)
            sums = np.bincount(inverse, weights=y - rate)
            deff = max(1.0, float((sums**2).sum() / n**2 / naive))
        low, high = wilson_interval(rate, n / deff, z)
        stats |= {
            "ci_low": low,
            "ci_high": high,
            "successes": int(y.sum()),
            "n_effective": n / deff,
            "design_effect": deff,
            "interval": "Wilson" + (", n divided by the design effect" if deff > 1 else ""),
        }
    else:
        half = z * float(y.std(ddof=1)) / np.sqrt(n)
        stats |= {"ci_low": max(0.0, rate - half), "ci_high": min(1.0, rate + half), "interval": "normal"}
    stats |= {"alpha": alpha, "n": n, "n_clusters": data.n_clusters}
    return ModelResult("rate", spec.key, stats, pd.DataFrame(index=pd.Index([], dtype=object)))


def _need_binary(data: AnalysisData, spec: ModelSpec) -> None:
    if data.outcome_kind != "binary":
        raise FitError(f"{spec.kind} needs a binary outcome; {data.outcome} is a probability")


MODELS: dict[str, Callable[[AnalysisData, ModelSpec], ModelResult]] = {
    "logit": fit_logit,
    "l1-logit": fit_l1_logit,
    "single": fit_single,
    "drop-one": fit_drop_one,
    "sign-stability": fit_sign_stability,
    "vif": fit_vif,
    "rate": fit_rate,
}
