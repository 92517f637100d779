"""Resolution rules: how an auto question's answer is read off a fitted analysis plan.

A question's `resolution` names a plan (analysis/<name>.yaml), a model of that plan, a quantity of that
model's JSON (a dotted path such as `features.euc_dist_cheese_decision_square.coef`) and a rule:

    resolution: {method: auto, analysis: behavioral, model: logit,
                 quantity: features.euc_dist_cheese_decision_square.coef, rule: negative-significant}
    resolution: {method: auto, analysis: tl-br-cheese-rate, model: rate, quantity: rate,
                 rule: greater-than, threshold: 0.3}
    resolution: {method: auto, analysis: behavioral, rule: all-of, rules: [{model: ..., ...}, ...]}

Outcomes are three-valued: yes, no, or unresolved (with a reason: an aliased feature, an interval that
straddles zero, a plan that could not be fitted on the run). The rules are a small fixed set (RULES),
not free expressions, so that what a registered question means cannot drift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mazeprobe.errors import UsageError
from mazeprobe.registry.model import METHODS
from mazeprobe.yamlio import SpecError, describe_value, suggest

RULES: dict[str, str] = {
    "negative-significant": "yes: coef < 0 and its 95% interval excludes 0; no: coef > 0 and the interval "
    "excludes 0; else unresolved",
    "positive-significant": "yes: coef > 0 and its 95% interval excludes 0; no: coef < 0 and the interval "
    "excludes 0; else unresolved",
    "greater-than": "yes: quantity > threshold; no: quantity <= threshold; unresolved when it is missing",
    "less-than": "yes: quantity < threshold; no: quantity >= threshold; unresolved when it is missing",
    "no-effect": "no: the coef's 95% interval excludes 0 (either sign); yes: the interval lies inside "
    "[-threshold, threshold] (an equivalence test); else unresolved (too imprecise to tell)",
    "all-of": "over `rules`: no if any is no, yes if all are yes, else unresolved",
    "any-of": "over `rules`: yes if any is yes, no if all are no, else unresolved",
}  # fmt: skip
_INTERVAL_RULES = ("negative-significant", "positive-significant", "no-effect")
_THRESHOLD_RULES = ("greater-than", "less-than", "no-effect")
_COMBINATORS = ("all-of", "any-of")

_KEYS = {
    "method": "auto or manual",
    "analysis": "an analysis plan name (analysis/<name>.yaml)",
    "model": "the key of a model in that plan (logit, vif, ...)",
    "quantity": "a dotted path into the model's result, e.g. features.NAME.coef",
    "rule": " | ".join(RULES),
    "threshold": "a number (greater-than, less-than, no-effect)",
    "rules": "sub-rules of all-of / any-of",
}  # fmt: skip
_SUB_KEYS = {k: v for k, v in _KEYS.items() if k != "method"}

# --- what each model kind writes (mazeprobe.stats.result: FitResult.to_json) ---------------------

_LOGIT_TERM = ("coef", "se", "z", "p", "ci_low", "ci_high", "odds_ratio", "or_ci_low", "or_ci_high")
_CV = ("C", "splits", "test_size", "n_test")
QUANTITIES: dict[str, dict[str, tuple[str, ...]]] = {
    "logit": {
        "model": (
            "n", "n_clusters", "alpha", "pseudo_r2", "llf", "llnull", "aic", "bic", "iterations", "llr_p",
        ),
        "features": _LOGIT_TERM,
        "intercept": _LOGIT_TERM,
    },
    "l1-logit": {
        "model": (
            "accuracy_mean", "accuracy_sd", "auc_mean", "auc_sd", "baseline_accuracy", "baseline_sd",
            "accuracy_gain", "intercept_mean", "n", *_CV,
        ),
        "features": ("coef_mean", "coef_sd", "coef_q025", "coef_q975", "zero_rate"),
    },
    "single": {
        "model": ("baseline_accuracy", "n", *_CV),
        "features": ("accuracy_mean", "accuracy_sd", "auc_mean", "auc_sd", "accuracy_gain", "coef_mean"),
    },
    "drop-one": {
        "model": ("accuracy_mean", "auc_mean", "baseline_accuracy", "n", *_CV),
        "features": (
            "accuracy_mean", "auc_mean", "accuracy_loss_mean", "accuracy_loss_sd", "auc_loss_mean",
            "auc_loss_sd",
        ),
    },
    "sign-stability": {
        "model": ("subsets", "distinct_fits", "failed_fits"),
        "features": (
            "full_coef", "flip_rate", "flips", "subsets", "distinct_subsets", "failed", "aliased_dropped",
            "coef_min", "coef_median", "coef_max",
        ),
    },
    "vif": {"model": ("n",), "features": ("vif", "max_abs_corr"), "correlation": ()},
    "rate": {
        "model": (
            "rate", "ci_low", "ci_high", "successes", "n_effective", "design_effect", "alpha", "n",
            "n_clusters",
        ),
    },
}  # fmt: skip
"""Numeric quantities per model kind: model-level keys, per-feature keys (features.NAME.KEY), the
intercept's keys (intercept.KEY), and for vif the correlation matrix (correlation.NAME.NAME)."""
BINARY_ONLY_QUANTITIES = {
    ("logit", "llr_p"),
    ("rate", "successes"),
    ("rate", "n_effective"),
    ("rate", "design_effect"),
}
"""Quantities written only for a binary outcome (not for a probability such as p_cheese_at_dsq)."""
ALIASED_WITH = "aliased_with"
"""Model-level key of logit and sign-stability: {feature: [the features listed before it that it is an
exact linear combination of]} (mazeprobe.stats.result). Not a quantity: the interval rules read it to
name an aliased feature's partners."""
ALIASED_KINDS = ("logit", "sign-stability")
"""The model kinds that write ALIASED_WITH."""


