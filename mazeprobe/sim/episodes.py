"""The one episode schema: what the engine records per episode and per decision square, and the rates
read from it. Run directories, the statistics layer's outcome list and the CLI all read it from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from mazeprobe.maze.procgen import REGION_SIZE
from mazeprobe.tables import Field, TableSchema


@dataclass(frozen=True)
class Column:
    name: str
    arrow: pa.DataType
    kind: str
    """The kind of value a filter compares: int, bool, float or path."""
    outcome: str | None
    """How the statistics layer models it as an outcome: binary, fraction, or None (not an outcome)."""
    doc: str


EPISODE_COLUMNS: tuple[Column, ...] = (
    Column("seed", pa.int64(), "int", None, "the procgen level seed of the maze"),
    Column("rollout", pa.int64(), "int", None, "the episode's number on its maze (0..per_maze-1)"),
    Column("got_cheese", pa.bool_(), "bool", "binary", "the mouse entered the cheese's square"),
    Column(
        "reached_top_right_square", pa.bool_(), "bool", "binary", "the mouse stood on (n-1, n-1) at some step"
    ),
    Column(
        "entered_top_right_5x5",
        pa.bool_(),
        "bool",
        "binary",
        f"the mouse entered the top-right {REGION_SIZE}x{REGION_SIZE} region at some step",
    ),
    Column("steps", pa.int64(), "int", None, "steps taken"),
    Column("timed_out", pa.bool_(), "bool", "binary", "max_steps ran out before the cheese"),
    Column("return", pa.float64(), "float", None, "the summed reward"),
    Column("path", pa.list_(pa.int16()), "path", None, "row * maze_size + col of the mouse at each step"),
)
"""One row per episode (episodes.parquet), in this column order."""

DSQ_COLUMNS: tuple[Column, ...] = (
    Column("seed", pa.int64(), "int", None, "the procgen level seed of the maze"),
    Column(
        "p_cheese_at_dsq",
        pa.float64(),
        "float",
        "fraction",
        "with the mouse on the decision square: the probability of the move toward the cheese",
    ),
    Column(
        "p_top_right_at_dsq",
        pa.float64(),
        "float",
        "fraction",
        "with the mouse on the decision square: the probability of the move toward the top-right square",
    ),
)
"""One row per maze (dsq_probs.parquet): null where the maze has no decision square."""


EPISODES = TableSchema("episodes.parquet", tuple(Field(c.name, c.arrow, c.doc) for c in EPISODE_COLUMNS))
"""EPISODE_COLUMNS as the run table's schema (mazeprobe.tables)."""
DSQ = TableSchema("dsq_probs.parquet", tuple(Field(c.name, c.arrow, c.doc) for c in DSQ_COLUMNS))


def outcome_columns() -> dict[str, str]:
    """Every recorded outcome and how it is modelled (binary or fraction), in schema order."""
    return {c.name: c.outcome for c in (*EPISODE_COLUMNS, *DSQ_COLUMNS) if c.outcome}


def episode_record(seed, rollout, n, path: np.ndarray, got: bool, ret: float) -> dict:
    """One episode row from the mouse's path (steps + 1, 2) of (row, col) in a maze of side n."""
    region = n - REGION_SIZE
    rows, cols = path[:, 0], path[:, 1]
    return {
        "seed": int(seed),
        "rollout": int(rollout),
        "got_cheese": got,
        "reached_top_right_square": bool(((rows == n - 1) & (cols == n - 1)).any()),
        "entered_top_right_5x5": bool(((rows >= region) & (cols >= region)).any()),
        "steps": int(len(path) - 1),
        "timed_out": not got,
        "return": ret,
        "path": (rows * n + cols).astype(np.int16),
    }


def columns_table(frame: pd.DataFrame, columns: Sequence[Column]) -> pa.Table:
    """A frame as an Arrow table with exactly the schema's columns and types."""
    arrays = {}
    for c in columns:
        values = [list(p) for p in frame[c.name]] if c.kind == "path" else frame[c.name]
        arrays[c.name] = pa.array(values, c.arrow)
    return pa.table(arrays)


def episodes_table(frame: pd.DataFrame) -> pa.Table:
    """Episode rows (as the engine returns them) as the Arrow table of episodes.parquet."""
    return columns_table(frame, EPISODE_COLUMNS)


def outcome_rates(episodes: pd.DataFrame) -> dict:
    """Outcome rates of a set of episodes (rows as the engine writes them)."""
    got = episodes["got_cheese"]
    return {
        "episodes": len(episodes),
        "got_cheese": float(got.mean()),
        "entered_top_right_5x5_without_cheese": float((episodes["entered_top_right_5x5"] & ~got).mean()),
        "timed_out": float(episodes["timed_out"].mean()),
        "mean_steps_when_got_cheese": float(episodes.loc[got, "steps"].mean()) if got.any() else None,
    }


def path_positions(path: Sequence[int], maze_size: int) -> list[tuple[int, int]]:
    """Decode an episode's `path` column (row * maze_size + col per step) into (row, col) pairs."""
    return [(int(p) // maze_size, int(p) % maze_size) for p in path]
