"""Resolution rules: how an auto question's answer is read off a fitted analysis plan.

A question's `resolution` names a plan (analysis/<name>.yaml), a model of that plan, a quantity of that
model's JSON (a dotted path such as `features.euc_dist_cheese_decision_square.coef`) and a rule:

    resolution: {method: auto, analysis: behavioral, model: logit,
                 quantity: features.euc_dist_cheese_decision_square.coef, rule: negative-significant}
    resolution: {method: auto, analysis: tl-br-cheese-rate, model: rate, quantity: rate,
                 rule: greater-than, threshold: 0.3}
    resolution: {method: auto, analysis: behavioral, rule: all-of, rules: [{model: ..., ...}, ...]}

Outcomes are three-valued: yes, no, or unresolved (with a reason: an aliased feature, an interval that
straddles zero, a plan that could not be fitted on the run). The rules are a small fixed set, not free
expressions, so that what a registered question means cannot drift.

Each rule is one Rule record (mazeprobe.registry.rules.base) in RULE_REGISTRY: its name and doc, the keys
it takes, a `check` of its registered mapping (problems as (key path, message), run when questions are
validated) and an `evaluate` of a checked mapping against the fitted plans. To add a rule, write its
evaluate function (a rule that reads one quantity of one model starts from read_quantity or
read_interval; all-of / any-of evaluate their sub-rules through the registry) and, unless check_reading
fits, its check; then register its Rule in RULE_REGISTRY, and add a yes and a no example to
RULE_EXAMPLES in tests/test_resolve.py. A rule written in another module builds its Rule from rulebase
and is listed in RULE_REGISTRY here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mazeprobe.errors import UsageError
from mazeprobe.registry.rules import editing as editing_rules
from mazeprobe.registry.rules.base import METHODS, CheckContext, Fits, Problem, Rule, RuleResult, unresolved
from mazeprobe.registry.rules.quantities import (
    ALIASED_WITH,
    Interval,
    Reading,
    aliased_kinds,
    binary_only_quantities,
    check_quantity,
    default_alpha,
    g3,
    identification,
    interval_keys,
    is_number,
    quantity_schemas,
    read_interval,
    read_quantity,
)
from mazeprobe.yamlio import KeyPath, SpecError, describe_value, file_kind, load_yaml, suggest

# also importable, built on first use by __getattr__ below: QUANTITIES, BINARY_ONLY_QUANTITIES, ALIASED_KINDS
__all__ = [
    "ALIASED_WITH",
    "RULES",
    "RULE_REGISTRY",
    "CheckContext",
    "Fits",
    "Interval",
    "Problem",
    "Reading",
    "Rule",
    "RuleResult",
    "check_combination",
    "check_reading",
    "check_resolution",
    "evaluate",
    "read_interval",
    "read_plan",
    "read_quantity",
    "unresolved",
]


def __getattr__(name: str) -> Any:
    # what each model kind writes is declared by the kinds (mazeprobe.stats.kinds); these old tables are
    # views built on first use, as importing the kinds loads statsmodels and scikit-learn
    views = {
        "QUANTITIES": quantity_schemas,
        "BINARY_ONLY_QUANTITIES": binary_only_quantities,
        "ALIASED_KINDS": aliased_kinds,
    }
    if name in views:
        return views[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


_kind_cache: dict[tuple[str, int], str | None] = {}


def _plan_names(analysis_dir: Path) -> list[str]:
    """The stems of the analysis plans in `analysis_dir`: it also holds experiment specs and training
    configs, which a did-you-mean must not offer. A file that does not parse is left out."""
    names = []
    for path in sorted(analysis_dir.glob("*.yaml")) if analysis_dir.is_dir() else []:
        try:
            key = (str(path.resolve()), path.stat().st_mtime_ns)
        except OSError:  # a dangling link
            continue
        if key not in _kind_cache:
            try:
                _kind_cache[key] = file_kind(load_yaml(path).data)
            except SpecError:
                _kind_cache[key] = None
        if _kind_cache[key] == "analysis-plan":
            names.append(path.stem)
    return names


def check_resolution(resolution: Mapping, analysis_dir: Path) -> list[Problem]:
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
    problems: list[Problem] = []
    for key in resolution:
        if key not in _KEYS:
            problems.append(((key,), f"unknown key{suggest(str(key), _KEYS)}; allowed: {', '.join(_KEYS)}"))
    problems += _check_rule(resolution, (), Path(analysis_dir), None)
    return problems


def _check_rule(res: Mapping, kp: KeyPath, analysis_dir: Path, inherited: str | None) -> list[Problem]:
    """The rule name and the type of `analysis`, then the rule's own check."""
    out: list[Problem] = []
    rule = res.get("rule")
    if "rule" not in res:
        return [(kp, f"missing required key 'rule' ({' | '.join(RULES)})")]
    if not isinstance(rule, str) or rule not in RULE_REGISTRY:
        return [
            ((*kp, "rule"), f"unknown rule {rule!r}{suggest(str(rule), RULES)}; known: {', '.join(RULES)}")
        ]
    analysis = res.get("analysis", inherited)
    if "analysis" in res and not isinstance(res["analysis"], str):
        out.append(((*kp, "analysis"), f"must be a plan name; got {describe_value(res['analysis'])}"))
        analysis = None
    spec = RULE_REGISTRY[rule]
    return out + spec.check(spec, res, kp, CheckContext(analysis_dir, analysis))


