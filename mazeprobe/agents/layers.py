"""The IMPALA network's activation names and per-example shapes (mazeprobe.agents.impala's table),
without torch: an experiment spec or a probe plan checks its layer names before anything heavy loads."""

from __future__ import annotations

from typing import Any

from mazeprobe.maze.procgen import N_ACTIONS
from mazeprobe.validation import check_int

HIDDEN = 256
"""Width of the network's fully connected layer."""


def _check_scale(scale: Any) -> int:
    return check_int(scale, "scale", 1)


def activation_names() -> list[str]:
    """All activation names in forward order (the same for every scale)."""
    return list(activation_shapes(1))


def activation_shapes(scale: int) -> dict[str, tuple[int, ...]]:
    """{activation name: per-example shape} for scale `scale`, in forward order (the module docstring's
    table). Written out by hand rather than traced, so tests can check the network against it."""
    s = _check_scale(scale)
    shapes: dict[str, tuple[int, ...]] = {}
    # (block, channels, conv output side, side after the stride-2 pool)
    for b, c, side_in in ((1, 16 * s, 64), (2, 32 * s, 32), (3, 32 * s, 16)):
        side = side_in // 2
        shapes[f"embedder.block{b}.conv_out"] = (c, side_in, side_in)
        shapes[f"embedder.block{b}.maxpool_out"] = (c, side, side)
        for r in (1, 2):
            for part in ("relu1", "conv1", "relu2", "conv2", "resadd"):
                shapes[f"embedder.block{b}.res{r}.{part}_out"] = (c, side, side)
    shapes["embedder.relu3_out"] = (32 * s, 8, 8)
    shapes["embedder.flatten_out"] = (32 * s * 8 * 8,)
    shapes["embedder.fc_out"] = (HIDDEN,)
    shapes["embedder.relufc_out"] = (HIDDEN,)
    shapes["fc_policy_out"] = (N_ACTIONS,)
    shapes["fc_value_out"] = (1,)
    return shapes
