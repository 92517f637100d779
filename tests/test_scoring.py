"""Scoring and CORP calibration against values worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mazeprobe.errors import UsageError
from mazeprobe.registry.scoring.calibration import (
    bootstrap_mean_ci,
    pav,
    pool_ties,
    recalibrate,
    reliability,
)
from mazeprobe.registry.scoring.metrics import CORP, METRICS, Metric, decompose
from mazeprobe.registry.scoring.scores import (
    item_score_table,
    permutation_p_value,
    relative_skill,
    score_table,
    scores_text,
)

LN = math.log


def make_table(forecasts: dict[str, list[tuple[str, float | None, float | None]]]) -> pd.DataFrame:
    """forecaster -> [(question, probability or None for a claim, y or None)] as the tidy table."""
    rows = []
    for name, items in forecasts.items():
        for qid, p, y in items:
            outcome = None if y is None else ("yes" if y == 1.0 else "no")
            rows.append(
                {
                    "forecaster": name,
                    "question": qid,
                    "probability": np.nan if p is None else p,
                    "claim": "yes" if p is None else None,
                    "outcome": outcome,
                    "y": np.nan if y is None else y,
                    "late": False,
                    "evidence": "",
                    "method": "manual",
                    "group": None,
                    "text": f"text of {qid}",
                }
            )
    return pd.DataFrame(rows)


# --- PAV ----------------------------------------------------------------------------------------


def test_pav_pools_adjacent_violators():
    # 3 > 1 violates: pool to 2, then 2 > ... the block (3,1) has mean 2 and 2 == 2: no further pooling
    assert pav([3.0, 1.0, 2.0]).tolist() == [2.0, 2.0, 2.0]
    # only the middle pair violates: (3 + 2) / 2 = 2.5
    assert pav([1.0, 3.0, 2.0, 4.0]).tolist() == [1.0, 2.5, 2.5, 4.0]
    # weights: (1*3 + 0*1) / 4 = 0.75
    assert pav([1.0, 0.0], [3.0, 1.0]).tolist() == [0.75, 0.75]
    # already monotone: unchanged
    assert pav([0.1, 0.2, 0.2, 0.9]).tolist() == [0.1, 0.2, 0.2, 0.9]


def test_pav_matches_sklearn_isotonic_on_distinct_forecasts():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(3)
    p = rng.permutation(np.linspace(0.02, 0.98, 40))  # distinct values, so no tie handling differs
    y = (rng.random(40) < p).astype(float)
    ours = recalibrate(p, y)
    theirs = IsotonicRegression(y_min=0.0, y_max=1.0).fit(p, y).predict(p)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_tied_forecasts_get_one_recalibrated_value():
    # p = 0.5 four times with y = 1,0,1,1 sits between 0.4 (y=1) and 0.6 (y=0): whatever the pooling, all
    # four tied forecasts must share one fitted value
    p = np.array([0.4, 0.5, 0.5, 0.5, 0.5, 0.6])
    y = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    p_hat = recalibrate(p, y)
    assert len(set(p_hat[1:5].tolist())) == 1
    # by hand: distinct-value means 1, 3/4, 0 (counts 1, 4, 1) decrease throughout, so all pool to 4/6
    np.testing.assert_allclose(p_hat, 4 / 6)
    pooled = pool_ties(p, y)
    assert pooled.x.tolist() == [0.4, 0.5, 0.6]
    assert pooled.counts.tolist() == [1, 4, 1]
    assert pooled.positives.tolist() == [1.0, 3.0, 0.0]


# --- decompositions by hand ---------------------------------------------------------------------


def test_heavily_tied_forecasts_pool_to_the_base_rate():
    p = [0.7, 0.7, 0.7, 0.7, 0.3, 0.3]
    y = [1, 1, 0, 0, 1, 1]
    # Tied values pooled first: at 0.3 the frequency is 2/2 = 1, at 0.7 it is 2/4 = 0.5. 1 > 0.5 breaks
    # monotonicity, so PAV pools both: (2 + 2) / 6 = 2/3 for every forecast, which is also the base rate
    # r = 4/6. Hence DSC = 0 and MCB = S(p) - UNC.
    np.testing.assert_allclose(recalibrate(p, y), 2 / 3)
    # Brier: 0.7 & y=1: 0.09 (x2); 0.7 & y=0: 0.49 (x2); 0.3 & y=1: 0.49 (x2) -> 2.14 / 6 = 0.356667
    # UNC = r (1 - r) = 2/3 * 1/3 = 2/9 = 0.222222; MCB = 2.14/6 - 2/9 = 0.134444
    b = decompose(p, y, "brier")
    assert b.score == pytest.approx(2.14 / 6)
    assert b.unc == pytest.approx(2 / 9)
    assert b.dsc == pytest.approx(0.0, abs=1e-15)
    assert b.mcb == pytest.approx(2.14 / 6 - 2 / 9)
    assert b.mcb == pytest.approx(0.134444, abs=1e-6)
    # log: -ln 0.7 = 0.356675 (x2), -ln 0.3 = 1.203973 (x4) -> (2*0.356675 + 4*1.203973) / 6 = 0.921540
    # UNC = -(2/3 ln 2/3 + 1/3 ln 1/3) = 0.636514; MCB = 0.285026
    lg = decompose(p, y, "log")
    assert lg.score == pytest.approx((-2 * LN(0.7) - 4 * LN(0.3)) / 6)
    assert lg.score == pytest.approx(0.921540, abs=1e-6)
    assert lg.unc == pytest.approx(-(2 / 3 * LN(2 / 3) + 1 / 3 * LN(1 / 3)))
    assert lg.unc == pytest.approx(0.636514, abs=1e-6)
    assert lg.dsc == pytest.approx(0.0, abs=1e-15)
    assert lg.mcb == pytest.approx(0.285026, abs=1e-6)


def test_partial_pooling_by_hand():
    p = [0.1, 0.1, 0.4, 0.4, 0.4, 0.8, 0.8, 0.8]
    y = [0, 1, 0, 0, 0, 1, 1, 0]
    # frequencies: 0.1 -> 1/2, 0.4 -> 0/3, 0.8 -> 2/3. 1/2 > 0 violates: pool the first five forecasts to
    # 1/5 = 0.2; 0.2 <= 2/3, done. p_hat = [0.2]*5 + [2/3]*3; r = 3/8.
    np.testing.assert_allclose(recalibrate(p, y), [0.2] * 5 + [2 / 3] * 3)
    # Brier S(p): 0.01 + 0.81 + 3*0.16 + 2*0.04 + 0.64 = 2.02 -> 0.2525
    # S(p_hat): block 1 has 1 yes, 4 no at 0.2: 0.64 + 4*0.04 = 0.8; block 2 has 2 yes, 1 no at 2/3:
    #   2/9 + 4/9 = 2/3; total (0.8 + 2/3) / 8 = 11/60 = 0.183333
    # UNC = 3/8 * 5/8 = 15/64 = 0.234375; MCB = 0.2525 - 11/60 = 0.069167; DSC = 15/64 - 11/60 = 0.051042
    b = decompose(p, y, "brier")
    assert b.score == pytest.approx(0.2525)
    assert b.mcb == pytest.approx(0.2525 - 11 / 60)
    assert b.dsc == pytest.approx(15 / 64 - 11 / 60)
    assert b.unc == pytest.approx(15 / 64)
    # log S(p_hat) in closed form: each block scores its own entropy, weighted by size
    h = lambda q: -(q * LN(q) + (1 - q) * LN(1 - q))  # noqa: E731
    s_p = (-LN(0.9) - LN(0.1) - 3 * LN(0.6) - 2 * LN(0.8) - LN(0.2)) / 8
    s_hat = (5 * h(0.2) + 3 * h(2 / 3)) / 8
    lg = decompose(p, y, "log")
    assert lg.score == pytest.approx(s_p)
    assert lg.mcb == pytest.approx(s_p - s_hat)
    assert lg.dsc == pytest.approx(h(3 / 8) - s_hat)
    assert lg.unc == pytest.approx(h(3 / 8))


def test_log_score_with_recalibrated_zero_and_one():
    # p = 0.2, 0.2 (y = 0, 0) and 0.5, 0.5 (y = 1, 1): PAV gives p_hat = 0, 0, 1, 1, which is certain and
    # right, so S(p_hat) = 0 (0 ln 0 = 0), not infinite. Then MCB = S(p) and DSC = UNC = ln 2.
    p, y = [0.2, 0.2, 0.5, 0.5], [0, 0, 1, 1]
    assert recalibrate(p, y).tolist() == [0.0, 0.0, 1.0, 1.0]
    lg = decompose(p, y, "log")
    assert lg.score == pytest.approx((-2 * LN(0.8) - 2 * LN(0.5)) / 4)
    assert lg.mcb == pytest.approx(lg.score)
    assert lg.dsc == pytest.approx(LN(2))
    assert lg.unc == pytest.approx(LN(2))


def test_calibrated_forecasts_have_zero_miscalibration():
    # at 0.2: 1 yes in 5; at 0.6: 3 yes in 5. Frequencies equal the forecasts and increase, so p_hat = p.
    p = [0.2] * 5 + [0.6] * 5
    y = [1, 0, 0, 0, 0] + [1, 1, 1, 0, 0]
    for score in ("brier", "log"):
        d = decompose(p, y, score)
        assert d.mcb == pytest.approx(0.0, abs=1e-15)
        assert d.dsc > 0
    # with outcomes drawn from the forecasts, MCB shrinks towards 0 as the sample grows
    rng = np.random.default_rng(0)
    p = rng.choice([0.1, 0.3, 0.5, 0.7, 0.9], size=20000)
    y = (rng.random(20000) < p).astype(float)
    assert decompose(p, y, "brier").mcb < 5e-4
    # ...while an overconfident one is not: saying 0.99 where the truth is 0.7 or 0.9 (pooled: 0.8) and 0.01
    # where it is 0.1 or 0.3 (0.2), on 4/5 of the items: MCB ~ 4/5 * (0.99 - 0.8)^2 = 0.0289
    overconfident = np.where(p > 0.5, 0.99, np.where(p < 0.5, 0.01, 0.5))
    assert decompose(overconfident, y, "brier").mcb == pytest.approx(0.0289, abs=0.003)


@given(
    st.lists(
        st.tuples(st.sampled_from([0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95]), st.sampled_from([0.0, 1.0])),
        min_size=1,
        max_size=40,
    )
)
def test_decomposition_identity_on_random_data(items):
    p = np.array([a for a, _ in items])
    y = np.array([b for _, b in items])
    for score in ("brier", "log"):
        d = decompose(p, y, score)
        assert d.score == pytest.approx(d.mcb - d.dsc + d.unc, abs=1e-12)
        assert d.mcb >= -1e-12  # PAV is the score-optimal monotone recalibration
        assert d.dsc >= -1e-12


def test_refuses_bad_inputs():
    with pytest.raises(UsageError, match="0 or 1"):
        decompose([0.5, 0.5], [1, 2])
    with pytest.raises(UsageError, match="unknown score"):
        decompose([0.5], [1], "spherical")


# --- reliability band and bootstrap -------------------------------------------------------------


def test_consistency_band_is_the_binomial_range():
    # one value 0.5 forecast 4 times: calibrated outcomes give k ~ Binomial(4, 1/2), CEP = k/4.
    # P(k = 0) = P(k = 4) = 1/16 = 6.25% > 5%, so the 5% and 95% quantiles are 0 and 1.
    rel = reliability([0.5] * 4, [1, 0, 1, 1], n_resamples=4000, rng=np.random.default_rng(1))
    assert rel.x.tolist() == [0.5]
    assert rel.cep.tolist() == [0.75]
    assert rel.band_low.tolist() == [0.0]
    assert rel.band_high.tolist() == [1.0]
    # with 40 forecasts the band is much narrower and still contains 0.5
    rel = reliability([0.5] * 40, [1] * 20 + [0] * 20, n_resamples=2000, rng=np.random.default_rng(1))
    assert 0.3 < rel.band_low[0] < 0.5 < rel.band_high[0] < 0.7


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    v = np.array([0.01, 0.09, 0.25, 0.49, 0.64, 0.04])
    a = bootstrap_mean_ci(v, n_boot=500, rng=np.random.default_rng(7))
    b = bootstrap_mean_ci(v, n_boot=500, rng=np.random.default_rng(7))
    assert a == b
    assert v.min() <= a[0] < v.mean() < a[1] <= v.max()
    # one question: every resample is that question
    assert bootstrap_mean_ci([0.3], n_boot=10, rng=np.random.default_rng(0)) == (0.3, 0.3)


# --- pairwise skill ------------------------------------------------------------------------------


def test_relative_skill_by_hand_and_symmetric():
    # one question, y = 1: Brier 0.01 (p = 0.9) vs 0.09 (p = 0.7): ratio 1/9
    assert relative_skill([0.01], [0.09]) == pytest.approx(1 / 9)
    # ratios 0.25 and 4 have geometric mean 1 (a ratio of mean scores would also be 1 here: equal sums)
    assert relative_skill([0.04, 0.16], [0.16, 0.04]) == pytest.approx(1.0)
    # geometric mean of ratios 1/9 and 1: 1/3 (the ratio of means would be 0.1 / 0.18 = 0.556)
    assert relative_skill([0.01, 0.09], [0.09, 0.09]) == pytest.approx(1 / 3)
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.01, 1, 12), rng.uniform(0.01, 1, 12)
    assert relative_skill(a, b) == pytest.approx(1 / relative_skill(b, a))


def test_permutation_p_value_exact_and_identical():
    # identical forecasters: every log ratio is 0, every permutation ties: p = 1
    s = [0.04, 0.09, 0.36]
    assert permutation_p_value(s, s, n_perm=2000, rng=np.random.default_rng(0)) == 1.0
    # three common questions where a always wins by the same factor: of the 2^3 = 8 swap patterns only
    # all-kept and all-swapped reach |mean log ratio| = ln 9, so the exact p = 2/8
    p = permutation_p_value([0.01] * 3, [0.09] * 3, n_perm=2000, rng=np.random.default_rng(0))
    assert p == pytest.approx(0.25)
    # 15 questions (2^15 > n_perm: Monte Carlo): exact p = 2/2^15; estimate (1 + hits)/(1 + n_perm) is tiny
    p = permutation_p_value([0.01] * 15, [0.09] * 15, n_perm=999, rng=np.random.default_rng(0))
    assert p < 0.01


# --- score_table ---------------------------------------------------------------------------------


def tied_table() -> pd.DataFrame:
    alice = [
        (f"q{i}", p, y)
        for i, (p, y) in enumerate(zip([0.7] * 4 + [0.3] * 2, [1, 1, 0, 0, 1, 1], strict=True))
    ]
    alice += [("claim-right", None, 1.0), ("claim-open", None, None), ("open", 0.6, None)]
    bob = [(f"q{i}", 0.5, y) for i, y in enumerate([1, 1, 0, 0, 1, 1])]
    return make_table({"alice": alice, "bob": bob})


def test_score_table_values_and_shape():
    scores = score_table(tied_table(), n_boot=200, n_perm=500, seed=3)
    json.dumps(scores, allow_nan=False)  # plain JSON, no NaN
    a = scores["forecasters"]["alice"]
    assert a["n_resolved"] == 6  # the unresolved forecast and the claims are not scored
    assert a["brier"] == pytest.approx(2.14 / 6)
    assert a["log_score"] == pytest.approx((-2 * LN(0.7) - 4 * LN(0.3)) / 6)
    assert a["brier_mcb"] == pytest.approx(2.14 / 6 - 2 / 9)
    assert a["brier_dsc"] == pytest.approx(0.0, abs=1e-15)
    assert a["brier_unc"] == pytest.approx(2 / 9)
    assert a["brier_skill"] == pytest.approx(1 - (2.14 / 6) / 0.25)
    assert a["baseline_brier"] == 0.25 and a["baseline_log"] == pytest.approx(LN(2))
    assert a["anecdotal"] is True
    assert a["brier_ci"][0] <= a["brier"] <= a["brier_ci"][1]
    assert set(a["questions"]) == {f"q{i}" for i in range(6)}
    assert a["questions"]["q2"] == {
        "probability": 0.7,
        "outcome": "no",
        "y": 0.0,
        "brier": pytest.approx(0.49),
        "log": pytest.approx(-LN(0.3)),
        "late": False,
        "rule_late": False,
        "network": None,
        "network_sha256": None,
        "on_subject": None,  # a table without networks: no subject, no network
    }
    assert a["late"] is False and scores["late"] == {} and scores["networks"] == []
    assert (a["n_claims"], a["n_claims_resolved"], a["claims_correct"]) == (2, 1, 1)
    assert a["claims"]["claim-right"]["correct"] is True
    assert a["reliability"]["x"] == [0.3, 0.7]
    assert a["reliability"]["cep"] == pytest.approx([2 / 3, 2 / 3])
    for value in (a["brier"], a["n_resolved"], a["brier_ci"][0], a["reliability"]["counts"][0]):
        assert type(value) in (float, int)  # not numpy scalars
    b = scores["forecasters"]["bob"]
    assert b["brier"] == 0.25 and b["log_score"] == pytest.approx(LN(2)) and b["brier_skill"] == 0.0
    # pairwise on the 6 common questions: per-question Brier ratios alice/bob are 0.09/0.25 (x2) and
    # 0.49/0.25 (x4); geometric mean = exp((2 ln 0.36 + 4 ln 1.96) / 6)
    (pair,) = scores["pairwise"]
    assert (pair["a"], pair["b"], pair["n_common"]) == ("alice", "bob", 6)
    assert pair["relative_brier"] == pytest.approx(math.exp((2 * LN(0.36) + 4 * LN(1.96)) / 6))
    assert 0 < pair["p_value"] <= 1
    assert scores["n_questions"] == 9 and scores["n_resolved_questions"] == 7 and scores["seed"] == 3


def test_score_table_is_seeded_and_order_free():
    t = tied_table()
    a = score_table(t, n_boot=100, n_perm=100, seed=5)
    b = score_table(t.iloc[::-1].reset_index(drop=True), n_boot=100, n_perm=100, seed=5)
    assert a == b
    c = score_table(t, n_boot=100, n_perm=100, seed=6)
    assert c["forecasters"]["alice"]["brier_ci"] != a["forecasters"]["alice"]["brier_ci"]


def test_pairwise_swapping_names_inverts_the_ratio():
    rng = np.random.default_rng(4)
    ys = (rng.random(14) < 0.5).astype(float)
    pa, pb = rng.uniform(0.05, 0.95, 14).round(2), rng.uniform(0.05, 0.95, 14).round(2)
    qs = [str(i) for i in range(14)]
    fa, fb = list(zip(qs, pa, ys, strict=True)), list(zip(qs, pb, ys, strict=True))
    one = make_table({"a": fa, "b": fb})
    two = make_table({"b": fa, "a": fb})  # the same forecasts under swapped names
    e1 = score_table(one, n_boot=10, n_perm=400)["pairwise"][0]
    e2 = score_table(two, n_boot=10, n_perm=400)["pairwise"][0]
    assert e1["relative_brier"] == pytest.approx(1 / e2["relative_brier"])
    assert e1["relative_log"] == pytest.approx(1 / e2["relative_log"])
    assert e1["anecdotal"] is False


def test_identical_forecasters_p_value_one():
    items = [
        (f"q{i}", p, y) for i, (p, y) in enumerate(zip([0.2, 0.4, 0.6, 0.8] * 4, [0, 1] * 8, strict=True))
    ]
    scores = score_table(make_table({"a": items, "b": items}), n_boot=10, n_perm=300)
    (pair,) = scores["pairwise"]
    assert pair["relative_brier"] == pytest.approx(1.0)
    assert pair["p_value"] == 1.0 and pair["p_value_log"] == 1.0
    assert scores["forecasters"]["a"]["anecdotal"] is False  # 16 resolved


def test_claims_only_forecaster_and_errors():
    t = make_table({"c": [("x", None, 0.0)]})
    f = score_table(t, n_boot=10, n_perm=10)["forecasters"]["c"]
    assert f["n_resolved"] == 0 and f["brier"] is None and f["reliability"] is None
    assert f["claims"]["x"]["correct"] is False  # claimed yes, resolved no
    bad = make_table({"a": [("x", 1.0, 1.0)]})
    with pytest.raises(UsageError, match="infinite log loss"):
        score_table(bad)
    dup = make_table({"a": [("x", 0.5, 1.0), ("x", 0.6, 1.0)]})
    with pytest.raises(UsageError, match="more than one row"):
        score_table(dup)
    with pytest.raises(UsageError, match="lacks column"):
        score_table(t.drop(columns=["y"]))


def test_scores_text_lists_forecasters_and_labels():
    text = scores_text(score_table(tied_table(), n_boot=50, n_perm=50))
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["forecaster", "n", "Brier", "95%"]
    assert any(line.startswith("alice*") and " 6 " in line and "0.357" in line for line in lines)
    assert "* anecdotal: fewer than 10 resolved forecasts" in text
    assert "1/1" in text  # alice's claims: 1 correct of 1 resolved


def test_the_metrics_declare_their_orientation_and_decomposition():
    assert list(METRICS) == ["brier", "log"]  # the first ranks the leaderboard
    assert all(m.orientation == "lower" and m.decomposition == CORP for m in METRICS.values())
    assert METRICS["brier"].baseline == 0.25 and METRICS["log"].baseline == pytest.approx(LN(2))
    with pytest.raises(ValueError, match="CORP decomposes"):
        Metric("x", METRICS["brier"].item, "higher", 1.0, "x", "x", decomposition=CORP)
    with pytest.raises(ValueError, match="orientation"):
        Metric("x", METRICS["brier"].item, "smaller", 1.0, "x", "x")


def _spherical(p, y) -> np.ndarray:
    """The spherical score P(outcome) / |(p, 1 - p)|: proper, and higher is better."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    return np.where(y == 1.0, p, 1.0 - p) / np.sqrt(p**2 + (1.0 - p) ** 2)


