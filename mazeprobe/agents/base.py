"""The policy interface every agent implements and procgen's action layout, as the agents see them.

Both are owned by the rollout engine (`mazeprobe.sim`), which calls policies; this module names them
for agent code and for notebooks that import them from here.
"""

from mazeprobe.maze.procgen import N_ACTIONS, NOOP
from mazeprobe.sim.actions import (
    ACTION_GROUPS,
    ACTION_MOVE,
    GROUP_MATRIX,
    MOVE_ACTIONS,
    MOVE_DELTAS,
    MOVE_NAMES,
    move_toward,
    one_hot_moves,
    uniform_moves,
)
from mazeprobe.sim.policy import MazeBatch, Policy, decision_squares, table_positions

__all__ = [
    "ACTION_GROUPS",
    "ACTION_MOVE",
    "GROUP_MATRIX",
    "MOVE_ACTIONS",
    "MOVE_DELTAS",
    "MOVE_NAMES",
    "NOOP",
    "N_ACTIONS",
    "MazeBatch",
    "Policy",
    "decision_squares",
    "move_toward",
    "one_hot_moves",
    "table_positions",
    "uniform_moves",
]