def check_reading(rule: Rule, res: Mapping, kp: KeyPath, ctx: CheckContext) -> list[Problem]:
    """The check of a rule that reads one quantity of one model: `model` and `quantity` (and `threshold`
    where the rule takes one) are given, the plan exists and is valid, holds the model, and the model
    writes the quantity (a logit coefficient for a rule that reads its interval)."""
    out: list[Problem] = []
    if "rules" in res:
        combinators = " / ".join(r.name for r in RULE_REGISTRY.values() if r.combines)
        out.append(((*kp, "rules"), f"only {combinators} take `rules`; {rule.name} does not"))
    if rule.threshold:
        if "threshold" not in res:
            out.append((kp, f"missing required key 'threshold' ({rule.name} compares against a number)"))
        elif not is_number(res["threshold"]) or not math.isfinite(res["threshold"]):
            out.append(((*kp, "threshold"), f"must be a number; got {describe_value(res['threshold'])}"))
        elif rule.threshold_check is not None and (why := rule.threshold_check(res["threshold"])):
            out.append(((*kp, "threshold"), why))
    elif "threshold" in res:
        reads = " (it reads the 95% interval)" if rule.interval else ""
        out.append(((*kp, "threshold"), f"{rule.name} takes no threshold{reads}"))
    missing = [k for k in ("model", "quantity") if k not in res]
    if ctx.analysis is None and "analysis" not in res:
        missing.insert(0, "analysis")
    for key in missing:
        out.append((kp, f"missing required key {key!r} ({_KEYS[key]})"))
    for key in ("model", "quantity"):
        if key in res and not isinstance(res[key], str):
            out.append(((*kp, key), f"must be text; got {describe_value(res[key])}"))
    if missing or out or not isinstance(ctx.analysis, str):
        return out  # the plan is read only for a mapping that is otherwise right
    plan = read_plan(res, kp, ctx)
    if isinstance(plan, list):
        return plan
    keys = [m.key for m in plan.models]
    if res["model"] not in keys:
        return [
            (
                (*kp, "model"),
                f"plan {ctx.analysis} has no model {res['model']!r}{suggest(res['model'], keys)} "
                f"(its models: {', '.join(keys)})",
            )
        ]
    kind, quantity = plan.model(res["model"]).kind, res["quantity"]
    why = check_quantity(quantity, kind, plan)
    if why is None and rule.interval and not (kind == "logit" and quantity.split(".")[-1] == "coef"):
        why = (
            f"{rule.name} reads the confidence interval next to a logit coefficient: the quantity must be "
            f"features.NAME.coef (or intercept.coef) of a logit model; got {quantity!r} of a {kind} model"
        )
    if why:
        out.append(((*kp, "quantity"), why))
    elif rule.interval and quantity.startswith("features.") and len(plan.features) > 1:
        if not any(m.kind == "vif" for m in plan.models):
            where = (*kp, "analysis") if "analysis" in res else kp
            why = (
                f"plan {plan.name} has {len(plan.features)} features and no vif model: {rule.name} reads the "
                "plan's collinearity diagnostics to tell whether a coefficient is identified (add `- vif` to "
                "its models)"
            )
            out.append((where, why))
    return out


