"""procgen's action layout for the maze game, as moves: what each of the 15 actions does.

LEFT = 0, 1, 2; DOWN = 3; UP = 5; RIGHT = 6, 7, 8; the rest do nothing. In the maze game the diagonal
actions move horizontally only. Moves are numbered in the order UP, DOWN, LEFT, RIGHT everywhere.
"""

from __future__ import annotations

import numpy as np

from mazeprobe.maze.procgen import N_ACTIONS, NOOP

MOVE_NAMES = ("up", "down", "left", "right")
# (row delta, col delta) of each move, row 0 at the bottom
MOVE_DELTAS = np.array([(1, 0), (-1, 0), (0, -1), (0, 1)], dtype=np.int64)
# the canonical action of each move
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


def one_hot_moves(moves: np.ndarray) -> np.ndarray:
    """(B, 15) distributions putting all mass on each row's move (0..3), or on NOOP for -1."""
    out = np.zeros((len(moves), N_ACTIONS))
    actions = np.where(moves >= 0, MOVE_ACTIONS[np.maximum(moves, 0)], NOOP)
    out[np.arange(len(moves)), actions] = 1.0
    return out


def uniform_moves(batch: int) -> np.ndarray:
    """(B, 15) distributions spreading the mass evenly over the four moves' canonical actions."""
    out = np.zeros((batch, N_ACTIONS))
    out[:, MOVE_ACTIONS] = 0.25
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


def sample_actions(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One action per row of `probs` by inverse CDF at the uniforms `u` (B,)."""
    cdf = np.cumsum(probs, axis=1)
    return np.minimum((cdf < (u * cdf[:, -1])[:, None]).sum(axis=1), probs.shape[1] - 1)
