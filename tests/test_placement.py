"""Cheese placements on real procgen mazes: constraints, determinism, uniformity, parsing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from mazeprobe.errors import UsageError
from mazeprobe.maze.placement import QUADRANTS, parse_placement, place_cheese
from mazeprobe.maze.sampling import ProcgenLevels

SEEDS = np.arange(200, dtype=np.int64)


@pytest.fixture(scope="module")
def mazes():
    source = ProcgenLevels()
    grids, sizes = source(SEEDS)
    source.loader.close()
    assert grids.shape == (200, 25, 25) and grids.dtype == np.int8
    return grids, sizes


def candidates(grid: np.ndarray, n: int, keep) -> set[tuple[int, int]]:
    """Open cells (the natural cheese cell counts as open) other than the start, passing `keep`."""
    return {
        (r, c) for r in range(n) for c in range(n)
        if grid[r, c] != 1 and (r, c) != (0, 0) and keep(r, c)
    }


def cheese_cells(grid: np.ndarray) -> list[tuple[int, int]]:
    return [(int(r), int(c)) for r, c in np.argwhere(grid == 2)]


def assert_only_cheese_moved(before: np.ndarray, after: np.ndarray) -> None:
    a, b = before.copy(), after.copy()
    a[a == 2] = 0
    b[b == 2] = 0
    np.testing.assert_array_equal(a, b)


def test_natural_cheese_is_one_per_maze(mazes) -> None:
    grids, sizes = mazes
    assert set(sizes.tolist()) == set(range(3, 26, 2))
    for g, n in zip(grids, sizes, strict=True):
        assert len(cheese_cells(g[:n, :n])) == 1 and (g[n:] == 1).all() and (g[:, n:] == 1).all()


@pytest.mark.parametrize("region", [1, 2, 3, 5, 7, 25, 100])
@pytest.mark.parametrize("sampling_seed", [0, 1])
def test_region_constraint(mazes, region: int, sampling_seed: int) -> None:
    grids, sizes = mazes
    before = grids.copy()
    out = place_cheese(grids, sizes, SEEDS, parse_placement(f"region:{region}"), sampling_seed)
    np.testing.assert_array_equal(grids, before)  # the input is not modified
    assert out.shape == grids.shape and out.dtype == np.int8
    for i, n in enumerate(sizes):
        lo = n - region
        allowed = candidates(grids[i], n, lambda r, c, lo=lo: r >= lo and c >= lo)
        cells = cheese_cells(out[i])
        assert len(cells) == 1, f"maze {i}: {len(cells)} cheeses"
        assert cells[0] in allowed, f"maze {i} (n={n}): cheese {cells[0]} outside region:{region}"
        assert_only_cheese_moved(grids[i], out[i])
        if region == 1:
            assert cells[0] == (n - 1, n - 1)


def test_region_uses_every_cell_of_the_region(mazes) -> None:
    grids, sizes = mazes
    i = int(np.flatnonzero(sizes == 25)[0])
    allowed = candidates(grids[i], 25, lambda r, c: r >= 20 and c >= 20)
    seen = set()
    for s in range(400):
        seen.update(cheese_cells(place_cheese(grids[i : i + 1], sizes[i : i + 1], SEEDS[i : i + 1],
                                              parse_placement("region:5"), s)[0]))
    assert seen == allowed


@pytest.mark.parametrize("quadrant", QUADRANTS)
def test_quadrant_constraint(mazes, quadrant: str) -> None:
    grids, sizes = mazes
    out = place_cheese(grids, sizes, SEEDS, parse_placement(f"quadrant:{quadrant}"), 3)
    top, right = quadrant.startswith("top"), quadrant.endswith("right")
    empty = 0
    for i, n in enumerate(sizes):
        half = n // 2
        allowed = candidates(
            grids[i], n, lambda r, c, half=half: (r >= half) == top and (c >= half) == right
        )
        cells = cheese_cells(out[i])
        if not allowed:
            # only tiny mazes can have an empty quadrant (bottom-left of a 3x3 is just the start)
            assert cells == [] and n <= 5
            empty += 1
            continue
        assert len(cells) == 1 and cells[0] in allowed, f"maze {i}: {cells} not in {quadrant}"
        assert_only_cheese_moved(grids[i], out[i])
    if quadrant == "bottom-left":
        assert empty == int((sizes == 3).sum())  # (0,0) is the whole bottom-left of a 3x3 maze
    else:
        assert empty == 0


@pytest.mark.parametrize("placement", ["uniform", "region:30", "quadrant:bottom-left"])
def test_start_cell_never_gets_the_cheese(mazes, placement: str) -> None:
    grids, sizes = mazes
    small = np.flatnonzero(sizes <= 5)
    assert len(small) > 10
    for s in range(100):
        out = place_cheese(grids[small], sizes[small], SEEDS[small], parse_placement(placement), s)
        assert (out[:, 0, 0] != 2).all()
        assert ((out == 2).sum(axis=(1, 2)) <= 1).all()
    # a maze whose only open cells are the start and one more: the cheese always goes to that one
    tiny = np.ones((1, 3, 3), np.int8)
    tiny[0, 0, 0] = tiny[0, 0, 1] = 0
    for s in range(50):
        out = place_cheese(tiny, np.array([3]), np.array([s]), parse_placement("uniform"), s)
        assert cheese_cells(out[0]) == [(0, 1)]


def test_uniform_exactly_one_cheese_on_an_open_cell(mazes) -> None:
    grids, sizes = mazes
    out = place_cheese(grids, sizes, SEEDS, parse_placement("uniform"), 0)
    for i, n in enumerate(sizes):
        cells = cheese_cells(out[i])
        assert len(cells) == 1 and cells[0] in candidates(grids[i], n, lambda r, c: True)
        assert (out[i, n:] == 1).all() and (out[i, :, n:] == 1).all()
        assert_only_cheese_moved(grids[i], out[i])


def test_natural_leaves_grids_alone(mazes) -> None:
    grids, sizes = mazes
    out = place_cheese(grids, sizes, SEEDS, parse_placement("natural"), 5)
    np.testing.assert_array_equal(out, grids)


@pytest.mark.parametrize("placement", ["uniform", "region:5", "quadrant:top-left"])
def test_deterministic_and_independent_of_the_batch(mazes, placement: str) -> None:
    grids, sizes = mazes
    p = parse_placement(placement)
    a = place_cheese(grids, sizes, SEEDS, p, 11)
    b = place_cheese(grids.copy(), sizes.copy(), SEEDS.copy(), p, 11)
    np.testing.assert_array_equal(a, b)
    # reversed order, and a sub-batch: each maze gets the same cheese
    rev = place_cheese(grids[::-1], sizes[::-1], SEEDS[::-1], p, 11)[::-1]
    np.testing.assert_array_equal(a, rev)
    sub = place_cheese(grids[50:60], sizes[50:60], SEEDS[50:60], p, 11)
    np.testing.assert_array_equal(a[50:60], sub)
    # a different sampling seed moves most cheeses (where there is more than one choice)
    c = place_cheese(grids, sizes, SEEDS, p, 12)
    differs = (a != c).any(axis=(1, 2))
    big = sizes >= 9
    assert differs[big].mean() > 0.6, differs[big].mean()
    # so does a different level seed for the same maze
    d = place_cheese(grids, sizes, SEEDS + 1000, p, 11)
    assert (a != d).any(axis=(1, 2))[big].mean() > 0.6


def _one_maze(mazes, n: int):
    grids, sizes = mazes
    i = int(np.flatnonzero(sizes == n)[0])
    return grids[i : i + 1], sizes[i : i + 1], SEEDS[i : i + 1]


def _chi_square(counts: dict, cells: set, total: int) -> float:
    assert set(counts) <= cells, f"cheese outside the allowed cells: {set(counts) - cells}"
    observed = np.array([counts.get(p, 0) for p in sorted(cells)])
    assert observed.sum() == total
    return chisquare(observed).pvalue


def test_uniform_chi_square_over_sampling_seeds(mazes) -> None:
    grid, size, seed = _one_maze(mazes, 15)
    cells = candidates(grid[0], 15, lambda r, c: True)
    assert len(cells) > 50
    p = parse_placement("uniform")
    counts: dict = {}
    draws = 20_000
    for s in range(draws):
        out = place_cheese(grid, size, seed, p, s)
        (cell,) = cheese_cells(out[0])
        counts[cell] = counts.get(cell, 0) + 1
    assert (0, 0) not in counts
    assert _chi_square(counts, cells, draws) > 1e-3


def test_uniform_chi_square_over_level_seeds(mazes) -> None:
    grid, size, _ = _one_maze(mazes, 15)
    cells = candidates(grid[0], 15, lambda r, c: True)
    draws = 20_000
    out = place_cheese(np.repeat(grid, draws, axis=0), np.repeat(size, draws),
                       np.arange(draws, dtype=np.int64), parse_placement("uniform"), 7)
    rows, r, c = np.nonzero(out == 2)
    assert len(rows) == draws and len(set(rows.tolist())) == draws
    counts: dict = {}
    for cell in zip(r.tolist(), c.tolist(), strict=True):
        counts[cell] = counts.get(cell, 0) + 1
    assert _chi_square(counts, cells, draws) > 1e-3


def test_region_chi_square(mazes) -> None:
    grid, size, seed = _one_maze(mazes, 25)
    cells = candidates(grid[0], 25, lambda r, c: r >= 20 and c >= 20)
    p = parse_placement("region:5")
    counts: dict = {}
    draws = 5_000
    for s in range(draws):
        (cell,) = cheese_cells(place_cheese(grid, size, seed, p, s)[0])
        counts[cell] = counts.get(cell, 0) + 1
    assert _chi_square(counts, cells, draws) > 1e-3


# --- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,canonical",
    [("natural", "natural"), ("uniform", "uniform"), ("region:5", "region:5"), ("region:1", "region:1"),
     ("quadrant:top-left", "quadrant:top-left"), ("quadrant:bottom-right", "quadrant:bottom-right"),
     (" region:3 ", "region:3")],
)
def test_parse_placement_good(text: str, canonical: str) -> None:
    p = parse_placement(text)
    assert str(p) == canonical
    assert parse_placement(str(p)) == p


@pytest.mark.parametrize(
    "text",
    ["", "foo", "Uniform", "region", "region:", "region:0", "region:-1", "region:x", "region:1.5",
     "region: 3", "quadrant", "quadrant:", "quadrant:middle", "quadrant:TOP-LEFT", "natural:1",
     "uniform:3", "region:5:6"],
)
def test_parse_placement_bad(text: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_placement(text)
    msg = str(exc.value)
    for form in ("natural", "uniform", "region:R", "quadrant:", *QUADRANTS):
        assert form in msg, f"{form!r} missing from {msg!r}"
    assert repr(text.strip()) in msg


def test_parse_placement_unicode_digit() -> None:
    # BUG: str.isdigit() accepts '²', then int('²') raises a bare ValueError (not UsageError).
    with pytest.raises(UsageError):
        parse_placement("region:²")


@pytest.mark.parametrize("text", ["uniform:", "natural:"])
def test_parse_placement_rejects_empty_argument(text: str) -> None:
    with pytest.raises(UsageError):
        parse_placement(text)
