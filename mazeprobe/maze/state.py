"""`MazeState`: a procgen maze state as frozen data, with the inner grid and edits.

Coordinates are (row, col) in the inner n x n maze, row 0 at the BOTTOM as in procgen (the world grid
is stored `data[y * w + x]` with y pointing up). Inner grid codes: 0 open, 1 wall, 2 cheese; the mouse
is an entity, never a grid cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from mazeprobe.errors import MazeEditError, StateFormatError
from mazeprobe.maze import codec
from mazeprobe.maze.procgen import CHEESE, OPEN, WALL

CODE_NAMES = {OPEN: "open", WALL: "wall", CHEESE: "cheese"}

# procgen object id -> mazeprobe code, as a lookup table over the ids that occur in maze grids.
_TO_CODE = np.full(256, -1, dtype=np.int8)
_TO_CODE[codec.PROCGEN_SPACE] = OPEN
_TO_CODE[codec.PROCGEN_WALL] = WALL
_TO_CODE[codec.PROCGEN_GOAL] = CHEESE
_TO_PROCGEN = np.array([codec.PROCGEN_SPACE, codec.PROCGEN_WALL, codec.PROCGEN_GOAL], dtype=np.int32)

Position = tuple[int, int]


def inner_grid_from_world(world: np.ndarray, maze_size: int) -> np.ndarray:
    """The inner (n, n) grid in mazeprobe codes from procgen's (h, w) world grid, row 0 at the bottom."""
    world_dim = world.shape[0]
    if maze_size < 1 or maze_size > world_dim or maze_size % 2 == 0:
        raise StateFormatError(
            f"bad maze state: maze_dim {maze_size} is not an odd size within the {world_dim}x"
            f"{world_dim} world"
        )
    margin = (world_dim - maze_size) // 2
    inner = world[margin : margin + maze_size, margin : margin + maze_size]
    if inner.min() < 0 or inner.max() > 255:
        raise StateFormatError("bad maze state: the maze grid holds object ids outside 0..255")
    codes = _TO_CODE[inner]
    if (codes < 0).any():
        bad = sorted(set(np.unique(inner[codes < 0]).tolist()))
        raise StateFormatError(
            f"bad maze state: the maze grid holds object ids {bad}; expected only "
            f"{codec.PROCGEN_SPACE} (open), {codec.PROCGEN_WALL} (wall), {codec.PROCGEN_GOAL} (cheese)"
        )
    return codes


