"""Edits of the network, with known answers: identities, hand-made equivalents, counts, the square -> map
cell mapping against rendered frames, and retargeting that must succeed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mazeprobe.agents.edits import (
    Channels,
    CheeseVector,
    Clamp,
    MeanAblate,
    Resample,
    TopRightVector,
    ZeroAblate,
    cell_of_square,
    donor_rows,
    edit_from_spec,
    network_size,
    prepare_edits,
)
from mazeprobe.agents.impala import load_checkpoint, obs_to_tensor, random_impala
from mazeprobe.agents.scripted import CheeseAgent
from mazeprobe.errors import UsageError
from mazeprobe.experiments import retarget
from mazeprobe.maze.procgen import OBS_SIZE, WORLD_SIDE, map_position, to_world
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.sim import Roller, RolloutSettings, maze_batch, start_states

MODEL = Path(__file__).resolve().parent.parent / "models" / "reference-r5.pth"
L = "embedder.block2.res1.resadd_out"


@pytest.fixture(scope="module")
def net():
    return load_checkpoint(MODEL).eval()


@pytest.fixture(scope="module")
def roller():
    return Roller(32)


@pytest.fixture(scope="module")
def mazes():
    return sample_mazes(SampleSpec(n=6, seed=11, require_decision_square=True, exclude_cheese_top_right=5))


def _forward(net, x, prepared=None):
    with torch.no_grad(), net.hooks(prepared.hooks(None) if prepared is not None else []):
        return net(x)[0]


def test_coefficient_zero_or_no_channels_is_bit_identical(net, mazes, roller):
    maze = mazes.iloc[:1]
    x = obs_to_tensor(roller.render(start_states(maze, roller.loader)))
    base = _forward(net, x)
    for edit in (
        CheeseVector(L, coefficient=0.0),
        TopRightVector(L, coefficient=0.0),
        ZeroAblate(L, Channels(())),
        MeanAblate(L, Channels(()), n=4),
        Clamp(L, Channels(()), value=9.0, at=(0, 0)),
    ):
        prepared = prepare_edits(edit, net, maze, roller)
        assert torch.equal(_forward(net, x, prepared), base), edit.kind
        assert prepared.edited_counts().tolist() == [0]


def test_adding_the_cheese_vector_to_the_cheeseless_maze_restores_the_cheese(net, mazes, roller):
    for i in range(len(mazes)):
        maze = mazes.iloc[i : i + 1]
        state = start_states(maze, roller.loader)[0]
        x = obs_to_tensor(roller.render([state, state.without_cheese()]))
        with torch.no_grad():
            with_cheese = net.forward_to(x[:1], L)
            prepared = prepare_edits(CheeseVector(L, coefficient=1.0), net, maze, roller)
            restored = prepared.apply(L, net.forward_to(x[1:], L), None)
            np.testing.assert_allclose(restored.numpy(), with_cheese.numpy(), atol=1e-5)
            probs = torch.softmax(_forward(net, x[1:], prepared), 1)
            np.testing.assert_allclose(
                probs.numpy(), torch.softmax(_forward(net, x[:1]), 1).numpy(), atol=1e-5
            )
        # and subtracting it is a real change: the vector is not zero
        assert prepared.edited_counts()[0] > 0


def test_edited_fields_of_many_mazes_at_once_equal_each_maze_on_its_own(net, mazes, roller):
    # more squares than one forward batch (256), each maze its own cheese vector: the rows a batch's
    # hooks read must be that batch's rows
    from mazeprobe.agents.network import NetworkPolicy
    from mazeprobe.experiments.vfield import vector_fields

    policy, edit = NetworkPolicy(net), CheeseVector(L, coefficient=-1.0)
    together = vector_fields(policy, mazes, roller, edit)
    assert len(together) > 256
    alone = pd.concat([vector_fields(policy, mazes.iloc[i : i + 1], roller, edit) for i in range(len(mazes))])
    cols = ["p_up", "p_down", "p_left", "p_right"]
    np.testing.assert_allclose(together[cols].to_numpy(), alone[cols].to_numpy(), atol=1e-6)


def test_zero_ablation_equals_zeroing_by_hand(net, mazes, roller):
    maze = mazes.iloc[:2]
    x = obs_to_tensor(roller.render(start_states(maze, roller.loader)))
    channels = (3, 7, 29)
    prepared = prepare_edits(ZeroAblate(L, Channels(channels)), net, maze, roller)

    def by_hand(act, _name):
        act = act.clone()
        act[:, list(channels)] = 0.0
        return act

    with torch.no_grad():
        with net.hooks([(L, by_hand)]):
            expected = net(x)[0]
        got = _forward_rows(net, x, prepared, [0, 1])
    assert torch.equal(got, expected)
    side = net.activation_shapes()[L]
    assert prepared.edited_counts().tolist() == [len(channels) * side[1] * side[2]] * 2


def _forward_rows(net, x, prepared, rows):
    with torch.no_grad(), net.hooks(prepared.hooks(np.array(rows))):
        return net(x)[0]


def test_clamp_counts_are_channels_times_positions(net, mazes, roller):
    c, h, w = net.activation_shapes()[L]
    maze = mazes.iloc[:3]
    one = prepare_edits(Clamp(L, Channels((1, 2, 5)), value=5.5, at=(0, 0)), net, maze, roller)
    assert one.edited_counts().tolist() == [3, 3, 3]
    smooth = prepare_edits(
        Clamp(L, Channels((1, 2, 5)), value=5.6, at=(0, 0), background=-0.2), net, maze, roller
    )
    assert smooth.edited_counts().tolist() == [3 * h * w] * 3
    layer_fraction, network_fraction = one.edited_fractions()
    assert layer_fraction[0] == pytest.approx(3 / (c * h * w))
    assert network_fraction[0] == pytest.approx(3 / network_size(net))


def test_the_network_size_is_every_named_activation_once():
    # the published scale-4 network: 1,614,352 activations per forward pass over its 42 named outputs
    assert network_size(random_impala(4, 0)) == 1_614_352


@pytest.mark.parametrize("n", range(3, 26, 2))
def test_the_square_to_cell_mapping_round_trips_for_every_maze_size(n):
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    wr, wc = to_world(rows, cols, n)
    for side in (64, 32, 16, 8):
        h, w = map_position(wr, wc, side)
        stride = OBS_SIZE // side
        # the square's centre pixel lies inside its cell (the image runs top-down, the grid bottom-up)
        centre_y = (WORLD_SIDE - 1 - wr + 0.5) * OBS_SIZE / WORLD_SIDE
        centre_x = (wc + 0.5) * OBS_SIZE / WORLD_SIDE
        assert ((h * stride <= centre_y) & (centre_y < (h + 1) * stride)).all()
        assert ((w * stride <= centre_x) & (centre_x < (w + 1) * stride)).all()
        # back from the pixel cells: the tile whose span holds the cell's centre is the square
        if side == 64:
            back_r = WORLD_SIDE - 1 - ((h + 0.5) * WORLD_SIDE // OBS_SIZE).astype(int)
            back_c = ((w + 0.5) * WORLD_SIDE // OBS_SIZE).astype(int)
            assert (back_r == wr).all() and (back_c == wc).all()


def test_the_mapping_puts_the_cheese_where_procgen_draws_it(mazes, roller):
    states = start_states(mazes, roller.loader)
    for state, row in zip(states, mazes.itertuples(), strict=True):
        a, b = roller.render([state, state.without_cheese()])
        ys, xs = np.nonzero((a != b).any(axis=2))  # the cheese sprite's pixels
        h, w = cell_of_square(
            np.array([row.cheese_row]), np.array([row.cheese_col]), np.array([row.maze_size]), 16
        )
        assert int(ys.mean() // 4) == h[0] and int(xs.mean() // 4) == w[0]


def test_resample_donors_follow_their_rule(mazes):
    same = donor_rows(mazes, "same-cheese", seed=0)
    other = donor_rows(mazes, "other-cheese", seed=0)
    for m, s, o in zip(mazes.itertuples(), same.itertuples(), other.itertuples(), strict=True):
        here = to_world(m.cheese_row, m.cheese_col, m.maze_size)
        assert to_world(s.cheese_row, s.cheese_col, s.maze_size) == here and s.seed != m.seed
        assert to_world(o.cheese_row, o.cheese_col, o.maze_size) != here
    assert donor_rows(mazes, "same-cheese", seed=0)["seed"].tolist() == same["seed"].tolist()
    with pytest.raises(UsageError, match="donor must be one of"):
        donor_rows(mazes, "nearby", seed=0)


def test_resampling_writes_the_donors_maps(net, mazes, roller):
    maze = mazes.iloc[:2]
    prepared = prepare_edits(Resample(L, Channels((4,)), donor="any", seed=3), net, maze, roller)
    donors = sample_mazes(SampleSpec(n=1, start_level=prepared.patches[0].info["donor_seeds"][0]))
    x = obs_to_tensor(roller.render(start_states(donors, roller.loader)))
    with torch.no_grad():
        donor_map = net.forward_to(x, L)[0, 4]
    # the same numbers up to the batch size the convolutions ran at
    np.testing.assert_allclose(prepared.patches[0].value[0, 4].numpy(), donor_map.numpy(), atol=1e-5)


def test_edits_round_trip_through_their_spec():
    edits = [
        CheeseVector(L, coefficient=-2.0, source_seed=7),
        Clamp(L, Channels(ranking="cheese-channels", top=3), value=5.5, at=(2, 4), background=-0.2),
        Resample(L, Channels((1, 2)), donor="same-cheese", seed=1),
    ]
    for edit in edits:
        assert edit_from_spec(edit.to_spec()) == edit


def test_retargeting_with_the_cheese_on_the_target_and_the_cheese_agent_reaches_every_target(mazes, roller):
    batch = maze_batch(mazes)
    targets = retarget.draw_targets(batch, per_maze=4, seed=0)
    assert len(targets) == 4 * len(mazes)
    contexts = retarget.target_contexts(batch, targets, cheese="target")
    states = retarget.played_states(start_states(mazes, roller.loader), contexts, "target")
    settings = RolloutSettings(per_maze=1, max_steps=256)
    reached = retarget.reach_rollouts(CheeseAgent(), contexts, states, settings, roller, {"cheese": None})
    fraction, steps = reached["cheese"]
    assert (fraction == 1.0).all()
    # the shortest path: one step per square of it
    assert (steps == np.array([len(p) for p in retarget.path_squares(contexts)])).all()


def test_path_probabilities_sharing_the_lower_layers_equal_whole_forward_passes(net, mazes, roller):
    # every target of two mazes, two clamps and no edit: the sweep runs the layers below L once per
    # observation; here every (square, target) gets its own whole forward pass with the edit hooked in
    from mazeprobe.agents.network import NetworkPolicy
    from mazeprobe.sim import GROUP_MATRIX

    batch = maze_batch(mazes.iloc[:2])
    targets = retarget.draw_targets(batch, per_maze=6, seed=1)
    contexts = retarget.target_contexts(batch, targets, "remove")
    states = retarget.played_states(start_states(mazes.iloc[:2], roller.loader), contexts, "remove")
    side = net.activation_shapes()[L][-1]
    edits = {
        "one": Clamp(L, Channels((0,)), value=5.0, at="target"),
        "three": Clamp(L, Channels((0, 1, 2)), value=2.0, at="target"),
    }
    variants = {name: (prepare_edits(e, net, contexts, roller), side) for name, e in edits.items()}
    found = retarget.path_probabilities(
        NetworkPolicy(net), contexts, states, roller, {**variants, "none": (None, None)}
    )
    for name, (prepared, _) in {**variants, "none": (None, None)}.items():
        for i, steps in enumerate(retarget.path_squares(contexts)):
            x = obs_to_tensor(roller.render([states[i].with_mouse(r, c) for r, c, _ in steps]))
            hooks = prepared.hooks(np.full(len(steps), i)) if prepared is not None else []
            with torch.no_grad(), net.hooks(hooks):
                groups = torch.softmax(net(x)[0].double(), 1).numpy() @ GROUP_MATRIX
            moves = [m for _, _, m in steps]
            expected = np.exp(np.mean(np.log(groups[np.arange(len(steps)), moves])))
            assert found[name][i] == pytest.approx(expected, rel=1e-5), (name, i)


def test_targets_are_seeded_per_maze_whatever_the_batch(mazes):
    all_at_once = retarget.draw_targets(maze_batch(mazes), per_maze=3, seed=5)
    one_by_one = pd.concat(
        [
            retarget.draw_targets(maze_batch(mazes.iloc[i : i + 1]), per_maze=3, seed=5)
            for i in range(len(mazes))
        ]
    )
    cols = ["seed", "target_row", "target_col"]
    assert all_at_once[cols].reset_index(drop=True).equals(one_by_one[cols].reset_index(drop=True))
    for t, row in zip(all_at_once.itertuples(), mazes.iloc[all_at_once["maze"]].itertuples(), strict=True):
        assert (t.target_row, t.target_col) != (0, 0)
        assert (t.target_row, t.target_col) != (row.cheese_row, row.cheese_col)


def test_off_path_targets_leave_out_every_square_of_the_agents_own_rollout(mazes, roller):
    # the cheese agent with its cheese kept walks the shortest path to it and stops there: exactly the
    # squares it visits, start and cheese included, are not eligible
    from mazeprobe.maze.geometry import distance_maps

    batch = maze_batch(mazes)
    natural = start_states(mazes, roller.loader)
    settings = RolloutSettings(per_maze=2, max_steps=256)
    visited = retarget.visited_squares(CheeseAgent(), batch, natural, settings, roller)
    starts = np.zeros((len(mazes), 2), dtype=np.int64)
    reach = distance_maps(batch.grids, batch.sizes, starts)
    cheese = mazes[["cheese_row", "cheese_col"]].to_numpy(np.int64)
    to_cheese = distance_maps(batch.grids, batch.sizes, cheese)
    for m in range(len(mazes)):
        n = int(batch.sizes[m])
        here, there = reach[m, :n, :n], to_cheese[m, :n, :n]
        on_path = (here >= 0) & (here + there == here[tuple(cheese[m])])  # a tree: one shortest path
        assert (visited[m, :n, :n] == on_path).all() and not visited[m, n:].any(), m
    targets = retarget.draw_targets(batch, per_maze=1000, seed=0, avoid_cheese=True, visited=visited)
    everywhere = retarget.draw_targets(batch, per_maze=1000, seed=0, avoid_cheese=True)
    for m in range(len(mazes)):
        mine = targets[targets["maze"] == m]
        assert not visited[m][mine["target_row"], mine["target_col"]].any()
        # every reachable square but the path (the start and the cheese are on it)
        length = int(reach[m][tuple(cheese[m])])
        assert len(mine) == mine["eligible_squares"].iloc[0] == int((reach[m] >= 0).sum()) - (length + 1)
        assert len(everywhere[everywhere["maze"] == m]) == int((reach[m] >= 0).sum()) - 2
    # asked for more than are eligible, a maze gets them all, and says how many there were
    wanted = int(targets.groupby("maze").size().min()) + 1
    few = retarget.draw_targets(batch, per_maze=wanted, seed=0, visited=visited)
    got = few.groupby("maze").agg(n=("seed", "size"), eligible=("eligible_squares", "first"))
    assert (got["n"] == np.minimum(wanted, got["eligible"])).all() and (got["n"] < wanted).any()


# --- runs: the interventions and retargeting tables are a pure function of the spec -------------------

RUN_SPEC = f"""\
kind: experiment
name: iv
policy: {{checkpoint: {MODEL}}}
mazes: {{n: 4, seed: 2, require_decision_square: true, exclude_cheese_top_right: 5}}
rollouts: {{per_maze: 2, max_steps: 24, chunk_mazes: 2}}
record: {{decision_square_probs: true}}
interventions:
  - {{id: cv, edit: cheese-vector, layer: {L}}}
  - {{id: clamp-top1, edit: clamp, layer: {L}, channels: {{ranking: cheese-channels, top: 1}},
     value: 5.5, at: target}}
