"""The policy interface every agent implements, and procgen's action layout.

A policy maps a batch of observations (procgen's 64x64 RGB, uint8, (B, 64, 64, 3)) plus, for agents that
read the maze, which maze each row is in and where the mouse stands, to a distribution over the 15
procgen actions, (B, 15). The runner samples (or takes the argmax of) that distribution.

Actions (anchor-facts): LEFT = 0, 1, 2; DOWN = 3; UP = 5; RIGHT = 6, 7, 8; the rest do nothing. In the
maze game the diagonal actions move horizontally only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd

N_ACTIONS = 15
NOOP = 4
# Moves in the order UP, DOWN, LEFT, RIGHT: (row delta, col delta), canonical action, action group.
MOVE_NAMES = ("up", "down", "left", "right")
MOVE_DELTAS = np.array([(1, 0), (-1, 0), (0, -1), (0, 1)], dtype=np.int64)
MOVE_ACTIONS = np.array([5, 3, 1, 7], dtype=np.int64)
ACTION_GROUPS: dict[str, tuple[int, ...]] = {
    "up": (5,),
    "down": (3,),
    "left": (0, 1, 2),
    "right": (6, 7, 8),
}
# Which move each action makes (-1: none), as a lookup table.
ACTION_MOVE = np.full(N_ACTIONS, -1, dtype=np.int64)
for _move, _name in enumerate(MOVE_NAMES):
    ACTION_MOVE[list(ACTION_GROUPS[_name])] = _move
# Probability mass of each move group: (15, 4) so that probs @ GROUP_MATRIX gives (B, 4).
GROUP_MATRIX = np.zeros((N_ACTIONS, 4))
GROUP_MATRIX[ACTION_MOVE >= 0, ACTION_MOVE[ACTION_MOVE >= 0]] = 1.0


def table_positions(table: pd.DataFrame, what: str) -> np.ndarray:
    """(N, 2) int64 (row, col) of `what` ("cheese", "mouse") in each row of a maze table."""
    return np.stack([table[f"{what}_row"].to_numpy(np.int64), table[f"{what}_col"].to_numpy(np.int64)], 1)


@dataclass(frozen=True)
class MazeBatch:
    """The mazes a policy will be run on: padded grids (B, side, side), sizes, and their maze-table
    rows (seed, positions, features) in the same order."""

    grids: np.ndarray
    sizes: np.ndarray
    table: pd.DataFrame


class Policy(ABC):
    """A batch of observations (and maze positions) in, (B, 15) action probabilities out."""

    name: str = "policy"
    reads_pixels: bool = True
    """False for agents that never look at the observation (they read the grid): the runner can then
    play them on the grid alone, without rendering procgen frames."""

    def prepare(self, mazes: MazeBatch) -> None:  # noqa: B027 - optional hook
        """Called once with the mazes of a chunk before any `action_probs` call about them."""

    @abstractmethod
    def action_probs(self, obs: np.ndarray, maze_index: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """(B, 15) probabilities for observations `obs` (B, 64, 64, 3) uint8, the mouse of row i being
        in maze `maze_index[i]` of the prepared batch at `positions[i]` (row, col)."""

    def describe(self) -> dict:
        """The settings that define this policy, for the run manifest."""
        return {"name": self.name}


def one_hot_moves(moves: np.ndarray) -> np.ndarray:
    """(B, 15) distributions putting all mass on each row's move (0..3), or on NOOP for -1."""
    out = np.zeros((len(moves), N_ACTIONS))
    actions = np.where(moves >= 0, MOVE_ACTIONS[np.maximum(moves, 0)], NOOP)
    out[np.arange(len(moves)), actions] = 1.0
    return out


def move_toward(dist: np.ndarray, maze_index: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The first move (UP, DOWN, LEFT, RIGHT order) that lowers the distance to the goal by one.

    dist: (M, side, side) steps to the goal for each prepared maze (-1 unreachable); returns (B,) moves
    0..3, or -1 where the mouse is on the goal or the goal is unreachable.
    """
    side = dist.shape[1]
    r, c = positions[:, 0], positions[:, 1]
    here = dist[maze_index, r, c]
    out = np.full(len(positions), -1, dtype=np.int64)
    for move in range(3, -1, -1):  # reversed so that the first move in order wins
        rr, cc = r + MOVE_DELTAS[move, 0], c + MOVE_DELTAS[move, 1]
        inside = (rr >= 0) & (rr < side) & (cc >= 0) & (cc < side)
        d = np.where(inside, dist[maze_index, np.clip(rr, 0, side - 1), np.clip(cc, 0, side - 1)], -1)
        out = np.where(inside & (here > 0) & (d == here - 1), move, out)
    return out