# --- checking ------------------------------------------------------------------------------------

_plan_cache: dict[tuple[str, int], Any] = {}


def _plan(path: Path):
    """The validated plan at `path`, or the SpecError message; cached while the file is unchanged."""
    from mazeprobe.stats.plan import load_plan

    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _plan_cache:
        try:
            _plan_cache[key] = load_plan(path)
        except SpecError as exc:
            _plan_cache[key] = str(exc)
    return _plan_cache[key]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_quantity(quantity: str, kind: str, plan, rule: str) -> str | None:
    """Why `quantity` is not something a `kind` model of `plan` produces (or `rule` can use), or None."""
    schema = QUANTITIES[kind]
    parts = quantity.split(".")
    section = parts[0]
    if len(parts) == 1:
        if section not in schema["model"]:
            known = [*schema["model"], *(f"{s}.…" for s in schema if s != "model")]
            return f"a {kind} model has no quantity {quantity!r}{suggest(quantity, schema['model'])}; " + (
                f"it has {', '.join(known)}"
            )
        if (kind, section) in BINARY_ONLY_QUANTITIES and plan.outcome_kind != "binary":
            return (
                f"{quantity} is written only for a binary outcome; plan {plan.name}'s {plan.outcome} "
                "is a probability"
            )
    elif section == "features" and "features" in schema:
        if len(parts) != 3:
            return f"a feature quantity is features.NAME.STAT; got {quantity!r}"
        name, stat = parts[1], parts[2]
        if name not in plan.features:
            return (
                f"feature {name!r} is not in plan {plan.name}'s features{suggest(name, plan.features)} "
                f"({', '.join(plan.features) or 'none'})"
            )
        if stat not in schema["features"]:
            return (
                f"a {kind} model has no per-feature {stat!r}{suggest(stat, schema['features'])}; "
                f"it has {', '.join(schema['features'])}"
            )
    elif section == "intercept" and "intercept" in schema:
        if len(parts) != 2 or parts[1] not in schema["intercept"]:
            return f"the intercept's quantities are intercept.{{{','.join(schema['intercept'])}}}"
    elif section == "correlation" and "correlation" in schema:
        if len(parts) != 3 or any(p not in plan.features for p in parts[1:]):
            return f"a correlation is correlation.NAME.NAME with two of plan {plan.name}'s features"
    else:
        sections = ", ".join(s for s in schema if s != "model") or "none"
        return f"a {kind} model has no section {section!r} (its sections: {sections})"
    if rule in _INTERVAL_RULES and not (kind == "logit" and parts[-1] == "coef"):
        return (
            f"{rule} reads the confidence interval next to a logit coefficient: the quantity must be "
            f"features.NAME.coef (or intercept.coef) of a logit model; got {quantity!r} of a {kind} model"
        )
    return None


