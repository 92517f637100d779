"""Training the reference network: a short run end to end, resume, config errors, and the labels it learns
from (the expert's moves, and where each square sits in the observation)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mazeprobe.agents.impala import load_checkpoint
from mazeprobe.cli import main
from mazeprobe.errors import UsageError
from mazeprobe.maze.geometry import distance_maps
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.settings import keys_help
from mazeprobe.sim import Roller, start_states
from mazeprobe.training.collect import WORLD, expert_field, world_index
from mazeprobe.training.config import TrainConfig
from mazeprobe.training.trainer import _cell_index, load_config, train
from mazeprobe.yamlio import SpecError

TINY = """\
samples: 512
batch_size: 64
envs: 8
collect_steps: 8
scattered: 32
reuse: 0.667
buffer: 1024
beta_samples: 256
eval_every: 256
eval_mazes: 4
max_steps: 32
"""


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_a_short_training_run_writes_a_checkpoint_that_loads(tmp_path, tiny_config, capsys):
    out = tmp_path / "models" / "tiny.pth"
    out.parent.mkdir()
    assert main(["train", "--config", str(tiny_config), "--out", str(out), "--quiet"]) == 0
    assert "finished at 512 samples" in capsys.readouterr().out
    model = load_checkpoint(out)  # the published format, loaded with weights_only=True
    assert model.embedder.block1.conv.out_channels == 16
    record = json.loads(out.with_suffix(".train.json").read_text())
    assert record["samples"] == 512 and record["finished"] is True
    assert [h["samples"] for h in record["history"]] == [256, 512]
    assert all(0.0 <= h["heldout_success"] <= 1.0 for h in record["history"])
    # each phase: 8 slots x 8 steps played + 32 scattered = 96 fresh states, one update of 64
    assert record["states_collected"] == 512 // 64 * 96


def test_training_stops_resumably_and_resumes_where_it_stopped(tmp_path, tiny_config):
    config = load_config(tiny_config)
    out = tmp_path / "m.pth"
    first = train(config, out, max_minutes=0.0)  # stops at the first evaluation point
    assert (first.samples, first.finished) == (256, False)
    weights_after_first = load_checkpoint(out).state_dict()
    with pytest.raises(UsageError, match="--resume"):
        train(config, out)  # would silently start over
    second = train(config, out, resume=True)
    assert (second.samples, second.finished) == (512, True)
    assert [h["samples"] for h in second.history] == [256, 512]
    changed = load_checkpoint(out).state_dict()
    assert any(not np.array_equal(changed[k], weights_after_first[k]) for k in changed)
    with pytest.raises(UsageError, match="differs"):
        train(replace(config, lr=0.1), out, resume=True)
    third = train(replace(config, samples=640), out, resume=True)  # extending a finished run
    assert (third.samples, third.finished) == (640, True)
    record = json.loads(out.with_suffix(".train.json").read_text())
    assert record["extended"] == [{"at_samples": 512, "from": 512, "to": 640}]


def test_config_errors_name_file_line_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("samples: 100\nbatch_sise: 64\ngamma: 2.0\nplacement: region:0\n")
    with pytest.raises(SpecError) as e:
        load_config(path)
    text = str(e.value)
    assert f"{path}:2:1: batch_sise: unknown key (did you mean 'batch_size'?)" in text
    assert f"{path}:3:1: gamma: must be in (0, 1]; got 2.0" in text
    assert f"{path}:4:1: placement: unknown placement 'region:0'" in text


def test_config_bounds_are_closed_where_the_value_is_allowed_and_buffer_defaults_are_checked(tmp_path):
    path = tmp_path / "edges.yaml"
    path.write_text("gamma: 1\nbeta_start: 0\nbeta_end: 1\nvalue_coef: 0\ncell_coef: 0\nlr: 1\n")
    config = load_config(path)  # no buffer given: the default buffer (60000) holds a default batch
    assert (config.gamma, config.beta_start, config.beta_end, config.value_coef, config.lr) == (1, 0, 1, 0, 1)
    assert isinstance(config.lr, float) and config.buffer == TrainConfig.buffer
    path.write_text("gamma: 1.000001\nbeta_end: -0.000001\ncell_coef: -0.000001\nlr: 0\n")
    with pytest.raises(SpecError) as e:
        load_config(path)
    assert str(e.value).split("\n") == [
        f"{path}:4:1: lr: must be a positive number; got 0",
        f"{path}:2:1: beta_end: must be in [0, 1]; got -1e-06",
        f"{path}:1:1: gamma: must be in (0, 1]; got 1.000001",
        f"{path}:3:1: cell_coef: must be a non-negative number; got -1e-06",
    ]
    path.write_text("")
    with pytest.raises(SpecError, match=r"edges.yaml:1:1: must be a mapping with keys kind, scale, seed, "):
        load_config(path)
    path.write_text("batch_size: 100000\n")
    with pytest.raises(SpecError, match=r"edges.yaml:1:1: buffer: must be at least batch_size"):
        load_config(path)
    assert keys_help(TrainConfig)["reuse"].startswith("each fresh state is trained on about")


@pytest.fixture(scope="module")
def mazes():
    table = sample_mazes(SampleSpec(n=24, seed=5, placement="region:5", sizes=(9, 25)))
    roller = Roller(24)
    return table, roller, roller.render(start_states(table, roller.loader))


def test_following_the_expert_field_reaches_the_cheese_in_the_shortest_number_of_steps(mazes):
    table = mazes[0]
    deltas = {0: (1, 0), 1: (-1, 0), 2: (0, -1), 3: (0, 1)}
    for row in table.itertuples():
        n = row.maze_size
        grid = np.ones((1, 25, 25), dtype=np.int8)
        grid[0, :n, :n] = np.asarray(row.grid, dtype=np.int8).reshape(n, n)
        cheese = np.array([[row.cheese_row, row.cheese_col]])
        dist = distance_maps(grid, np.array([n]), cheese)[0]
        field = expert_field(dist, n)
        margin = (WORLD - n) // 2
        r, c, steps = row.mouse_row, row.mouse_col, 0
        while (r, c) != (row.cheese_row, row.cheese_col):
            dr, dc = deltas[int(field[r + margin, c + margin])]
            r, c, steps = r + dr, c + dc, steps + 1
            assert grid[0, r, c] != 1, "the field walked into a wall"
        assert steps == dist[row.mouse_row, row.mouse_col]
        start = world_index(np.array([[row.mouse_row, row.mouse_col]]), np.array([n]))[0]
        assert field.ravel()[start] == field[row.mouse_row + margin, row.mouse_col + margin]
        assert field[row.cheese_row + margin, row.cheese_col + margin] == -1
        inside = np.zeros((WORLD, WORLD), dtype=bool)
        inside[margin : margin + n, margin : margin + n] = True
        assert (field[~inside] == -1).all()
        assert (field[inside][grid[0, :n, :n].ravel() == 1] == -1).all()  # walls have no move


def test_cell_index_finds_each_square_in_the_observation(mazes):
    """The pixel under each square's centre (the cell head's read-out) separates walls from floor; the
    same read-out shifted by one square does not."""
    table, _, obs = mazes

    def separation(shift: int) -> float:
        rows, cols = _cell_index(64)
        rows, cols = np.clip(rows.numpy() - shift, 0, 63), np.clip(cols.numpy() + shift, 0, 63)
        scores = []
        for i, row in enumerate(table.itertuples()):
            n = row.maze_size
            margin = (WORLD - n) // 2
            wall = np.asarray(row.grid).reshape(n, n) == 1
            colours = obs[i][rows[:, None], cols[None, :]].astype(float)
            colours = colours[margin : margin + n, margin : margin + n]
            mean_wall, mean_floor = colours[wall].mean(0), colours[~wall].mean(0)
            to_wall = np.linalg.norm(colours - mean_wall, axis=-1)
            nearer_wall = to_wall < np.linalg.norm(colours - mean_floor, axis=-1)
            scores.append((nearer_wall == wall).mean())
        return float(np.mean(scores))

    assert separation(0) > 0.95
    assert separation(1) < 0.85


def test_collector_processes_feed_the_trainer(tmp_path, tiny_config):
    """workers: 2 runs the collectors in two real processes (shared memory, published weights); the run
    counts the same states and updates as in-process collection and writes a checkpoint that loads."""
    config = replace(load_config(tiny_config), workers=2)
    out = tmp_path / "pooled.pth"
    result = train(config, out)
    assert (result.samples, result.finished) == (512, True)
    record = json.loads(out.with_suffix(".train.json").read_text())
    assert record["states_collected"] == 512 // 64 * 96
    assert record["config"]["workers"] == 2
    state = torch.load(out.with_name(out.name + ".train"), weights_only=True)
    # worker w plays stream chunks w, w + 2, ...: the saved next chunk is past every chunk used
    assert state["counters"]["chunk"] >= 2
    assert load_checkpoint(out).embedder.block1.conv.out_channels == 16


def test_fine_tuning_starts_from_a_checkpoint_and_records_its_budget(tmp_path, tiny_config):
    from mazeprobe.agents.impala import random_impala, save_checkpoint
    from mazeprobe.provenance import file_sha256

    base = tmp_path / "base.pth"
    save_checkpoint(random_impala(1, 123), base)
    (tmp_path / "base.train.json").write_text(json.dumps({"samples": 6400}))
    # a learning rate too small to move the weights: the fine-tuned network must still be the base one
    config = replace(
        load_config(tiny_config), samples=64, eval_every=64, lr=1e-20, lr_end=1e-20, cell_coef=0.0
    )
    out = tmp_path / "tuned.pth"
    train(config, out, init=base)
    record = json.loads(out.with_suffix(".train.json").read_text())
    assert record["init"] == {
        "checkpoint": str(base),
        "sha256": file_sha256(base),
        "original_samples": 6400,
        "budget_fraction": 0.01,
    }
    tuned, original = load_checkpoint(out).state_dict(), load_checkpoint(base).state_dict()
    assert all(torch.allclose(tuned[k], original[k], atol=1e-12) for k in original)
    with pytest.raises(UsageError, match="resume it with the same --init"):
        train(replace(config, samples=128), out, resume=True)
    other = tmp_path / "wide.pth"
    save_checkpoint(random_impala(2, 0), other)
    with pytest.raises(UsageError, match="scale-2 network; the config trains scale 1"):
        train(config, tmp_path / "x.pth", init=other)


def test_evaluate_plays_uniform_mazes_and_older_evaluations_still_resolve(tmp_path):
    from mazeprobe.agents.impala import random_impala, save_checkpoint
    from mazeprobe.registry.resolution.evidence import _checkpoint_source
    from mazeprobe.registry.rules.editing import CHECKPOINT
    from mazeprobe.registry.rules.fitted import evaluate as resolve_rule
    from mazeprobe.training import EVAL_SEED, evaluate, suites, write_card

    specs = {f"{s.name}/{s.actions}": s.spec for s in suites(7)}
    assert list(specs) == [f"{name}/{actions}" for name in ("train-dist", "test", "uniform")
                           for actions in ("sample", "argmax")]  # fmt: skip
    # the older suites keep their mazes (their seeds); the uniform one: its own, as many, no filter
    assert (specs["train-dist/sample"].seed, specs["test/sample"].seed) == (EVAL_SEED, EVAL_SEED + 1)
    uniform = specs["uniform/sample"]
    assert (uniform.placement, uniform.n, uniform.seed) == ("uniform", specs["test/sample"].n, EVAL_SEED + 2)
    assert not uniform.require_decision_square and uniform.exclude_cheese_top_right is None
    models = tmp_path / "models"
    models.mkdir()
    checkpoint = save_checkpoint(random_impala(1, seed=4), models / "ft.pth")
    result = evaluate(checkpoint, n=7, max_steps=12)
    played = result["suites"]["uniform/sample"]
    assert (played["placement"], played["filter"], played["episodes"]) == ("uniform", "none", 7)
    assert result["suites"]["uniform/argmax"]["episodes"] == result["suites"]["test/sample"]["episodes"] == 7
    assert "| uniform | sample | `uniform` | none |" in write_card(checkpoint, result).read_text()
    record = {"samples": 64, "finished": True, "init": {"checkpoint": "base.pth", "budget_fraction": 0.05}}
    (models / "ft.train.json").write_text(json.dumps(record))  # as a fine-tune's record
    key = CHECKPOINT + "models/ft.pth"
    read = _checkpoint_source(key, tmp_path).value
    assert "error" not in read and read["uniform"] == played
    assert read["test"] == result["suites"]["test/sample"]
    res = {"method": "auto", "rule": "fine-tune", "checkpoint": "models/ft.pth", "budget": 0.1,
           "threshold": 0.9, "margin": 0.05, "relative_to": "uniform"}  # fmt: skip
    assert resolve_rule(res, {key: read}).numbers["uniform_episodes"] == 7
    # an evaluation written before the uniform suite: still read, and only relative_to needs what it lacks
    older = json.loads((models / "ft.evaluation.json").read_text())
    for name in ("uniform/sample", "uniform/argmax"):
        del older["suites"][name]
    (models / "ft.evaluation.json").write_text(json.dumps(older))
    read = _checkpoint_source(key, tmp_path).value
    assert "error" not in read and read["uniform"] is None
    plain = {k: v for k, v in res.items() if k != "relative_to"}
    assert "uniform" not in resolve_rule(plain, {key: read}).evidence
    missing = resolve_rule(res, {key: read})
    assert missing.outcome == "unresolved"
    assert "models/ft.evaluation.json has no uniform/sample suite" in missing.reason
