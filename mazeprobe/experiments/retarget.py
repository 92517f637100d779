"""Retargeting: can an edit send the mouse to a chosen square? Targets, and the two measures per target.

retargeting.parquet has one row per (seed, intervention, target); `intervention` is an edit's id or one
of two references, measured on the same targets with the same rollout settings and draws:
  none      the unedited network, played as the edits are (the cheese removed unless remove_cheese is
            false): how often the agent reaches the target anyway (the baseline)
  ceiling   the unedited network with a real cheese placed on the target (the maze's own cheese taken
            away): how often this network reaches a square that holds a cheese (the ceiling; the
            published work compared its edits with a real cheese)
Its measures:
- `path_probability`: the geometric mean, over the squares of the shortest path from the start to the
  target (the target itself left out; one factor per step), of the policy's probability of the move along
  that path, with the mouse placed on the square and the edit active (the published measure).
- `reached_target`: the fraction of rollouts in which the mouse stood on the target within max_steps
  (an episode ends there); `steps` their mean length.
- `eligible_squares`: how many squares of the maze the targets were drawn among (fewer targets than
  targets_per_maze when fewer were eligible).

Targets are drawn per maze by a seeded rule among the open squares reachable from the start, the start
excluded (and the cheese's square while the cheese stays); with `targets: off-path`, only among those the
unedited agent does not stand on in its own rollouts of the maze (the `none` rollouts' settings and
draws, not stopped at any target), so that no edit is credited with a square the agent visits anyway: the
`none` rollout towards such a target makes the same moves and never reaches it. Every intervention, `none`
and `ceiling` included, is measured on the same targets. An edit aimed at the target (`clamp at:
target`) is prepared once per target; targets whose squares fall in the same cell of the edited map share
their forward passes, and the layers below the edited one run once per square for all targets and edits.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mazeprobe.agents.edits import cell_of_square
from mazeprobe.agents.network import NetworkPolicy
from mazeprobe.agents.patches import PreparedEdits
from mazeprobe.experiments.paired import paired_episodes
from mazeprobe.experiments.tables import RETARGETING
from mazeprobe.maze.geometry import distance_maps
from mazeprobe.maze.procgen import WALL
from mazeprobe.sim import MazeBatch, Policy, Roller, RolloutSettings, maze_batch, move_toward
from mazeprobe.sim.actions import GROUP_MATRIX

RETARGETING_COLUMNS = RETARGETING.names
CHEESE_MODES = ("remove", "keep", "target")
"""Where the cheese is while retargeting: taken out, left where it is, or moved onto the target."""


def draw_targets(
    mazes: MazeBatch,
    per_maze: int,
    seed: int,
    avoid_cheese: bool = True,
    visited: np.ndarray | None = None,
) -> pd.DataFrame:
    """Up to `per_maze` target squares per maze (fewer when the maze has fewer), drawn without
    replacement by a generator seeded with (seed, level seed): the same targets whatever the chunking.
    `visited` (M, N, N) bool (visited_squares): squares left out as well (`targets: off-path`).
    One row per target: maze (index in the batch), seed, target_row, target_col, eligible_squares (how
    many squares of its maze the targets were drawn among)."""
    starts = np.zeros((len(mazes.table), 2), dtype=np.int64)
    reach = distance_maps(mazes.grids, mazes.sizes, starts)
    rows = []
    for m, row in enumerate(mazes.table.itertuples()):
        n = int(mazes.sizes[m])
        ok = reach[m, :n, :n] > 0  # reachable, not the start
        if avoid_cheese:
            ok[int(row.cheese_row), int(row.cheese_col)] = False
        if visited is not None:
            ok &= ~visited[m, :n, :n]
        squares = np.argwhere(ok)  # row-major whatever is left out: the draw stays a function of the set
        rng = np.random.default_rng([int(seed), int(row.seed)])
        for r, c in squares[rng.permutation(len(squares))[:per_maze]]:
            rows.append((m, int(row.seed), int(r), int(c), len(squares)))
    return pd.DataFrame(rows, columns=["maze", "seed", "target_row", "target_col", "eligible_squares"])


def visited_squares(
    policy: Policy, mazes: MazeBatch, states: list, settings: RolloutSettings, roller: Roller
) -> np.ndarray:
    """(M, N, N) bool: the squares the unedited `policy` stands on in any of its `settings.per_maze`
    rollouts of each maze, played from `states` (the retargeting's start states, one per maze) until
    max_steps or the cheese. The draws are keyed by level seed, rollout and step, as in the retargeting
    rollouts: the unedited rollout aimed at a square outside this set makes the same moves and never
    stops on it."""
    episodes = roller.episodes(policy, mazes, states, settings)
    out = np.zeros(mazes.grids.shape, dtype=bool)
    for i, path in enumerate(episodes["path"]):
        m = i // settings.per_maze  # episodes come maze by maze, rollout by rollout
        n = int(mazes.sizes[m])
        flat = np.asarray(path, dtype=np.int64)
        out[m, flat // n, flat % n] = True
    return out


def maze_states(natural: list, cheese: str) -> list:
    """Each maze's state that its retargeting rollouts start from (as played_states, before any
    target): without its cheese, or as it is (mode `keep`)."""
    return [state.without_cheese() if cheese == "remove" else state for state in natural]


def target_contexts(mazes: MazeBatch, targets: pd.DataFrame, cheese: str = "remove") -> MazeBatch:
    """One context per target: its maze's row with target_row / target_col (the cheese columns keep the
    maze's own cheese, except in mode `target`, where the cheese is moved onto the target)."""
    table = mazes.table.iloc[targets["maze"].to_numpy()].reset_index(drop=True).copy()
    table["maze"] = targets["maze"].to_numpy()
    table["target_row"] = targets["target_row"].to_numpy()
    table["target_col"] = targets["target_col"].to_numpy()
    if cheese == "target":
        table["cheese_row"] = table["target_row"]
        table["cheese_col"] = table["target_col"]
    return maze_batch(table)


