"""The edits that overwrite a channel set of a layer everywhere: zero-ablate, mean-ablate, resample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mazeprobe.agents.donors import DONORS, donor_rows
from mazeprobe.agents.edits.base import Channels, Edit, EditContext, register, required_channels
from mazeprobe.agents.patches import Patch
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.settings import setting
from mazeprobe.sim.rollout import start_states


@register
@dataclass(frozen=True)
class ZeroAblate(Edit):
    channels: Channels = required_channels()
    kind: ClassVar[str] = "zero-ablate"

    def prepare(self, ctx: EditContext) -> Patch:
        import torch

        mask = ctx.channel_mask(self.layer, self.channels.resolve(ctx.rankings.get(self.layer)))
        return Patch(
            self.layer,
            mask=self._repeat(ctx, mask),
            value=self._repeat(ctx, torch.zeros_like(mask, dtype=torch.float32)),
        )


@register
@dataclass(frozen=True)
class MeanAblate(Edit):
    channels: Channels = required_channels()
    n: int = setting(100, "mazes the mean is taken over (default {default})", low=1, high=10_000)
    """Mazes (natural placement, mouse on the start square) the mean is taken over."""
    seed: int = setting(0, "their sampling seed (default {default})", low=0)
    kind: ClassVar[str] = "mean-ablate"

    def prepare(self, ctx: EditContext) -> Patch:
        mask = ctx.channel_mask(self.layer, self.channels.resolve(ctx.rankings.get(self.layer)))
        table = sample_mazes(SampleSpec(n=self.n, seed=self.seed))
        mean = ctx.activations(start_states(table, ctx.renderer.loader), self.layer).mean(0)
        info = {"mean_over": {"n": self.n, "seed": self.seed, "placement": "natural", "mouse": "start"}}
        return Patch(self.layer, mask=self._repeat(ctx, mask), value=self._repeat(ctx, mean), info=info)


@register
@dataclass(frozen=True)
class Resample(Edit):
    channels: Channels = required_channels()
    donor: str = setting("any", " | ".join(DONORS), choices=DONORS)
    seed: int = setting(0, "seed of the donor choice (default {default})", low=0)
    kind: ClassVar[str] = "resample"

    def prepare(self, ctx: EditContext) -> Patch:
        mask = ctx.channel_mask(self.layer, self.channels.resolve(ctx.rankings.get(self.layer)))
        donors = donor_rows(ctx.table, self.donor, self.seed)
        maps = ctx.activations(start_states(donors, ctx.renderer.loader), self.layer)
        info = {"donor_seeds": donors["seed"].astype(int).tolist()}
        return Patch(self.layer, mask=self._repeat(ctx, mask), value=maps, info=info)
