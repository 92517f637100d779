"""A policy network (the IMPALA CNN) behind the common Policy interface."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mazeprobe.agents.base import Policy
from mazeprobe.agents.impala import ImpalaCNN, load_checkpoint, obs_to_tensor
from mazeprobe.agents.patches import PreparedEdits


class NetworkPolicy(Policy):
    """Acts from the 64x64 RGB observation alone; can also return named activations."""

    reads_pixels = True

    def __init__(self, model: ImpalaCNN, name: str = "network", checkpoint: str | None = None) -> None:
        # channels-last convolutions: about 3x the CPU forward rate measured at batch 64, same results
        # to float rounding (the model is converted in place)
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.name = name
        self.checkpoint = checkpoint
        self.edits: PreparedEdits | None = None

    @classmethod
    def from_checkpoint(cls, path: str, device: str = "cpu") -> NetworkPolicy:
        return cls(load_checkpoint(path, device=device), name="checkpoint", checkpoint=str(path))

    def action_probs(self, obs, maze_index=None, positions=None) -> np.ndarray:
        if self.edits is None:
            return self.model.action_probs(obs)
        with self.model.hooks(self.edits.hooks(maze_index)):
            return self.model.action_probs(obs)

    @torch.no_grad()
    def action_probs_and_cache(
        self, obs: np.ndarray, layers: Sequence[str], maze_index: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Action probabilities and the named activations (float32 numpy, (B, ...)) in one pass."""
        hooks = self.edits.hooks(maze_index) if self.edits is not None else []
        with self.model.hooks(hooks):
            logits, _, cache = self.model.run_with_cache(obs_to_tensor(obs, self.model.device), list(layers))
        probs = torch.softmax(logits.double(), dim=1).cpu().numpy()
        return probs, {name: cache[name].float().cpu().numpy() for name in layers}

    def with_edits(self, edits: PreparedEdits | None, name: str | None = None) -> NetworkPolicy:
        """The same network with prepared edits active on every forward pass (row i of a batch in the
        context `maze_index[i]` of the prepared mazes)."""
        out = NetworkPolicy.__new__(NetworkPolicy)
        out.model, out.checkpoint = self.model, self.checkpoint
        out.name = name or self.name
        out.edits = edits
        return out

    def describe(self) -> dict:
        scale = self.model.embedder.block1.conv.out_channels // 16
        return {"name": self.name, "checkpoint": self.checkpoint, "scale": scale}
