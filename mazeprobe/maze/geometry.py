"""Maze geometry: shortest-path distances, paths, the decision square, the top-right square and region.

Grids are (n, n) int8 arrays of codes 0 open / 1 wall / 2 cheese, indexed [row, col] with row 0 at the
bottom. Moves are UP (+1, 0), DOWN (-1, 0), LEFT (0, -1), RIGHT (0, +1); the cheese cell is walkable.

Two layers: single-maze functions for people and tests, and `maze_geometry`, one compiled pass over a
batch that computes every distance the features need (three or four breadth-first searches a maze).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from mazeprobe.errors import UsageError

Position = tuple[int, int]
WALL = 1
CHEESE = 2
REGION_SIZE = 5

# Neighbour order (UP, DOWN, LEFT, RIGHT) fixes which shortest path is returned when several exist
# (only in edited mazes with loops; procgen mazes are trees).
_DR = np.array([1, -1, 0, 0], dtype=np.int64)
_DC = np.array([0, 0, -1, 1], dtype=np.int64)


# --- compiled kernels ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _bfs(grid, n, sr, sc, dist, queue):
    """Fill dist[r * n + c] with steps from (sr, sc); -1 for walls and unreachable cells."""
    for i in range(n * n):
        dist[i] = -1
    if sr < 0 or sc < 0 or grid[sr, sc] == WALL:
        return
    dist[sr * n + sc] = 0
    queue[0] = sr * n + sc
    head, tail = 0, 1
    while head < tail:
        cur = queue[head]
        head += 1
        r, c = cur // n, cur % n
        for k in range(4):
            rr, cc = r + _DR[k], c + _DC[k]
            if 0 <= rr < n and 0 <= cc < n and grid[rr, cc] != WALL:
                j = rr * n + cc
                if dist[j] < 0:
                    dist[j] = dist[cur] + 1
                    queue[tail] = j
                    tail += 1


@numba.njit(cache=True, nogil=True)
def _region_minima(grid, n, dist, sr, sc, region):
    """(min steps, min Euclidean, min taxicab) from (sr, sc) to the open cells of the top-right region."""
    lo = max(0, n - region)
    best_steps, best_euc, best_taxi = -1, np.inf, -1
    for r in range(lo, n):
        for c in range(lo, n):
            if grid[r, c] == WALL:
                continue
            d = dist[r * n + c]
            if d >= 0 and (best_steps < 0 or d < best_steps):
                best_steps = d
            dr, dc = r - sr, c - sc
            e = np.sqrt(dr * dr + dc * dc)
            if e < best_euc:
                best_euc = e
            t = abs(dr) + abs(dc)
            if best_taxi < 0 or t < best_taxi:
                best_taxi = t
    return best_steps, best_euc, best_taxi


# Column layout of the integer output of `_geometry_batch`.
INT_COLUMNS = (
    "cheese_row", "cheese_col", "dsq_row", "dsq_col",
    "steps_mouse_cheese", "steps_mouse_top_right", "steps_cheese_top_right",
    "steps_dsq_cheese", "steps_dsq_top_right", "steps_mouse_dsq",
    "steps_cheese_5x5", "steps_dsq_5x5", "taxi_cheese_5x5", "taxi_dsq_5x5",
)
FLOAT_COLUMNS = ("euc_cheese_5x5", "euc_dsq_5x5")
_I = {name: i for i, name in enumerate(INT_COLUMNS)}


@numba.njit(cache=True, nogil=True)
def _geometry_one(grid, n, mr, mc, region, iout, fout, dm, dc_, dt, dd, queue):
    for k in range(iout.shape[0]):
        iout[k] = -1
    fout[0] = np.nan
    fout[1] = np.nan
    # the cheese: the first cheese cell in row-major order
    cr, cc = -1, -1
    for r in range(n):
        for c in range(n):
            if grid[r, c] == CHEESE and cr < 0:
                cr, cc = r, c
    iout[0], iout[1] = cr, cc
    tr = n - 1
    _bfs(grid, n, mr, mc, dm, queue)
    _bfs(grid, n, tr, tr, dt, queue)
    iout[5] = dm[tr * n + tr]
    if cr < 0:
        return
    _bfs(grid, n, cr, cc, dc_, queue)
    iout[4] = dm[cr * n + cc]
    iout[6] = dc_[tr * n + tr]
    s, e, t = _region_minima(grid, n, dc_, cr, cc, region)
    iout[10], fout[0], iout[12] = s, e, t
    d_mc, d_mt = iout[4], iout[5]
    if d_mc < 0 or d_mt < 0:
        return
    # Decision square: the furthest cell from the mouse lying on both shortest paths.
    best, best_d = -1, -1
    for j in range(n * n):
        dj = dm[j]
        if dj >= 0 and dj + dc_[j] == d_mc and dj + dt[j] == d_mt and dj > best_d:
            best, best_d = j, dj
    # The paths never split when one contains the other (cheese on the way to the top-right square,
    # or the top-right square on the way to the cheese): no decision square then.
    if best < 0 or best == cr * n + cc or best == tr * n + tr:
        return
    qr, qc = best // n, best % n
    iout[2], iout[3] = qr, qc
    iout[7] = dc_[best]
    iout[8] = dt[best]
    iout[9] = best_d
    _bfs(grid, n, qr, qc, dd, queue)
    s, e, t = _region_minima(grid, n, dd, qr, qc, region)
    iout[11], fout[1], iout[13] = s, e, t


@numba.njit(cache=True, parallel=True)
def _geometry_batch(grids, sizes, mouse, region, iout, fout):
    b = grids.shape[0]
    side = grids.shape[1]
    for i in numba.prange(b):
        cells = side * side
        dm = np.empty(cells, np.int32)
        dc_ = np.empty(cells, np.int32)
        dt = np.empty(cells, np.int32)
        dd = np.empty(cells, np.int32)
        queue = np.empty(cells, np.int32)
        _geometry_one(
            grids[i], sizes[i], mouse[i, 0], mouse[i, 1], region, iout[i], fout[i], dm, dc_, dt, dd, queue
        )


# --- batch API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    """Per-maze geometry for a batch: `ints` (B, len(INT_COLUMNS)) with -1 for undefined, `floats`
    (B, len(FLOAT_COLUMNS)) with NaN for undefined, plus the inputs it was computed from."""

    sizes: np.ndarray
    mouse: np.ndarray
    ints: np.ndarray
    floats: np.ndarray

    def int_column(self, name: str) -> np.ndarray:
        return self.ints[:, _I[name]]

    def float_column(self, name: str) -> np.ndarray:
        return self.floats[:, FLOAT_COLUMNS.index(name)]


def pad_grids(grids: Sequence[np.ndarray], side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack (n, n) grids of different sizes into (B, side, side) int8, padding with wall."""
    sizes = np.array([g.shape[0] for g in grids], dtype=np.int64)
    side = int(side or (sizes.max() if len(sizes) else 1))
    out = np.ones((len(grids), side, side), dtype=np.int8)
    for i, g in enumerate(grids):
        n = g.shape[0]
        out[i, :n, :n] = g
    return out, sizes


