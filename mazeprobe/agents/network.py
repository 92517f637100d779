"""A policy network (the IMPALA CNN) behind the common Policy interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from mazeprobe.agents.base import Policy
from mazeprobe.agents.impala import ImpalaCNN, load_checkpoint, obs_to_tensor
from mazeprobe.agents.patches import PreparedEdits, RoutedEdits
from mazeprobe.maze.procgen import N_ACTIONS


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
        return self.action_probs_rows(obs, {n: (p, ctx, None) for n, (p, ctx) in variants.items()}, batch)

    @torch.no_grad()
    def action_probs_rows(
        self,
        obs: np.ndarray,
        requests: Mapping[str, tuple[PreparedEdits | None, np.ndarray | None, np.ndarray | None]],
        batch: int = 256,
    ) -> dict[str, np.ndarray]:
        """{name: (R, 15)}: per request name -> (prepared edits or None, each row's context or None, each
        row's observation index or None for every observation in order), the action probabilities of
        observation rows[r] under the edits in context contexts[r]. When every edit sits on one split
        point of the network, the layers below it run once per observation, shared by every request and
        every row that reads it (a retargeting sweep reads each observation for many targets)."""
        layers = {
            p.layer for prepared, _, _ in requests.values() if prepared is not None for p in prepared.patches
        }
        shared = (
            next(iter(layers))
            if len(layers) == 1 and next(iter(layers)) in self.model.split_points()
            else None
        )
        every = np.arange(len(obs), dtype=np.int64)
        reqs = {
            name: (
                prepared,
                None if ctx is None else np.asarray(ctx, dtype=np.int64),
                every if rows is None else np.asarray(rows, dtype=np.int64),
            )
            for name, (prepared, ctx, rows) in requests.items()
        }
        out = {name: np.zeros((len(rows), N_ACTIONS)) for name, (_, _, rows) in reqs.items()}
        device, last = self.model.device, torch.channels_last

        def probs(logits: torch.Tensor) -> np.ndarray:
            return torch.softmax(logits.double(), dim=1).cpu().numpy()

        if shared is None:  # edits on several layers (or none): whole forward passes, row by row
            for name, (prepared, ctx, rows) in reqs.items():
                for s in range(0, len(rows), batch):
                    x = obs_to_tensor(obs[rows[s : s + batch]], device).contiguous(memory_format=last)
                    hooks = (
                        []
                        if prepared is None
                        else prepared.hooks(None if ctx is None else ctx[s : s + batch])
                    )
                    with self.model.hooks(hooks):
                        out[name][s : s + batch] = probs(self.model(x)[0])
            return out
        chunk = 4 * batch  # observations whose lower activations are held at once
        for lo in range(0, len(obs), chunk):
            hi = min(lo + chunk, len(obs))
            lower = torch.cat(
                [
                    self.model.forward_to(
                        obs_to_tensor(obs[s : min(s + batch, hi)], device).contiguous(memory_format=last),
                        shared,
                    )
                    for s in range(lo, hi, batch)
                ]
            )
            for name, (prepared, ctx, rows) in reqs.items():
                mine = np.flatnonzero((rows >= lo) & (rows < hi))
                for s in range(0, len(mine), batch):
                    part = mine[s : s + batch]
                    act = lower[torch.as_tensor(rows[part] - lo, device=lower.device)].contiguous(
                        memory_format=last
                    )
                    if prepared is not None:
                        act = prepared.apply(shared, act, None if ctx is None else ctx[part])
                    out[name][part] = probs(self.model.forward_from(act, shared)[0])
        return out

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
