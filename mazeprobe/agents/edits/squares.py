"""The edits aimed at a maze square (a retargeting target, the cheese's square or a fixed one) through
the cells of a map: clamp, cheese-at-target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mazeprobe.agents.edits.base import (
    CHANNELS_HELP,
    NO_CHEESE,
    SIGNS,
    Channels,
    CheeseResponse,
    Edit,
    EditContext,
    Place,
    _cheese_on,
    _near,
    _radius_problems,
    _spatial,
    _squares,
    channel_set,
    later,
    number,
    register,
    required_channels,
    square,
    square_problem,
)
from mazeprobe.agents.patches import Patch
from mazeprobe.settings import setting
from mazeprobe.validation import is_number
from mazeprobe.yamlio import Checker, KeyPath


def _clamp_value(c: Checker, value: Any, kp: KeyPath, place: Place) -> Any:
    if isinstance(value, dict):
        c.mapping(
            value, kp, {"times_cheese_response": "K (a number other than 0)"}, ("times_cheese_response",)
        )
    elif value != NO_CHEESE:  # no-cheese: each channel's own value in the same maze without its cheese
        number(c, value, kp, place)
    return value


@register
@dataclass(frozen=True)
class Clamp(Edit):
    channels: Channels = required_channels()
    value: float | CheeseResponse | str = setting(
        5.5,
        "the value written (default {default}), or {times_cheese_response: K}: K x each channel's mean "
        "activation at a real cheese's cell on the ranking's mazes, whose sign it keeps (K > 0 does what a "
        "real cheese does there; the responses are recorded in the run's channels/<layer>.parquet), or "
        "no-cheese: each channel's value in the same maze's start observation with the cheese removed (a "
        "sign-aware clamp to what no cheese writes there)",
        check=_clamp_value,
    )
    """A number, CheeseResponse(K): K x each channel's cheese response (whose sign it keeps), or NO_CHEESE:
    each channel's own value in the same maze with its cheese removed."""
    at: Any = setting(
        "target", "target, cheese (the maze's own cheese square) or [row, col]", check=square("cheese")
    )
    """"target" (the context's target_row/target_col), "cheese" (the maze's cheese square) or a (row, col)
    maze square."""
    background: float | None = setting(
        None,
        "the value of the rest of those channels (default: left as computed)",
        check=number,
        nullable=True,
    )
    """The value of the rest of those channels' maps (None: leave them)."""
    sign: str = setting(
        "none",
        f"{' | '.join(SIGNS)} (default {{default}}: the value in every channel); ranking: value x each "
        "channel's ranking sign, toward what marks the cheese there (needs a ranked channel set)",
        check=later,  # with the value it goes with
    )
    """"none": the value as written in every channel; "ranking": value x each channel's ranking sign."""
    radius: int = setting(
        0,
        "set the cells within this Chebyshev distance of the square's cell too (default {default}: its "
        "cell alone; clipped to the map)",
        check=later,
    )
    """The cells within this Chebyshev distance of the square's cell (clipped to the map) are set."""
    kind: ClassVar[str] = "clamp"
    aim: ClassVar[str] = "cell"
    omit_default: ClassVar[tuple[str, ...]] = ("sign", "radius")

    @property
    def needs_ranking(self) -> bool:
        return super().needs_ranking or isinstance(self.value, CheeseResponse)

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.sign not in SIGNS:
            out.append(("sign", f"must be one of {', '.join(SIGNS)}; got {self.sign!r}"))
        elif self.sign == "ranking" and self.channels.ranking is None:
            out.append(("sign", "ranking takes each channel's sign from a ranked channel set: channels must "
                                "be {ranking: cheese-channels, top: K}, not a list"))  # fmt: skip
        elif self.sign == "ranking" and isinstance(self.value, CheeseResponse):
            out.append(("sign", "ranking with value {times_cheese_response: K}: the response carries each "
                                "channel's own sign already; leave sign out"))  # fmt: skip
        if self.value == NO_CHEESE:
            if self.sign != "none":
                out.append(("sign", "no-cheese writes each channel's own value; leave sign out"))
        elif isinstance(self.value, CheeseResponse):
            if not is_number(self.value.k) or self.value.k == 0:
                out.append(("value", f"times_cheese_response must be a finite number other than 0; got "
                                     f"{self.value.k!r}"))  # fmt: skip
        elif not is_number(self.value):
            why = f"must be a number, {{times_cheese_response: K}} or {NO_CHEESE}; got {self.value!r}"
            out.append(("value", why))
        return out + _radius_problems(self.radius)

    def fit_problems(self, shape: tuple[int, ...], mazes: pd.DataFrame) -> list[tuple[str, str]]:
        out = super().fit_problems(shape, mazes)
        if len(shape) != 3:
            out.append(
                ("layer", f"a clamp sets a square of a map; {self.layer} has shape {shape}, not a map")
            )
        if isinstance(self.at, tuple):
            problem = square_problem(self.at, mazes, cheese=False)
            out += [("at", problem)] if problem else []
        return out

    def prepare(self, ctx: EditContext) -> Patch:
        import torch

        ranking = ctx.rankings.get(self.layer)
        channels = list(self.channels.resolve(ranking))
        c, h, w = _spatial(ctx, self.layer)
        device = ctx.model.device
        chosen = ctx.channel_mask(self.layer, channels)[:, 0, 0]
        at_cell = _near(ctx, self.at, self.radius, h, w)[:, None] & chosen[None, :, None, None]
        if self.value == NO_CHEESE:  # per maze: what these channels read there with no cheese in the maze
            without = ctx.activations([s.without_cheese() for s in ctx.natural_states()], self.layer)
            if self.background is None:
                return Patch(self.layer, mask=at_cell, value=without, info={"value": NO_CHEESE})
            mask = chosen[None, :, None, None].expand(at_cell.shape)
            value = torch.where(at_cell, without, torch.tensor(float(self.background), device=device))
            return Patch(self.layer, mask=mask, value=value, info={"value": NO_CHEESE})
        values, info = self._values(ranking, channels)
        per_channel = torch.zeros(c, dtype=torch.float32, device=device)
        per_channel[channels] = torch.tensor(values, dtype=torch.float32, device=device)
        written = per_channel[None, :, None, None].expand(at_cell.shape)
        if self.background is None:
            return Patch(self.layer, mask=at_cell, value=written, info=info)
        mask = chosen[None, :, None, None].expand(at_cell.shape)
        value = torch.where(at_cell, written, torch.tensor(float(self.background), device=device))
        return Patch(self.layer, mask=mask, value=value, info=info)

    def _values(self, ranking: Mapping | None, channels: list[int]) -> tuple[list[float], dict | None]:
        """The value written into each channel, and what it was made of (for the run's records)."""
        if isinstance(self.value, CheeseResponse):
            response = self.channels.fact(ranking, "cheese_response", channels)
            values = [float(self.value.k) * r for r in response]
            made = {"times_cheese_response": float(self.value.k), "cheese_response": response}
        elif self.sign == "ranking":
            signs = self.channels.fact(ranking, "sign", channels)
            values = [float(self.value) * s for s in signs]
            made = {"sign": signs}
        else:
            return [float(self.value)] * len(channels), None
        return values, {"channels": channels, "value": values, **made}

    def squares(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return _squares(table, self.at)


@register
@dataclass(frozen=True)
class CheeseAtTarget(Edit):
    channels: Channels | None = setting(None, f"every channel (default), {CHANNELS_HELP}", check=channel_set)
    """None: every channel of the layer."""
    at: Any = setting(
        "target",
        "target, or [row, col]: the square the cheese is moved onto (mouse on its start square)",
        check=square(),
    )
    """The square the cheese is moved onto: "target" or a (row, col) maze square."""
    radius: int | None = setting(
        None,
        "only the cells within this Chebyshev distance of that square's cell (default: every cell)",
        check=later,
    )
    """None: every cell; R: the cells within Chebyshev distance R of the square's cell."""
    kind: ClassVar[str] = "cheese-at-target"
    omit_default: ClassVar[tuple[str, ...]] = ("channels", "radius")  # None has no spec form

    def problems(self) -> list[tuple[str, str]]:
        return [] if self.radius is None else _radius_problems(self.radius)

    def fit_problems(self, shape: tuple[int, ...], mazes: pd.DataFrame) -> list[tuple[str, str]]:
        out = super().fit_problems(shape, mazes)
        if self.radius is not None and len(shape) != 3:
            out.append(("radius", f"cells within a radius need a map; {self.layer} has shape {shape}"))
        if isinstance(self.at, tuple):
            problem = square_problem(self.at, mazes, cheese=True)
            out += [("at", problem)] if problem else []
        return out

    def prepare(self, ctx: EditContext) -> Patch:
        import torch

        shape = ctx.shape(self.layer)
        rows, cols = _squares(ctx.table, self.at)
        states = [
            _cheese_on(s, int(r), int(c), self.kind)
            for s, r, c in zip(ctx.natural_states(), rows, cols, strict=True)
        ]
        value = ctx.activations(states, self.layer)  # the same start observation the cheese vector uses
        if self.channels is None:
            mask = torch.ones(shape, dtype=torch.bool, device=ctx.model.device)
        else:
            mask = ctx.channel_mask(self.layer, self.channels.resolve(ctx.rankings.get(self.layer)))
        mask = mask.unsqueeze(0).expand(len(ctx.table), *shape)
        if self.radius is not None:
            _, h, w = _spatial(ctx, self.layer)
            mask = mask & _near(ctx, self.at, self.radius, h, w)[:, None]
        return Patch(self.layer, mask=mask, value=value)
