"""The model-editing rules (mazeprobe.registry.rules.editing) on tables built by hand, where the answer is
known, and end to end on a real family run: resolved from several runs, proven from the files it read,
refused once those files change."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mazeprobe.errors import MazeprobeError
from mazeprobe.experiments.intervention_spec import family_hash
from mazeprobe.experiments.spec import load_spec
from mazeprobe.provenance import file_sha256
from mazeprobe.registry import IntegrityError, forecast_table, load_registry, load_resolutions, register
from mazeprobe.registry.resolution.resolve import resolve_run
from mazeprobe.registry.rules.editing import CHECKPOINT, FAMILY, PROBE, QUESTION, RULES
from mazeprobe.registry.rules.fitted import check_resolution, evaluate
from mazeprobe.stats.editing import selection_half
from mazeprobe.stats.measures import wilson_interval
from mazeprobe.steplog import machine, run_step
from mazeprobe.yamlio import load_yaml

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "reference-r5.pth"
L = "embedder.block2.res1.resadd_out"
SEEDS = np.arange(400, dtype=np.int64)
SELECT = dict(zip(SEEDS.tolist(), selection_half(SEEDS, 0).tolist(), strict=True))


def patch_table(effects: dict[str, tuple[float, float, float, float]]) -> pd.DataFrame:
    """An interventions table: the unedited network gets the cheese and reaches the top-right square in
    every maze; edit NAME -> (got_cheese on selection, on confirmation, top-right on selection, on
    confirmation) as the share of mazes (the first mazes of each half) where it still does."""
    rows = [
        {"seed": s, "intervention": "none", "got_cheese": 1.0, "reached_top_right_square": 1.0} for s in SEEDS
    ]
    for name, (got_s, got_c, top_s, top_c) in effects.items():
        counts: dict[bool, int] = {True: 0, False: 0}
        sizes = {h: sum(1 for v in SELECT.values() if v == h) for h in (True, False)}
        for s in SEEDS.tolist():
            half = SELECT[s]
            i = counts[half] / sizes[half]
            counts[half] += 1
            got, top = (got_s, top_s) if half else (got_c, top_c)
            rows.append(
                {
                    "seed": s,
                    "intervention": name,
                    "got_cheese": float(i < got),
                    "reached_top_right_square": float(i < top),
                }
            )
    frame = pd.DataFrame(rows)
    frame["edited_fraction_network"] = np.where(frame["intervention"] == "none", 0.0, 0.001)
    return frame


def family(table: pd.DataFrame, retargeting: pd.DataFrame | None = None, aimed: bool = False) -> dict:
    members = {n: aimed for n in table["intervention"].unique() if n != "none"}
    return {"run": "/runs/fam", "family_hash": "h" * 64, "interventions": table, "retargeting": retargeting,
            "members": members}  # fmt: skip


PATCH = {"method": "auto", "rule": "patch-reduce", "family": "fam", "family_hash": "h" * 64}


def patch(threshold: float, table: pd.DataFrame):
    return evaluate({**PATCH, "threshold": threshold}, {FAMILY + "fam": family(table)})


def test_an_edit_that_works_on_the_selection_half_but_not_on_confirmation_resolves_no():
    table = patch_table({"lucky": (0.0, 1.0, 1.0, 1.0), "weak": (0.8, 0.8, 1.0, 1.0)})
    result = patch(0.5, table)
    assert result.outcome == "no" and result.numbers["chosen"] == "lucky"
    assert result.numbers["got_cheese_drop"] == pytest.approx(0.0)
    assert "lucky" in result.evidence and "confirmation" in result.evidence


def test_the_edit_is_chosen_among_those_sparing_the_top_right_and_confirmed_against_the_threshold():
    # "blunt" stops everything (top-right down 100%: not eligible); "cheese" lowers only the cheese by 60%
    table = patch_table({"blunt": (0.0, 0.0, 0.0, 0.0), "cheese": (0.4, 0.4, 1.0, 0.9)})
    yes = patch(0.5, table)
    assert yes.outcome == "yes" and yes.numbers["chosen"] == "cheese"
    assert yes.numbers["got_cheese_drop"] == pytest.approx(0.6, abs=0.01)
    assert yes.numbers["top_right_drop"] == pytest.approx(0.1, abs=0.01)
    lo, hi = yes.numbers["got_cheese_drop_ci"]
    assert lo < 0.6 < hi and hi - lo < 0.25
    assert not yes.numbers["selection"]["blunt"]["eligible"]
    assert patch(0.9, table).outcome == "no"  # the whole interval lies below 90%
    # a threshold inside the drop's interval: the data cannot tell (a point estimate would have said no)
    inside = patch(round(hi - 0.01, 2), table)
    assert inside.outcome == "unresolved" and inside.numbers["n_needed"] > inside.numbers["n_confirmation"]
    assert "contains the threshold" in inside.reason and "mazes would decide it" in inside.reason
    # lowering the top-right square by more than 25% on confirmation makes it no, whatever the cheese drop
    assert patch(0.5, patch_table({"cheese": (0.4, 0.4, 1.0, 0.5)})).outcome == "no"


def test_with_no_eligible_edit_the_one_sparing_the_guards_most_is_confirmed_on_intervals():
    """No selection-half point estimate says no: the edit sparing the top-right most is confirmed on the
    other half, whose interval (a top-right drop of 100%) lies wholly above 25%."""
    result = patch(0.5, patch_table({"blunt": (0.0, 0.0, 0.0, 0.0)}))
    assert result.outcome == "no" and "25%" in result.evidence
    assert "sparing the guards most, none sparing them" in result.evidence
    assert result.numbers["top_right_drop_ci"][0] > 0.25


def retarget_tables(shares: dict[str, tuple[float, float, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """NAME -> (edited fraction, share of selection mazes retargeted, share of confirmation ones); a
    retargeted maze reaches all 5 targets, the others 3 (below 4 of 5)."""
    iv, rt = [], []
    for name, (fraction, sel, conf) in shares.items():
        counts: dict[bool, int] = {True: 0, False: 0}
        sizes = {h: sum(1 for v in SELECT.values() if v == h) for h in (True, False)}
        for s in SEEDS.tolist():
            half = SELECT[s]
            hit = counts[half] / sizes[half] < (sel if half else conf)
            counts[half] += 1
            iv.append({"seed": s, "intervention": name, "edited_fraction_network": fraction})
            for t in range(5):
                rt.append({"seed": s, "intervention": name, "target_row": t, "target_col": 0,
                           "reached_target": 1.0 if hit or t < 3 else 0.0})  # fmt: skip
    return pd.DataFrame(iv), pd.DataFrame(rt)


RETARGET = {"method": "auto", "rule": "retarget", "family": "fam", "family_hash": "h" * 64}


def retarget(threshold: float, shares) -> object:
    iv, rt = retarget_tables(shares)
    fam = {**family(iv, rt, aimed=True), "members": dict.fromkeys(shares, True)}
    return evaluate({**RETARGET, "threshold": threshold}, {FAMILY + "fam": fam})


def test_retargeting_enforces_the_fraction_of_the_network_edited():
    shares = {"small": (0.00005, 0.2, 0.2), "big": (0.005, 1.0, 1.0)}
    at_most_001pct = retarget(0.0001, shares)
    assert at_most_001pct.outcome == "no" and at_most_001pct.numbers["chosen"] == "small"
    assert not at_most_001pct.numbers["selection"]["big"]["eligible"]
    at_most_1pct = retarget(0.01, shares)
    assert at_most_1pct.outcome == "yes" and at_most_1pct.numbers["chosen"] == "big"
    assert at_most_1pct.numbers["retargeted_share"] == pytest.approx(1.0)
    nothing_small = retarget(0.0001, {"big": (0.005, 1.0, 1.0)})
    assert nothing_small.outcome == "no" and nothing_small.numbers["chosen"] is None


def test_retargeting_chosen_on_selection_is_confirmed_on_the_other_half():
    lucky = retarget(0.01, {"lucky": (0.001, 1.0, 0.5), "steady": (0.001, 0.8, 0.8)})
    assert lucky.outcome == "no" and lucky.numbers["chosen"] == "lucky"
    assert lucky.numbers["retargeted_share"] == pytest.approx(0.5, abs=0.01)
    lo, hi = lucky.numbers["retargeted_share_ci"]
    assert lo < 0.5 < hi


def referenced_tables() -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """One aimed edit with its `none` and `ceiling` rows, 5 targets a maze. Among the confirmation mazes (in
    seed order) the edit retargets the first 10 (all 5 targets reached; the rest 3), a real cheese on the
    targets the first 60 (the rest 2), the unedited agent the first 5 (the rest none); in the selection
    half all three retarget every maze. Path probability: edit 0.3, ceiling 0.6, none 0.1 on the
    confirmation half, 0.9 on the selection half (which the evidence must not mix in)."""
    confirm = [s for s in SEEDS.tolist() if not SELECT[s]]
    firsts = {"aim": 10, "ceiling": 60, "none": 5}
    misses = {"aim": 3, "ceiling": 2, "none": 0}
    paths = {"aim": 0.3, "ceiling": 0.6, "none": 0.1}
    rt = []
    for name, first in firsts.items():
        for s in SEEDS.tolist():
            hit = SELECT[s] or confirm.index(s) < first
            for t in range(5):
                rt.append({"seed": s, "intervention": name, "target_row": t, "target_col": 1,
                           "reached_target": 1.0 if hit or t < misses[name] else 0.0,
                           "path_probability": 0.9 if SELECT[s] else paths[name],
                           "eligible_squares": 40})  # fmt: skip
    iv = pd.DataFrame({"seed": SEEDS, "intervention": "aim", "edited_fraction_network": 0.00001})
    return iv, pd.DataFrame(rt), confirm


def test_retargeting_evidence_sets_the_share_beside_a_real_cheese_and_the_unedited_agent():
    iv, rt, confirm = referenced_tables()
    fam = {**family(iv, rt, aimed=True), "members": {"aim": True}}
    r = evaluate({**RETARGET, "threshold": 0.0001}, {FAMILY + "fam": fam})
    n = len(confirm)
    assert r.outcome == "no" and r.numbers["chosen"] == "aim" and r.numbers["n_confirmation"] == n
    assert r.numbers["retargeted_share"] == pytest.approx(10 / n)
    refs = r.numbers["references"]
    for ref, k in (("ceiling", 60), ("none", 5)):
        assert refs[ref]["share"] == pytest.approx(k / n)
        assert refs[ref]["ci"] == pytest.approx(wilson_interval(k / n, n, 1.959963984540054))
    # the edit's ten mazes are among the ceiling's sixty: a sixth of what a real cheese does
    assert r.numbers["relative_to_ceiling"] == pytest.approx(1 / 6)
    lo, hi = r.numbers["relative_to_ceiling_ci"]
    assert 0 < lo < 1 / 6 < hi < 1
    assert r.numbers["path_probability"] == pytest.approx({"edit": 0.3, "ceiling": 0.6, "none": 0.1})
    assert r.numbers["short_mazes"] is None
    (e_lo, e_hi), (c_lo, c_hi) = r.numbers["retargeted_share_ci"], refs["ceiling"]["ci"]
    n_lo, n_hi = refs["none"]["ci"]
    assert r.evidence.endswith(
        f"retargets {10 / n:.1%} of {n} confirmation mazes (95% CI {e_lo:.1%} to {e_hi:.1%}); a real cheese "
        f"on the targets: {60 / n:.1%} (95% CI {c_lo:.1%} to {c_hi:.1%}), the edit 16.7% of that (95% CI "
        f"{lo:.1%} to {hi:.1%}); unedited: {5 / n:.1%} (95% CI {n_lo:.1%} to {n_hi:.1%}); mean path "
        "probability 0.30 (ceiling 0.60, none 0.10); a maze: at least 4 of its 5 targets reached; "
        "needs >= 75%"
    )
    # the decision is the registered one: the same tables without the references decide alike
    bare = rt[rt["intervention"] == "aim"].drop(columns=["path_probability", "eligible_squares"])
    plain = evaluate({**RETARGET, "threshold": 0.0001}, {FAMILY + "fam": {**fam, "retargeting": bare}})
    assert plain.outcome == r.outcome
    assert plain.numbers["retargeted_share_ci"] == r.numbers["retargeted_share_ci"]
    assert plain.numbers["references"] == {} and "real cheese" not in plain.evidence


def test_retargeting_says_which_mazes_had_fewer_eligible_squares_than_targets():
    iv, rt, confirm = referenced_tables()
    # one confirmation maze with two eligible squares (two targets), one with none (no rows at all)
    two, nothing = confirm[20], confirm[30]
    rt = rt[(rt["seed"] != nothing) & ((rt["seed"] != two) | (rt["target_row"] < 2))].copy()
    rt.loc[rt["seed"] == two, "eligible_squares"] = 2
    fam = {**family(iv, rt, aimed=True), "members": {"aim": True}}
    r = evaluate({**RETARGET, "threshold": 0.0001}, {FAMILY + "fam": fam})
    assert r.numbers["n_confirmation"] == len(confirm) - 1
    assert r.numbers["short_mazes"] == {"mazes": 2, "targets_per_maze": 5, "fewest_eligible": 0,
                                        "without_targets": 1}  # fmt: skip
    said = "; 2 confirmation mazes had fewer than 5 eligible target squares (fewest 0, 1 none: not counted)"
    assert said in r.evidence


def test_a_run_of_another_family_leaves_it_unresolved():
    fam = {**family(patch_table({"cheese": (0.4, 0.4, 1.0, 1.0)})), "family_hash": "x" * 64}
    result = evaluate({**PATCH, "threshold": 0.5}, {FAMILY + "fam": fam})
    assert result.outcome == "unresolved" and "another family" in result.reason
    assert evaluate({**PATCH, "threshold": 0.5}, {}).outcome == "unresolved"


PROBE_RES = {
    "method": "auto",
    "rule": "probe-beats-control",
    "probe_plan": "p",
    "threshold": 0.7,
    "margin": 0.1,
}


@pytest.mark.parametrize(
    ("score", "control", "outcome"),
    [(0.85, 0.3, "yes"), (0.65, 0.1, "no"), (0.70, 0.1, "unresolved"), (0.72, 0.1, "unresolved"),
     (0.85, 0.8, "unresolved")],  # on or just above 0.7 over 1000 mazes: the interval contains it
)
def test_the_probe_must_beat_the_threshold_and_its_random_weight_control(score, control, outcome):
    found = {"metric": "exact_position_accuracy", "score": score, "random_weights": control, "layer": L,
             "n_samples": 1000, "folds": 5}  # fmt: skip
    result = evaluate(PROBE_RES, {PROBE + "p": found})
    assert result.outcome == outcome and "exact_position_accuracy" in result.evidence


FINE = {"method": "auto", "rule": "fine-tune", "checkpoint": "models/ft.pth", "budget": 0.1, "threshold": 0.9,
        "margin": 0.05}  # fmt: skip


@pytest.mark.parametrize(
    ("fraction", "got", "top", "outcome"),
    [
        (0.096, 0.95, 0.01, "yes"),
        (0.096, 0.85, 0.01, "no"),
        (0.096, 0.95, 0.08, "no"),
        (0.2, 0.99, 0.0, "no"),
    ],
)
def test_a_fine_tune_needs_the_budget_the_cheese_rate_and_no_top_right_detours(fraction, got, top, outcome):
    test = {"episodes": 500, "got_cheese": got, "entered_top_right_5x5_without_cheese": top}
    found = {"sha256": "s" * 64, "budget_fraction": fraction, "test": test}
    result = evaluate(FINE, {CHECKPOINT + "models/ft.pth": found})
    assert result.outcome == outcome
    # the rates come with Wilson intervals over the 500 test episodes
    lo, hi = wilson_interval(got, 500, 1.96)
    assert f"{got:.1%} (95% CI {lo:.1%} to {hi:.1%})" in result.evidence
    unfinished = {"sha256": "s" * 64, "error": "models/ft.pth: the fine-tune is not finished"}
    assert evaluate(FINE, {CHECKPOINT + "models/ft.pth": unfinished}).outcome == "unresolved"


def mover(p1: float, p2: float, share: float, n: int = 500) -> tuple[float, float, float]:
    """p1 - share x p2 with its MOVER interval, written out by hand from the two Wilson intervals."""
    (l1, u1), (l2, u2) = wilson_interval(p1, n, 1.959963984540054), wilson_interval(p2, n, 1.959963984540054)
    d = p1 - share * p2
    return d, d - np.hypot(p1 - l1, share * (u2 - p2)), d + np.hypot(u1 - p1, share * (p2 - l2))


@pytest.mark.parametrize(
    ("got", "uniform", "absolute", "relative"),
    [
        (0.85, 0.875, "no", "yes"),  # below 90% outright, but 97% of what the network manages anywhere
        (0.754, 0.875, "no", "unresolved"),  # the shipped fine-tune: 86% of its own rate, 90% inside the CI
        (0.60, 0.875, "no", "no"),
        (0.95, 0.99, "yes", "yes"),
    ],
)
def test_a_fine_tune_read_against_its_own_uniform_rate(got, uniform, absolute, relative):
    test = {"episodes": 500, "got_cheese": got, "entered_top_right_5x5_without_cheese": 0.01}
    found = {"sha256": "s" * 64, "budget_fraction": 0.096, "test": test,
             "uniform": {"episodes": 500, "got_cheese": uniform}}  # fmt: skip
    fits = {CHECKPOINT + "models/ft.pth": found}
    assert evaluate(FINE, fits).outcome == absolute  # without the key the rule means what it meant
    result = evaluate({**FINE, "relative_to": "uniform"}, fits)
    assert result.outcome == relative
    d, lo, hi = mover(got, uniform, 0.9)
    assert result.numbers["contrast"] == pytest.approx(d)
    assert result.numbers["contrast_ci"] == pytest.approx([lo, hi])
    assert result.numbers["ratio"] == pytest.approx(got / uniform)
    ulo, uhi = wilson_interval(uniform, 500, 1.96)
    assert f"uniformly in {uniform:.1%} (95% CI {ulo:.1%} to {uhi:.1%})" in result.evidence
    assert f"the test rate is {got / uniform:.1%} of its own" in result.evidence
    if relative == "unresolved":  # the interval contains 0, and the mazes that would decide it are named
        assert lo < 0 < hi and result.numbers["n_needed"] > 500 and "episodes per suite" in result.reason


def test_a_fine_tune_relative_to_uniform_needs_the_uniform_suite():
    test = {"episodes": 500, "got_cheese": 0.95, "entered_top_right_5x5_without_cheese": 0.01}
    found = {"sha256": "s" * 64, "budget_fraction": 0.096, "test": test, "uniform": None,
             "evaluation": "models/ft.evaluation.json"}  # fmt: skip
    relative = {**FINE, "relative_to": "uniform"}
    result = evaluate(relative, {CHECKPOINT + "models/ft.pth": found})
    assert result.outcome == "unresolved"
    assert "models/ft.evaluation.json has no uniform/sample suite" in result.reason
    assert evaluate(FINE, {CHECKPOINT + "models/ft.pth": found}).outcome == "yes"  # the plain rule needs none
    over = {**found, "budget_fraction": 0.2}  # over budget: no, whatever the missing suite would say
    assert evaluate(relative, {CHECKPOINT + "models/ft.pth": over}).outcome == "no"


def test_a_fine_tune_relative_to_anything_but_uniform_is_refused(tmp_path):
    assert check_resolution({**FINE, "relative_to": "uniform"}, tmp_path) == []
    problems = check_resolution({**FINE, "relative_to": "natural"}, tmp_path)
    assert len(problems) == 1 and problems[0][0] == ("relative_to",)
    assert "must be uniform" in problems[0][1] and "got str 'natural'" in problems[0][1]
    assert "\n" not in problems[0][1]


POSITION = {"exact_position_accuracy": 0.6, "row_accuracy": 0.9, "col_accuracy": 0.85,
            "within_1_position_accuracy": 0.95}  # fmt: skip
POSITION_CONTROL = {"exact_position_accuracy": 0.05, "row_accuracy": 0.3, "col_accuracy": 0.3,
                    "within_1_position_accuracy": 0.2}  # fmt: skip


def position_found(**control: float) -> dict:
    curve = [{"n_samples": n, "metrics": {k: v * f for k, v in POSITION.items()},
              "random_weights_metrics": POSITION_CONTROL} for n, f in ((1000, 0.8), (2000, 1.0))]  # fmt: skip
    return {"metric": "exact_position_accuracy", "score": 0.6, "random_weights": 0.05, "layer": L,
            "n_samples": 2000, "folds": 5, "metrics": POSITION, "random_weights_metrics":
            {**POSITION_CONTROL, **control}, "curve": curve}  # fmt: skip


@pytest.mark.parametrize(
    ("control", "outcome"),
    [({}, "yes"), ({"col_accuracy": 0.8}, "unresolved")],  # 85% against a control of 80%: not its own
)
def test_the_probe_decides_on_each_listed_metric(control, outcome):
    per_coordinate = {**PROBE_RES, "metrics": ["row_accuracy", "col_accuracy"]}
    found = position_found(**control)
    result = evaluate(per_coordinate, {PROBE + "p": found})
    assert result.outcome == outcome
    # the plan's primary metric (both coordinates right, 60%) is below 70%: no, on the same result
    assert evaluate(PROBE_RES, {PROBE + "p": found}).outcome == "no"
    lo, hi = wilson_interval(0.85, 2000, 1.96)
    assert f"col_accuracy 85.0% (95% CI {lo:.1%} to {hi:.1%})" in result.evidence
    assert set(result.numbers["metrics"]) == {"row_accuracy", "col_accuracy"}
    # the learning curve, point by point, with the controls
    assert "learning curve: n 1,000: row_accuracy 72.0% (control 30.0%)" in result.evidence
    assert [p["n_samples"] for p in result.numbers["curve"]] == [1000, 2000]
    if outcome == "unresolved":
        assert "the col_accuracy beats 0.7 but its random-weight control is within 0.1" in result.reason


def test_the_probe_is_no_when_any_listed_metric_is_below_the_threshold():
    found = position_found()
    both = {**PROBE_RES, "metrics": ["row_accuracy", "exact_position_accuracy"]}
    assert evaluate(both, {PROBE + "p": found}).outcome == "no"
    near = {**PROBE_RES, "metrics": ["within_1_position_accuracy"]}
    assert evaluate(near, {PROBE + "p": found}).outcome == "yes"
    # a result kept from before within-1 existed: unresolved, saying what is missing and what to do
    old = {**found, "metrics": {k: v for k, v in POSITION.items() if k != "within_1_position_accuracy"}}
    stale = evaluate(near, {PROBE + "p": old})
    assert stale.outcome == "unresolved" and "lacks within_1_position_accuracy" in stale.reason


def test_the_probe_metrics_must_be_shares_of_mazes_the_plans_probe_reports(tmp_path):
    (tmp_path / "p.yaml").write_text(PROBE_PLAN.replace("name: pp", "name: p"))
    res = {**PROBE_RES, "metrics": ["row_accuracy", "within_1_position_accuracy"]}
    assert check_resolution(res, tmp_path) == []
    for metrics, says in [
        (["row_accuracy", "balanced_accuracy"], "unknown metric(s) 'balanced_accuracy'; the metrics the "
         "cheese-position probe reports as shares of mazes: exact_position_accuracy, row_accuracy"),
        (["row_accuracy", "row_accuracy"], "a metric listed twice"),
        ("row_accuracy", "must be a non-empty list of metric names"),
        ([], "must be a non-empty list of metric names"),
    ]:  # fmt: skip
        problems = check_resolution({**res, "metrics": metrics}, tmp_path)
        assert len(problems) == 1 and problems[0][0] == ("metrics",) and says in problems[0][1], problems
    (tmp_path / "p.yaml").write_text(PROBE_PLAN.replace("name: pp", "name: p").replace("cheese-position",
                                                                                      "cheese-pixel"))
    pixel = check_resolution({**res, "metrics": ["accuracy"]}, tmp_path)
    assert "the cheese-pixel probe reports as shares of mazes: none" in pixel[0][1]


NONE_OF = {"method": "auto", "rule": "none-of", "questions": ["a", "b"]}


@pytest.mark.parametrize(
    ("a", "b", "outcome"),
    [("no", "no", "unresolved"), ("yes", "no", "no"), ("no", "unresolved", "unresolved")],
)
def test_none_of_never_concludes_impossibility(a, b, outcome):
    fits = {QUESTION + "a": {"outcome": a}, QUESTION + "b": {"outcome": b}}
    result = evaluate(NONE_OF, fits)
    assert result.outcome == outcome
    if (a, b) == ("no", "no"):  # every listed edit failed: that does not show none can succeed
        assert "impossibility is not concluded from a finite family" in result.reason


def test_every_editing_rule_has_yes_and_no_examples_here():
    # the examples above, by rule: patch-reduce, retarget, probe-beats-control, fine-tune, none-of
    assert [r.name for r in RULES] == [
        "patch-reduce",
        "retarget",
        "probe-beats-control",
        "fine-tune",
        "none-of",
    ]


# --- checking the registered mapping --------------------------------------------------------------------

FAMILY_SPEC = f"""\
kind: experiment
name: fam
policy: {{checkpoint: {MODEL}}}
mazes: {{n: 12, seed: 5, require_decision_square: true, exclude_cheese_top_right: 5}}
rollouts: {{per_maze: 1, max_steps: 40, chunk_mazes: 4}}
record: {{decision_square_probs: true}}
channel_ranking: {{n: 40, seed: 0}}
interventions:
  - {{id: cheese-vector, edit: cheese-vector, layer: {L}}}
  - {{id: zero-top11, edit: zero-ablate, layer: {L}, channels: {{ranking: cheese-channels, top: 11}}}}
