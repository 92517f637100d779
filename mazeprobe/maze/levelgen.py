"""Procgen 0.10.7 `maze` level generation (hard mode, world_dim 25), re-implemented in numba.

Stepping a procgen env to a level costs about 0.5 ms per maze; this module produces the same inner
maze and cheese cell from the level seed alone, mirroring the C++ generator call by call:

* ``Game::reset`` seeds ``rand_gen`` (a ``std::mt19937``) with the level seed;
* ``BasicAbstractGame::game_reset`` draws twice: ``bg_pct_x = rand01()`` (one 32-bit output) and
  ``background_index = randn(9)`` (one output; the maze uses the 9 ``topdown_backgrounds``). Neither
  value affects the maze, only the draw count matters;
* ``MazeGame::game_reset`` draws ``maze_dim = randn(12) * 2 + 3`` (so n is odd, 3..25);
* ``MazeGen::generate_maze`` is a randomised Kruskal: it lists the walls between cells with even
  coordinates (pairs across x first, then pairs across y) and, until the list is empty, removes
  the wall at ``randn(len(list))`` (an order-preserving erase), opening it when its two cells are
  in different sets. Opened cells are appended to ``free_cells`` in first-opened order;
* ``MazeGen::place_objects(GOAL, 1)`` draws ``randn(num_free_cells)`` until the cell is not cell 0
  (the mouse's start), and puts the cheese there.

``randn(h)`` is ``mt() % h`` and ``rand01()`` is ``mt() / 2**32``: one output each. Nothing else
draws from ``rand_gen`` between the seeding and the cheese (the background is not procedurally
generated for the maze). The output is verified against the real env for thousands of level seeds
by ``tests/test_levelgen.py``.

Speed comes from a batch kernel: std::mt19937 seeding interleaved over 8 seeds, the Kruskal list
kept as a bit set with a branch-free select instead of vector::erase, and union-find for the sets.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from mazeprobe.maze.procgen import CHEESE, OPEN, WALL, WORLD_SIDE

WORLD_DIM = WORLD_SIDE
# Number of maze sizes hard mode draws from: randn((world_dim - 1) / 2) -> n = 3, 5, ..., 25.
_NUM_SIZES = (WORLD_DIM - 1) // 2
MAX_SEED = 2**31 - 1  # exclusive: procgen's level seeds are non-negative int32 below this

__all__ = ["CHEESE", "MAX_SEED", "OPEN", "WALL", "WORLD_DIM", "generate_levels"]

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
_BUF = _N + 512
_LANES = 8  # seeds whose std::mt19937 seeding is interleaved

# Kruskal's wall list holds at most 2 * k * (k - 1) = 312 walls for k = 13 cells a side, tracked
# as a bit set of _WORDS 64-bit words.
_MAX_K = (WORLD_DIM + 1) // 2
_MAX_WALLS = 2 * _MAX_K * (_MAX_K - 1)
_WORDS = (_MAX_WALLS + 63) // 64


def _select_in_byte_table() -> np.ndarray:
    # [byte | rank << 8] -> position of the set bit of that rank in the byte (8 if none).
    table = np.full(256 * 8, 8, dtype=np.int8)
    for byte in range(256):
        ones = [b for b in range(8) if byte >> b & 1]
        for rank, b in enumerate(ones):
            table[byte | rank << 8] = b
    return table


_SELECT_IN_BYTE = _select_in_byte_table()


@intrinsic
def _popcount(typingctx, v):
    # llvm.ctpop: one popcnt instruction where the CPU has it (numba has no popcount of its own).
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True, inline="always")
def _seed_lanes(xs: np.ndarray, seeds: np.ndarray, start: int, lanes: int) -> None:
    # std::mt19937::seed(value) (the standard's initialisation recurrence) of seeds[start:start +
    # lanes] into xs[0:lanes, :624]. Each recurrence is a serial chain of multiplies; interleaving
    # _LANES independent seeds lets them overlap (spare lanes repeat the last seed). numba widens
    # uint32 arithmetic to 64 bits; storing into the uint32 buffer is the mod 2**32 wrap.
    for g in range(_LANES):
        xs[g, 0] = np.uint32(seeds[start + min(g, lanes - 1)])
    for i in range(1, _N):
        for g in range(_LANES):
            prev = xs[g, i - 1]
            xs[g, i] = np.uint32(1812433253) * (prev ^ (prev >> np.uint32(30))) + np.uint32(i)


@njit(cache=True, inline="always")
def _mt_next(x: np.ndarray, j: int) -> tuple[np.uint32, int]:
    # Generating word j on demand equals the standard's block twist (which also reads words that
    # are, for the upper part of the block, already twisted).
    if j == _BUF:
        x[:_N] = x[_BUF - _N :]
        j = _N
    y = (x[j - _N] & _UPPER) | (x[j - _N + 1] & _LOWER)
    v = x[j - _N + _M] ^ (y >> np.uint32(1))
    v ^= _MATRIX_A & -(y & np.uint32(1))  # xor the matrix in when y is odd, branch-free
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
    # procgen merges std::sets; only the partition matters, so union-find is exact. Trees stay
    # shallow, so three unconditional hops usually reach the root and the loop rarely runs (fewer
    # mispredicted branches than a plain loop); the start cell is then pointed at the root.
    r = parent[parent[parent[a]]]
    while parent[r] != r:
        r = parent[r]
    parent[a] = r
    return r


@njit(cache=True, inline="always")
def _select_bit(word: np.uint64, rank: int) -> int:
    # Position of the set bit of the given rank (0 = lowest) in word, branch-free: byte-wise
    # popcounts and their running sums in parallel (SWAR), the target byte from a parallel compare,
    # then a table lookup within the byte (Vigna's broadword select).
    w = word
    s = w - ((w & np.uint64(0xAAAAAAAAAAAAAAAA)) >> np.uint64(1))
    s = (s & np.uint64(0x3333333333333333)) + ((s >> np.uint64(2)) & np.uint64(0x3333333333333333))
    s = (s + (s >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    byte_sums = s * np.uint64(0x0101010101010101)  # byte k: set bits in bytes 0..k
    rk = np.uint64(rank)
    below = ((rk * np.uint64(0x0101010101010101)) | np.uint64(0x8080808080808080)) - byte_sums
    place = _popcount(below & np.uint64(0x8080808080808080)) * np.uint64(8)
    byte_rank = rk - (((byte_sums << np.uint64(8)) >> place) & np.uint64(0xFF))
    in_byte = _SELECT_IN_BYTE[((w >> place) & np.uint64(0xFF)) | (byte_rank << np.uint64(8))]
    return np.int64(place) + np.int64(in_byte)


@njit(cache=True)
def _generate_one(
    out: np.ndarray,
    x: np.ndarray,
    walls: np.ndarray,
    present: np.ndarray,
    picked: np.ndarray,
    opened_walls: np.ndarray,
    parent: np.ndarray,
    is_free: np.ndarray,
    free_cells: np.ndarray,
) -> int:
    """Write the level whose seeded generator state is x[:624] into out; return the maze side n.

    out is the flat 25 x 25 grid. Cells are numbered 25 * y + x here rather than procgen's
    n * y + x: only the order of cells in free_cells and the test for cell 0 (the same cell in
    both numberings) affect the draws.
    """
    j = _N  # next word to generate: x[:624] is the seeded state (see _seed_lanes)
    _, j = _mt_next(x, j)  # bg_pct_x = rand01(): one output
    _, j = _mt_next(x, j)  # background_index = randn(9): one output
    size_idx, j = _randn(x, j, _NUM_SIZES)
    n = size_idx * 2 + 3

    # MazeGen::generate_maze starts from all walls and a singleton set per cell. (procgen sets
    # cell (0, 0) to 0 first, but for n >= 3 every even cell is opened, so that never shows.)
    out[:] = WALL
    for c in range(WORLD_DIM * WORLD_DIM):
        parent[c] = c

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
    # each draw indexes the surviving walls in list order. Here the survivors are a bit set and a
    # draw r selects its (r+1)-th set bit: no list shifting, and no branches on the draw (its
    # comparisons are coin flips a CPU cannot predict). Which wall each draw picks does not depend
    # on what the earlier walls did, so all picks are made first and the sets merged after.
    for q in range(_WORDS):
        present[q] = np.uint64(0)
    for k in range(nw):
        present[k >> 6] |= np.uint64(1) << np.uint64(k & 63)

    n_open = 0
    for remaining in range(nw, 0, -1):
        r, j = _randn(x, j, remaining)
        # Word holding the pick: the number of words whose running popcount stays <= r.
        cum = 0
        base = 0
        wi = 0
        for q in range(_WORDS - 1):
            cum += np.int64(_popcount(present[q]))
            le = cum <= r
            wi += le
            base = cum if le else base
        bit = _select_bit(present[wi], r - base)
        present[wi] &= ~(np.uint64(1) << np.uint64(bit))
        picked[remaining] = walls[64 * wi + bit]

    for remaining in range(nw, 0, -1):
        w = picked[remaining]
        a = _find(parent, w & 0xFFFF)
        b = _find(parent, w >> 16)
        # The centre is a wall until its own (unique) wall is drawn, so the sets alone decide
        # whether the wall opens. parent[a] = b is harmless when a == b (a is a root), so the
        # update needs no branch; opened walls are only recorded here, in order.
        opened = np.int64(a != b)
        parent[a] = b
        opened_walls[n_open] = w
        n_open += opened

    # set_free_cell order: for each opened wall, its first end (if not yet listed), its centre
    # (always new: it belongs to this wall alone), its second end (if not yet listed). Each slot is
    # written unconditionally and kept only if the cell is new (branch-free).
    for c in range(WORLD_DIM * WORLD_DIM):
        is_free[c] = 0
    num_free = 0
    for i in range(n_open):
        w = opened_walls[i]
        c1 = w & 0xFFFF
        c2 = w >> 16
        free_cells[num_free] = c1
        num_free += 1 - is_free[c1]
        is_free[c1] = 1
        free_cells[num_free] = (c1 + c2) >> 1
        num_free += 1
        free_cells[num_free] = c2
        num_free += 1 - is_free[c2]
        is_free[c2] = 1
    for i in range(num_free):
        out[free_cells[i]] = OPEN

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
        xs = np.empty((_LANES, _BUF), dtype=np.uint32)
        walls = np.empty(_WORDS * 64, dtype=np.int64)
        present = np.empty(_WORDS, dtype=np.uint64)
        picked = np.empty(_MAX_WALLS + 1, dtype=np.int64)
        opened_walls = np.empty(_MAX_WALLS + 1, dtype=np.int64)
        parent = np.empty(WORLD_DIM * WORLD_DIM, dtype=np.int64)
        is_free = np.empty(WORLD_DIM * WORLD_DIM, dtype=np.int64)
        free_cells = np.empty(WORLD_DIM * WORLD_DIM + 2, dtype=np.int64)
        end = min(count, (ci + 1) * chunk)
        for k0 in range(ci * chunk, end, _LANES):
            lanes = min(_LANES, end - k0)
            _seed_lanes(xs, seeds, k0, lanes)
            for g in range(lanes):
                sizes[k0 + g] = _generate_one(
                    grids[k0 + g],
                    xs[g],
                    walls,
                    present,
                    picked,
                    opened_walls,
                    parent,
                    is_free,
                    free_cells,
                )


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
