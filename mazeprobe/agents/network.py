"""A policy network (the IMPALA CNN) behind the common Policy interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from mazeprobe.agents.base import Policy
from mazeprobe.agents.impala import ImpalaCNN, load_checkpoint, obs_to_tensor
from mazeprobe.agents.patches import PreparedEdits, RoutedEdits


class NetworkPolicy(Policy):
    """Acts from the 64x64 RGB observation alone; can also return named activations."""

    reads_pixels = True

    def __init__(self, model: ImpalaCNN, name: str = "network", checkpoint: str | None = None) -> None:
        # channels-last convolutions: about 3x the CPU forward rate measured at batch 64, same results
        # to float rounding (the model is converted in place)
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.name = name
        self.checkpoint = checkpoint
        self.edits: PreparedEdits | RoutedEdits | None = None

    @classmethod
    def from_checkpoint(cls, path: str, device: str = "cpu") -> NetworkPolicy:
        return cls(load_checkpoint(path, device=device), name="checkpoint", checkpoint=str(path))

    def action_probs(self, obs, maze_index=None, positions=None) -> np.ndarray:
        if self.edits is None:
            return self.model.action_probs(obs)
        # the hooks read each row's context, so the batches they see must be the ones they were given
        batch = 256
        rows = None if maze_index is None else np.asarray(maze_index)
        parts = []
        for start in range(0, len(obs), batch):
            with self.model.hooks(self.edits.hooks(None if rows is None else rows[start : start + batch])):
                parts.append(self.model.action_probs(obs[start : start + batch], batch_size=batch))
        return np.concatenate(parts) if parts else self.model.action_probs(obs)

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

    @torch.no_grad()
    def action_probs_variants(
        self,
        obs: np.ndarray,
        variants: Mapping[str, tuple[PreparedEdits | None, np.ndarray | None]],
        batch: int = 256,
    ) -> dict[str, np.ndarray]:
        """(B, 15) action probabilities of the same observations under several edits: {name: (prepared
        edits or None, the context of each row)}. When every edit sits on one split point of the network
        (e.g. embedder.block2.res1.resadd_out), the layers below it run once for all the variants."""
        layers = {
            p.layer for prepared, _ in variants.values() if prepared is not None for p in prepared.patches
        }
        shared = (
            next(iter(layers))
            if len(layers) == 1 and next(iter(layers)) in self.model.split_points()
            else None
        )
        out: dict[str, list[np.ndarray]] = {name: [] for name in variants}
        for start in range(0, len(obs), batch):
            x = obs_to_tensor(obs[start : start + batch], self.model.device)
            x = x.contiguous(memory_format=torch.channels_last)
            lower = self.model.forward_to(x, shared) if shared is not None else None
            for name, (prepared, rows) in variants.items():
                part = None if rows is None else np.asarray(rows)[start : start + batch]
                if lower is not None:
                    act = lower if prepared is None else prepared.apply(shared, lower, part)
                    logits, _ = self.model.forward_from(act, shared)
                else:
                    hooks = prepared.hooks(part) if prepared is not None else []
                    with self.model.hooks(hooks):
                        logits, _ = self.model(x)
                out[name].append(torch.softmax(logits.double(), dim=1).cpu().numpy())
        return {name: np.concatenate(parts) if parts else np.zeros((0, 15)) for name, parts in out.items()}

    def with_edits(self, edits: PreparedEdits | RoutedEdits | None, name: str | None = None) -> NetworkPolicy:
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