"""
TRIVIAL = "  - {id: cheese-moved, edit: cheese-vector, layer: " + L + ", coefficient: -1, at: [14, 14]}\n"


def test_a_trivial_patch_or_a_changed_family_is_refused_at_validation(tmp_path):
    (tmp_path / "fam.yaml").write_text(FAMILY_SPEC)
    registered = family_hash(load_spec(tmp_path / "fam.yaml").to_dict())
    res = {**PATCH, "family_hash": registered, "threshold": 0.5}
    assert check_resolution(res, tmp_path) == []
    (tmp_path / "fam.yaml").write_text(FAMILY_SPEC + TRIVIAL)
    grown = family_hash(load_spec(tmp_path / "fam.yaml").to_dict())
    problems = check_resolution({**res, "family_hash": grown}, tmp_path)
    assert len(problems) == 1 and "cheese-moved" in problems[0][1] and "trivial" in problems[0][1]
    changed = check_resolution(res, tmp_path)
    assert changed[0][0] == ("family_hash",) and "changed after registration" in changed[0][1]
    # a patch family holds no aimed edits; a retargeting family nothing but
    aimed = check_resolution({**RETARGET, "family_hash": grown, "threshold": 0.01}, tmp_path)
    assert "no edits aimed at targets" in aimed[0][1]
    assert check_resolution({**res, "threshold": 1.5}, tmp_path)[0][0] == ("threshold",)


# --- end to end: resolved from several runs, proven from the files they read ----------------------------

QUESTIONS = """\
questions:
  - id: patch-half
    text: some patch halves the cheese rate
    source: test
    resolution: {{method: auto, rule: patch-reduce, family: fam, family_hash: {h}, threshold: 0.5}}
  - id: no-patch-half
    text: no patch halves it
    source: test
    resolution: {{method: auto, rule: none-of, questions: [patch-half]}}
  - id: took-cheese
    text: the unedited network mostly takes the cheese
    source: test
    resolution: {{method: auto, analysis: all-rate, model: rate, quantity: rate, rule: greater-than,
                 threshold: 0.1}}
