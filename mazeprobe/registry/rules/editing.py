"""Resolution rules that read model-editing evidence rather than a fitted plan: a registered family of
edits run on the network (its interventions and retargeting tables), a registered probe plan, a
fine-tuned checkpoint's record and evaluation, or other questions' outcomes.

    resolution: {method: auto, rule: patch-reduce, family: model-editing, family_hash: <sha256>,
                 threshold: 0.5}
    resolution: {method: auto, rule: retarget, family: retargeting, family_hash: <sha256>,
                 threshold: 0.0001}                 # at most 0.01% of the network's activations
    resolution: {method: auto, rule: probe-beats-control, probe_plan: probe-cheese-block2,
                 threshold: 0.7, margin: 0.1}
    resolution: {method: auto, rule: probe-beats-control, probe_plan: probe-cheese-block2,
                 threshold: 0.7, margin: 0.1, metrics: [row_accuracy, col_accuracy]}   # each must
    resolution: {method: auto, rule: fine-tune, checkpoint: models/finetune-uniform.pth, budget: 0.1,
                 threshold: 0.9, margin: 0.05}
    resolution: {method: auto, rule: fine-tune, checkpoint: models/finetune-uniform.pth, budget: 0.1,
                 threshold: 0.9, margin: 0.05, relative_to: uniform}   # 90% of its own uniform rate
    resolution: {method: auto, rule: none-of, questions: [retarget-0.01pct, retarget-0.1pct, ...]}

A family is an experiment spec (analysis/<family>.yaml) whose family hash
(mazeprobe.experiments.intervention_spec.family_hash: its interventions, retargeting, channel ranking and
rollout settings) is registered with the question, so the family cannot grow after results are seen; the
run the rule reads must be of that family. Each rule is one function and one Rule record in RULES here,
listed in mazeprobe.registry.rules.fitted.RULE_REGISTRY.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mazeprobe.registry.rules.base import CheckContext, Fits, Problem, Rule, RuleResult, unresolved
from mazeprobe.yamlio import KeyPath, describe_value

PROPORTION_METRICS = (
    "exact_position_accuracy",
    "row_accuracy",
    "col_accuracy",
    "within_1_position_accuracy",
    "accuracy",
    "within_1",
)
"""Probe metrics that are a share of the held-out mazes (each predicted once): Wilson intervals apply."""

# where a rule finds its evidence in `fits` (resolve gathers it: mazeprobe.registry.resolution.evidence)
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
    out = _number(res, "threshold", kp, 0.0, 1.0) + _seed(res, kp) + _check_family(res, kp, ctx, False)
    return out + _check_guards(res, kp)


def _check_guards(res: Mapping, kp: KeyPath) -> list[Problem]:
    from mazeprobe.stats.editing import TOP_RIGHT_MEASURES

    if "guards" not in res:
        return []
    guards = res["guards"]
    known = ", ".join(TOP_RIGHT_MEASURES)
    if not isinstance(guards, list) or not guards or not all(isinstance(g, str) for g in guards):
        return [((*kp, "guards"), f"must be a non-empty list of top-right measures ({known}); got "
                 f"{describe_value(guards)}")]  # fmt: skip
    bad = [g for g in guards if g not in TOP_RIGHT_MEASURES]
    if bad or len(set(guards)) != len(guards):
        what = f"unknown measure(s) {', '.join(map(repr, bad))}" if bad else "a measure listed twice"
        return [((*kp, "guards"), f"{what}; the top-right measures are {known}")]
    return []


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
        plan = load_probe_plan(ctx.analysis_dir / f"{name}.yaml")
    except SpecError as exc:
        out.append(((*kp, "probe_plan"), f"not a valid probe plan: {str(exc).splitlines()[0]}"))
        plan = None
    return out + _check_metrics(res, kp, plan.probe if plan else None)


def _check_metrics(res: Mapping, kp: KeyPath, probe: str | None) -> list[Problem]:
    """`metrics`: distinct metrics that the plan's probe reports as shares of the held-out mazes."""
    from mazeprobe.stats.probes import MAZE_SHARES

    if "metrics" not in res:
        return []
    metrics, key = res["metrics"], (*kp, "metrics")
    allowed = MAZE_SHARES[probe] if probe else tuple({m: 0 for v in MAZE_SHARES.values() for m in v})
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        return [(key, f"must be a non-empty list of metric names, e.g. [row_accuracy, col_accuracy]; got "
                 f"{describe_value(metrics)}")]  # fmt: skip
    bad = [m for m in metrics if m not in allowed]
    if bad or len(set(metrics)) != len(metrics):
        what = f"unknown metric(s) {', '.join(map(repr, bad))}" if bad else "a metric listed twice"
        shares = f"the {probe} probe reports as shares of mazes" if probe else "shares of mazes"
        return [(key, f"{what}; the metrics {shares}: {', '.join(allowed) or 'none'}")]
    return []


