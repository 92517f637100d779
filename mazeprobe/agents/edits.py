"""Edits of the network: named, serialisable, composable changes to a layer's output on every forward pass.

    cv = CheeseVector("embedder.block2.res1.resadd_out")            # coefficient -1: subtract it
    with net.edited(cv, maze):                                        # maze: a one-row maze table
        logits, _ = net(x)

The kinds (the `edit:` names of an experiment spec's `interventions:`):

- `add`: add `coefficient` x a given tensor (C, H, W) at a layer.
- `cheese-vector`: per maze, the layer's activations with the mouse on its start square for the maze as it
  is, minus the same with the cheese removed; added with `coefficient` (default -1) at every position and
  every forward pass on that maze. `source_seed`: use the vector of another maze (transfer).
- `top-right-vector`: the difference made by opening a corridor from the maze's top-right square to the
  world's top-right corner (MazeState.with_top_right_corridor), added with `coefficient` (default +1).
- `zero-ablate`, `mean-ablate` (each channel's mean map over `n` seeded mazes' start observations),
  `resample` (the channel maps of a donor maze, chosen by a seeded rule: `donor: same-cheese | other-cheese
  | any`, compared in world coordinates): a channel set at a layer.
- `clamp`: set `channels` to `value` at the map cell of a maze square (`at: target`, the context's target
  square, `at: cheese`, the maze's own cheese square, or `at: [row, col]`) and, with `radius: R`, at
  every cell within Chebyshev distance R of it;
  optionally with the rest of those channels set to `background`. `sign: ranking` writes value x each
  channel's ranking sign (toward what marks the cheese in that channel: a channel that marks it by a low
  value gets -value); `value: {times_cheese_response: K}` writes K x each channel's mean activation at a
  real cheese's cell over the ranking's mazes, so that K means the same on any network (K > 0: what a real
  cheese does there).
- `cheese-at-target`: set `channels` (default every channel) at every cell (or, with `radius`, around the
  square's cell) to the layer's activations for the same maze with the cheese moved onto the square
  (`at: target` or `at: [row, col]`), read once with the mouse on its start square: the copied cells also
  freeze what the network sees of the mouse there (a whole-layer copy plays one move at every step).

Channel sets are lists, or `{ranking: cheese-channels, top: K}` (the top K of the layer's cheese-channel
ranking, mazeprobe.agents.channels, which also records each channel's sign and cheese response). An edit
becomes a Patch (mazeprobe.agents.patches) once prepared for a batch of contexts: rows of a maze table,
which may carry `target_row`, `target_col`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from mazeprobe.agents.donors import DONOR_CANDIDATES as DONOR_CANDIDATES
from mazeprobe.agents.donors import DONORS as DONORS
from mazeprobe.agents.donors import donor_rows
from mazeprobe.agents.obs import obs_to_tensor
from mazeprobe.agents.patches import Patch, PreparedEdits
from mazeprobe.errors import MazeEditError, UsageError
from mazeprobe.maze.procgen import map_position, to_world
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.sim.policy import MazeBatch, maze_batch
from mazeprobe.sim.rollout import Roller, start_states
from mazeprobe.validation import is_number

if TYPE_CHECKING:  # torch is imported where edits are prepared: parsing and checking a spec needs none
    import torch

RANKINGS = ("cheese-channels",)
RANKED_FACTS = ("sign", "cheese_response")
"""Per-channel facts a ranking record keeps beside its order, each a list in rank order under
ranking_key(ranking, fact): the sign of the channel's cheese mark, its mean activation at the cheese."""
SIGNS = ("none", "ranking")


# --- channel sets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channels:
    """A list of channels, or the top K of a named ranking of the layer's channels."""

    channels: tuple[int, ...] = ()
    ranking: str | None = None
    top: int | None = None

    def resolve(self, rankings: Mapping[str, Sequence[int]] | None) -> tuple[int, ...]:
        if self.ranking is None:
            return self.channels
        ranked = (rankings or {}).get(self.ranking)
        if ranked is None:
            raise UsageError(f"the {self.ranking} ranking of this layer is needed but was not computed")
        return tuple(int(c) for c in list(ranked)[: self.top])

    def to_spec(self) -> list[int] | dict:
        return list(self.channels) if self.ranking is None else {"ranking": self.ranking, "top": self.top}

    def fact(self, rankings: Mapping | None, fact: str, channels: Sequence[int]) -> list[float]:
        """Per channel of `channels`, its `fact` (one of RANKED_FACTS) in the layer's ranking record (the
        one this set names; a plain list reads the cheese-channels ranking)."""
        name = self.ranking or RANKINGS[0]
        ranked, values = (rankings or {}).get(name), (rankings or {}).get(ranking_key(name, fact))
        if ranked is None or values is None:
            raise UsageError(
                f"the {fact} of each channel in the {name} ranking of this layer is needed but was not "
                "recorded (a run started before it was: start it afresh)"
            )
        by_channel = {int(c): float(v) for c, v in zip(ranked, values, strict=True)}
        return [by_channel[int(c)] for c in channels]

    @classmethod
    def from_spec(cls, value: Any) -> Channels:
        if isinstance(value, Channels):
            return value
        if isinstance(value, Mapping):
            return cls((), str(value["ranking"]), int(value["top"]))
        return cls(tuple(int(c) for c in value))