"""
FORECASTS = """\
forecaster: tester
source: test
made_at: 2026-01-01
forecasts:
  - {question: patch-half, probability: 0.6}
  - {question: no-patch-half, probability: 0.4}
  - {question: took-cheese, probability: 0.7}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from mazeprobe.experiments.run import run_experiment

    base = tmp_path_factory.mktemp("editing")
    (base / "analysis").mkdir()
    (base / "analysis" / "fam.yaml").write_text(FAMILY_SPEC)
    (base / "analysis" / "all-rate.yaml").write_text("name: all-rate\noutcome: got_cheese\nmodels: [rate]\n")
    h = family_hash(load_spec(base / "analysis" / "fam.yaml").to_dict())
    root = base / "predictions"
    (root / "forecasts").mkdir(parents=True)
    (root / "questions.yaml").write_text(QUESTIONS.format(h=h))
    (root / "forecasts" / "tester.yaml").write_text(FORECASTS)
    register(root)
    time.sleep(1.1)  # run start times are whole seconds: begin strictly after the registrations
    behaviour = base / "analysis" / "behaviour.yaml"
    behaviour.write_text(FAMILY_SPEC.split("channel_ranking")[0].replace("name: fam", "name: behaviour"))
    run_experiment(load_spec(behaviour), base / "runs")
    run_experiment(load_spec(base / "analysis" / "fam.yaml"), base / "runs", workers=1)
    return base