def check_resolution(resolution: Mapping, analysis_dir: Path) -> list[tuple[tuple, str]]:
    """Problems with a question's `resolution` mapping, each as (key path inside it, message): the
    method, the rule and its threshold, and that the plan analysis_dir/<analysis>.yaml exists and is
    valid, holds the model, and that the model produces the quantity."""
    if not isinstance(resolution, Mapping):
        return [((), f"must be a mapping {{method: auto|manual, ...}}; got {describe_value(resolution)}")]
    method = resolution.get("method")
    if "method" not in resolution:
        return [((), "missing required key 'method' (auto or manual)")]
    if method not in METHODS:
        return [(("method",), f"must be auto or manual; got {method!r}{suggest(str(method), METHODS)}")]
    if method == "manual":
        return []  # resolved by a person in resolutions-manual.yaml; the registry checks its keys
    problems: list[tuple[tuple, str]] = []
    for key in resolution:
        if key not in _KEYS:
            problems.append(((key,), f"unknown key{suggest(str(key), _KEYS)}; allowed: {', '.join(_KEYS)}"))
    problems += _check_rule(resolution, (), Path(analysis_dir), None)
    return problems


def _check_rule(
    res: Mapping, kp: tuple, analysis_dir: Path, inherited: str | None
) -> list[tuple[tuple, str]]:
    out: list[tuple[tuple, str]] = []
    rule = res.get("rule")
    if "rule" not in res:
        return [(kp, f"missing required key 'rule' ({' | '.join(RULES)})")]
    if rule not in RULES:
        return [
            ((*kp, "rule"), f"unknown rule {rule!r}{suggest(str(rule), RULES)}; known: {', '.join(RULES)}")
        ]
    analysis = res.get("analysis", inherited)
    if "analysis" in res and not isinstance(res["analysis"], str):
        out.append(((*kp, "analysis"), f"must be a plan name; got {describe_value(res['analysis'])}"))
        analysis = None
    if rule in _COMBINATORS:
        subs = res.get("rules")
        if not isinstance(subs, list) or not subs:
            return [
                *out,
                (
                    (*kp, "rules") if "rules" in res else kp,
                    f"{rule} needs `rules`: a non-empty list of sub-rules",
                ),
            ]
        for key in ("model", "quantity", "threshold"):
            if key in res:
                out.append(((*kp, key), f"{rule} takes no {key}; give it in each of `rules`"))
        for i, sub in enumerate(subs):
            skp = (*kp, "rules", i)
            if not isinstance(sub, Mapping):
                out.append(
                    (skp, f"must be a mapping {{model, quantity, rule, ...}}; got {describe_value(sub)}")
                )
                continue
            for key in sub:
                if key not in _SUB_KEYS:
                    out.append(
                        (
                            (*skp, key),
                            f"unknown key{suggest(str(key), _SUB_KEYS)}; allowed: {', '.join(_SUB_KEYS)}",
                        )
                    )
            out += _check_rule(sub, skp, analysis_dir, analysis)
        return out
    if "rules" in res:
        out.append(((*kp, "rules"), f"only all-of / any-of take `rules`; {rule} does not"))
    if rule in _THRESHOLD_RULES:
        if "threshold" not in res:
            out.append((kp, f"missing required key 'threshold' ({rule} compares against a number)"))
        elif not _is_number(res["threshold"]) or not math.isfinite(res["threshold"]):
            out.append(((*kp, "threshold"), f"must be a number; got {describe_value(res['threshold'])}"))
        elif rule == "no-effect" and not res["threshold"] > 0:
            out.append(((*kp, "threshold"), f"the equivalence margin must be > 0; got {res['threshold']}"))
    elif "threshold" in res:
        out.append(((*kp, "threshold"), f"{rule} takes no threshold (it reads the 95% interval)"))
    missing = [k for k in ("model", "quantity") if k not in res]
    if analysis is None and "analysis" not in res:
        missing.insert(0, "analysis")
    for key in missing:
        out.append((kp, f"missing required key {key!r} ({_KEYS[key]})"))
    for key in ("model", "quantity"):
        if key in res and not isinstance(res[key], str):
            out.append(((*kp, key), f"must be text; got {describe_value(res[key])}"))
    if missing or out or not isinstance(analysis, str):
        return out
    path = analysis_dir / f"{analysis}.yaml"
    where = (*kp, "analysis") if "analysis" in res else kp
    if not path.is_file():
        known = sorted(p.stem for p in analysis_dir.glob("*.yaml")) if analysis_dir.is_dir() else []
        return [(where, f"no analysis plan {path}{suggest(analysis, known)}")]
    plan = _plan(path)
    if isinstance(plan, str):
        return [(where, f"analysis plan {path} is not valid: {plan.splitlines()[0]}")]
    if plan.name != analysis:
        return [(where, f"{path} names its plan {plan.name!r}, not {analysis!r}")]
    keys = [m.key for m in plan.models]
    if res["model"] not in keys:
        return [
            (
                (*kp, "model"),
                f"plan {analysis} has no model {res['model']!r}{suggest(res['model'], keys)} "
                f"(its models: {', '.join(keys)})",
            )
        ]
    why = _check_quantity(res["quantity"], plan.model(res["model"]).kind, plan, rule)
    if why:
        out.append(((*kp, "quantity"), why))
    return out