def ranking_key(ranking: str, fact: str) -> str:
    """Where a ranking record keeps a per-channel fact (RANKED_FACTS) beside the ranked channels."""
    return f"{ranking}:{fact}"


NO_CHEESE = "no-cheese"
"""A clamp value: each channel's own value in the same maze's start observation without its cheese."""


@dataclass(frozen=True)
class CheeseResponse:
    """A clamp value of K x each channel's mean activation at a real cheese's cell (the ranking's mazes)."""

    k: float

    def to_spec(self) -> dict:
        return {"times_cheese_response": _plain(self.k)}


# --- what preparing an edit needs ------------------------------------------------------------------


@dataclass
class EditContext:
    """The network and the contexts (rows of a maze table) edits are prepared for, with the helpers they
    share: start states of the mazes as sampled, and batched activations of rendered states."""

    model: Any
    """An ImpalaCNN (only its methods are used: forward_to, run_with_cache, activation_shapes)."""
    mazes: MazeBatch
    renderer: Roller
    rankings: dict[str, dict[str, Sequence]] = field(default_factory=dict)
    """layer -> ranking record: ranking name -> channels in ranked order, and ranking_key(name, fact) ->
    each ranked channel's fact (RANKED_FACTS), in the same order."""
    _natural: list | None = None

    @property
    def table(self) -> pd.DataFrame:
        return self.mazes.table

    def natural_states(self) -> list:
        """Each context's maze at its start, the cheese where the maze table puts it."""
        if self._natural is None:
            self._natural = start_states(self.table, self.renderer.loader)
        return self._natural

    def shape(self, layer: str) -> tuple[int, ...]:
        shapes = self.model.activation_shapes()
        if layer not in shapes:
            raise UsageError(f"unknown activation {layer!r}; valid names: {', '.join(shapes)}")
        return shapes[layer]

    def activations(self, states: Sequence, layer: str, batch: int = 256) -> torch.Tensor:
        """(N, ...) float32 activations of `layer` for the rendered states, on the model's device."""
        import torch

        with torch.no_grad():
            parts = []
            for start in range(0, len(states), batch):
                x = obs_to_tensor(self.renderer.render(states[start : start + batch]), self.model.device)
                if layer in self.model.split_points():
                    parts.append(self.model.forward_to(x, layer).float())
                else:
                    parts.append(self.model.run_with_cache(x, [layer])[2][layer].float())
            if not parts:
                return torch.zeros((0, *self.shape(layer)), device=self.model.device)
            return torch.cat(parts).contiguous()

    def channel_mask(self, layer: str, channels: Sequence[int]) -> torch.Tensor:
        """(C, H, W) bool: every position of the listed channels."""
        import torch

        c = self.shape(layer)[0]
        bad = [ch for ch in channels if not 0 <= ch < c]
        if bad:
            raise UsageError(f"channels {bad} do not exist at {layer}, which has channels 0..{c - 1}")
        mask = torch.zeros(self.shape(layer), dtype=torch.bool, device=self.model.device)
        mask[list(channels)] = True
        return mask