def played_states(natural: list, contexts: MazeBatch, cheese: str) -> list:
    """The start state each context is played from: the maze's own, without its cheese, or with the
    cheese on the target."""
    out = []
    for row in contexts.table.itertuples():
        state = natural[int(row.maze)]
        if cheese == "remove":
            state = state.without_cheese()
        elif cheese == "target":
            state = state.with_cheese(int(row.target_row), int(row.target_col))
        out.append(state)
    return out


def reach_rollouts(
    policy: NetworkPolicy,
    contexts: MazeBatch,
    states: list,
    settings: RolloutSettings,
    roller: Roller,
    variants: Mapping[str, PreparedEdits | None],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> per context: the fraction of its rollouts that stood on the target, and their mean steps
    (every variant played in one batch, an episode ending on the target)."""
    targets = contexts.table[["target_row", "target_col"]].to_numpy(np.int64)
    played = paired_episodes(policy, contexts, states, dict(variants), settings, roller, stop_at=targets)
    per = settings.per_maze
    flat = np.repeat(targets[:, 0] * contexts.sizes + targets[:, 1], per)
    out = {}
    for name, episodes in played.items():
        last = np.array([int(p[-1]) for p in episodes["path"]])  # an episode ends where it stopped
        hit = last == flat
        steps = episodes["steps"].to_numpy(float)
        out[name] = (hit.reshape(-1, per).mean(1), steps.reshape(-1, per).mean(1))
    return out


def path_squares(contexts: MazeBatch) -> list[list[tuple[int, int, int]]]:
    """Per context, the squares of the shortest path from the start to the target, each with the move
    (0..3) along the path, the target itself left out."""
    targets = contexts.table[["target_row", "target_col"]].to_numpy(np.int64)
    dist = distance_maps(contexts.grids, contexts.sizes, targets)
    out = []
    for i in range(len(targets)):
        pos = np.zeros((1, 2), dtype=np.int64)
        steps = []
        while tuple(pos[0]) != tuple(targets[i]):
            move = int(move_toward(dist, np.array([i]), pos)[0])
            if move < 0:
                break  # unreachable (the targets are drawn reachable, so never here)
            steps.append((int(pos[0, 0]), int(pos[0, 1]), move))
            pos = pos + np.array([[1, 0], [-1, 0], [0, -1], [0, 1]])[move]
        out.append(steps)
    return out


def path_probabilities(
    policy: NetworkPolicy,
    contexts: MazeBatch,
    states: list,
    renderer: Roller,
    variants: Mapping[str, tuple[PreparedEdits | None, int | str | None]],
) -> dict[str, np.ndarray]:
    """Per variant name -> (contexts,) path probabilities. `variants`: name -> (edits prepared for the
    contexts, how they depend on the target: None (they do not), "square" (on its square), or the side
    of the map a clamp writes in (on the target's cell of that map: targets sharing a cell share their
    forward passes)). Each (played state, square) is rendered once."""
    paths = path_squares(contexts)
    table = contexts.table
    # contexts of one maze share their played state unless the cheese sits on the target
    state_key = list(
        zip(
            table["seed"].astype(int),
            table["cheese_row"].astype(int),
            table["cheese_col"].astype(int),
            strict=True,
        )
    )
    squares = list(zip(table["target_row"].astype(int), table["target_col"].astype(int), strict=True))

    def target_keys(how: int | str | None) -> list:
        if how is None:
            return [None] * len(table)
        if how == "square":
            return squares
        cells = cell_of_square(
            table["target_row"].to_numpy(), table["target_col"].to_numpy(), contexts.sizes, how
        )
        return list(zip(*cells, strict=True))

    obs_index: dict[tuple, int] = {}
    obs_states = []
    for i, steps in enumerate(paths):
        for r, c, _ in steps:
            if (state_key[i], r, c) not in obs_index:
                obs_index[(state_key[i], r, c)] = len(obs_states)
                obs_states.append(states[i].with_mouse(r, c))
    obs = renderer.render(obs_states)
    requests, rows_of = {}, {}
    for name, (prepared, how) in variants.items():
        target_key = target_keys(how)
        evals: dict[tuple, int] = {}  # (observation, what the edit aims at) -> row of the batch
        rows_obs, rows_ctx = [], []
        keys = []
        for i, steps in enumerate(paths):
            mine = []
            for r, c, move in steps:
                key = (obs_index[(state_key[i], r, c)], target_key[i])
                if key not in evals:
                    evals[key] = len(rows_obs)
                    rows_obs.append(key[0])
                    rows_ctx.append(i)  # any context with this state and cell carries the same edit
                mine.append((evals[key], move))
            keys.append(mine)
        requests[name] = (
            prepared,
            np.asarray(rows_ctx, dtype=np.int64),
            np.asarray(rows_obs, dtype=np.int64),
        )
        rows_of[name] = keys
    # every variant at once: each observation's layers below the edited one run once for all its targets
    probs = policy.action_probs_rows(obs, requests) if len(obs) else {}
    out: dict[str, np.ndarray] = {}
    for name, keys in rows_of.items():
        groups = probs[name] @ GROUP_MATRIX if name in probs else np.zeros((0, 4))
        out[name] = np.array(
            [
                float(np.exp(np.mean([np.log(max(groups[row, move], 1e-300)) for row, move in mine])))
                if mine
                else np.nan
                for mine in keys
            ]
        )
    return out


def open_squares(mazes: MazeBatch, m: int, skip_cheese: bool = True) -> np.ndarray:
    """(K, 2) the open squares of maze m (row-major), the cheese's left out."""
    n = int(mazes.sizes[m])
    ok = mazes.grids[m, :n, :n] != WALL
    if skip_cheese:
        row = mazes.table.iloc[m]
        ok[int(row["cheese_row"]), int(row["cheese_col"])] = False
    return np.argwhere(ok)