# --- evaluating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    outcome: str
    """yes, no or unresolved."""
    numbers: dict = field(default_factory=dict)
    """The numbers the outcome was decided from (coef, ci_low, ci_high, p, value, threshold, ...)."""
    evidence: str = ""
    """One line for people: "logit coef -0.31, 95% CI [-0.45, -0.17], p 2.1e-05 (...)"."""
    reason: str | None = None
    """Why the outcome is unresolved (None otherwise)."""


def _g(x: float) -> str:
    return f"{x:.3g}"


def _walk(doc: Mapping, path: str) -> tuple[Any, Mapping | None]:
    """The value at a dotted path and the mapping that holds it (None, None where absent)."""
    node: Any = doc
    parent = None
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None, None
        parent, node = node, node[part]
    return node, parent


def _unresolved(reason: str, numbers: dict | None = None, evidence: str = "") -> RuleResult:
    return RuleResult("unresolved", numbers or {}, evidence or f"unresolved: {reason}", reason)


def evaluate(resolution: Mapping, fits: Mapping[str, dict]) -> RuleResult:
    """Apply a (checked) auto resolution to fitted plans: `fits` maps a plan name to its fit JSON
    (FitResult.to_json()), or to {"error": message} when the plan could not be fitted on the run.
    A missing plan, model or value, an aliased feature or a failed fit gives `unresolved` with a reason."""
    return _evaluate(resolution, fits, resolution.get("analysis"))


def _evaluate(res: Mapping, fits: Mapping[str, dict], inherited: str | None) -> RuleResult:
    rule = res.get("rule")
    analysis = res.get("analysis", inherited)
    if rule in _COMBINATORS:
        return _combine(rule, [_evaluate(sub, fits, analysis) for sub in res["rules"]])
    if rule not in RULES:
        raise UsageError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
    fit = fits.get(analysis)
    if fit is None:
        return _unresolved(f"analysis {analysis} was not fitted")
    if "error" in fit:
        return _unresolved(f"analysis {analysis} could not be fitted on this run: {fit['error']}")
    model_key, quantity = res["model"], res["quantity"]
    model = fit.get("models", {}).get(model_key)
    if model is None:
        return _unresolved(f"analysis {analysis} has no model {model_key!r}")
    where = f"{analysis}, n {fit.get('n')}"
    value, parent = _walk(model, quantity)
    if rule in _INTERVAL_RULES:
        return _interval_rule(rule, res, model_key, model, quantity, value, parent, where)
    if not _is_number(value) or not math.isfinite(value):
        return _unresolved(f"{model_key} {quantity} is missing or not finite in analysis {analysis}")
    threshold = float(res["threshold"])
    numbers = {"value": float(value), "threshold": threshold}
    extra = ""
    if parent is not None and _is_number(parent.get("ci_low")) and _is_number(parent.get("ci_high")):
        numbers |= {"ci_low": float(parent["ci_low"]), "ci_high": float(parent["ci_high"])}
        level = round(100 * (1 - float(model.get("alpha", _default_alpha()))))
        extra = f" ({level}% CI [{_g(parent['ci_low'])}, {_g(parent['ci_high'])}])"
    yes = value > threshold if rule == "greater-than" else value < threshold
    sign = ">" if rule == "greater-than" else "<"
    what = quantity if quantity == model_key else f"{model_key} {quantity}"
    evidence = f"{what} {_g(value)}{extra} is {'' if yes else 'not '}{sign} {threshold:g} ({where})"
    return RuleResult("yes" if yes else "no", numbers, evidence, None)


