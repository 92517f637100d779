"""The edits that add a vector or a given tensor to a layer: add, cheese-vector, top-right-vector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from mazeprobe.agents.edits.base import (
    Edit,
    EditContext,
    Place,
    _cheese_on,
    _squares,
    load_tensor,
    number,
    register,
    square,
    square_problem,
)
from mazeprobe.agents.patches import Patch
from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.settings import setting
from mazeprobe.sim.rollout import start_states
from mazeprobe.yamlio import Checker, KeyPath

if TYPE_CHECKING:
    import torch

_TENSOR_HELP = "a .npy file holding a (C, H, W) array"


def _npy_file(c: Checker, value: Any, kp: KeyPath, place: Place) -> Any:
    """An add's tensor: a readable, real and finite array here (its shape once the network is known),
    kept as its absolute path."""
    if not isinstance(value, str):
        c.fail(kp[:-1], f"add needs `tensor`: {_TENSOR_HELP}")
        return value
    path = (place.base / value).resolve()
    try:
        load_tensor(path)
    except MazeprobeError as exc:
        c.fail(kp, f"intervention {place.iid}: {exc}")
    return str(path)


@register
@dataclass(frozen=True)
class Add(Edit):
    tensor: Any = setting(
        None, _TENSOR_HELP, check=_npy_file, required=True, missing=f"add needs `tensor`: {_TENSOR_HELP}"
    )
    """(C, H, W): the tensor added (a numpy array, or a path to a .npy file in a spec)."""
    coefficient: float = setting(1.0, "a number (default {default})", check=number)
    kind: ClassVar[str] = "add"

    def fit_problems(self, shape: tuple[int, ...], mazes: pd.DataFrame) -> list[tuple[str, str]]:
        out = super().fit_problems(shape, mazes)
        if isinstance(self.tensor, str):
            try:
                tensor = load_tensor(self.tensor)
            except MazeprobeError as exc:  # changed since the spec was read
                out.append(("tensor", str(exc)))
            else:
                if tuple(tensor.shape) != tuple(shape):
                    out.append(("tensor", f"{self.tensor} has shape {tuple(tensor.shape)}; {self.layer} has "
                                          f"{shape} in this network"))  # fmt: skip
        return out

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


@register
@dataclass(frozen=True)
class CheeseVector(Edit):
    coefficient: float = setting(-1.0, "a number (default {default})", check=number)
    source_seed: int | None = setting(None, "a level seed (transfer)", type=int, low=0)
    """The level seed of another maze whose vector is used (transfer); None: each maze's own."""
    at: Any = setting(
        None, "target, or [row, col]: the vector of the cheese moved onto that square", check=square()
    )
    """None: the cheese where it is. "target" or (row, col): the vector of the cheese moved onto that
    square (with coefficient +1, an edit that puts a cheese where there is none: retargeting)."""
    kind: ClassVar[str] = "cheese-vector"

    def fit_problems(self, shape: tuple[int, ...], mazes: pd.DataFrame) -> list[tuple[str, str]]:
        out = super().fit_problems(shape, mazes)
        # with a source_seed the square is in the source maze, which prepare checks
        if isinstance(self.at, tuple) and self.source_seed is None:
            problem = square_problem(self.at, mazes, cheese=True)
            out += [("at", problem)] if problem else []
        return out

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


@register
@dataclass(frozen=True)
class TopRightVector(Edit):
    coefficient: float = setting(1.0, "a number (default {default})", check=number)
    source_seed: int | None = setting(None, "a level seed (transfer)", type=int, low=0)
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