@pytest.fixture
def here(world, tmp_path) -> Path:
    for name in ("analysis", "predictions", "runs"):
        shutil.copytree(world / name, tmp_path / name)
    return tmp_path


def scored(root: Path, path: Path):
    reg = load_registry(root)
    return forecast_table(reg, load_resolutions([path], registry=reg))


def digests(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too), by its path there, with its sha256."""
    return {str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resolve_reads_the_family_run_and_the_proof_rereads_it(here):
    root, runs = here / "predictions", here / "runs"
    before = digests(runs)
    path = resolve_run(root, [runs / "behaviour", runs / "fam"], here / "resolved")
    # the runs are read, never written: the fits and the picture are in resolve's own folder
    assert digests(runs) == before
    assert path == here / "resolved" / "resolutions.yaml"
    written = set(digests(here / "resolved"))
    assert {"resolutions.yaml", "analyses/all-rate/result.json", "analyses/all-rate/summary.txt"} <= written
    assert any(p.startswith("pictures/") and p.endswith(".png") for p in written), written
    doc = load_yaml(path).data
    assert doc["out"] == str(here / "resolved") and doc["run"] == str((runs / "behaviour").resolve())
    assert [r["name"] for r in doc["runs"]] == ["behaviour", "fam"]
    assert all(r["network_sha256"] and r["n_mazes"] == 12 for r in doc["runs"])
    by = {e["question"]: e for e in doc["resolutions"]}
    patch_entry = by["patch-half"]
    source = patch_entry["sources"][FAMILY + "fam"]
    assert source["run"] == str((runs / "fam").resolve()) and set(source["files"]) == {
        "interventions.parquet",
        "retargeting.parquet",
    }
    assert "analysis" not in patch_entry and patch_entry["numbers"]["chosen"] in (
        "cheese-vector",
        "zero-top11",
    )
    opposite = {"yes": "no", "no": "yes", "unresolved": "unresolved"}[patch_entry["outcome"]]
    assert by["no-patch-half"]["outcome"] == opposite
    assert by["took-cheese"]["analysis_hash"]  # plans are fitted on the first run, as before
    table = scored(root, path)
    assert set(table["question"]) == {"patch-half", "no-patch-half", "took-cheese"}
    # the family's table changes after resolution: the outcome no longer proves itself
    iv = runs / "fam" / "interventions.parquet"
    frame = pd.read_parquet(iv)
    frame["got_cheese"] = 1.0 - frame["got_cheese"]
    frame.to_parquet(iv)
    with pytest.raises(IntegrityError, match="patch-half.*changed since it was resolved"):
        scored(root, path)


def test_a_family_run_is_needed_and_resolving_again_adds_no_events(here):
    root, runs = here / "predictions", here / "runs"
    only = load_yaml(resolve_run(root, [runs / "behaviour"], here / "resolved")).data
    by = {e["question"]: e for e in only["resolutions"]}
    assert (
        by["patch-half"]["outcome"] == "unresolved"
        and "no complete run of the family fam" in by["patch-half"]["reason"]
    )
    assert by["no-patch-half"]["outcome"] == "unresolved"
    before = (root / "registry.lock").read_text()
    resolve_run(root, [runs / "behaviour", runs / "fam"], here / "resolved")
    once = (root / "registry.lock").read_text()
    assert len(once.splitlines()) > len(before.splitlines())
    resolve_run(root, [runs / "behaviour", runs / "fam"], here / "resolved")
    assert (root / "registry.lock").read_text() == once


def test_the_report_names_every_run_shows_the_chosen_edit_and_the_amendment(here, capsys):
    from mazeprobe.cli import main

    root, runs = here / "predictions", here / "runs"
    questions = (root / "questions.yaml").read_text()
    (root / "questions.yaml").write_text(questions.replace("threshold: 0.5}", "threshold: 0.4}"))
    register(root, amend=True)  # after the runs began: a late amendment, accepted only when asked
    with pytest.raises(MazeprobeError, match="question:patch-half"):
        resolve_run(root, [runs / "behaviour", runs / "fam"], here / "resolved")
    path = resolve_run(root, [runs / "behaviour", runs / "fam"], here / "resolved", allow_late=True)
    entry = next(e for e in load_yaml(path).data["resolutions"] if e["question"] == "patch-half")
    assert "picture" in entry, entry.get("picture_error")
    picture = path.parent / entry["picture"]
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "original |" in entry["picture_caption"]
    steps = here / "steps.json"
    run_step(steps, "a quick step", [sys.executable, "-c", "pass"])
    out = here / "report.html"
    args = ["report", "--predictions", str(root), "--resolutions", str(path), "--out", str(out)]
    assert main([*args, "--steps", str(steps)]) == 0
    page = out.read_text()
    assert "Resolved against" in page and page.count("sha256 400110e824ac") == 2  # both runs' network
    assert "data:image/png;base64," in page and "patch-half: " in page
    assert "operationalized by amendment on" in page and "threshold: 0.4" in page and "threshold: 0.5" in page
    assert machine() in page and "a quick step" in page and "-c pass" in page
    # what the choice was made among: every candidate's selection-half drops, and who chose which
    assert "Candidate edits: patch-reduce over family fam, guards reached_top_right_square" in page
    [group] = scored(root, path).attrs["candidates"]
    assert group["chosen"] == {"patch-half": entry["numbers"]["chosen"]}
    assert set(group["selection"]) == {"cheese-vector", "zero-top11"}
    md = here / "report.md"
    assert main(["report", "--predictions", str(root), "--resolutions", str(path), "--out", str(md)]) == 0
    assert "![patch-half: " in md.read_text() and "How these results were made" not in md.read_text()


# --- end to end: a registered probe plan, run on a run that records its layer --------------------------

PROBE_QUESTIONS = """\
questions:
  - id: probe-finds-cheese
    text: a linear probe at block2.res1 finds the cheese's square
    source: test
    resolution: {method: auto, rule: probe-beats-control, probe_plan: pp, threshold: 0.7, margin: 0.1}