retargeting: {{targets_per_maze: 2, rollouts_per_target: 1, seed: 0}}
channel_ranking: {{n: 40, seed: 0}}
"""


@pytest.fixture(scope="module")
def iv_reference(tmp_path_factory):
    from mazeprobe.experiments.run import run_experiment
    from mazeprobe.experiments.spec import load_spec

    root = tmp_path_factory.mktemp("iv")
    (root / "spec.yaml").write_text(RUN_SPEC)
    return run_experiment(load_spec(root / "spec.yaml"), root / "runs", workers=1)


def _tables(run_dir):
    from mazeprobe.experiments.rundir import RunDir

    run = RunDir(run_dir)
    return run.interventions(), run.retargeting()


def test_an_intervention_run_writes_both_tables(iv_reference):
    from mazeprobe.experiments.interventions import INTERVENTION_COLUMNS
    from mazeprobe.experiments.retarget import RETARGETING_COLUMNS

    iv, rt = _tables(iv_reference)
    assert tuple(iv.columns) == INTERVENTION_COLUMNS and tuple(rt.columns) == RETARGETING_COLUMNS
    assert sorted(iv["intervention"].unique()) == ["clamp-top1", "cv", "none"]
    assert sorted(rt["intervention"].unique()) == ["ceiling", "clamp-top1", "cv", "none"]
    assert len(iv) == 4 * 3 and len(rt) == 4 * 2 * 4
    none = iv[iv["intervention"] == "none"]
    assert (none["edited_activations"] == 0).all() and (none["vfield_tv"] == 0).all()
    clamp = iv[iv["intervention"] == "clamp-top1"]
    assert clamp["got_cheese"].isna().all() and (clamp["edited_activations"] == 1).all()
    cv = iv[iv["intervention"] == "cv"]
    assert (cv["edited_activations"] > 0).all() and (cv["vfield_tv"] > 0).all()
    assert rt["path_probability"].between(0, 1).all() and rt["reached_target"].between(0, 1).all()
    # the same targets for every intervention
    per = rt.groupby("intervention")[["seed", "target_row", "target_col"]].apply(lambda f: f.values.tolist())
    assert per["none"] == per["cv"] == per["clamp-top1"] == per["ceiling"]


def test_every_table_of_an_intervention_run_is_its_schema(iv_reference):
    """Each file a run writes has exactly its schema's columns and types (a writer that adds a column
    without its schema fails this, and the run itself: the writers check), and its manifest reads back
    to the same bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mazeprobe.agents.channels import RANKING
    from mazeprobe.experiments.rundir import RunDir, dump_json
    from mazeprobe.experiments.tables import INTERVENTIONS, RETARGETING
    from mazeprobe.maze.sampling import maze_schema
    from mazeprobe.sim.episodes import DSQ, EPISODES
    from mazeprobe.tables import SchemaError

    run = RunDir(iv_reference)
    files = {
        run.mazes_path: maze_schema(),
        run.episodes_path: EPISODES,
        run.dsq_path: DSQ,
        run.interventions_path: INTERVENTIONS,
        run.retargeting_path: RETARGETING,
        run.channels_path(L): RANKING,
    }
    for path, schema in files.items():
        assert schema.problems(pq.read_schema(path)) == [], path.name
        assert pq.read_schema(path).names == list(schema.names)
    table = pq.read_table(run.interventions_path)
    with pytest.raises(SchemaError, match="not in the schema: extra"):
        INTERVENTIONS.check(table.append_column("extra", pa.array([0.0] * len(table))))
    with pytest.raises(SchemaError, match="steps is int64, the schema says double"):
        INTERVENTIONS.check(table.set_column(7, "steps", pa.array([1] * len(table), pa.int64())))
    assert dump_json(run.manifest().to_dict()) == run.manifest_path.read_bytes()
    assert run.manifest().policy.scale == run.scale() and run.manifest().rankings[L]["cheese-channels"]