def test_a_registered_metric_is_scored_in_the_tidy_table_and_the_leaderboard(monkeypatch):
    from mazeprobe.registry import Leaderboard

    before = score_table(tied_table(), n_boot=50, n_perm=50)
    spherical = Metric("spherical", _spherical, "higher", math.sqrt(0.5), "sph", "mean P(outcome) / |p|")
    monkeypatch.setitem(METRICS, "spherical", spherical)
    items = item_score_table(tied_table())
    assert list(items["metric"].unique()) == ["brier", "log", "spherical"]
    mine = items[(items["metric"] == "spherical") & (items["forecaster"] == "alice")]
    assert len(mine) == 6 and set(mine["orientation"]) == {"higher"}  # claims and open forecasts: no rows
    norm = math.sqrt(0.7**2 + 0.3**2)  # alice says 0.7 or 0.3, so |p| is the same for every forecast
    assert mine.set_index("question").loc["q2", "score"] == pytest.approx(0.3 / norm)

    scores = score_table(tied_table(), n_boot=50, n_perm=50)
    a, b = scores["forecasters"]["alice"], scores["forecasters"]["bob"]
    # alice: P(outcome) is 0.7 on q0, q1 and 0.3 on q2..q5; bob's 50% scores the baseline
    assert a["spherical"] == pytest.approx((2 * 0.7 + 4 * 0.3) / 6 / norm)
    assert a["spherical_skill"] == pytest.approx(a["spherical"] / math.sqrt(0.5) - 1)
    assert b["spherical"] == pytest.approx(math.sqrt(0.5)) and b["spherical_skill"] == pytest.approx(0.0)
    assert a["questions"]["q2"]["spherical"] == pytest.approx(0.3 / norm)
    assert "spherical_mcb" not in a  # it declares no decomposition
    (pair,) = scores["pairwise"]  # higher is better: the ratio is bob's over alice's, so < 1 means a better
    ratios = [math.sqrt(0.5) / (0.7 / norm)] * 2 + [math.sqrt(0.5) / (0.3 / norm)] * 4
    assert pair["relative_spherical"] == pytest.approx(math.exp(np.mean(np.log(ratios))))
    assert 0 < pair["p_value_spherical"] <= 1
    for key in ("brier", "brier_ci", "log_score", "log_ci", "brier_mcb", "reliability"):
        assert a[key] == before["forecasters"]["alice"][key]  # the other metrics' numbers are untouched

    board = Leaderboard(scores).table()
    row = board[(board["forecaster"] == "alice") & (board["metric"] == "spherical")].iloc[0]
    assert row["orientation"] == "higher" and row["score"] == pytest.approx(a["spherical"])
    assert row["ci_low"] <= row["score"] <= row["ci_high"]
    assert list(board["forecaster"].unique()) == ["bob", "alice"]  # best Brier first: bob's 0.25 < 0.357
    assert set(board.loc[board["metric"] == "brier", "orientation"]) == {"lower"}
    text = scores_text(scores)
    assert text.splitlines()[0].split()[:8] == ["forecaster", "n", "Brier", "95%", "CI", "log", "95%", "CI"]
    assert " sph 95% CI" in text.splitlines()[0] and "sph: mean P(outcome) / |p| (higher is better)" in text

    # the report's score tables read the records too: the metric's column, and its pairwise ratio
    from mazeprobe.registry.report import render_report

    md = render_report(tied_table(), scores, "md")
    header = next(line for line in md.splitlines() if line.startswith("| # | forecaster |"))
    assert "| log score | 95% CI | sph | 95% CI | MCB |" in header, header  # after the others, before MCB
    assert "relative sph a/b" in md