def maze_geometry(
    grids: np.ndarray, sizes: np.ndarray, mouse: np.ndarray | None = None, region: int = REGION_SIZE
) -> Geometry:
    """Distances, decision squares and region distances for a padded batch of mazes.

    grids: (B, side, side) int8 with grids[i, :n, :n] the inner maze; sizes: (B,) maze sides;
    mouse: (B, 2) (row, col), default (0, 0), the mouse start.
    """
    grids = np.ascontiguousarray(grids, dtype=np.int8)
    sizes = np.ascontiguousarray(sizes, dtype=np.int64)
    if grids.ndim != 3 or grids.shape[1] != grids.shape[2] or len(sizes) != len(grids):
        raise UsageError(
            f"maze_geometry needs grids (B, side, side) and sizes (B,); got {grids.shape} and "
            f"{sizes.shape}"
        )
    if len(sizes) and (sizes.min() < 1 or sizes.max() > grids.shape[1]):
        raise UsageError(f"maze sizes must lie in 1..{grids.shape[1]}")
    if mouse is None:
        mouse = np.zeros((len(grids), 2), dtype=np.int64)
    mouse = np.ascontiguousarray(mouse, dtype=np.int64)
    if mouse.shape != (len(grids), 2):
        raise UsageError(f"mouse must be (B, 2) (row, col) positions; got shape {mouse.shape}")
    _check_mice(grids, sizes, mouse)
    iout = np.empty((len(grids), len(INT_COLUMNS)), dtype=np.int32)
    fout = np.empty((len(grids), len(FLOAT_COLUMNS)), dtype=np.float64)
    if len(grids):
        _geometry_batch(grids, sizes, mouse, region, iout, fout)
    return Geometry(sizes=sizes, mouse=mouse, ints=iout, floats=fout)


