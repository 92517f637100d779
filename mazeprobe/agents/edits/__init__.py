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

A kind is one class: an Edit subclass whose fields are its settings, each declared once with
mazeprobe.settings.setting (its default, its help, its check and whether it is required: what the spec
parser reads), `kind` (its `edit:` name), `prepare` and, where it has settings to check against a network
or mazes, `problems`/`fit_problems`; decorated with @register. The kinds live in one module per family:
vectors (add, cheese-vector, top-right-vector), ablations (zero-ablate, mean-ablate, resample) and squares
(clamp, cheese-at-target).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mazeprobe.agents.donors import DONOR_CANDIDATES, DONORS, donor_rows
from mazeprobe.agents.edits.base import (
    EDITS,
    NO_CHEESE,
    RANKED_FACTS,
    RANKINGS,
    SIGNS,
    Channels,
    CheeseResponse,
    Edit,
    EditContext,
    Place,
    cell_of_square,
    load_tensor,
    ranking_key,
    register,
)
from mazeprobe.agents.patches import PreparedEdits

# isort: off
# The families register their kinds as they are imported: this order is the order EDITS, and so every
# message and help text that lists the kinds, names them in.
from mazeprobe.agents.edits.vectors import Add, CheeseVector, TopRightVector
from mazeprobe.agents.edits.ablations import MeanAblate, Resample, ZeroAblate
from mazeprobe.agents.edits.squares import CheeseAtTarget, Clamp

# isort: on
from mazeprobe.errors import UsageError
from mazeprobe.sim.policy import MazeBatch, maze_batch
from mazeprobe.sim.rollout import Roller

__all__ = [
    "DONORS", "DONOR_CANDIDATES", "EDITS", "NO_CHEESE", "RANKED_FACTS", "RANKINGS", "SIGNS", "Add",
    "Channels", "CheeseAtTarget", "CheeseResponse", "CheeseVector", "Clamp", "Edit", "EditContext",
    "MeanAblate", "Place", "Resample", "TopRightVector", "ZeroAblate", "cell_of_square", "donor_rows",
    "edit_from_spec", "load_tensor", "network_size", "prepare_edits", "ranking_key", "register",
]  # fmt: skip


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
