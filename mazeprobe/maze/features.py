"""The feature registry: every feature is one decorated function of a batch's `Geometry`.

Names follow procgen-tools (the 11 features of the published regression, their taxi_dist_* variants)
plus mazeprobe's own. Coordinates are (row, col) in the inner grid, row 0 at the bottom. A feature that
is undefined for a maze (no decision square, no cheese) is null, never 0 or -1.

Adding a feature::

    @feature("int")
    def my_feature(g: Geometry) -> np.ndarray:
        \"\"\"One line that `mazeprobe features --list` prints.\"\"\"
        return ...  # one value per maze; -1 (int) or NaN (float) where undefined
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.maze.geometry import Geometry
from mazeprobe.maze.procgen import REGION_SIZE, to_world

KINDS = ("int", "float", "bool", "str")


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str
    func: Callable[[Geometry], np.ndarray]

    @property
    def doc(self) -> str:
        return " ".join((self.func.__doc__ or "").split())


REGISTRY: dict[str, Feature] = {}


def feature(kind: str) -> Callable[[Callable[[Geometry], np.ndarray]], Callable]:
    """Register a feature; its name is the function's name, its help the docstring."""
    if kind not in KINDS:
        raise UsageError(f"feature kind must be one of {KINDS}; got {kind!r}")

    def register(func: Callable[[Geometry], np.ndarray]) -> Callable:
        if not func.__doc__:
            raise UsageError(f"feature {func.__name__} needs a docstring (features --list prints it)")
        if func.__name__ in REGISTRY:
            raise UsageError(f"feature {func.__name__} is registered twice")
        REGISTRY[func.__name__] = Feature(func.__name__, kind, func)
        return func

    return register


# --- helpers shared by the features -----------------------------------------------------------


def _defined(*arrays: np.ndarray) -> np.ndarray:
    ok = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        ok &= a >= 0
    return ok


