"""`generate_levels` against the real procgen 0.10.7 maze env (hard mode).

The generator must match the env exactly: every inner cell, the maze size and the cheese cell.
"""

from __future__ import annotations

import numpy as np
import pytest

from mazeprobe.maze import env as maze_env
from mazeprobe.maze.levelgen import MAX_SEED, WALL, WORLD_DIM, generate_levels
from mazeprobe.maze.state import MazeState


def _seeds() -> np.ndarray:
    # 0..999, plus 1,000 seeds spread over the whole level-seed range including both ends.
    rng = np.random.default_rng(20240607)
    wide = rng.integers(0, MAX_SEED, size=998, dtype=np.int64)
    return np.concatenate([np.arange(1000), wide, [MAX_SEED - 1, 2**30]]).astype(np.int64)


@pytest.fixture(scope="module")
def loader():
    ll = maze_env.LevelLoader(num_envs=64)
    yield ll
    ll.close()


def _assert_matches(seed: int, state: MazeState, grid: np.ndarray, size: int) -> None:
    n = state.maze_size
    assert size == n, f"seed {seed}: maze size {size} != env {n}"
    np.testing.assert_array_equal(grid[:n, :n], state.grid, err_msg=f"seed {seed}: inner grid differs")
    assert (grid[n:, :] == WALL).all() and (grid[:, n:] == WALL).all(), f"seed {seed}: outside not wall"


def test_matches_env_for_2000_seeds(loader) -> None:
    seeds = _seeds()
    grids, sizes = generate_levels(seeds)
    assert grids.shape == (len(seeds), WORLD_DIM, WORLD_DIM) and grids.dtype == np.int8
    assert sizes.dtype == np.int64
    states = loader.states(seeds)
    for seed, raw, grid, size in zip(seeds, states, grids, sizes, strict=True):
        state = MazeState.from_bytes(raw)
        assert state.level_seed == seed
        assert state.mouse == (0, 0)
        _assert_matches(int(seed), state, grid, int(size))
    # Every maze size 3..25 occurs, and every maze has exactly one cheese.
    assert set(sizes.tolist()) == set(range(3, WORLD_DIM + 1, 2))
    assert ((grids == 2).sum(axis=(1, 2)) == 1).all()


@pytest.mark.parametrize("seed", [0, 7, 123456, MAX_SEED - 1])
def test_matches_fresh_env(seed: int) -> None:
    env = maze_env.make_env(1, start_level=seed, num_levels=1)
    state = MazeState.from_bytes(maze_env.get_states(env)[0])
    grids, sizes = generate_levels(np.array([seed]))
    _assert_matches(seed, state, grids[0], int(sizes[0]))


def test_batch_equals_single_and_order() -> None:
    seeds = np.array([5, 99, 5, 2_000_000_000, 0], dtype=np.int64)
    grids, sizes = generate_levels(seeds)
    for i, s in enumerate(seeds):
        g1, s1 = generate_levels(np.array([s]))
        np.testing.assert_array_equal(grids[i], g1[0])
        assert sizes[i] == s1[0]
    # Python ints in a list are accepted too.
    g2, _ = generate_levels([5, 99])
    np.testing.assert_array_equal(g2, grids[:2])


def test_empty() -> None:
    grids, sizes = generate_levels(np.array([], dtype=np.int64))
    assert grids.shape == (0, WORLD_DIM, WORLD_DIM) and sizes.shape == (0,)


@pytest.mark.parametrize(
    "bad", [np.array([-1]), np.array([MAX_SEED]), np.array([2**32]), np.array([[1, 2]]), np.array([1.5])]
)
def test_rejects_bad_seeds(bad) -> None:
    with pytest.raises(ValueError):
        generate_levels(bad)
