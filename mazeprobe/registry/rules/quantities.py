"""What a fitted model writes that a resolution rule may read: the schema, the check of a rule's
`quantity`, and reading a quantity (or a coefficient with its interval) out of a fit's JSON.

Each model kind declares its quantities in its record (mazeprobe.stats.kinds: ModelKind.quantities); the
tables here are views of those records, built when asked for: importing mazeprobe.stats loads statsmodels
and scikit-learn, which the registry's commands should not pay for until a plan is read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mazeprobe.yamlio import suggest

ALIASED_WITH = "aliased_with"
"""Model-level key of logit and sign-stability: {feature: [the features listed before it that it is an
exact linear combination of]} (mazeprobe.stats.result). Not a quantity: the interval rules read it to
name an aliased feature's partners."""


def quantity_schemas() -> dict[str, dict[str, tuple[str, ...]]]:
    """Numeric quantities per model kind: {"model": model-level keys, "features": per-feature keys
    (features.NAME.KEY), "intercept": the intercept's keys (intercept.KEY), "correlation": () for the
    correlation matrix (correlation.NAME.NAME)}, each section only where the kind writes it."""
    from mazeprobe.stats.kinds import KIND_REGISTRY

    return {name: kind.quantities.schema() for name, kind in KIND_REGISTRY.items()}


def binary_only_quantities() -> frozenset[tuple[str, str]]:
    """(kind, key) of the model-level quantities written only for a binary outcome."""
    from mazeprobe.stats.kinds import KIND_REGISTRY

    return frozenset((name, q) for name, kind in KIND_REGISTRY.items() for q in kind.quantities.binary_only)


def aliased_kinds() -> tuple[str, ...]:
    """The model kinds that write ALIASED_WITH."""
    from mazeprobe.stats.kinds import KIND_REGISTRY

    return tuple(name for name, kind in KIND_REGISTRY.items() if kind.writes_aliased)


def check_quantity(quantity: str, kind: str, plan: Any) -> str | None:
    """Why `quantity` is not something a `kind` model of `plan` (an AnalysisPlan) writes, or None."""
    schema = quantity_schemas()[kind]
    parts = quantity.split(".")
    section = parts[0]
    if len(parts) == 1:
        if section not in schema["model"]:
            known = [*schema["model"], *(f"{s}.…" for s in schema if s != "model")]
            return f"a {kind} model has no quantity {quantity!r}{suggest(quantity, schema['model'])}; " + (
                f"it has {', '.join(known)}"
            )
        if (kind, section) in binary_only_quantities() and plan.outcome_kind != "binary":
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
    return None


# --- reading a fit -------------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def g3(x: float) -> str:
    """A number in evidence: three significant digits."""
    return f"{x:.3g}"


def default_alpha() -> float:
    # imported here: importing mazeprobe.stats loads statsmodels and scikit-learn
    from mazeprobe.stats.kinds import DEFAULT_ALPHA

    return DEFAULT_ALPHA


def _walk(doc: Mapping, path: str) -> tuple[Any, Mapping | None]:
    """The value at a dotted path and the mapping that holds it (None, None where absent)."""
    node: Any = doc
    parent = None
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None, None
        parent, node = node, node[part]
    return node, parent


@dataclass(frozen=True)
class Reading:
    """One quantity of one fitted model, as a rule reads it."""

    analysis: str
    model_key: str
    model: Mapping
    """The model's fit JSON."""
    quantity: str
    value: Any
    """The value at `quantity` (None where absent)."""
    parent: Mapping | None
    """The mapping that holds it (a feature's row: coef with ci_low, ci_high, p), None where absent."""
    where: str
    """"PLAN, n N", for evidence."""
    fit: Mapping | None = None
    """The whole fit's JSON (its other models: the collinearity diagnostics)."""
    fit_n: Any = None
    """Rows the fit analysed."""