def _check_fine_tune(rule: Rule, res: Mapping, kp: KeyPath, ctx: CheckContext) -> list[Problem]:
    out = _number(res, "threshold", kp, 0.0, 1.0) + _number(res, "margin", kp, 0.0, 1.0)
    out += _number(res, "budget", kp, 0.0, 1.0)
    if not isinstance(res.get("checkpoint"), str):
        out.append((kp, "needs checkpoint: the fine-tuned network's path, from the repository root"))
    if "relative_to" in res and res["relative_to"] != "uniform":
        why = "must be uniform (threshold: a share of the network's cheese rate on uniformly placed cheese)"
        out.append(((*kp, "relative_to"), f"{why} or left out; got {describe_value(res['relative_to'])}"))
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
    from mazeprobe.stats.editing import DEFAULT_GUARDS, TOP_RIGHT_MEASURES, patch_reduce

    found = _family(res, fits)
    if isinstance(found, str):
        return unresolved(found)
    family = [i for i, aimed in found["members"].items() if not aimed]
    guards = tuple(res.get("guards") or DEFAULT_GUARDS)
    r = patch_reduce(found["interventions"], family, float(res["threshold"]), int(res.get("split_seed", 0)),
                     guards=guards)  # fmt: skip
    numbers = {**r.numbers(), "run": found["run"], "family": res["family"]}
    if r.chosen is None or r.got_cheese_drop is None:
        return RuleResult(
            r.outcome, numbers, f"patch-reduce: {r.reason}", r.reason if r.outcome == "unresolved" else None
        )
    conf = r.confirmation

    def said(measure: str) -> str:
        m = conf.get(measure)
        return f"{measure} not measured" if m is None else f"{measure} {_drop(m['drop'], *m['ci'])}"

    guarded = "; ".join(said(g) for g in guards)
    others = [said(m) for m in TOP_RIGHT_MEASURES if m in conf and m not in guards]
    also = f"; not guarded: {', '.join(others)}" if others else ""
    p = conf.get("p_cheese_at_dsq")
    one_step = f"; mean P(cheese) at the decision square {p['none']:.3f} -> {p['edit']:.3f}" if p else ""
    how = "chosen" if r.selection[r.chosen].get("eligible") else "sparing the guards most, none sparing them"
    evidence = (
        f"{r.chosen} ({how} on {r.n_selection} selection mazes among {len(r.selection)}) on "
        f"{r.n_confirmation} confirmation mazes: got_cheese {_drop(r.got_cheese_drop, *r.got_cheese_drop_ci)}"
        f"; guarded: {guarded}{also}{one_step}; needs a got_cheese drop >= {_pct(r.threshold)} and a drop "
        f"of {' and of '.join(guards)} <= 25%"
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
        f"retargets {_pct(r.retargeted_share)} of {r.n_confirmation} confirmation mazes ({_ci(lo, hi)})"
        f"{_against_references(r)}; a maze: at least 4 of its 5 targets reached; needs >= 75%"
    )
    return RuleResult(r.outcome, numbers, evidence, r.reason if r.outcome == "unresolved" else None)