def _check_mice(grids: np.ndarray, sizes: np.ndarray, mouse: np.ndarray) -> None:
    # the compiled kernel trusts its inputs: a mouse outside the maze would read past the arrays
    inside = (mouse >= 0).all(axis=1) & (mouse < sizes[:, None]).all(axis=1)
    if not inside.all():
        i = int(np.flatnonzero(~inside)[0])
        raise UsageError(
            f"maze {i}: mouse ({mouse[i, 0]}, {mouse[i, 1]}) is outside the {sizes[i]}x{sizes[i]} maze"
        )
    on_wall = grids[np.arange(len(grids)), mouse[:, 0], mouse[:, 1]] == WALL
    if on_wall.any():
        i = int(np.flatnonzero(on_wall)[0])
        raise UsageError(f"maze {i}: mouse ({mouse[i, 0]}, {mouse[i, 1]}) is on a wall")


# --- single-maze API -------------------------------------------------------------------------------


def _as_grid(grid: np.ndarray) -> np.ndarray:
    grid = np.ascontiguousarray(grid, dtype=np.int8)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1]:
        raise UsageError(f"a maze grid must be a square 2-D array; got shape {grid.shape}")
    return grid


def _check_cell(grid: np.ndarray, pos: Position, what: str) -> tuple[int, int]:
    n = grid.shape[0]
    r, c = int(pos[0]), int(pos[1])
    if not (0 <= r < n and 0 <= c < n):
        raise UsageError(f"{what} ({r}, {c}) is outside the {n}x{n} maze")
    if grid[r, c] == WALL:
        raise UsageError(f"{what} ({r}, {c}) is a wall")
    return r, c


def distance_map(grid: np.ndarray, source: Position) -> np.ndarray:
    """Steps from `source` to every cell, (n, n) int32; -1 for walls and unreachable cells."""
    grid = _as_grid(grid)
    n = grid.shape[0]
    r, c = _check_cell(grid, source, "source")
    dist = np.empty(n * n, np.int32)
    _bfs(grid, n, r, c, dist, np.empty(n * n, np.int32))
    return dist.reshape(n, n)


def shortest_path(grid: np.ndarray, start: Position, end: Position) -> list[Position]:
    """The cells of a shortest path from `start` to `end`, both included."""
    grid = _as_grid(grid)
    n = grid.shape[0]
    start = _check_cell(grid, start, "start")
    end = _check_cell(grid, end, "end")
    to_end = distance_map(grid, end)
    if to_end[start] < 0:
        raise UsageError(f"no path from {start} to {end}")
    path = [start]
    r, c = start
    while (r, c) != end:
        for dr, dc in zip(_DR, _DC, strict=True):
            rr, cc = r + int(dr), c + int(dc)
            if 0 <= rr < n and 0 <= cc < n and to_end[rr, cc] == to_end[r, c] - 1:
                r, c = rr, cc
                break
        path.append((r, c))
    return path


def top_right_square(n: int) -> Position:
    """The top-right free square (n-1, n-1), always open in procgen mazes."""
    return n - 1, n - 1


def top_right_region_mask(n: int, size: int = REGION_SIZE) -> np.ndarray:
    """(n, n) bool mask of the top-right `size` x `size` region: row >= n-size and col >= n-size."""
    idx = np.arange(n)
    inside = idx >= n - size
    return inside[:, None] & inside[None, :]


def cheese_position(grid: np.ndarray) -> Position | None:
    """(row, col) of the cheese, or None."""
    rows, cols = np.nonzero(_as_grid(grid) == CHEESE)
    return (int(rows[0]), int(cols[0])) if len(rows) else None


def decision_square(grid: np.ndarray, mouse: Position = (0, 0)) -> Position | None:
    """The last square shared by the shortest paths mouse -> cheese and mouse -> top-right square.

    None when there is no cheese, or one path contains the other (the paths never split). In edited
    mazes with loops, where shortest paths tie, it is the furthest cell from the mouse lying on some
    shortest path to both goals, which need not match the tie-break `shortest_path` makes.
    """
    grid = _as_grid(grid)
    mouse = _check_cell(grid, mouse, "mouse")
    geo = maze_geometry(grid[None], np.array([grid.shape[0]]), np.array([mouse]))
    r, c = geo.int_column("dsq_row")[0], geo.int_column("dsq_col")[0]
    return None if r < 0 else (int(r), int(c))