def _default_alpha() -> float:
    # imported here, as load_plan in _plan: importing mazeprobe.stats loads statsmodels and scikit-learn
    from mazeprobe.stats.plan import DEFAULT_ALPHA

    return DEFAULT_ALPHA


def _interval_rule(rule, res, model_key, model, quantity, value, parent, where) -> RuleResult:
    term = quantity.rsplit(".", 1)[0]
    name = term.split(".")[-1]
    # which features an aliased one combines is data (ALIASED_WITH), not the wording of a warning
    partners = (model.get(ALIASED_WITH) or {}).get(name) if term.startswith("features.") else None
    if parent is not None and (parent.get("aliased") or partners is not None):
        combination = (
            "an exact linear combination of " + ", ".join(partners) + " on the analysed rows"
            if partners
            else "an exact linear combination of other features"
        )
        return _unresolved(
            f"{name} is aliased in {where.split(',')[0]}: {combination}; its coefficient is not identified "
            "(use a plan without one of its partners)"
        )
    lo, hi = (parent or {}).get("ci_low"), (parent or {}).get("ci_high")
    if not all(_is_number(v) and math.isfinite(v) for v in (value, lo, hi)):
        return _unresolved(f"{model_key} {quantity} or its interval is missing or not finite ({where})")
    p = parent.get("p")
    alpha = float(model.get("alpha", _default_alpha()))
    level = round(100 * (1 - alpha))
    numbers = {
        "coef": float(value),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p": None if p is None else float(p),
        "level": 1 - alpha,
    }
    p_text = "" if p is None else f", p {p:.2g}"
    evidence = (
        f"{model_key} coef {_g(value)}, {level}% CI [{_g(lo)}, {_g(hi)}]{p_text} "
        f"({term.split('.')[-1]}; {where})"
    )
    below, above = hi < 0, lo > 0
    if rule == "no-effect":
        margin = float(res["threshold"])
        numbers["threshold"] = margin
        if below or above:
            return RuleResult("no", numbers, evidence, None)
        if -margin < lo and hi < margin:
            return RuleResult("yes", numbers, evidence + f"; inside +-{margin:g}", None)
        return RuleResult(
            "unresolved",
            numbers,
            evidence,
            f"the {level}% interval includes 0 but reaches beyond +-{margin:g}: too imprecise to tell",
        )
    want_negative = rule == "negative-significant"
    if below or above:
        return RuleResult("yes" if below == want_negative else "no", numbers, evidence, None)
    return RuleResult(
        "unresolved", numbers, evidence, f"the {level}% interval [{_g(lo)}, {_g(hi)}] includes 0"
    )


def _combine(rule: str, parts: list[RuleResult]) -> RuleResult:
    outcomes = [r.outcome for r in parts]
    decisive, other = ("no", "yes") if rule == "all-of" else ("yes", "no")
    if decisive in outcomes:
        outcome = decisive
    elif all(o == other for o in outcomes):
        outcome = other
    else:
        outcome = "unresolved"
    numbers = {f"rules[{i}].{k}": v for i, r in enumerate(parts) for k, v in r.numbers.items()}
    evidence = "; ".join(f"[{i}] {r.outcome}: {r.evidence}" for i, r in enumerate(parts))
    reason = None
    if outcome == "unresolved":
        reason = "; ".join(f"rules[{i}]: {r.reason}" for i, r in enumerate(parts) if r.reason)
    return RuleResult(outcome, numbers, f"{rule}: {evidence}", reason)