def read_quantity(res: Mapping, fits: Mapping[str, dict]) -> Reading | str:
    """The `quantity` of `model` in the fit of `analysis` (`fits`: plan name -> fit JSON, or
    {"error": message}), or why it cannot be read: the plan was not fitted, failed, or has no such model."""
    analysis = res.get("analysis")
    fit = fits.get(analysis)
    if fit is None:
        return f"analysis {analysis} was not fitted"
    if "error" in fit:
        return f"analysis {analysis} could not be fitted on this run: {fit['error']}"
    model_key, quantity = res["model"], res["quantity"]
    model = fit.get("models", {}).get(model_key)
    if model is None:
        return f"analysis {analysis} has no model {model_key!r}"
    value, parent = _walk(model, quantity)
    where = f"{analysis}, n {fit.get('n')}"
    return Reading(analysis, model_key, model, quantity, value, parent, where, fit, fit.get("n"))


@dataclass(frozen=True)
class Interval:
    """A logit coefficient with its confidence interval, as the interval rules read it."""

    lo: float
    hi: float
    level: int
    """The confidence level in percent (95)."""
    numbers: dict
    """coef, ci_low, ci_high, p, level (and vif, max_vif, flip_rate, ...): what the outcome is decided
    from."""
    evidence: str
    not_identified: str | None = None
    """Why the coefficient is not identified (Identification.problem), None when it is."""


def read_interval(res: Mapping, fits: Mapping[str, dict]) -> Interval | str:
    """The coefficient at `quantity` with its interval, or why it cannot be read: as read_quantity, the
    feature is aliased (naming its partners, read from the fit's ALIASED_WITH), or a number is missing."""
    r = read_quantity(res, fits)
    if isinstance(r, str):
        return r
    model_key, model, quantity, value, parent, where = (
        r.model_key, r.model, r.quantity, r.value, r.parent, r.where
    )  # fmt: skip
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
        return (
            f"{name} is aliased in {where.split(',')[0]}: {combination}; its coefficient is not identified "
            "(use a plan without one of its partners)"
        )
    lo, hi = (parent or {}).get("ci_low"), (parent or {}).get("ci_high")
    if not all(is_number(v) and math.isfinite(v) for v in (value, lo, hi)):
        return f"{model_key} {quantity} or its interval is missing or not finite ({where})"
    p = parent.get("p")
    alpha = float(model.get("alpha", default_alpha()))
    level = round(100 * (1 - alpha))
    numbers = {
        "coef": float(value),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p": None if p is None else float(p),
        "level": 1 - alpha,
    }
    ident = identification(r.fit or {}, name) if term.startswith("features.") else Identification()
    numbers |= ident.numbers()
    p_text = "" if p is None else f", p {p:.2g}"
    vif_text = "" if ident.vif is None else f", VIF {_vif(ident.vif)}"
    evidence = (
        f"{model_key} coef {g3(value)}, {level}% CI [{g3(lo)}, {g3(hi)}]{p_text}{vif_text} "
        f"({term.split('.')[-1]}; {where})"
    )
    return Interval(lo, hi, level, numbers, evidence, ident.problem)


def interval_keys(r: Reading) -> tuple[str, str] | None:
    """The keys of the confidence interval that belongs to the quantity read, beside it in its mapping:
    a coefficient's (features.NAME.coef, intercept.coef) or odds ratio's, or a model's own estimate (its
    kind's first model-level quantity, e.g. a rate's); None for anything else (a p-value, a count), which
    the mapping's interval does not describe."""
    parts = r.quantity.split(".")
    leaf = parts[-1]
    if len(parts) > 1:
        return {"coef": ("ci_low", "ci_high"), "odds_ratio": ("or_ci_low", "or_ci_high")}.get(leaf)
    kind = r.model.get("kind")
    schema = quantity_schemas().get(kind, {}).get("model", ()) if isinstance(kind, str) else ()
    return ("ci_low", "ci_high") if schema and leaf == schema[0] else None