def read_plan(res: Mapping, kp: KeyPath, ctx: CheckContext):
    """The valid plan ctx.analysis_dir/<ctx.analysis>.yaml that the mapping reads, or its problems (a
    list), reported at the mapping's `analysis` (or the mapping, where it inherits the plan)."""
    analysis = ctx.analysis
    path = ctx.analysis_dir / f"{analysis}.yaml"
    where = (*kp, "analysis") if "analysis" in res else kp
    if not path.is_file():
        return [(where, f"no analysis plan {path}{suggest(analysis, _plan_names(ctx.analysis_dir))}")]
    plan = _plan(path)
    if isinstance(plan, str):
        return [(where, f"analysis plan {path} is not valid: {plan.splitlines()[0]}")]
    if plan.name != analysis:
        return [(where, f"{path} names its plan {plan.name!r}, not {analysis!r}")]
    return plan


def check_combination(rule: Rule, res: Mapping, kp: KeyPath, ctx: CheckContext) -> list[Problem]:
    """The check of all-of / any-of: a non-empty list of sub-rules, each checked through the registry
    (reading the combination's plan unless it names its own)."""
    subs = res.get("rules")
    if not isinstance(subs, list) or not subs:
        where = (*kp, "rules") if "rules" in res else kp
        return [(where, f"{rule.name} needs `rules`: a non-empty list of sub-rules")]
    out: list[Problem] = []
    for key in ("model", "quantity", "threshold"):
        if key in res:
            out.append(((*kp, key), f"{rule.name} takes no {key}; give it in each of `rules`"))
    for i, sub in enumerate(subs):
        skp = (*kp, "rules", i)
        if not isinstance(sub, Mapping):
            out.append((skp, f"must be a mapping {{model, quantity, rule, ...}}; got {describe_value(sub)}"))
            continue
        for key in sub:
            if key not in _SUB_KEYS:
                hint = suggest(str(key), _SUB_KEYS)
                out.append(((*skp, key), f"unknown key{hint}; allowed: {', '.join(_SUB_KEYS)}"))
        out += _check_rule(sub, skp, ctx.analysis_dir, ctx.analysis)
    return out


def _positive_margin(threshold: float) -> str | None:
    return None if threshold > 0 else f"the equivalence margin must be > 0; got {threshold}"


# --- evaluating ----------------------------------------------------------------------------------


def evaluate(resolution: Mapping, fits: Fits) -> RuleResult:
    """Apply a (checked) auto resolution to fitted plans (`fits`: see Fits). A missing plan, model or
    value, an aliased feature or a failed fit gives `unresolved` with a reason."""
    rule = resolution.get("rule")
    if not isinstance(rule, str) or rule not in RULE_REGISTRY:
        raise UsageError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
    return RULE_REGISTRY[rule].evaluate(resolution, fits)


