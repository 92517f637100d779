"""Reference agents, batched rollouts, decision-square probabilities, activations, specs and run dirs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mazeprobe.agents import make_policy
from mazeprobe.agents.impala import activation_shapes, random_impala, save_checkpoint
from mazeprobe.agents.network import NetworkPolicy
from mazeprobe.errors import UsageError
from mazeprobe.experiments.run import RunError, load_run, prepare_run, run_experiment
from mazeprobe.experiments.spec import load_spec
from mazeprobe.maze.geometry import WALL
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.sim import (
    Roller,
    RolloutSettings,
    maze_batch,
    path_positions,
    start_states,
)
from mazeprobe.yamlio import SpecError


@pytest.fixture(scope="module")
def roller():
    return Roller(32)


@pytest.fixture(scope="module")
def dsq_mazes(roller):
    table = sample_mazes(SampleSpec(n=60, seed=21, require_decision_square=True, exclude_cheese_top_right=5))
    return table, maze_batch(table), start_states(table, roller.loader)


def play(roller, policy, mazes, states, **kw):
    return roller.episodes(policy, mazes, states, RolloutSettings(**kw))


def test_cheese_agent_takes_the_shortest_path_every_time(roller, dsq_mazes):
    table, mazes, states = dsq_mazes
    ep = play(roller, make_policy("cheese"), mazes, states, per_maze=2)
    assert len(ep) == 120 and ep["got_cheese"].all() and not ep["timed_out"].any()
    steps = ep.groupby("seed")["steps"].first()
    expected = table.set_index("seed")["steps_between_mouse_cheese"].astype(int)
    assert (steps.sort_index().to_numpy() == expected.sort_index().to_numpy()).all()
    assert (ep["return"] == 10.0).all()


def test_top_right_agent_never_gets_cheese_off_its_path(roller, dsq_mazes):
    _, mazes, states = dsq_mazes
    ep = play(roller, make_policy("top-right"), mazes, states, max_steps=200)
    assert not ep["got_cheese"].any()
    assert ep["reached_top_right_square"].all() and ep["entered_top_right_5x5"].all()
    assert ep["timed_out"].all() and (ep["steps"] == 200).all() and (ep["return"] == 0).all()


def test_paths_are_legal_walks(roller, dsq_mazes):
    table, mazes, states = dsq_mazes
    ep = play(roller, make_policy("random"), mazes, states, max_steps=60)
    for e in ep.itertuples():
        i = int(np.flatnonzero(table["seed"].to_numpy() == e.seed)[0])
        n = int(mazes.sizes[i])
        cells = path_positions(e.path, n)
        assert len(cells) == e.steps + 1 and cells[0] == (0, 0)
        for (r0, c0), (r1, c1) in zip(cells, cells[1:], strict=False):
            assert abs(r1 - r0) + abs(c1 - c0) <= 1
            assert mazes.grids[i, r1, c1] != WALL


def test_sampled_episodes_repeat_and_depend_on_the_seed(roller, dsq_mazes):
    _, mazes, states = dsq_mazes
    agent = make_policy("noisy-cheese", {"p": 0.5})
    a = play(roller, agent, mazes, states, seed=1, max_steps=80)
    b = play(Roller(7), agent, mazes, states, seed=1, max_steps=80)  # other slot count, same episodes
    c = play(roller, agent, mazes, states, seed=2, max_steps=80)
    assert a.drop(columns="path").equals(b.drop(columns="path"))
    assert all(np.array_equal(x, y) for x, y in zip(a["path"], b["path"], strict=True))
    assert not a["steps"].equals(c["steps"])


def test_noisy_cheese_with_p_one_is_the_cheese_agent(roller, dsq_mazes):
    _, mazes, states = dsq_mazes
    a = play(roller, make_policy("noisy-cheese", {"p": 1.0}), mazes, states)
    b = play(roller, make_policy("cheese"), mazes, states)
    assert a["steps"].equals(b["steps"])


def test_shard_agent_follows_its_logistic_choice(roller):
    table = sample_mazes(SampleSpec(n=400, seed=5, require_decision_square=True, exclude_cheese_top_right=5))
    mazes, states = maze_batch(table), start_states(table, roller.loader)
    agent = make_policy(
        "shard", {"b0": 0.3, "coefficients": {"euc_dist_cheese_top_right": -1.5}}, table=table
    )
    p = agent.p_cheese(table)
    ep = play(roller, agent, mazes, states, max_steps=400)
    got = ep.set_index("seed").loc[table["seed"], "got_cheese"].to_numpy()
    # Binomial check: the cheese rate matches the mean choice probability within 4 standard errors
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(got.mean() - p.mean()) < 4 * se
    # and the farther the cheese from the top-right, the less often it is taken
    far = table["euc_dist_cheese_top_right"].to_numpy() > np.median(table["euc_dist_cheese_top_right"])
    assert got[far].mean() < got[~far].mean()
    dsq, _ = roller.decision_square_view(agent, mazes, states)
    np.testing.assert_allclose(dsq["p_cheese_at_dsq"], p)
    np.testing.assert_allclose(dsq["p_cheese_at_dsq"] + dsq["p_top_right_at_dsq"], 1.0)


def test_shard_params_are_checked():
    with pytest.raises(UsageError, match="unknown features"):
        make_policy("shard", {"coefficients": {"not_a_feature": 1.0}})
    with pytest.raises(UsageError, match="takes no parameter"):
        make_policy("cheese", {"p": 0.5})
    with pytest.raises(UsageError, match="in \\[0, 1\\]"):
        make_policy("noisy-cheese", {"p": 1.5})


def test_network_decision_square_probs_and_activations(roller, dsq_mazes, tmp_path):
    table, mazes, states = dsq_mazes
    path = save_checkpoint(random_impala(1, seed=3), tmp_path / "net.pth")
    policy = NetworkPolicy.from_checkpoint(str(path))
    layers = ["embedder.block2.res1.resadd_out", "fc_policy_out"]
    dsq, acts = roller.decision_square_view(policy, mazes, states, layers)
    total = dsq["p_cheese_at_dsq"] + dsq["p_top_right_at_dsq"]
    assert ((total > 0) & (total <= 1 + 1e-9)).all()
    shapes = activation_shapes(1)
    for name in layers:
        assert acts[name].shape == (len(table), *shapes[name])
    # the cheese-ward probability reads the pixels: moving the cheese changes it
    moved = []
    for state, row in zip(states, table.itertuples(), strict=True):
        grid = np.asarray(row.grid).reshape(row.maze_size, row.maze_size)
        spots = [
            (r, c)
            for r in range(row.maze_size)
            for c in range(row.maze_size)
            if grid[r, c] == 0 and (r, c) not in ((0, 0), (row.dsq_row, row.dsq_col))
        ]
        moved.append(state.with_cheese(*spots[-1]))
    probs_before = policy.action_probs(_dsq_obs(roller, states, table))
    probs_after = policy.action_probs(_dsq_obs(roller, moved, table))
    assert np.abs(probs_before - probs_after).max() > 1e-4


def _dsq_obs(roller, states, table):
    dsq = zip(table["dsq_row"].astype(int), table["dsq_col"].astype(int), strict=True)
    return roller.render([state.with_mouse(r, c) for state, (r, c) in zip(states, dsq, strict=True)])


SPEC = """\
name: {name}
policy:
  {policy}