def test_two_processes_and_a_resume_give_the_same_intervention_tables(tmp_path, iv_reference):
    from mazeprobe.experiments.run import prepare_run, run_chunk, run_experiment
    from mazeprobe.experiments.spec import load_spec

    (tmp_path / "spec.yaml").write_text(RUN_SPEC)
    spec = load_spec(tmp_path / "spec.yaml")
    two = run_experiment(spec, tmp_path / "two", workers=2)
    resumed = prepare_run(spec, tmp_path / "resumed")
    run_chunk(resumed, 1)
    run_experiment(spec, tmp_path / "resumed", resume=True)
    ref_iv, ref_rt = _tables(iv_reference)
    for run_dir in (two, resumed):
        iv, rt = _tables(run_dir)
        pd.testing.assert_frame_equal(iv, ref_iv)
        pd.testing.assert_frame_equal(rt, ref_rt)
    # resuming a finished run changes nothing: the tables the resolutions hashed, the time it finished
    table = (two / "interventions.parquet").read_bytes()
    ended = json.loads((two / "manifest.json").read_text())
    time.sleep(1.1)  # stamps are whole seconds
    run_experiment(spec, tmp_path / "two", resume=True)
    again = json.loads((two / "manifest.json").read_text())
    assert (two / "interventions.parquet").read_bytes() == table and again["ended_at"] == ended["ended_at"]