def _compare(res: Mapping, fits: Fits, claim: str) -> RuleResult:
    """yes when the quantity's 95% interval lies wholly on the claimed side of the threshold, no when it
    lies wholly on the other (mazeprobe.stats.decide); unresolved when it contains the threshold, and when
    the value or its interval is missing or not finite."""
    from mazeprobe.stats.decide import CLAIMS, decide

    r = read_quantity(res, fits)
    if isinstance(r, str):
        return unresolved(r)
    value, parent = r.value, r.parent
    if not is_number(value) or not math.isfinite(value):
        return unresolved(f"{r.model_key} {r.quantity} is missing or not finite in analysis {r.analysis}")
    threshold = float(res["threshold"])
    numbers = {"value": float(value), "threshold": threshold}
    what = r.quantity if r.quantity == r.model_key else f"{r.model_key} {r.quantity}"
    keys = interval_keys(r)
    lo = parent.get(keys[0]) if parent is not None and keys else None
    hi = parent.get(keys[1]) if parent is not None and keys else None
    if not (is_number(lo) and is_number(hi)):
        why = f"{what} has no confidence interval of its own: a threshold is decided only on an interval"
        return RuleResult("unresolved", numbers, f"{what} {g3(value)} ({r.where})", why)
    numbers |= {"ci_low": float(lo), "ci_high": float(hi)}
    term = r.quantity.rsplit(".", 1)[0]
    if term.startswith("features."):  # "controlling for the others" needs an identified coefficient
        ident = identification(r.fit or {}, term.split(".")[-1])
        numbers |= ident.numbers()
        if ident.problem:
            return RuleResult("unresolved", numbers, f"{what} {g3(value)} ({r.where})", ident.problem)
    level = round(100 * (1 - float(r.model.get("alpha", default_alpha()))))
    n = r.model.get("n") or r.fit_n
    d = decide(float(value), float(lo), float(hi), threshold, claim, n=n if is_number(n) else None, what=what)
    if d.n_needed is not None:
        numbers["n_needed"] = d.n_needed
    said = {
        "yes": f"is {CLAIMS[claim]} {threshold:g}",
        "no": f"is not {CLAIMS[claim]} {threshold:g}",
        "unresolved": f"whether it is {CLAIMS[claim]} {threshold:g} cannot be told from its interval",
    }[d.outcome]
    evidence = f"{what} {g3(value)} ({level}% CI [{g3(lo)}, {g3(hi)}]): {said} ({r.where})"
    return RuleResult(d.outcome, numbers, evidence, d.reason)


def _greater_than(res: Mapping, fits: Fits) -> RuleResult:
    return _compare(res, fits, ">")


def _less_than(res: Mapping, fits: Fits) -> RuleResult:
    return _compare(res, fits, "<")


def _significant(res: Mapping, fits: Fits, negative: bool) -> RuleResult:
    """yes: the interval excludes 0 on the predicted side; no: on the other; else unresolved. A
    coefficient the plan's collinearity diagnostics do not identify is unresolved whatever its interval."""
    iv = read_interval(res, fits)
    if isinstance(iv, str):
        return unresolved(iv)
    if iv.not_identified:
        return RuleResult("unresolved", iv.numbers, iv.evidence, iv.not_identified)
    below, above = iv.hi < 0, iv.lo > 0
    if below or above:
        return RuleResult("yes" if below == negative else "no", iv.numbers, iv.evidence, None)
    reason = f"the {iv.level}% interval [{g3(iv.lo)}, {g3(iv.hi)}] includes 0"
    return RuleResult("unresolved", iv.numbers, iv.evidence, reason)


def _negative_significant(res: Mapping, fits: Fits) -> RuleResult:
    return _significant(res, fits, negative=True)


def _positive_significant(res: Mapping, fits: Fits) -> RuleResult:
    return _significant(res, fits, negative=False)


def _no_effect(res: Mapping, fits: Fits) -> RuleResult:
    iv = read_interval(res, fits)
    if isinstance(iv, str):
        return unresolved(iv)
    margin = float(res["threshold"])
    numbers = {**iv.numbers, "threshold": margin}
    if iv.not_identified:
        return RuleResult("unresolved", numbers, iv.evidence, iv.not_identified)
    if iv.hi < 0 or iv.lo > 0:
        return RuleResult("no", numbers, iv.evidence, None)
    if -margin < iv.lo and iv.hi < margin:
        return RuleResult("yes", numbers, iv.evidence + f"; inside +-{margin:g}", None)
    return RuleResult(
        "unresolved",
        numbers,
        iv.evidence,
        f"the {iv.level}% interval includes 0 but reaches beyond +-{margin:g}: too imprecise to tell",
    )


def _sub_results(res: Mapping, fits: Fits) -> list[RuleResult]:
    """Each sub-rule evaluated through the registry, reading the combination's plan unless it names one."""
    analysis = res.get("analysis")
    return [
        evaluate(sub if analysis is None or "analysis" in sub else {**sub, "analysis": analysis}, fits)
        for sub in res["rules"]
    ]


