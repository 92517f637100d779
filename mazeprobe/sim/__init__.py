"""The rollout engine: mazes in, episodes out.

procgen slots loaded with any maze's state, moves tracked from the actions, seeded counter-based action
draws, play on the grid alone for agents that do not read pixels, the one episode schema
(`EPISODE_COLUMNS`) and the rates read from it. It knows procgen and the maze layer below it, and the
`Policy` interface that every agent above it implements; it knows no agent, experiment or statistic.

    from mazeprobe.sim import Roller, RolloutSettings, maze_batch, start_states
    roller = Roller(64)
    mazes = maze_batch(table)
    episodes = roller.episodes(policy, mazes, start_states(table, roller.loader), RolloutSettings())
"""

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
from mazeprobe.sim.episodes import (
    DSQ_COLUMNS,
    EPISODE_COLUMNS,
    episode_record,
    episodes_table,
    outcome_columns,
    outcome_rates,
    path_positions,
)
from mazeprobe.sim.observe import decision_square_observations
from mazeprobe.sim.policy import MazeBatch, Policy, decision_squares, maze_batch, table_positions
from mazeprobe.sim.rollout import (
    Roller,
    RolloutSettings,
    apply_moves,
    choose_actions,
    play_on_grid,
    start_states,
)

__all__ = [
    "ACTION_GROUPS",
    "ACTION_MOVE",
    "DSQ_COLUMNS",
    "EPISODE_COLUMNS",
    "GROUP_MATRIX",
    "MOVE_ACTIONS",
    "MOVE_DELTAS",
    "MOVE_NAMES",
    "MazeBatch",
    "Policy",
    "Roller",
    "RolloutSettings",
    "apply_moves",
    "choose_actions",
    "decision_square_observations",
    "decision_squares",
    "episode_record",
    "episodes_table",
    "maze_batch",
    "move_toward",
    "one_hot_moves",
    "outcome_columns",
    "outcome_rates",
    "path_positions",
    "play_on_grid",
    "start_states",
    "table_positions",
    "uniform_moves",
]
