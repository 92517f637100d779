"""How each model kind is fitted: a function `fit_KIND(data, spec) -> ModelResult`, named by the kind's
record in mazeprobe.stats.kinds (the registry that also declares its settings, summary and quantities).

A ModelResult holds model-level statistics (`stats`), one row per feature (`table`), the features left
out as exact linear combinations of others (`aliased`), and the warnings met while fitting, those of
statsmodels and scikit-learn included (counted over a model's many fits; mazeprobe.stats.fitwarnings).
Everything random (splits, subsets) is seeded by the plan's `seed`, so a plan fitted twice to the same
data gives the same numbers.

The machinery lives beside this module: design (identification), mle (statsmodels fits), cv (repeated
splits), measures (Wilson interval, AUC; re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.stats.outliers_influence import variance_inflation_factor
from statsmodels.tools.sm_exceptions import SingularMatrixWarning

from mazeprobe.stats.cv import FITS, auc_note, cv_scores, cv_settings, mean_sd
from mazeprobe.stats.data import AnalysisData
from mazeprobe.stats.design import (
    ALIAS_TOL,
    alias_names,
    alias_text,
    centred_gram,
    design_matrix,
    identified,
    residual_share,
)
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.fitwarnings import Met, WarningTally, join, recording, summarize
from mazeprobe.stats.measures import auc_score, wilson_interval
from mazeprobe.stats.mle import NoFit, mle, resolve_cov, separation_error
from mazeprobe.stats.planspec import ModelSpec

__all__ = [
    "VIF_WARN",
    "ModelResult",
    "auc_score",
    "fit_drop_one",
    "fit_l1_logit",
    "fit_logit",
    "fit_rate",
    "fit_sign_stability",
    "fit_single",
    "fit_vif",
    "wilson_interval",
]

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
    aliased: dict[str, list[str]] | None = None
    """Each feature that is an exact linear combination of features listed before it, with the names of
    those (kept) features; empty when there is none. Given by the models that check identification
    (logit, sign-stability), None for the others."""

    def __repr__(self) -> str:
        return f"ModelResult({self.key!r}, kind {self.kind}, {len(self.table)} features)"

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


def _need_binary(data: AnalysisData, spec: ModelSpec) -> None:
    if data.outcome_kind != "binary":
        raise FitError(f"{spec.kind} needs a binary outcome; {data.outcome} is a probability")


# --- the models ----------------------------------------------------------------------------------


def fit_logit(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """Multiple logistic regression (statsmodels Logit), or a fractional logit (GLM Binomial with
    robust or clustered standard errors) when the outcome is a probability.

    A feature that is an exact linear combination of features listed before it is left out (its row
    is null and flagged `aliased`, with a warning), as R's glm does: its coefficient is not identified.
    """
    cols, aliased = identified(data, list(range(data.k)))
    cov_type, cov_kwds = resolve_cov(data, spec.cov_type or "auto")
    alpha = spec.alpha  # parse_plan fills it (DEFAULT_ALPHA unless the plan gives one)
    binary = data.outcome_kind == "binary"
    # statsmodels computes bse, llnull (a second fit), ... when first read: they may warn too
    with recording() as caught:
        try:
            res, met = mle(data, cols, cov_type, cov_kwds)
        except NoFit as exc:
            raise separation_error(data, str(exc)) from None
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
    fitted = WarningTally()
    fitted.add(join(met, summarize(caught, "statsmodels")))
    table = terms.iloc[1:].reindex(list(data.features))
    table["aliased"] = [j in aliased for j in range(data.k)]
    result = ModelResult(
        kind="logit",
        key=spec.key,
        stats=stats,
        table=table,
        intercept={k: float(v) for k, v in terms.iloc[0].items()},
        aliased=alias_names(data, aliased),
    )
    if aliased:
        result.warnings.append(
            f"{alias_text(result.aliased)} (on the analysed rows): not identified in a joint regression, so "
            "left out of the fit (coefficient null, aliased true). List the feature you want estimated "
            "before its partners in `features` to keep it instead; l1-logit and sign-stability still use it"
        )
    result.warnings += fitted.lines("fits")
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
    scores = cv_scores(data, tuple(range(data.k)), spec)
    acc, acc_sd = mean_sd(scores.accuracy)
    auc, auc_sd = mean_sd(scores.auc)
    base, base_sd = mean_sd(scores.baseline)
    coef = scores.coef
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
        "intercept_mean": float(scores.intercept.mean()),
        "n": data.n,
        **cv_settings(data, spec),
    }
    notes = auc_note(scores, "l1-logit") + scores.fit_warnings.lines(FITS)
    return ModelResult("l1-logit", spec.key, stats, table, warnings=notes)


def fit_single(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """Each feature alone: cross-validated accuracy and AUC on the same splits as l1-logit."""
    _need_binary(data, spec)
    rows = {}
    notes: list[str] = []
    fitted = WarningTally()
    baseline = None
    for j, name in enumerate(data.features):
        scores = cv_scores(data, (j,), spec)
        acc, acc_sd = mean_sd(scores.accuracy)
        auc, auc_sd = mean_sd(scores.auc)
        baseline = mean_sd(scores.baseline)[0]
        rows[name] = {
            "accuracy_mean": acc,
            "accuracy_sd": acc_sd,
            "auc_mean": auc,
            "auc_sd": auc_sd,
            "accuracy_gain": acc - baseline,
            "coef_mean": float(scores.coef.mean()),
        }
        notes += auc_note(scores, f"single {name}")
        fitted.merge(scores.fit_warnings, where=f"{name} alone")
    stats = {"baseline_accuracy": baseline, "n": data.n, **cv_settings(data, spec)}
    return ModelResult(
        "single",
        spec.key,
        stats,
        pd.DataFrame.from_dict(rows, orient="index"),
        warnings=notes + fitted.lines(FITS),
    )


def fit_drop_one(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """Accuracy and AUC lost (paired over the same splits) when each feature leaves the full set."""
    _need_binary(data, spec)
    if data.k < 2:
        raise FitError("drop-one needs at least 2 features")
    everything = tuple(range(data.k))
    full = cv_scores(data, everything, spec)
    rows = {}
    notes = auc_note(full, "drop-one (all features)")
    fitted = WarningTally()
    fitted.merge(full.fit_warnings, where="all features")
    for j, name in enumerate(data.features):
        scores = cv_scores(data, tuple(i for i in everything if i != j), spec)
        acc_loss = full.accuracy - scores.accuracy
        auc_loss = full.auc - scores.auc
        rows[name] = {
            "accuracy_mean": mean_sd(scores.accuracy)[0],
            "auc_mean": mean_sd(scores.auc)[0],
            "accuracy_loss_mean": mean_sd(acc_loss)[0],
            "accuracy_loss_sd": mean_sd(acc_loss)[1],
            "auc_loss_mean": mean_sd(auc_loss)[0],
            "auc_loss_sd": mean_sd(auc_loss)[1],
        }
        notes += auc_note(scores, f"drop-one without {name}")
        fitted.merge(scores.fit_warnings, where=f"without {name}")
    stats = {
        "accuracy_mean": mean_sd(full.accuracy)[0],
        "auc_mean": mean_sd(full.auc)[0],
        "baseline_accuracy": mean_sd(full.baseline)[0],
        "n": data.n,
        **cv_settings(data, spec),
    }
    return ModelResult(
        "drop-one",
        spec.key,
        stats,
        pd.DataFrame.from_dict(rows, orient="index"),
        warnings=notes + fitted.lines(FITS),
    )


def _subset_coef(
    data: AnalysisData, j: int, cols: list[int], fits: dict, used: dict
) -> tuple[float | None, bool]:
    """Coefficient of feature j in a (fractional) logit on `cols` (which contain j), after leaving out
    the features that are exact linear combinations of j and those before them; and whether any was
    left out. None where the fit does not converge. `fits` caches (coefficients, warnings met) per set
    of kept columns; `used` collects the sets this model read (an ordered set: a dict of None)."""
    kept, aliased = identified(data, [j, *(c for c in cols if c != j)])
    if kept not in fits:
        try:
            res, met = mle(data, kept)
            fits[kept] = (np.asarray(res.params)[1:], met)
        except NoFit as exc:
            # the fit is left out (and counted in `failed`); its warnings are still reported
            fits[kept] = (None, exc.met)
    used[kept] = None
    coefs = fits[kept][0]
    return (None if coefs is None else float(coefs[kept.index(j)])), bool(aliased)


def fit_sign_stability(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """For each feature, `subsets` random feature subsets that contain it (sizes uniform on 2..k): how
    often its (fractional) logit coefficient has the opposite sign to the full model's.

    Each feature's reference is the full model; where features are exact linear combinations of others,
    the fits keep the feature under study and leave out the combination partner that comes last.
    """
    everything = list(range(data.k))
    rng = np.random.default_rng(data.seed)
    n_subsets = spec.subsets  # parse_plan fills it (DEFAULT_SUBSETS unless the plan gives one)
    fits: dict[tuple[int, ...], tuple[np.ndarray | None, Met]] = data.cache.setdefault("subset_fits", {})
    used: dict[tuple[int, ...], None] = {}
    rows = {}
    failed_total = 0
    notes = []
    _, aliased = identified(data, everything)
    aliased_names = alias_names(data, aliased)
    if aliased:
        notes.append(
            f"{alias_text(aliased_names)}: a fit holding all of them (the full model included) leaves out "
            "the last listed one other than the feature under study; aliased_dropped counts such subsets"
        )
    for j, name in enumerate(data.features):
        full, _ = _subset_coef(data, j, everything, fits, used)
        if full is None:
            raise separation_error(data, "no convergence")
        others = np.array([i for i in everything if i != j], dtype=int)
        coefs = []
        failed = reduced_count = 0
        distinct = set()
        for _ in range(n_subsets):
            size = int(rng.integers(2, data.k + 1)) if data.k >= 2 else 1
            cols = sorted([j, *rng.choice(others, size - 1, replace=False).tolist()])
            distinct.add(tuple(cols))
            coef, reduced = _subset_coef(data, j, cols, fits, used)
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
    fitted = WarningTally()
    for kept in used:
        fitted.add(fits[kept][1])
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
        aliased=aliased_names,
    )
    if data.k < 2:
        result.warnings.append("one feature only: its one subset is the full model, so flip_rate is 0")
    if failed_total:
        result.warnings.append(
            f"{failed_total} of the subset fits did not converge (separation) and are left out of flip_rate"
        )
    result.warnings += fitted.lines("distinct fits")
    return result


def _vif_consequence(label: str, message: str) -> bool:
    """Whether a warning of a VIF regression only restates an exact linear dependency among the features
    (which fit_vif reports itself, naming the features): statsmodels then finds the design rank-deficient
    and badly conditioned for every feature, though the VIF of a feature outside the dependency is still
    well defined."""
    return label == f"statsmodels {SingularMatrixWarning.__name__}" or (
        label == "statsmodels UserWarning" and message.startswith("The design matrix is poorly conditioned")
    )


def fit_vif(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """Variance inflation factors (each feature regressed on the others and a constant) and the
    Pearson correlation matrix of the analysed rows. An exact linear combination has VIF inf."""
    exog = design_matrix(data, tuple(range(data.k)))
    gram = centred_gram(data)
    dependent = [
        j
        for j in range(data.k)
        if residual_share(gram, j, [i for i in range(data.k) if i != j])[0] < ALIAS_TOL
    ]
    vif = np.empty(data.k)
    fitted = WarningTally()
    for j in range(data.k):
        if j in dependent:
            vif[j] = np.inf  # rounding would otherwise report some huge finite number
            continue
        with recording() as caught:
            vif[j] = variance_inflation_factor(exog, j + 1)
        met = summarize(caught, "statsmodels")
        fitted.add(tuple(m for m in met if not (dependent and _vif_consequence(*m))))
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
    result.warnings += fitted.lines("VIF regressions")
    return result


def fit_rate(data: AnalysisData, spec: ModelSpec) -> ModelResult:
    """The outcome's mean over the analysed rows with a (1 - alpha) interval.

    Binary outcome: Wilson's score interval; when mazes repeat (several rollouts each) the sample size
    is divided by the design effect (the cluster-robust variance of the mean over the binomial one), as
    episodes of one maze are not independent. Probability outcome (one row per maze): a normal interval
    on the mean, clipped to [0, 1]. The features are not used.
    """
    alpha = spec.alpha  # parse_plan fills it (DEFAULT_ALPHA unless the plan gives one)
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

