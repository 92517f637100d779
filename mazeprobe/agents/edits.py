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
  square, or `at: [row, col]`), optionally with the rest of those channels set to `background`.

Channel sets are lists, or `{ranking: cheese-channels, top: K}` (the top K of the layer's cheese-channel
ranking, mazeprobe.agents.channels). An edit becomes a Patch (mazeprobe.agents.patches) once prepared for
a batch of contexts: rows of a maze table, which may carry `target_row`, `target_col`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from mazeprobe.agents.obs import obs_to_tensor
from mazeprobe.agents.patches import Patch, PreparedEdits
from mazeprobe.errors import MazeEditError, UsageError
from mazeprobe.maze.procgen import map_position, to_world
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.rng import uniforms
from mazeprobe.sim.policy import MazeBatch, maze_batch
from mazeprobe.sim.rollout import Roller, start_states

RANKINGS = ("cheese-channels",)
DONORS = ("same-cheese", "other-cheese", "any")
DONOR_CANDIDATES = 16_384
"""Mazes a resample donor is chosen among: at least a few share any maze's cheese square (world
coordinates), which one in a few hundred to a few thousand random mazes does."""


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

    @classmethod
    def from_spec(cls, value: Any) -> Channels:
        if isinstance(value, Channels):
            return value
        if isinstance(value, Mapping):
            return cls((), str(value["ranking"]), int(value["top"]))
        return cls(tuple(int(c) for c in value))


# --- what preparing an edit needs ------------------------------------------------------------------


@dataclass
class EditContext:
    """The network and the contexts (rows of a maze table) edits are prepared for, with the helpers they
    share: start states of the mazes as sampled, and batched activations of rendered states."""

    model: Any
    """An ImpalaCNN (only its methods are used: forward_to, run_with_cache, activation_shapes)."""
    mazes: MazeBatch
    renderer: Roller
    rankings: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    """layer -> ranking name -> channels in ranked order."""
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

    @torch.no_grad()
    def activations(self, states: Sequence, layer: str, batch: int = 256) -> torch.Tensor:
        """(N, ...) float32 activations of `layer` for the rendered states, on the model's device."""
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

    def prepare(self, ctx: EditContext) -> Patch:
        raise NotImplementedError

    def to_spec(self) -> dict:
        """The edit as its spec entry (what `edit_from_spec` reads back)."""
        out: dict[str, Any] = {"edit": self.kind, "layer": self.layer}
        for f in fields(self):
            if f.name == "layer":
                continue
            value = getattr(self, f.name)
            out[f.name] = value.to_spec() if isinstance(value, Channels) else _plain(value)
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
    """The square an edit aims at in each context: the target's, or a fixed (row, col)."""
    if at == "target":
        if "target_row" not in table.columns:
            raise UsageError("an edit `at: target` needs targets (the spec's retargeting section)")
        return table["target_row"].to_numpy(np.int64), table["target_col"].to_numpy(np.int64)
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


def donor_rows(table: pd.DataFrame, rule: str, seed: int) -> pd.DataFrame:
    """One donor maze per row of `table`, chosen among DONOR_CANDIDATES seeded mazes (natural placement):
    one whose cheese sits on the same world square (same-cheese), on another (other-cheese), or any;
    never the maze itself. The choice depends only on (seed, the maze's level seed)."""
    if rule not in DONORS:
        raise UsageError(f"donor must be one of {', '.join(DONORS)}; got {rule!r}")
    pool = sample_mazes(SampleSpec(n=DONOR_CANDIDATES, seed=seed))
    pool_cheese = np.stack(
        to_world(
            pool["cheese_row"].to_numpy(int),
            pool["cheese_col"].to_numpy(int),
            pool["maze_size"].to_numpy(int),
        ),
        1,
    )
    pool_seeds = pool["seed"].to_numpy(np.int64)
    picks = []
    for row in table.itertuples():
        cheese = np.array(to_world(int(row.cheese_row), int(row.cheese_col), int(row.maze_size)))
        same = (pool_cheese == cheese).all(1)
        ok = {"same-cheese": same, "other-cheese": ~same, "any": np.ones(len(pool), bool)}[rule]
        ok &= pool_seeds != int(row.seed)
        candidates = np.flatnonzero(ok)
        if not len(candidates):
            raise UsageError(
                f"resample: no {rule} donor for level {row.seed} (cheese at world {tuple(cheese)}) among "
                f"{DONOR_CANDIDATES} mazes"
            )
        u = float(uniforms(seed, int(row.seed)))
        picks.append(int(candidates[min(int(u * len(candidates)), len(candidates) - 1)]))
    return pool.iloc[picks].reset_index(drop=True)


@dataclass(frozen=True)
class Clamp(Edit):
    channels: Channels = Channels()
    value: float = 5.5
    at: Any = "target"
    """"target" (the context's target_row/target_col) or a (row, col) maze square."""
    background: float | None = None
    """The value of the rest of those channels' maps (None: leave them)."""
    kind: ClassVar[str] = "clamp"

    def prepare(self, ctx: EditContext) -> Patch:
        channels = list(self.channels.resolve(ctx.rankings.get(self.layer)))
        c, h, w = _spatial(ctx, self.layer)
        rows, cols = self.squares(ctx.table)
        hh, ww = cell_of_square(rows, cols, ctx.mazes.sizes, h)
        m = len(ctx.table)
        device = ctx.model.device
        at_cell = torch.zeros((m, c, h, w), dtype=torch.bool, device=device)
        index = torch.arange(m, device=device)
        for ch in channels:
            at_cell[index, ch, torch.as_tensor(hh, device=device), torch.as_tensor(ww, device=device)] = True
        if self.background is None:
            return Patch(
                self.layer, mask=at_cell, value=torch.full_like(at_cell, self.value, dtype=torch.float32)
            )
        mask = ctx.channel_mask(self.layer, channels).unsqueeze(0).expand(m, c, h, w)
        value = torch.where(
            at_cell,
            torch.tensor(float(self.value), device=device),
            torch.tensor(float(self.background), device=device),
        )
        return Patch(self.layer, mask=mask, value=value)

    def squares(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return _squares(table, self.at)


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
    cls.kind: cls for cls in (Add, CheeseVector, TopRightVector, ZeroAblate, MeanAblate, Resample, Clamp)
}


def edit_from_spec(entry: Mapping) -> Edit:
    """An Edit from its spec mapping ({edit: KIND, layer, ...}); the spec parser has checked it."""
    cls = EDITS[entry["edit"]]
    kwargs = {k: v for k, v in entry.items() if k not in ("edit", "id")}
    if "channels" in kwargs:
        kwargs["channels"] = Channels.from_spec(kwargs["channels"])
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
