"""Model editing, round 2, with known answers: clamps that write each channel's own cheese sign, or K times
a real cheese's response, over a neighbourhood of cells; the cheese moved onto the target inside the
network (cheese-at-target), alone and on two layers; and the hashes of the registered families, which the
new settings must leave as they were."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mazeprobe.agents.channels import RANKING_COLUMNS, rank_channels, ranking_record
from mazeprobe.agents.edits import (
    Channels,
    CheeseAtTarget,
    CheeseResponse,
    Clamp,
    edit_from_spec,
    network_size,
    prepare_edits,
    ranking_key,
)
from mazeprobe.agents.impala import load_checkpoint, obs_to_tensor
from mazeprobe.maze.procgen import WALL, map_position, to_world
from mazeprobe.maze.sampling import SampleSpec, row_grid, sample_mazes
from mazeprobe.sim import Roller, start_states
from mazeprobe.yamlio import SpecError

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "reference-r5.pth"
L = "embedder.block2.res1.resadd_out"
L2 = "embedder.block2.res2.resadd_out"


@pytest.fixture(scope="module")
def net():
    return load_checkpoint(MODEL).eval()


@pytest.fixture(scope="module")
def roller():
    return Roller(16)


@pytest.fixture(scope="module")
def mazes():
    return sample_mazes(SampleSpec(n=4, seed=11, require_decision_square=True, exclude_cheese_top_right=5))


def _cell(row: int, col: int, size: int, side: int = 16) -> tuple[int, int]:
    """The map cell holding a maze square, from procgen's world coordinates (row 0 at the bottom)."""
    h, w = map_position(*to_world(np.array([row]), np.array([col]), np.array([size])), side)
    return int(h[0]), int(w[0])


def _with_targets(mazes: pd.DataFrame, squares: list[tuple[int, int]]) -> pd.DataFrame:
    table = mazes.iloc[: len(squares)].reset_index(drop=True).copy()
    table["target_row"] = [r for r, _ in squares]
    table["target_col"] = [c for _, c in squares]
    return table


def _open_square(row: pd.Series) -> tuple[int, int]:
    """The last open square of a maze (row-major) other than the mouse's start and the cheese's."""
    grid = row_grid(row)
    n = int(row["maze_size"])
    taken = ((int(row["mouse_row"]), int(row["mouse_col"])), (int(row["cheese_row"]), int(row["cheese_col"])))
    return next((r, c) for r in range(n - 1, -1, -1) for c in range(n - 1, -1, -1)
                if grid[r, c] != WALL and (r, c) not in taken)  # fmt: skip


# --- clamp: sign: ranking --------------------------------------------------------------------------


def test_sign_ranking_writes_each_channels_cheese_sign_and_none_writes_the_value(net, mazes, roller):
    a, b = 23, 5  # a hand-made ranking: A marks the cheese high, B low
    rest = [ch for ch in range(32) if ch not in (a, b)]
    rankings = {
        L: {
            "cheese-channels": [a, b, *rest],
            ranking_key("cheese-channels", "sign"): [1, -1, *[1] * len(rest)],
            ranking_key("cheese-channels", "cheese_response"): [0.0] * 32,
        }
    }
    maze = mazes.iloc[:2]
    square = (2, 3)
    top2 = Channels(ranking="cheese-channels", top=2)
    signed = prepare_edits(Clamp(L, top2, value=2.0, at=square, sign="ranking"), net, maze, roller, rankings)
    plain = prepare_edits(Clamp(L, top2, value=2.0, at=square), net, maze, roller, rankings)
    for m, size in enumerate(maze["maze_size"]):
        h, w = _cell(*square, int(size))
        for prepared, want_b in ((signed, -2.0), (plain, 2.0)):
            patch = prepared.patches[0]
            assert torch.nonzero(patch.mask[m]).tolist() == sorted([[a, h, w], [b, h, w]])
            assert patch.value[m, a, h, w].item() == 2.0 and patch.value[m, b, h, w].item() == want_b
    assert signed.patches[0].info["sign"] == [1.0, -1.0]
    # and a forward pass with the edit reads those values there, and its own activations elsewhere
    x = obs_to_tensor(roller.render(start_states(maze.iloc[:1], roller.loader)))
    with torch.no_grad():
        act = net.forward_to(x, L)
        edited = signed.apply(L, act, None)
    h, w = _cell(*square, int(maze["maze_size"].iloc[0]))
    assert edited[0, a, h, w].item() == 2.0 and edited[0, b, h, w].item() == -2.0
    changed = (edited != act).nonzero().tolist()
    assert {tuple(i[1:]) for i in changed} <= {(a, h, w), (b, h, w)}