def _combine(rule: str, parts: list[RuleResult], decisive: str) -> RuleResult:
    """Three-valued: the `decisive` outcome if any part has it, the other one if all have it, else
    unresolved."""
    outcomes = [r.outcome for r in parts]
    other = "yes" if decisive == "no" else "no"
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


def _all_of(res: Mapping, fits: Fits) -> RuleResult:
    return _combine("all-of", _sub_results(res, fits), decisive="no")


def _any_of(res: Mapping, fits: Fits) -> RuleResult:
    return _combine("any-of", _sub_results(res, fits), decisive="yes")


# --- the rules -----------------------------------------------------------------------------------

RULE_REGISTRY: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "negative-significant",
            "yes: coef < 0 and its 95% interval excludes 0; no: coef > 0 and the interval excludes 0; "
            "else unresolved; also unresolved when the coefficient is not identified (its VIF above the "
            "plan's max_vif, or its sign flipping in more than 10% of the sign-stability subsets)",
            _negative_significant,
            check_reading,
            interval=True,
        ),
        Rule(
            "positive-significant",
            "yes: coef > 0 and its 95% interval excludes 0; no: coef < 0 and the interval excludes 0; "
            "else unresolved; also unresolved when the coefficient is not identified (as for "
            "negative-significant)",
            _positive_significant,
            check_reading,
            interval=True,
        ),
        Rule(
            "greater-than",
            "yes: the quantity's 95% interval lies wholly above threshold; no: wholly at or below it; else "
            "unresolved (the interval contains it: the evidence gives the mazes that would decide it)",
            _greater_than,
            check_reading,
            threshold=True,
        ),
        Rule(
            "less-than",
            "yes: the quantity's 95% interval lies wholly below threshold; no: wholly at or above it; else "
            "unresolved (the interval contains it: the evidence gives the mazes that would decide it)",
            _less_than,
            check_reading,
            threshold=True,
        ),
        Rule(
            "no-effect",
            "no: the coef's 95% interval excludes 0 (either sign); yes: the interval lies inside "
            "[-threshold, threshold] (an equivalence test); else unresolved (too imprecise to tell, or the "
            "coefficient not identified)",
            _no_effect,
            check_reading,
            threshold=True,
            threshold_check=_positive_margin,
            interval=True,
        ),
        Rule(
            "all-of",
            "over `rules`: no if any is no, yes if all are yes, else unresolved",
            _all_of,
            check_combination,
            combines=True,
        ),
        Rule(
            "any-of",
            "over `rules`: yes if any is yes, no if all are no, else unresolved",
            _any_of,
            check_combination,
            combines=True,
        ),
        *editing_rules.RULES,  # the rules that read model-editing evidence (a family run, a probe, ...)
    )
}
"""Every resolution rule, by name, in the order they are listed in messages."""

RULES: dict[str, str] = {name: rule.doc for name, rule in RULE_REGISTRY.items()}
"""Each rule's doc (a view of RULE_REGISTRY)."""

_BASE_KEYS = {
    "method": "auto or manual",
    "analysis": "an analysis plan name (analysis/<name>.yaml)",
    "model": "the key of a model in that plan (logit, vif, ...)",
    "quantity": "a dotted path into the model's result, e.g. features.NAME.coef",
    "rule": " | ".join(RULES),
    "threshold": f"a number ({', '.join(n for n, r in RULE_REGISTRY.items() if r.threshold)})",
    "rules": f"sub-rules of {' / '.join(n for n, r in RULE_REGISTRY.items() if r.combines)}",
}
_KEYS = {
    **_BASE_KEYS,
    **{k: v for r in RULE_REGISTRY.values() for k, v in r.keys.items() if k not in _BASE_KEYS},
}
"""The keys of an auto resolution, with help."""
_SUB_KEYS = {k: v for k, v in _KEYS.items() if k != "method"}
"""The keys of a sub-rule of all-of / any-of."""
