"""Old home of the rollout engine, kept so that existing notebooks keep working: use `mazeprobe.sim`."""

import warnings

from mazeprobe.maze.procgen import CHEESE_REWARD
from mazeprobe.sim import (
    MazeBatch,
    Roller,
    RolloutSettings,
    apply_moves,
    choose_actions,
    maze_batch,
    outcome_rates,
    path_positions,
    play_on_grid,
    start_states,
)

warnings.warn("mazeprobe.experiments.rollout moved to mazeprobe.sim", DeprecationWarning, stacklevel=2)

__all__ = [
    "CHEESE_REWARD",
    "MazeBatch",
    "Roller",
    "RolloutSettings",
    "apply_moves",
    "choose_actions",
    "maze_batch",
    "outcome_rates",
    "path_positions",
    "play_on_grid",
    "start_states",
]