HEAD_HASHES = {  # (spec hash, family hash) before `targets:` existed (git 68abab7): the default keeps them
    "retargeting": (
        "4f54b0714ff8a9659f285e74c27a2561e48a8b4e9ccd0cdfcb4cb1b76a1e8bac",
        "6a3d3fa1d66c8b875169552d2304c0cd2e0b7afcf9796e0152aa067dc04401d0",
    ),
    "model-editing": (
        "7f8316eb4a8038e8b768b3b9d33fcd2ff7776ad0bf8371d285afb603c5682e2c",
        "13634d2972f49aa224d49de85a2e2cfbff5d70cf561ccb0a127411a846a27a18",
    ),
}


def test_the_default_target_rule_keeps_the_registered_hashes_and_off_path_is_another_family(tmp_path):
    from mazeprobe.experiments.intervention_spec import family_hash
    from mazeprobe.experiments.spec import load_spec
    from mazeprobe.yamlio import SpecError

    root = MODEL.parent.parent
    for name, (spec_hash, fam_hash) in HEAD_HASHES.items():
        spec = load_spec(root / "analysis" / f"{name}.yaml")
        assert (spec.hash, family_hash(spec.to_dict())) == (spec_hash, fam_hash), name
    text = (root / "analysis" / "retargeting.yaml").read_text()
    assert "seed: 0}\ninterventions" in text
    hashes = {}
    for rule in ("reachable", "off-path"):
        path = tmp_path / f"{rule}.yaml"
        path.write_text(text.replace("seed: 0}\ninterventions", f"seed: 0, targets: {rule}}}\ninterventions"))
        spec = load_spec(path)
        assert spec.retargeting.targets == rule
        hashes[rule] = (spec.hash, family_hash(spec.to_dict()))
    assert hashes["reachable"] == HEAD_HASHES["retargeting"]
    assert hashes["off-path"][0] != HEAD_HASHES["retargeting"][0]
    assert hashes["off-path"][1] != HEAD_HASHES["retargeting"][1]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("seed: 0}\ninterventions", "seed: 0, targets: offpath}\ninterventions"))
    with pytest.raises(SpecError) as err:
        load_spec(bad)
    assert "retargeting.targets: must be one of reachable, off-path; got 'offpath'" in str(err.value)
    assert len(str(err.value).splitlines()) == 1


