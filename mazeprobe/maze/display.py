"""What a notebook shows for the maze layer's objects: one maze as its picture, a maze table as a summary.

    maze_image(table.iloc[0])          # a row of a maze table (or a MazeState): the maze's picture
    summarize_mazes(table)             # n, sizes, seeds, share with a decision square, each feature

`sample_mazes` returns a plain pandas frame, which stays one (pandas shows it as a table); the summary is
a separate object, so nothing changes how pandas displays frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mazeprobe.display import facts_html, note_html, one_line, table_html, view_html
from mazeprobe.errors import UsageError
from mazeprobe.maze.render import MazePicture, maze_text, notebook_cell
from mazeprobe.maze.sampling import row_grid, row_problem

Position = tuple[int, int]


@dataclass(frozen=True, repr=False)
class MazeImage:
    """One maze drawn as `mazeprobe show --png` draws it: walls, the top-right 5x5 tinted, the paths to
    the cheese and to the top-right square, mouse, cheese and decision square (row 0 at the bottom)."""

    grid: np.ndarray
    mouse: Position = (0, 0)
    title: str = ""

    def __repr__(self) -> str:
        n = self.grid.shape[0]
        name = f"{self.title}, " if self.title else ""
        return one_line(f"MazeImage({name}{n}x{n}, mouse {tuple(self.mouse)})")

    def png(self, cell: int | None = None) -> bytes:
        """The picture as PNG bytes; `cell` pixels per square (default: about 320 pixels across)."""
        n = self.grid.shape[0]
        return MazePicture(self.grid, tuple(self.mouse), cell=cell or notebook_cell(n)).png_bytes()

    def text(self) -> str:
        """The maze as `mazeprobe show` prints it."""
        return maze_text(self.grid, tuple(self.mouse))

    def _repr_png_(self) -> bytes:
        return self.png()


def maze_image(maze: object) -> MazeImage:
    """A maze to show: a row of a maze table (a pandas row, a one-row table or a mapping) or a MazeState."""
    if isinstance(maze, pd.DataFrame):
        if len(maze) != 1:
            raise UsageError(f"maze_image draws one maze; the table has {len(maze)} rows (pick one: iloc[i])")
        maze = maze.iloc[0]
    if hasattr(maze, "grid") and hasattr(maze, "mouse") and hasattr(maze, "level_seed"):  # a MazeState
        return MazeImage(np.asarray(maze.grid), tuple(maze.mouse), f"level seed {maze.level_seed}")
    if not isinstance(maze, (pd.Series, Mapping)):
        raise UsageError(f"maze_image takes a maze-table row or a MazeState; got a {type(maze).__name__}")
    row = maze.to_dict() if isinstance(maze, pd.Series) else dict(maze)
    problem = row_problem(row)
    if problem is not None:
        raise UsageError(f"cannot draw this row: {problem}")
    seed = row.get("seed")
    title = "" if seed is None or pd.isna(seed) else f"level seed {int(seed)}"
    return MazeImage(row_grid(row), (int(row["mouse_row"]), int(row["mouse_col"])), title)


# --- a maze table's summary ------------------------------------------------------------------------

_NOT_FEATURES = ("seed", "placement", "grid")


@dataclass(frozen=True, repr=False)
class MazeTableSummary:
    """What a sampled maze table holds, at a glance: counts, sizes, seeds and every feature's spread."""

    n: int
    placements: dict[str, int]
    sizes: dict[int, int]
    seeds: tuple[int, int, int]
    """(smallest, largest, number of distinct) level seeds."""
    with_decision_square: float | None
    """Share of the mazes with cheese that have a decision square (None: the column is absent)."""
    features: pd.DataFrame
    """One row per feature column: kind, defined, mean, sd, min, median, max (numbers), share true
    (booleans), most common (text)."""

    def __repr__(self) -> str:
        lo, hi = (min(self.sizes), max(self.sizes)) if self.sizes else ("-", "-")
        share = self.with_decision_square
        dsq = "" if share is None else f", {share:.0%} with a decision square"
        places = ",".join(self.placements) or "-"
        return one_line(f"MazeTableSummary({self.n} mazes, sizes {lo}-{hi}, placement {places}{dsq})")

    def _repr_html_(self) -> str:
        lo, hi, distinct = self.seeds
        sizes = ", ".join(f"{n}: {k}" for n, k in sorted(self.sizes.items()))
        facts = [
            ("mazes", self.n),
            ("placement", ", ".join(f"{p} ({k})" for p, k in self.placements.items()) or "–"),
            ("sizes (side: mazes)", sizes or "–"),
            ("level seeds", f"{lo} to {hi}, {distinct} distinct" if self.n else "–"),
            ("with a decision square", "–" if self.with_decision_square is None else
             f"{self.with_decision_square:.1%} of the mazes with cheese"),
        ]  # fmt: skip
        cols = ["feature", *self.features.columns]
        rows = []
        for name, r in zip(self.features.index, self.features.itertuples(index=False), strict=True):
            *numbers, share, common = r
            rows.append([name, *numbers, None if pd.isna(share) else f"{share:.1%}",
                         "" if pd.isna(common) else common])  # fmt: skip
        return view_html(
            f"Maze table: {self.n} mazes",
            facts_html(facts),
            table_html(cols, rows, numeric=cols[2:9]),
            note_html("(row, col) with row 0 at the bottom; defined: mazes where the feature has a value."),
        )