def _int_or_missing(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    return np.where(ok, values, -1)


def _euclid(r1, c1, r2, c2, ok) -> np.ndarray:
    out = np.hypot(np.asarray(r1, float) - r2, np.asarray(c1, float) - c2)
    return np.where(ok, out, np.nan)


def _taxi(r1, c1, r2, c2, ok) -> np.ndarray:
    return np.where(ok, np.abs(r1 - r2) + np.abs(c1 - c2), -1)


def _cheese(g: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, c = g.int_column("cheese_row"), g.int_column("cheese_col")
    return r, c, r >= 0


def _dsq(g: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, c = g.int_column("dsq_row"), g.int_column("dsq_col")
    return r, c, r >= 0


def _top_right(g: Geometry) -> np.ndarray:
    return g.sizes - 1


# --- the maze and its positions ------------------------------------------------------------------


@feature("int")
def maze_size(g: Geometry) -> np.ndarray:
    """Side n of the inner maze (odd, 3..25 in hard mode)."""
    return g.sizes


@feature("int")
def cheese_row(g: Geometry) -> np.ndarray:
    """Row of the cheese (row 0 at the bottom)."""
    return g.int_column("cheese_row")


@feature("int")
def cheese_col(g: Geometry) -> np.ndarray:
    """Column of the cheese."""
    return g.int_column("cheese_col")


@feature("int")
def mouse_row(g: Geometry) -> np.ndarray:
    """Row of the mouse (0 at the start of an episode)."""
    return g.mouse[:, 0]


@feature("int")
def mouse_col(g: Geometry) -> np.ndarray:
    """Column of the mouse (0 at the start of an episode)."""
    return g.mouse[:, 1]


@feature("bool")
def has_decision_square(g: Geometry) -> np.ndarray:
    """Whether the paths mouse->cheese and mouse->top-right square split (a decision square exists)."""
    return np.where(g.int_column("cheese_row") >= 0, g.int_column("dsq_row") >= 0, -1)


@feature("int")
def dsq_row(g: Geometry) -> np.ndarray:
    """Row of the decision square: the last square the paths to the cheese and to the top-right share."""
    return g.int_column("dsq_row")


@feature("int")
def dsq_col(g: Geometry) -> np.ndarray:
    """Column of the decision square."""
    return g.int_column("dsq_col")


@feature("bool")
def cheese_in_top_right_5x5(g: Geometry) -> np.ndarray:
    """Whether the cheese lies in the top-right 5x5 region (row >= n-5 and col >= n-5)."""
    r, c, ok = _cheese(g)
    lo = g.sizes - REGION_SIZE
    return np.where(ok, (r >= lo) & (c >= lo), -1)


@feature("str")
def cheese_quadrant(g: Geometry) -> np.ndarray:
    """Quadrant of the cheese: top-/bottom- (row >= n//2 is top) and -left/-right (col >= n//2)."""
    r, c, ok = _cheese(g)
    half = g.sizes // 2
    names = np.array(["bottom-left", "bottom-right", "top-left", "top-right"], dtype=object)
    out = names[(r >= half).astype(int) * 2 + (c >= half).astype(int)]
    return np.where(ok, out, None)


@feature("float")
def euc_dist_cheese_top_right_quadrant(g: Geometry) -> np.ndarray:
    """Euclidean distance from the cheese to the nearest cell of the top-right quadrant (row >= n//2
    and col >= n//2, walls included); 0 when the cheese lies in it."""
    r, c, ok = _cheese(g)
    half = g.sizes // 2
    # the nearest point of an axis-aligned square region: clamp each coordinate into it
    return _euclid(np.maximum(half - r, 0), np.maximum(half - c, 0), 0, 0, ok)


@feature("int")
def steps_between_mouse_cheese(g: Geometry) -> np.ndarray:
    """Steps on the shortest path from the mouse to the cheese."""
    return g.int_column("steps_mouse_cheese")


@feature("bool")
def cheese_reachable_up_right(g: Geometry) -> np.ndarray:
    """Whether a path from the mouse to the cheese exists that only moves up or right."""
    r, c, ok = _cheese(g)
    steps = g.int_column("steps_mouse_cheese")
    ok &= steps >= 0
    dr, dc = r - g.mouse[:, 0], c - g.mouse[:, 1]
    # a path as short as the taxicab distance to a cell up and to the right never moves down or left
    monotone = (dr >= 0) & (dc >= 0) & (steps == dr + dc)
    return np.where(ok, monotone, -1)


# --- the published features (procgen-tools names) -------------------------------------------------


@feature("int")
def steps_between_cheese_5x5(g: Geometry) -> np.ndarray:
    """Fewest steps from the cheese to any cell of the top-right 5x5 region."""
    return g.int_column("steps_cheese_5x5")


@feature("float")
def euc_dist_cheese_5x5(g: Geometry) -> np.ndarray:
    """Euclidean distance from the cheese to the nearest open cell of the top-right 5x5 region."""
    return g.float_column("euc_cheese_5x5")


@feature("int")
def steps_between_decision_square_5x5(g: Geometry) -> np.ndarray:
    """Fewest steps from the decision square to any cell of the top-right 5x5 region."""
    return g.int_column("steps_dsq_5x5")


@feature("float")
def euc_dist_decision_square_5x5(g: Geometry) -> np.ndarray:
    """Euclidean distance from the decision square to the nearest open cell of the top-right 5x5."""
    return g.float_column("euc_dsq_5x5")


@feature("int")
def steps_between_cheese_top_right(g: Geometry) -> np.ndarray:
    """Steps on the shortest path from the cheese to the top-right square (n-1, n-1)."""
    return g.int_column("steps_cheese_top_right")


@feature("float")
def euc_dist_cheese_top_right(g: Geometry) -> np.ndarray:
    """Euclidean distance from the cheese to the top-right square (n-1, n-1)."""
    r, c, ok = _cheese(g)
    tr = _top_right(g)
    return _euclid(r, c, tr, tr, ok)


@feature("int")
def steps_between_decision_square_top_right(g: Geometry) -> np.ndarray:
    """Steps on the shortest path from the decision square to the top-right square."""
    return g.int_column("steps_dsq_top_right")


@feature("float")
def euc_dist_decision_square_top_right(g: Geometry) -> np.ndarray:
    """Euclidean distance from the decision square to the top-right square."""
    r, c, ok = _dsq(g)
    tr = _top_right(g)
    return _euclid(r, c, tr, tr, ok)


@feature("int")
def steps_between_cheese_decision_square(g: Geometry) -> np.ndarray:
    """Steps on the shortest path from the decision square to the cheese."""
    return g.int_column("steps_dsq_cheese")


@feature("float")
def euc_dist_cheese_decision_square(g: Geometry) -> np.ndarray:
    """Euclidean distance from the decision square to the cheese."""
    r, c, ok = _cheese(g)
    qr, qc, qok = _dsq(g)
    return _euclid(r, c, qr, qc, ok & qok)


@feature("float")
def cheese_coord_norm(g: Geometry) -> np.ndarray:
    """Euclidean norm of the cheese's (row, col) in the OUTER 25x25 grid (inner + margin)."""
    r, c, ok = _cheese(g)
    wr, wc = to_world(r, c, g.sizes)
    return _euclid(wr, wc, 0, 0, ok)


# --- taxicab (L1) variants ------------------------------------------------------------------------


@feature("int")
def taxi_dist_cheese_5x5(g: Geometry) -> np.ndarray:
    """Taxicab distance from the cheese to the nearest open cell of the top-right 5x5 region."""
    return g.int_column("taxi_cheese_5x5")


@feature("int")
def taxi_dist_decision_square_5x5(g: Geometry) -> np.ndarray:
    """Taxicab distance from the decision square to the nearest open cell of the top-right 5x5."""
    return g.int_column("taxi_dsq_5x5")


@feature("int")
def taxi_dist_cheese_top_right(g: Geometry) -> np.ndarray:
    """Taxicab distance from the cheese to the top-right square."""
    r, c, ok = _cheese(g)
    tr = _top_right(g)
    return _taxi(r, c, tr, tr, ok)


@feature("int")
def taxi_dist_decision_square_top_right(g: Geometry) -> np.ndarray:
    """Taxicab distance from the decision square to the top-right square."""
    r, c, ok = _dsq(g)
    tr = _top_right(g)
    return _taxi(r, c, tr, tr, ok)


@feature("int")
def taxi_dist_cheese_decision_square(g: Geometry) -> np.ndarray:
    """Taxicab distance from the decision square to the cheese."""
    r, c, ok = _cheese(g)
    qr, qc, qok = _dsq(g)
    return _taxi(r, c, qr, qc, ok & qok)


PUBLISHED_FEATURES = (
    "steps_between_cheese_5x5", "euc_dist_cheese_5x5", "steps_between_decision_square_5x5",
    "euc_dist_decision_square_5x5", "steps_between_cheese_top_right", "euc_dist_cheese_top_right",
    "steps_between_decision_square_top_right", "euc_dist_decision_square_top_right",
    "steps_between_cheese_decision_square", "euc_dist_cheese_decision_square", "cheese_coord_norm",
)


# --- evaluation ----------------------------------------------------------------------------------


def _to_series(feat: Feature, values: np.ndarray) -> pd.Series:
    values = np.asarray(values)
    if feat.kind == "int":
        data = values.astype(np.int64)
        return pd.Series(pd.arrays.IntegerArray(data, data < 0), name=feat.name, copy=False)
    if feat.kind == "float":
        return pd.Series(values.astype(np.float64), name=feat.name, copy=False)
    if feat.kind == "bool":
        if values.dtype == bool:
            return pd.Series(pd.arrays.BooleanArray(values, np.zeros(len(values), bool)), name=feat.name)
        return pd.Series(pd.arrays.BooleanArray(values > 0, values < 0), name=feat.name, copy=False)
    return pd.Series(pd.array(values, dtype="string"), name=feat.name)


def compute_features(geometry: Geometry, names: Iterable[str] | None = None) -> pd.DataFrame:
    """A frame with one column per feature (all registered ones by default), one row per maze.

    Integer features are nullable Int64, booleans nullable boolean, floats float64 with NaN for null.
    """
    names = list(REGISTRY) if names is None else list(names)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UsageError(f"unknown feature(s) {unknown}; known: {', '.join(REGISTRY)}")
    columns = {}
    for name in names:
        feat = REGISTRY[name]
        columns[name] = _to_series(feat, feat.func(geometry))
    return pd.DataFrame(columns)
