"""Resolution rules that read model-editing evidence rather than a fitted plan: a registered family of
edits run on the network (its interventions and retargeting tables), a registered probe plan, a
fine-tuned checkpoint's record and evaluation, or other questions' outcomes.

    resolution: {method: auto, rule: patch-reduce, family: model-editing, family_hash: <sha256>,
                 threshold: 0.5}
    resolution: {method: auto, rule: retarget, family: retargeting, family_hash: <sha256>,
                 threshold: 0.0001}                 # at most 0.01% of the network's activations
    resolution: {method: auto, rule: probe-beats-control, probe_plan: probe-cheese-block2,
                 threshold: 0.7, margin: 0.1}
    resolution: {method: auto, rule: fine-tune, checkpoint: models/finetune-uniform.pth, budget: 0.1,
                 threshold: 0.9, margin: 0.05}
    resolution: {method: auto, rule: none-of, questions: [retarget-0.01pct, retarget-0.1pct, ...]}

A family is an experiment spec (analysis/<family>.yaml) whose family hash
(mazeprobe.experiments.intervention_spec.family_hash: its interventions, retargeting, channel ranking and
rollout settings) is registered with the question, so the family cannot grow after results are seen; the
run the rule reads must be of that family. Each rule is one function and one Rule record in RULES here,
listed in mazeprobe.registry.rules.RULE_REGISTRY.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mazeprobe.registry.rulebase import CheckContext, Fits, Problem, Rule, RuleResult, unresolved
from mazeprobe.yamlio import KeyPath, describe_value

PROPORTION_METRICS = ("exact_position_accuracy", "row_accuracy", "col_accuracy", "accuracy", "within_1")
"""Probe metrics that are a share of the held-out mazes (each predicted once): Wilson intervals apply."""

# where a rule finds its evidence in `fits` (resolve gathers it: mazeprobe.registry.evidence)
FAMILY, PROBE, CHECKPOINT, QUESTION = "family:", "probe:", "checkpoint:", "question:"


def _g(x: float) -> str:
    return f"{x:.3g}"


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.1%}"


_Z = 1.959963984540054
"""The normal quantile of the 95% intervals."""


def _ci(lo: float, hi: float) -> str:
    """How every rule's evidence writes a 95% interval."""
    return f"95% CI {_pct(lo)} to {_pct(hi)}"


def _drop(drop: float, lo: float, hi: float) -> str:
    """A relative drop with its interval, said as a rise when it is negative ("up 12%", not "down -12%")."""
    if drop is not None and math.isfinite(drop) and drop < 0:
        return f"up {_pct(-drop)} ({_ci(-hi, -lo)})"
    return f"down {_pct(drop)} ({_ci(lo, hi)})"


# --- checks ---------------------------------------------------------------------------------------------


