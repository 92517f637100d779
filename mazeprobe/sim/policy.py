"""What the rollout engine plays: a batch of mazes, and the policy interface every agent implements.

A policy maps a batch of observations (procgen's 64x64 RGB, uint8, (B, 64, 64, 3)) plus, for agents that
read the maze, which maze each row is in and where the mouse stands, to a distribution over the 15
procgen actions, (B, 15). The engine samples (or takes the argmax of) that distribution.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mazeprobe.maze.geometry import pad_grids
from mazeprobe.maze.sampling import row_grid


def table_positions(table: pd.DataFrame, what: str) -> np.ndarray:
    """(N, 2) int64 (row, col) of `what` ("cheese", "mouse") in each row of a maze table."""
    return np.stack([table[f"{what}_row"].to_numpy(np.int64), table[f"{what}_col"].to_numpy(np.int64)], 1)


def decision_squares(table: pd.DataFrame, missing: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) int64 decision squares of a maze table's rows, `missing` where there is none, and the
    (N,) bool mask of the rows that have one."""
    has = table["has_decision_square"].fillna(False).to_numpy(bool)
    dsq = np.stack(
        [
            table["dsq_row"].astype("Int64").fillna(missing).to_numpy(np.int64),
            table["dsq_col"].astype("Int64").fillna(missing).to_numpy(np.int64),
        ],
        1,
    )
    dsq[~has] = missing
    return dsq, has


@dataclass(frozen=True)
class MazeBatch:
    """The mazes a policy will be run on: padded grids (B, side, side), sizes, and their maze-table
    rows (seed, positions, features) in the same order."""

    grids: np.ndarray
    sizes: np.ndarray
    table: pd.DataFrame

    def top_right_squares(self) -> np.ndarray:
        """(B, 2) the top-right square (n-1, n-1) of each maze."""
        return np.stack([self.sizes - 1, self.sizes - 1], 1)


def maze_batch(table: pd.DataFrame) -> MazeBatch:
    """Padded grids for the rows of a maze table (the maze layer's schema)."""
    grids, sizes = pad_grids([row_grid(row) for row in table[["maze_size", "grid"]].to_dict("records")])
    return MazeBatch(grids=grids, sizes=sizes, table=table.reset_index(drop=True))


class Policy(ABC):
    """A batch of observations (and maze positions) in, (B, 15) action probabilities out."""

    name: str = "policy"
    reads_pixels: bool = True
    """False for agents that never look at the observation (they read the grid): the engine can then
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