# --- identification ---------------------------------------------------------------------------------

MAX_FLIP_RATE = 0.10
"""A coefficient whose sign flips in more of a plan's sign-stability subsets than this is not identified."""


def _vif(v: float) -> str:
    return "infinite" if math.isinf(v) else f"{v:.3g}"


@dataclass(frozen=True)
class Identification:
    """What a plan's collinearity diagnostics say about one feature's coefficient."""

    vif: float | None = None
    """Its VIF (inf for an exact linear combination), None when the plan has one feature or no vif model."""
    max_vif: float | None = None
    partner: str | None = None
    """The feature it correlates with most, and how much."""
    r: float | None = None
    flip_rate: float | None = None
    subsets: int | None = None
    problem: str | None = None
    """Why the coefficient is not identified ("not identified: VIF 188; ..."), None when it is."""

    def numbers(self) -> dict:
        out = {"vif": self.vif, "max_vif": self.max_vif, "flip_rate": self.flip_rate}
        if self.partner is not None:
            out |= {"most_correlated_with": self.partner, "r": self.r}
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in out.items()
                if v is not None}  # fmt: skip


def _model_of_kind(fit: Mapping, kind: str) -> Mapping | None:
    models = (fit.get("models") or {}).values()
    return next((m for m in models if isinstance(m, Mapping) and m.get("kind") == kind), None)


def identification(fit: Mapping, name: str) -> Identification:
    """Whether a feature's coefficient in this fit is identified, "controlling for the others": the plan's
    vif model gives its VIF (at most the plan's max_vif, default 10) and the feature it correlates with
    most; the plan's sign-stability model, if any, how often its sign flips over feature subsets (at most
    MAX_FLIP_RATE). A plan of one feature is identified by construction; a plan of several features
    without a vif model cannot show it (problem set)."""
    from mazeprobe.stats.planspec import DEFAULT_MAX_VIF

    features = list(fit.get("features") or [])
    if len(features) <= 1:
        return Identification()
    max_vif = float(fit.get("max_vif") or DEFAULT_MAX_VIF)
    vif_model = _model_of_kind(fit, "vif")
    if vif_model is None:
        why = f"not identified: plan {fit.get('plan')} has several features and no vif model to show it"
        return Identification(max_vif=max_vif, problem=why)
    rows = vif_model.get("features") or {}
    if name not in rows:
        why = f"not identified: the vif model of plan {fit.get('plan')} has no VIF for {name}"
        return Identification(max_vif=max_vif, problem=why)
    vif = rows[name].get("vif")
    vif = math.inf if vif is None else float(vif)  # a vif model writes an infinite VIF as null
    partner, r = None, None
    corr = ((vif_model.get("correlation") or {}).get(name)) or {}
    others = {k: float(v) for k, v in corr.items() if k != name and is_number(v)}
    if others:
        partner = max(others, key=lambda k: abs(others[k]))
        r = others[partner]
    flips = _model_of_kind(fit, "sign-stability")
    flip_row = ((flips or {}).get("features") or {}).get(name) or {}
    flip_rate = flip_row.get("flip_rate") if is_number(flip_row.get("flip_rate")) else None
    subsets = flip_row.get("subsets")
    problems = []
    if vif > max_vif:
        with_whom = f"; correlated with {partner} at r = {r:.3f}" if partner is not None else ""
        problems.append(f"VIF {_vif(vif)} (above the plan's max_vif {max_vif:g}){with_whom}")
    if flip_rate is not None and flip_rate > MAX_FLIP_RATE:
        of = f" of the {int(subsets)} sign-stability subsets" if subsets else " of the sign-stability subsets"
        problems.append(f"its sign flips in {flip_rate:.0%}{of} (more than {MAX_FLIP_RATE:.0%})")
    problem = "not identified: " + "; ".join(problems) if problems else None
    return Identification(vif, max_vif, partner, r, flip_rate, subsets, problem)