def _against_references(r: Any) -> str:
    """The retargeted share's yardsticks on the same mazes and targets (a run recorded before them has
    none): a real cheese on the targets, the unedited agent, the mean path probabilities, short mazes."""
    out = ""
    ceiling, none = r.references.get("ceiling"), r.references.get("none")
    if ceiling:
        out += f"; a real cheese on the targets: {_pct(ceiling['share'])} ({_ci(*ceiling['ci'])})"
        if r.relative_to_ceiling is not None:
            out += f", the edit {_pct(r.relative_to_ceiling)} of that ({_ci(*r.relative_to_ceiling_ci)})"
    if none:
        out += f"; unedited: {_pct(none['share'])} ({_ci(*none['ci'])})"
    paths = r.path_probability
    if "edit" in paths:
        others = ", ".join(f"{k} {paths[k]:.2f}" for k in ("ceiling", "none") if k in paths)
        out += f"; mean path probability {paths['edit']:.2f}" + (f" ({others})" if others else "")
    short = r.short_mazes
    if short:
        none_at_all = f", {short['without_targets']} none: not counted" if short["without_targets"] else ""
        out += (
            f"; {short['mazes']} confirmation mazes had fewer than {short['targets_per_maze']} eligible "
            f"target squares (fewest {short['fewest_eligible']}{none_at_all})"
        )
    return out


def _curve(found: Mapping, metrics: list[str]) -> tuple[list[dict], str]:
    """A learning curve's points (the metrics and their random-weight controls) and its words; none for
    a single fit."""
    points = [{"n_samples": p["n_samples"], "metrics": {m: p["metrics"].get(m) for m in metrics},
               "random_weights": {m: (p["random_weights_metrics"] or {}).get(m) for m in metrics}}
              for p in found.get("curve") or []]  # fmt: skip
    said = "; ".join(f"n {p['n_samples']:,}: " + ", ".join(
        f"{m} {_pct(p['metrics'][m])} (control {_pct(p['random_weights'][m])})" for m in metrics)
        for p in points)  # fmt: skip
    return points, f"; learning curve: {said}" if said else ""


def _probe(res: Mapping, fits: Fits) -> RuleResult:
    from mazeprobe.stats.learned import beats_control

    found = fits.get(PROBE + res["probe_plan"])
    if found is None:
        return unresolved(f"the probe plan {res['probe_plan']} was not run")
    if "error" in found:
        return unresolved(f"the probe plan {res['probe_plan']} could not be run: {found['error']}")
    if res.get("metrics"):
        return _probe_metrics(res, found)
    score, control, metric = found["score"], found["random_weights"], found["metric"]
    threshold, margin, n = float(res["threshold"]), float(res["margin"]), int(found["n_samples"])
    numbers = {"metric": metric, "score": score, "random_weights": control, "threshold": threshold,
               "margin": margin, "n_samples": n, "layer": found["layer"]}  # fmt: skip
    where = f"on {found['layer']} ({n} mazes, {found['folds']}-fold CV)"
    needs = f"needs > {threshold:g} with the control >= {margin:g} below"
    points, curve = _curve(found, [metric])
    numbers |= {"curve": points} if points else {}
    if metric not in PROPORTION_METRICS:
        evidence = f"{metric} {_g(score)} {where}, random-weight control {_g(control)}; {needs}{curve}"
        why = f"{metric} is not a share of mazes: no interval to decide {threshold:g} on"
        return RuleResult("unresolved", numbers, evidence, why)
    d, ci = beats_control(score, control, n, threshold, margin, metric, "the probe")
    numbers |= {k: ci[k] for k in ("score_ci", "random_weights_ci", "lead_ci")}
    evidence = (
        f"{metric} {_g(score)} ({_ci(*ci['score_ci'])}) {where}, random-weight control {_g(control)} "
        f"({_ci(*ci['random_weights_ci'])}; the lead {_g(ci['lead'])}, {_ci(*ci['lead_ci'])}); {needs}{curve}"
    )
    if d.n_needed is not None:
        numbers["n_needed"] = d.n_needed
    return RuleResult(d.outcome, numbers, evidence, d.reason)