# --- clamp: value {times_cheese_response: K} ---------------------------------------------------------


def test_times_cheese_response_writes_k_times_the_mean_activation_at_real_cheeses(net, mazes, roller):
    n, seed = 8, 3
    table = rank_channels(net, L, n=n, seed=seed, renderer=roller)
    assert tuple(table.columns) == RANKING_COLUMNS
    rankings = {L: ranking_record(table)}
    # independently: the ranking's mazes, their start observations, the activation at the cheese's cell
    ranked_mazes = sample_mazes(SampleSpec(n=n, seed=seed))
    x = obs_to_tensor(roller.render(start_states(ranked_mazes, roller.loader)))
    with torch.no_grad():
        maps = net.forward_to(x, L).double()
    at_cheese = torch.stack(
        [
            maps[i, :, h, w]
            for i, r in enumerate(ranked_mazes.itertuples())
            for h, w in [_cell(r.cheese_row, r.cheese_col, r.maze_size)]
        ]
    )
    response = at_cheese.mean(0).numpy()
    by_channel = table.set_index("channel")["cheese_response"].sort_index()
    np.testing.assert_allclose(by_channel.to_numpy(), response, rtol=1e-5)

    top3 = Channels(ranking="cheese-channels", top=3)
    edit = Clamp(L, top3, value=CheeseResponse(2), at=(1, 1))
    maze = mazes.iloc[:1]
    patch = prepare_edits(edit, net, maze, roller, rankings).patches[0]
    h, w = _cell(1, 1, int(maze["maze_size"].iloc[0]))
    channels = [int(c) for c in table.sort_values("rank")["channel"][:3]]
    for ch in channels:
        assert patch.value[0, ch, h, w].item() == pytest.approx(2 * response[ch], rel=1e-5)
    assert int(patch.mask.sum()) == 3
    assert patch.info["channels"] == channels
    np.testing.assert_allclose(patch.info["cheese_response"], response[channels], rtol=1e-5)
    # a plain list reads the same responses (by channel), with K's sign
    listed = Clamp(L, Channels((channels[1],)), value=CheeseResponse(-0.5), at=(1, 1))
    value = prepare_edits(listed, net, maze, roller, rankings).patches[0].value[0, channels[1], h, w].item()
    assert value == pytest.approx(-0.5 * response[channels[1]], rel=1e-5)


# --- clamp: radius ---------------------------------------------------------------------------------


