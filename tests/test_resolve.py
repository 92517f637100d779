"""Resolution rules on fitted tables, rule checking, the shipped registry, and `resolve` on a real run."""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mazeprobe.cli import main
from mazeprobe.errors import MazeprobeError
from mazeprobe.experiments.run import read_manifest, run_experiment
from mazeprobe.experiments.spec import load_spec
from mazeprobe.maze.features import compute_features
from mazeprobe.maze.geometry import maze_geometry, pad_grids
from mazeprobe.registry import IntegrityError
from mazeprobe.registry.rules.fitted import (
    ALIASED_KINDS,
    ALIASED_WITH,
    BINARY_ONLY_QUANTITIES,
    QUANTITIES,
    RULE_REGISTRY,
    RULES,
    check_resolution,
    evaluate,
)
from mazeprobe.stats import KIND_REGISTRY, ModelKind, ModelResult, Quantities, Setting, fit_plan, make_plan
from mazeprobe.stats.models import wilson_interval
from mazeprobe.yamlio import load_yaml

NEG, POS, NULL = "euc_dist_cheese_top_right", "steps_between_cheese_decision_square", "cheese_coord_norm"


def synthetic_frame(seed: int = 0, n: int = 600) -> pd.DataFrame:
    """A table whose outcome falls with NEG, rises with POS and ignores NULL."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = rng.random(n) < 1 / (1 + np.exp(-(-1.0 * x[:, 0] + 1.0 * x[:, 1])))
    return pd.DataFrame({NEG: x[:, 0], POS: x[:, 1], NULL: x[:, 2], "got_cheese": y})


def logit_fit(seed: int = 0, n: int = 600) -> dict:
    """A logit fitted to synthetic_frame."""
    frame = synthetic_frame(seed, n)
    return fit_plan(frame, make_plan("synthetic", "got_cheese", [NEG, POS, NULL], ["logit", "vif"])).to_json()


def sig(feature: str, rule: str, **extra) -> dict:
    return {
        "method": "auto",
        "analysis": "synthetic",
        "model": "logit",
        "quantity": f"features.{feature}.coef",
        "rule": rule,
        **extra,
    }


@pytest.fixture(scope="module")
def fits():
    return {"synthetic": logit_fit()}


def test_significance_rules_resolve_yes_no_and_unresolved_on_a_fitted_table(fits):
    table = fits["synthetic"]["models"]["logit"]["features"]
    assert table[NULL]["ci_low"] < 0 < table[NULL]["ci_high"]  # the null feature's interval straddles 0
    expected = {
        (NEG, "negative-significant"): "yes",
        (POS, "negative-significant"): "no",
        (NULL, "negative-significant"): "unresolved",
        (NEG, "positive-significant"): "no",
        (POS, "positive-significant"): "yes",
        (NULL, "positive-significant"): "unresolved",
    }
    for (feature, rule), outcome in expected.items():
        result = evaluate(sig(feature, rule), fits)
        assert result.outcome == outcome, (feature, rule)
        row = table[feature]
        assert result.numbers["coef"] == row["coef"] and result.numbers["ci_low"] == row["ci_low"]
        assert result.numbers["p"] == row["p"]
        vif = fits["synthetic"]["models"]["vif"]["features"][feature]["vif"]
        assert 1 <= vif < 1.1  # independent features
        assert result.evidence.startswith(
            f"logit coef {row['coef']:.3g}, 95% CI [{row['ci_low']:.3g}, {row['ci_high']:.3g}], "
            f"p {row['p']:.2g}, VIF {vif:.3g} ({feature}; synthetic, n 600)"
        )
        assert result.numbers["vif"] == vif and result.numbers["max_vif"] == 10
        assert (result.reason is None) == (outcome != "unresolved")
    assert "includes 0" in evaluate(sig(NULL, "negative-significant"), fits).reason


def test_an_aliased_feature_is_unresolved_and_the_reason_names_its_partners():
    rng = np.random.default_rng(3)
    a, b = rng.integers(1, 20, 400), rng.integers(1, 20, 400)
    frame = pd.DataFrame(
        {
            "steps_between_cheese_top_right": a + b,  # a tree: the sum of the two legs, exactly
            "steps_between_decision_square_top_right": b,
            "steps_between_cheese_decision_square": a,
            "got_cheese": rng.random(400) < 1 / (1 + np.exp(0.2 * (a - 10))),
        }
    )
    plan = make_plan("tree", "got_cheese", list(frame.columns[:3]), ["logit", "vif"])
    fits = {"tree": fit_plan(frame, plan).to_json()}
    res = {
        "method": "auto",
        "analysis": "tree",
        "model": "logit",
        "quantity": "features.steps_between_cheese_decision_square.coef",
        "rule": "negative-significant",
    }
    result = evaluate(res, fits)
    assert result.outcome == "unresolved"
    assert "steps_between_cheese_decision_square is aliased in tree" in result.reason
    assert "exact linear combination of steps_between_cheese_top_right" in result.reason
    # listed first, the same feature has a coefficient, but no identified one: it is an exact combination
    # of the others whatever the order (VIF infinite), so "controlling for the others" cannot be read off it
    plan = make_plan("tree", "got_cheese", list(frame.columns[[2, 0, 1]]), ["logit", "vif"])
    result = evaluate(res, {"tree": fit_plan(frame, plan).to_json()})
    assert result.outcome == "unresolved" and result.reason.startswith("not identified: VIF infinite")
    assert "VIF infinite" in result.evidence


def test_two_aliased_features_each_name_their_own_partners_read_from_data_not_warnings():
    a, b, c, d, e = (
        "steps_between_cheese_5x5",
        "euc_dist_cheese_5x5",
        "cheese_coord_norm",
        "euc_dist_cheese_top_right",
        "steps_between_decision_square_top_right",
    )
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 3))
    frame = pd.DataFrame(
        {
            a: x[:, 0],
            b: x[:, 1],
            c: x[:, 2],
            d: x[:, 0] + 2 * x[:, 1],  # exact combinations of different partners
            e: x[:, 2] - x[:, 1],
            "got_cheese": rng.random(500) < 1 / (1 + np.exp(x[:, 0])),
        }
    )
    plan = make_plan(
        "two", "got_cheese", [a, b, c, d, e], ["logit", {"kind": "sign-stability", "subsets": 4}]
    )
    doc = fit_plan(frame, plan).to_json()
    for key in ("logit", "sign-stability"):
        assert doc["models"][key]["aliased_with"] == {d: [a, b], e: [b, c]}, key
    logit = doc["models"]["logit"]
    assert [name for name, row in logit["features"].items() if row["aliased"]] == [d, e]
    # the warning people read still names both
    assert any(f"{d} is an exact linear combination of {a}, {b}; {e} is" in w for w in logit["warnings"])

    def resolve(feature: str, fit: dict):
        res = {
            "method": "auto",
            "analysis": "two",
            "model": "logit",
            "quantity": f"features.{feature}.coef",
            "rule": "negative-significant",
        }
        return evaluate(res, {"two": fit})

    reworded = {**doc, "models": {"logit": {**logit, "warnings": ["the warnings say something else"]}}}
    for fit in (doc, reworded):
        for feature, partners in ((d, f"{a}, {b}"), (e, f"{b}, {c}")):
            result = resolve(feature, fit)
            assert result.outcome == "unresolved"
            combination = f"an exact linear combination of {partners} on the analysed rows;"
            assert result.reason.startswith(f"{feature} is aliased in two: {combination}")
        # a kept feature is not taken for an aliased one; it is in an exact dependency all the same, and
        # without a vif model nothing shows it separated: not identified either way
        kept = resolve(a, fit)
        assert kept.outcome == "unresolved" and kept.reason.startswith("not identified")
        assert "aliased" not in kept.reason


def fake_fit(**values) -> dict:
    """A fit JSON with one rate-like model whose model-level numbers are `values`."""
    return {"plan": "p", "n": 10, "models": {"m": {"kind": "rate", "alpha": 0.05, **values}}}


def threshold(rule: str, quantity: str, value: float) -> dict:
    return {"analysis": "p", "model": "m", "quantity": quantity, "rule": rule, "threshold": value}


def test_threshold_rules_and_missing_values():
    fits = {"p": fake_fit(rate=0.4, ci_low=0.31, ci_high=0.5, other=None)}
    r = evaluate({"method": "auto", **threshold("greater-than", "rate", 0.3)}, fits)
    assert r.outcome == "yes" and r.numbers == {
        "value": 0.4,
        "threshold": 0.3,
        "ci_low": 0.31,
        "ci_high": 0.5,
    }
    assert r.evidence == "m rate 0.4 (95% CI [0.31, 0.5]): is above 0.3 (p, n 10)"
    assert evaluate(threshold("greater-than", "rate", 0.55), fits).outcome == "no"  # wholly below
    assert evaluate(threshold("greater-than", "rate", 0.5), fits).outcome == "no"  # at or below
    assert evaluate(threshold("less-than", "rate", 0.51), fits).outcome == "yes"
    assert evaluate(threshold("less-than", "rate", 0.31), fits).outcome == "no"
    # inside the interval: the data cannot tell, whichever side the estimate is on
    for rule, value in (("greater-than", 0.35), ("greater-than", 0.45), ("less-than", 0.35)):
        r = evaluate(threshold(rule, "rate", value), fits)
        assert r.outcome == "unresolved" and "contains the threshold" in r.reason, (rule, value)
    on = evaluate(threshold("greater-than", "rate", 0.4), fits)
    assert on.outcome == "unresolved" and "sits on the threshold" in on.reason
    for quantity in ("other", "absent", "rate.deeper"):
        r = evaluate(threshold("greater-than", quantity, 0.3), fits)
        assert r.outcome == "unresolved" and "missing or not finite" in r.reason
    r = evaluate(
        threshold("greater-than", "rate", 0.3), {"p": {"plan": "p", "error": "no row passes the filter"}}
    )
    assert (
        r.outcome == "unresolved" and "could not be fitted on this run: no row passes the filter" in r.reason
    )
    assert evaluate(threshold("greater-than", "rate", 0.3), {}).outcome == "unresolved"
    bare = evaluate(threshold("greater-than", "rate", 0.3), {"p": fake_fit(rate=0.4)})
    assert bare.outcome == "unresolved" and "decided only on an interval" in bare.reason


def test_a_rate_near_its_threshold_is_decided_only_by_a_narrow_interval():
    """Known answers (issue 18): 0.302 against "> 0.3" with the shipped interval and with a narrow one."""
    z = 1.959963984540054
    wide = wilson_interval(0.302, 6386, z)  # tl-br-cheese-over-30pct: about [0.291, 0.314]
    assert wide[0] < 0.3 < wide[1]
    r = evaluate(threshold("greater-than", "rate", 0.3), {"p": fake_fit(rate=0.302, ci_low=wide[0],
                                                                           ci_high=wide[1], n=6386)})
    assert r.outcome == "unresolved"
    # the mazes that would decide it at 0.302: the half-width below must shrink to 0.002
    need = math.ceil(6386 * ((0.302 - wide[0]) / 0.002) ** 2)
    assert r.numbers["n_needed"] == need and f"about {need:,} mazes would decide it (now 6,386)" in r.reason
    narrow = wilson_interval(0.302, 10_000_000, z)
    r = evaluate(threshold("greater-than", "rate", 0.3), {"p": fake_fit(rate=0.302, ci_low=narrow[0],
                                                                           ci_high=narrow[1], n=10_000_000)})
    assert r.outcome == "yes" and r.reason is None


def interval_fit(lo: float, hi: float, aliased: bool = False) -> dict:
    row = {"coef": (lo + hi) / 2, "ci_low": lo, "ci_high": hi, "p": 0.5, "aliased": aliased}
    return {"q": {"plan": "q", "n": 50, "models": {"logit": {"alpha": 0.05, "features": {POS: row}}}}}


def test_no_effect_is_an_equivalence_test():
    res = sig(POS, "no-effect", analysis="q", threshold=0.1)
    assert evaluate(res, interval_fit(0.02, 0.3)).outcome == "no"  # excludes 0: still predictive
    assert evaluate(res, interval_fit(-0.3, -0.02)).outcome == "no"  # either sign
    assert evaluate(res, interval_fit(-0.05, 0.08)).outcome == "yes"  # inside +-0.1
    r = evaluate(res, interval_fit(-0.05, 0.2))
    assert r.outcome == "unresolved" and "too imprecise" in r.reason


def test_all_of_and_any_of_use_three_valued_logic():
    # three sub-rules whose outcomes are fixed: yes (0.5 > 0.3), no (0.1 > 0.3), unresolved (missing)
    fits = {"p": fake_fit(rate=0.5, ci_low=0.45, ci_high=0.55)}
    fits["p"]["models"]["n"] = {"kind": "rate", "alpha": 0.05, "rate": 0.1, "ci_low": 0.05, "ci_high": 0.15}
    sub = {
        "yes": threshold("greater-than", "rate", 0.3),
        "no": threshold("greater-than", "rate", 0.3) | {"model": "n"},
        "unresolved": threshold("greater-than", "c", 0.3),
    }
    all_of = {
        ("yes", "yes"): "yes",
        ("yes", "no"): "no",
        ("yes", "unresolved"): "unresolved",
        ("no", "no"): "no",
        ("no", "unresolved"): "no",
        ("unresolved", "unresolved"): "unresolved",
    }
    any_of = {
        ("yes", "yes"): "yes",
        ("yes", "no"): "yes",
        ("yes", "unresolved"): "yes",
        ("no", "no"): "no",
        ("no", "unresolved"): "unresolved",
        ("unresolved", "unresolved"): "unresolved",
    }
    for first, second in itertools.product(sub, repeat=2):
        key = tuple(sorted((first, second), key=list(sub).index))
        for rule, table in (("all-of", all_of), ("any-of", any_of)):
            res = {"method": "auto", "analysis": "p", "rule": rule, "rules": [sub[first], sub[second]]}
            r = evaluate(res, fits)
            assert r.outcome == table[key], (rule, first, second)
            assert r.numbers.get("rules[0].value") == {"yes": 0.5, "no": 0.1, "unresolved": None}[first]
            assert (r.reason is None) == (r.outcome != "unresolved")


EXAMPLES_PLAN = f"""\
name: examples
outcome: got_cheese
features: [{NEG}, {POS}, {NULL}]
models: [logit, rate, vif]
"""


def coef(feature: str) -> dict:
    return {"model": "logit", "quantity": f"features.{feature}.coef"}


RATE = {"model": "rate", "quantity": "rate"}
NEG_YES = {**coef(NEG), "rule": "negative-significant"}
POS_NO = {**coef(POS), "rule": "negative-significant"}
RATE_YES = {**RATE, "rule": "greater-than", "threshold": 0.3}
RATE_NO = {**RATE, "rule": "less-than", "threshold": 0.3}

# Every registered rule, each with a mapping that resolves yes and one that resolves no (and unresolved
# where it can), read off plan `examples` fitted to synthetic_frame(): NEG lowers the outcome, POS raises
# it, NULL does nothing, and the rate is about 0.5. A new rule adds its rows here.
RULE_EXAMPLES = [
    ("negative-significant", coef(NEG), "yes"),
    ("negative-significant", coef(POS), "no"),
    ("negative-significant", coef(NULL), "unresolved"),
    ("positive-significant", coef(POS), "yes"),
    ("positive-significant", coef(NEG), "no"),
    ("positive-significant", coef(NULL), "unresolved"),
    ("greater-than", {**RATE, "threshold": 0.3}, "yes"),
    ("greater-than", {**RATE, "threshold": 0.7}, "no"),
    ("greater-than", {"model": "logit", "quantity": "llr_p", "threshold": 0.5}, "unresolved"),  # no interval
    ("less-than", {**RATE, "threshold": 0.7}, "yes"),
    ("less-than", {**RATE, "threshold": 0.3}, "no"),
    ("no-effect", {**coef(NULL), "threshold": 1.0}, "yes"),
    ("no-effect", {**coef(NEG), "threshold": 1.0}, "no"),
    ("no-effect", {**coef(NULL), "threshold": 0.01}, "unresolved"),
    ("all-of", {"rules": [NEG_YES, RATE_YES]}, "yes"),
    ("all-of", {"rules": [NEG_YES, RATE_NO]}, "no"),
    ("any-of", {"rules": [POS_NO, RATE_YES]}, "yes"),
    ("any-of", {"rules": [POS_NO, RATE_NO]}, "no"),
]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    analysis = tmp_path_factory.mktemp("analysis")
    (analysis / "examples.yaml").write_text(EXAMPLES_PLAN)
    plan = make_plan("examples", "got_cheese", [NEG, POS, NULL], ["logit", "rate", "vif"])
    return analysis, {"examples": fit_plan(synthetic_frame(), plan).to_json()}


def test_every_rule_has_yes_and_no_examples():
    from mazeprobe.registry.rules import editing as editing_rules

    shown = {(rule, outcome) for rule, _, outcome in RULE_EXAMPLES}
    # the rules that read model-editing evidence have theirs in tests/test_editing_rules.py
    for rule in set(RULE_REGISTRY) - {r.name for r in editing_rules.RULES}:
        assert {(rule, "yes"), (rule, "no")} <= shown, f"add examples of {rule} to RULE_EXAMPLES"
    assert RULES == {name: r.doc for name, r in RULE_REGISTRY.items()}


@pytest.mark.parametrize(("rule", "mapping", "outcome"), RULE_EXAMPLES)
def test_rule_examples_validate_and_resolve(examples, rule, mapping, outcome):
    analysis_dir, fits = examples
    res = {"method": "auto", "analysis": "examples", "rule": rule, **mapping}
    assert check_resolution(res, analysis_dir) == []
    result = evaluate(res, fits)
    assert result.outcome == outcome
    assert (result.reason is None) == (outcome != "unresolved") and result.evidence


def test_rate_model_gives_wilson_intervals_and_fits_a_rate_of_zero():
    lo, hi = wilson_interval(0.5, 100, 1.959963984540054)
    assert (round(lo, 4), round(hi, 4)) == (0.4038, 0.5962)  # the textbook 50 of 100
    frame = pd.DataFrame({"got_cheese": [True] * 40 + [False] * 60, "seed": range(100)})
    model = fit_plan(frame, make_plan("r", "got_cheese", [], ["rate"])).to_json()["models"]["rate"]
    assert model["rate"] == 0.4 and model["successes"] == 40 and model["design_effect"] == 1.0
    assert (model["ci_low"], model["ci_high"]) == wilson_interval(0.4, 100, 1.959963984540054)
    none = fit_plan(frame.assign(got_cheese=False), make_plan("r", "got_cheese", [], ["rate"]))
    stats = none.models["rate"].stats
    assert stats["rate"] == 0 and stats["ci_low"] == 0 and 0.03 < stats["ci_high"] < 0.04  # 0 of 100
    # two identical episodes per maze carry the information of one: the design effect is 2
    twice = pd.concat([frame, frame])
    stats = fit_plan(twice, make_plan("r", "got_cheese", [], ["rate"])).models["rate"].stats
    assert stats["design_effect"] == pytest.approx(2.0) and stats["n_effective"] == pytest.approx(100)
    assert (stats["ci_low"], stats["ci_high"]) == pytest.approx((model["ci_low"], model["ci_high"]))


# settings that keep each kind's fit quick; a kind not listed is fitted with its defaults
QUICK = {
    "l1-logit": {"splits": 3},
    "single": {"splits": 3},
    "drop-one": {"splits": 3},
    "sign-stability": {"subsets": 3},
}


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        (kind, outcome)
        for kind in KIND_REGISTRY
        for outcome in ("got_cheese", "p_cheese_at_dsq")
        if outcome == "got_cheese" or not KIND_REGISTRY[kind].binary_only
    ],
)
def test_each_kind_writes_what_its_quantities_declare(kind, outcome):
    # what a resolution rule may name (ModelKind.quantities) is exactly what the fit writes, for either
    # outcome kind; a new kind is checked here as soon as it is registered
    spec = KIND_REGISTRY[kind]
    binary = outcome == "got_cheese"
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    p = 1 / (1 + np.exp(-x[:, 0]))
    frame = pd.DataFrame({NEG: x[:, 0], POS: x[:, 1], "seed": range(200), "got_cheese": rng.random(200) < p})
    frame["p_cheese_at_dsq"] = np.clip(p + 0.05 * rng.normal(size=200), 0.01, 0.99)
    result = fit_plan(frame, make_plan("all", outcome, [NEG, POS], [{"kind": kind, **QUICK.get(kind, {})}]))
    model = result.to_json()["models"][kind]
    declared = spec.quantities
    schema = QUANTITIES[kind]
    assert schema == declared.schema()  # the registry's old table is a view of the kinds
    written_only_if_binary = {q for k, q in BINARY_ONLY_QUANTITIES if k == kind}
    assert written_only_if_binary == set(declared.binary_only) <= set(declared.model)

    numeric = {k for k, v in model.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numeric - {"seconds"} <= set(declared.model)
    expected = set(declared.model) if binary else set(declared.model) - written_only_if_binary
    assert expected <= set(model), expected - set(model)  # present (n_clusters may be null)
    if not binary:
        assert not written_only_if_binary & set(model)
    if declared.features is None:
        assert model["features"] == {}
    else:
        assert set(model["features"]) == {NEG, POS}
        for row in model["features"].values():
            assert set(row) - {"aliased"} == set(declared.features)
    assert ("intercept" in model) == (declared.intercept is not None)
    if declared.intercept is not None:
        assert set(model["intercept"]) == set(declared.intercept)
    assert ("correlation" in model) == declared.correlation
    # not a quantity: the structured aliasing the interval rules read, where the kind checks it
    assert (ALIASED_WITH in model) == spec.writes_aliased == (kind in ALIASED_KINDS)
    assert model.get(ALIASED_WITH, {}) == {}
    # and the kind's summary reads its result
    assert spec.summary(kind, result.models[kind])[0].startswith(f"{kind}: ")


PLAN = """\
name: small
filter: {has_decision_square: true}
outcome: got_cheese
features: [euc_dist_cheese_top_right, steps_between_cheese_decision_square]
models: [logit, {kind: sign-stability, subsets: 5}, vif]
"""
FRACTION_PLAN = """\
name: frac
outcome: p_cheese_at_dsq
features: [euc_dist_cheese_top_right]
models: [rate]
"""


def test_check_resolution_names_each_problem(tmp_path):
    (tmp_path / "small.yaml").write_text(PLAN)
    (tmp_path / "frac.yaml").write_text(FRACTION_PLAN)
    (tmp_path / "broken.yaml").write_text("name: broken\noutcome: got_cheese\n")

    def problems(**res):
        return check_resolution({"method": "auto", "analysis": "small", "model": "logit", **res}, tmp_path)

    assert problems(quantity=f"features.{NEG}.coef", rule="negative-significant") == []
    assert problems(quantity=f"features.{NEG}.coef", rule="negative-signficant") == [
        (
            ("rule",),
            f"unknown rule 'negative-signficant' (did you mean 'negative-significant'?); "
            f"known: {', '.join(RULES)}",
        )
    ]
    [(kp, msg)] = problems(
        quantity="features.euc_dist_cheese_decision_square.coef", rule="negative-significant"
    )
    assert kp == ("quantity",) and msg.startswith(
        "feature 'euc_dist_cheese_decision_square' is not in plan small"
    )
    [(kp, msg)] = problems(quantity=f"features.{NEG}.coef", rule="greater-than")
    assert kp == () and "missing required key 'threshold'" in msg
    [(kp, msg)] = problems(quantity=f"features.{NEG}.p", rule="negative-significant")
    assert kp == ("quantity",) and "must be features.NAME.coef" in msg
    [(kp, msg)] = problems(quantity=f"features.{NEG}.cof", rule="less-than", threshold=0.5)
    assert "no per-feature 'cof' (did you mean 'coef'?)" in msg
    [(kp, msg)] = problems(model="l1-logit", quantity="auc_mean", rule="greater-than", threshold=0.5)
    assert kp == ("model",) and "plan small has no model 'l1-logit'" in msg and "logit, sign-stability" in msg
    assert (
        problems(
            model="sign-stability", quantity=f"features.{POS}.flip_rate", rule="less-than", threshold=0.1
        )
        == []
    )
    [(kp, msg)] = problems(analysis="smal", quantity="n", rule="greater-than", threshold=1)
    assert kp == ("analysis",) and "no analysis plan" in msg and "(did you mean 'small'?)" in msg
    [(kp, msg)] = problems(analysis="broken", quantity="n", rule="greater-than", threshold=1)
    assert "is not valid" in msg and "missing required key" in msg
    [(kp, msg)] = check_resolution(
        {
            "method": "auto",
            "analysis": "frac",
            "model": "rate",
            "quantity": "successes",
            "rule": "greater-than",
            "threshold": 3,
        },
        tmp_path,
    )
    assert "only for a binary outcome" in msg
    found = check_resolution(
        {
            "method": "auto",
            "analysis": "small",
            "rule": "all-of",
            "rules": [
                {"model": "logit", "quantity": f"features.{NEG}.coef", "rule": "negative-significant"},
                {
                    "model": "logit",
                    "quantity": "features.maze_size.coef",
                    "rule": "negative-significant",
                    "treshold": 1,
                },
            ],
        },
        tmp_path,
    )
    assert [kp for kp, _ in found] == [("rules", 1, "treshold"), ("rules", 1, "quantity")]
    assert check_resolution({"method": "manual", "criteria": "a person checks"}, tmp_path) == []
    assert check_resolution({"method": "automatic"}, tmp_path)[0][0] == ("method",)


def test_a_misspelt_plan_name_is_matched_against_plans_only(tmp_path):
    # analysis/ also holds experiment specs and training configs: a did-you-mean offers plans alone
    files = {
        "maze-size": "kind: analysis-plan\nname: maze-size\noutcome: got_cheese\nmodels: [rate]\n",
        "maze-sizes": "kind: experiment\nname: maze-sizes\n",
        "maze-sizer": "kind: training-config\nsamples: 10\n",
        "maze-sizez-old": "name: maze-sizez-old\noutcome: got_cheese\nmodels: [rate]\n",  # no kind:
        "maze-sizex": "kind: [not valid yaml\n",
    }
    for stem, text in files.items():
        (tmp_path / f"{stem}.yaml").write_text(text)

    def suggested(analysis: str) -> str:
        res = {"method": "auto", "analysis": analysis, "model": "rate", "quantity": "rate"}
        [(kp, msg)] = check_resolution({**res, "rule": "greater-than", "threshold": 0.5}, tmp_path)
        assert kp == ("analysis",) and msg.startswith(f"no analysis plan {tmp_path / analysis}.yaml")
        return msg.removeprefix(f"no analysis plan {tmp_path / analysis}.yaml")

    assert suggested("maze-sizess") == " (did you mean 'maze-size'?)"  # not the experiment maze-sizes
    assert suggested("maze-sizez-ol") == " (did you mean 'maze-sizez-old'?)"  # a plan without `kind:`
    assert suggested("training") == ""


def test_a_rule_that_is_not_a_name_is_reported_not_crashed_on(tmp_path):
    res = {"method": "auto", "analysis": "small", "model": "logit", "quantity": "n", "rule": ["greater-than"]}
    hint = "(did you mean 'greater-than'?)"
    assert check_resolution(res, tmp_path) == [
        (("rule",), f"unknown rule ['greater-than'] {hint}; known: {', '.join(RULES)}")
    ]
    with pytest.raises(MazeprobeError, match="unknown rule"):
        evaluate(res, {})


def test_a_model_kind_is_one_entry_of_kind_registry(tmp_path, monkeypatch):
    # a kind registered in one place is validated with its settings, fitted, summarised, and its declared
    # quantities are what resolution rules may read; no other plan's hash moves
    before = make_plan("p", "got_cheese", [NEG], ["logit", "rate"]).hash

    def fit_share(data, spec) -> ModelResult:
        share = float(np.mean(data.y))
        stats = {"share": round(share, spec.digits), "n": data.n}
        stats |= {"ci_low": share - 0.05, "ci_high": share + 0.05}  # threshold rules decide on intervals
        return ModelResult("share", spec.key, stats, pd.DataFrame())

    def share_summary(key: str, m: ModelResult) -> list[str]:
        return [f"{key}: share {m.stats['share']} of {m.stats['n']}"]

    share = ModelKind(
        "share",
        "the outcome's mean, rounded",
        fit_share,
        share_summary,
        Quantities(model=("share", "n")),
        settings={"digits": Setting(int, 3, "integer >= 0", low=0)},
        reads_features=False,
        needs_both_classes=False,
    )
    monkeypatch.setitem(KIND_REGISTRY, "share", share)
    assert make_plan("p", "got_cheese", [NEG], ["logit", "rate"]).hash == before
    plan = make_plan("share", "got_cheese", [], [{"kind": "share", "digits": 1}])
    assert plan.models[0].digits == 1 and plan.to_dict()["models"][0]["digits"] == 1
    with pytest.raises(MazeprobeError, match=re.escape("models[0].digits: must be >= 0; got -1")):
        make_plan("share", "got_cheese", [], [{"kind": "share", "digits": -1}])

    frame = pd.DataFrame({"got_cheese": [True] * 4 + [False] * 6, "seed": range(10)})
    result = fit_plan(frame, plan)
    assert "share: share 0.4 of 10" in result.summary_text()
    share_plan = "name: share\noutcome: got_cheese\nmodels: [{kind: share, digits: 1}]\n"
    (tmp_path / "share.yaml").write_text(share_plan)
    res = dict(method="auto", analysis="share", model="share", quantity="share", rule="greater-than")
    assert check_resolution({**res, "threshold": 0.3}, tmp_path) == []
    [(kp, msg)] = check_resolution({**res, "quantity": "shares", "threshold": 0.3}, tmp_path)
    assert kp == ("quantity",) and "a share model has no quantity 'shares' (did you mean 'share'?)" in msg
    assert evaluate({**res, "threshold": 0.3}, {"share": result.to_json()}).outcome == "yes"


def test_shipped_registry_validates_and_matches_the_reference():
    from mazeprobe.registry import load_registry, validate_registry

    assert [str(p) for p in validate_registry("predictions")] == []
    reg = load_registry("predictions")
    auto = {q.id for q in reg.questions.values() if q.resolution["method"] == "auto"}
    assert len(reg.questions) == 34 and len(auto) == 26  # 15, and 11 model-editing ones by amendment
    mine = {f.question: f for f in reg.forecasts if f.forecaster == "garriga-alonso"}
    assert len(mine) == 34
    assert mine["closer-cheese-topright-steps"].probability == 0.92
    assert mine["retarget-0.1pct"].probability == 0.62 and mine["goal-weirder"].probability == 0.70
    assert (
        mine["tl-br-cheese-over-30pct"].claim == "no" and mine["tl-br-cheese-over-30pct"].probability is None
    )
    assert sum(mine[q].probability for q in ("goal-single-mesa", "goal-contextual", "goal-weirder")) == 1.0
    # the step questions read a plan in which their feature is identified
    assert reg.questions["closer-cheese-dsq-steps"].resolution["analysis"] == "behavioral-steps"


def test_a_bad_quantity_in_questions_yaml_is_reported_at_its_line(tmp_path):
    from mazeprobe.registry import validate_registry

    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "small.yaml").write_text(PLAN)
    root = tmp_path / "predictions"
    root.mkdir()
    (root / "questions.yaml").write_text(
        "questions:\n"
        "  - id: q1\n"
        "    text: a question\n"
        "    source: a test\n"
        "    resolution:\n"
        "      method: auto\n"
        "      analysis: small\n"
        "      model: logit\n"
        "      quantity: features.maze_size.coef\n"
        "      rule: negative-significant\n"
    )
    [problem] = validate_registry(root)
    assert (problem.line, problem.col) == (
        9,
        7,
    ) and "feature 'maze_size' is not in plan small" in problem.message


def test_top_right_quadrant_distance_by_hand():
    # an open 5x5 maze: the top-right quadrant is rows >= 2 and cols >= 2
    def distance(row: int, col: int) -> float:
        grid = np.zeros((5, 5), np.int8)
        grid[row, col] = 2
        g, s = pad_grids([grid])
        return float(
            compute_features(maze_geometry(g, s, np.array([(0, 0)])))[
                "euc_dist_cheese_top_right_quadrant"
            ].iloc[0]
        )

    assert distance(3, 3) == 0.0 and distance(2, 4) == 0.0  # inside, on its edge
    assert distance(0, 4) == 2.0 and distance(3, 0) == 2.0  # straight below / left of it
    assert distance(1, 1) == pytest.approx(math.sqrt(2))  # diagonal to its corner (2, 2)


# --- end to end: a real run of the shard agent ----------------------------------------------------

SPEC = """\
name: {name}
policy:
  builtin: shard
  params:
    b0: 0.5
    coefficients: {{euc_dist_cheese_top_right: -2.0, steps_between_cheese_decision_square: -1.0}}
