"""Pictures of a maze for people: text for the terminal, PNG for papers and notes.

Both draw row 0 at the BOTTOM, as procgen renders it, and mark the mouse, the cheese, the decision
square and the top-right 5x5 region.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mazeprobe.maze.geometry import (
    WALL,
    Position,
    cheese_position,
    decision_square,
    shortest_path,
    top_right_region_mask,
    top_right_square,
)

LEGEND = "# wall   . open   : open in the top-right 5x5   M mouse   C cheese   D decision square"


def maze_text(grid: np.ndarray, mouse: Position = (0, 0)) -> str:
    """The maze as text, top row first, with a row/col ruler."""
    n = grid.shape[0]
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


def maze_png(grid: np.ndarray, path: str | os.PathLike, mouse: Position = (0, 0), cell: int = 20) -> Path:
    """Draw the maze to a PNG: walls, the 5x5 region tinted, both paths, mouse, cheese, decision square."""
    from PIL import Image, ImageDraw

    n = grid.shape[0]
    img = Image.new("RGB", (n * cell, n * cell), _COLOURS["wall"])
    draw = ImageDraw.Draw(img)
    region = top_right_region_mask(n)
    cheese = cheese_position(grid)
    dsq = decision_square(grid, mouse) if cheese is not None else None

    def box(r: int, c: int, inset: int = 0) -> tuple[int, int, int, int]:
        y = (n - 1 - r) * cell  # image y grows downward; maze rows grow upward
        return c * cell + inset, y + inset, (c + 1) * cell - 1 - inset, y + cell - 1 - inset

    for r in range(n):
        for c in range(n):
            if grid[r, c] != WALL:
                draw.rectangle(box(r, c), fill=_COLOURS["region" if region[r, c] else "open"])
    tr = top_right_square(n)
    paths = [("path_top_right", tr)] + ([("path_cheese", cheese)] if cheese else [])
    for colour, goal in paths:
        try:
            cells = shortest_path(grid, mouse, goal)
        except ValueError:
            continue
        for r, c in cells:
            draw.rectangle(box(r, c, cell // 3), fill=_COLOURS[colour])
    if cheese:
        draw.ellipse(box(*cheese, cell // 8), fill=_COLOURS["cheese"])
    draw.ellipse(box(*mouse, cell // 8), fill=_COLOURS["mouse"])
    if dsq:
        draw.rectangle(box(*dsq, 1), outline=_COLOURS["dsq"], width=max(2, cell // 8))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