OFF_PATH_SPEC = f"""\
kind: experiment
name: off-path
policy: {{checkpoint: {MODEL}}}
mazes: {{n: 3, seed: 4}}
rollouts: {{per_maze: 1, max_steps: 24, actions: sample, seed: 3}}
record: {{vfield_tv: false}}
interventions:
  - {{id: clamp0, edit: clamp, layer: {L}, channels: [0], value: 5.5, at: target}}
retargeting: {{targets_per_maze: 4, rollouts_per_target: 2, seed: 1, targets: off-path}}
"""


def test_off_path_targets_the_baseline_never_reaches_and_a_real_cheese_on_them_is_the_ceiling(tmp_path):
    # a real network on real procgen mazes: every target lies off the unedited agent's own rollouts (so
    # the `none` rows reach none of them), and the `ceiling` rows are what the unedited network does with
    # a cheese on the target, played here without any retargeting code (the episode ends on the cheese)
    from mazeprobe.agents.network import NetworkPolicy
    from mazeprobe.experiments.run import run_experiment
    from mazeprobe.experiments.rundir import RunDir
    from mazeprobe.experiments.spec import load_spec
    from mazeprobe.maze.geometry import distance_maps
    from mazeprobe.sim import GROUP_MATRIX

    (tmp_path / "spec.yaml").write_text(OFF_PATH_SPEC)
    run = RunDir(run_experiment(load_spec(tmp_path / "spec.yaml"), tmp_path / "runs", workers=1))
    rt, table = run.retargeting(), run.mazes()
    assert tuple(rt.columns) == retarget.RETARGETING_COLUMNS
    assert sorted(rt["intervention"].unique()) == ["ceiling", "clamp0", "none"]
    none = rt[rt["intervention"] == "none"]
    assert len(none) > 0 and (none["reached_target"] == 0).all()
    policy = NetworkPolicy(load_checkpoint(MODEL).eval())
    roller = Roller(16)
    natural = start_states(table, roller.loader)
    batch = maze_batch(table)
    own = roller.episodes(
        policy, batch, [s.without_cheese() for s in natural], RolloutSettings(2, 24, "sample", 3)
    )
    reach = distance_maps(batch.grids, batch.sizes, np.zeros((len(table), 2), dtype=np.int64))
    for m, row in enumerate(table.itertuples()):
        n = int(row.maze_size)
        seen = {int(p) for path in own[own["seed"] == row.seed]["path"] for p in path}
        mine = none[none["seed"] == row.seed]
        assert not seen & set((mine["target_row"] * n + mine["target_col"]).tolist())
        # the reachable squares, less those the agent stood on (the start among them)
        assert (mine["eligible_squares"] == int((reach[m] >= 0).sum()) - len(seen)).all()
    ceiling = rt[rt["intervention"] == "ceiling"].merge(table[["seed", "maze_size"]], on="seed")
    assert len(ceiling) == len(none)
    cheese_there = table.set_index("seed").loc[ceiling["seed"]].reset_index()
    cheese_there["cheese_row"] = ceiling["target_row"].to_numpy()
    cheese_there["cheese_col"] = ceiling["target_col"].to_numpy()
    played = roller.episodes(
        policy, maze_batch(cheese_there), start_states(cheese_there, roller.loader),
        RolloutSettings(2, 24, "sample", 3),
    )  # fmt: skip
    got = played["got_cheese"].to_numpy(float).reshape(-1, 2).mean(1)
    assert ceiling["reached_target"].tolist() == got.tolist() and got.max() > 0
    assert ceiling["steps"].tolist() == played["steps"].to_numpy(float).reshape(-1, 2).mean(1).tolist()
    # the published measure for the ceiling: the path's move probabilities with the cheese on the target
    first = ceiling.iloc[0]
    state = start_states(cheese_there.iloc[:1], roller.loader)[0]
    steps = retarget.path_squares(maze_batch(cheese_there.iloc[:1].assign(
        target_row=first.target_row, target_col=first.target_col)))[0]  # fmt: skip
    x = obs_to_tensor(roller.render([state.with_mouse(r, c) for r, c, _ in steps]))
    with torch.no_grad():
        groups = torch.softmax(policy.model(x)[0].double(), 1).numpy() @ GROUP_MATRIX
    expected = np.exp(np.mean(np.log(groups[np.arange(len(steps)), [m for _, _, m in steps]])))
    assert first.path_probability == pytest.approx(expected, rel=1e-5)