def _feature_row(column: pd.Series) -> list[object]:
    values = column.dropna()
    defined = int(len(values))
    blank: list[object] = [None] * 5
    if pd.api.types.is_bool_dtype(column.dtype):
        share = float(values.astype(bool).mean()) if defined else None
        return ["bool", defined, *blank, share, None]
    if pd.api.types.is_numeric_dtype(column.dtype):
        x = values.to_numpy(dtype=float)
        stats = [x.mean(), x.std(ddof=1) if defined > 1 else None, x.min(), float(np.median(x)), x.max()]
        kind = "int" if pd.api.types.is_integer_dtype(column.dtype) else "float"
        return [kind, defined, *(stats if defined else blank), None, None]
    top = values.astype(str).value_counts()
    common = ", ".join(f"{v} ({k})" for v, k in top.head(3).items()) if defined else None
    return ["text", defined, *blank, None, common]


def summarize_mazes(table: pd.DataFrame) -> MazeTableSummary:
    """The summary of a maze table (from `sample_mazes`, `read_mazes` or `RunDir.mazes()`); a notebook
    shows it as a compact table."""
    if not isinstance(table, pd.DataFrame) or "maze_size" not in table.columns:
        raise UsageError("summarize_mazes takes a maze table (a frame with a maze_size column)")
    seeds = table["seed"].dropna().astype("int64") if "seed" in table.columns else pd.Series([], "int64")
    placements = (
        {str(k): int(v) for k, v in table["placement"].value_counts().items()}
        if "placement" in table.columns else {}
    )  # fmt: skip
    sizes = {int(k): int(v) for k, v in table["maze_size"].dropna().value_counts().sort_index().items()}
    dsq = None
    if "has_decision_square" in table.columns:
        known = table["has_decision_square"].dropna()
        dsq = float(known.astype(bool).mean()) if len(known) else None
    names = [c for c in table.columns if c not in _NOT_FEATURES]
    cols = ["kind", "defined", "mean", "sd", "min", "median", "max", "share true", "most common"]
    features = pd.DataFrame([_feature_row(table[c]) for c in names], index=pd.Index(names, name="feature"),
                            columns=cols)  # fmt: skip
    span = (int(seeds.min()), int(seeds.max()), int(seeds.nunique())) if len(seeds) else (0, 0, 0)
    return MazeTableSummary(len(table), placements, sizes, span, dsq, features)


__all__ = ["MazeImage", "MazeTableSummary", "maze_image", "summarize_mazes"]
