"""Batched rollouts: many procgen envs in one vector env, one batched policy call per step.

Each env slot plays one episode at a time; an episode starts on its sampled maze by loading that
maze's state into the slot, and a finished slot is refilled with the next episode at once. The mouse's
position is tracked from the actions (the maze moves it one tile unless a wall is in the way), so no
state needs reading during play. Sampled actions use counter-based draws keyed by (seed, level seed,
rollout, step): the same spec gives the same episodes whatever the chunking, slots or workers.

Agents that never look at the pixels (the scripted ones) are played on the grid alone by default: the
same moves, the same reward rule (+10 on entering the cheese's square, which ends the episode), the
same draws, without rendering procgen frames. Tests check both engines give identical episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.maze.env import LevelLoader, make_env, set_state_at
from mazeprobe.maze.geometry import distance_maps
from mazeprobe.maze.procgen import CHEESE_REWARD, NOOP, OBS_SIZE, WALL
from mazeprobe.maze.state import MazeState
from mazeprobe.rng import uniforms
from mazeprobe.settings import setting
from mazeprobe.sim.actions import ACTION_MOVE, GROUP_MATRIX, MOVE_DELTAS, move_toward, sample_actions
from mazeprobe.sim.episodes import episode_record
from mazeprobe.sim.policy import MazeBatch, Policy, decision_squares, table_positions

MAX_PER_MAZE = 10_000
MAX_STEPS = 500
"""procgen's own episode limit."""
ACTION_CHOICES = ("sample", "argmax")


@dataclass(frozen=True)
class RolloutSettings:
    """How episodes are played (an experiment spec's `rollouts` section)."""

    per_maze: int = setting(1, f"episodes per maze (1..{MAX_PER_MAZE:,})", low=1, high=MAX_PER_MAZE)
    """Episodes per maze."""
    max_steps: int = setting(256, f"1..{MAX_STEPS}", low=1, high=MAX_STEPS)
    """Steps before an episode counts as timed out (procgen's own limit is 500)."""
    actions: str = setting("sample", "sample or argmax", choices=ACTION_CHOICES)
    """`sample` from the policy's distribution, or take its `argmax`."""
    seed: int = setting(0, "action-sampling seed", low=0)
    """Seed of the action draws."""


def start_states(table: pd.DataFrame, loader: LevelLoader) -> list[MazeState]:
    """The procgen start state of each maze: its level, with the cheese where the table puts it."""
    out = []
    for raw, row in zip(loader.states(table["seed"].tolist()), table.itertuples(), strict=True):
        state = MazeState.from_bytes(raw)
        cheese = (int(row.cheese_row), int(row.cheese_col))
        if state.cheese != cheese:
            state = state.with_cheese(*cheese)
        out.append(state)
    return out