def _probe_metrics(res: Mapping, found: Mapping) -> RuleResult:
    """`metrics`: each listed metric must beat threshold and its random-weight control by margin, each on
    its own intervals at the plan's (largest) n."""
    from mazeprobe.stats.decide import all_of
    from mazeprobe.stats.learned import beats_control

    metrics, name = list(res["metrics"]), res["probe_plan"]
    threshold, margin, n = float(res["threshold"]), float(res["margin"]), int(found["n_samples"])
    scores, controls = found.get("metrics") or {}, found.get("random_weights_metrics") or {}
    missing = [m for m in metrics if m not in scores or m not in controls]
    if missing:  # a result kept from before the metric existed
        return unresolved(f"the probe plan {name}'s result on {found.get('run')} lacks {', '.join(missing)} "
                          f"(or its control's): delete its probes/{name}.json and resolve again")  # fmt: skip
    numbers: dict[str, Any] = {"metrics": {}, "threshold": threshold, "margin": margin, "n_samples": n,
                               "layer": found["layer"]}  # fmt: skip
    decisions, said = [], []
    for m in metrics:
        d, ci = beats_control(scores[m], controls[m], n, threshold, margin, m, f"the {m}")
        decisions.append(d)
        numbers["metrics"][m] = {"score": scores[m], "random_weights": controls[m], **ci}
        said.append(f"{m} {_pct(scores[m])} ({_ci(*ci['score_ci'])}), random-weight control "
                    f"{_pct(controls[m])} (the lead {_pct(ci['lead'])}, {_ci(*ci['lead_ci'])})")  # fmt: skip
    points, curve = _curve(found, metrics)
    numbers |= {"curve": points} if points else {}
    evidence = (
        f"on {found['layer']} ({n:,} mazes, {found['folds']}-fold CV): {'; '.join(said)}; each needs > "
        f"{threshold:g} with its control >= {margin:g} below{curve}"
    )
    d = all_of(*decisions)
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
    said, detours = f"got the cheese in {_rate(got, got_ci)}", _rate(top, top_ci)
    if res.get("relative_to") == "uniform":
        cheese, more, relative = _relative_to_uniform(res, found, got, n)
        said += f"{more}; of the test mazes it entered the top-right 5x5 without the cheese in {detours}"
        needs, numbers = f"test >= {need:g} x uniform", numbers | relative
    else:
        cheese = decide(got, *got_ci, need, ">=", n=n, unit="episodes", fmt=_pct, what="the cheese rate")
        said += f" and entered the top-right 5x5 without it in {detours}"
        needs = f">= {_pct(need)}"
    evidence = (
        f"{Path(res['checkpoint']).name}: fine-tuned with {_pct(fraction)} of the original samples; on "
        f"{n} test mazes (sampled actions) it {said}; needs budget <= {_pct(budget)}, {needs}, "
        f"<= {_pct(bound)}"
    )
    # the budget is a count, known exactly; the rates are decided on their intervals
    within = "yes" if fraction <= budget else "no"
    d = all_of(
        Decision(within),
        cheese,
        decide(top, *top_ci, bound, "<=", n=n, unit="episodes", fmt=_pct, what="the top-right detour rate"),
    )
    if d.n_needed is not None:
        numbers["n_needed"] = d.n_needed
    return RuleResult(d.outcome, numbers, evidence, d.reason)


def _rate(value: float, ci: tuple[float, float]) -> str:
    return f"{_pct(value)} ({_ci(*ci)})"