mazes:
  n: 40
  seed: 2
  require_decision_square: true
  exclude_cheese_top_right: 5
rollouts: {{per_maze: 1, max_steps: 64, actions: {actions}, seed: 0, chunk_mazes: 15}}
record:
  decision_square_probs: true
{extra}
"""


def test_network_run_directory_end_to_end(tmp_path):
    ckpt = save_checkpoint(random_impala(1, seed=0), tmp_path / "net.pth")
    spec_file = tmp_path / "net.yaml"
    spec_file.write_text(
        SPEC.format(
            name="net",
            policy=f"checkpoint: {ckpt}",
            actions="argmax",
            extra="  activations: {layers: [embedder.block2.res1.resadd_out], "
            "at: decision_square, dtype: float16}",
        )
    )
    run_dir = run_experiment(load_spec(spec_file), tmp_path / "runs")
    frame = load_run(run_dir)
    assert len(frame) == 40 and frame["p_cheese_at_dsq"].notna().all()
    index = pq.read_table(run_dir / "activations" / "index.parquet").to_pandas()
    assert len(index) == 40 and set(index["seed"]) == set(frame["seed"])
    first = index.iloc[17]
    array = np.load(
        run_dir / "activations" / "embedder.block2.res1.resadd_out" / f"chunk-{first.chunk:05d}.npy"
    )
    assert array.dtype == np.float16 and array.shape[1:] == (32, 16, 16)
    # the index points back to the right maze: recompute that maze's activation directly
    roller = Roller(4)
    maze = pd.read_parquet(run_dir / "mazes.parquet")
    row = maze[maze["seed"] == first.seed]
    state = start_states(row.reset_index(drop=True), roller.loader)[0]
    obs = roller.render([state.with_mouse(int(row.dsq_row.iloc[0]), int(row.dsq_col.iloc[0]))])
    policy = NetworkPolicy.from_checkpoint(str(ckpt))
    _, cache = policy.action_probs_and_cache(obs, ["embedder.block2.res1.resadd_out"])
    np.testing.assert_allclose(
        array[first.row], cache["embedder.block2.res1.resadd_out"][0], atol=2e-2, rtol=1e-2
    )


def test_resuming_with_a_retrained_checkpoint_at_the_same_path_is_refused(tmp_path):
    ckpt = save_checkpoint(random_impala(1, seed=0), tmp_path / "net.pth")
    spec_file = tmp_path / "net.yaml"
    spec_file.write_text(SPEC.format(name="net", policy=f"checkpoint: {ckpt}", actions="argmax", extra=""))
    spec = load_spec(spec_file)
    run_dir = prepare_run(spec, tmp_path / "runs")
    assert prepare_run(spec, tmp_path / "runs", resume=True) == run_dir  # same bytes: resumes
    save_checkpoint(random_impala(1, seed=1), ckpt)  # retrained in place
    with pytest.raises(RunError, match="changed since this run started"):
        prepare_run(spec, tmp_path / "runs", resume=True)


@pytest.mark.parametrize(
    "policy, extra, message",
    [
        ("builtin: sharp", "", "policy.builtin: must be one of"),
        ("builtin: shard\n  checkpoint: x.pth", "", "give exactly one of builtin or checkpoint"),
        ("builtin: cheese", "  colour: red", "record.colour: unknown key"),
        (
            "builtin: cheese",
            "  activations: {layers: [embedder.block2.res1.resadd_out]}",
            "activations are recorded for checkpoint policies only",
        ),
        ("checkpoint: x.pth", "  activations: {layers: [embedder.block9.nope]}", "unknown activation"),
    ],
)
def test_invalid_specs_name_file_line_and_key(tmp_path, policy, extra, message):
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(SPEC.format(name="bad", policy=policy, actions="sample", extra=extra))
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    text = str(info.value)
    assert message in text and str(spec_file) in text
    assert text.split(":")[1].isdigit()  # file:LINE:col
    assert not (tmp_path / "runs").exists()


def test_spec_reports_every_problem_at_once(tmp_path):
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(
        "name: 'has space'\npolicy: {builtin: cheese}\nmazes: {n: 0, placement: corner}\n"
        "rollouts: {actions: greedy, max_steps: 900}\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    text = str(info.value)
    for part in ("name:", "mazes.n:", "rollouts.actions:", "rollouts.max_steps:"):
        assert part in text
    assert f"{spec_file}:4:" in text  # the rollouts problems are on line 4


def test_each_section_lists_the_keys_and_help_its_class_declares(tmp_path):
    """A section's allowed keys and their help are its class's settings (mazeprobe.settings), written
    once on the fields: a typo in each section lists them, a missing required key gives its help."""
    spec_file = tmp_path / "typos.yaml"
    spec_file.write_text(
        "name: t\nmazes: {sead: 1}\nrollouts: {per_mase: 2}\nrecord: {activations: {at: decision_square}}\n"
        "chanel_ranking: {}\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    assert [line.split(": ", 1)[1] for line in str(info.value).splitlines()] == [
        "chanel_ranking: unknown key (did you mean 'channel_ranking'?); allowed: kind, name, policy, mazes, "
        "rollouts, record, interventions, retargeting, channel_ranking",
        "missing required key 'policy' (builtin or checkpoint)",
        "mazes.sead: unknown key (did you mean 'seed'?); allowed: n, seed, placement, "
        "require_decision_square, exclude_cheese_top_right, sizes, start_level",
        "mazes: missing required key 'n' (number of mazes)",
        "rollouts.per_mase: unknown key (did you mean 'per_maze'?); allowed: per_maze, max_steps, actions, "
        "seed, chunk_mazes",
        "record.activations: missing required key 'layers' (activation names)",
    ]


@pytest.mark.parametrize(
    "name, params",
    [
        ("random", {}),
        ("noisy-cheese", {"p": 0.6}),
        (
            "shard",
            {"b0": 0.0, "coefficients": {"steps_between_cheese_decision_square": -1.0}, "epsilon": 0.1},
        ),
    ],
)
def test_grid_engine_plays_exactly_like_procgen(roller, dsq_mazes, name, params):
    table, mazes, states = dsq_mazes
    agent = make_policy(name, params, table=table)
    settings = RolloutSettings(per_maze=2, max_steps=120, seed=4)
    live = roller.episodes(agent, mazes, states, settings, engine="procgen")
    grid = roller.episodes(agent, mazes, None, settings, engine="grid")
    assert live.drop(columns="path").equals(grid.drop(columns="path"))
    assert all(np.array_equal(x, y) for x, y in zip(live["path"], grid["path"], strict=True))
    assert live["got_cheese"].any() and not live["got_cheese"].all()


def test_network_needs_the_procgen_engine(roller, dsq_mazes):
    _, mazes, states = dsq_mazes
    with pytest.raises(UsageError, match="reads pixels"):
        roller.episodes(NetworkPolicy(random_impala(1, 0)), mazes, states, RolloutSettings(), engine="grid")


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([9, 25], (9, 25)),
        ("9-25", (9, 25)),
        ([1, "a"], "mazes.sizes: must be [MIN, MAX] (two integers) or MIN-MAX; got [1, 'a']"),
        ([9.5, 25], "mazes.sizes: must be [MIN, MAX] (two integers) or MIN-MAX; got [9.5, 25]"),
    ],
)
def test_a_specs_sizes_are_two_integers_or_a_range_and_nothing_else_crashes(sizes, expected) -> None:
    from pathlib import Path

    from mazeprobe.experiments.spec import parse_spec
    from mazeprobe.yamlio import SpecError, YamlDoc

    data = {"name": "x", "policy": {"builtin": "shard"}, "mazes": {"n": 5, "sizes": sizes}}
    doc = YamlDoc(path=Path("s.yaml"), data=data)
    if isinstance(expected, tuple):
        assert parse_spec(doc).mazes.sizes == expected
    else:
        with pytest.raises(SpecError) as info:  # a TypeError traceback before
            parse_spec(doc)
        assert str(info.value) == f"s.yaml:1:1: {expected}"