class Roller:
    """A vector env of `num_envs` maze envs, reused across calls (creating envs is slow, so they are
    made on first use: agents played on the grid alone never need them)."""

    def __init__(self, num_envs: int = 64) -> None:
        self.num_envs = num_envs

    @cached_property
    def env(self):
        return make_env(self.num_envs, num_threads=0)

    @cached_property
    def loader(self) -> LevelLoader:
        return LevelLoader(self.num_envs)

    def episodes(
        self,
        policy: Policy,
        mazes: MazeBatch,
        states: Sequence[MazeState] | None,
        settings: RolloutSettings,
        engine: str = "auto",
        stop_at: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Play `settings.per_maze` episodes on every maze; one row per episode.

        `engine`: "procgen" steps the live envs; "grid" plays on the grid alone (only for policies
        that do not read pixels); "auto" picks "grid" when the policy allows it. `stop_at` (M, 2): an
        episode also ends when the mouse stands on its maze's square (a target to reach).
        """
        if engine not in ("auto", "procgen", "grid"):
            raise UsageError(f"engine must be auto, procgen or grid; got {engine!r}")
        if engine == "grid" and policy.reads_pixels:
            raise UsageError(f"policy {policy.name!r} reads pixels: it needs the procgen engine")
        if engine == "grid" or (engine == "auto" and not policy.reads_pixels):
            return play_on_grid(policy, mazes, settings, stop_at)
        if states is None:
            raise UsageError("the procgen engine needs the mazes' start states (start_states)")
        table = mazes.table
        jobs = [(m, k) for m in range(len(table)) for k in range(settings.per_maze)]
        state_bytes = [s.to_bytes() for s in states]
        seeds = table["seed"].to_numpy(np.int64)
        sizes = mazes.sizes
        cheese = table_positions(table, "cheese")
        k_slots = self.num_envs
        max_steps = settings.max_steps
        slot_job = np.full(k_slots, -1, dtype=np.int64)
        pos = np.zeros((k_slots, 2), dtype=np.int64)
        steps = np.zeros(k_slots, dtype=np.int64)
        ret = np.zeros(k_slots)
        paths = np.zeros((k_slots, max_steps + 1, 2), dtype=np.int64)
        results: dict[int, dict] = {}
        next_job = 0

        def load(slot: int) -> None:
            nonlocal next_job
            if next_job >= len(jobs):
                slot_job[slot] = -1
                return
            m = jobs[next_job][0]
            set_state_at(self.env, slot, state_bytes[m])
            slot_job[slot] = next_job
            pos[slot] = states[m].mouse
            steps[slot] = 0
            ret[slot] = 0.0
            paths[slot, 0] = pos[slot]
            next_job += 1

        for slot in range(k_slots):
            load(slot)
        policy.prepare(mazes)
        job_maze = np.array([m for m, _ in jobs], dtype=np.int64)
        job_rollout = np.array([k for _, k in jobs], dtype=np.int64)
        obs = None
        while (slot_job >= 0).any():
            active = np.flatnonzero(slot_job >= 0)
            job_ids = slot_job[active]
            maze_idx = job_maze[job_ids]
            rollout = job_rollout[job_ids]
            if obs is None:  # slots were (re)loaded: their frames changed
                obs = self.env.observe()[1]["rgb"]
            probs = policy.action_probs(obs[active], maze_idx, pos[active])
            chosen = choose_actions(probs, settings, seeds[maze_idx], rollout, steps[active])
            actions = np.full(k_slots, NOOP, dtype=np.int32)
            actions[active] = chosen
            self.env.act(actions)
            reward, frames, _ = self.env.observe()  # the step's reward and the next frame in one read
            obs = frames["rgb"]
            pos[active] = apply_moves(mazes, maze_idx, pos[active], chosen)
            steps[active] += 1
            ret[active] += reward[active]
            paths[active, steps[active]] = pos[active]

            got = reward[active] > 0
            done = got | (steps[active] >= max_steps)
            if stop_at is not None:
                done |= (pos[active] == stop_at[maze_idx]).all(axis=1)
            for i in np.flatnonzero(done):
                slot = active[i]
                m = maze_idx[i]
                if got[i] and tuple(pos[slot]) != tuple(cheese[m]):
                    raise RuntimeError(
                        f"level {seeds[m]}: procgen paid the cheese reward at {tuple(pos[slot])}, but the "
                        f"cheese is at {tuple(cheese[m])}: the position tracking is out of step"
                    )
                results[int(slot_job[slot])] = episode_record(
                    seeds[m],
                    rollout[i],
                    sizes[m],
                    paths[slot, : steps[slot] + 1],
                    bool(got[i]),
                    float(ret[slot]),
                )
                load(slot)
                obs = None
        return pd.DataFrame([results[j] for j in range(len(jobs))])

    def render(self, states: Sequence[MazeState]) -> np.ndarray:
        """The observation each state shows, (N, 64, 64, 3) uint8, loading the states into the slots
        a batch at a time."""
        parts = []
        for start in range(0, len(states), self.num_envs):
            batch = states[start : start + self.num_envs]
            for slot, state in enumerate(batch):
                set_state_at(self.env, slot, state.to_bytes())
            parts.append(self.env.observe()[1]["rgb"][: len(batch)].copy())
        return np.concatenate(parts) if parts else np.zeros((0, OBS_SIZE, OBS_SIZE, 3), dtype=np.uint8)

    def decision_square_view(
        self, policy: Policy, mazes: MazeBatch, states: Sequence[MazeState], layers: Sequence[str] = ()
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """With the mouse placed ON each maze's decision square: the policy's probability of the
        cheese-ward and top-right-ward moves, and (for networks) the requested activations.

        Returns one row per maze (null probabilities where there is no decision square) and, per layer,
        an array with one entry per maze that has a decision square, in table order.
        """
        table = mazes.table
        dsq, has = decision_squares(table, missing=0)
        idx = np.flatnonzero(has)
        to_cheese = distance_maps(mazes.grids, mazes.sizes, table_positions(table, "cheese"))
        to_tr = distance_maps(mazes.grids, mazes.sizes, mazes.top_right_squares())
        p_cheese = np.full(len(table), np.nan)
        p_tr = np.full(len(table), np.nan)
        acts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
        policy.prepare(mazes)
        for start in range(0, len(idx), self.num_envs):
            batch = idx[start : start + self.num_envs]
            obs = self.render([states[m].with_mouse(*dsq[m]) for m in batch]) if policy.reads_pixels else None
            if layers:
                probs, cache = policy.action_probs_and_cache(obs, list(layers), batch)
                for name in layers:
                    acts[name].append(cache[name])
            else:
                probs = policy.action_probs(obs, batch, dsq[batch])
            groups = probs @ GROUP_MATRIX  # (B, 4): mass of UP, DOWN, LEFT, RIGHT
            mc = move_toward(to_cheese, batch, dsq[batch])
            mt = move_toward(to_tr, batch, dsq[batch])
            rows = np.arange(len(batch))
            p_cheese[batch] = groups[rows, mc]
            p_tr[batch] = groups[rows, mt]
        frame = pd.DataFrame(
            {
                "seed": table["seed"].to_numpy(np.int64),
                "p_cheese_at_dsq": p_cheese,
                "p_top_right_at_dsq": p_tr,
            }
        )
        stacked = {name: np.concatenate(parts) if parts else np.zeros((0,)) for name, parts in acts.items()}
        return frame, stacked


def choose_actions(
    probs: np.ndarray,
    settings: RolloutSettings,
    level_seeds: np.ndarray,
    rollout: np.ndarray,
    step: np.ndarray,
) -> np.ndarray:
    """The argmax, or a draw keyed by (seed, level seed, rollout, step) from each row of `probs`."""
    if settings.actions == "argmax":
        return probs.argmax(axis=1)
    return sample_actions(probs, uniforms(settings.seed, level_seeds, rollout, step))


def apply_moves(mazes: MazeBatch, maze_idx: np.ndarray, pos: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """procgen's maze movement: one tile in the action's direction unless a wall or the edge is there."""
    move = ACTION_MOVE[actions]
    target = pos + np.where(move[:, None] >= 0, MOVE_DELTAS[np.maximum(move, 0)], 0)
    n = mazes.sizes[maze_idx]
    inside = (target >= 0).all(axis=1) & (target < n[:, None]).all(axis=1)
    clipped = np.clip(target, 0, mazes.grids.shape[1] - 1)
    free = inside & (mazes.grids[maze_idx, clipped[:, 0], clipped[:, 1]] != WALL)
    return np.where(free[:, None], target, pos)


def play_on_grid(
    policy: Policy, mazes: MazeBatch, settings: RolloutSettings, stop_at: np.ndarray | None = None
) -> pd.DataFrame:
    """All episodes in lockstep on the grid alone, for policies that do not read pixels."""
    table = mazes.table
    n_jobs = len(table) * settings.per_maze
    maze_of = np.repeat(np.arange(len(table)), settings.per_maze)
    rollout = np.tile(np.arange(settings.per_maze), len(table))
    seeds = table["seed"].to_numpy(np.int64)
    cheese = table_positions(table, "cheese")
    mouse = table_positions(table, "mouse")
    pos = mouse[maze_of].copy()
    steps = np.zeros(n_jobs, dtype=np.int64)
    got = np.zeros(n_jobs, dtype=bool)
    done = np.zeros(n_jobs, dtype=bool)
    paths = np.zeros((n_jobs, settings.max_steps + 1, 2), dtype=np.int64)
    paths[:, 0] = pos
    policy.prepare(mazes)
    while not done.all():
        a = np.flatnonzero(~done)
        probs = policy.action_probs(None, maze_of[a], pos[a])
        chosen = choose_actions(probs, settings, seeds[maze_of[a]], rollout[a], steps[a])
        pos[a] = apply_moves(mazes, maze_of[a], pos[a], chosen)
        steps[a] += 1
        paths[a, steps[a]] = pos[a]
        reached = (pos[a] == cheese[maze_of[a]]).all(axis=1)
        got[a] = reached
        done[a] = reached | (steps[a] >= settings.max_steps)
        if stop_at is not None:
            done[a] |= (pos[a] == stop_at[maze_of[a]]).all(axis=1)
    return pd.DataFrame(
        [
            episode_record(
                seeds[maze_of[j]],
                rollout[j],
                mazes.sizes[maze_of[j]],
                paths[j, : steps[j] + 1],
                bool(got[j]),
                CHEESE_REWARD if got[j] else 0.0,
            )
            for j in range(n_jobs)
        ]
    )
