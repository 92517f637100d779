"""Vector fields: the policy's action distribution with the mouse placed on every open square in turn.

The picture researchers know from the published work: at each square an arrow whose components are
P(right) - P(left) and P(up) - P(down), on the maze with cheese, decision square and top-right 5x5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mazeprobe.maze.procgen import WALL
from mazeprobe.maze.sampling import row_grid
from mazeprobe.sim import GROUP_MATRIX, Policy, Roller, maze_batch, start_states


def vector_field(policy: Policy, maze_row: pd.DataFrame, roller: Roller) -> pd.DataFrame:
    """One row per open square (the cheese's excluded): row, col, p_up, p_down, p_left, p_right.

    `maze_row` is a one-row maze table (the maze layer's schema)."""
    mazes = maze_batch(maze_row)
    state = start_states(mazes.table, roller.loader)[0]
    n = int(mazes.sizes[0])
    grid = mazes.grids[0, :n, :n]
    cheese = state.cheese
    cells = [(r, c) for r in range(n) for c in range(n) if grid[r, c] != WALL and (r, c) != cheese]
    policy.prepare(mazes)
    positions = np.array(cells, dtype=np.int64).reshape(-1, 2)
    obs = roller.render([state.with_mouse(r, c) for r, c in cells]) if policy.reads_pixels else None
    groups = policy.action_probs(obs, np.zeros(len(cells), dtype=np.int64), positions) @ GROUP_MATRIX
    return pd.DataFrame(
        {
            "row": positions[:, 0],
            "col": positions[:, 1],
            "p_up": groups[:, 0],
            "p_down": groups[:, 1],
            "p_left": groups[:, 2],
            "p_right": groups[:, 3],
        }
    )


def vector_field_png(field: pd.DataFrame, maze_row: pd.DataFrame, path, cell: int = 24):
    """Draw the field as arrows on the maze (no shortest paths, so the arrows stay readable)."""
    from mazeprobe.maze.render import MazePicture

    grid = row_grid(maze_row.iloc[0])
    picture = MazePicture(grid, (0, 0), cell=cell, shortest_paths=False)
    for f in field.itertuples():
        picture.arrow(f.row, f.col, f.p_right - f.p_left, f.p_up - f.p_down)
    return picture.save(path)
