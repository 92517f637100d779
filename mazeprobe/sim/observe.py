"""Observations of chosen states: what the network sees with the mouse put on given squares."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.sim.policy import decision_squares
from mazeprobe.sim.rollout import Roller, start_states
from mazeprobe.validation import check_int


def decision_square_observations(mazes: pd.DataFrame, num_envs: int = 32) -> np.ndarray:
    """The 64x64 observations (N, 64, 64, 3) uint8 with the mouse on each maze's decision square, in
    table order: what a run's network saw when its decision-square activations were recorded."""
    need = ["seed", "cheese_row", "cheese_col", "dsq_row", "dsq_col"]
    lacking = [c for c in need if c not in mazes.columns]
    if lacking:
        raise UsageError(f"the maze table lacks column(s) {', '.join(lacking)}; read it with read_mazes()")
    no_dsq = mazes["dsq_row"].isna().to_numpy()
    if no_dsq.any():
        raise UsageError(
            f"{int(no_dsq.sum())} maze(s) have no decision square, e.g. seeds "
            f"{mazes['seed'][no_dsq].head(5).tolist()}"
        )
    table = mazes.reset_index(drop=True)
    roller = Roller(check_int(num_envs, "num_envs", 1))
    states = start_states(table, roller.loader)
    dsq = table[["dsq_row", "dsq_col"]].to_numpy(np.int64)
    return roller.render([state.with_mouse(*dsq[m]) for m, state in enumerate(states)])


__all__ = ["decision_square_observations", "decision_squares"]
