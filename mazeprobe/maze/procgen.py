"""Facts about procgen 0.10.7's `maze` game that the rest of mazeprobe builds on: one owner each.

The world is a 25 x 25 grid of tiles drawn on a 64 x 64 RGB observation; a maze of side n (odd,
3..25 in hard mode) sits in its centre inside a wall ring of width (25 - n) / 2. Coordinates are
(row, col) with row 0 at the BOTTOM, as procgen stores its grid and procgen-tools reports it.
"""

from __future__ import annotations

import numpy as np

from mazeprobe.errors import UsageError

WORLD_SIDE = 25
"""Side of procgen's maze world in tiles (the largest hard-mode maze fills it)."""
OBS_SIZE = 64
"""Side of the RGB observation in pixels (one tile is 64 / 25 = 2.56 pixels)."""
N_ACTIONS = 15
"""procgen's action count; in the maze game LEFT = 0, 1, 2, DOWN = 3, UP = 5, RIGHT = 6, 7, 8."""
NOOP = 4
"""An action that does nothing (as do 9..14)."""
REGION_SIZE = 5
"""Side of the top-right region the studied network was trained to find the cheese in."""
CHEESE_REWARD = 10.0
"""The maze's reward, paid on entering the cheese's square (which ends the episode)."""
MAX_EPISODE_STEPS = 500
"""procgen's own episode timeout in the maze game."""

# Grid codes of mazeprobe's inner grids (procgen's own object ids are in maze.codec).
OPEN, WALL, CHEESE = 0, 1, 2


def world_margin(n: int | np.ndarray) -> int | np.ndarray:
    """Width of the wall ring around a maze of side n inside the 25 x 25 world."""
    return (WORLD_SIDE - n) // 2


def to_world(row, col, n):
    """(row, col) in a maze of side n -> (row, col) in the 25 x 25 world (row 0 at the bottom)."""
    margin = world_margin(n)
    return row + margin, col + margin


def map_position(world_row, world_col, side: int):
    """The (h, w) index, in a side x side map of the observation (64 / side pixels a cell: the input is
    side 64, block 1's pooled maps 32, block 2's 16, block 3's 8), of the tile at (row, col) of the
    25 x 25 world (row 0 at the bottom). Works on ints and arrays.

    A tile's centre is at pixel ((24 - row) + 0.5) * 2.56 down and (col + 0.5) * 2.56 across (the image
    runs top-down, the grid bottom-up); the cell holding it is that // stride, computed in integers,
    ((2 r + 1) * 32) // (25 * stride), so no tile lands on the wrong side of a float rounding. Tiles are
    2.56 pixels and cells 4 at block 2, so a cell does not line up with one tile: neighbouring tiles can
    share a cell, and some cells hold no tile's centre."""
    if isinstance(side, bool) or not isinstance(side, int | np.integer) or side < 1:
        raise UsageError(f"side must be a positive integer; got {side!r}")
    if OBS_SIZE % side or side & (side - 1):
        raise UsageError(f"side must be 64 / 2**b (64, 32, 16, 8, ...); got {side}")
    stride = OBS_SIZE // int(side)
    row = np.asarray(world_row, dtype=np.int64)
    col = np.asarray(world_col, dtype=np.int64)
    for name, v in (("world row", row), ("world col", col)):
        if v.size and (v.min() < 0 or v.max() >= WORLD_SIDE):
            raise UsageError(
                f"{name} must lie in [0, {WORLD_SIDE - 1}]; got values from {v.min()} to {v.max()}"
            )
    image_row = WORLD_SIDE - 1 - row  # image rows run top-down, grid rows bottom-up
    h = ((2 * image_row + 1) * (OBS_SIZE // 2)) // (WORLD_SIDE * stride)
    w = ((2 * col + 1) * (OBS_SIZE // 2)) // (WORLD_SIDE * stride)
    return h, w