def test_radius_one_sets_the_three_by_three_cells_around_the_target_clipped_at_the_border(net, roller):
    big = sample_mazes(SampleSpec(n=40, seed=5))
    big = big[big["maze_size"] == 25].iloc[:1]  # its square (0, 0) is the world's bottom-left corner
    n = 25
    corner, middle = (0, 0), (n // 2, n // 2)
    contexts = _with_targets(pd.concat([big, big]), [corner, middle])
    channels = (1, 2)
    prepared = prepare_edits(Clamp(L, Channels(channels), value=3.0, radius=1), net, contexts, roller)
    mask = prepared.patches[0].mask
    c, side, _ = net.activation_shapes()[L]
    for m, square in enumerate((corner, middle)):
        h, w = _cell(*square, n)
        want = {
            (ch, i, j)
            for ch in channels
            for i in range(side)
            for j in range(side)
            if max(abs(i - h), abs(j - w)) <= 1
        }
        assert {tuple(t) for t in torch.nonzero(mask[m]).tolist()} == want
        assert (prepared.patches[0].value[m][mask[m]] == 3.0).all()
    # the corner cell keeps 2 x 2 of its 3 x 3 cells on the map
    counts = prepared.edited_counts()
    assert _cell(*corner, n) == (side - 1, 0) and counts.tolist() == [2 * 4, 2 * 9]
    layer_fraction, network_fraction = prepared.edited_fractions()
    np.testing.assert_allclose(layer_fraction, counts / (c * side * side))
    np.testing.assert_allclose(network_fraction, counts / network_size(net))


# --- cheese-at-target ------------------------------------------------------------------------------


def test_cheese_at_target_writes_the_layer_of_the_maze_with_the_cheese_on_the_target(net, mazes, roller):
    maze = mazes.iloc[:2].reset_index(drop=True)
    squares = [_open_square(maze.iloc[i]) for i in range(2)]
    contexts = _with_targets(maze, squares)
    states = start_states(maze, roller.loader)
    moved = [s.with_cheese(r, c) for s, (r, c) in zip(states, squares, strict=True)]
    x, x_moved = (obs_to_tensor(roller.render(s)) for s in (states, moved))
    prepared = prepare_edits(CheeseAtTarget(L), net, contexts, roller)
    with torch.no_grad():
        edited = prepared.apply(L, net.forward_to(x, L), np.arange(2))
        want = net.forward_to(x_moved, L)
    np.testing.assert_allclose(edited.numpy(), want.numpy(), atol=1e-5)
    assert not torch.allclose(net.forward_to(x, L), want, atol=1e-3)  # moving the cheese is a change
    size = int(np.prod(net.activation_shapes()[L]))
    assert prepared.edited_counts().tolist() == [size, size]
    layer_fraction, network_fraction = prepared.edited_fractions()
    assert layer_fraction.tolist() == [1.0, 1.0]
    np.testing.assert_allclose(network_fraction, size / network_size(net))

    # on two layers at once (composed edits): the rest of the network sees the moved cheese
    both = prepare_edits([CheeseAtTarget(L), CheeseAtTarget(L2)], net, contexts, roller)
    with torch.no_grad(), net.hooks(both.hooks(np.arange(2))):
        logits = net(x)[0]
    with torch.no_grad():
        want_logits = net(x_moved)[0]
    np.testing.assert_allclose(logits.numpy(), want_logits.numpy(), atol=1e-4)
    size2 = int(np.prod(net.activation_shapes()[L2]))
    assert both.edited_counts().tolist() == [size + size2] * 2
    assert both.edited_fractions()[0].tolist() == [1.0, 1.0]

    # some channels within a radius: those channels' cells around the target only
    some = prepare_edits(CheeseAtTarget(L, Channels((4, 9)), radius=0), net, contexts, roller)
    assert some.edited_counts().tolist() == [2, 2]
    h, w = _cell(*squares[0], int(maze["maze_size"].iloc[0]))
    assert torch.nonzero(some.patches[0].mask[0]).tolist() == [[4, h, w], [9, h, w]]
    np.testing.assert_allclose(some.patches[0].value[0, 4, h, w].item(), want[0, 4, h, w].item(), atol=1e-5)


# --- specs: round trips, checks, hashes ------------------------------------------------------------


def test_new_settings_round_trip_and_defaults_leave_the_spec_entry_as_it_was():
    edits = [
        Clamp(L, Channels(ranking="cheese-channels", top=7), value=CheeseResponse(2.0), radius=1),
        Clamp(L, Channels(ranking="cheese-channels", top=7), value=2.3, sign="ranking", at=(2, 4)),
        CheeseAtTarget(L),
        CheeseAtTarget(L2, Channels((1, 2)), at=(3, 3), radius=2),
    ]
    for edit in edits:
        assert edit_from_spec(json.loads(json.dumps(edit.to_spec()))) == edit
    assert set(Clamp(L, Channels((1,)), value=5.5).to_spec()) == {
        "edit", "layer", "channels", "value", "at", "background"
    }  # fmt: skip
    assert edits[0].to_spec()["value"] == {"times_cheese_response": 2.0}
    assert CheeseAtTarget(L).to_spec() == {"edit": "cheese-at-target", "layer": L, "at": "target"}


# spec and family hashes of the registered families, computed with the code before round 2
HASHES = {
    "model-editing": (
        "7f8316eb4a8038e8b768b3b9d33fcd2ff7776ad0bf8371d285afb603c5682e2c",
        "13634d2972f49aa224d49de85a2e2cfbff5d70cf561ccb0a127411a846a27a18",
    ),
    "retargeting": (
        "4f54b0714ff8a9659f285e74c27a2561e48a8b4e9ccd0cdfcb4cb1b76a1e8bac",
        "6a3d3fa1d66c8b875169552d2304c0cd2e0b7afcf9796e0152aa067dc04401d0",
    ),
}


@pytest.mark.parametrize("name", sorted(HASHES))
def test_registered_families_keep_their_hashes(name):
    from mazeprobe.experiments.intervention_spec import family_hash
    from mazeprobe.experiments.spec import load_spec

    spec = load_spec(REPO / "analysis" / f"{name}.yaml")
    assert (spec.hash, family_hash(spec.to_dict())) == HASHES[name]


SPEC = f"""\
kind: experiment
name: aimed
policy: {{checkpoint: {MODEL}}}
mazes: {{n: 2, seed: 2, require_decision_square: true, exclude_cheese_top_right: 5}}
rollouts: {{per_maze: 1, max_steps: 16}}
record: {{vfield_tv: false}}
interventions:
  - {{id: bad, edit: clamp, layer: {L}, at: [0, 0], EDIT}}
"""
BAD = {
    # the edit's settings -> the key and what the one line says
    "channels: [0], radius: -1": ("radius", "must be an integer >= 0"),
    "channels: [0], radius: 1.5": ("radius", "must be an integer >= 0"),
    "channels: [0], value: {times_cheese_response: 0}": ("value", "a finite number other than 0"),
    "channels: [0], value: {times_cheese_response: .nan}": ("value", "a finite number other than 0"),
    "channels: [0], value: {times_cheese_response: two}": ("value", "other than 0; got 'two'"),
    "channels: [0], sign: up": ("sign", "must be one of none, ranking; got 'up'"),
    "channels: [0], sign: ranking": ("sign", "a ranked channel set"),
    "channels: {ranking: cheese-channels, top: 2}, sign: ranking, value: {times_cheese_response: 2}": (
        "sign", "carries each channel's own sign"
    ),
}  # fmt: skip


@pytest.mark.parametrize("settings", list(BAD))
def test_bad_new_settings_are_refused_in_one_line_naming_file_line_and_key(settings, tmp_path):
    from mazeprobe.experiments.spec import load_spec

    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("EDIT", settings))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    key, why = BAD[settings]
    lines = str(err.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:8:") and f"interventions[0].{key}: " in lines[0] and why in lines[0]


def test_check_fit_refuses_new_settings_of_edits_made_without_a_spec(mazes):
    from mazeprobe.experiments.intervention_spec import InterventionSpec, check_fit

    shapes = load_checkpoint(MODEL).activation_shapes()
    bad = (
        Clamp(L, Channels((0,)), at=(0, 0), sign="ranking"),
        Clamp(L, Channels((0,)), at=(0, 0), radius=-2),
        Clamp(L, Channels((0,)), at=(0, 0), value=CheeseResponse(float("inf"))),
        CheeseAtTarget("embedder.fc_out", radius=1),
        CheeseAtTarget(L, at=(1, 1)),  # a wall in every maze (odd squares of the lattice)
    )
    with pytest.raises(SpecError) as err:
        check_fit((InterventionSpec("x", bad),), shapes, mazes)
    lines = str(err.value).splitlines()
    assert len(lines) == 5
    assert "intervention x: sign: ranking takes each channel's sign" in lines[0]
    assert "intervention x: radius: must be an integer >= 0" in lines[1]
    assert "intervention x: value: times_cheese_response must be a finite number" in lines[2]
    assert "intervention x: radius: cells within a radius need a map" in lines[3]
    assert "intervention x: at: the cheese cannot go on square (1, 1): it is a wall" in lines[4]


# --- a run: the ranking's responses recorded, every new edit measured while retargeting -----------------

RUN_SPEC = f"""\
kind: experiment
name: aimed-run
policy: {{checkpoint: {MODEL}}}
mazes: {{n: 2, seed: 2, require_decision_square: true, exclude_cheese_top_right: 5}}
rollouts: {{per_maze: 1, max_steps: 16, chunk_mazes: 2}}
record: {{decision_square_probs: false, vfield_tv: false}}
channel_ranking: {{n: 8, seed: 0}}
retargeting: {{targets_per_maze: 2, rollouts_per_target: 1, seed: 0}}
interventions:
  - {{id: k2-r1, edit: clamp, layer: {L}, channels: {{ranking: cheese-channels, top: 3}},
     value: {{times_cheese_response: 2}}, radius: 1, at: target}}
  - {{id: signed, edit: clamp, layer: {L}, channels: {{ranking: cheese-channels, top: 3}}, value: 2,
     sign: ranking, at: target}}
  - id: cheese-here
    edits: [{{edit: cheese-at-target, layer: {L}}}, {{edit: cheese-at-target, layer: {L2}}}]
"""


def test_a_run_records_the_cheese_responses_and_measures_the_new_edits_at_each_target(tmp_path):
    from mazeprobe.experiments.run import run_experiment
    from mazeprobe.experiments.rundir import RunDir
    from mazeprobe.experiments.spec import load_spec

    (tmp_path / "spec.yaml").write_text(RUN_SPEC)
    run = RunDir(run_experiment(load_spec(tmp_path / "spec.yaml"), tmp_path / "runs", workers=1))
    table = pd.read_parquet(run.channels_path(L))
    assert tuple(table.columns) == RANKING_COLUMNS
    record = json.loads(run.manifest_path.read_text())["rankings"][L]
    assert record == ranking_record(table)
    assert set(record) == {"cheese-channels", "cheese-channels:sign", "cheese-channels:cheese_response"}
    iv = run.interventions().set_index(["intervention", "seed"])
    size, size2 = (int(np.prod(load_checkpoint(MODEL).activation_shapes()[x])) for x in (L, L2))
    assert (iv.loc["cheese-here", "edited_activations"] == size + size2).all()
    assert iv.loc["k2-r1", "edited_activations"].between(3 * 4, 3 * 9).all()
    assert (iv.loc["signed", "edited_activations"] == 3).all()
    rt = run.retargeting()
    per = rt.groupby("intervention")["path_probability"].count()
    assert per["k2-r1"] == per["signed"] == per["cheese-here"] == per["none"] == 4
    assert rt["path_probability"].between(0, 1).all()


def test_a_clamp_at_cheese_writes_at_each_maze_s_own_cheese_cell(net, mazes, roller):
    """`at: cheese`: the edit of what the cheese itself writes (patch-reduce families, no targets)."""
    maze = mazes.iloc[:3].reset_index(drop=True)
    prepared = prepare_edits(Clamp(L, Channels((4, 7)), value=-1.5, at="cheese"), net, maze, roller)
    patch = prepared.patches[0]
    for m, row in maze.iterrows():
        h, w = _cell(int(row["cheese_row"]), int(row["cheese_col"]), int(row["maze_size"]))
        assert torch.nonzero(patch.mask[m]).tolist() == [[4, h, w], [7, h, w]]
        assert patch.value[m, 4, h, w].item() == -1.5
    entry = {"edit": "clamp", "layer": L, "channels": [4, 7], "value": -1.5, "at": "cheese"}
    assert edit_from_spec(entry) == Clamp(L, Channels((4, 7)), value=-1.5, at="cheese")


def test_a_no_cheese_clamp_writes_each_channel_s_value_without_the_cheese(net, mazes, roller):
    """value: no-cheese, over every cell: the layer reads exactly what the same maze without cheese gives
    (a sign-aware clamp to the no-cheese value, whatever each channel's sign)."""
    maze = mazes.iloc[:2].reset_index(drop=True)
    everything = Channels(tuple(range(32)))
    clamp = Clamp(L, everything, value="no-cheese", at="cheese", radius=16)
    prepared = prepare_edits(clamp, net, maze, roller)
    states = start_states(maze, roller.loader)
    with torch.no_grad():
        x = obs_to_tensor(roller.render(states))
        without = net.forward_to(obs_to_tensor(roller.render([s.without_cheese() for s in states])), L)
        edited = prepared.apply(L, net.forward_to(x, L), [0, 1])  # row i in context i
    assert torch.allclose(edited, without, atol=1e-5)
    near = prepare_edits(Clamp(L, Channels((3,)), value="no-cheese", at="cheese", radius=1), net, maze,
                         roller)  # fmt: skip
    assert int(near.patches[0].mask[0].sum()) <= 9
    assert edit_from_spec({"edit": "clamp", "layer": L, "channels": [3], "value": "no-cheese",
                           "at": "cheese", "radius": 1}).value == "no-cheese"  # fmt: skip
