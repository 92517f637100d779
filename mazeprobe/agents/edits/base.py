"""What every edit kind shares: channel sets, the context an edit is prepared in, the Edit base class
and the checks its settings (mazeprobe.settings fields: the keys of its spec entry) use, the squares an
edit aims at, and EDITS (the kinds by name, filled by @register). The kinds themselves are in the sibling
modules, one per family."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from mazeprobe.agents.layers import activation_names
from mazeprobe.agents.obs import obs_to_tensor
from mazeprobe.agents.patches import Patch
from mazeprobe.errors import MazeEditError, UsageError
from mazeprobe.maze.procgen import WALL, map_position, to_world
from mazeprobe.maze.sampling import row_grid
from mazeprobe.settings import Check, keys_help, setting, settings_of
from mazeprobe.sim.policy import MazeBatch
from mazeprobe.sim.rollout import Roller, start_states
from mazeprobe.validation import is_number
from mazeprobe.yamlio import Checker, KeyPath, describe_value

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


# --- the checks of a spec entry's settings ------------------------------------------------------------
# Each is a mazeprobe.settings Check: (checker, value, key path, place) -> the value kept, after reporting
# what is wrong with it to the checker. A kind's fields name them (`setting(1.0, help, check=number)`).


@dataclass(frozen=True)
class Place:
    """What checking an entry needs besides the entry (read_settings' context): the spec file's folder
    (relative paths are read from there), its intervention's id (messages name it) and the activation
    names a layer may be (None: the network's)."""

    base: Path
    iid: Any
    layers: Collection[str] | None = None


def activation(c: Checker, value: Any, kp: KeyPath, place: Place) -> Any:
    names = activation_names() if place.layers is None else place.layers
    if not isinstance(value, str) or value not in names:
        c.fail(kp, f"unknown activation {value!r}; e.g. embedder.block2.res1.resadd_out")
    return value


def number(c: Checker, value: Any, kp: KeyPath, place: Place) -> Any:
    # the value as written (an int stays an int): it is hashed with the spec as it was first released
    if not is_number(value):
        c.fail(kp, f"must be a finite number; got {describe_value(value)}")
    return value


def later(c: Checker, value: Any, kp: KeyPath, place: Place) -> Any:
    """No check here: the kind's problems() checks it, beside the values it goes with."""
    return value


CHANNELS_HELP = "a list of channels or {ranking: cheese-channels, top: K}"


def channel_set(c: Checker, value: Any, kp: KeyPath, place: Place) -> Any:
    if isinstance(value, dict):
        c.mapping(value, kp, {"ranking": " | ".join(RANKINGS), "top": "how many (>= 1)"}, ("ranking", "top"))
        if "ranking" in value:
            c.choice(value["ranking"], (*kp, "ranking"), RANKINGS)
        if "top" in value:
            c.integer(value["top"], (*kp, "top"), 1)
    elif isinstance(value, list):
        for i, ch in enumerate(value):
            c.integer(ch, (*kp, i), 0)
    else:
        c.fail(kp, f"must be {CHANNELS_HELP}; got " + describe_value(value))
    return value


def required_channels() -> Any:
    """The setting of a kind whose entry must name a channel set (`channels = required_channels()`)."""
    return setting(
        Channels(), CHANNELS_HELP, check=channel_set, required=True,
        missing=f"missing key 'channels' ({CHANNELS_HELP})",
    )  # fmt: skip


def square(*words: str) -> Check:
    """The check of `at:` a maze square: target, [row, col], or one of `words` (e.g. cheese)."""

    def check(c: Checker, value: Any, kp: KeyPath, place: Place) -> Any:
        fixed = (
            isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v >= 0 for v in value)
        )
        if value != "target" and value not in words and not fixed:
            also = "".join(f", {w}" for w in words)
            c.fail(kp, f"must be target{also} or [row, col] (a maze square); got {describe_value(value)}")
        return value

    return check


# --- the edits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One change to one layer. Subclasses set `kind` and implement `prepare`; each of their fields is a
    setting (mazeprobe.settings.setting: its default, help and check), a key of the spec entry."""

    layer: str = setting(help="an activation name", check=activation)
    kind: ClassVar[str] = ""
    aim: ClassVar[str] = "square"
    """How an edit `at: target` depends on its target: through the target's square, or ("cell") only
    through the cell of the edited map that holds it (targets sharing a cell share forward passes)."""
    omit_default: ClassVar[tuple[str, ...]] = ()
    """Settings written into the spec entry only when they are not their default: those added after the
    kind was first released (so that the specs, and hashes, written before them stay what they were)."""

    def prepare(self, ctx: EditContext) -> Patch:
        raise NotImplementedError

    @classmethod
    def key_help(cls) -> dict[str, str]:
        """Each setting's help besides the layer's, its default written in."""
        return {key: text for key, text in keys_help(cls).items() if key != "layer"}

    def problems(self) -> list[tuple[str, str]]:
        """(key, what is wrong) for each setting that no network could fit (checked when a spec is read
        and again before a run starts)."""
        return []

    def fit_problems(self, shape: tuple[int, ...], mazes: pd.DataFrame) -> list[tuple[str, str]]:
        """(key, what is wrong) for each setting that does not fit its layer (of this `shape` in the
        network) or these mazes (a maze table), besides `problems()`: checked before a run starts."""
        out = self.problems()
        channels = getattr(self, "channels", None)
        if isinstance(channels, Channels):
            bad = [ch for ch in channels.channels if ch >= shape[0]]
            if bad:
                out.append(("channels", f"channels {bad} do not exist at {self.layer}, which has channels "
                                        f"0..{shape[0] - 1} in this network"))  # fmt: skip
            if channels.ranking is not None and channels.top > shape[0]:
                out.append(("channels", f"top {channels.top} of {shape[0]} channels at {self.layer}"))
        return out

    @property
    def aims_at_target(self) -> bool:
        """Whether it aims at each retargeting target in turn (`at: target`)."""
        return getattr(self, "at", None) == "target"

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


def square_problem(at: tuple, mazes: pd.DataFrame, cheese: bool) -> str | None:
    """Why a fixed `at: (row, col)` is not a square of every maze (a maze table); `cheese`: the edit puts
    the cheese there, so the square must be open and not the mouse's start."""
    row, col = (int(v) for v in at)
    sizes = mazes["maze_size"].to_numpy(np.int64)
    outside = (row >= sizes) | (col >= sizes)
    if outside.any():
        smallest = int(sizes.min())
        return (
            f"square ({row}, {col}) is outside {int(outside.sum())} of the {len(sizes)} mazes (the smallest "
            f"is {smallest}x{smallest}: rows and columns 0..{smallest - 1})"
        )
    if cheese:
        walls = [int(r.seed) for _, r in mazes.iterrows() if row_grid(r)[row, col] == WALL]
        mouse = [int(r.seed) for _, r in mazes.iterrows() if (row, col) == (r.mouse_row, r.mouse_col)]
        for seeds, what in ((walls, "a wall"), (mouse, "the mouse's start")):
            if seeds:
                shown = ", ".join(map(str, seeds[:5])) + (", ..." if len(seeds) > 5 else "")
                return f"the cheese cannot go on square ({row}, {col}): it is {what} in level {shown}"
    return None


EDITS: dict[str, type[Edit]] = {}
"""The edit kinds by their `edit:` name, in the order @register saw them (the order help text lists)."""

E = TypeVar("E", bound=type[Edit])


def register(cls: E) -> E:
    """Class decorator: make an Edit subclass a kind the spec parser and edit_from_spec know."""
    if not cls.kind or cls.kind in EDITS:
        raise TypeError(f"{cls.__name__}: an edit kind needs a `kind` no other kind has; got {cls.kind!r}")
    plain = [f.name for f in fields(cls) if f.name not in settings_of(cls)]
    if plain:  # a field no spec could set, nor its messages list
        raise TypeError(f"{cls.__name__}: every field is a setting of its spec entry; declare "
                        f"{', '.join(plain)} with setting(default, help, check=...)")  # fmt: skip
    EDITS[cls.kind] = cls
    return cls
