"""The column schemas of the tables a run's interventions write (mazeprobe.tables): interventions.parquet
and retargeting.parquet. The writers (experiments/interventions.py, experiments/retarget.py) check each
chunk's table against these before writing it; readers (stats/paired.py, the registry's rules) take the
measures from here. The episodes' and decision-square schemas are the simulator's (sim/episodes.py), the
channel ranking's the agents' (agents/channels.py), the probe table's the probes' (stats/probes/result.py).
"""

from __future__ import annotations

import pyarrow as pa

from mazeprobe.tables import Field, TableSchema

_KEY = (
    Field("seed", pa.int64(), "the procgen level seed of the maze"),
    Field("intervention", pa.large_string(), "the edit's id, or `none` (the unedited network)"),
)

INTERVENTIONS = TableSchema(
    "interventions.parquet",
    (
        *_KEY,
        Field("p_cheese_at_dsq", pa.float64(), "with the mouse on the decision square and the edit active: "
              "P(move toward the cheese); null without a decision square, as in dsq_probs.parquet"),
        Field("p_top_right_at_dsq", pa.float64(), "the same for the move toward the top-right square"),
        Field("got_cheese", pa.float64(), "the fraction of the maze's rollouts that got the cheese"),
        Field("reached_top_right_square", pa.float64(), "the fraction that stood on the top-right square"),
        Field("entered_top_right_5x5", pa.float64(), "the fraction that entered the top-right 5x5 region"),
        Field("steps", pa.float64(), "the mean episode length"),
        Field("edited_activations", pa.int64(), "activations the edit changes per forward pass on the maze"),
        Field("edited_fraction_layer", pa.float64(), "the same as a fraction of the edited layers"),
        Field("edited_fraction_network", pa.float64(),
              "the same as a fraction of every named activation of the network (each tensor once)"),
        Field("vfield_tv", pa.float64(), "mean over the maze's open squares of the total-variation distance "
              "between the edited and unedited action distributions (up, down, left, right, no move); "
              "null when not recorded"),
    ),
)
"""One row per (seed, intervention); per-target edits have null per-maze measures."""

INTERVENTION_MEASURES: tuple[str, ...] = (
    "p_cheese_at_dsq",
    "p_top_right_at_dsq",
    "got_cheese",
    "reached_top_right_square",
    "entered_top_right_5x5",
    "steps",
    "vfield_tv",
)
"""The columns of INTERVENTIONS that measure behaviour (what a paired comparison compares); the others
say which maze and edit, or how much the edit changes."""

RETARGETING = TableSchema(
    "retargeting.parquet",
    (
        *_KEY[:1],
        Field("intervention", pa.large_string(), "the edit's id, `none`, or `ceiling` (a real cheese)"),
        Field("target_row", pa.int64(), "the target square's row (row 0 at the bottom)"),
        Field("target_col", pa.int64(), "the target square's column"),
        Field("path_probability", pa.float64(), "geometric mean P(the move along the shortest path)"),
        Field("reached_target", pa.float64(), "the fraction of rollouts that stood on the target"),
        Field("steps", pa.float64(), "their mean length"),
        Field("eligible_squares", pa.int64(), "how many squares of the maze the targets were drawn among"),
    ),
)
"""One row per (seed, intervention, target)."""