@dataclass(frozen=True)
class MazeState:
    """Every field of a procgen 0.10.7 maze state; edits return a new state."""

    fields: Mapping[str, Any]

    # --- bytes -------------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes) -> MazeState:
        """Parse `env.callmethod("get_state")[i]`; raises StateFormatError on anything else."""
        fields = codec.decode_fields(data)
        state = cls(MappingProxyType(fields))
        state.grid  # validate the maze part now, not at first use  # noqa: B018
        return state

    def to_bytes(self) -> bytes:
        """Serialise for `env.callmethod("set_state", [...])`; byte-identical for unedited states."""
        return codec.encode_fields(dict(self.fields))

    # --- what researchers read -----------------------------------------------------------------
    @property
    def maze_size(self) -> int:
        """The inner maze side n (odd, 3..25 in hard mode)."""
        return int(self.fields["maze_dim"])

    @property
    def world_dim(self) -> int:
        return int(self.fields["world_dim"])

    @property
    def margin(self) -> int:
        """Offset of the inner maze in the world grid: (world_dim - n) / 2."""
        return (self.world_dim - self.maze_size) // 2

    @property
    def level_seed(self) -> int:
        return int(self.fields["current_level_seed"])

    @property
    def grid(self) -> np.ndarray:
        """Inner grid, (n, n) int8, codes 0 open / 1 wall / 2 cheese, row 0 at the bottom."""
        out = inner_grid_from_world(np.asarray(self.fields["grid"]), self.maze_size)
        out.setflags(write=False)
        return out

    @property
    def mouse(self) -> Position:
        """The mouse's (row, col) in the inner grid."""
        ent = self._player()
        return int(ent["y"]) - self.margin, int(ent["x"]) - self.margin

    @property
    def cheese(self) -> Position | None:
        """The cheese's (row, col), or None once it has been eaten."""
        rows, cols = np.nonzero(self.grid == CHEESE)
        if len(rows) == 0:
            return None
        return int(rows[0]), int(cols[0])

    # --- display -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        n = self.maze_size
        cheese = self.cheese
        where = "no cheese" if cheese is None else f"cheese {cheese}"
        return f"MazeState(level seed {self.level_seed}, {n}x{n}, mouse {self.mouse}, {where})"

    def _repr_png_(self) -> bytes:
        """The maze as notebooks show it: the picture of `mazeprobe show --png` (row 0 at the bottom)."""
        from mazeprobe.maze.render import MazePicture, notebook_cell

        return MazePicture(self.grid, self.mouse, cell=notebook_cell(self.maze_size)).png_bytes()

    # --- edits -----------------------------------------------------------------------------------
    def with_cheese(self, row: int, col: int) -> MazeState:
        """Move the cheese to an open cell (removing any cheese already present)."""
        self._check_inside(row, col, "cheese")
        grid = self.grid.copy()
        if grid[row, col] == WALL:
            raise MazeEditError(f"cannot put the cheese at ({row}, {col}): that cell is a wall")
        if (row, col) == self.mouse:
            raise MazeEditError(f"cannot put the cheese at ({row}, {col}): the mouse is there")
        grid[grid == CHEESE] = OPEN
        grid[row, col] = CHEESE
        return self._with_inner(grid)

    def with_mouse(self, row: int, col: int) -> MazeState:
        """Move the mouse to an open cell."""
        self._check_inside(row, col, "mouse")
        code = int(self.grid[row, col])
        if code != OPEN:
            raise MazeEditError(
                f"cannot put the mouse at ({row}, {col}): that cell is {CODE_NAMES[code]}"
            )
        fields = dict(self.fields)
        ents = [dict(e) for e in fields["entities"]]
        idx = self._player_index()
        ents[idx]["x"] = float(col + self.margin) + 0.5
        ents[idx]["y"] = float(row + self.margin) + 0.5
        fields["entities"] = ents
        return MazeState(MappingProxyType(fields))

    def without_cheese(self) -> MazeState:
        """The same maze with no cheese (e.g. for activation differences with and without it)."""
        grid = self.grid.copy()
        grid[grid == CHEESE] = OPEN
        return self._with_inner(grid)

    def with_top_right_corridor(self) -> MazeState:
        """The same maze with an L-shaped corridor opened in the wall ring around it: straight up from the
        maze's top-right square (n-1, n-1) to the world's top row, then right along that row to the
        world's top-right corner (the "top-right vector" of the published work). A maze that fills the
        world has no ring: the state comes back unchanged."""
        n, m, w = self.maze_size, self.margin, self.world_dim
        world = np.array(self.fields["grid"], dtype=np.int32)
        top = m + n - 1  # the maze's top-right square in world coordinates (row and col)
        world[top : w, top] = codec.PROCGEN_SPACE  # up the column, rows top..w-1
        world[w - 1, top : w] = codec.PROCGEN_SPACE  # along the world's top row to its corner
        world.setflags(write=False)
        fields = dict(self.fields)
        fields["grid"] = world
        return MazeState(MappingProxyType(fields))

    def with_cell(self, row: int, col: int, code: int) -> MazeState:
        """Set one inner cell to open (0) or wall (1); the cheese moves only with `with_cheese`."""
        self._check_inside(row, col, "cell")
        if code not in (OPEN, WALL):
            raise MazeEditError(
                f"with_cell sets code 0 (open) or 1 (wall); got {code!r} "
                "(move the cheese with with_cheese)"
            )
        if (row, col) == self.cheese:
            raise MazeEditError(
                f"cell ({row}, {col}) holds the cheese; move it with with_cheese or remove it with "
                "without_cheese first"
            )
        if code == WALL and (row, col) == self.mouse:
            raise MazeEditError(f"cannot put a wall at ({row}, {col}): the mouse is there")
        grid = self.grid.copy()
        grid[row, col] = code
        return self._with_inner(grid)

    def with_grid(self, grid: np.ndarray, mouse: Position = (0, 0)) -> MazeState:
        """Replace the whole maze with an (n, n) grid of codes (n odd, at most world_dim).

        The world outside the maze becomes wall, maze_dim becomes n and the mouse is placed at `mouse`.
        """
        grid = np.asarray(grid)
        n = grid.shape[0] if grid.ndim == 2 else -1
        if grid.ndim != 2 or grid.shape[1] != n or n % 2 == 0 or n > self.world_dim:
            raise MazeEditError(
                f"a maze grid must be square with an odd side of at most {self.world_dim}; "
                f"got shape {grid.shape}"
            )
        if not np.isin(grid, (OPEN, WALL, CHEESE)).all():
            raise MazeEditError("a maze grid holds only codes 0 (open), 1 (wall), 2 (cheese)")
        if (grid == CHEESE).sum() > 1:
            raise MazeEditError("a maze grid holds at most one cheese")
        fields = dict(self.fields)
        fields["maze_dim"] = n
        state = MazeState(MappingProxyType(fields))._with_inner(grid.astype(np.int8))
        return state.with_mouse(*mouse)

    # --- helpers -----------------------------------------------------------------------------------
    def _with_inner(self, grid: np.ndarray) -> MazeState:
        n, m = self.maze_size, self.margin
        world = np.full((self.world_dim, self.world_dim), codec.PROCGEN_WALL, dtype=np.int32)
        world[m : m + n, m : m + n] = _TO_PROCGEN[grid]
        world.setflags(write=False)
        fields = dict(self.fields)
        fields["grid"] = world
        return MazeState(MappingProxyType(fields))

    def _check_inside(self, row: int, col: int, what: str) -> None:
        n = self.maze_size
        if not (0 <= row < n and 0 <= col < n):
            raise MazeEditError(
                f"{what} position ({row}, {col}) is outside the {n}x{n} maze "
                f"(rows and cols run 0..{n - 1})"
            )

    def _player_index(self) -> int:
        for i, ent in enumerate(self.fields["entities"]):
            if ent["type"] == codec.PLAYER_TYPE:
                return i
        raise StateFormatError("bad maze state: no player entity (the mouse) among the entities")

    def _player(self) -> Mapping[str, Any]:
        return self.fields["entities"][self._player_index()]
