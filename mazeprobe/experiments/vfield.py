"""Vector fields: the policy's action distribution with the mouse placed on every open square in turn.

The picture researchers know from the published work: at each square an arrow whose components are
P(right) - P(left) and P(up) - P(down), on the maze with cheese, decision square and top-right 5x5. With
edits (mazeprobe.agents.edits) the same field under the edit, and the difference of the two.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mazeprobe.display import one_line
from mazeprobe.errors import UsageError
from mazeprobe.maze.procgen import WALL
from mazeprobe.maze.sampling import row_grid
from mazeprobe.sim import GROUP_MATRIX, Policy, Roller, maze_batch, start_states

MOVES = ("p_up", "p_down", "p_left", "p_right")


def vector_fields(
    policy: Policy, table: pd.DataFrame, roller: Roller, edits=None, rankings: dict | None = None
) -> pd.DataFrame:
    """The fields of every maze of a maze table at once: one row per (maze, open square), the cheese's
    square excluded: seed, row, col, p_up, p_down, p_left, p_right. All the mazes' squares are rendered
    by one long-lived renderer and evaluated in full batches; `edits` (an Edit or a list of them) are
    prepared for each maze and active on every square of it (a network policy only), reading the channel
    rankings `rankings` (layer -> ranking record, as a run's manifest keeps them) where they name one."""
    mazes = maze_batch(table)
    states = start_states(mazes.table, roller.loader)
    if edits is not None:
        if not hasattr(policy, "with_edits"):
            raise UsageError(f"edits change a network; {policy.name!r} is not one")
        from mazeprobe.agents.edits import prepare_edits

        policy = policy.with_edits(prepare_edits(edits, policy.model, mazes, roller, rankings))
    owner, cells = [], []
    for m, state in enumerate(states):
        n = int(mazes.sizes[m])
        grid = mazes.grids[m, :n, :n]
        cheese = state.cheese
        for r, c in np.argwhere(grid != WALL):
            if (int(r), int(c)) != cheese:
                owner.append(m)
                cells.append((int(r), int(c)))
    owner = np.asarray(owner, dtype=np.int64)
    positions = np.array(cells, dtype=np.int64).reshape(-1, 2)
    policy.prepare(mazes)
    obs = (
        roller.render([states[m].with_mouse(r, c) for m, (r, c) in zip(owner, cells, strict=True)])
        if (policy.reads_pixels)
        else None
    )
    groups = policy.action_probs(obs, owner, positions) @ GROUP_MATRIX
    return pd.DataFrame(
        {
            "seed": mazes.table["seed"].to_numpy(np.int64)[owner],
            "row": positions[:, 0],
            "col": positions[:, 1],
            **dict(zip(MOVES, groups.T, strict=True)),
        }
    )


def vector_field(
    policy: Policy, maze_row: pd.DataFrame, roller: Roller, edits=None, rankings: dict | None = None
) -> pd.DataFrame:
    """One row per open square (the cheese's excluded): row, col, p_up, p_down, p_left, p_right.

    `maze_row` is a one-row maze table (the maze layer's schema); `edits` (an Edit or a list of them)
    are prepared for that maze and active on every square (a network policy only)."""
    return vector_fields(policy, maze_row, roller, edits, rankings).drop(columns=["seed"])


def field_difference(edited: pd.DataFrame, original: pd.DataFrame) -> pd.DataFrame:
    """edited - original, square by square (both fields of one maze)."""
    a, b = edited.set_index(["row", "col"]), original.set_index(["row", "col"])
    return (a[list(MOVES)] - b.loc[a.index, list(MOVES)]).reset_index()


def field_tv(edited: pd.DataFrame, original: pd.DataFrame) -> float:
    """Mean over squares of the total-variation distance between the two action distributions (up,
    down, left, right, and every action that does not move)."""
    d = field_difference(edited, original)[list(MOVES)].to_numpy()
    still = -d.sum(axis=1, keepdims=True)  # the no-move mass changes by minus the moves' change
    return float(0.5 * np.abs(np.concatenate([d, still], axis=1)).sum(axis=1).mean())


def vector_field_png(field: pd.DataFrame, maze_row: pd.DataFrame, path, cell: int = 24):
    """Draw the field as arrows on the maze (no shortest paths, so the arrows stay readable)."""
    return vector_field_pictures([("", field)], maze_row, path, cell)


@dataclass(frozen=True, repr=False)
class VectorFieldPicture:
    """Fields side by side on the same maze, each under its title (e.g. original, edited, difference):
    an arrow per square with components P(right) - P(left) and P(up) - P(down). A notebook shows the
    picture; `save` writes the PNG."""

    panels: tuple[tuple[str, pd.DataFrame], ...]
    maze_row: pd.DataFrame
    """The maze: a one-row maze table (the maze layer's schema)."""
    cell: int = 24

    def __repr__(self) -> str:
        row = self.maze_row.iloc[0]
        n = int(row["maze_size"])
        titles = ", ".join(t for t, _ in self.panels if t) or f"{len(self.panels)} panel(s)"
        return one_line(f"VectorFieldPicture(level seed {int(row['seed'])}, {n}x{n}, {titles})")

    def image(self):
        """The picture as a Pillow image."""
        from PIL import Image, ImageDraw

        from mazeprobe.maze.render import MazePicture

        grid = row_grid(self.maze_row.iloc[0])
        pictures = []
        for _, field in self.panels:
            picture = MazePicture(grid, (0, 0), cell=self.cell, shortest_paths=False)
            for f in field.itertuples():
                picture.arrow(f.row, f.col, f.p_right - f.p_left, f.p_up - f.p_down)
            pictures.append(picture.image)
        titled = any(title for title, _ in self.panels)
        top, gap = (16 if titled else 0), 8
        width = sum(p.width for p in pictures) + gap * (len(pictures) - 1)
        out = Image.new("RGB", (width, pictures[0].height + top), (255, 255, 255))
        x = 0
        for (title, _), picture in zip(self.panels, pictures, strict=True):
            out.paste(picture, (x, top))
            if title:
                ImageDraw.Draw(out).text((x + 2, 2), title, fill=(0, 0, 0))
            x += picture.width + gap
        return out

    def png(self) -> bytes:
        from mazeprobe.maze.render import image_png

        return image_png(self.image())

    def _repr_png_(self) -> bytes:
        return self.png()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the PNG atomically (temporary file, then rename)."""
        from mazeprobe.atomic import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            self.image().save(tmp, format="PNG")
        return path


def field_picture(
    field: pd.DataFrame | Sequence[tuple[str, pd.DataFrame]], maze_row: pd.DataFrame | pd.Series,
    cell: int | None = None,
) -> VectorFieldPicture:
    """A vector field to show (or several, as (title, field) panels) on its maze: `maze_row` is a one-row
    maze table or one row of it. A notebook shows the result as the picture."""
    from mazeprobe.maze.render import notebook_cell

    if isinstance(maze_row, pd.Series):
        maze_row = maze_row.to_frame().T
    if not isinstance(maze_row, pd.DataFrame) or len(maze_row) != 1:
        raise UsageError("field_picture draws on one maze: give a one-row maze table or one row of it")
    panels = (("", field),) if isinstance(field, pd.DataFrame) else tuple(field)
    n = int(maze_row.iloc[0]["maze_size"])
    return VectorFieldPicture(panels, maze_row.reset_index(drop=True), cell or notebook_cell(n))


def vector_field_pictures(
    panels: Sequence[tuple[str, pd.DataFrame]],
    maze_row: pd.DataFrame,
    path: str | os.PathLike,
    cell: int = 24,
) -> Path:
    """Fields side by side on the same maze, each under its title (e.g. original, edited, difference)."""
    return VectorFieldPicture(tuple(panels), maze_row, cell).save(path)