# --- the edits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One change to one layer. Subclasses set `kind` and implement `prepare`."""

    layer: str
    kind: ClassVar[str] = ""
    aim: ClassVar[str] = "square"
    """How an edit `at: target` depends on its target: through the target's square, or ("cell") only
    through the cell of the edited map that holds it (targets sharing a cell share forward passes)."""
    omit_default: ClassVar[tuple[str, ...]] = ()
    """Settings written into the spec entry only when they are not their default: those added after the
    kind was first released (so that the specs, and hashes, written before them stay what they were)."""

    def prepare(self, ctx: EditContext) -> Patch:
        raise NotImplementedError

    def problems(self) -> list[tuple[str, str]]:
        """(key, what is wrong) for each setting that no network could fit (checked when a spec is read
        and again before a run starts)."""
        return []

    @property
    def needs_ranking(self) -> bool:
        """Whether preparing the edit reads the layer's channel ranking."""
        channels = getattr(self, "channels", None)
        return isinstance(channels, Channels) and channels.ranking is not None

    def to_spec(self) -> dict:
        """The edit as its spec entry (what `edit_from_spec` reads back)."""
        out: dict[str, Any] = {"edit": self.kind, "layer": self.layer}
        for f in fields(self):
            if f.name == "layer":
                continue
            value = getattr(self, f.name)
            if f.name in self.omit_default and value == f.default:
                continue
            out[f.name] = value.to_spec() if hasattr(value, "to_spec") else _plain(value)
        return out

    def _repeat(self, ctx: EditContext, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.unsqueeze(0).expand(len(ctx.table), *tensor.shape)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def load_tensor(path: str | os.PathLike) -> np.ndarray:
    """The array of an `add` edit's .npy file: a real, finite array read without unpickling anything (a
    pickle can run code). UsageError, one line naming the file, for anything else."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: {'is a directory' if path.is_dir() else 'no such file'}, not a .npy array")
    try:
        with path.open("rb") as f:
            if f.read(6) != b"\x93NUMPY":
                raise UsageError(f"{path}: not a .npy file (write the array with numpy.save)")
            f.seek(0)
            # read_array, not np.load: np.load also opens .npz archives and (with allow_pickle) pickles
            array = np.lib.format.read_array(f, allow_pickle=False)
    except UsageError:
        raise
    except (OSError, ValueError, EOFError, MemoryError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: not a readable .npy array ({why})") from None
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise UsageError(f"{path}: holds {array.dtype} values; an add tensor holds real numbers")
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise UsageError(f"{path}: {bad} of its {array.size} values are NaN or infinite; it must be finite")
    return array


@dataclass(frozen=True)
class Add(Edit):
    tensor: Any = None
    """(C, H, W): the tensor added (a numpy array, or a path to a .npy file in a spec)."""
    coefficient: float = 1.0
    kind: ClassVar[str] = "add"

    def prepare(self, ctx: EditContext) -> Patch:
        import torch

        tensor = load_tensor(self.tensor) if isinstance(self.tensor, str) else np.asarray(self.tensor)
        if tuple(tensor.shape) != ctx.shape(self.layer):
            raise UsageError(
                f"add at {self.layer}: the tensor has shape {tuple(tensor.shape)}, the layer "
                f"{ctx.shape(self.layer)}"
            )
        t = torch.as_tensor(tensor, dtype=torch.float32, device=ctx.model.device) * self.coefficient
        return Patch(self.layer, add=self._repeat(ctx, t))


@dataclass(frozen=True)
class CheeseVector(Edit):
    coefficient: float = -1.0
    source_seed: int | None = None
    """The level seed of another maze whose vector is used (transfer); None: each maze's own."""
    at: Any = None
    """None: the cheese where it is. "target" or (row, col): the vector of the cheese moved onto that
    square (with coefficient +1, an edit that puts a cheese where there is none: retargeting)."""
    kind: ClassVar[str] = "cheese-vector"

    def prepare(self, ctx: EditContext) -> Patch:
        states = _source_states(ctx, self.source_seed)
        if self.at is not None:
            rows, cols = _squares(ctx.table, self.at)
            states = [
                _cheese_on(s, int(r), int(c), self.kind) for s, r, c in zip(states, rows, cols, strict=True)
            ]
        both = ctx.activations([s for st in states for s in (st, st.without_cheese())], self.layer)
        vector = both[0::2] - both[1::2]
        return Patch(self.layer, add=self.coefficient * _per_context(ctx, vector, self.source_seed))


def _cheese_on(state, row: int, col: int, kind: str):
    try:
        return state.with_cheese(row, col)
    except MazeEditError as exc:
        raise UsageError(f"{kind} at ({row}, {col}) of level {state.level_seed}: {exc}") from None


def _squares(table: pd.DataFrame, at: Any) -> tuple[np.ndarray, np.ndarray]:
    """The square an edit aims at in each context: the target's, the maze's own cheese square (`at:
    cheese`: an edit of what the cheese writes, e.g. a clamp of the cheese channels where the cheese is), or
    a fixed (row, col)."""
    if at == "target":
        if "target_row" not in table.columns:
            raise UsageError("an edit `at: target` needs targets (the spec's retargeting section)")
        return table["target_row"].to_numpy(np.int64), table["target_col"].to_numpy(np.int64)
    if at == "cheese":
        return table["cheese_row"].to_numpy(np.int64), table["cheese_col"].to_numpy(np.int64)
    row, col = at
    return np.full(len(table), int(row)), np.full(len(table), int(col))


@dataclass(frozen=True)
class TopRightVector(Edit):
    coefficient: float = 1.0
    source_seed: int | None = None
    kind: ClassVar[str] = "top-right-vector"

    def prepare(self, ctx: EditContext) -> Patch:
        states = _source_states(ctx, self.source_seed)
        both = ctx.activations([s for st in states for s in (st.with_top_right_corridor(), st)], self.layer)
        vector = both[0::2] - both[1::2]
        return Patch(self.layer, add=self.coefficient * _per_context(ctx, vector, self.source_seed))


def _source_states(ctx: EditContext, source_seed: int | None) -> list:
    if source_seed is None:
        return ctx.natural_states()
    table = sample_mazes(SampleSpec(n=1, start_level=int(source_seed)))
    if int(table["seed"].iloc[0]) != source_seed:
        raise UsageError(f"source_seed {source_seed}: no such procgen level")
    return start_states(table, ctx.renderer.loader)


def _per_context(ctx: EditContext, vectors: torch.Tensor, source_seed: int | None) -> torch.Tensor:
    return vectors.expand(len(ctx.table), *vectors.shape[1:]) if source_seed is not None else vectors


@dataclass(frozen=True)
class ZeroAblate(Edit):
    channels: Channels = Channels()
    kind: ClassVar[str] = "zero-ablate"

    def prepare(self, ctx: EditContext) -> Patch:
        import torch

        mask = ctx.channel_mask(self.layer, self.channels.resolve(ctx.rankings.get(self.layer)))
        return Patch(
            self.layer,
            mask=self._repeat(ctx, mask),
            value=self._repeat(ctx, torch.zeros_like(mask, dtype=torch.float32)),
        )


@dataclass(frozen=True)
class MeanAblate(Edit):
    channels: Channels = Channels()
    n: int = 100
    """Mazes (natural placement, mouse on the start square) the mean is taken over."""
    seed: int = 0
    kind: ClassVar[str] = "mean-ablate"

    def prepare(self, ctx: EditContext) -> Patch:
        mask = ctx.channel_mask(self.layer, self.channels.resolve(ctx.rankings.get(self.layer)))
        table = sample_mazes(SampleSpec(n=self.n, seed=self.seed))
        mean = ctx.activations(start_states(table, ctx.renderer.loader), self.layer).mean(0)
        info = {"mean_over": {"n": self.n, "seed": self.seed, "placement": "natural", "mouse": "start"}}
        return Patch(self.layer, mask=self._repeat(ctx, mask), value=self._repeat(ctx, mean), info=info)


@dataclass(frozen=True)
class Resample(Edit):
    channels: Channels = Channels()
    donor: str = "any"
    seed: int = 0
    kind: ClassVar[str] = "resample"

    def prepare(self, ctx: EditContext) -> Patch:
        mask = ctx.channel_mask(self.layer, self.channels.resolve(ctx.rankings.get(self.layer)))
        donors = donor_rows(ctx.table, self.donor, self.seed)
        maps = ctx.activations(start_states(donors, ctx.renderer.loader), self.layer)
        info = {"donor_seeds": donors["seed"].astype(int).tolist()}
        return Patch(self.layer, mask=self._repeat(ctx, mask), value=maps, info=info)


@dataclass(frozen=True)
class Clamp(Edit):
    channels: Channels = Channels()
    value: float | CheeseResponse | str = 5.5
    """A number, CheeseResponse(K): K x each channel's cheese response (whose sign it keeps), or NO_CHEESE:
    each channel's own value in the same maze with its cheese removed."""
    at: Any = "target"
    """"target" (the context's target_row/target_col), "cheese" (the maze's cheese square) or a (row, col)
    maze square."""
    background: float | None = None
    """The value of the rest of those channels' maps (None: leave them)."""
    sign: str = "none"
    """"none": the value as written in every channel; "ranking": value x each channel's ranking sign."""
    radius: int = 0
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


@dataclass(frozen=True)
class CheeseAtTarget(Edit):
    channels: Channels | None = None
    """None: every channel of the layer."""
    at: Any = "target"
    """The square the cheese is moved onto: "target" or a (row, col) maze square."""
    radius: int | None = None
    """None: every cell; R: the cells within Chebyshev distance R of the square's cell."""
    kind: ClassVar[str] = "cheese-at-target"
    omit_default: ClassVar[tuple[str, ...]] = ("channels", "radius")  # None has no spec form

    def problems(self) -> list[tuple[str, str]]:
        return [] if self.radius is None else _radius_problems(self.radius)

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


def _radius_problems(radius: Any) -> list[tuple[str, str]]:
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
        return [("radius", f"must be an integer >= 0 (cells within that Chebyshev distance of the square's "
                           f"cell); got {radius!r}")]  # fmt: skip
    return []


def _near(ctx: EditContext, at: Any, radius: int, h: int, w: int) -> torch.Tensor:
    """(M, H, W) bool: per context, the cells within Chebyshev distance `radius` of its square's cell."""
    import torch

    rows, cols = _squares(ctx.table, at)
    hh, ww = cell_of_square(rows, cols, ctx.mazes.sizes, h)
    device = ctx.model.device
    near_h = (torch.arange(h)[None, :] - torch.as_tensor(hh)[:, None]).abs() <= radius
    near_w = (torch.arange(w)[None, :] - torch.as_tensor(ww)[:, None]).abs() <= radius
    return (near_h[:, :, None] & near_w[:, None, :]).to(device)


def _spatial(ctx: EditContext, layer: str) -> tuple[int, int, int]:
    shape = ctx.shape(layer)
    if len(shape) != 3:
        raise UsageError(f"{layer} is not a spatial map (shape {shape}): nothing to clamp at a square")
    return shape


def cell_of_square(
    rows: np.ndarray, cols: np.ndarray, sizes: np.ndarray, side: int
) -> tuple[np.ndarray, np.ndarray]:
    """The (h, w) cell of a side x side map holding each maze square's centre (rows/cols inner, row 0 at
    the bottom; sizes the mazes' sides): the world coordinates of the square, then map_position."""
    wr, wc = to_world(np.asarray(rows), np.asarray(cols), np.asarray(sizes))
    return map_position(wr, wc, side)


EDITS: dict[str, type[Edit]] = {
    cls.kind: cls
    for cls in (Add, CheeseVector, TopRightVector, ZeroAblate, MeanAblate, Resample, Clamp, CheeseAtTarget)
}


def edit_from_spec(entry: Mapping) -> Edit:
    """An Edit from its spec mapping ({edit: KIND, layer, ...}); the spec parser has checked it."""
    cls = EDITS[entry["edit"]]
    kwargs = {k: v for k, v in entry.items() if k not in ("edit", "id")}
    if kwargs.get("channels") is not None:
        kwargs["channels"] = Channels.from_spec(kwargs["channels"])
    if isinstance(kwargs.get("value"), Mapping):
        kwargs["value"] = CheeseResponse(kwargs["value"]["times_cheese_response"])
    if isinstance(kwargs.get("at"), list):
        kwargs["at"] = tuple(kwargs["at"])
    return cls(**kwargs)


# --- preparing ------------------------------------------------------------------------------------


def network_size(model: Any) -> int:
    """Activations in one forward pass: every named hook point's tensor once (the input not counted)."""
    return int(sum(math.prod(shape) for shape in model.activation_shapes().values()))


def prepare_edits(
    edits: Edit | Sequence[Edit],
    model: Any,
    mazes: pd.DataFrame | MazeBatch,
    renderer: Roller | None = None,
    rankings: dict | None = None,
    states: list | None = None,
) -> PreparedEdits:
    """Patches of the edits (applied in order) for every row of `mazes` (a maze table or MazeBatch).
    `states`: the mazes' start states when the caller has them (else derived again from the table)."""
    edits = [edits] if isinstance(edits, Edit) else list(edits)
    batch = mazes if isinstance(mazes, MazeBatch) else maze_batch(mazes)
    if states is not None and len(states) != len(batch.table):
        raise UsageError(f"states: {len(states)} start states for {len(batch.table)} mazes")
    ctx = EditContext(model, batch, renderer or Roller(32), rankings or {}, states)
    patches = [edit.prepare(ctx) for edit in edits]
    sizes = {p.layer: int(math.prod(ctx.shape(p.layer))) for p in patches}
    return PreparedEdits(patches, len(batch.table), sizes, network_size(model))
