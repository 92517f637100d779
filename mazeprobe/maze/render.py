"""Pictures of a maze for people: text for the terminal, PNG for papers and notes.

Both draw row 0 at the BOTTOM, as procgen renders it, and mark the mouse, the cheese, the decision
square and the top-right 5x5 region.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mazeprobe.atomic import atomic_path
from mazeprobe.maze.geometry import (
    Position,
    cheese_position,
    decision_square,
    shortest_path,
    top_right_region_mask,
    top_right_square,
)
from mazeprobe.maze.procgen import WALL

LEGEND = "# wall   . open   : open in the top-right 5x5   M mouse   C cheese   D decision square   o path"


def maze_text(grid: np.ndarray, mouse: Position = (0, 0), path: list[Position] | None = None) -> str:
    """The maze as text, top row first, with a row/col ruler; `path` cells are marked `o`."""
    n = grid.shape[0]
    visited = set(path or ())
    region = top_right_region_mask(n)
    cheese = cheese_position(grid)
    dsq = decision_square(grid, mouse) if cheese is not None else None
    lines = []
    for r in range(n - 1, -1, -1):
        cells = []
        for c in range(n):
            if (r, c) == tuple(mouse):
                ch = "M"
            elif (r, c) == cheese:
                ch = "C"
            elif (r, c) == dsq:
                ch = "D"
            elif (r, c) in visited:
                ch = "o"
            elif grid[r, c] == WALL:
                ch = "#"
            else:
                ch = ":" if region[r, c] else "."
            cells.append(ch)
        lines.append(f"{r:>3} " + " ".join(cells))
    lines.append("    " + " ".join(str(c % 10) for c in range(n)))
    lines.append("    (row, col): row 0 at the bottom; cols numbered mod 10")
    lines.append(LEGEND)
    return "\n".join(lines)


_COLOURS = {
    "wall": (60, 52, 44),
    "open": (238, 232, 213),
    "region": (214, 226, 240),
    "path_cheese": (250, 200, 90),
    "path_top_right": (150, 190, 230),
    "cheese": (245, 190, 20),
    "mouse": (110, 110, 120),
    "dsq": (200, 40, 40),
}


class MazePicture:
    """A maze drawn with Pillow: walls, the top-right 5x5 region tinted, cheese, mouse and decision
    square; overlays (paths, arrows) are drawn in cell coordinates, row 0 at the bottom."""

    def __init__(self, grid: np.ndarray, mouse: Position = (0, 0), cell: int = 20,
                 shortest_paths: bool = True) -> None:
        from PIL import Image, ImageDraw

        self.grid, self.n, self.cell = grid, grid.shape[0], cell
        self.image = Image.new("RGB", (self.n * cell, self.n * cell), _COLOURS["wall"])
        self.draw = ImageDraw.Draw(self.image)
        region = top_right_region_mask(self.n)
        cheese = cheese_position(grid)
        dsq = decision_square(grid, mouse) if cheese is not None else None
        for r in range(self.n):
            for c in range(self.n):
                if grid[r, c] != WALL:
                    self.draw.rectangle(self.box(r, c), fill=_COLOURS["region" if region[r, c] else "open"])
        if shortest_paths:
            goals = [("path_top_right", top_right_square(self.n))]
            goals += [("path_cheese", cheese)] if cheese else []
            for colour, goal in goals:
                try:
                    cells = shortest_path(grid, mouse, goal)
                except ValueError:
                    continue
                for r, c in cells:
                    self.draw.rectangle(self.box(r, c, cell // 3), fill=_COLOURS[colour])
        if cheese:
            self.draw.ellipse(self.box(*cheese, cell // 8), fill=_COLOURS["cheese"])
        self.draw.ellipse(self.box(*mouse, cell // 8), fill=_COLOURS["mouse"])
        if dsq:
            self.draw.rectangle(self.box(*dsq, 1), outline=_COLOURS["dsq"], width=max(2, cell // 8))

    def box(self, r: int, c: int, inset: int = 0) -> tuple[int, int, int, int]:
        y = (self.n - 1 - r) * self.cell  # image y grows downward; maze rows grow upward
        return c * self.cell + inset, y + inset, (c + 1) * self.cell - 1 - inset, y + self.cell - 1 - inset

    def centre(self, r: float, c: float) -> tuple[float, float]:
        return (c + 0.5) * self.cell, (self.n - 1 - r + 0.5) * self.cell

    def path(self, cells: list[Position], colour: tuple[int, int, int] = (200, 40, 160)) -> None:
        """A polyline through the cells' centres (an episode's path)."""
        if len(cells) > 1:
            self.draw.line([self.centre(r, c) for r, c in cells], fill=colour, width=max(2, self.cell // 6))

    def arrow(self, r: int, c: int, d_col: float, d_row: float, colour=(20, 20, 20)) -> None:
        """An arrow from a cell's centre; (d_col, d_row) in cells, up = +row."""
        x0, y0 = self.centre(r, c)
        x1, y1 = x0 + d_col * self.cell * 0.45, y0 - d_row * self.cell * 0.45
        self.draw.line([(x0, y0), (x1, y1)], fill=colour, width=max(1, self.cell // 12))
        length = float(np.hypot(x1 - x0, y1 - y0))
        if length > 2:
            ux, uy = (x1 - x0) / length, (y1 - y0) / length
            head = min(self.cell * 0.2, length * 0.6)
            left = (x1 - head * (ux - 0.5 * uy), y1 - head * (uy + 0.5 * ux))
            right = (x1 - head * (ux + 0.5 * uy), y1 - head * (uy - 0.5 * ux))
            self.draw.polygon([(x1, y1), left, right], fill=colour)

    def png_bytes(self) -> bytes:
        """The picture as PNG bytes (what a notebook shows)."""
        return image_png(self.image)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the PNG atomically (temporary file, then rename)."""
        with atomic_path(path) as tmp:
            self.image.save(tmp, format="PNG")
        return Path(path)


def image_png(image) -> bytes:
    """A Pillow image as PNG bytes, for `_repr_png_` (nothing is written to disk)."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def notebook_cell(n: int) -> int:
    """Pixels per square for a maze of side n in a notebook: about 320 pixels across, 12 to 32 per square."""
    return max(12, min(32, 320 // max(n, 1)))


def maze_png(grid: np.ndarray, path: str | os.PathLike, mouse: Position = (0, 0), cell: int = 20) -> Path:
    """Draw the maze to a PNG: walls, the 5x5 region tinted, both paths, mouse, cheese, decision square."""
    return MazePicture(grid, mouse, cell).save(path)
