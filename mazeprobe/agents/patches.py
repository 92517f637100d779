"""Concrete changes to one layer's output, per context (a maze, or a maze with a target square), and the
hooks that apply them on every forward pass.

An edit (mazeprobe.agents.edits) is prepared into a `Patch`: for each context, either an addition to the
layer's activation (C, H, W), or a replacement of some of its entries (a mask and the values that take
their place). A batch of forward passes says which context each row belongs to, so one batch can mix
mazes, squares and targets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where patches apply: the edits' parser imports this module
    import torch

HookFn = Callable[["torch.Tensor", str], "torch.Tensor | None"]


@dataclass
class Patch:
    """One edit's change to `layer`, for each of M contexts."""

    layer: str
    add: torch.Tensor | None = None
    """(M, C, H, W): added to the activation."""
    mask: torch.Tensor | None = None
    """(M, C, H, W) bool: which entries are replaced..."""
    value: torch.Tensor | None = None
    """(M, C, H, W): ...and by what."""
    info: dict | None = None
    """What the edit was prepared from (donor seeds, means' sample), for the run's records."""

    def apply(self, act: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The activation (B, C, H, W) with this patch applied, row i in context rows[i]."""
        import torch

        layout = (
            act.dim() == 4
            and not act.is_contiguous()
            and act.is_contiguous(memory_format=torch.channels_last)
        )
        if self.add is not None:
            act = act + self.add[rows].to(act.dtype)
        if self.mask is not None:
            act = torch.where(self.mask[rows], self.value[rows].to(act.dtype), act)
        # keep the network's memory layout: the layers above compute in it (bit for bit the unedited pass)
        return act.contiguous(memory_format=torch.channels_last) if layout else act

    def edited_counts(self) -> np.ndarray:
        """(M,) activations of the layer this patch changes per forward pass, per context: the entries it
        replaces, plus the entries it adds something non-zero to."""
        import torch

        changed = torch.zeros_like(self.mask if self.mask is not None else self.add, dtype=torch.bool)
        if self.mask is not None:
            changed |= self.mask
        if self.add is not None:
            changed |= self.add != 0
        return changed.flatten(1).sum(1).cpu().numpy().astype(np.int64)

    def take(self, contexts: np.ndarray) -> Patch:
        """The patch for a subset (or repetition) of its contexts."""
        import torch

        idx = torch.as_tensor(np.array(contexts, dtype=np.int64), device=self._device())
        pick = lambda t: None if t is None else t[idx]  # noqa: E731 - three fields, one rule
        return Patch(self.layer, pick(self.add), pick(self.mask), pick(self.value), self.info)

    def _device(self) -> torch.device:
        return next(t for t in (self.add, self.mask, self.value) if t is not None).device


@dataclass
class PreparedEdits:
    """The patches of one intervention (edits composed in order) for M contexts."""

    patches: list[Patch]
    contexts: int
    layer_sizes: dict[str, int]
    """Activations per forward pass of each patched layer (C * H * W)."""
    network_size: int
    """Activations per forward pass of the whole network (every named hook point once)."""

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(p.layer for p in self.patches))

    def hooks(self, rows: torch.Tensor | np.ndarray | None = None) -> list[tuple[str, HookFn]]:
        """Forward hooks applying every patch; `rows` gives each batch row's context (None: context 0 for
        every row, whatever the batch size)."""
        out: list[tuple[str, HookFn]] = []
        for patch in self.patches:

            def fn(act: torch.Tensor, _name: str, _p: Patch = patch) -> torch.Tensor:
                return _p.apply(act, self._rows(rows, act))

            out.append((patch.layer, fn))
        return out

    def apply(self, layer: str, act: torch.Tensor, rows: torch.Tensor | np.ndarray | None) -> torch.Tensor:
        """Every patch of `layer` applied to an activation computed without them (a split forward pass)."""
        for patch in self.patches:
            if patch.layer == layer:
                act = patch.apply(act, self._rows(rows, act))
        return act

    def _rows(self, rows, act: torch.Tensor) -> torch.Tensor:
        import torch

        if rows is None:
            return torch.zeros(len(act), dtype=torch.long, device=act.device)
        return torch.as_tensor(np.array(rows, dtype=np.int64), device=act.device)

    def edited_counts(self) -> np.ndarray:
        """(M,) activations changed per forward pass per context, over all patched layers. Two patches on
        one layer that touch the same entry count it twice (an upper bound)."""
        total = np.zeros(self.contexts, dtype=np.int64)
        for patch in self.patches:
            total += patch.edited_counts()
        return total

    def edited_fractions(self) -> tuple[np.ndarray, np.ndarray]:
        """(M,) the changed activations as a fraction of the patched layers' sizes, and of the network's."""
        counts = self.edited_counts()
        layer_total = sum(self.layer_sizes[layer] for layer in self.layers) or 1
        return counts / layer_total, counts / self.network_size

    def take(self, contexts: Sequence[int] | np.ndarray) -> PreparedEdits:
        contexts = np.asarray(contexts, dtype=np.int64)
        return PreparedEdits(
            [p.take(contexts) for p in self.patches], len(contexts), self.layer_sizes, self.network_size
        )


def no_edits(contexts: int, network_size: int) -> PreparedEdits:
    """The unedited network (the intervention `none`)."""
    return PreparedEdits([], contexts, {}, network_size)


@dataclass
class RoutedEdits:
    """Several interventions in one batch: row r of the prepared batch plays variant `variant[r]` (an
    index into `variants`, None for the unedited network) in its context `context[r]`. One batch of
    forward passes can then serve every intervention at once (paired rollouts fill the env slots)."""

    variants: list[PreparedEdits | None]
    variant: np.ndarray
    context: np.ndarray

    def hooks(self, rows: torch.Tensor | np.ndarray | None = None) -> list[tuple[str, HookFn]]:
        import torch

        rows = np.zeros(1, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        variant, context = self.variant[rows], self.context[rows]
        layers = list(dict.fromkeys(p.layer for v in self.variants if v is not None for p in v.patches))
        out: list[tuple[str, HookFn]] = []
        for layer in layers:

            def fn(act: torch.Tensor, _name: str, _layer: str = layer) -> torch.Tensor:
                act = act.clone()
                for v, prepared in enumerate(self.variants):
                    if prepared is None or _layer not in prepared.layers:
                        continue
                    which = np.flatnonzero(variant == v)
                    if len(which):
                        idx = torch.as_tensor(which, device=act.device)
                        act[idx] = prepared.apply(_layer, act[idx], context[which])
                return act

            out.append((layer, fn))
        return out
