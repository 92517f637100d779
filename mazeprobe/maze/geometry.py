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
from mazeprobe.maze.procgen import CHEESE, REGION_SIZE, WALL

Position = tuple[int, int]

# Neighbour order (UP, DOWN, LEFT, RIGHT) fixes which shortest path is returned when several exist
# (only in edited mazes with loops; procgen mazes are trees).
_MOVES = ((1, 0), (-1, 0), (0, -1), (0, 1))


# --- compiled kernels ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _open_mask(grid, n, mask):
    """Flat open-cell mask of side m = n + 2 with a wall border, so neighbours need no bounds checks.

    Cell (r, c) is index (r + 1) * m + (c + 1); UP/DOWN/LEFT/RIGHT are +m, -m, -1, +1.
    """
    m = n + 2
    for i in range(m * m):
        mask[i] = False
    for r in range(n):
        for c in range(n):
            mask[(r + 1) * m + c + 1] = grid[r, c] != WALL


@numba.njit(cache=True, nogil=True)
def _bfs(mask, m, src, dist, queue):
    """Fill dist (flat, side m) with steps from flat index src; -1 for walls and unreachable cells."""
    for i in range(m * m):
        dist[i] = -1
    if src < 0 or not mask[src]:
        return
    dist[src] = 0
    queue[0] = src
    head, tail = 0, 1
    while head < tail:
        cur = queue[head]
        head += 1
        d = dist[cur] + 1
        # UP, DOWN, LEFT, RIGHT: the order fixes ties (only in edited mazes with loops)
        for j in (cur + m, cur - m, cur - 1, cur + 1):
            if mask[j] and dist[j] < 0:
                dist[j] = d
                queue[tail] = j
                tail += 1


@numba.njit(cache=True, nogil=True)
def _region_minima(mask, n, dist, sr, sc, region):
    """(min steps, min Euclidean, min taxicab) from (sr, sc) to the open cells of the top-right region."""
    m = n + 2
    lo = max(0, n - region)
    best_steps, best_euc, best_taxi = -1, np.inf, -1
    for r in range(lo, n):
        for c in range(lo, n):
            j = (r + 1) * m + c + 1
            if not mask[j]:
                continue
            d = dist[j]
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
def _geometry_one(grid, n, mr, mc, region, iout, fout, mask, dm, dc_, dt, dd, queue):
    for k in range(iout.shape[0]):
        iout[k] = -1
    fout[0] = np.nan
    fout[1] = np.nan
    m = n + 2
    _open_mask(grid, n, mask)
    # the cheese: the first cheese cell in row-major order
    cr, cc = -1, -1
    for r in range(n):
        for c in range(n):
            if grid[r, c] == CHEESE and cr < 0:
                cr, cc = r, c
    iout[0], iout[1] = cr, cc
    tr = n * m + n  # flat index of (n-1, n-1)
    _bfs(mask, m, (mr + 1) * m + mc + 1, dm, queue)
    _bfs(mask, m, tr, dt, queue)
    iout[5] = dm[tr]
    if cr < 0:
        return
    ch = (cr + 1) * m + cc + 1
    _bfs(mask, m, ch, dc_, queue)
    iout[4] = dm[ch]
    iout[6] = dc_[tr]
    s, e, t = _region_minima(mask, n, dc_, cr, cc, region)
    iout[10], fout[0], iout[12] = s, e, t
    d_mc, d_mt = iout[4], iout[5]
    if d_mc < 0 or d_mt < 0:
        return
    # Decision square: the furthest cell from the mouse lying on both shortest paths.
    best, best_d = -1, -1
    for j in range(m * m):
        dj = dm[j]
        if dj > best_d and dj + dc_[j] == d_mc and dj + dt[j] == d_mt:
            best, best_d = j, dj
    # The paths never split when one contains the other (cheese on the way to the top-right square,
    # or the top-right square on the way to the cheese): no decision square then.
    if best < 0 or best == ch or best == tr:
        return
    qr, qc = best // m - 1, best % m - 1
    iout[2], iout[3] = qr, qc
    iout[7] = dc_[best]
    iout[8] = dt[best]
    iout[9] = best_d
    _bfs(mask, m, best, dd, queue)
    s, e, t = _region_minima(mask, n, dd, qr, qc, region)
    iout[11], fout[1], iout[13] = s, e, t


@numba.njit(cache=True, parallel=True)
def _geometry_batch(grids, sizes, mouse, region, iout, fout):
    b = grids.shape[0]
    cells = (grids.shape[1] + 2) ** 2
    blocks = min(b, 64)
    for blk in numba.prange(blocks):
        # scratch allocated once per block of mazes, not once per maze
        mask = np.empty(cells, np.bool_)
        dm = np.empty(cells, np.int32)
        dc_ = np.empty(cells, np.int32)
        dt = np.empty(cells, np.int32)
        dd = np.empty(cells, np.int32)
        queue = np.empty(cells, np.int32)
        for i in range(blk, b, blocks):
            _geometry_one(
                grids[i], sizes[i], mouse[i, 0], mouse[i, 1], region, iout[i], fout[i],
                mask, dm, dc_, dt, dd, queue,
            )


@numba.njit(cache=True, parallel=True)
def _distance_maps(grids, sizes, sources, out):
    b, side = grids.shape[0], grids.shape[1]
    cells = (side + 2) ** 2
    for i in numba.prange(b):
        n = sizes[i]
        m = n + 2
        mask = np.empty(cells, np.bool_)
        dist = np.empty(cells, np.int32)
        queue = np.empty(cells, np.int32)
        _open_mask(grids[i], n, mask)
        src = -1 if sources[i, 0] < 0 else (sources[i, 0] + 1) * m + sources[i, 1] + 1
        _bfs(mask, m, src, dist, queue)
        for r in range(side):
            for c in range(side):
                out[i, r, c] = dist[(r + 1) * m + c + 1] if r < n and c < n else -1


def distance_maps(grids: np.ndarray, sizes: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Steps from each maze's source to every cell: (B, side, side) int32, -1 where unreachable.

    grids/sizes as in `maze_geometry`; sources (B, 2) (row, col); a negative row means no source
    (all -1).
    """
    grids = np.ascontiguousarray(grids, dtype=np.int8)
    sizes = np.ascontiguousarray(sizes, dtype=np.int64)
    sources = np.ascontiguousarray(sources, dtype=np.int64)
    if sources.shape != (len(grids), 2):
        raise UsageError(f"sources must be (B, 2) (row, col); got shape {sources.shape}")
    out = np.empty(grids.shape, dtype=np.int32)
    if len(grids):
        _distance_maps(grids, sizes, sources, out)
    return out


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

    def take(self, index: np.ndarray) -> Geometry:
        """The rows `index` of the batch (an integer or boolean index)."""
        return Geometry(self.sizes[index], self.mouse[index], self.ints[index], self.floats[index])

    @staticmethod
    def concat(parts: Sequence[Geometry]) -> Geometry:
        fields = ("sizes", "mouse", "ints", "floats")
        return Geometry(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


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
    m = n + 2
    mask = np.empty(m * m, np.bool_)
    _open_mask(grid, n, mask)
    dist = np.empty(m * m, np.int32)
    _bfs(mask, m, (r + 1) * m + c + 1, dist, np.empty(m * m, np.int32))
    return dist.reshape(m, m)[1:-1, 1:-1].copy()


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
        for dr, dc in _MOVES:
            rr, cc = r + dr, c + dc
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
