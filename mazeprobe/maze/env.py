"""Live procgen maze environments: creating them, and sending a long-lived one to any level seed.

Creating an env per level seed and reading its state costs milliseconds (about 8 ms a maze in
`make bench`); instead, `LevelLoader` keeps one vector env and sends each of its envs to a level
through its state: write [s, s+1) as the level seed range and cur_time = timeout - 1, set the state,
take one no-op step; the episode times out and procgen resets into level s (tests/test_state.py checks
the mazes equal those of fresh one-level envs).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from mazeprobe.maze import codec
from mazeprobe.maze.procgen import NOOP

NOOP_ACTION = NOOP  # the name older code imports
ENV_NAME = "maze"


def _import_procgen():
    # gym3 imports the unmaintained `gym`, which warns loudly on import; nothing we can act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()):
            from procgen import ProcgenGym3Env
    return ProcgenGym3Env


def make_env(
    num: int = 1,
    *,
    start_level: int = 0,
    num_levels: int = 0,
    distribution_mode: str = "hard",
    num_threads: int = 0,
):
    """A `ProcgenGym3Env` for the maze game (hard mode unless told otherwise)."""
    env_cls = _import_procgen()
    return env_cls(
        num=num,
        env_name=ENV_NAME,
        num_levels=num_levels,
        start_level=start_level,
        distribution_mode=distribution_mode,
        num_threads=num_threads,
    )


def get_states(env) -> list[bytes]:
    """One state per env of a procgen vector env."""
    return list(env.callmethod("get_state"))


def set_states(env, states: Sequence[bytes]) -> None:
    """Load one state per env (a MazeState's `to_bytes()` or raw bytes)."""
    env.callmethod("set_state", list(states))


def set_state_at(env, index: int, state: bytes) -> None:
    """Load one env's state, leaving the others untouched (procgen's own set_state replaces all)."""
    # libenv's per-env C entry point, which procgen's set_state loops over (procgen 0.10.7 is pinned).
    env.call_c_func("set_state", int(index), state, len(state))


class LevelLoader:
    """A long-lived vector env that produces the start state of any level seed.

    The state for seed s equals what `ProcgenGym3Env(num=1, env_name="maze", num_levels=1,
    start_level=s, distribution_mode="hard")` starts in (tested against fresh envs).
    """

    def __init__(self, num_envs: int = 32, distribution_mode: str = "hard") -> None:
        self.num_envs = num_envs
        # num_threads=0 steps the envs in the calling thread: sampling scales by processes instead.
        self.env = make_env(num_envs, distribution_mode=distribution_mode, num_threads=0)
        self._noop = np.full(num_envs, NOOP_ACTION, dtype=np.int32)

    def states(self, seeds: Sequence[int]) -> list[bytes]:
        """The start-of-level state bytes for each level seed, in order."""
        out: list[bytes] = []
        k = self.num_envs
        for start in range(0, len(seeds), k):
            chunk = [int(s) for s in seeds[start : start + k]]
            padded = chunk + [chunk[-1]] * (k - len(chunk))
            current = get_states(self.env)
            set_states(
                self.env, [codec.patch_level_seed(st, s) for st, s in zip(current, padded, strict=True)]
            )
            self.env.act(self._noop)
            out.extend(get_states(self.env)[: len(chunk)])
        return out

    def worlds(self, seeds: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """World grids (len, world_dim, world_dim) int32 and maze sizes for each level seed."""
        states = self.states(seeds)
        grids, sizes = zip(*(codec.read_world_grid(s) for s in states), strict=True)
        return np.stack(grids), np.array(sizes, dtype=np.int64)

    def close(self) -> None:
        self.env.close() if hasattr(self.env, "close") else None
