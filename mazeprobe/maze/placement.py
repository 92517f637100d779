"""Cheese placements: where the cheese goes in a sampled maze.

- `natural`: procgen's own placement, unchanged.
- `uniform`: uniform over open cells except the mouse start (0, 0).
- `region:R`: the training variant, uniform over open cells with row >= n-R and col >= n-R (the start
  excluded). procgen-tools' fork draws up to 100*n cells and keeps the first inside the region; since
  the top-right square is always open that is the same distribution.
- `quadrant:NAME` (top-left, top-right, bottom-left, bottom-right): uniform over that quadrant's open
  cells; a row is "top" when row >= n // 2 and a column "right" when col >= n // 2 (as the
  `cheese_quadrant` feature).

Draws are a pure function of (sampling seed, level seed, placement), so a maze's cheese never depends
on which other mazes were sampled, in what order, or by how many workers.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numba
import numpy as np

from mazeprobe.errors import UsageError
from mazeprobe.rng import hash_keys

QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")
PLACEMENT_HELP = "natural, uniform, region:R (R >= 1), or quadrant:" + "|".join(QUADRANTS)

# kind codes for the compiled kernel
_UNIFORM, _REGION, _QUADRANT = 1, 2, 3


@dataclass(frozen=True)
class Placement:
    """A parsed placement; `str(p)` gives the canonical spelling stored in the `placement` column."""

    kind: str
    region: int = 0
    quadrant: str = ""

    def __str__(self) -> str:
        if self.kind == "region":
            return f"region:{self.region}"
        if self.kind == "quadrant":
            return f"quadrant:{self.quadrant}"
        return self.kind


def parse_placement(text: str) -> Placement:
    """Parse a placement spelling; raises UsageError naming the allowed forms."""
    text = str(text).strip()
    kind, _, arg = text.partition(":")
    if text in ("natural", "uniform"):
        return Placement(text)
    if kind == "region" and re.fullmatch(r"[0-9]+", arg) and int(arg) >= 1:
        return Placement("region", region=int(arg))
    if kind == "quadrant" and arg in QUADRANTS:
        return Placement("quadrant", quadrant=arg)
    raise UsageError(f"unknown placement {text!r}; expected {PLACEMENT_HELP}")


def placement_draws(level_seeds: np.ndarray, placement: Placement, sampling_seed: int) -> np.ndarray:
    """One uniform 64-bit draw per maze, from (sampling seed, placement, level seed) alone."""
    return hash_keys(sampling_seed, zlib.crc32(str(placement).encode()), level_seeds)


@numba.njit(cache=True, inline="always")
def _is_candidate(g, r, c, kind, lo, half, top, right):
    if g[r, c] != 0 or (r == 0 and c == 0):  # open cells only, never the mouse start
        return False
    if kind == _REGION and (r < lo or c < lo):
        return False
    if kind == _QUADRANT and ((r >= half) != top or (c >= half) != right):
        return False
    return True


@numba.njit(cache=True)
def _place(grids, sizes, draws, kind, region, top, right):
    for i in range(grids.shape[0]):
        n = sizes[i]
        g = grids[i]
        lo = n - region
        half = n // 2
        for r in range(n):
            for c in range(n):
                if g[r, c] == 2:
                    g[r, c] = 0
        count = 0
        for r in range(n):
            for c in range(n):
                count += _is_candidate(g, r, c, kind, lo, half, top, right)
        if count == 0:
            continue
        # the k-th candidate in row-major order (draw % count: bias below 1e-16 for <= 961 cells)
        k = draws[i] % np.uint64(count)
        for r in range(n):
            for c in range(n):
                if _is_candidate(g, r, c, kind, lo, half, top, right):
                    if k == 0:
                        g[r, c] = 2
                    k -= np.uint64(1)


def place_cheese(
    grids: np.ndarray, sizes: np.ndarray, level_seeds: np.ndarray, placement: Placement,
    sampling_seed: int,
) -> np.ndarray:
    """A copy of padded grids (B, side, side) with the cheese placed; `natural` returns them as is.

    A maze with no candidate cell (possible only for tiny quadrants) is left without cheese.
    """
    if placement.kind == "natural":
        return grids
    out = np.array(grids, dtype=np.int8, copy=True)
    kind = {"uniform": _UNIFORM, "region": _REGION, "quadrant": _QUADRANT}[placement.kind]
    _place(
        out, np.asarray(sizes, dtype=np.int64), placement_draws(level_seeds, placement, sampling_seed),
        kind, placement.region, placement.quadrant.startswith("top"),
        placement.quadrant.endswith("right"),
    )
    return out