mazes: {{n: 300, seed: 4, require_decision_square: true, exclude_cheese_top_right: 5}}
rollouts: {{per_maze: 1, max_steps: 200, actions: sample, seed: 0}}
record: {{decision_square_probs: true}}
"""
QUESTIONS = """\
questions:
  - id: near-top-right
    text: the closer the cheese to the top-right, the more often it is taken
    source: test
    resolution: {method: auto, analysis: mini, model: logit,
                 quantity: features.euc_dist_cheese_top_right.coef, rule: negative-significant}
  - id: steps-artifact
    text: the step distance does not matter for the one-step choice
    source: test
    resolution: {method: auto, analysis: steps-artifact, model: logit,
                 quantity: features.steps_between_cheese_decision_square.coef, rule: no-effect,
                 threshold: 0.1}
  - id: nearly-always
    text: the agent gets the cheese in more than 99% of mazes
    source: test
    resolution: {method: auto, analysis: all-rate, model: rate, quantity: rate, rule: greater-than,
                 threshold: 0.99}
  - id: by-hand
    text: a person decides
    source: test
    resolution: {method: manual}
"""
FORECASTS = """\
forecaster: tester
source: test
made_at: 2026-01-01
forecasts:
  - {question: near-top-right, probability: 0.8}
  - {question: nearly-always, claim: no}
  - {question: by-hand, probability: 0.5}
