"""The settings of a family of edits besides the edits: how targets are drawn (retargeting) and how a
{ranking: cheese-channels} channel set is ranked (channel_ranking). Read by intervention_spec; kept in a
module of their own, which imports no network code, so that `mazeprobe channels` makes its --n and
--seed flags from RankingSpec without loading the edits at start."""

from __future__ import annotations

from dataclasses import dataclass

from mazeprobe.settings import setting

TARGET_RULES = ("reachable", "off-path")
"""Which squares a retargeting target is drawn among: every square reachable from the start, or only
those the unedited agent does not visit in its own rollouts of the maze (mazeprobe.experiments.retarget)."""
MAX_TARGETS = 1000
MAX_ROLLOUTS_PER_TARGET = 100
MAX_RANKING_MAZES = 100_000


@dataclass(frozen=True)
class RetargetingSpec:
    targets_per_maze: int = setting(
        5, "target squares drawn per maze (default {default})", low=1, high=MAX_TARGETS
    )
    remove_cheese: bool = setting(
        True, "{default} (default): the cheese is taken out of the maze while retargeting"
    )
    rollouts_per_target: int = setting(
        1, "episodes per target (default {default})", low=1, high=MAX_ROLLOUTS_PER_TARGET
    )
    seed: int = setting(0, "seed of the target draw (default {default})", low=0)
    targets: str = setting(
        "reachable",
        "{default} (default): any square reachable from the start; off-path: only squares the unedited "
        "agent does not visit in its own rollouts of the maze",
        choices=TARGET_RULES,
    )
    """One of TARGET_RULES. Added in round 2: ExperimentSpec.to_dict leaves the default out, so that the
    specs and families registered before keep their hashes."""


@dataclass(frozen=True)
class RankingSpec:
    n: int = setting(
        1000, "mazes the channels are ranked on (default {default})", low=4, high=MAX_RANKING_MAZES
    )
    seed: int = setting(0, "their sampling seed", low=0)
