"""Sampling: level seeds match fresh procgen envs, filters hold, results do not depend on workers,
and the Parquet data contract round-trips."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mazeprobe.errors import UsageError
from mazeprobe.maze.env import get_states, make_env
from mazeprobe.maze.features import REGISTRY
from mazeprobe.maze.sampling import SampleSpec, read_mazes, sample_mazes, write_mazes
from mazeprobe.maze.state import MazeState


@pytest.fixture(scope="module")
def filtered():
    spec = SampleSpec(n=300, seed=3, require_decision_square=True, exclude_cheese_top_right=5)
    return spec, sample_mazes(spec)


def test_seed_column_is_the_procgen_level_seed(filtered):
    _, frame = filtered
    for i in (0, 1, 57, 299):
        row = frame.iloc[i]
        env = make_env(1, start_level=int(row["seed"]), num_levels=1)
        fresh = MazeState.from_bytes(get_states(env)[0])
        n = int(row["maze_size"])
        assert fresh.maze_size == n
        np.testing.assert_array_equal(np.asarray(row["grid"]).reshape(n, n), fresh.grid)
        assert (int(row["cheese_row"]), int(row["cheese_col"])) == fresh.cheese


def test_filters_hold(filtered):
    _, frame = filtered
    assert len(frame) == 300
    assert frame["has_decision_square"].all()
    assert not frame["cheese_in_top_right_5x5"].any()
    assert frame["seed"].is_unique
    # every decision-square feature is defined when the square exists
    assert not frame["steps_between_cheese_decision_square"].isna().any()


def test_filters_draw_more_seeds_than_they_keep():
    spec = SampleSpec(n=200, seed=0, start_level=0, require_decision_square=True)
    frame = sample_mazes(spec)
    assert len(frame) == 200
    # consecutive candidates: some of 0..k were rejected, so the last kept seed is beyond 199
    assert frame["seed"].iloc[-1] > 199
    assert frame["seed"].is_monotonic_increasing
    unfiltered = sample_mazes(SampleSpec(n=int(frame["seed"].iloc[-1]) + 1, seed=0, start_level=0))
    expected = unfiltered.loc[unfiltered["has_decision_square"], "seed"].tolist()
    assert frame["seed"].tolist() == expected


def test_sizes_filter():
    frame = sample_mazes(SampleSpec(n=100, seed=5, sizes=(9, 13)))
    assert set(frame["maze_size"].unique()) <= {9, 11, 13}


def test_same_spec_same_mazes_and_workers_do_not_matter():
    spec = SampleSpec(n=2500, seed=11, placement="uniform")
    a = sample_mazes(spec, workers=1)
    b = sample_mazes(spec, workers=2)
    assert a.drop(columns="grid").equals(b.drop(columns="grid"))
    assert all(np.array_equal(x, y) for x, y in zip(a["grid"], b["grid"], strict=True))
    c = sample_mazes(SampleSpec(n=2500, seed=12, placement="uniform"), workers=1)
    assert not a["seed"].equals(c["seed"])


def test_parquet_contract_and_byte_identical_rewrite(filtered, tmp_path):
    spec, frame = filtered
    first = write_mazes(frame, tmp_path / "a.parquet", spec)
    schema = pq.read_schema(first)
    assert schema.field("seed").type == pa.int64()
    assert schema.field("placement").type == pa.string()
    assert schema.field("grid").type == pa.list_(pa.int8())
    assert [schema.names[i] for i in range(4)] == ["seed", "placement", "maze_size", "grid"]
    assert set(REGISTRY) <= set(schema.names)
    back = read_mazes(first)
    second = write_mazes(back, tmp_path / "b.parquet", spec)
    assert first.read_bytes() == second.read_bytes()
    assert not list(tmp_path.glob(".*tmp*"))


def test_nulls_not_sentinels(tmp_path):
    spec = SampleSpec(n=300, seed=2)
    frame = sample_mazes(spec)
    no_dsq = ~frame["has_decision_square"]
    assert no_dsq.any(), "expected some mazes without a decision square among 300"
    path = write_mazes(frame, tmp_path / "m.parquet", spec)
    table = pq.read_table(path)
    for name in ("dsq_row", "steps_between_cheese_decision_square", "euc_dist_cheese_decision_square"):
        column = table.column(name)
        assert column.null_count == int(no_dsq.sum())
        assert pa.compute.min(column).as_py() >= 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"n": -3},
        {"n": 10, "placement": "corner"},
        {"n": 10, "placement": "region:0"},
        {"n": 10, "sizes": (9, 3)},
        {"n": 10, "sizes": (26, 30)},
        {"n": 10, "exclude_cheese_top_right": 0},
        {"n": 10, "seed": -1},
    ],
)
def test_bad_specs_are_refused(kwargs):
    with pytest.raises(UsageError):
        SampleSpec(**kwargs)


def test_impossible_filters_give_up_with_a_message():
    # a 3x3 maze's bottom-left quadrant is the mouse start alone: no maze can hold the cheese there
    spec = SampleSpec(n=5, seed=0, sizes=(3, 3), placement="quadrant:bottom-left")
    with pytest.raises(UsageError, match="passed the filters"):
        sample_mazes(spec)


def test_levelgen_and_live_procgen_sources_give_the_same_table():
    spec = SampleSpec(n=300, seed=9, placement="quadrant:top-left", require_decision_square=True)
    fast = sample_mazes(spec, levels="levelgen")
    live = sample_mazes(spec, levels="procgen")
    assert fast.drop(columns="grid").equals(live.drop(columns="grid"))
    assert all(np.array_equal(a, b) for a, b in zip(fast["grid"], live["grid"], strict=True))


def test_unknown_level_source():
    with pytest.raises(UsageError, match="unknown level source"):
        sample_mazes(SampleSpec(n=3), levels="gym")


def test_repeated_candidate_seeds_are_kept_once(monkeypatch):
    import mazeprobe.maze.sampling as sampling

    # force repeats: every chunk's candidates drawn from only 50 level seeds
    monkeypatch.setattr(
        sampling, "candidate_seeds", lambda spec, i: np.random.default_rng(i).integers(0, 50, 64)
    )
    frame = sampling.sample_mazes(SampleSpec(n=40, seed=0))
    assert frame["seed"].is_unique and len(frame) == 40