"""
PROBE_PLAN = f"""\
kind: probe-plan
name: pp
layer: {L}
probe: cheese-position
coords: outer
n: 60
folds: 3
seed: 0
"""


@pytest.mark.filterwarnings("ignore:The number of unique classes")  # 60 mazes: few per class, as intended
def test_a_probe_plan_resolves_from_the_run_that_records_its_layer_and_is_kept_and_proven(tmp_path):
    from mazeprobe.experiments.run import run_experiment

    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "pp.yaml").write_text(PROBE_PLAN)
    root = tmp_path / "predictions"
    (root / "forecasts").mkdir(parents=True)
    (root / "questions.yaml").write_text(PROBE_QUESTIONS)
    (root / "forecasts" / "tester.yaml").write_text(
        "forecaster: tester\nsource: test\nmade_at: 2026-01-01\n"
        "forecasts:\n  - {question: probe-finds-cheese, probability: 0.6}\n"
    )
    register(root)
    time.sleep(1.1)  # run start times are whole seconds: begin strictly after the registrations
    spec = tmp_path / "analysis" / "acts.yaml"
    spec.write_text(
        FAMILY_SPEC.split("channel_ranking")[0]
        .replace("name: fam", "name: acts")
        .replace("n: 12,", "n: 60,")
        .replace("record: {decision_square_probs: true}", f"record: {{activations: {{layers: [{L}]}}}}")
    )
    run = run_experiment(load_spec(spec), tmp_path / "runs")
    in_run = digests(run)
    path = resolve_run(root, [run], tmp_path / "resolved")
    assert digests(run) == in_run  # the probe's result is kept in resolve's folder, not in the run
    entry = load_yaml(path).data["resolutions"][0]
    kept = tmp_path / "resolved" / "probes" / "pp.json"
    assert entry["outcome"] in ("yes", "no") and "exact_position_accuracy" in entry["evidence"]
    assert entry["sources"][PROBE + "pp"]["files"] == {"probes/pp.json": file_sha256(kept)}
    fitted = json.loads(kept.read_text())
    assert fitted["result"]["n_samples"] == 60 and fitted["result"]["folds"] == 3
    assert fitted["run"] == str(run)
    # resolving again reads the kept result; the proof re-reads it, and refuses it once it changes
    before = kept.read_bytes()
    resolve_run(root, [run], tmp_path / "resolved")
    assert kept.read_bytes() == before
    assert set(scored(root, path)["question"]) == {"probe-finds-cheese"}

    # a result an earlier resolve kept in the run itself (RUN/probes/pp.json) is reused in a new folder,
    # copied byte for byte: the evidence and the lock's event stay the same
    (run / "probes").mkdir(exist_ok=True)
    (run / "probes" / "pp.json").write_bytes(before)
    lock = (root / "registry.lock").read_bytes()
    again = resolve_run(root, [run], tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "probes" / "pp.json").read_bytes() == before
    assert (root / "registry.lock").read_bytes() == lock
    assert load_yaml(again).data["resolutions"] == load_yaml(path).data["resolutions"]
    # and a resolutions.yaml in the old layout (no `out:`, its probe result in the run) still proves
    old = load_yaml(path).data
    del old["out"]
    (run / "resolutions.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    assert set(scored(root, run / "resolutions.yaml")["question"]) == {"probe-finds-cheese"}

    fitted["result"]["score"] = 1.0 - fitted["result"]["score"]
    kept.write_text(json.dumps(fitted))
    with pytest.raises(IntegrityError, match="probe-finds-cheese"):
        scored(root, path)

    # a result kept in the run by a resolve before --out names no run: once copied into a folder it is
    # reused from there, even when the run's copy is gone (computing it again would change its hash)
    named_no_run = {k: v for k, v in json.loads(before).items() if k != "run"}
    legacy = (json.dumps(named_no_run, indent=1) + "\n").encode()
    (run / "probes" / "pp.json").write_bytes(legacy)
    resolve_run(root, [run], tmp_path / "third")
    shutil.rmtree(run / "probes")
    resolve_run(root, [run], tmp_path / "third")
    assert (tmp_path / "third" / "probes" / "pp.json").read_bytes() == legacy
    assert (tmp_path / "third" / "probes" / "pp.run").read_text().strip() == str(run)


def test_a_picture_is_refused_when_the_runs_network_changed(here):
    from mazeprobe.experiments.pictures import edit_picture

    run = here / "runs" / "fam"
    seed = int(pd.read_parquet(run / "mazes.parquet")["seed"].iloc[0])
    drawn = edit_picture(run, "cheese-vector", seed, here / "ok.png")
    assert drawn.read_bytes()[:4] == b"\x89PNG"
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["policy"]["sha256"] = "0" * 64  # as if the checkpoint had been retrained since the run
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(MazeprobeError, match="changed since the run"):
        edit_picture(run, "cheese-vector", seed, here / "no.png")
    assert not (here / "no.png").exists()


def guarded_table() -> pd.DataFrame:
    """none: gets the cheese in every maze, enters the top-right 5x5 in every maze, reaches the corner in a
    tenth, P(top-right) at the decision square 0.5. redirect: no cheese, the corner in 80%, P(top-right)
    0.9 (a top-right drive); ablate: the cheese in 30%, top-right measures unchanged; wreck: no cheese, the
    5x5 entered in only 20% (navigation broken)."""
    effects = {  # got_cheese, reached_top_right_square, entered_top_right_5x5, p_top_right_at_dsq
        "none": (1.0, 0.1, 1.0, 0.5),
        "redirect": (0.0, 0.8, 1.0, 0.9),
        "ablate": (0.3, 0.1, 1.0, 0.5),
        "wreck": (0.0, 0.1, 0.2, 0.5),
    }
    rows = []
    for name, (got, corner, box, p_top) in effects.items():
        for i, s in enumerate(SEEDS.tolist()):
            share = (i % 10) / 10  # the first share of every ten mazes, in both halves alike
            rows.append({"seed": s, "intervention": name, "got_cheese": float(share < got),
                         "reached_top_right_square": float(share < corner),
                         "entered_top_right_5x5": float(share < box), "p_top_right_at_dsq": p_top,
                         "p_cheese_at_dsq": 0.4 if name == "none" else 0.1,
                         "edited_fraction_network": 0.0 if name == "none" else 0.02})  # fmt: skip
    return pd.DataFrame(rows)


def test_patch_reduce_guards_every_registered_top_right_measure_and_shows_them_all():
    fam = family(guarded_table())
    res = {**PATCH, "threshold": 0.5, "guards": ["entered_top_right_5x5", "p_top_right_at_dsq"]}
    r = evaluate(res, {FAMILY + "fam": fam})
    sel = r.numbers["selection"]
    assert set(sel) == {"redirect", "ablate", "wreck"}
    assert not sel["wreck"]["eligible"] and sel["wreck"]["entered_top_right_5x5_drop"] > 0.7
    assert sel["redirect"]["eligible"] and sel["redirect"]["reached_top_right_square_drop"] < -5  # a rise
    assert sel["ablate"]["edited_fraction_network"] == 0.02
    # the largest cheese drop among those sparing both guards; every top-right measure is reported
    assert r.numbers["chosen"] == "redirect" and r.outcome == "yes"
    conf = r.numbers["confirmation"]
    assert set(conf) == {"got_cheese", "reached_top_right_square", "entered_top_right_5x5",
                         "p_top_right_at_dsq", "p_cheese_at_dsq"}  # fmt: skip
    assert [m for m, v in conf.items() if v["guard"]] == ["entered_top_right_5x5", "p_top_right_at_dsq"]
    assert "guarded: entered_top_right_5x5 down 0.0%" in r.evidence
    assert "not guarded: reached_top_right_square up " in r.evidence
    assert "mean P(cheese) at the decision square 0.400 -> 0.100" in r.evidence
    # without `guards`, the corner square alone, as round 1 registered it
    default = evaluate({**PATCH, "threshold": 0.5}, {FAMILY + "fam": fam})
    assert tuple(default.numbers["guards"]) == ("reached_top_right_square",)


def test_patch_reduce_guards_are_checked_when_registered(tmp_path):
    from mazeprobe.registry.rules.editing import _check_guards

    assert _check_guards({"guards": ["entered_top_right_5x5"]}, ()) == []
    [(kp, msg)] = _check_guards({"guards": ["entered_5x5"]}, ())
    assert kp == ("guards",) and msg.startswith("unknown measure(s) 'entered_5x5'; the top-right measures")
    [(kp, msg)] = _check_guards({"guards": []}, ())
    assert "must be a non-empty list" in msg


def _evaluation(ckpt: Path, seed: int, got: float) -> None:
    """A hand-written evaluation of `ckpt` on the mazes of `seed`, begun now."""
    from mazeprobe.provenance import utc_stamp
    from mazeprobe.training.config import evaluation_path

    suite = {"got_cheese": got, "entered_top_right_5x5_without_cheese": 0.01, "episodes": 500}
    doc = {"checkpoint": str(ckpt), "checkpoint_sha256": file_sha256(ckpt), "seed": seed,
           "started_at": utc_stamp(), "suites": {"test/sample": suite, "uniform/sample": {**suite,
           "got_cheese": 0.9}}}  # fmt: skip
    evaluation_path(ckpt).write_text(json.dumps(doc))


def test_a_fine_tune_amended_before_its_evaluation_on_new_mazes_is_timely(here):
    """The fine-tune's evidence is its evaluation: an amendment registered before an evaluation on new
    mazes is timely, one registered after the evaluation it is read from is late (the reviewer's case)."""
    from mazeprobe.agents.impala import random_impala, save_checkpoint
    from mazeprobe.training.config import training_record_path

    root, runs = here / "predictions", here / "runs"
    ckpt = save_checkpoint(random_impala(1, seed=5), here / "ft.pth")
    training_record_path(ckpt).write_text(json.dumps({
        "samples": 100, "finished": True, "started_at": "2026-01-02T00:00:00Z",
        "init": {"checkpoint": "base.pth", "sha256": "b" * 64, "budget_fraction": 0.05}}))  # fmt: skip
    q = root / "questions.yaml"
    q.write_text(q.read_text() + """\
  - id: tuned
    text: the fine-tune gets the cheese
    source: test
    resolution: {method: auto, rule: fine-tune, checkpoint: ft.pth, budget: 0.1, threshold: 0.5,
                 margin: 0.05}
""")
    register(root)
    time.sleep(1.1)
    _evaluation(ckpt, 1, 0.8)  # evaluated after the question was registered
    path = resolve_run(root, [runs / "behaviour", runs / "fam"], here / "resolved")
    assert {r["question"]: r["outcome"] for r in load_yaml(path).data["resolutions"]}["tuned"] == "yes"
    q.write_text(q.read_text().replace("threshold: 0.5,", "threshold: 0.7, relative_to: uniform,"))
    register(root, amend=True)
    with pytest.raises(MazeprobeError, match="question:tuned: registered .*after the fine-tune of ft.pth|"
                                             "question:tuned: registered .*ft.pth began"):  # fmt: skip
        resolve_run(root, [runs / "behaviour", runs / "fam"], here / "resolved")  # the same evaluation
    time.sleep(1.1)
    _evaluation(ckpt, 2, 0.8)  # new mazes, evaluated after the amendment
    path = resolve_run(root, [runs / "behaviour", runs / "fam"], here / "resolved")  # no late item
    entry = {r["question"]: r for r in load_yaml(path).data["resolutions"]}["tuned"]
    assert entry["outcome"] == "yes" and "uniform" in entry["evidence"]  # 0.8 against 0.7 x 0.9 = 0.63
    assert not load_yaml(path).data["late"]


def test_a_relative_drop_of_a_rare_event_has_no_interval_when_resamples_lose_its_baseline():
    from mazeprobe.stats.paired import relative_drop_interval

    rare = np.zeros(100)
    rare[0] = 1.0  # one maze in a hundred: about a third of the resamples have no baseline
    drop, lo, hi = relative_drop_interval(rare, np.zeros(100), n_boot=500, seed=0)
    assert drop == 1.0 and np.isnan(lo) and np.isnan(hi)
    common = (np.arange(100) % 2).astype(float)
    _, lo, hi = relative_drop_interval(common, np.zeros(100), n_boot=500, seed=0)
    assert lo == hi == 1.0


def test_rules_declare_their_evidence_and_their_picture(tmp_path):
    from mazeprobe.registry.resolution.changes import candidates
    from mazeprobe.registry.resolution.evidence import Source, draw_picture, source_keys
    from mazeprobe.registry.rules.base import Rule
    from mazeprobe.registry.rules.fitted import RULE_REGISTRY

    declared = {
        name: (dict(r.sources), r.chooses_edit, r.picture) for name, r in RULE_REGISTRY.items() if r.sources
    }
    assert declared == {
        "patch-reduce": ({"family": FAMILY}, True, "edit"),
        "retarget": ({"family": FAMILY}, True, "retargeting"),
        "probe-beats-control": ({"probe_plan": PROBE}, False, None),
        "fine-tune": ({"checkpoint": CHECKPOINT}, False, None),
    }
    for rule in RULE_REGISTRY.values():
        assert set(rule.sources) <= set(rule.keys)  # a source is named by one of the rule's own keys
    with pytest.raises(ValueError, match="picture"):
        Rule("x", "x", RULE_REGISTRY["retarget"].evaluate, RULE_REGISTRY["retarget"].check, picture="heatmap")
    nested = {"rule": "all-of", "rules": [{"rule": "fine-tune", "checkpoint": "m.pth"},
                                          {"rule": "patch-reduce", "family": "f"}]}  # fmt: skip
    assert source_keys(nested) == [CHECKPOINT + "m.pth", FAMILY + "f"]
    # a rule without a picture draws none, even with a chosen edit and its family's run at hand
    family = {FAMILY + "f": Source(FAMILY + "f", {"run": str(tmp_path / "no-run")})}
    assert draw_picture({"rule": "fine-tune", "family": "f"}, {"chosen": "e"}, family, tmp_path / "p") is None
    assert not (tmp_path / "p").exists()
    # a rule that declares one tries to draw it (from a run that is not there: the error is kept)
    drawn = draw_picture({"rule": "retarget", "family": "f"}, {"chosen": "e"}, family, tmp_path / "p")
    assert set(drawn) == {"picture_error"}

    class R:  # a resolution as candidates reads it
        def __init__(self, rule: str) -> None:
            self.method, self.question = "auto", f"q-{rule}"
            self.numbers = {"selection": {"e": {}}, "chosen": "e"}
            self.raw = {"rule": rule, "family": "f"}

    chosen = [g["rule"] for g in candidates([R("retarget"), R("fine-tune"), R("patch-reduce")])]
    assert chosen == ["retarget", "patch-reduce"]  # only the rules that choose an edit list candidates


def test_a_candidate_table_is_laid_out_by_what_its_rows_measured():
    from mazeprobe.registry.report.editing import candidates as candidate_sections

    aimed = {  # a rule that chooses by the share of mazes retargeted, whatever its name
        "a": {"edited_fraction_network": 0.0000272, "retargeted_share": 0.111, "eligible": True},
        "b": {"edited_fraction_network": 0.0114064, "retargeted_share": 0.469, "eligible": True},
    }
    dropped = {"c": {"edited_fraction_network": 0.011, "got_cheese_drop": 0.928,
                     "reached_top_right_square_drop": -0.5, "eligible": False}}  # fmt: skip
    table = pd.DataFrame()
    table.attrs["candidates"] = [
        {"rule": "retarget-v2", "family": "f", "guards": [], "selection": aimed, "chosen": {"q1": "b"}},
        {"rule": "patch-reduce", "family": "g", "guards": ["reached_top_right_square"], "selection": dropped,
         "chosen": {"q2": "c"}},
    ]  # fmt: skip
    by_share, by_drops = candidate_sections(table, {})
    assert [c.header for c in by_share.columns] == [
        "edit", "edited share of the network", "mazes retargeted (selection half)", "chosen by"
    ]  # fmt: skip
    assert [cell.text for cell in by_share.rows[1]] == ["b", "1.14064%", "46.9%", "q1"]
    assert [c.header for c in by_drops.columns] == [
        "edit", "edited share of the network", "got_cheese drop", "reached_top_right_square drop (guard)",
        "eligible", "chosen by",
    ]  # fmt: skip
    assert [cell.text for cell in by_drops.rows[0]] == ["c", "1.1%", "92.8%", "-50.0%", "no", "q2"]
    assert by_drops.title == "Candidate edits: patch-reduce over family g, guards reached_top_right_square"
