"""Procgen 0.10.7 `maze` level generation (hard mode, world_dim 25), re-implemented in numba.

Stepping a procgen env to a level costs about 0.5 ms per maze; this module produces the same inner
maze and cheese cell from the level seed alone, mirroring the C++ generator call by call:

* ``Game::reset`` seeds ``rand_gen`` (a ``std::mt19937``) with the level seed;
* ``BasicAbstractGame::game_reset`` draws twice: ``bg_pct_x = rand01()`` (one 32-bit output) and
  ``background_index = randn(9)`` (one output; the maze uses the 9 ``topdown_backgrounds``). Neither
  value affects the maze, only the draw count matters;
* ``MazeGame::game_reset`` draws ``maze_dim = randn(12) * 2 + 3`` (so n is odd, 3..25);
* ``MazeGen::generate_maze`` is a randomised Kruskal: it lists the walls between even cells
  (vertical pairs first, then horizontal), and until the list is empty removes the wall at
  ``randn(len(list))`` (an order-preserving erase), opening it when its two cells are in different
  sets. Opened cells are appended to ``free_cells`` in first-opened order;
* ``MazeGen::place_objects(GOAL, 1)`` draws ``randn(num_free_cells)`` until the cell is not cell 0
  (the mouse's start), and puts the cheese there.

``randn(h)`` is ``mt() % h``. The result is verified against the real env for thousands of level
seeds by ``tests/test_levelgen.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

WORLD_DIM = 25
# Number of maze sizes hard mode draws from: randn((world_dim - 1) / 2) -> n = 3, 5, ..., 25.
_NUM_SIZES = (WORLD_DIM - 1) // 2
MAX_SEED = 2**31 - 1  # exclusive: procgen's level seeds are non-negative int32 below this

OPEN, WALL, CHEESE = 0, 1, 2

# std::mt19937 parameters.
_N = 624
_M = 397
_MATRIX_A = np.uint32(0x9908B0DF)
_UPPER = np.uint32(0x80000000)
_LOWER = np.uint32(0x7FFFFFFF)
# The generator state lives in a linear buffer: x[0:624] is the seeded state and word j >= 624 is
# x[j] = x[j - 227] ^ twist(x[j - 624], x[j - 623]), the standard's recurrence with no modular
# indexing; output k is temper(x[k + 624]). A maze takes at most ~320 outputs, so the buffer is
# rarely full; when it is, its last 624 words move to the front.
_BUF = _N + 1024

# Kruskal's wall list holds at most 2 * k * (k - 1) = 312 walls for k = 13 cells a side; the
# Fenwick tree over it has a power-of-two size for the binary-lifting select.
_MAX_K = (WORLD_DIM + 1) // 2
_MAX_WALLS = 2 * _MAX_K * (_MAX_K - 1)
_FEN = 512
_FEN_LOG = 9


@njit(cache=True, inline="always")
def _mt_seed(x: np.ndarray, seed: np.uint32) -> int:
    # std::mt19937::seed(value): the initialisation recurrence of the C++ standard.
    x[0] = seed
    for i in range(1, _N):
        prev = x[i - 1]
        x[i] = np.uint32(np.uint32(1812433253) * (prev ^ (prev >> np.uint32(30))) + np.uint32(i))
    return _N  # index of the next word to generate


@njit(cache=True, inline="always")
def _mt_next(x: np.ndarray, j: int) -> tuple[np.uint32, int]:
    # Generating word j on demand equals the standard's block twist (which also reads words that
    # are, for the upper part of the block, already twisted).
    if j == _BUF:
        x[:_N] = x[_BUF - _N :]
        j = _N
    y = (x[j - _N] & _UPPER) | (x[j - _N + 1] & _LOWER)
    v = x[j - _N + _M] ^ (y >> np.uint32(1))
    v ^= _MATRIX_A & -(y & np.uint32(1))
    x[j] = v
    # Tempering.
    v ^= v >> np.uint32(11)
    v ^= (v << np.uint32(7)) & np.uint32(0x9D2C5680)
    v ^= (v << np.uint32(15)) & np.uint32(0xEFC60000)
    v ^= v >> np.uint32(18)
    return v, j + 1


@njit(cache=True, inline="always")
def _randn(x: np.ndarray, j: int, high: int) -> tuple[int, int]:
    # RandGen::randn(high) = stdgen() % high on the unsigned 32-bit output (a 32-bit division).
    v, j = _mt_next(x, j)
    return np.int64(v % np.uint32(high)), j


@njit(cache=True, inline="always")
def _find(parent: np.ndarray, a: int) -> int:
    # procgen merges std::sets; only the partition matters, so union-find (path halving) is exact.
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@njit(cache=True)
def _generate_one(
    seed: int,
    out: np.ndarray,
    x: np.ndarray,
    walls: np.ndarray,
    fen: np.ndarray,
    parent: np.ndarray,
    is_free: np.ndarray,
    free_cells: np.ndarray,
) -> int:
    """Write one level into out (the flat 25 x 25 grid, index 25 * y + x); return the maze side n.

    Cells are numbered 25 * y + x here rather than procgen's n * y + x: only the order of cells in
    free_cells and the test for cell 0 (the same cell in both numberings) affect the draws.
    """
    j = _mt_seed(x, np.uint32(seed))
    _, j = _mt_next(x, j)  # bg_pct_x = rand01(): one output
    _, j = _mt_next(x, j)  # background_index = randn(9): one output
    size_idx, j = _randn(x, j, _NUM_SIZES)
    n = size_idx * 2 + 3

    # MazeGen::generate_maze: all walls, then cells opened as walls are knocked through.
    out[:] = WALL
    for c in range(WORLD_DIM * WORLD_DIM):
        parent[c] = c
    is_free[:] = False

    # The wall list in procgen's order, each wall packed as first cell | second cell << 16: first
    # the (x-1, y)-(x+1, y) pairs for odd x (outer loop x, inner loop even y), then the
    # (x, y-1)-(x, y+1) pairs for even x (outer loop x, inner loop odd y).
    nw = 0
    for cx in range(1, n - 1, 2):
        for cy in range(0, n, 2):
            c = WORLD_DIM * cy + cx
            walls[nw] = (c - 1) | ((c + 1) << 16)
            nw += 1
    for cx in range(0, n, 2):
        for cy in range(1, n - 1, 2):
            c = WORLD_DIM * cy + cx
            walls[nw] = (c - WORLD_DIM) | ((c + WORLD_DIM) << 16)
            nw += 1

    # procgen takes walls[randn(len)] and erases it with vector::erase, which keeps the order, so
    # each draw indexes the surviving walls in list order. A Fenwick tree of "still listed" flags
    # finds the r-th survivor in 9 fixed steps instead of shifting the list. Linear-time build.
    for t in range(_FEN + 1):
        fen[t] = 0
    for t in range(1, _FEN + 1):
        if t <= nw:
            fen[t] += 1
        up = t + (t & -t)
        if up <= _FEN:
            fen[up] += fen[t]

    num_free = 0
    for remaining in range(nw, 0, -1):
        r, j = _randn(x, j, remaining)
        # Binary lifting: the largest idx with prefix(idx) <= r; wall idx (0-based) is the pick.
        # Written branch-free: the comparisons are data-dependent coin flips.
        idx = 0
        rem = r + 1
        for lvl in range(_FEN_LOG - 1, -1, -1):
            nxt = idx + (1 << lvl)
            v = fen[nxt]
            take = v < rem
            idx = nxt if take else idx
            rem -= v if take else 0
        w = walls[idx]
        t = idx + 1
        while t <= _FEN:
            fen[t] -= 1
            t += t & -t

        c1 = w & 0xFFFF
        c2 = w >> 16
        c0 = (c1 + c2) >> 1
        a = _find(parent, c1)
        b = _find(parent, c2)
        # The centre is a wall until its own (unique) wall is drawn, so the sets alone decide
        # whether the wall opens. The bookkeeping is branch-free on that outcome (parent[a] = b
        # is harmless when a == b, a being a root).
        opened = np.int64(a != b)
        parent[a] = b
        # set_free_cell order: first end, centre, second end, each cell listed once; the centre
        # belongs to this wall alone, so it is always new when the wall opens.
        free_cells[num_free] = c1
        num_free += opened & (1 - np.int64(is_free[c1]))
        is_free[c1] |= opened
        out[c1] *= 1 - opened  # OPEN == 0
        free_cells[num_free] = c0
        num_free += opened
        out[c0] *= 1 - opened
        free_cells[num_free] = c2
        num_free += opened & (1 - np.int64(is_free[c2]))
        is_free[c2] |= opened
        out[c2] *= 1 - opened

    # MazeGen::place_objects(GOAL, 1): redraw while the pick is the mouse's start, cell 0.
    m, j = _randn(x, j, num_free)
    while free_cells[m] == 0:
        m, j = _randn(x, j, num_free)
    out[free_cells[m]] = CHEESE
    return n


@njit(cache=True, parallel=True)
def _generate_batch(seeds: np.ndarray, grids: np.ndarray, sizes: np.ndarray) -> None:
    count = seeds.shape[0]
    # One scratch set per chunk of seeds, so prange workers never share buffers.
    chunk = 256
    nchunks = (count + chunk - 1) // chunk
    for ci in prange(nchunks):
        x = np.empty(_BUF, dtype=np.uint32)
        walls = np.empty(_MAX_WALLS, dtype=np.int64)
        fen = np.empty(_FEN + 1, dtype=np.int64)
        parent = np.empty(WORLD_DIM * WORLD_DIM, dtype=np.int64)
        is_free = np.empty(WORLD_DIM * WORLD_DIM, dtype=np.int64)
        free_cells = np.empty(WORLD_DIM * WORLD_DIM + 2, dtype=np.int64)
        end = min(count, (ci + 1) * chunk)
        for k in range(ci * chunk, end):
            sizes[k] = _generate_one(seeds[k], grids[k], x, walls, fen, parent, is_free, free_cells)


def generate_levels(seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inner mazes for procgen `maze` hard-mode level seeds, without stepping an env.

    Returns ``grids`` (len(seeds), 25, 25) int8 and ``sizes`` (len(seeds),) int64. ``grids[i, :n, :n]``
    (n = sizes[i]) is the inner maze in mazeprobe codes (0 open, 1 wall, 2 cheese), indexed
    [row, col] with row 0 at the bottom; cells outside it are 1. The mouse starts at (0, 0).
    Raises ValueError unless every seed is an integer in [0, 2**31 - 1).
    """
    arr = np.asarray(seeds)
    if arr.ndim != 1:
        raise ValueError(f"seeds must be a 1-D array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"seeds must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= MAX_SEED):
        bad = arr[(arr < 0) | (arr >= MAX_SEED)][0]
        raise ValueError(f"level seeds must be in [0, 2**31 - 1); got {int(bad)}")
    grids = np.empty((arr.size, WORLD_DIM, WORLD_DIM), dtype=np.int8)
    sizes = np.empty(arr.size, dtype=np.int64)
    if arr.size:
        _generate_batch(arr, grids.reshape(arr.size, WORLD_DIM * WORLD_DIM), sizes)
    return grids, sizes
