"""How each model kind reads in summary.txt: a function `KIND_summary(key, result) -> list[str]`, named
by the kind's record in mazeprobe.stats.kinds. FitResult.summary_text puts the plan's header above them
and each model's warnings below.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mazeprobe.stats.modelfits import ModelResult


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _grid(headers: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Aligned columns: text columns (the first, or the listed `left` count from the end when
    negative) left-aligned, numbers right-aligned."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    text = {0} | ({len(headers) + left} if left < 0 else set())
    out = []
    for r in [headers, *rows]:
        cells = [
            c.ljust(w) if i in text else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def logit_summary(key: str, m: ModelResult) -> list[str]:
    s = m.stats
    level = round(100 * (1 - s["alpha"]))
    head = (
        f"{key}: {s['model']}, SE {s['cov_type']}"
        + (f" ({s['n_clusters']} mazes)" if s.get("n_clusters") else "")
        + f"; n = {s['n']}, McFadden R2 {_num(s['pseudo_r2'])}, AIC {_num(s['aic'], 1)}, "
        f"BIC {_num(s['bic'], 1)}"
    )
    rows = []
    for name, r in [("(intercept)", pd.Series(m.intercept)), *m.table.iterrows()]:
        if bool(r.get("aliased", False)):
            rows.append([name, "aliased", "", "", "", "", ""])
            continue
        cells = [r["coef"], r["se"], r["ci_low"], r["ci_high"]]
        rows.append([name, *(_num(v) for v in cells), _p(r["p"]), _num(r["odds_ratio"])])
    return [
        head,
        *_grid(["feature", "coef", "se", f"{level}% low", f"{level}% high", "p", "odds ratio"], rows),
    ]


def _cv_head(key: str, s: dict, what: str) -> str:
    return (
        f"{key}: {what}, L1 logit C = {s['C']:g}, {s['splits']} {s['split_kind']} splits "
        f"(test {s['test_size']:g}, ~{s['n_test']} rows)"
    )


def l1_logit_summary(key: str, m: ModelResult) -> list[str]:
    s = m.stats
    head = (
        _cv_head(key, s, "repeated splits")
        + f"; accuracy {_num(s['accuracy_mean'])} +- {_num(s['accuracy_sd'])}, AUC {_num(s['auc_mean'])}"
        f" +- {_num(s['auc_sd'])}, majority baseline {_num(s['baseline_accuracy'])}"
    )
    rows = [
        [
            name,
            _num(r["coef_mean"]),
            _num(r["coef_sd"]),
            _num(r["coef_q025"]),
            _num(r["coef_q975"]),
            _num(r["zero_rate"], 2),
        ]
        for name, r in m.table.iterrows()
    ]
    return [head, *_grid(["feature", "coef mean", "sd", "2.5%", "97.5%", "zero rate"], rows)]


def single_summary(key: str, m: ModelResult) -> list[str]:
    s = m.stats
    head = _cv_head(key, s, "each feature alone") + f"; majority baseline {_num(s['baseline_accuracy'])}"
    table = m.table.sort_values("accuracy_mean", ascending=False)
    rows = [
        [
            name,
            _num(r["accuracy_mean"]),
            _num(r["accuracy_sd"]),
            _num(r["auc_mean"]),
            _num(r["auc_sd"]),
            _num(r["coef_mean"]),
        ]
        for name, r in table.iterrows()
    ]
    return [head, *_grid(["feature", "accuracy", "sd", "AUC", "sd", "coef"], rows)]


def drop_one_summary(key: str, m: ModelResult) -> list[str]:
    s = m.stats
    head = (
        _cv_head(key, s, "each feature dropped") + f"; all features: accuracy {_num(s['accuracy_mean'])}, "
        f"AUC {_num(s['auc_mean'])}"
    )
    table = m.table.sort_values("accuracy_loss_mean", ascending=False)
    rows = [
        [
            name,
            _num(r["accuracy_mean"]),
            _num(r["accuracy_loss_mean"], 4),
            _num(r["accuracy_loss_sd"], 4),
            _num(r["auc_loss_mean"], 4),
            _num(r["auc_loss_sd"], 4),
        ]
        for name, r in table.iterrows()
    ]
    return [head, *_grid(["dropped feature", "accuracy", "acc. lost", "sd", "AUC lost", "sd"], rows)]


def sign_stability_summary(key: str, m: ModelResult) -> list[str]:
    s = m.stats
    head = (
        f"{key}: coefficient sign over {s['subsets']} random feature subsets per feature "
        f"(sizes {s['subset_sizes']}, {s['model']}; {s['distinct_fits']} distinct fits)"
    )
    rows = [
        [
            name,
            _num(r["full_coef"]),
            _num(r["flip_rate"]),
            f"{int(r['flips'])}/{int(r['subsets'])}",
            _num(r["coef_min"]),
            _num(r["coef_median"]),
            _num(r["coef_max"]),
        ]
        for name, r in m.table.iterrows()
    ]
    return [head, *_grid(["feature", "full coef", "flip rate", "flips", "min", "median", "max"], rows)]


def vif_summary(key: str, m: ModelResult) -> list[str]:
    head = f"{key}: variance inflation factors (with a constant) and the strongest correlation"
    corr = m.extra["correlation"]
    rows = []
    for name, r in m.table.iterrows():
        others = corr.loc[name].drop(name).abs()
        partner = f"{others.idxmax()} ({corr.loc[name, others.idxmax()]:+.3f})" if len(others) else ""
        vif = "inf" if r["vif"] == np.inf else _num(r["vif"], 2)
        rows.append([name, vif, partner])
    return [head, *_grid(["feature", "VIF", "most correlated with"], rows, left=-1)]


def rate_summary(key: str, m: ModelResult) -> list[str]:
    s = m.stats
    level = round(100 * (1 - s["alpha"]))
    count = f"{s['successes']} of {s['n']}" if "successes" in s else f"mean of {s['n']}"
    return [
        f"{key}: rate {_num(s['rate'])} ({count}), {level}% interval [{_num(s['ci_low'])}, "
        f"{_num(s['ci_high'])}] ({s['interval']})"
    ]
