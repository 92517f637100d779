"""Policies: the IMPALA network of the cheese-maze agent and built-in reference agents.

Every policy maps a batch of observations (plus maze positions for agents that read the grid) to a
distribution over the 15 procgen actions (`mazeprobe.agents.base.Policy`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from mazeprobe.agents.base import Policy
from mazeprobe.agents.scripted import BUILTIN_AGENTS, builtin_policy


def make_policy(
    builtin: str | None = None,
    params: Mapping | None = None,
    checkpoint: str | None = None,
    device: str = "cpu",
    table: pd.DataFrame | None = None,
) -> Policy:
    """A built-in agent by name, or the network in a checkpoint (loaded with weights_only=True)."""
    if checkpoint is not None:
        from mazeprobe.agents.network import NetworkPolicy

        return NetworkPolicy.from_checkpoint(checkpoint, device=device)
    return builtin_policy(builtin, params, table)


__all__ = ["BUILTIN_AGENTS", "Policy", "builtin_policy", "make_policy"]
