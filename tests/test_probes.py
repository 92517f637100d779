"""Linear probes: a hand-built activation set with a known cheese channel, leakage, a random-weight
network on real observations, run directories, result tables and input errors."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score

from mazeprobe.agents.impala import random_impala, save_checkpoint
from mazeprobe.agents.network import NetworkPolicy
from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.experiments.run import run_experiment
from mazeprobe.experiments.spec import ActivationSpec, ExperimentSpec, PolicySpec, RecordSpec, RolloutSpec
from mazeprobe.maze.sampling import SampleSpec, read_mazes, sample_mazes
from mazeprobe.sim import Roller, maze_batch, start_states
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.probes import (
    ActivationDataError,
    ProbeResult,
    coordinate_probes,
    decision_square_observations,
    fit_probe,
    grid_to_spatial,
    load_activations,
    pixel_probe,
    probe_inputs,
    probe_request,
    probe_run,
    probe_targets,
    random_weight_activations,
    results_table,
    sparse_probes,
)

# Small real-network samples hold nearly as many coordinate classes as mazes; sklearn says so, correctly.
pytestmark = pytest.mark.filterwarnings("ignore:The number of unique classes:UserWarning")


LAYER = "embedder.block2.res1.resadd_out"  # (32, 16, 16) at scale 1
RUN_LAYER = "embedder.block3.res1.resadd_out"  # (32, 8, 8): a quarter of the features, quicker fits
MARK, FIELD = 3, 2  # the hand-built set's cheese channels; 0 and 1 are noise


# --- the hand-built activation set ------------------------------------------------------------------


@pytest.fixture(scope="module")
def targets():
    table = sample_mazes(SampleSpec(n=600, seed=0, placement="uniform"))
    return probe_targets(table, table["seed"])


def hand_built(targets: pd.DataFrame, side: int = 16, channels: int = 4, seed: int = 1) -> np.ndarray:
    """Noise (N, C, side, side), except channel MARK = 1 exactly at the cheese's mapped position (else 0)
    and channel FIELD = a Gaussian bump (sd 1.5 positions) centred on the cheese tile's centre, as a
    unit with a receptive field would respond."""
    n = len(targets)
    rows = targets["cheese_outer_row"].to_numpy()
    cols = targets["cheese_outer_col"].to_numpy()
    X = np.random.default_rng(seed).normal(size=(n, channels, side, side)).astype(np.float32)
    h, w = grid_to_spatial(rows, cols, side)
    X[:, MARK] = 0.0
    X[np.arange(n), MARK, h, w] = 1.0
    stride = 64 // side
    centre_h = (24 - rows + 0.5) * 2.56 / stride  # image rows run top-down
    centre_w = (cols + 0.5) * 2.56 / stride
    grid = np.arange(side) + 0.5
    d2 = (grid[None, :, None] - centre_h[:, None, None]) ** 2 + (
        grid[None, None, :] - centre_w[:, None, None]
    ) ** 2
    X[:, FIELD] = np.exp(-d2 / (2 * 1.5**2))
    return X


@pytest.fixture(scope="module")
def handmade(targets):
    X = hand_built(targets)
    # the control: the same shapes with no cheese information at all (a network that ignores the cheese)
    X_random = np.random.default_rng(2).normal(size=X.shape).astype(np.float32)
    return X, X_random


@pytest.fixture(scope="module")
def handmade_coords(targets, handmade):
    X, X_random = handmade
    return {(r.probe, r.target): r for r in coordinate_probes(X, targets, X_random=X_random, folds=3)}


def test_grid_to_spatial_is_the_anchor_mapping():
    rows, cols = np.meshgrid(np.arange(25), np.arange(25), indexing="ij")
    for b in range(4):
        side = 64 // 2**b
        h, w = grid_to_spatial(rows, cols, side)
        np.testing.assert_array_equal(h, ((24 - rows + 0.5) * 2.56) // 2**b)
        np.testing.assert_array_equal(w, ((cols + 0.5) * 2.56) // 2**b)
        assert 0 <= h.min() <= 1 and side - 2 <= h.max() <= side - 1  # tiles cover 25 * 2.56 = 64 pixels
    # the top-left tile of the world is the top-left position; the bottom-right the bottom-right
    assert grid_to_spatial(24, 0, 16) == (0, 0) and grid_to_spatial(0, 24, 16) == (15, 15)


def test_probe_targets_align_to_seeds_and_add_outer_coordinates(targets):
    table = sample_mazes(SampleSpec(n=30, seed=4))
    seeds = table["seed"].to_numpy()[::-1]
    out = probe_targets(table, seeds)
    np.testing.assert_array_equal(out["seed"], seeds)
    margin = (25 - out["maze_size"].to_numpy(int)) // 2
    np.testing.assert_array_equal(out["cheese_outer_row"], out["cheese_row"].to_numpy(int) + margin)
    np.testing.assert_array_equal(out["cheese_outer_col"], out["cheese_col"].to_numpy(int) + margin)
    assert "grid" not in out.columns and "dsq_row" in out.columns
    with pytest.raises(UsageError, match="not in the maze table"):
        probe_targets(table, [seeds[0], 12345678901])


def test_pixel_probe_finds_the_marked_channel(targets, handmade):
    X, X_random = handmade
    r = pixel_probe(X, targets, X_random=X_random, layer="hand-built")
    assert r.metrics["balanced_accuracy"] > 0.98 and r.metrics["auc"] > 0.99 and r.metrics["accuracy"] > 0.98
    # cheese-blind activations: chance
    blind = r.random_weights
    assert abs(blind["balanced_accuracy"] - 0.5) < 0.05 and abs(blind["auc"] - 0.5) < 0.05
    # shuffled targets: near chance, but not at it: FIELD is strongest near the true cheese, and cheeses
    # (true or shuffled) cluster in the middle of the world, so it carries the positional prior
    assert abs(r.shuffled["balanced_accuracy"] - 0.5) < 0.12 and abs(r.shuffled["auc"] - 0.5) < 0.15
    assert r.selectivity("shuffled") > 0.4 and r.selectivity("random_weights") > 0.4
    assert r.selectivity("random_weights", "auc") > 0.4
    assert r.n_samples == 600 and r.n_features == X.shape[1] and len(r.fold_scores) == 5


def test_coordinate_regression_recovers_the_cheese(handmade_coords):
    for col in ("cheese_outer_row", "cheese_outer_col"):
        r = handmade_coords[("coords-ridge", col)]
        assert r.primary == "r2" and r.score > 0.95 and r.metrics["mae"] < 1.0
        assert r.shuffled["r2"] < 0.05 and r.random_weights["r2"] < 0.05
        assert r.selectivity("shuffled") > 0.9 and r.selectivity("random_weights") > 0.9
        # MAE selectivity is control - score: positive means better than the control
        assert r.selectivity("shuffled", "mae") > 2


def test_coordinate_classification_is_within_a_square(handmade_coords):
    # A 16x16 map cannot tell all 25 grid rows apart (2.56 / 4 < 1 position per tile), so exact accuracy
    # is capped; the predicted class is nonetheless almost always within one square.
    for col in ("cheese_outer_row", "cheese_outer_col"):
        r = handmade_coords[("coords-logistic", col)]
        assert r.metrics["within_1"] > 0.9 and r.metrics["mae"] < 1.0
        assert r.score > 0.4  # accuracy; chance is about 1/25
        assert r.shuffled["accuracy"] < 0.15 and r.random_weights["accuracy"] < 0.15
        assert r.selectivity("shuffled") > 0.3 and r.selectivity("random_weights") > 0.3


def test_sparse_probes_select_the_cheese_channels(targets, handmade):
    X, X_random = handmade
    results = sparse_probes(X, targets, k=150, X_random=X_random, folds=3, layer="hand-built")
    assert [r.probe for r in results] == ["sparse-logistic"] * 2 + ["sparse-ridge"] * 2
    for r in results:
        assert r.k == 150 and r.n_features == X[0].size
        if r.task == "classification":
            assert r.metrics["within_1"] > 0.9 and r.selectivity("shuffled") > 0.5
        else:
            assert r.score > 0.9 and r.metrics["mae"] < 1.0 and r.selectivity("random_weights") > 0.8


def test_inner_coordinates_are_probed_on_request(targets, handmade):
    X, _ = handmade
    results = coordinate_probes(X[:100, FIELD : FIELD + 1], targets.iloc[:100], coords="inner", folds=2)
    assert [r.target for r in results] == ["cheese_row", "cheese_col"] * 2
    assert all(r.random_weights is None and r.selectivity("random_weights") is None for r in results)


# --- leakage ----------------------------------------------------------------------------------------


def test_sparse_selection_inside_folds_does_not_leak():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4000)).astype(np.float32)
    y = rng.integers(0, 2, size=120)
    r = fit_probe(X, y, "classification", k=20, folds=5, seed=0)
    assert abs(r.score - 0.5) < 0.12 and abs(r.shuffled["accuracy"] - 0.5) < 0.12
    # the check has teeth: choosing the same 20 activations on all the data first scores far above chance
    chosen = SelectKBest(f_classif, k=20).fit(X, y).get_support()
    model = LogisticRegression(C=10, class_weight="balanced", max_iter=1000)
    leaky = cross_val_score(model, X[:, chosen], y, cv=KFold(5, shuffle=True, random_state=0)).mean()
    assert leaky > 0.75


def test_probes_are_seeded():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 40))
    y = (X[:, 0] + rng.normal(size=90) > 0).astype(int)
    a = fit_probe(X, y, "classification", k=5, seed=7)
    b = fit_probe(X, y, "classification", k=5, seed=7)
    c = fit_probe(X, y, "classification", k=5, seed=8)
    assert a.to_dict() == b.to_dict()
    assert a.fold_scores != c.fold_scores


# --- results ----------------------------------------------------------------------------------------


def test_result_dict_and_tidy_table(handmade_coords):
    results = list(handmade_coords.values())
    d = results[0].to_dict()
    json.dumps(d)  # JSON-ready
    for key in ("score", "shuffled", "random_weights", "selectivity_shuffled", "selectivity_random"):
        assert np.isfinite(d[key])
    table = results_table(results)
    assert len(table) == sum(len(r.metrics) for r in results)
    assert table.groupby(["probe", "target"])["primary"].sum().eq(1).all()
    mae = table[table["metric"] == "mae"]
    np.testing.assert_allclose(mae["selectivity_shuffled"], mae["shuffled"] - mae["value"])
    assert not table["higher_is_better"][table["metric"] == "mae"].any()
    with pytest.raises(UsageError, match="control must be"):
        results[0].selectivity("nope")
    with pytest.raises(UsageError, match="metric must be one of"):
        results[0].selectivity("shuffled", "auc")


# --- a random-weight network on real observations -------------------------------------------------


@pytest.fixture(scope="module")
def dsq_view():
    table = sample_mazes(SampleSpec(n=40, seed=5, require_decision_square=True))
    roller = Roller(16)
    policy = NetworkPolicy(random_impala(1, seed=3))
    states = start_states(table, roller.loader)
    _, acts = roller.decision_square_view(policy, maze_batch(table), states, [LAYER])
    return table, acts[LAYER]


def test_random_network_pipeline_runs_end_to_end(dsq_view):
    table, X = dsq_view
    targets = probe_targets(table, table["seed"])
    obs = decision_square_observations(table, num_envs=16)
    assert obs.shape == (40, 64, 64, 3) and obs.dtype == np.uint8
    # the re-rendered observations are the ones the network saw: same weights, same activations
    np.testing.assert_allclose(random_weight_activations(obs, LAYER, 1, seed=3), X, atol=1e-5)
    X_random = random_weight_activations(obs, LAYER, 1, seed=11)
    assert X_random.shape == X.shape and not np.allclose(X_random, X)
    # the full-width coordinate probes run on a real network in the run-directory test below
    results = sparse_probes(X, targets, k=100, X_random=X_random, folds=3, layer=LAYER)
    results.append(pixel_probe(X, targets, X_random=X_random, folds=3, layer=LAYER))
    table = results_table(results)
    assert len(results) == 5 and set(table["layer"]) == {LAYER}
    for col in ("value", "shuffled", "random_weights", "selectivity_shuffled", "selectivity_random"):
        assert np.isfinite(table[col].to_numpy(float)).all(), col


# --- run directories --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("probe-run")
    ckpt = save_checkpoint(random_impala(1, seed=0), tmp / "net.pth")
    spec = ExperimentSpec(
        name="probe",
        policy=PolicySpec(checkpoint=str(ckpt)),
        mazes=SampleSpec(n=36, seed=6, require_decision_square=True),
        rollouts=RolloutSpec(max_steps=4, actions="argmax", chunk_mazes=10),
        record=RecordSpec(activations=ActivationSpec(layers=(RUN_LAYER,), dtype="float16")),
    )
    return run_experiment(spec, tmp / "runs")


def test_load_activations_joins_chunks_through_the_index(network_run):
    X, seeds = load_activations(network_run, RUN_LAYER)
    assert X.shape == (36, 32, 8, 8) and X.dtype == np.float16 and len(seeds) == 36
    # entry i is maze seeds[i]: recompute from that maze's decision-square observation
    mazes = read_mazes(network_run / "mazes.parquet").set_index("seed").loc[seeds].reset_index()
    expected = random_weight_activations(decision_square_observations(mazes), RUN_LAYER, 1, seed=0)
    np.testing.assert_allclose(X.astype(np.float32), expected, atol=2e-2, rtol=1e-2)


def test_probe_run_reports_every_probe_with_both_controls(network_run):
    inputs = probe_inputs(network_run, probe_request(RUN_LAYER, control_seed=9))
    # the control is what a random network of the run's scale gives on the same observations
    mazes = read_mazes(network_run / "mazes.parquet").set_index("seed").loc[inputs.seeds].reset_index()
    expected = random_weight_activations(decision_square_observations(mazes), RUN_LAYER, 1, seed=9)
    np.testing.assert_array_equal(inputs.X_random, expected.astype(np.float16))
    results = probe_run(inputs, k=100, folds=3)  # arrays in: no run directory is read here
    kinds = ["coords-logistic"] * 2 + ["coords-ridge"] * 2 + ["pixel"]
    assert [r.probe for r in results] == kinds + ["sparse-logistic"] * 2 + ["sparse-ridge"] * 2
    for r in results:
        assert r.layer == RUN_LAYER and r.n_samples == 36 and r.random_weights is not None
        assert np.isfinite([r.score, r.selectivity("shuffled"), r.selectivity("random_weights")]).all()


def test_unknown_layer_in_a_run_dir(network_run):
    with pytest.raises(ActivationDataError, match=f"not recorded; recorded layers: {RUN_LAYER}"):
        load_activations(network_run, LAYER)
    with pytest.raises(ActivationDataError, match="not recorded"):
        probe_inputs(network_run, probe_request(LAYER))


def _fake_run(tmp_path, chunks, index):
    folder = tmp_path / "activations"
    (folder / "L").mkdir(parents=True)
    for i, array in enumerate(chunks):
        np.save(folder / "L" / f"chunk-{i:05d}.npy", array)
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(index), preserve_index=False), folder / "index.parquet")
    return tmp_path


def test_load_activations_follows_the_index_order(tmp_path):
    a = np.arange(3 * 2, dtype=np.float32).reshape(3, 2)
    b = 100 + np.arange(2 * 2, dtype=np.float32).reshape(2, 2)
    index = {"seed": [7, 8, 9, 1, 2], "chunk": [1, 0, 0, 1, 0], "row": [0, 2, 0, 1, 1]}
    run = _fake_run(tmp_path, [a, b], index)
    X, seeds = load_activations(run, "L")
    np.testing.assert_array_equal(seeds, [7, 8, 9, 1, 2])
    np.testing.assert_array_equal(X, np.stack([b[0], a[2], a[0], b[1], a[1]]))


def test_activation_files_that_do_not_fit_together(tmp_path):
    a = np.zeros((3, 2), np.float32)
    run = _fake_run(tmp_path, [a], {"seed": [1, 2], "chunk": [0, 0], "row": [0, 1]})
    with pytest.raises(ActivationDataError, match="holds 3 entries but the index lists 2"):
        load_activations(run, "L")
    (run / "activations" / "index.parquet").unlink()
    with pytest.raises(ActivationDataError, match="not finished"):
        load_activations(run, "L")
    with pytest.raises(ActivationDataError, match="no activations/ folder"):
        load_activations(tmp_path / "elsewhere", "L")


# --- input validation -------------------------------------------------------------------------------


def test_mismatched_sample_counts(targets, handmade):
    X, X_random = handmade
    with pytest.raises(UsageError, match="y has 599 entries but the activations have 600"):
        fit_probe(X, np.zeros(599), "regression")
    with pytest.raises(UsageError, match="targets has 599 entries but the activations have 600"):
        pixel_probe(X, targets.iloc[:599])
    with pytest.raises(UsageError, match="y has 600 entries but the activations have 599"):
        coordinate_probes(X[:599], targets)
    with pytest.raises(UsageError, match="X_random has 10 entries"):
        pixel_probe(X, targets, X_random=X_random[:10])


def test_pixel_probe_needs_a_conv_map(targets, handmade):
    X, _ = handmade
    with pytest.raises(UsageError, match=r"4 dimensions \(N, C, H, W\).*got shape \(600, 1024\)"):
        pixel_probe(X.reshape(600, -1), targets)
    with pytest.raises(UsageError, match="4 dimensions"):
        pixel_probe(X[:, 0], targets)
    with pytest.raises(UsageError, match="square maps"):
        pixel_probe(X[:, :, :, :8], targets)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task": "clustering"}, "task must be one of"),
        ({"folds": 1}, "folds must be an integer >= 2"),
        ({"folds": 1000}, "cannot exceed the number of mazes"),
        ({"k": 0}, "k must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_probe_arguments(kwargs, message):
    X = np.random.default_rng(0).normal(size=(40, 5))
    y = np.arange(40) % 2
    args = {"task": "classification", **kwargs}
    with pytest.raises(UsageError, match=message):
        fit_probe(X, y, **args)


def test_bad_inputs_are_mazeprobe_errors(targets):
    # the CLI turns MazeprobeError into a clean exit
    assert all(issubclass(e, MazeprobeError) for e in (UsageError, FitError, ActivationDataError))
    with pytest.raises(FitError, match="NaN or infinite"):
        fit_probe(np.full((10, 3), np.inf), np.arange(10) % 2, "classification")
    with pytest.raises(FitError, match="missing values"):
        fit_probe(np.zeros((10, 3)), np.r_[np.arange(9.0), np.nan], "regression")
    with pytest.raises(FitError, match="at least 2 classes"):
        fit_probe(np.zeros((10, 3)), np.ones(10), "classification")
    with pytest.raises(UsageError, match="lack column"):
        coordinate_probes(np.zeros((10, 3)), targets[["seed"]].iloc[:10])
    with pytest.raises(UsageError, match="side must be 64 / 2"):
        grid_to_spatial(0, 0, 12)
    with pytest.raises(UsageError, match="unknown activation name"):
        random_weight_activations(np.zeros((1, 64, 64, 3), np.uint8), "embedder.nope", 1, 0)


def test_probe_run_rejects_unknown_probes(tmp_path):
    with pytest.raises(UsageError, match="probes must be among"):
        probe_request(LAYER, probes=("cheese-coords", "telepathy"))  # before anything is read
    with pytest.raises(UsageError, match="probes must be among"):
        probe_run(None, probes=("cheese-coords", "telepathy"))


def test_probe_result_is_a_plain_dataclass():
    r = ProbeResult(
        probe="p",
        target="t",
        layer=None,
        task="regression",
        primary="r2",
        metrics={"r2": 0.5, "mae": 1.0},
        shuffled={"r2": 0.0, "mae": 2.0},
        random_weights=None,
        fold_scores=(0.5,),
        n_samples=10,
        n_features=3,
        k=None,
        folds=2,
        seed=0,
    )
    assert r.score == 0.5 and r.selectivity() == 0.5 and r.selectivity("shuffled", "mae") == 1.0
    assert r.to_dict()["random_weights"] is None and r.to_frame()["random_weights"].isna().all()


def test_the_position_probe_needs_both_coordinates_right(targets):
    from mazeprobe.stats.probes import position_probe

    rows = targets["cheese_outer_row"].to_numpy()
    cols = targets["cheese_outer_col"].to_numpy()
    n = len(targets)
    rng = np.random.default_rng(5)
    # one-hot row and column, plus noise: both coordinates are linearly readable
    X = np.concatenate([np.eye(25)[rows], np.eye(25)[cols], rng.normal(size=(n, 20))], axis=1)
    # the row is readable, the column is not: each coordinate's accuracy differs, and both-right follows
    # the column
    only_rows = np.concatenate([np.eye(25)[rows], rng.normal(size=(n, 45))], axis=1)
    result = position_probe(X.astype(np.float32), targets, X_random=only_rows.astype(np.float32), folds=3)
    assert result.primary == "exact_position_accuracy" and result.task == "position"
    assert result.score > 0.95 and result.metrics["row_accuracy"] > 0.95
    assert result.shuffled["exact_position_accuracy"] < 0.1
    control = result.random_weights
    assert control["row_accuracy"] > 0.95 and control["col_accuracy"] < 0.4
    assert control["exact_position_accuracy"] <= control["col_accuracy"] + 1e-9
    assert result.selectivity("random_weights") > 0.5


def test_within_one_square_needs_both_coordinates_within_one():
    from mazeprobe.stats.probes import METRICS

    truth = np.array([[5, 5], [5, 5], [5, 5], [5, 5], [5, 5]])
    # right, diagonal neighbour, column two off, row two off, diagonal neighbour
    guess = np.array([[5, 5], [6, 4], [4, 7], [7, 5], [6, 6]])
    within, exact = METRICS["within_1_position_accuracy"][0], METRICS["exact_position_accuracy"][0]
    assert within(truth, guess, None) == pytest.approx(3 / 5)
    assert exact(truth, guess, None) == pytest.approx(1 / 5)


def test_the_position_probe_reports_within_one_square_with_its_controls(targets):
    from mazeprobe.stats.probes import position_probe

    rows, cols = targets["cheese_outer_row"].to_numpy(), targets["cheese_outer_col"].to_numpy()
    rng = np.random.default_rng(5)
    # the row exactly, the column only as a coarse number (its pair of columns): exact position fails
    # where within one square holds
    X = np.concatenate([np.eye(25)[rows], np.eye(13)[cols // 2], rng.normal(size=(len(targets), 12))], axis=1)
    noise = rng.normal(size=X.shape).astype(np.float32)
    result = position_probe(X.astype(np.float32), targets, X_random=noise, folds=3)
    m = result.metrics
    assert m["row_accuracy"] > 0.95 and 0.3 < m["col_accuracy"] < 0.8
    assert m["within_1_position_accuracy"] > 0.95 > m["exact_position_accuracy"] + 0.2
    assert result.random_weights["within_1_position_accuracy"] < 0.2
    assert "within_1_position_accuracy" in result.shuffled
    assert result.to_dict()["metrics"]["within_1_position_accuracy"] == m["within_1_position_accuracy"]


PLAN = """\
kind: probe-plan
name: curve
layer: embedder.block3.res1.resadd_out
probe: cheese-position
n: {n}
folds: 3
"""


def test_a_probe_plan_takes_a_learning_curve_and_keeps_the_registered_hash(tmp_path):
    from mazeprobe.stats.probes.plan import load_probe_plan
    from mazeprobe.yamlio import SpecError

    root = Path(__file__).resolve().parent.parent
    # computed with the code before learning curves: a registered single-n plan keeps its hash
    registered = load_probe_plan(root / "analysis" / "probe-cheese-block2.yaml")
    assert registered.hash == "470a29391e9d70eb83fef9e51fc67732685c130b25469e1c7a2a04565de9261f"
    assert registered.n == 1000 and registered.curve is None
    path = tmp_path / "curve.yaml"
    path.write_text(PLAN.format(n="[1000, 2000, 5000, 10000]"))
    curve = load_probe_plan(path)
    assert curve.curve == (1000, 2000, 5000, 10000) and curve.hash != registered.hash
    path.write_text(PLAN.format(n=10000))
    assert load_probe_plan(path).hash != curve.hash
    for n, says in [
        ("[1000, 1000]", "must increase strictly"),
        ("[]", "at least one n"),
        ("[1000, 5]", "n[1]: must be between 10 and 100000; got 5"),
        ("[1000, x]", "n[1]: must be an integer"),
    ]:
        path.write_text(PLAN.format(n=n))
        with pytest.raises(SpecError, match=re.escape(says)) as caught:
            load_probe_plan(path)
        assert "curve.yaml:" in str(caught.value) and "\n" not in str(caught.value)


def test_a_probe_plans_settings_check_its_file_and_make_the_probe_commands_flags(tmp_path, capsys):
    from mazeprobe.cli import build_parser, main
    from mazeprobe.stats.probes.plan import load_probe_plan
    from mazeprobe.validation import NAME_HELP
    from mazeprobe.yamlio import SpecError

    path = tmp_path / "bad.yaml"
    path.write_text("name: a/b\nlayer: nope\nprobe: sparse\nfolds: 1\nk: 0\nrun: x/y\ndescripton: hi\n")
    with pytest.raises(SpecError) as caught:
        load_probe_plan(path)
    assert [line.split(": ", 1)[1] for line in str(caught.value).split("\n")] == [
        "descripton: unknown key (did you mean 'description'?); allowed: kind, name, description, layer, "
        "probe, coords, n, folds, seed, k, run",
        f"name: must be {NAME_HELP}; got 'a/b'",
        "layer: unknown activation 'nope'; e.g. embedder.block2.res1.resadd_out",
        "folds: must be between 2 and 20; got 1",
        "k: must be >= 1; got 0",
        f"run: must be a run's name ({NAME_HELP}); got 'x/y'",
    ]
    path.write_text(f"name: p\nlayer: {RUN_LAYER}\nprobe: sparse\nrun: r\nn: null\n")
    plan = load_probe_plan(path)
    assert (plan.folds, plan.seed, plan.k, plan.n, plan.run) == (5, 0, 1000, None, "r")
    # `mazeprobe probe`'s flags are the plan's settings: its defaults, and its bounds before any work
    args = build_parser().parse_args(["probe", str(tmp_path), "--layer", RUN_LAYER])
    assert (args.layer, args.k, args.folds, args.seed) == (RUN_LAYER, plan.k, plan.folds, plan.seed)
    with pytest.raises(SystemExit) as usage:
        main(["probe", str(tmp_path), "--layer", RUN_LAYER, "--folds", "1"])
    assert usage.value.code == 2
    assert "argument --folds: expected an integer between 2 and 20, got 1" in capsys.readouterr().err


def test_a_learning_curve_fits_each_first_n_as_a_single_plan_would(network_run):
    from mazeprobe.experiments.inputs import TooFewRecorded
    from mazeprobe.stats.probes.plan import ProbePlan
    from mazeprobe.stats.probes.run import plan_request, plan_result

    def run_probe_plan(run_dir, plan):
        return plan_result(probe_inputs(run_dir, plan_request(plan)), plan)

    plan = ProbePlan(name="curve", layer=RUN_LAYER, probe="cheese-position", n=(12, 24, 36), folds=3)
    result = run_probe_plan(network_run, plan)
    assert [p["n_samples"] for p in result.curve] == [12, 24, 36] and result.n_samples == 36
    assert result.curve[-1]["metrics"] == result.metrics
    # a point is the single plan on its first n: the same folds, the same controls, but for the shuffled
    # control, which only the curve's first point keeps (the costliest fit at 10,000 mazes; no rule reads it)
    single = run_probe_plan(network_run, replace(plan, n=24))
    assert result.curve[1] == single.point() | {"shuffled_metrics": None}
    assert not single.curve and "curve" not in single.to_dict()
    assert run_probe_plan(network_run, replace(plan, n=12)).point() == result.curve[0]
    assert result.to_dict()["curve"][0]["random_weights_metrics"] is not None
    assert result.to_dict()["shuffled"] is None and result.curve[0]["shuffled_metrics"] is not None
    # refused before the control is rendered; and arrays of too few mazes are refused by the fit itself
    with pytest.raises(TooFewRecorded, match="40 mazes are needed, but the run .* recorded 36"):
        run_probe_plan(network_run, replace(plan, n=(12, 40)))
    inputs = probe_inputs(network_run, plan_request(plan))
    with pytest.raises(FitError, match="40 mazes are needed, but the run .* recorded 36"):
        plan_result(inputs, replace(plan, n=(12, 40)))
