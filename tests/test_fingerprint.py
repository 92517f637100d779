"""`mazeprobe fingerprint`: a fixed run of the real shipped network (procgen, torch) and the numbers read from
its tables, checked against a plain recomputation; the statistics on hand-built tables with known answers;
the saved file, its reader and the model card's table."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mazeprobe.agents.fingerprint import (
    MEASURES,
    PUBLISHED_FINGERPRINT,
    fingerprint_path,
    read_fingerprint,
)
from mazeprobe.cli import main
from mazeprobe.experiments.fingerprint import fingerprint_run, fingerprint_spec
from mazeprobe.experiments.spec import load_spec
from mazeprobe.provenance import file_sha256
from mazeprobe.stats.fingerprint import fingerprint

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "reference-r5.pth"
N = 40


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    """The CLI end to end on a copy of the shipped network: --format json --save on 40 mazes."""
    root = tmp_path_factory.mktemp("fingerprint")
    checkpoint = root / "net.pth"
    shutil.copy(MODEL, checkpoint)
    out = io.StringIO()
    argv = ["fingerprint", str(checkpoint), "--n", str(N), "--format", "json", "--save", "--quiet"]
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--out", str(root / "runs"), "--workers", "1", "--device", "cpu"])
    assert code == 0
    return {"doc": json.loads(out.getvalue()), "checkpoint": checkpoint, "root": root}


def test_the_cli_prints_the_fingerprint_as_json(measured):
    doc, checkpoint = measured["doc"], measured["checkpoint"]
    assert doc["sha256"] == file_sha256(checkpoint) and doc["scale"] == 1
    assert doc["n_mazes"] == N and doc["seed"] == 0
    assert Path(doc["run"]).parent == measured["root"] / "runs"
    assert Path(doc["run"]).name == f"{doc['sha256'][:12]}-n{N}-s0"
    assert list(doc["measures"]) == list(MEASURES)
    for name, m in doc["measures"].items():
        assert set(m) == {"value", "ci_low", "ci_high"}, name
        assert 0.0 <= m["ci_low"] <= m["value"] <= m["ci_high"] <= 1.0, (name, m)
    assert doc["published"] == PUBLISHED_FINGERPRINT
    assert doc["published"]["median_p_cheese_at_dsq"]["value"] == 0.81
    # the cheese vector takes P(cheese) at the decision square down on this network too
    m = doc["measures"]
    assert m["mean_p_cheese_at_dsq_cheese_vector"]["ci_high"] < m["mean_p_cheese_at_dsq"]["ci_low"]


def test_the_numbers_are_the_run_tables_recomputed_with_pandas(measured):
    doc = measured["doc"]
    run = Path(doc["run"])
    mazes = pd.read_parquet(run / "mazes.parquet")
    episodes = pd.read_parquet(run / "episodes.parquet")
    dsq = pd.read_parquet(run / "dsq_probs.parquet")
    edits = pd.read_parquet(run / "interventions.parquet")
    # the run is the published test set-up: decision-square mazes, cheese outside the top-right 5x5,
    # one sampled episode per maze of at most 256 steps
    assert len(mazes) == N and mazes["has_decision_square"].all()
    n = mazes["maze_size"]
    assert not ((mazes["cheese_row"] >= n - 5) & (mazes["cheese_col"] >= n - 5)).any()
    assert sorted(episodes["seed"]) == sorted(mazes["seed"]) and episodes["steps"].max() <= 256
    assert set(edits["intervention"]) == {"none", "cheese-vector"}
    # the run's two records of the unedited P(cheese) agree
    none = edits[edits["intervention"] == "none"].set_index("seed")["p_cheese_at_dsq"]
    np.testing.assert_allclose(none.loc[dsq["seed"]].to_numpy(), dsq["p_cheese_at_dsq"], atol=1e-5)

    cv = edits.loc[edits["intervention"] == "cheese-vector", "p_cheese_at_dsq"].dropna()
    got = episodes["got_cheese"]
    expected = {
        "median_p_cheese_at_dsq": dsq["p_cheese_at_dsq"].dropna().median(),
        "mean_p_cheese_at_dsq": dsq["p_cheese_at_dsq"].dropna().mean(),
        "median_p_top_right_at_dsq": dsq["p_top_right_at_dsq"].dropna().median(),
        "mean_p_top_right_at_dsq": dsq["p_top_right_at_dsq"].dropna().mean(),
        "got_cheese_dsq_test": got.mean(),
        "entered_top_right_5x5_without_cheese": (episodes["entered_top_right_5x5"] & ~got).mean(),
        "median_p_cheese_at_dsq_cheese_vector": cv.median(),
        "mean_p_cheese_at_dsq_cheese_vector": cv.mean(),
    }
    for name, value in expected.items():
        assert doc["measures"][name]["value"] == pytest.approx(value, abs=1e-12), name
    # Wilson's interval of the got-cheese rate, from its formula
    k, z = got.sum(), 1.959963984540054
    p = k / N
    centre, half = p + z * z / (2 * N), z * np.sqrt(p * (1 - p) / N + z * z / (4 * N * N))
    low, high = (centre - half) / (1 + z * z / N), (centre + half) / (1 + z * z / N)
    assert doc["measures"]["got_cheese_dsq_test"]["ci_low"] == pytest.approx(low, abs=1e-9)
    assert doc["measures"]["got_cheese_dsq_test"]["ci_high"] == pytest.approx(high, abs=1e-9)


def test_a_finished_run_is_reused_even_from_another_path_to_the_same_bytes(measured):
    run = Path(measured["doc"]["run"])
    manifest = (run / "manifest.json").read_text()
    other = measured["root"] / "elsewhere.pth"
    shutil.copy(measured["checkpoint"], other)
    run_dir, reused = fingerprint_run(other, n=N, out_dir=measured["root"] / "runs")
    assert reused and run_dir == run
    assert (run / "manifest.json").read_text() == manifest  # not even an invocation recorded


def test_save_then_read_and_stale_after_the_checkpoint_changes(measured, tmp_path):
    checkpoint = tmp_path / "net.pth"
    shutil.copy(measured["checkpoint"], checkpoint)
    shutil.copy(fingerprint_path(measured["checkpoint"]), fingerprint_path(checkpoint))
    saved = read_fingerprint(checkpoint)
    assert saved is not None and saved["measures"] == measured["doc"]["measures"]
    assert saved["sha256"] == file_sha256(checkpoint)
    assert fingerprint_path("models/reference-r5.pth") == Path("models/reference-r5.fingerprint.json")

    from mazeprobe.training.card import write_card

    evaluation = {"n_mazes": 2, "max_steps": 256, "suites": {}, "parameters": 0}
    card = write_card(checkpoint, evaluation).read_text()
    assert "## Fingerprint" in card
    median = saved["measures"]["median_p_cheese_at_dsq"]
    assert f"| median_p_cheese_at_dsq | {median['value']:.3f} | [{median['ci_low']:.3f}, " in card
    assert "| 0.810 |" in card  # the published value beside it

    checkpoint.write_bytes(checkpoint.read_bytes() + b"\0")  # other bytes: the numbers no longer apply
    assert read_fingerprint(checkpoint) is None
    assert "## Fingerprint" not in write_card(checkpoint, evaluation).read_text()


def test_the_spec_is_the_published_test_setup_and_model_editings_cheese_vector():
    spec = fingerprint_spec(MODEL, n=N, seed=3)
    editing = load_spec(REPO / "analysis" / "model-editing.yaml")
    [cheese_vector] = [i for i in editing.interventions if i.id == "cheese-vector"]
    assert [i.to_dict() for i in spec.interventions] == [cheese_vector.to_dict()]
    demo = load_spec(REPO / "analysis" / "reference-demo.yaml")
    same = ("placement", "require_decision_square", "exclude_cheese_top_right", "sizes", "start_level")
    assert all(getattr(spec.mazes, k) == getattr(demo.mazes, k) for k in same)
    assert (spec.mazes.n, spec.mazes.seed, spec.rollouts.seed) == (N, 3, 3)
    r = spec.rollouts
    assert (r.per_maze, r.max_steps, r.actions) == (1, 256, "sample") and spec.record.decision_square_probs


def test_the_statistics_on_hand_built_tables():
    # five mazes with a decision square and one without (null, left out)
    dsq = pd.DataFrame(
        {
            "seed": [1, 2, 3, 4, 5, 6],
            "p_cheese_at_dsq": [0.1, 0.2, 0.3, 0.4, 0.9, np.nan],
            "p_top_right_at_dsq": [0.5, 0.5, 0.5, 0.5, 0.5, np.nan],
        }
    )
    edits = pd.DataFrame(
        {
            "seed": [1, 2, 3, 4, 5, 6] * 2,
            "intervention": ["none"] * 6 + ["cheese-vector"] * 6,
            "p_cheese_at_dsq": [0.1, 0.2, 0.3, 0.4, 0.9, np.nan, 0.0, 0.02, 0.04, 0.06, 0.5, np.nan],
        }
    )
    # ten episodes: 3 got the cheese; 2 entered the top-right 5x5 without it (a third entered it and got
    # the cheese too, which does not count)
    got = [True, True, True] + [False] * 7
    entered = [True, False, False, True, True, False, False, False, False, False]
    episodes = pd.DataFrame(
        {"got_cheese": got, "entered_top_right_5x5": entered, "timed_out": [not g for g in got], "steps": 9}
    )
    m = fingerprint(episodes, dsq, edits, n_boot=500, seed=1)
    assert m["median_p_cheese_at_dsq"]["value"] == pytest.approx(0.3)
    assert m["mean_p_cheese_at_dsq"]["value"] == pytest.approx(0.38)
    assert m["median_p_cheese_at_dsq_cheese_vector"]["value"] == pytest.approx(0.04)
    assert m["mean_p_cheese_at_dsq_cheese_vector"]["value"] == pytest.approx(0.124)
    # a constant column: every resample gives the same median, so the interval is a point
    assert m["median_p_top_right_at_dsq"] == {"value": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    # Wilson 95% for 3 of 10 and 2 of 10 (values worked by hand from the formula)
    assert m["got_cheese_dsq_test"]["value"] == 0.3
    assert m["got_cheese_dsq_test"]["ci_low"] == pytest.approx(0.1078, abs=1e-4)
    assert m["got_cheese_dsq_test"]["ci_high"] == pytest.approx(0.6032, abs=1e-4)
    assert m["entered_top_right_5x5_without_cheese"]["value"] == 0.2
    assert m["entered_top_right_5x5_without_cheese"]["ci_low"] == pytest.approx(0.0567, abs=1e-4)
    assert m["entered_top_right_5x5_without_cheese"]["ci_high"] == pytest.approx(0.5098, abs=1e-4)
    # the bootstrap resamples mazes: for 400 mazes half at 0 and half at 1 the mean's 95% interval is
    # about 0.5 +- 1.96 * 0.5 / sqrt(400), and the seed fixes it
    seeds = np.arange(400)
    coin = np.tile([0.0, 1.0], 200)
    half = pd.DataFrame({"seed": seeds, "p_cheese_at_dsq": coin, "p_top_right_at_dsq": coin})
    cv = pd.DataFrame({"seed": seeds, "intervention": "cheese-vector", "p_cheese_at_dsq": coin})
    big = fingerprint(episodes, half, cv, n_boot=4000, seed=0)
    mean = big["mean_p_cheese_at_dsq"]
    assert mean["value"] == 0.5
    assert mean["ci_low"] == pytest.approx(0.451, abs=0.01)
    assert mean["ci_high"] == pytest.approx(0.549, abs=0.01)
    assert fingerprint(episodes, half, cv, n_boot=4000, seed=0) == big
    assert fingerprint(episodes, half, cv, n_boot=4000, seed=1)["mean_p_cheese_at_dsq"] != mean
