"""Donor mazes of a `resample` edit (mazeprobe.agents.edits): for each maze, another maze whose channel
maps replace its own, chosen by a seeded rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.maze.procgen import to_world
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.rng import uniforms

DONORS = ("same-cheese", "other-cheese", "any")
DONOR_CANDIDATES = 16_384
"""Mazes a resample donor is chosen among: at least a few share any maze's cheese square (world
coordinates), which one in a few hundred to a few thousand random mazes does."""


def donor_rows(table: pd.DataFrame, rule: str, seed: int) -> pd.DataFrame:
    """One donor maze per row of `table`, chosen among DONOR_CANDIDATES seeded mazes (natural placement):
    one whose cheese sits on the same world square (same-cheese), on another (other-cheese), or any;
    never the maze itself. The choice depends only on (seed, the maze's level seed)."""
    if rule not in DONORS:
        raise UsageError(f"donor must be one of {', '.join(DONORS)}; got {rule!r}")
    pool = sample_mazes(SampleSpec(n=DONOR_CANDIDATES, seed=seed))
    pool_cheese = np.stack(
        to_world(
            pool["cheese_row"].to_numpy(int),
            pool["cheese_col"].to_numpy(int),
            pool["maze_size"].to_numpy(int),
        ),
        1,
    )
    pool_seeds = pool["seed"].to_numpy(np.int64)
    picks = []
    for row in table.itertuples():
        cheese = np.array(to_world(int(row.cheese_row), int(row.cheese_col), int(row.maze_size)))
        same = (pool_cheese == cheese).all(1)
        ok = {"same-cheese": same, "other-cheese": ~same, "any": np.ones(len(pool), bool)}[rule]
        ok &= pool_seeds != int(row.seed)
        candidates = np.flatnonzero(ok)
        if not len(candidates):
            raise UsageError(
                f"resample: no {rule} donor for level {row.seed} (cheese at world {tuple(cheese)}) among "
                f"{DONOR_CANDIDATES} mazes"
            )
        u = float(uniforms(seed, int(row.seed)))
        picks.append(int(candidates[min(int(u * len(candidates)), len(candidates) - 1)]))
    return pool.iloc[picks].reset_index(drop=True)
