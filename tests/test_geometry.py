"""Maze geometry and features: hand-built mazes with hand-worked answers, and property tests on random
tree mazes against a slow pure-Python reference.

Mazes are written as text with the TOP row first (as they look on screen); `maze()` flips them so that
row 0 is the bottom row, as in procgen. `test_maze_helper_orientation` pins that convention down.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
import textwrap
from collections import deque

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mazeprobe.errors import UsageError
from mazeprobe.maze.features import PUBLISHED_FEATURES, REGISTRY, compute_features
from mazeprobe.maze.geometry import (
    decision_square,
    distance_map,
    maze_geometry,
    pad_grids,
    shortest_path,
    top_right_region_mask,
    top_right_square,
)

CODES = {".": 0, "#": 1, "C": 2}


def maze(*rows_top_first: str) -> np.ndarray:
    """An (n, n) int8 grid from text rows given top row first ('.' open, '#' wall, 'C' cheese)."""
    return np.array([[CODES[ch] for ch in row] for row in reversed(rows_top_first)], dtype=np.int8)


def features_of(grid: np.ndarray, mouse=(0, 0)) -> pd.Series:
    g, s = pad_grids([grid])
    return compute_features(maze_geometry(g, s, np.array([mouse]))).iloc[0]


def assert_features(row: pd.Series, expected: dict) -> None:
    for name, want in expected.items():
        got = row[name]
        if want is None:
            assert pd.isna(got), f"{name}: expected null, got {got!r}"
        elif isinstance(want, float):
            assert not pd.isna(got), f"{name}: expected {want}, got null"
            assert math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-12), f"{name}: {got} != {want}"
        else:
            assert not pd.isna(got), f"{name}: expected {want!r}, got null"
            assert got == want, f"{name}: {got!r} != {want!r}"


# --- hand-built mazes ------------------------------------------------------------------------------

# D1: a 5x5 tree. Mouse (0,0); cheese (2,4). The path to the cheese runs along the bottom row and up
# column 4; the path to the top-right square (4,4) leaves the bottom row at (0,2) and goes up column 2.
D1 = maze(
    ".#...",
    ".#.##",
    "...#C",
    "##.#.",
    ".....",
)
# D1 with the cheese at (3,2), which lies ON the path to the top-right square: no decision square.
ON_PATH = maze(
    ".#...",
    ".#C##",
    "...#.",
    "##.#.",
    ".....",
)
# The cheese (2,4) is reachable only through the top-right square (4,4): no decision square.
BEYOND_TR = maze(
    ".#...",
    ".#.#.",
    "...#C",
    "##.##",
    ".....",
)
# The paths split at the mouse start: cheese via (0,1), top-right via (1,0).
SPLIT_AT_START = maze(
    ".....",
    ".####",
    ".#C..",
    ".###.",
    ".....",
)
# A 7x7 tree whose top-right 5x5 region (rows >= 2, cols >= 2) is not the whole maze.
# Path mouse -> top-right: (0,0)..(0,4) (1,4) (2,4) (3,4) (4,4) (5,4) (6,4) (6,5) (6,6): 12 steps.
M7 = maze(
    "...#...",
    ".#.#.##",
    ".#.#...",
    ".###.#.",
    "...#.#.",
    "##.#.##",
    ".......",
)


def with_cheese(grid: np.ndarray, r: int, c: int) -> np.ndarray:
    g = grid.copy()
    g[g == 2] = 0
    assert g[r, c] == 0
    g[r, c] = 2
    return g


def test_maze_helper_orientation() -> None:
    g = maze("#C", "..")
    assert g[0, 0] == 0 and g[0, 1] == 0  # bottom row
    assert g[1, 0] == 1 and g[1, 1] == 2  # top row
    assert D1[2, 4] == 2 and D1[1, 1] == 1 and D1[4, 1] == 1 and D1[1, 4] == 0


def test_top_right_square_and_region_mask() -> None:
    assert top_right_square(5) == (4, 4)
    assert top_right_square(25) == (24, 24)
    m = top_right_region_mask(7)
    assert m.shape == (7, 7) and m.sum() == 25
    assert m[2, 2] and m[6, 6] and m[2, 6] and m[6, 2]
    assert not m[1, 6] and not m[6, 1] and not m[0, 0]
    m3 = top_right_region_mask(3)
    assert m3.all()  # smaller than 5x5: the whole maze
    m25 = top_right_region_mask(25)
    assert m25.sum() == 25 and m25[20:, 20:].all()


def test_distance_map_hand() -> None:
    expected_top_first = np.array(
        [
            [8, -1, 6, 7, 8],
            [7, -1, 5, -1, -1],
            [6, 5, 4, -1, 6],
            [-1, -1, 3, -1, 5],
            [0, 1, 2, 3, 4],
        ]
    )
    d = distance_map(D1, (0, 0))
    assert d.shape == (5, 5)
    np.testing.assert_array_equal(d, expected_top_first[::-1])
    # from the cheese cell (walkable)
    dc = distance_map(D1, (2, 4))
    assert dc[2, 4] == 0 and dc[0, 4] == 2 and dc[0, 0] == 6 and dc[4, 4] == 10 and dc[4, 0] == 10


def test_distance_map_unreachable_and_errors() -> None:
    g = maze(
        "..#",
        "###",
        "...",
    )
    d = distance_map(g, (0, 0))
    np.testing.assert_array_equal(d, np.array([[0, 1, 2], [-1, -1, -1], [-1, -1, -1]]))
    with pytest.raises(UsageError):
        distance_map(g, (1, 1))  # a wall
    with pytest.raises(UsageError):
        distance_map(g, (3, 0))  # outside
    with pytest.raises(UsageError):
        distance_map(np.zeros((3, 4), np.int8), (0, 0))  # not square
    with pytest.raises(UsageError):
        shortest_path(g, (0, 0), (2, 0))  # no path


def test_shortest_path_hand() -> None:
    assert shortest_path(D1, (0, 0), (4, 4)) == [
        (0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (3, 2), (4, 2), (4, 3), (4, 4),
    ]
    assert shortest_path(D1, (0, 0), (2, 4)) == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 4), (2, 4)]
    assert shortest_path(D1, (4, 0), (2, 4)) == [
        (4, 0), (3, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2), (0, 3), (0, 4), (1, 4), (2, 4),
    ]
    assert shortest_path(D1, (3, 2), (3, 2)) == [(3, 2)]


def test_decision_square_hand() -> None:
    assert decision_square(D1) == (0, 2)
    assert decision_square(D1, mouse=(4, 0)) == (2, 2)
    assert decision_square(ON_PATH) is None
    assert decision_square(BEYOND_TR) is None
    assert decision_square(SPLIT_AT_START) == (0, 0)
    assert decision_square(M7) is None  # no cheese in M7
    assert decision_square(with_cheese(M7, 0, 6)) == (0, 4)
    assert decision_square(with_cheese(M7, 4, 6)) == (4, 4)
    assert decision_square(with_cheese(M7, 6, 0)) == (0, 2)
    # the mouse standing on the top-right square: the path to it is just the mouse square
    assert decision_square(D1, mouse=(4, 4)) is None


# Every published feature, its taxi variant and mazeprobe's own, on hand-built mazes. Worked by hand:
# margins are (25 - n) // 2 = 10 for n = 5 and 9 for n = 7.
HAND_CASES = {
    "D1": (
        D1,
        (0, 0),
        dict(
            maze_size=5, cheese_row=2, cheese_col=4, mouse_row=0, mouse_col=0,
            has_decision_square=True, dsq_row=0, dsq_col=2,
            cheese_in_top_right_5x5=True,  # n = 5: the region is the whole maze
            cheese_quadrant="top-right",  # half = 2: row 2 counts as top
            steps_between_mouse_cheese=6, cheese_reachable_up_right=True,
            steps_between_cheese_5x5=0, euc_dist_cheese_5x5=0.0, taxi_dist_cheese_5x5=0,
            steps_between_decision_square_5x5=0, euc_dist_decision_square_5x5=0.0,
            taxi_dist_decision_square_5x5=0,
            steps_between_cheese_top_right=10, euc_dist_cheese_top_right=2.0,
            taxi_dist_cheese_top_right=2,
            steps_between_decision_square_top_right=6,
            euc_dist_decision_square_top_right=math.sqrt(20), taxi_dist_decision_square_top_right=6,
            steps_between_cheese_decision_square=4, euc_dist_cheese_decision_square=math.sqrt(8),
            taxi_dist_cheese_decision_square=4,
            cheese_coord_norm=math.sqrt(12**2 + 14**2),
        ),
    ),
    "D1_mouse_top_left": (
        D1,
        (4, 0),
        dict(
            mouse_row=4, mouse_col=0, has_decision_square=True, dsq_row=2, dsq_col=2,
            steps_between_mouse_cheese=10, cheese_reachable_up_right=False,
            steps_between_cheese_decision_square=6, euc_dist_cheese_decision_square=2.0,
            taxi_dist_cheese_decision_square=2,
            steps_between_decision_square_top_right=4, euc_dist_decision_square_top_right=math.sqrt(8),
            taxi_dist_decision_square_top_right=4,
            steps_between_cheese_top_right=10,
        ),
    ),
    "cheese_on_path_to_top_right": (
        ON_PATH,
        (0, 0),
        dict(
            cheese_row=3, cheese_col=2, has_decision_square=False, dsq_row=None, dsq_col=None,
            steps_between_mouse_cheese=5, cheese_reachable_up_right=True,
            steps_between_cheese_top_right=3, euc_dist_cheese_top_right=math.sqrt(5),
            taxi_dist_cheese_top_right=3,
            steps_between_decision_square_5x5=None, euc_dist_decision_square_5x5=None,
            taxi_dist_decision_square_5x5=None,
            steps_between_decision_square_top_right=None, euc_dist_decision_square_top_right=None,
            taxi_dist_decision_square_top_right=None,
            steps_between_cheese_decision_square=None, euc_dist_cheese_decision_square=None,
            taxi_dist_cheese_decision_square=None,
            cheese_coord_norm=math.sqrt(13**2 + 12**2), cheese_quadrant="top-right",
        ),
    ),
    "top_right_on_path_to_cheese": (
        BEYOND_TR,
        (0, 0),
        dict(
            cheese_row=2, cheese_col=4, has_decision_square=False, dsq_row=None, dsq_col=None,
            steps_between_mouse_cheese=10, cheese_reachable_up_right=False,
            steps_between_cheese_top_right=2, euc_dist_cheese_top_right=2.0,
            taxi_dist_cheese_top_right=2,
            steps_between_decision_square_5x5=None, euc_dist_decision_square_5x5=None,
            steps_between_decision_square_top_right=None, euc_dist_decision_square_top_right=None,
            steps_between_cheese_decision_square=None, euc_dist_cheese_decision_square=None,
        ),
    ),
    "decision_square_is_mouse_start": (
        SPLIT_AT_START,
        (0, 0),
        dict(
            cheese_row=2, cheese_col=2, has_decision_square=True, dsq_row=0, dsq_col=0,
            steps_between_mouse_cheese=8, cheese_reachable_up_right=False,
            steps_between_cheese_decision_square=8, euc_dist_cheese_decision_square=math.sqrt(8),
            taxi_dist_cheese_decision_square=4,
            steps_between_decision_square_top_right=8, euc_dist_decision_square_top_right=math.sqrt(32),
            taxi_dist_decision_square_top_right=8,
            steps_between_cheese_top_right=16, euc_dist_cheese_top_right=math.sqrt(8),
            taxi_dist_cheese_top_right=4,
            cheese_coord_norm=math.sqrt(12**2 + 12**2), cheese_quadrant="top-right",
        ),
    ),
    "M7_cheese_outside_region": (
        with_cheese(M7, 0, 6),
        (0, 0),
        dict(
            maze_size=7, cheese_row=0, cheese_col=6, has_decision_square=True, dsq_row=0, dsq_col=4,
            cheese_in_top_right_5x5=False, cheese_quadrant="bottom-right",
            steps_between_mouse_cheese=6, cheese_reachable_up_right=True,
            # cheese -> (0,5) (0,4) (1,4) (2,4): 4 steps; nearest open region cell (2,6): 2 away
            steps_between_cheese_5x5=4, euc_dist_cheese_5x5=2.0, taxi_dist_cheese_5x5=2,
            steps_between_decision_square_5x5=2, euc_dist_decision_square_5x5=2.0,
            taxi_dist_decision_square_5x5=2,
            steps_between_cheese_top_right=10, euc_dist_cheese_top_right=6.0,
            taxi_dist_cheese_top_right=6,
            steps_between_decision_square_top_right=8, euc_dist_decision_square_top_right=math.sqrt(40),
            taxi_dist_decision_square_top_right=8,
            steps_between_cheese_decision_square=2, euc_dist_cheese_decision_square=2.0,
            taxi_dist_cheese_decision_square=2,
            cheese_coord_norm=math.sqrt(9**2 + 15**2),
        ),
    ),
    "M7_cheese_inside_region": (
        with_cheese(M7, 4, 6),
        (0, 0),
        dict(
            maze_size=7, cheese_row=4, cheese_col=6, has_decision_square=True, dsq_row=4, dsq_col=4,
            cheese_in_top_right_5x5=True, cheese_quadrant="top-right",
            steps_between_mouse_cheese=10, cheese_reachable_up_right=True,
            steps_between_cheese_5x5=0, euc_dist_cheese_5x5=0.0, taxi_dist_cheese_5x5=0,
            steps_between_decision_square_5x5=0, euc_dist_decision_square_5x5=0.0,
            taxi_dist_decision_square_5x5=0,
            steps_between_cheese_top_right=6, euc_dist_cheese_top_right=2.0,
            taxi_dist_cheese_top_right=2,
            steps_between_decision_square_top_right=4, euc_dist_decision_square_top_right=math.sqrt(8),
            taxi_dist_decision_square_top_right=4,
            steps_between_cheese_decision_square=2, euc_dist_cheese_decision_square=2.0,
            taxi_dist_cheese_decision_square=2,
            cheese_coord_norm=math.sqrt(13**2 + 15**2),
        ),
    ),
    "M7_cheese_top_left": (
        with_cheese(M7, 6, 0),
        (0, 0),
        dict(
            cheese_row=6, cheese_col=0, dsq_row=0, dsq_col=2, cheese_in_top_right_5x5=False,
            cheese_quadrant="top-left", steps_between_mouse_cheese=10,
            cheese_reachable_up_right=False,  # the only path steps LEFT from (2,2) to (2,0)
            steps_between_cheese_5x5=2, euc_dist_cheese_5x5=2.0, taxi_dist_cheese_5x5=2,
            steps_between_decision_square_5x5=2, euc_dist_decision_square_5x5=2.0,
            steps_between_cheese_top_right=18, euc_dist_cheese_top_right=6.0,
            steps_between_cheese_decision_square=8,
        ),
    ),
}


@pytest.mark.parametrize("case", list(HAND_CASES))
def test_features_hand(case: str) -> None:
    grid, mouse, expected = HAND_CASES[case]
    assert_features(features_of(grid, mouse), expected)


def test_hand_cases_cover_every_published_and_taxi_feature() -> None:
    covered = set(HAND_CASES["M7_cheese_outside_region"][2])
    taxi = {n for n in REGISTRY if n.startswith("taxi_dist_")}
    assert len(PUBLISHED_FEATURES) == 11
    assert set(PUBLISHED_FEATURES) | taxi <= covered


def test_features_without_cheese_are_null() -> None:
    row = features_of(M7)  # M7 has no cheese
    assert pd.isna(row["has_decision_square"]) or not row["has_decision_square"]
    cheese_dependent = [n for n in REGISTRY if n not in ("maze_size", "mouse_row", "mouse_col",
                                                         "has_decision_square")]
    for name in cheese_dependent:
        assert pd.isna(row[name]), f"{name} should be null without cheese, got {row[name]!r}"
    assert row["maze_size"] == 7 and row["mouse_row"] == 0 and row["mouse_col"] == 0


def test_features_with_unreachable_cheese() -> None:
    unreachable = maze(
        ".....",
        "#####",
        "..C..",
        "#####",
        ".....",
    )
    row = features_of(unreachable)
    assert_features(
        row,
        dict(
            cheese_row=2, cheese_col=2, cheese_quadrant="top-right", cheese_in_top_right_5x5=True,
            # positional features stay defined
            euc_dist_cheese_top_right=math.sqrt(8), taxi_dist_cheese_top_right=4,
            cheese_coord_norm=math.sqrt(12**2 + 12**2), euc_dist_cheese_5x5=0.0,
            steps_between_cheese_5x5=0,  # the cheese cell itself is in the (whole-maze) region
            # path features are null: neither the cheese nor the top-right square can be reached
            steps_between_mouse_cheese=None, cheese_reachable_up_right=None,
            steps_between_cheese_top_right=None, dsq_row=None, dsq_col=None,
            steps_between_decision_square_5x5=None, euc_dist_decision_square_5x5=None,
            steps_between_decision_square_top_right=None, euc_dist_decision_square_top_right=None,
            steps_between_cheese_decision_square=None, euc_dist_cheese_decision_square=None,
            taxi_dist_cheese_decision_square=None,
        ),
    )
    assert not row["has_decision_square"]
    assert decision_square(unreachable) is None


def test_feature_dtypes_never_use_sentinels() -> None:
    df = compute_features(maze_geometry(*pad_grids([ON_PATH, D1, M7])))
    assert str(df["dsq_row"].dtype) == "Int64"
    assert str(df["has_decision_square"].dtype) == "boolean"
    assert df["euc_dist_decision_square_top_right"].dtype == np.float64
    for name in df.columns:
        col = df[name]
        if col.dtype != object and str(col.dtype) not in ("string", "boolean"):
            assert not (col.dropna() < 0).any(), f"{name} holds a negative sentinel"
    # M7 has no cheese: whether the paths split is undefined, so null rather than False
    assert df["has_decision_square"].iloc[:2].tolist() == [False, True]
    assert df["has_decision_square"].isna().tolist() == [False, False, True]
    assert df["dsq_row"].isna().tolist() == [True, False, True]


def test_batch_padding_matches_single() -> None:
    grids = [D1, with_cheese(M7, 0, 6), ON_PATH, SPLIT_AT_START, with_cheese(M7, 4, 6), BEYOND_TR]
    g, s = pad_grids(grids)
    assert g.shape == (6, 7, 7) and s.tolist() == [5, 7, 5, 5, 7, 5]
    assert (g[0, 5:, :] == 1).all() and (g[0, :, 5:] == 1).all()
    batch = compute_features(maze_geometry(g, s))
    g25, s25 = pad_grids(grids, side=25)
    batch25 = compute_features(maze_geometry(g25, s25))
    for i, grid in enumerate(grids):
        single = features_of(grid)
        pd.testing.assert_series_equal(batch.iloc[i], single, check_names=False)
        pd.testing.assert_series_equal(batch25.iloc[i], single, check_names=False)


def test_decision_square_in_a_loop_maze_follows_the_documented_tie_rule() -> None:
    # A wall-free 3x3 maze, cheese at (1,2). shortest_path returns (0,0) (1,0) (1,1) (1,2) and
    # (0,0) (1,0) (2,0) (2,1) (2,2): they split after (1,0). decision_square is defined without
    # tie-breaks (documented): the cheese lies on ANOTHER shortest path to the top-right,
    # (0,0) (0,1) (0,2) (1,2) (2,2), so the paths need never split and there is none.
    g = maze(
        "...",
        "..C",
        "...",
    )
    assert shortest_path(g, (0, 0), (1, 2)) == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert shortest_path(g, (0, 0), (2, 2)) == [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2)]
    assert decision_square(g) is None


# --- the mouse argument must name an open cell inside the maze ---------------------------------------


def _run_isolated(code: str) -> subprocess.CompletedProcess:
    # out-of-range positions reach a compiled kernel without bounds checks: run them in a child process
    # so that memory corruption cannot take the test session down.
    prelude = textwrap.dedent(
        """
        import numpy as np
        from mazeprobe.errors import UsageError
        from mazeprobe.maze.geometry import decision_square, maze_geometry
        D1 = np.array({grid!r}, dtype=np.int8)
        """
    ).format(grid=D1.tolist())
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("mouse", [(5, 0), (0, 5), (9, 9), (-1, 0)])
def test_decision_square_rejects_mouse_outside_maze(mouse) -> None:
    # BUG: decision_square / maze_geometry never check the mouse; (5, 0) on a 5x5 grid reads and
    # writes past the arrays in the numba kernel and returns a bogus decision square (2, 2).
    proc = _run_isolated(
        f"""
        try:
            r = decision_square(D1, mouse={mouse!r})
            print("RETURNED", r)
        except UsageError as e:
            print("USAGEERROR", e)
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "USAGEERROR" in proc.stdout, f"decision_square(D1, mouse={mouse}) -> {proc.stdout.strip()}"