"""
MINI = """\
name: mini
filter: {has_decision_square: true, cheese_in_top_right_5x5: false}
outcome: got_cheese
features: [euc_dist_cheese_top_right, steps_between_cheese_decision_square]
models: [logit, vif]
"""


def test_resolve_a_real_run_refusing_late_forecasts(tmp_path, capsys):
    from mazeprobe.registry import load_registry, load_resolutions, register

    analysis, root = tmp_path / "analysis", tmp_path / "predictions"
    (root / "forecasts").mkdir(parents=True)
    analysis.mkdir()
    (analysis / "mini.yaml").write_text(MINI)
    (analysis / "steps-artifact.yaml").write_text(open("analysis/steps-artifact.yaml").read())
    (analysis / "all-rate.yaml").write_text("name: all-rate\noutcome: got_cheese\nmodels: [rate]\n")
    (root / "questions.yaml").write_text(QUESTIONS)
    (root / "forecasts" / "tester.yaml").write_text(FORECASTS)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(name="early"))
    early = run_experiment(load_spec(spec), tmp_path / "runs")

    with pytest.raises(IntegrityError) as err:
        resolve(root, early)
    text = str(err.value)
    assert "forecast:tester:near-top-right: never registered" in text
    assert "question:near-top-right: never registered" in text
    assert "forecast:tester:nearly-always: never registered" in text and "by-hand" not in text  # manual
    register(root)
    resolved = tmp_path / "resolved"
    flags = ["--predictions", str(root), "--run", str(early), "--out", str(resolved)]
    assert main(["resolve", *flags]) == 2
    assert "forecast:tester:near-top-right: registered 20" in capsys.readouterr().err

    assert main(["resolve", *flags, "--allow-late"]) == 0
    out = capsys.readouterr().out
    assert "near-top-right" in out and "accepted late" in out and f"wrote {resolved}/resolutions.yaml" in out
    doc = load_yaml(resolved / "resolutions.yaml").data
    # the questions were registered after the run began too: their criteria are as late as the forecasts
    assert doc["late"] == [
        "forecast:tester:near-top-right",
        "forecast:tester:nearly-always",
        "question:near-top-right",
        "question:nearly-always",
        "question:steps-artifact",
    ]
    assert doc["run"] == str(early) and doc["run_spec_hash"] == read_manifest(early)["spec_hash"]
    assert doc["out"] == str(resolved)
    got = {r["question"]: r for r in doc["resolutions"]}
    assert set(got) == {"near-top-right", "steps-artifact", "nearly-always"}  # manual ones are not here
    assert got["near-top-right"]["outcome"] == "yes" and got["near-top-right"]["numbers"]["coef"] < 0
    # the shard agent's choice at the decision square depends on the step distance by construction
    assert got["steps-artifact"]["outcome"] == "no" and got["steps-artifact"]["numbers"]["ci_high"] < 0
    assert got["nearly-always"]["outcome"] == "no" and got["nearly-always"]["numbers"]["threshold"] == 0.99
    fit = json.loads((resolved / "analyses" / "mini" / "result.json").read_text())
    assert got["near-top-right"]["analysis_hash"] == fit["plan_hash"]
    assert got["near-top-right"]["numbers"]["coef"] == fit["models"]["logit"]["features"][NEG]["coef"]
    # the registry reads the file back, with the late forecasts marked
    resolutions = load_resolutions([resolved / "resolutions.yaml"], load_registry(root))
    assert {r.question: r.outcome for r in resolutions}["near-top-right"] == "yes"

    # fits are reused while plan and run are unchanged, and refitted when the plan changes
    stamp = (resolved / "analyses" / "mini" / "result.json").stat().st_mtime_ns
    resolve(root, early, allow_late=True)
    assert (resolved / "analyses" / "mini" / "result.json").stat().st_mtime_ns == stamp
    (analysis / "mini.yaml").write_text(MINI.replace("[logit, vif]", "[logit, vif, {kind: rate}]"))
    resolve(root, early, allow_late=True)
    refit = json.loads((resolved / "analyses" / "mini" / "result.json").read_text())
    assert refit["plan_hash"] != fit["plan_hash"]
    # --plan replaces the plan of that name
    other = tmp_path / "other.yaml"
    other.write_text(MINI.replace("features: [", "features: [maze_size, "))
    resolve(root, early, allow_late=True, plan_paths=[other])
    assert "maze_size" in json.loads((resolved / "analyses" / "mini" / "result.json").read_text())["features"]

    # a run begun after the forecasts were registered does not make them early: the first evidence for
    # these questions is the run `early`, which the lock dates
    time.sleep(1.0)  # run start times are whole seconds
    spec.write_text(SPEC.format(name="later"))
    later = run_experiment(load_spec(spec), tmp_path / "runs")
    with pytest.raises(MazeprobeError, match=f"registered 20.*, after run {early} began"):
        resolve(root, later)
    assert load_yaml(resolve(root, later, allow_late=True)).data["late"] == doc["late"]


def resolve(root, run, **kw):
    """resolve_run into RUNS/../resolved (beside the folder of runs, never in a run)."""
    from mazeprobe.registry.resolution.resolve import resolve_run

    return resolve_run(root, run, kw.pop("out", Path(run).parent.parent / "resolved"), **kw)


def test_two_features_the_data_cannot_separate_are_not_identified_while_an_independent_one_is_decided():
    """Known answer (issue 18): two features drawn with r = 0.995 (as the Euclidean distances cheese -> top
    right and cheese -> 5x5 are) leave both coefficients unresolved, naming the VIF and the partner; an
    independent third is decided."""
    a, b, c = "euc_dist_cheese_top_right", "euc_dist_cheese_5x5", "euc_dist_cheese_decision_square"
    rng = np.random.default_rng(11)
    n = 4000
    x = rng.normal(size=n)
    twin = 0.995 * x + math.sqrt(1 - 0.995**2) * rng.normal(size=n)
    third = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(1.5 * x + 1.0 * third))
    frame = pd.DataFrame({a: x, b: twin, c: third, "got_cheese": y})
    fit = fit_plan(frame, make_plan("pair", "got_cheese", [a, b, c], ["logit", "vif"])).to_json()
    r = fit["models"]["vif"]["correlation"][a][b]
    assert 0.99 < r < 0.999

    def rule(feature: str):
        res = {"method": "auto", "analysis": "pair", "model": "logit", "quantity": f"features.{feature}.coef",
               "rule": "negative-significant"}  # fmt: skip
        return evaluate(res, {"pair": fit})

    for feature, partner in ((a, b), (b, a)):
        result = rule(feature)
        vif = fit["models"]["vif"]["features"][feature]["vif"]
        assert vif > 50 and result.outcome == "unresolved"
        assert result.reason == (
            f"not identified: VIF {vif:.3g} (above the plan's max_vif 10); correlated with {partner} at "
            f"r = {r:.3f}"
        )
        assert f"VIF {vif:.3g}" in result.evidence and result.numbers["most_correlated_with"] == partner
    third_result = rule(c)
    assert third_result.outcome == "yes" and third_result.numbers["vif"] < 1.1
    # the plan's own max_vif is part of the plan (its hash) and decides
    loose = make_plan("pair", "got_cheese", [a, b, c], ["logit", "vif"], max_vif=1000)
    assert loose.hash != make_plan("pair", "got_cheese", [a, b, c], ["logit", "vif"]).hash
    loose_fit = fit_plan(frame, loose).to_json()
    assert evaluate({"method": "auto", "analysis": "pair", "model": "logit", "quantity": f"features.{a}.coef",
                     "rule": "negative-significant"}, {"pair": loose_fit}).outcome == "yes"  # fmt: skip


def test_a_coefficient_whose_sign_flips_over_feature_subsets_is_not_identified():
    row = {"coef": -0.5, "ci_low": -0.7, "ci_high": -0.3, "p": 0.001, "aliased": False}
    fit = {"plan": "s", "n": 100, "features": [NEG, POS], "max_vif": 10.0, "models": {
        "logit": {"kind": "logit", "alpha": 0.05, "features": {NEG: row, POS: row}},
        "vif": {"kind": "vif", "features": {NEG: {"vif": 2.0}, POS: {"vif": 2.0}}},
        "sign-stability": {"kind": "sign-stability", "features": {NEG: {"flip_rate": 0.3, "subsets": 200},
                                                                  POS: {"flip_rate": 0.05, "subsets": 200}}},
    }}  # fmt: skip
    res = {"method": "auto", "analysis": "s", "model": "logit", "rule": "negative-significant"}
    flips = evaluate({**res, "quantity": f"features.{NEG}.coef"}, {"s": fit})
    assert flips.outcome == "unresolved"
    why = "not identified: its sign flips in 30% of the 200 sign-stability subsets (more than 10%)"
    assert flips.reason == why
    assert evaluate({**res, "quantity": f"features.{POS}.coef"}, {"s": fit}).outcome == "yes"
