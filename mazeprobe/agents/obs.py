"""Procgen observations as the network takes them: uint8 (B, 64, 64, 3) HWC in, float32 (B, 3, 64, 64)
scaled to [0, 1] out, no other normalisation (as the published network was trained)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it converts: the edits' parser imports this module
    import torch

from mazeprobe.errors import UsageError
from mazeprobe.maze.procgen import OBS_SIZE


def _check_obs(obs: np.ndarray) -> np.ndarray:
    obs = np.asarray(obs)
    if obs.dtype != np.uint8 or obs.ndim != 4 or obs.shape[1:] != (OBS_SIZE, OBS_SIZE, 3):
        raise UsageError(
            f"expected procgen observations as uint8 (B, 64, 64, 3), got {obs.dtype} {tuple(obs.shape)}"
        )
    return obs


def obs_to_tensor(obs: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """Procgen uint8 (B, 64, 64, 3) HWC observations -> float32 (B, 3, 64, 64) / 255 on `device`, laid out
    channels-last in memory."""
    import torch

    obs = _check_obs(obs)
    # Move the uint8 bytes first (4x less to copy than float32), then scale on the device. The HWC bytes
    # viewed as (B, 3, 64, 64) are already channels-last in memory, the layout the network runs in: no
    # reordering copy (the same results to the bit as a contiguous NCHW input, checked).
    t = torch.from_numpy(np.ascontiguousarray(obs)).to(device)
    return t.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