# --- the commands -------------------------------------------------------------------------------------


def test_show_interventions_prints_paired_changes_with_intervals(iv_reference, capsys):
    from mazeprobe.cli import main
    from mazeprobe.stats.paired import paired_summary

    assert main(["show", str(iv_reference), "--interventions", "--n-boot", "200"]) == 0
    out = capsys.readouterr().out
    iv, _ = _tables(iv_reference)
    summary = paired_summary(iv, n_boot=200)
    row = summary[(summary["intervention"] == "cv") & (summary["measure"] == "p_cheese_at_dsq")].iloc[0]
    assert f"{row.mean_change:+.3f} [{row.mean_change_low:+.3f}, {row.mean_change_high:+.3f}]" in out
    cv = iv[iv["intervention"] == "cv"].set_index("seed")["p_cheese_at_dsq"]
    none = iv[iv["intervention"] == "none"].set_index("seed")["p_cheese_at_dsq"]
    assert row.mean_change == pytest.approx((cv - none).mean())
    assert row.mean_change_low <= row.mean_change <= row.mean_change_high
    assert "retargeting (mean over targets)" in out and "clamp-top1" in out


def test_channels_writes_the_ranking_and_its_picture(tmp_path, capsys):
    from mazeprobe.agents.channels import RANKING_COLUMNS
    from mazeprobe.cli import main

    out = tmp_path / "ch.parquet"
    assert main(["channels", str(MODEL), "--layer", L, "--n", "60", "--out", str(out), "--top", "3"]) == 0
    table = pd.read_parquet(out)
    assert tuple(table.columns) == RANKING_COLUMNS
    assert sorted(table["channel"]) == list(range(32)) and table["rank"].tolist() == list(range(1, 33))
    # the ranking half ordered them; ties broken by channel number
    assert (table["ranking_score"].diff().dropna() <= 0).all()
    assert table["score"].between(0, 1).all() and table["control_score"].between(0, 1).all()
    assert (tmp_path / "ch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rank  channel" in capsys.readouterr().out


def test_vfield_draws_an_edit_beside_the_original(tmp_path, capsys):
    from PIL import Image

    from mazeprobe.cli import main

    spec = tmp_path / "spec.yaml"
    spec.write_text(RUN_SPEC)
    png = tmp_path / "v.png"
    args = ["vfield", "--checkpoint", str(MODEL), "--level-seed", "3", "--png", str(png)]
    assert main([*args, "--edit", f"{spec}#cv"]) == 0
    assert "original | cv | difference; mean total variation" in capsys.readouterr().out
    three = Image.open(png).size
    assert main(args) == 0
    one = Image.open(png).size
    assert three[0] > 2.9 * one[0]
    assert main([*args, "--edit", f"{spec}#nothing"]) == 2
    assert "has no intervention 'nothing'" in capsys.readouterr().err


def test_a_spec_refused_for_its_edits_leaves_no_run_and_runs_once_fixed(tmp_path, capsys):
    from mazeprobe.cli import main

    shape = load_checkpoint(MODEL).activation_shapes()[L]
    nan = np.zeros(shape, np.float32)
    nan[0, 0, 0] = np.nan
    np.save(tmp_path / "t.npy", nan)
    text = f"""\
kind: experiment
name: fixed
policy: {{checkpoint: {MODEL}}}
mazes: {{n: 2, seed: 2, require_decision_square: true, exclude_cheese_top_right: 5}}
rollouts: {{per_maze: 1, max_steps: 16}}
record: {{vfield_tv: false}}
interventions:
  - {{id: add-zero, edit: add, layer: {L}, tensor: t.npy}}
  - {{id: clamp-corner, edit: clamp, layer: {L}, channels: [0], at: [SQUARE]}}
"""
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace("SQUARE", "30, 2"))
    runs = tmp_path / "runs"
    args = ["run", str(spec), "--out", str(runs), "--workers", "1", "--quiet"]
    # each refusal names the file, the key and the intervention, and leaves no run directory (nor its lock)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{spec}:8:" in err and "interventions[0].tensor: intervention add-zero: " in err
    assert "1 of its 8192 values are NaN" in err
    assert not runs.exists() or list(runs.iterdir()) == []
    np.save(tmp_path / "t.npy", np.zeros(shape, np.float32))  # a tensor of zeros
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{spec}:9:" in err and "interventions[1].at: intervention clamp-corner: square (30, 2)" in err
    assert not runs.exists() or list(runs.iterdir()) == []
    # fixed (a square inside every maze): a plain run, no --resume, finishes
    spec.write_text(text.replace("SQUARE", "0, 0"))
    assert main(args) == 0
    manifest = json.loads((runs / "fixed" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    iv = pd.read_parquet(runs / "fixed" / "interventions.parquet").set_index(["intervention", "seed"])
    # adding zeros changes nothing
    assert iv.loc["add-zero", "p_cheese_at_dsq"].tolist() == iv.loc["none", "p_cheese_at_dsq"].tolist()
