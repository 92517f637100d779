"""Paired play: several interventions on the same mazes with the same action draws, in one batch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mazeprobe.agents.patches import PreparedEdits, RoutedEdits
from mazeprobe.sim import MazeBatch, Roller, RolloutSettings


def paired_episodes(
    policy,
    mazes: MazeBatch,
    states: list,
    variants: dict[str, PreparedEdits | None],
    settings: RolloutSettings,
    roller: Roller,
    stop_at: np.ndarray | None = None,
) -> dict[str, pd.DataFrame]:
    """The episodes of every variant on every maze, played in one batch (the env slots stay full):
    name -> episodes in maze order. The action draws are keyed by level seed, rollout and step, so every
    variant meets the same dice. `policy`: a NetworkPolicy (any policy when no variant edits)."""
    names = list(variants)
    v, m = len(names), len(mazes.table)
    batch = MazeBatch(
        grids=np.tile(mazes.grids, (v, 1, 1)),
        sizes=np.tile(mazes.sizes, v),
        table=pd.concat([mazes.table] * v, ignore_index=True),
    )
    if any(variants[n] is not None for n in names):
        routed = RoutedEdits(
            [variants[n] for n in names], np.repeat(np.arange(v), m), np.tile(np.arange(m), v)
        )
        policy = policy.with_edits(routed)
    stops = None if stop_at is None else np.tile(stop_at, (v, 1))
    episodes = roller.episodes(policy, batch, list(states) * v, settings, stop_at=stops)
    per = m * settings.per_maze
    return {
        name: episodes.iloc[i * per : (i + 1) * per].reset_index(drop=True) for i, name in enumerate(names)
    }