def test_decision_square_rejects_mouse_on_wall() -> None:
    with pytest.raises(UsageError):
        decision_square(D1, mouse=(1, 1))


def test_maze_geometry_rejects_mouse_outside_its_maze() -> None:
    # BUG (same as above, batch API): a mouse outside the maze's n x n area is not rejected. With an
    # unpadded batch, mouse (2, 5) on a 5x5 maze reads grid[2, 5] = the memory of grid[3, 0] and answers
    # as if the mouse stood at (3, 0) (decision square (2, 2), 9 steps to the cheese).
    proc = _run_isolated(
        """
        for g, mouse in ((D1[None], [2, 5]), (np.pad(D1, ((0, 2), (0, 2)), constant_values=1)[None], [5, 0])):
            try:
                geo = maze_geometry(g, np.array([5]), np.array([mouse]))
                print("RETURNED", geo.ints.tolist())
            except UsageError as e:
                print("USAGEERROR", e)
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("USAGEERROR") == 2, proc.stdout


# --- random tree mazes: properties and a slow reference ------------------------------------------


def tree_maze(n: int, seed: int) -> np.ndarray:
    """A random spanning tree on procgen's lattice: rooms at even (row, col), passages between them
    (randomised depth-first search)."""
    rng = random.Random(seed)
    g = np.ones((n, n), dtype=np.int8)
    rooms = (n + 1) // 2
    start = (2 * rng.randrange(rooms), 2 * rng.randrange(rooms))
    g[start] = 0
    stack = [start]
    while stack:
        r, c = stack[-1]
        nxt = [(r + dr, c + dc) for dr, dc in ((2, 0), (-2, 0), (0, 2), (0, -2))
               if 0 <= r + dr < n and 0 <= c + dc < n and g[r + dr, c + dc] == 1]
        if not nxt:
            stack.pop()
            continue
        rr, cc = rng.choice(nxt)
        g[(r + rr) // 2, (c + cc) // 2] = 0
        g[rr, cc] = 0
        stack.append((rr, cc))
    return g


def open_cells(grid: np.ndarray) -> list[tuple[int, int]]:
    return [(int(r), int(c)) for r, c in zip(*np.nonzero(grid != 1), strict=True)]


@st.composite
def tree_cases(draw, with_cheese_: bool = True, mouse_anywhere: bool = True):
    n = draw(st.sampled_from(range(3, 26, 2)))
    grid = tree_maze(n, draw(st.integers(0, 2**32 - 1)))
    cells = open_cells(grid)
    mouse = (0, 0)
    if mouse_anywhere and draw(st.booleans()):
        mouse = cells[draw(st.integers(0, len(cells) - 1))]
    if with_cheese_:
        others = [p for p in cells if p != mouse]
        cr, cc = others[draw(st.integers(0, len(others) - 1))]
        grid[cr, cc] = 2
    return grid, mouse


def test_tree_generator_makes_trees() -> None:
    for n in (3, 5, 11, 25):
        for seed in range(5):
            g = tree_maze(n, seed)
            cells = open_cells(g)
            assert len(cells) == ((n + 1) // 2) ** 2 * 2 - 1  # rooms + (rooms - 1) passages
            edges = sum(
                1 for r, c in cells for rr, cc in ((r + 1, c), (r, c + 1))
                if rr < n and cc < n and g[rr, cc] != 1
            )
            assert edges == len(cells) - 1
            assert len(ref_bfs(g, (0, 0))) == len(cells)  # connected


def ref_bfs(grid: np.ndarray, src) -> dict:
    n = grid.shape[0]
    dist = {tuple(src): 0}
    q = deque([tuple(src)])
    while q:
        r, c = q.popleft()
        for rr, cc in ((r + 1, c), (r - 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < n and 0 <= cc < n and grid[rr, cc] != 1 and (rr, cc) not in dist:
                dist[(rr, cc)] = dist[(r, c)] + 1
                q.append((rr, cc))
    return dist


def ref_path(grid: np.ndarray, a, b) -> list:
    """The (unique, in a tree) path from a to b, walking down the distances to b."""
    db = ref_bfs(grid, b)
    path = [tuple(a)]
    while path[-1] != tuple(b):
        r, c = path[-1]
        path.append(next(p for p in ((r + 1, c), (r - 1, c), (r, c - 1), (r, c + 1))
                         if db.get(p, -2) == db[(r, c)] - 1))
    return path


def ref_features(grid: np.ndarray, mouse) -> dict:
    """Every registered feature, the slow way (one BFS per question)."""
    n = grid.shape[0]
    tr = (n - 1, n - 1)
    margin = (25 - n) // 2
    out = dict(maze_size=n, mouse_row=mouse[0], mouse_col=mouse[1])
    cheese = tuple(int(v) for v in np.argwhere(grid == 2)[0])
    to_cheese = ref_path(grid, mouse, cheese)
    to_tr = ref_path(grid, mouse, tr)
    shared = 0
    while shared < min(len(to_cheese), len(to_tr)) and to_cheese[shared] == to_tr[shared]:
        shared += 1
    dsq = to_cheese[shared - 1]
    if dsq in (cheese, tr):  # one path contains the other
        dsq = None
    region = [p for p in open_cells(grid) if p[0] >= n - 5 and p[1] >= n - 5]

    def euc(a, b):
        return math.hypot(a[0] - b[0], a[1] - b[1])

    def taxi(a, b):
        return abs(a[0] - b[0]) + abs(a[1] - b[1])

    def steps(a, b):
        return ref_bfs(grid, a)[b]

    def region_steps(a):
        d = ref_bfs(grid, a)
        return min(d[p] for p in region)

    out.update(
        cheese_row=cheese[0], cheese_col=cheese[1],
        has_decision_square=dsq is not None,
        dsq_row=None if dsq is None else dsq[0], dsq_col=None if dsq is None else dsq[1],
        cheese_in_top_right_5x5=cheese in region,
        cheese_quadrant=("top" if cheese[0] >= n // 2 else "bottom") + "-"
        + ("right" if cheese[1] >= n // 2 else "left"),
        steps_between_mouse_cheese=len(to_cheese) - 1,
        cheese_reachable_up_right=all(
            (q[0] - p[0], q[1] - p[1]) in ((1, 0), (0, 1))
            for p, q in zip(to_cheese, to_cheese[1:], strict=False)
        ),
        steps_between_cheese_5x5=region_steps(cheese),
        euc_dist_cheese_5x5=min(euc(cheese, p) for p in region),
        taxi_dist_cheese_5x5=min(taxi(cheese, p) for p in region),
        steps_between_cheese_top_right=steps(cheese, tr),
        euc_dist_cheese_top_right=euc(cheese, tr),
        taxi_dist_cheese_top_right=taxi(cheese, tr),
        cheese_coord_norm=math.hypot(cheese[0] + margin, cheese[1] + margin),
    )
    dsq_feats = dict(
        steps_between_decision_square_5x5=lambda: region_steps(dsq),
        euc_dist_decision_square_5x5=lambda: min(euc(dsq, p) for p in region),
        taxi_dist_decision_square_5x5=lambda: min(taxi(dsq, p) for p in region),
        steps_between_decision_square_top_right=lambda: steps(dsq, tr),
        euc_dist_decision_square_top_right=lambda: euc(dsq, tr),
        taxi_dist_decision_square_top_right=lambda: taxi(dsq, tr),
        steps_between_cheese_decision_square=lambda: steps(dsq, cheese),
        euc_dist_cheese_decision_square=lambda: euc(dsq, cheese),
        taxi_dist_cheese_decision_square=lambda: taxi(dsq, cheese),
    )
    for name, f in dsq_feats.items():
        out[name] = None if dsq is None else f()
    return out


def test_reference_agrees_with_hand_answers() -> None:
    # the reference itself is checked against the hand-worked cases before it judges anything
    for grid, mouse, expected in HAND_CASES.values():
        ref = ref_features(grid, mouse)
        for name, want in expected.items():
            got = ref[name]
            if want is None:
                assert got is None, name
            else:
                assert got == pytest.approx(want), name


PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(
    case=tree_cases(with_cheese_=False, mouse_anywhere=False),
    picks=st.lists(st.integers(0, 10**6), min_size=3, max_size=3),
)
def test_distance_symmetry_and_triangle(case, picks) -> None:
    grid, _ = case
    cells = open_cells(grid)
    a, b, c = (cells[k % len(cells)] for k in picks)
    da, db = distance_map(grid, a), distance_map(grid, b)
    dc = distance_map(grid, c)
    assert da[b] == db[a] >= 0
    assert da[c] <= da[b] + db[c]
    assert (da[b] == 0) == (a == b)
    # walls are -1, and every open cell is reachable in a tree
    assert ((da == -1) == (grid == 1)).all()
    # triangle inequality for all cells at once, and |d(a,x) - d(b,x)| <= d(a,b)
    open_ = grid != 1
    assert (da[open_] <= db[open_] + da[b]).all()
    assert (np.abs(da[open_] - dc[open_]) <= da[c]).all()


@PROPS
@given(
    case=tree_cases(with_cheese_=False, mouse_anywhere=False),
    picks=st.lists(st.integers(0, 10**6), min_size=2, max_size=2),
)
def test_distance_map_matches_shortest_path(case, picks) -> None:
    grid, _ = case
    cells = open_cells(grid)
    a, b = (cells[k % len(cells)] for k in picks)
    path = shortest_path(grid, a, b)
    assert path[0] == a and path[-1] == b
    assert len(path) - 1 == distance_map(grid, a)[b]
    assert len(set(path)) == len(path)
    for (r, c), (rr, cc) in zip(path, path[1:], strict=False):
        assert abs(r - rr) + abs(c - cc) == 1 and grid[rr, cc] != 1
    assert path == ref_path(grid, a, b)  # a tree has one simple path
    # and the BFS distances agree with the reference BFS everywhere
    ref = ref_bfs(grid, a)
    d = distance_map(grid, a)
    assert {p: int(d[p]) for p in cells} == ref


@PROPS
@given(case=tree_cases())
def test_decision_square_lies_on_both_paths_and_they_split_after_it(case) -> None:
    grid, mouse = case
    n = grid.shape[0]
    cheese = tuple(int(v) for v in np.argwhere(grid == 2)[0])
    to_cheese = shortest_path(grid, mouse, cheese)
    to_tr = shortest_path(grid, mouse, top_right_square(n))
    dsq = decision_square(grid, mouse)
    if dsq is None:
        short, long_ = sorted((to_cheese, to_tr), key=len)
        assert long_[: len(short)] == short, "no decision square, yet the paths split"
    else:
        k = distance_map(grid, mouse)[dsq]
        assert to_cheese[k] == dsq and to_tr[k] == dsq
        assert to_cheese[: k + 1] == to_tr[: k + 1]
        assert len(to_cheese) > k + 1 and len(to_tr) > k + 1
        assert to_cheese[k + 1] != to_tr[k + 1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(tree_cases(), min_size=1, max_size=4))
def test_features_match_reference(cases) -> None:
    grids = [g for g, _ in cases]
    mice = np.array([m for _, m in cases])
    df = compute_features(maze_geometry(*pad_grids(grids), mice))
    assert list(df.columns) == list(REGISTRY)
    for i, (grid, mouse) in enumerate(cases):
        assert_features(df.iloc[i], ref_features(grid, mouse))