def _relative_to_uniform(res: Mapping, found: Mapping, got: float, n: int) -> tuple[Any, str, dict]:
    """relative_to: uniform: the test-maze cheese rate against threshold x the network's own rate on
    uniformly placed cheese (the evaluation's uniform/sample suite). Its decision, words and numbers
    (rate_ci: the test rate's, reference_ci: the uniform rate's, ratio, contrast: test - threshold x
    uniform, contrast_ci)."""
    from mazeprobe.stats.decide import Decision
    from mazeprobe.stats.learned import at_least_share_of

    share, uniform = float(res["threshold"]), found.get("uniform")
    if uniform is None:
        where = found.get("evaluation") or str(Path(res["checkpoint"]).with_suffix(".evaluation.json"))
        why = (f"{where} has no uniform/sample suite (evaluated before that suite existed: run mazeprobe "
               f"evaluate {res['checkpoint']} again), and relative_to: uniform reads it")  # fmt: skip
        return Decision("unresolved", why), " (no uniform suite)", {}
    u, nu = uniform["got_cheese"], uniform["episodes"]
    d, r = at_least_share_of(got, n, u, nu, share, f"the test cheese rate less {share:g} x the uniform rate")
    said = (
        f", on {nu} mazes with the cheese placed uniformly in {_rate(u, r['reference_ci'])}: the test rate "
        f"is {_pct(r['ratio'])} of its own (test - {share:g} x uniform {_pct(r['contrast'])}, "
        f"{_ci(*r['contrast_ci'])})"
    )
    return d, said, {"relative_to": "uniform", "uniform_got_cheese": u, "uniform_episodes": nu, **r}


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
        "in got_cheese, among those lowering each guarded top-right measure (`guards`, by default "
        "reached_top_right_square) by at most 25%, chosen on a seeded selection half of the mazes; on the "
        "other half, yes when the intervals show got_cheese lowered by at least threshold and every guard by "
        "at most 25%, no when an interval lies wholly on the wrong side, else unresolved",
        _patch_reduce,
        _check_patch_reduce,
        keys={
            "family": "an experiment spec (analysis/<name>.yaml): the family of edits",
            "family_hash": "the family's hash at registration",
            "split_seed": "seed of the halves (0)",
            "guards": "the top-right measures none of which may drop by more than 25% (default "
            "[reached_top_right_square]; also entered_top_right_5x5, p_top_right_at_dsq)",
        },
        sources={"family": FAMILY},
        chooses_edit=True,
        picture="edit",
    ),  # fmt: skip
    Rule(
        "retarget",
        "over the registered family's edits aimed at targets changing at most threshold of the network's "
        "activations: the one retargeting most selection-half mazes (a maze: at least 4 of its 5 targets "
        "reached, cheese removed); yes when the interval of the share of the confirmation half it "
        "retargets lies at or above 75%, no when below, else unresolved; its evidence sets that share "
        "beside a real cheese on the same targets (the ceiling) and the unedited agent (the baseline)",
        _retarget,
        _check_retarget,
        keys={
            "family": "an experiment spec: the family of edits",
            "family_hash": "the family's hash",
            "split_seed": "seed of the halves (0)",
        },
        sources={"family": FAMILY},
        chooses_edit=True,
        picture="retargeting",
    ),  # fmt: skip
    Rule(
        "probe-beats-control",
        "yes: the Wilson interval of the probe plan's held-out score (a share of mazes) lies above threshold "
        "and the interval of its lead over the random-weight control at or above margin; no: the score's "
        "interval lies at or below threshold; else unresolved. With `metrics`, each listed metric in place "
        "of the plan's primary one: yes when every one is yes, no when any is no. A plan's learning curve "
        "is decided at its largest n; its points are shown beside",
        _probe,
        _check_probe,
        keys={
            "probe_plan": "a probe plan (analysis/<name>.yaml)",
            "margin": "a number in (0, 1]",
            "metrics": "optional: decide on each of these metrics instead of the plan's primary one, e.g. "
            "[row_accuracy, col_accuracy]; shares of mazes its probe reports (cheese-position: "
            "exact_position_accuracy, row_accuracy, col_accuracy, within_1_position_accuracy)",
        },
        sources={"probe_plan": PROBE},
    ),
    Rule(
        "fine-tune",
        "yes: the checkpoint was fine-tuned (train --init) with at most budget of the original's training "
        "samples and on test mazes the Wilson intervals of its cheese rate lie at or above threshold and of "
        "its top-right detour rate (entering the 5x5 without the cheese) at or below margin; no: over "
        "budget, or either interval wholly on the wrong side; else unresolved. With relative_to: uniform, "
        "the cheese criterion is the interval of (test rate - threshold x the rate on uniformly placed "
        "cheese) at or above 0 instead; unresolved when the evaluation has no uniform suite",
        _fine_tune,
        _check_fine_tune,
        keys={
            "checkpoint": "a fine-tuned checkpoint's path",
            "budget": "a share of the original samples",
            "relative_to": "optional, uniform: read threshold as a share of the network's own cheese rate on "
            "uniformly placed cheese (the evaluation's uniform/sample suite): the test-maze rate must be at "
            "least threshold x that rate, decided on the 95% interval of their difference",
        },
        sources={"checkpoint": CHECKPOINT},
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
