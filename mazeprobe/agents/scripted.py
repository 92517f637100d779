"""Built-in reference agents whose behaviour is known, for testing everything downstream.

- `cheese`: the shortest path to the cheese.
- `top-right`: the shortest path to the top-right square (n-1, n-1).
- `random`: uniform over the 15 actions.
- `shard`: follows the shortest path; at the decision square it heads for the cheese with probability
  sigmoid(b0 + sum_i b_i * z_i) (z_i the z-scored features of the maze) and otherwise toward the
  top-right square; on the cheese's side of the decision square it heads for the cheese, elsewhere for
  the top-right square. Optional per-step noise `epsilon`: with that probability a uniformly random move.
- `noisy-cheese`: each step moves toward the cheese with probability `p`, else a uniformly random move.

All randomness is in the action distributions; the runner's seeded sampling makes episodes repeatable.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import numpy as np
import pandas as pd

from mazeprobe.agents.base import (
    N_ACTIONS,
    MazeBatch,
    Policy,
    decision_squares,
    move_toward,
    one_hot_moves,
    table_positions,
    uniform_moves,
)
from mazeprobe.errors import UsageError
from mazeprobe.maze.features import REGISTRY
from mazeprobe.maze.geometry import distance_maps
from mazeprobe.validation import check_number, check_probability


class GoalAgent(Policy):
    """Follows the shortest path to a goal: the cheese or the top-right square."""

    reads_pixels = False

    def __init__(self, goal: str) -> None:
        if goal not in ("cheese", "top-right"):
            raise UsageError(f"goal must be 'cheese' or 'top-right'; got {goal!r}")
        self.goal = goal
        self.name = goal

    def prepare(self, mazes: MazeBatch) -> None:
        sources = (
            table_positions(mazes.table, "cheese") if self.goal == "cheese" else mazes.top_right_squares()
        )
        self.dist_ = distance_maps(mazes.grids, mazes.sizes, sources)

    def action_probs(self, obs, maze_index, positions):
        return one_hot_moves(move_toward(self.dist_, maze_index, positions))


class CheeseAgent(GoalAgent):
    """The shortest path to the cheese."""

    def __init__(self) -> None:
        super().__init__("cheese")


class TopRightAgent(GoalAgent):
    """The shortest path to the top-right square (n-1, n-1)."""

    def __init__(self) -> None:
        super().__init__("top-right")


class RandomAgent(Policy):
    """Uniform over the 15 procgen actions."""

    name = "random"
    reads_pixels = False

    def action_probs(self, obs, maze_index, positions):
        return np.full((len(positions), N_ACTIONS), 1.0 / N_ACTIONS)


class NoisyCheeseAgent(Policy):
    """Toward the cheese with probability p, else a uniformly random move."""

    name = "noisy-cheese"
    reads_pixels = False

    def __init__(self, p: float = 0.9) -> None:
        self.p = check_probability(p, "noisy-cheese: p")

    def prepare(self, mazes: MazeBatch) -> None:
        self.dist_ = distance_maps(mazes.grids, mazes.sizes, table_positions(mazes.table, "cheese"))

    def action_probs(self, obs, maze_index, positions):
        toward = one_hot_moves(move_toward(self.dist_, maze_index, positions))
        return self.p * toward + (1 - self.p) * uniform_moves(len(positions))

    def describe(self) -> dict:
        return {"name": self.name, "p": self.p}


class ShardAgent(Policy):
    """Cheese-or-top-right at the decision square with a logistic choice on z-scored maze features."""

    name = "shard"
    reads_pixels = False

    def __init__(
        self,
        b0: float = 0.0,
        coefficients: Mapping[str, float] | None = None,
        means: Mapping[str, float] | None = None,
        sds: Mapping[str, float] | None = None,
        epsilon: float = 0.0,
    ) -> None:
        self.b0 = check_number(b0, "shard: b0")
        self.coefficients = {
            str(k): check_number(v, f"shard: coefficients.{k}") for k, v in (coefficients or {}).items()
        }
        unknown = sorted(set(self.coefficients) - set(REGISTRY))
        if unknown:
            raise UsageError(
                f"shard coefficients name unknown features {unknown}; see `mazeprobe features --list`"
            )
        self.means = {str(k): check_number(v, f"shard: means.{k}") for k, v in (means or {}).items()}
        self.sds = {str(k): check_number(v, f"shard: sds.{k}") for k, v in (sds or {}).items()}
        self.epsilon = check_probability(epsilon, "shard: epsilon")

    def fit_scaling(self, table: pd.DataFrame) -> ShardAgent:
        """Estimate the z-scoring means/sds not given, on the whole sampled maze table."""
        for name in self.coefficients:
            values = table[name].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            self.means.setdefault(name, float(np.nanmean(values)))
            self.sds.setdefault(name, float(np.nanstd(values, ddof=1)))
        return self

    def p_cheese(self, table: pd.DataFrame) -> np.ndarray:
        """The probability of heading for the cheese at the decision square, per maze."""
        logit = np.full(len(table), self.b0)
        for name, b in self.coefficients.items():
            if name not in self.means or name not in self.sds:
                raise UsageError(f"shard: no mean/sd for {name}; give them or call fit_scaling")
            if not self.sds[name] > 0:
                raise UsageError(f"shard: the sd of {name} must be positive; got {self.sds[name]}")
            values = table[name].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            z = (values - self.means[name]) / self.sds[name]
            logit += b * np.nan_to_num(z, nan=0.0)  # undefined features (no dsq) contribute nothing
        return 1.0 / (1.0 + np.exp(-logit))

    def prepare(self, mazes: MazeBatch) -> None:
        table = mazes.table
        self.to_cheese_ = distance_maps(mazes.grids, mazes.sizes, table_positions(table, "cheese"))
        self.to_top_right_ = distance_maps(mazes.grids, mazes.sizes, mazes.top_right_squares())
        dsq, _ = decision_squares(table)
        self.dsq_ = dsq
        self.from_dsq_ = distance_maps(mazes.grids, mazes.sizes, dsq)
        self.p_ = self.p_cheese(table)

    def action_probs(self, obs, maze_index, positions):
        r, c = positions[:, 0], positions[:, 1]
        to_cheese = one_hot_moves(move_toward(self.to_cheese_, maze_index, positions))
        to_top_right = one_hot_moves(move_toward(self.to_top_right_, maze_index, positions))
        dsq = self.dsq_[maze_index]
        at_dsq = (dsq[:, 0] == r) & (dsq[:, 1] == c)
        # On the cheese's side of the decision square the path to the cheese does not pass through it.
        dc = self.to_cheese_[maze_index, r, c]
        dd = self.from_dsq_[maze_index, r, c]
        dc_dsq = self.to_cheese_[maze_index, np.maximum(dsq[:, 0], 0), np.maximum(dsq[:, 1], 0)]
        cheese_side = (dsq[:, 0] >= 0) & ~at_dsq & (dc < dd + dc_dsq)
        p = np.where(at_dsq, self.p_[maze_index], np.where(cheese_side, 1.0, 0.0))[:, None]
        probs = p * to_cheese + (1 - p) * to_top_right
        if self.epsilon:
            probs = (1 - self.epsilon) * probs + self.epsilon * uniform_moves(len(positions))
        return probs

    def describe(self) -> dict:
        return {
            "name": self.name,
            "b0": self.b0,
            "coefficients": self.coefficients,
            "means": self.means,
            "sds": self.sds,
            "epsilon": self.epsilon,
        }


AGENTS: dict[str, type[Policy]] = {
    "cheese": CheeseAgent,
    "top-right": TopRightAgent,
    "random": RandomAgent,
    "shard": ShardAgent,
    "noisy-cheese": NoisyCheeseAgent,
}
"""Every built-in agent by name: its parameters are its constructor's, and its `describe()` gives them back
(with derived values filled in) so that a worker process rebuilds the same agent."""
BUILTIN_AGENTS = tuple(AGENTS)


def agent_params(name: str) -> tuple[str, ...]:
    """The parameters a built-in agent takes (its constructor's keyword names)."""
    signature = inspect.signature(AGENTS[name].__init__)
    return tuple(p for p in signature.parameters if p != "self")


def builtin_policy(name: str, params: Mapping | None = None, table: pd.DataFrame | None = None) -> Policy:
    """A built-in agent by name. For `shard`, `table` (the whole sampled maze table) supplies the
    z-scoring means/sds that `params` does not give."""
    if name not in AGENTS:
        raise UsageError(f"unknown built-in agent {name!r}; expected one of {', '.join(BUILTIN_AGENTS)}")
    params = dict(params or {})
    allowed = agent_params(name)
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise UsageError(
            f"agent {name!r} takes no parameter(s) {extra}; allowed: {', '.join(allowed) or 'none'}"
        )
    agent = AGENTS[name](**params)
    fit = getattr(agent, "fit_scaling", None)
    return fit(table) if fit is not None and table is not None else agent
