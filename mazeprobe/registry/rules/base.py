"""What every resolution rule is made of: the Rule record, what checking and evaluating one exchange
(Problem, CheckContext, Fits, RuleResult), and the unresolved outcome.

Kept apart from the registry (mazeprobe.registry.rules.fitted: RULE_REGISTRY, and the rules that read a fitted
plan) so that rules written in another module can build their Rule records and be registered there
without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mazeprobe.yamlio import KeyPath

METHODS = ("auto", "manual")
"""How a question is resolved: by a registered rule on an analysis, or by a person with a rationale."""

RULES_VERSION = 3
"""The meaning of the rules, as a version: `resolve` records it in every resolution event, so an outcome
that changed because the rules changed (not the evidence) is listed as such
(mazeprobe.registry.resolution.changes)."""
RULES_CHANGES = {
    1: "the rules as first shipped",
    2: "decisions on intervals: a threshold is decided yes or no only when the 95% interval lies wholly on "
    "one side of it, else unresolved; coefficients only when identified (VIF at most the plan's max_vif, "
    "sign flips in at most 10% of the sign-stability subsets); none-of never says yes (issue 18)",
    3: "no point estimate says no: patch-reduce confirms, when no edit spares the guards on the selection "
    "half, the one sparing them most (its intervals decide); a relative drop has no interval when more than "
    "1% of its resamples have no baseline; greater-than and less-than read only an interval of their own "
    "quantity, and a coefficient only when identified (a review of round 2)",
}
"""What each version of the rules changed, for the report."""

Problem = tuple[KeyPath, str]
"""A problem with a resolution mapping: the key path inside it, and the message."""
Fits = Mapping[str, dict]
"""Fitted plans by name: each a fit's JSON (FitResult.to_json()), or {"error": message} for a plan that
could not be fitted on the run."""


PICTURES = ("edit", "retargeting")
"""The pictures a rule may declare: the vector fields of the maze that tells its chosen edit (original,
edited, difference), or where the chosen retargeting edit sent the agent."""


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


@dataclass(frozen=True)
class CheckContext:
    """Where a rule's mapping is checked."""

    analysis_dir: Path
    analysis: str | None
    """The plan the mapping reads: its own `analysis`, else that of the all-of / any-of around it; None
    when neither names one, or when its own is not text (already reported)."""


@dataclass(frozen=True)
class Rule:
    name: str
    doc: str
    """What yes, no and unresolved mean (RULES lists it)."""
    evaluate: Callable[[Mapping, Fits], RuleResult]
    """(resolution, fits) -> RuleResult, for a resolution that its check passed."""
    check: Callable[[Rule, Mapping, KeyPath, CheckContext], list[Problem]]
    """(this rule, resolution, its key path, context) -> problems with the rule's own keys; the rule name
    and the type of `analysis` are checked before it."""
    threshold: bool = False
    """Takes `threshold: NUMBER` (check_reading requires it)."""
    threshold_check: Callable[[float], str | None] | None = None
    """What is wrong with a finite threshold, or None."""
    interval: bool = False
    """Reads the confidence interval next to a logit coefficient (check_reading requires such a quantity)."""
    combines: bool = False
    """Takes `rules` (sub-rules) instead of model and quantity."""
    keys: Mapping[str, str] = field(default_factory=dict)
    """Keys beyond those every rule may give (method, analysis, model, quantity, rule, threshold, rules),
    with help: allowed in resolutions once the rule is registered."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Its evidence besides fitted plans: each of its keys that names a source, with the prefix of that
    source's key in `fits` (`family: NAME` is read as family:NAME; mazeprobe.registry.resolution.evidence
    gathers and rereads them)."""
    chooses_edit: bool = False
    """Chooses one edit of its family on a selection half: its candidates are listed beside the outcome."""
    picture: str | None = None
    """The picture drawn beside its outcome from the chosen edit's family run (one of PICTURES), or None."""

    def __post_init__(self) -> None:
        if self.picture is not None and self.picture not in PICTURES:
            raise ValueError(f"rule {self.name}: picture must be one of {PICTURES}")


def unresolved(reason: str, numbers: dict | None = None, evidence: str = "") -> RuleResult:
    """An unresolved outcome with its reason (which is also the evidence unless one is given)."""
    return RuleResult("unresolved", numbers or {}, evidence or f"unresolved: {reason}", reason)