def _number(res: Mapping, key: str, kp: KeyPath, low: float, high: float) -> list[Problem]:
    if key not in res:
        return [(kp, f"missing required key {key!r}")]
    value = res[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return [((*kp, key), f"must be a number; got {describe_value(value)}")]
    if not low < value <= high:
        return [((*kp, key), f"must be in ({low:g}, {high:g}]; got {value}")]
    return []


def _check_family(res: Mapping, kp: KeyPath, ctx: CheckContext, per_target: bool) -> list[Problem]:
    """The family names an experiment spec beside the plans, its hash is the registered one, and it
    holds candidates of the right kind (aimed at targets for retargeting; for patches, none aimed, none
    trivial: a cheese vector of the same maze with its cheese moved is copying what the question
    excludes)."""
    from mazeprobe.experiments.intervention_spec import family_hash
    from mazeprobe.experiments.spec import load_spec
    from mazeprobe.yamlio import SpecError

    out: list[Problem] = []
    for key in ("family", "family_hash"):
        if not isinstance(res.get(key), str):
            out.append(((*kp, key) if key in res else kp, f"needs {key}: text (the spec name and its hash)"))
    if out:
        return out
    path = ctx.analysis_dir / f"{res['family']}.yaml"
    try:
        spec = load_spec(path)
    except SpecError as exc:
        return [
            (
                (*kp, "family"),
                f"the family {path} is not a valid experiment spec: {str(exc).splitlines()[0]}",
            )
        ]
    now = family_hash(spec.to_dict())
    if now != res["family_hash"]:
        return [
            (
                (*kp, "family_hash"),
                f"{path}'s family of edits is now {now[:12]}, not the registered {res['family_hash'][:12]}: "
                "the family changed after registration (register the question again with --amend: late "
                "if results exist)",
            )
        ]
    members = [i for i in spec.interventions if i.per_target == per_target]
    if not members:
        what = "edits aimed at targets (at: target)" if per_target else "edits that are not aimed at targets"
        return [((*kp, "family"), f"{path} holds no {what}")]
    if not per_target:
        trivial = [
            i.id
            for i in members
            for e in i.edits
            if e.kind == "cheese-vector" and getattr(e, "at", None) is not None and e.source_seed is None
        ]
        if trivial:
            return [
                (
                    (*kp, "family"),
                    f"{path}: {', '.join(trivial)} move the cheese within the same maze (cheese-vector "
                    "with at): a trivial patch, which the question excludes; take it out of the family",
                )
            ]
    return []


def _check_patch_reduce(rule: Rule, res: Mapping, kp: KeyPath, ctx: CheckContext) -> list[Problem]:
    return _number(res, "threshold", kp, 0.0, 1.0) + _seed(res, kp) + _check_family(res, kp, ctx, False)


def _check_retarget(rule: Rule, res: Mapping, kp: KeyPath, ctx: CheckContext) -> list[Problem]:
    return _number(res, "threshold", kp, 0.0, 1.0) + _seed(res, kp) + _check_family(res, kp, ctx, True)


def _seed(res: Mapping, kp: KeyPath) -> list[Problem]:
    seed = res.get("split_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        return [((*kp, "split_seed"), f"must be an integer >= 0; got {describe_value(seed)}")]
    return []


def _check_probe(rule: Rule, res: Mapping, kp: KeyPath, ctx: CheckContext) -> list[Problem]:
    from mazeprobe.stats.probes.plan import load_probe_plan
    from mazeprobe.yamlio import SpecError

    out = _number(res, "threshold", kp, 0.0, 1.0) + _number(res, "margin", kp, 0.0, 1.0)
    name = res.get("probe_plan")
    if not isinstance(name, str):
        return [*out, (kp, "needs probe_plan: the name of a probe plan (analysis/<name>.yaml)")]
    try:
        load_probe_plan(ctx.analysis_dir / f"{name}.yaml")
    except SpecError as exc:
        out.append(((*kp, "probe_plan"), f"not a valid probe plan: {str(exc).splitlines()[0]}"))
    return out


def _check_fine_tune(rule: Rule, res: Mapping, kp: KeyPath, ctx: CheckContext) -> list[Problem]:
    out = _number(res, "threshold", kp, 0.0, 1.0) + _number(res, "margin", kp, 0.0, 1.0)
    out += _number(res, "budget", kp, 0.0, 1.0)
    if not isinstance(res.get("checkpoint"), str):
        out.append((kp, "needs checkpoint: the fine-tuned network's path, from the repository root"))
    return out


def _check_none_of(rule: Rule, res: Mapping, kp: KeyPath, ctx: CheckContext) -> list[Problem]:
    qs = res.get("questions")
    if not isinstance(qs, list) or not qs or not all(isinstance(q, str) for q in qs):
        return [((*kp, "questions") if "questions" in res else kp, "needs questions: a list of question ids")]
    return []


# --- evaluating -----------------------------------------------------------------------------------------


def _family(res: Mapping, fits: Fits) -> Any:
    found = fits.get(FAMILY + res["family"])
    if found is None:
        return f"no run of the family {res['family']} (family hash {res['family_hash'][:12]}) was given"
    if "error" in found:
        return found["error"]
    if found.get("family_hash") != res["family_hash"]:
        return (
            f"the run {found.get('run')} is of another family of edits "
            f"({str(found.get('family_hash'))[:12]}), not the registered {res['family']} "
            f"({res['family_hash'][:12]})"
        )
    return found


def _patch_reduce(res: Mapping, fits: Fits) -> RuleResult:
    from mazeprobe.stats.editing import patch_reduce

    found = _family(res, fits)
    if isinstance(found, str):
        return unresolved(found)
    family = [i for i, aimed in found["members"].items() if not aimed]
    r = patch_reduce(found["interventions"], family, float(res["threshold"]), int(res.get("split_seed", 0)))
    numbers = {**r.numbers(), "run": found["run"], "family": res["family"]}
    if r.chosen is None or r.got_cheese_drop is None:
        return RuleResult(
            r.outcome, numbers, f"patch-reduce: {r.reason}", r.reason if r.outcome == "unresolved" else None
        )
    lo, hi = r.got_cheese_drop_ci
    tlo, thi = r.top_right_drop_ci
    evidence = (
        f"{r.chosen} (chosen on {r.n_selection} selection mazes) on {r.n_confirmation} confirmation mazes: "
        f"got_cheese {_drop(r.got_cheese_drop, lo, hi)}, reached_top_right_square "
        f"{_drop(r.top_right_drop, tlo, thi)}; needs a got_cheese drop >= "
        f"{_pct(r.threshold)} and a top-right drop <= 25%"
    )
    return RuleResult(r.outcome, numbers, evidence, r.reason if r.outcome == "unresolved" else None)


def _retarget(res: Mapping, fits: Fits) -> RuleResult:
    from mazeprobe.stats.editing import retarget

    found = _family(res, fits)
    if isinstance(found, str):
        return unresolved(found)
    if found.get("retargeting") is None:
        return unresolved(f"the run of {res['family']} has no retargeting table")
    family = [i for i, aimed in found["members"].items() if aimed]
    r = retarget(found["interventions"], found["retargeting"], family, float(res["threshold"]),
                 int(res.get("split_seed", 0)))  # fmt: skip
    numbers = {**r.numbers(), "run": found["run"], "family": res["family"]}
    if r.chosen is None or r.retargeted_share is None:
        return RuleResult(
            r.outcome, numbers, f"retarget: {r.reason}", r.reason if r.outcome == "unresolved" else None
        )
    lo, hi = r.retargeted_share_ci
    fraction = r.selection[r.chosen]["edited_fraction_network"]
    evidence = (
        f"{r.chosen} (edits {fraction:.5%} of the network's activations; chosen on {r.n_selection} mazes) "
        f"retargets {_pct(r.retargeted_share)} of {r.n_confirmation} confirmation mazes ({_ci(lo, hi)}; "
        "a maze: at least 4 of its 5 targets reached); needs >= 75%"
    )
    return RuleResult(r.outcome, numbers, evidence, r.reason if r.outcome == "unresolved" else None)


def _probe(res: Mapping, fits: Fits) -> RuleResult:
    from mazeprobe.stats.decide import all_of, decide, difference_interval
    from mazeprobe.stats.measures import wilson_interval

    found = fits.get(PROBE + res["probe_plan"])
    if found is None:
        return unresolved(f"the probe plan {res['probe_plan']} was not run")
    if "error" in found:
        return unresolved(f"the probe plan {res['probe_plan']} could not be run: {found['error']}")
    score, control, metric = found["score"], found["random_weights"], found["metric"]
    threshold, margin, n = float(res["threshold"]), float(res["margin"]), int(found["n_samples"])
    numbers = {"metric": metric, "score": score, "random_weights": control, "threshold": threshold,
               "margin": margin, "n_samples": n, "layer": found["layer"]}  # fmt: skip
    where = f"on {found['layer']} ({n} mazes, {found['folds']}-fold CV)"
    needs = f"needs > {threshold:g} with the control >= {margin:g} below"
    if metric not in PROPORTION_METRICS:
        evidence = f"{metric} {_g(score)} {where}, random-weight control {_g(control)}; {needs}"
        why = f"{metric} is not a share of mazes: no interval to decide {threshold:g} on"
        return RuleResult("unresolved", numbers, evidence, why)
    score_ci, control_ci = wilson_interval(score, n, _Z), wilson_interval(control, n, _Z)
    lead, lo, hi = difference_interval(score, *score_ci, control, *control_ci)
    numbers |= {"score_ci": list(score_ci), "random_weights_ci": list(control_ci), "lead_ci": [lo, hi]}
    evidence = (
        f"{metric} {_g(score)} ({_ci(*score_ci)}) {where}, random-weight control {_g(control)} "
        f"({_ci(*control_ci)}; the lead {_g(lead)}, {_ci(lo, hi)}); {needs}"
    )
    beats = decide(score, *score_ci, threshold, ">", n=n, fmt=_pct, what=f"the {metric}")
    if beats.outcome == "no":
        return RuleResult("no", numbers, evidence)
    d = all_of(beats, decide(lead, lo, hi, margin, ">=", n=n, fmt=_pct, what="the lead over the control"))
    if d.outcome == "no":  # beats the threshold, but the control is not clearly behind it
        why = f"the probe beats {threshold:g} but its random-weight control is within {margin:g} of it"
        return RuleResult("unresolved", numbers, evidence, why)
    if d.n_needed is not None:
        numbers["n_needed"] = d.n_needed
    return RuleResult(d.outcome, numbers, evidence, d.reason)


def _fine_tune(res: Mapping, fits: Fits) -> RuleResult:
    found = fits.get(CHECKPOINT + res["checkpoint"])
    if found is None or "error" in found:
        why = found["error"] if found else f"{res['checkpoint']} was not read"
        return unresolved(why)
    budget, need, bound = float(res["budget"]), float(res["threshold"]), float(res["margin"])
    fraction = found.get("budget_fraction")
    test = found.get("test")
    if fraction is None or test is None:
        return unresolved(
            f"{res['checkpoint']}: no fine-tune record (train --init) or no test-suite evaluation "
            "(mazeprobe evaluate)"
        )
    from mazeprobe.stats.decide import Decision, all_of, decide
    from mazeprobe.stats.measures import wilson_interval

    got, top, n = test["got_cheese"], test["entered_top_right_5x5_without_cheese"], test["episodes"]
    numbers = {"budget_fraction": fraction, "budget": budget, "got_cheese": got, "threshold": need,
               "entered_top_right_5x5_without_cheese": top, "margin": bound, "episodes": n,
               "checkpoint_sha256": found["sha256"]}  # fmt: skip
    got_ci, top_ci = wilson_interval(got, n, _Z), wilson_interval(top, n, _Z)

    def rate(value: float, ci: tuple[float, float]) -> str:
        return f"{_pct(value)} ({_ci(*ci)})"

    evidence = (
        f"{Path(res['checkpoint']).name}: fine-tuned with {_pct(fraction)} of the original samples; on "
        f"{n} test mazes (sampled actions) it got the cheese in {rate(got, got_ci)} and entered the "
        f"top-right 5x5 without it in {rate(top, top_ci)}; needs budget <= {_pct(budget)}, >= {_pct(need)}, "
        f"<= {_pct(bound)}"
    )
    # the budget is a count, known exactly; the two rates are decided on their intervals
    within = "yes" if fraction <= budget else "no"
    d = all_of(
        Decision(within),
        decide(got, *got_ci, need, ">=", n=n, unit="episodes", fmt=_pct, what="the cheese rate"),
        decide(top, *top_ci, bound, "<=", n=n, unit="episodes", fmt=_pct, what="the top-right detour rate"),
    )
    if d.n_needed is not None:
        numbers["n_needed"] = d.n_needed
    return RuleResult(d.outcome, numbers, evidence, d.reason)


def _none_of(res: Mapping, fits: Fits) -> RuleResult:
    """No when any listed question resolved yes; otherwise unresolved: the failure of the edits (or
    probes, or fine-tunes) tried does not show that none can succeed, so this rule never says yes."""
    outcomes = {q: (fits.get(QUESTION + q) or {}).get("outcome", "unresolved") for q in res["questions"]}
    numbers = {"outcomes": outcomes}
    evidence = "; ".join(f"{q}: {o}" for q, o in outcomes.items())
    if any(o == "yes" for o in outcomes.values()):
        return RuleResult("no", numbers, evidence)
    if all(o == "no" for o in outcomes.values()):
        why = (
            "none of the listed questions came true on the registered families; that does not show that no "
            "edit could: impossibility is not concluded from a finite family"
        )
    else:
        why = "none of the listed questions came true, and some are unresolved"
    return RuleResult("unresolved", numbers, evidence, why)


RULES: tuple[Rule, ...] = (
    Rule(
        "patch-reduce",
        "over the registered family's edits (not aimed at targets): the edit with the largest relative drop "
        "in got_cheese, among those lowering reached_top_right_square by at most 25%, chosen on a seeded "
        "selection half of the mazes; yes when on the other half it lowers got_cheese by at least threshold "
        "and the top-right rate by at most 25%; else no",
        _patch_reduce,
        _check_patch_reduce,
        keys={
            "family": "an experiment spec (analysis/<name>.yaml): the family of edits",
            "family_hash": "the family's hash at registration",
            "split_seed": "seed of the halves (0)",
        },
    ),  # fmt: skip
    Rule(
        "retarget",
        "over the registered family's edits aimed at targets changing at most threshold of the network's "
        "activations: the one retargeting most selection-half mazes (a maze: at least 4 of its 5 targets "
        "reached, cheese removed); yes when it retargets at least 75% of the confirmation half; else no",
        _retarget,
        _check_retarget,
        keys={
            "family": "an experiment spec: the family of edits",
            "family_hash": "the family's hash",
            "split_seed": "seed of the halves (0)",
        },
    ),  # fmt: skip
    Rule(
        "probe-beats-control",
        "yes: the Wilson interval of the probe plan's held-out score (a share of mazes) lies above threshold "
        "and the interval of its lead over the random-weight control at or above margin; no: the score's "
        "interval lies at or below threshold; else unresolved",
        _probe,
        _check_probe,
        keys={"probe_plan": "a probe plan (analysis/<name>.yaml)", "margin": "a number in (0, 1]"},
    ),
    Rule(
        "fine-tune",
        "yes: the checkpoint was fine-tuned (train --init) with at most budget of the original's training "
        "samples and on test mazes the Wilson intervals of its cheese rate lie at or above threshold and of "
        "its top-right detour rate (entering the 5x5 without the cheese) at or below margin; no: over "
        "budget, or either interval wholly on the wrong side; else unresolved",
        _fine_tune,
        _check_fine_tune,
        keys={"checkpoint": "a fine-tuned checkpoint's path", "budget": "a share of the original samples"},
    ),
    Rule(
        "none-of",
        "over `questions`: no when any resolves yes; otherwise unresolved (never yes: that the listed "
        "questions failed does not show what they ask is impossible)",
        _none_of,
        _check_none_of,
        keys={"questions": "question ids this one is the negation of"},
    ),
)
