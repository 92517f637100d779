"""The statistics layer: parameter recovery, standard errors, the cross-validated models, sign stability,
VIF, plan validation, errors, and the output contract, on real statsmodels / scikit-learn fits."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from mazeprobe.experiments.run import run_experiment
from mazeprobe.experiments.spec import load_spec
from mazeprobe.maze.features import PUBLISHED_FEATURES
from mazeprobe.maze.sampling import SampleSpec, sample_mazes, write_mazes
from mazeprobe.stats import (
    KIND_REGISTRY,
    FitError,
    fit_plan,
    load_input,
    load_plan,
    make_plan,
    write_outputs,
)
from mazeprobe.stats.kinds import DEFAULT_C, DEFAULT_SPLITS, DEFAULT_TEST_SIZE, Setting
from mazeprobe.stats.models import auc_score
from mazeprobe.yamlio import SpecError

TOP_RIGHT = "euc_dist_cheese_top_right"
STEPS_DSQ = "steps_between_cheese_decision_square"
EUC_DSQ = "euc_dist_cheese_decision_square"


@pytest.fixture(scope="module")
def mazes() -> pd.DataFrame:
    """Real maze features: the published population (decision square, cheese outside the 5x5)."""
    return sample_mazes(SampleSpec(n=3000, seed=11, require_decision_square=True, exclude_cheese_top_right=5))


def zscore(table: pd.DataFrame, name: str) -> np.ndarray:
    x = table[name].astype(float).to_numpy()
    return (x - x.mean()) / x.std(ddof=1)


def simulate(table: pd.DataFrame, b0: float, coefs: dict[str, float], seed: int) -> np.ndarray:
    """Bernoulli outcomes from a known logistic model on z-scored features."""
    eta = b0 + sum(b * zscore(table, name) for name, b in coefs.items())
    rng = np.random.default_rng(seed)
    return rng.random(len(table)) < 1 / (1 + np.exp(-eta))


def with_outcome(table: pd.DataFrame, y) -> pd.DataFrame:
    out = table.copy()
    out["got_cheese"] = y
    return out


# --- the logit -----------------------------------------------------------------------------------


def test_logit_recovers_known_coefficients_with_nominal_coverage(mazes):
    truth = {TOP_RIGHT: -2.5, STEPS_DSQ: -0.8, EUC_DSQ: 0.0}  # the last two correlate at about 0.88
    plan = make_plan("recovery", "got_cheese", list(truth), ["logit"])
    reps = 100
    covered = {name: 0 for name in truth}
    significant_null = 0
    estimates = {name: [] for name in truth}
    for rep in range(reps):
        result = fit_plan(with_outcome(mazes, simulate(mazes, 0.8, truth, seed=1000 + rep)), plan)
        feats = result.models["logit"].table
        for name, b in truth.items():
            covered[name] += feats.loc[name, "ci_low"] <= b <= feats.loc[name, "ci_high"]
            estimates[name].append(feats.loc[name, "coef"])
        significant_null += feats.loc[EUC_DSQ, "p"] < 0.05
    coverage = sum(covered.values()) / (reps * len(truth))
    assert 0.90 <= coverage <= 0.99, covered
    assert all(c >= 0.85 * reps for c in covered.values()), covered
    # a zero coefficient is called significant at about the 5% rate (binomial slack for 100 tries)
    assert significant_null <= 12
    for name, b in truth.items():
        assert abs(np.mean(estimates[name]) - b) < 0.1, (name, np.mean(estimates[name]))


def test_clustered_standard_errors_exceed_naive_ones_with_repeated_rollouts(mazes):
    table = mazes.iloc[:800]
    rng = np.random.default_rng(3)
    # four rollouts per maze that share a maze-level disposition: rows of a maze are correlated
    u = rng.normal(0, 1.5, len(table))
    eta = 0.5 - 1.5 * zscore(table, TOP_RIGHT) - 0.5 * zscore(table, STEPS_DSQ) + u
    rows = table.loc[table.index.repeat(4)].reset_index(drop=True)
    rows["rollout"] = np.tile(np.arange(4), len(table))
    rows["got_cheese"] = rng.random(len(rows)) < 1 / (1 + np.exp(-np.repeat(eta, 4)))
    features = [TOP_RIGHT, STEPS_DSQ]
    auto = fit_plan(rows, make_plan("c", "got_cheese", features, ["logit"])).models["logit"]
    naive = fit_plan(
        rows, make_plan("c", "got_cheese", features, [{"kind": "logit", "cov_type": "nonrobust"}])
    )
    naive = naive.models["logit"]
    assert auto.stats["cov_type"] == "cluster" and auto.stats["n_clusters"] == 800
    assert naive.stats["cov_type"] == "nonrobust"
    np.testing.assert_allclose(auto.table["coef"], naive.table["coef"])  # same estimates, other SEs
    ratio = auto.table["se"] / naive.table["se"]
    assert (ratio > 1.25).all(), ratio


def test_fractional_logit_recovers_a_known_coefficient_one_row_per_maze(mazes):
    rng = np.random.default_rng(5)
    mu = 1 / (1 + np.exp(-(0.5 - 1.2 * zscore(mazes, TOP_RIGHT) + 0.4 * zscore(mazes, EUC_DSQ))))
    phi = 20.0
    p = rng.beta(mu * phi, (1 - mu) * phi)  # mean exactly mu, strictly inside (0, 1)
    rows = mazes.loc[mazes.index.repeat(2)].reset_index(drop=True)  # two episodes per maze
    rows["p_cheese_at_dsq"] = np.repeat(p, 2)
    plan = make_plan("frac", "p_cheese_at_dsq", [TOP_RIGHT, EUC_DSQ], ["logit", "vif"])
    result = fit_plan(rows, plan)
    logit = result.models["logit"]
    assert result.n == len(mazes) and result.counts["deduplicated"] == len(mazes)
    assert result.outcome_kind == "fraction" and logit.stats["cov_type"] == "HC0"
    for name, b in ((TOP_RIGHT, -1.2), (EUC_DSQ, 0.4)):
        row = logit.table.loc[name]
        assert row["ci_low"] <= b <= row["ci_high"] and abs(row["coef"] - b) < 0.06, (name, row["coef"])
    assert abs(logit.intercept["coef"] - 0.5) < 0.06


def test_probability_outcome_rejects_models_that_need_a_binary_one(tmp_path):
    path = tmp_path / "frac.yaml"
    path.write_text(
        "name: f\noutcome: p_cheese_at_dsq\nfeatures: [euc_dist_cheese_top_right]\nmodels:\n"
        "  - {kind: logit}\n  - {kind: l1-logit}\n"
    )
    with pytest.raises(SpecError, match=rf"{path}:6:6: models\[1\]\.kind: l1-logit needs a binary outcome"):
        load_plan(path)


# --- cross-validated models ----------------------------------------------------------------------


def test_l1_logit_beats_the_baseline_on_informative_data_and_not_on_noise(mazes):
    features = [TOP_RIGHT, STEPS_DSQ, EUC_DSQ, "cheese_coord_norm"]
    models = [{"kind": "l1-logit", "splits": 20}, {"kind": "single"}, {"kind": "drop-one"}]
    plan = make_plan("cv", "got_cheese", features, models)
    informative = fit_plan(with_outcome(mazes, simulate(mazes, 0.9, {TOP_RIGHT: -2.5}, seed=1)), plan)
    l1 = informative.models["l1-logit"].stats
    assert l1["accuracy_mean"] > l1["baseline_accuracy"] + 0.1 and l1["auc_mean"] > 0.85
    assert informative.models["l1-logit"].table.loc[TOP_RIGHT, "coef_q975"] < -1.5
    # single and drop-one run on the very same splits: drop-one's full model is l1-logit
    assert informative.models["drop-one"].stats["accuracy_mean"] == l1["accuracy_mean"]
    single = informative.models["single"].table
    assert single["accuracy_mean"].idxmax() == TOP_RIGHT and single.loc[TOP_RIGHT, "auc_mean"] > 0.85
    drop = informative.models["drop-one"].table
    assert (
        drop["accuracy_loss_mean"].idxmax() == TOP_RIGHT and drop.loc[TOP_RIGHT, "accuracy_loss_mean"] > 0.05
    )
    assert abs(drop.loc["cheese_coord_norm", "accuracy_loss_mean"]) < 0.01

    noise = np.random.default_rng(2).random(len(mazes)) < 0.7
    null = fit_plan(with_outcome(mazes, noise), plan).models["l1-logit"].stats
    assert abs(null["accuracy_mean"] - null["baseline_accuracy"]) < 0.02
    assert abs(null["auc_mean"] - 0.5) < 0.06
    assert 0.67 < null["baseline_accuracy"] < 0.73


def test_repeated_split_results_do_not_depend_on_worker_processes(mazes):
    plan = make_plan("jobs", "got_cheese", [TOP_RIGHT, STEPS_DSQ], [{"kind": "l1-logit", "splits": 6}])
    frame = with_outcome(mazes.iloc[:600], simulate(mazes.iloc[:600], 0.5, {TOP_RIGHT: -2.0}, seed=4))
    one = fit_plan(frame, plan).models["l1-logit"]
    two = fit_plan(frame, plan, jobs=2).models["l1-logit"]
    pd.testing.assert_frame_equal(one.table, two.table)
    assert one.stats == two.stats


def test_warnings_met_while_fitting_reach_result_json_and_the_summary_for_any_jobs(tmp_path):
    # two real troubles in raw units (standardize: false): one wild value of TOP_RIGHT, on the side the
    # fit predicts, overflows exp in statsmodels' logit (which still converges); a feature around 10, as
    # raw step counts are, with little penalty (C 100) keeps liblinear from converging in 100 iterations
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = x[:, 0] + 0.3 * rng.normal(size=400) < 0
    x[0, 0], y[0] = 2000.0, False
    frame = pd.DataFrame({TOP_RIGHT: x[:, 0], STEPS_DSQ: x[:, 1] + 10, EUC_DSQ: x[:, 2], "got_cheese": y})
    models = [
        "logit",
        {"kind": "l1-logit", "C": 100, "splits": 6},
        "single",
        "drop-one",
        {"kind": "sign-stability", "subsets": 4},
    ]
    plan = make_plan("trouble", "got_cheese", [TOP_RIGHT, STEPS_DSQ, EUC_DSQ], models, standardize=False)
    warned = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs-{jobs}"
        write_outputs(fit_plan(frame, plan, jobs=jobs), out, "json,text")
        doc = json.loads((out / "result.json").read_text())["models"]
        warned[jobs] = {key: m["warnings"] for key, m in doc.items()}
        summary = (out / "summary.txt").read_text()
        assert all(f"  WARNING: {w}\n" in summary for lines in warned[jobs].values() for w in lines)
    assert warned[1] == warned[2]  # counted in the worker processes, put together in split order
    overflow = "overflow encountered in exp"
    assert warned[1]["logit"] == [f"statsmodels RuntimeWarning while fitting: {overflow}"]
    assert re.fullmatch(
        rf"statsmodels RuntimeWarning in \d+ of \d+ distinct fits: {overflow}", warned[1]["sign-stability"][0]
    )
    liblinear = (
        r"scikit-learn ConvergenceWarning in [1-9]\d* of {} split fits{}: Liblinear failed to converge.*"
    )
    assert re.fullmatch(liblinear.format(6, ""), warned[1]["l1-logit"][0])
    assert re.fullmatch(liblinear.format(18, rf" \({STEPS_DSQ} alone: \d+\)"), warned[1]["single"][0])
    assert re.fullmatch(liblinear.format(24, r" \(all features: \d+.*\)"), warned[1]["drop-one"][0])


def test_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    score = np.round(rng.normal(size=500) + y, 1)  # rounded: many ties
    assert auc_score(y.astype(int), score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert np.isnan(auc_score(np.ones(5, int), np.arange(5.0)))


# --- sign stability and VIF ----------------------------------------------------------------------


def test_a_strong_feature_never_flips_sign(mazes):
    features = [TOP_RIGHT, STEPS_DSQ, EUC_DSQ, "cheese_coord_norm", "euc_dist_decision_square_5x5"]
    plan = make_plan("signs", "got_cheese", features, [{"kind": "sign-stability", "subsets": 40}])
    y = simulate(mazes, 0.8, {TOP_RIGHT: -2.5, STEPS_DSQ: -0.8}, seed=9)
    table = fit_plan(with_outcome(mazes, y), plan).models["sign-stability"].table
    assert table.loc[TOP_RIGHT, "flip_rate"] == 0 and table.loc[TOP_RIGHT, "flips"] == 0
    assert table.loc[TOP_RIGHT, "full_coef"] < -2 and table.loc[TOP_RIGHT, "coef_max"] < 0
    assert (table["subsets"] == 40).all() and (table["failed"] == 0).all()
    assert table["flip_rate"].between(0, 1).all()


def test_vif_is_high_for_nearly_collinear_features_and_about_one_for_independent_ones():
    rng = np.random.default_rng(0)
    n = 2000
    a = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "euc_dist_cheese_5x5": a,
            "euc_dist_cheese_top_right": a + 0.05 * rng.normal(size=n),
            "cheese_coord_norm": rng.normal(size=n),
            "maze_size": rng.normal(size=n),
            "got_cheese": rng.random(n) < 0.5,
        }
    )
    plan = make_plan("v", "got_cheese", list(frame.columns[:4]), ["vif"])
    vif = fit_plan(frame, plan).models["vif"]
    assert (vif.table["vif"].iloc[:2] > 50).all()
    assert (vif.table["vif"].iloc[2:] < 1.1).all()
    assert vif.extra["correlation"].loc["euc_dist_cheese_5x5", "euc_dist_cheese_top_right"] > 0.99
    assert any("VIF above 10" in w for w in vif.warnings)


def test_an_exact_linear_combination_is_left_out_of_the_logit_and_has_infinite_vif(mazes):
    # steps cheese->top-right = steps cheese->dsq + steps dsq->top-right in every maze (trees)
    plan = make_plan(
        "alias",
        "got_cheese",
        ["steps_between_cheese_top_right", "steps_between_decision_square_top_right", STEPS_DSQ, TOP_RIGHT],
        ["logit", "vif", {"kind": "sign-stability", "subsets": 10}],
    )
    result = fit_plan(with_outcome(mazes, simulate(mazes, 0.5, {TOP_RIGHT: -2.0}, seed=2)), plan)
    logit = result.models["logit"]
    assert logit.table.loc[STEPS_DSQ, "aliased"] and np.isnan(logit.table.loc[STEPS_DSQ, "coef"])
    assert np.isfinite(logit.table.drop(index=STEPS_DSQ)["coef"]).all()
    assert any("exact linear combination" in w for w in logit.warnings)
    partners = ["steps_between_cheese_top_right", "steps_between_decision_square_top_right"]
    assert logit.aliased == {STEPS_DSQ: partners} == result.models["sign-stability"].aliased
    doc = result.to_json()["models"]
    assert doc["logit"]["aliased_with"] == {STEPS_DSQ: partners} and "aliased_with" not in doc["vif"]
    # statsmodels' rank-deficiency warnings in the VIF regressions only restate the dependency above
    assert doc["vif"]["warnings"] == [
        f"exact linear dependency among {', '.join([*partners, STEPS_DSQ])}: VIF infinite (written as null)"
    ]
    assert doc["logit"]["features"][STEPS_DSQ]["coef"] is None
    assert doc["vif"]["features"][STEPS_DSQ]["vif"] is None and doc["vif"]["features"][TOP_RIGHT]["vif"] < 10
    # sign stability keeps the feature under study and gives every one of them a reference sign
    assert result.models["sign-stability"].table["full_coef"].notna().all()


# --- errors --------------------------------------------------------------------------------------


def test_perfect_separation_is_an_error_naming_the_model(mazes):
    y = zscore(mazes, TOP_RIGHT) > 0
    plan = make_plan("sep", "got_cheese", [TOP_RIGHT, STEPS_DSQ], ["vif", "logit"])
    with pytest.raises(FitError, match=r"models\[1\] \(logit\).*separate got_cheese perfectly"):
        fit_plan(with_outcome(mazes, y), plan)


def test_data_that_cannot_be_fitted_honestly_is_an_error(mazes):
    plan = make_plan("e", "got_cheese", [TOP_RIGHT, STEPS_DSQ], ["logit"])
    frame = with_outcome(mazes, simulate(mazes, 0.0, {TOP_RIGHT: -1.0}, seed=0))
    with pytest.raises(FitError, match=rf"feature\(s\) {STEPS_DSQ} are constant"):
        fit_plan(frame.assign(**{STEPS_DSQ: 4}), plan)
    with pytest.raises(FitError, match="too few rows: 8 left"):
        fit_plan(frame.iloc[:8], plan)
    few = frame.iloc[:300].assign(got_cheese=np.arange(300) < 3)
    with pytest.raises(FitError, match=r"3 with got_cheese true and 297 false \(need at least 5 of each\)"):
        fit_plan(few, plan)
    with pytest.raises(FitError, match=rf"no column\(s\) {STEPS_DSQ}"):
        fit_plan(frame.drop(columns=[STEPS_DSQ]), plan)
    with pytest.raises(FitError, match="a maze table has no outcomes"):
        fit_plan(mazes, plan)


def test_null_feature_rows_are_dropped_and_counted(mazes):
    frame = with_outcome(mazes, simulate(mazes, 0.0, {TOP_RIGHT: -1.0}, seed=0))
    frame[EUC_DSQ] = frame[EUC_DSQ].astype(float)
    frame.loc[frame.index[:7], EUC_DSQ] = np.nan
    frame[STEPS_DSQ] = frame[STEPS_DSQ].astype("Int64")
    frame.loc[frame.index[5:9], STEPS_DSQ] = pd.NA
    result = fit_plan(frame, make_plan("n", "got_cheese", [TOP_RIGHT, STEPS_DSQ, EUC_DSQ], ["logit"]))
    assert result.counts["null_feature"] == 9 and result.n == len(mazes) - 9
    assert any(
        "dropped 9 rows" in w and f"{EUC_DSQ}: 7" in w and f"{STEPS_DSQ}: 4" in w for w in result.warnings
    )


def test_filters_keep_exactly_the_rows_they_say():
    table = sample_mazes(SampleSpec(n=1200, seed=4))
    y = np.random.default_rng(0).random(len(table)) < 0.6
    plan = make_plan(
        "f",
        "got_cheese",
        [TOP_RIGHT],
        ["logit"],
        filter={
            "has_decision_square": True,
            "maze_size": {"min": 9, "max": 21},
            "cheese_quadrant": ["top-left", "bottom-right"],
        },
    )
    result = fit_plan(with_outcome(table, y), plan)
    keep = (
        table["has_decision_square"].fillna(False)
        & table["maze_size"].between(9, 21)
        & table["cheese_quadrant"].isin(["top-left", "bottom-right"])
    ).to_numpy(bool)
    assert result.n == keep.sum() and result.counts["filtered_out"] == (~keep).sum()


PLAN_ERRORS = [
    (
        "  - {kind: l1logit}\n",
        r":6:6: models\[0\]\.kind: unknown model kind 'l1logit' \(did you mean 'l1-logit'\?\)",
    ),
    ("  - {kind: logit, C: 2}\n", r":6:19: models\[0\]\.C: unknown key for a logit model"),
    ("  - {kind: l1-logit, C: 0}\n", r":6:22: models\[0\]\.C: must be > 0; got 0"),
    ("  - {kind: sign-stability, subsets: 0.5}\n", r"models\[0\]\.subsets: must be an integer"),
    ("  - logit\n  - logit\n", r":7:5: models\[1\]: a second model with key 'logit'"),
    ("  - {kind: [logit]}\n", r":6:6: models\[0\]\.kind: unknown model kind \['logit'\] \(did you mean"),
]


@pytest.mark.parametrize(("models", "message"), PLAN_ERRORS)
def test_plan_errors_name_file_line_and_key(tmp_path, models, message):
    path = tmp_path / "plan.yaml"
    path.write_text(
        "name: p\nfilter: {has_decision_square: true}\noutcome: got_cheese\n"
        "features: [euc_dist_cheese_top_right]\nmodels:\n" + models
    )
    with pytest.raises(SpecError, match=message) as info:
        load_plan(path)
    assert str(info.value).startswith(str(path))


def test_plan_reports_every_problem_at_once(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(
        "name: p\n"
        "filter: {has_decision_sqare: true, maze_size: big}\n"
        "outcome: got_cheese\n"
        "features: [euc_dist_cheese_top_right, euc_dist_chese_top_right, cheese_quadrant]\n"
        "models: [logit]\n"
        "colour: red\n"
    )
    with pytest.raises(SpecError) as info:
        load_plan(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 5, lines
    assert (
        "plan.yaml:2:10: filter.has_decision_sqare: unknown column (did you mean 'has_decision_square'?)"
        in str(info.value)
    )
    assert "filter.maze_size: must be an integer (maze_size is int)" in str(info.value)
    assert "features[1]: unknown feature 'euc_dist_chese_top_right' (did you mean " in str(info.value)
    assert "features[2]: cheese_quadrant is a text feature" in str(info.value)
    assert "plan.yaml:6:1: colour: unknown key" in str(info.value)


def test_a_plans_top_level_settings_are_declared_on_its_fields(tmp_path):
    from mazeprobe.settings import settings_of
    from mazeprobe.stats.planspec import DEFAULT_MAX_VIF, AnalysisPlan
    from mazeprobe.validation import NAME_HELP

    assert list(settings_of(AnalysisPlan)) == ["name", "standardize", "seed", "max_vif", "description"]
    good = make_plan("p", "got_cheese", [TOP_RIGHT], ["logit"], seed=3, max_vif=5, standardize=False)
    assert (good.seed, good.max_vif, good.standardize, good.description) == (3, 5.0, False, "")
    plain = make_plan("p", "got_cheese", [TOP_RIGHT], ["logit"])
    assert isinstance(good.max_vif, float) and plain.max_vif == DEFAULT_MAX_VIF and plain.seed == 0
    path = tmp_path / "plan.yaml"
    path.write_text(
        "name: a/b\ndescription: 3\noutcome: got_cheese\nfeatures: [euc_dist_cheese_top_right]\n"
        "standardize: 1\nseed: -1\nmax_vif: 1\nmodels: [logit]\nseeds: 2\n"
    )
    with pytest.raises(SpecError) as info:
        load_plan(path)
    assert [line.split(": ", 1)[1] for line in str(info.value).splitlines()] == [
        "seeds: unknown key (did you mean 'seed'?); allowed: kind, name, description, filter, outcome, "
        "features, standardize, seed, max_vif, models",
        f"name: must be {NAME_HELP}; got 'a/b'",
        "description: must be text; got int 3",
        "standardize: must be true or false; got int 1",
        "seed: must be >= 0; got -1",
        "max_vif: must be a number above 1 (a VIF is at least 1); got 1",
    ]


# --- the model kinds: each declares its settings, plan validation follows ---------------------------


def _outside(setting: Setting) -> tuple[object, str]:
    """A value of the right type that the setting refuses, and the start of the message."""
    if setting.choices:
        return "not-a-choice", f"must be one of {', '.join(setting.choices)}; got 'not-a-choice'"
    if setting.type is int:
        return int(setting.low) - 1, f"must be >= {int(setting.low)}; got {int(setting.low) - 1}"
    return setting.low, f"must be {setting.bounds}; got {setting.low}"


def _inside(setting: Setting) -> object:
    """A value the setting accepts, other than its default."""
    if setting.choices:
        return next(c for c in reversed(setting.choices) if c != setting.default)
    if setting.type is int:
        return setting.default + 1
    return (setting.low + setting.high) / 2 if setting.high is not None else setting.default + 1


@pytest.mark.parametrize(
    ("kind", "key"), [(kind, key) for kind, spec in KIND_REGISTRY.items() for key in spec.settings]
)
def test_each_setting_of_each_kind_is_defaulted_and_checked(kind, key):
    setting = KIND_REGISTRY[kind].settings[key]
    features = [TOP_RIGHT, STEPS_DSQ]
    spec = make_plan("p", "got_cheese", features, [kind]).models[0]
    assert getattr(spec, key) == spec.settings[key] == setting.default
    assert isinstance(setting.default, setting.type)
    value = _inside(setting)
    given = make_plan("p", "got_cheese", features, [{"kind": kind, key: value}]).models[0]
    assert getattr(given, key) == value
    bad, message = _outside(setting)
    with pytest.raises(SpecError, match=re.escape(f"<plan>:1:1: models[0].{key}: {message}")):
        make_plan("p", "got_cheese", features, [{"kind": kind, key: bad}])
    with pytest.raises(SpecError, match=re.escape(f"models[0].{key}: must be ")):
        make_plan("p", "got_cheese", features, [{"kind": kind, key: [1]}])


@pytest.mark.parametrize("kind", sorted(KIND_REGISTRY))
def test_an_unknown_key_names_the_settings_of_its_kind(kind):
    allowed = ", ".join(["kind", "name", *KIND_REGISTRY[kind].settings])
    message = f"models[0].zzz: unknown key for a {kind} model; allowed: {allowed}"
    with pytest.raises(SpecError, match=re.escape(message)):
        make_plan("p", "got_cheese", [TOP_RIGHT, STEPS_DSQ], [{"kind": kind, "zzz": 1}])


def test_single_and_drop_one_default_to_the_plans_l1_logit_settings():
    cv = ("C", "splits", "test_size")
    plan = make_plan(
        "p",
        "got_cheese",
        [TOP_RIGHT, STEPS_DSQ],
        ["single", {"kind": "l1-logit", "C": 2, "splits": 7}, {"kind": "drop-one", "splits": 9}],
    )
    assert [getattr(plan.model("single"), k) for k in cv] == [2.0, 7, DEFAULT_TEST_SIZE]
    assert [getattr(plan.model("drop-one"), k) for k in cv] == [2.0, 9, DEFAULT_TEST_SIZE]
    alone = make_plan("p", "got_cheese", [TOP_RIGHT, STEPS_DSQ], ["single"]).model("single")
    assert [getattr(alone, k) for k in cv] == [DEFAULT_C, DEFAULT_SPLITS, DEFAULT_TEST_SIZE]


def test_plan_hashes_are_what_they_were_before_the_kinds_registry():
    every = ["logit", "l1-logit", "single", "drop-one", "sign-stability", "vif", "rate"]
    plan = make_plan("p", "got_cheese", [TOP_RIGHT, STEPS_DSQ], every)
    assert plan.hash == "acf473067caa2e64df00757cb4e59a90503051907f3e6408de5936101d0dfde3"
    # each entry keeps the six settings ModelSpec had as fields, null where its kind has no such setting
    assert plan.to_dict()["models"][5] == {
        "kind": "vif",
        "name": "",
        **dict.fromkeys(("alpha", "cov_type", "C", "splits", "test_size", "subsets")),
    }
    assert plan.model("vif").alpha is None and plan.model("rate").alpha == 0.05


# --- the shipped plan, the output contract, inputs ------------------------------------------------


def test_shipped_plan_is_the_published_analysis():
    plan = load_plan("analysis/behavioral.yaml")
    assert plan.features == PUBLISHED_FEATURES and plan.outcome == "got_cheese" and plan.standardize
    assert {(f.column, f.value) for f in plan.filter} == {
        ("has_decision_square", True),
        ("cheese_in_top_right_5x5", False),
    }
    assert [m.kind for m in plan.models] == [
        "logit",
        "l1-logit",
        "single",
        "drop-one",
        "sign-stability",
        "vif",
    ]
    l1 = plan.model("l1-logit")
    assert (l1.C, l1.splits, l1.test_size) == (1.0, 100, 0.2) and plan.model("sign-stability").subsets == 200
    assert plan.model("drop-one").splits == 100 and plan.seed == 0


@pytest.fixture(scope="module")
def shipped_result(mazes):
    plan = load_plan("analysis/behavioral.yaml")
    quick = tuple(
        dataclasses.replace(m, splits=5)
        if m.splits
        else dataclasses.replace(m, subsets=5)
        if m.subsets
        else m
        for m in plan.models
    )
    plan = dataclasses.replace(plan, models=quick)
    y = simulate(mazes, 0.9, {TOP_RIGHT: -2.6, STEPS_DSQ: -0.8, EUC_DSQ: -0.5}, seed=21)
    return with_outcome(mazes, y), plan, fit_plan(with_outcome(mazes, y), plan)


def test_result_json_has_the_contracted_shape(shipped_result):
    _, _, result = shipped_result
    doc = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert doc["plan"] == "behavioral" and doc["n"] == 3000 and doc["outcome"] == "got_cheese"
    models = doc["models"]
    assert set(models["logit"]["intercept"]) >= {"coef", "se", "ci_low", "ci_high", "p"}
    for name in PUBLISHED_FEATURES:
        assert set(models["logit"]["features"][name]) >= {
            "coef",
            "se",
            "ci_low",
            "ci_high",
            "p",
            "odds_ratio",
        }
        assert "coef_mean" in models["l1-logit"]["features"][name]
        assert "flip_rate" in models["sign-stability"]["features"][name]
        assert "vif" in models["vif"]["features"][name]
        assert {"accuracy_mean", "auc_mean"} <= set(models["single"]["features"][name])
        assert "accuracy_loss_mean" in models["drop-one"]["features"][name]
    assert {"accuracy_mean", "accuracy_sd", "auc_mean", "baseline_accuracy"} <= set(models["l1-logit"])
    assert {"pseudo_r2", "aic", "bic", "n", "cov_type"} <= set(models["logit"])
    assert isinstance(doc["warnings"], list) and all(isinstance(m["warnings"], list) for m in models.values())
    assert len(doc["plan_hash"]) == 64
    strongest = models["l1-logit"]["features"][TOP_RIGHT]["coef_mean"]
    assert strongest == min(f["coef_mean"] for f in models["l1-logit"]["features"].values())


def test_outputs_are_written_as_tidy_tables_json_and_text(shipped_result, tmp_path):
    _, _, result = shipped_result
    paths = write_outputs(result, tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == [
        "correlation.csv",
        "correlation.parquet",
        "result.json",
        "stats.csv",
        "stats.parquet",
        "summary.txt",
    ]
    tidy = pq.read_table(tmp_path / "out" / "stats.parquet").to_pandas()
    assert list(tidy.columns) == ["plan", "model", "kind", "term", "statistic", "value"]
    row = tidy[(tidy.model == "logit") & (tidy.term == TOP_RIGHT) & (tidy.statistic == "coef")]
    assert row["value"].iloc[0] == pytest.approx(result.models["logit"].table.loc[TOP_RIGHT, "coef"])
    assert len(pd.read_csv(tmp_path / "out" / "stats.csv")) == len(tidy)
    assert json.loads((tmp_path / "out" / "result.json").read_text())["plan"] == "behavioral"
    text = (tmp_path / "out" / "summary.txt").read_text()
    assert all(name in text for name in PUBLISHED_FEATURES) and "McFadden" in text
    assert not list((tmp_path / "out").glob(".*tmp*"))  # atomic writes leave no temporaries
    assert [p.name for p in write_outputs(result, tmp_path / "csv", "csv")] == [
        "stats.csv",
        "correlation.csv",
    ]


def test_a_parquet_table_gives_the_same_result_as_the_frame(shipped_result, tmp_path):
    frame, plan, result = shipped_result
    path = write_mazes(frame, tmp_path / "table.parquet")
    loaded = load_input(path)
    assert loaded.attrs["mazeprobe_input"]["kind"] == "table" and "grid" not in loaded.columns
    again = fit_plan(loaded, plan)
    assert again.input["path"] == str(path.resolve())
    strip = {"seconds"}

    def models(r):
        return {k: {s: v for s, v in m.items() if s not in strip} for k, m in r.to_json()["models"].items()}

    assert models(again) == models(result)


def test_a_run_directory_is_read_with_its_provenance_and_the_shard_coefficient_recovered(tmp_path):
    spec = tmp_path / "shard.yaml"
    spec.write_text(
        "name: shard-stats\npolicy:\n  builtin: shard\n"
        "  params: {b0: 1.0, coefficients: {euc_dist_cheese_top_right: -2.5}}\n"
        "mazes: {n: 200, seed: 3, require_decision_square: true, exclude_cheese_top_right: 5}\n"
        "rollouts: {per_maze: 2, max_steps: 256, actions: sample, seed: 0}\n"
        "record: {decision_square_probs: true}\n"
    )
    run_dir = run_experiment(load_spec(spec), tmp_path / "runs")
    data = load_input(run_dir)
    assert data.attrs["mazeprobe_input"]["kind"] == "run" and len(data) == 400
    episodes = fit_plan(data, make_plan("b", "got_cheese", [TOP_RIGHT], ["logit"]))
    logit = episodes.models["logit"]
    assert logit.stats["cov_type"] == "cluster" and logit.stats["n_clusters"] == 200
    assert logit.table.loc[TOP_RIGHT, "ci_low"] < -2.5 < logit.table.loc[TOP_RIGHT, "ci_high"]
    assert episodes.input["spec_hash"] == load_spec(spec).hash
    # the shard agent's probability at the decision square IS logistic(1 - 2.5 z) on the same z-scores
    probs = fit_plan(data, make_plan("p", "p_cheese_at_dsq", [TOP_RIGHT], ["logit"]))
    assert probs.n == 200 and probs.counts["deduplicated"] == 200
    assert probs.models["logit"].table.loc[TOP_RIGHT, "coef"] == pytest.approx(-2.5, abs=1e-6)
    assert probs.models["logit"].intercept["coef"] == pytest.approx(1.0, abs=1e-6)


def test_fits_are_repeatable(shipped_result):
    frame, plan, result = shipped_result
    again = fit_plan(frame, plan)
    for key, m in result.models.items():
        pd.testing.assert_frame_equal(m.table, again.models[key].table)


def test_noisy_cheese_distance_predicts_success_but_not_the_one_step_measure(tmp_path):
    """Longer chains of stochastic moves: with per-step noise the decision-square-to-cheese step
    distance predicts got_cheese, yet the one-step measure p_cheese_at_dsq does not depend on it once
    the Euclidean distance is controlled for."""
    spec_file = tmp_path / "noisy.yaml"
    spec_file.write_text(
        "name: noisy\npolicy: {builtin: noisy-cheese, params: {p: 0.6}}\n"
        "mazes: {n: 2000, seed: 8, require_decision_square: true, exclude_cheese_top_right: 5}\n"
        "rollouts: {per_maze: 1, max_steps: 120, seed: 1, chunk_mazes: 1000}\n"
        "record: {decision_square_probs: true}\n"
    )
    data = load_input(run_experiment(load_spec(spec_file), tmp_path / "runs"))
    features = ["steps_between_cheese_decision_square", "euc_dist_cheese_decision_square"]
    behaviour = fit_plan(data, make_plan("b", "got_cheese", features, [{"kind": "logit"}])).to_json()
    steps = behaviour["models"]["logit"]["features"]["steps_between_cheese_decision_square"]
    assert steps["coef"] < 0 and steps["p"] < 0.001
    one_step = fit_plan(data, make_plan("p", "p_cheese_at_dsq", features, [{"kind": "logit"}])).to_json()
    steps = one_step["models"]["logit"]["features"]["steps_between_cheese_decision_square"]
    assert steps["p"] > 0.05 and abs(steps["coef"]) < 1e-6
    # the agent's one-step probability is the same everywhere: the fit says so rather than staying silent
    assert any("is constant" in w for w in one_step["models"]["logit"]["warnings"])


def test_the_statistics_layer_takes_tables_not_paths(shipped_result, tmp_path):
    """Reading a run directory or a table file is the experiments layer's (experiments/inputs.py): the
    fits take frames, and a path is refused naming the reader to use."""
    import inspect

    import mazeprobe.stats.data
    import mazeprobe.stats.probes.run
    from mazeprobe.errors import UsageError
    from mazeprobe.experiments import inputs
    from mazeprobe.stats import run_analysis
    from mazeprobe.stats.probes import probe_run

    frame, plan, result = shipped_result
    path = write_mazes(frame, tmp_path / "table.parquet")
    assert load_input is inputs.load_input  # the public name, from its owner
    for call in (lambda: fit_plan(path, plan), lambda: fit_plan(str(path), plan)):
        with pytest.raises(UsageError, match="data must be a table .*experiments.inputs.load_input"):
            call()
    with pytest.raises(UsageError, match="inputs must be ProbeInputs .*probe_inputs"):
        probe_run(tmp_path, probes=["cheese-coords"])
    # run_analysis fits the frame it is given (no input path any more)
    assert "data" in inspect.signature(run_analysis).parameters
    assert "input_path" not in inspect.signature(run_analysis).parameters
    # nothing in the statistics modules that moved reads a run directory or builds a network
    for module in (mazeprobe.stats.data, mazeprobe.stats.probes.run):
        source = inspect.getsource(module)
        for name in ("RunDir", "load_activations", "random_weight_activations", "read_table", "mazes()"):
            assert name not in source, (module.__name__, name)
