"""Cheese-channel discovery: which channels of a layer locate the cheese in their spatial maps.

A network other than the published one keeps its cheese channels elsewhere, so they are found, not
assumed. Over `n` seeded mazes (natural cheese placement, the mouse on its start square) each channel of
the layer is scored by how often the position of its map's maximum (or minimum: a channel may mark the
cheese by a low value) is the map cell that holds the cheese's square. The sign and the order are chosen
on one half of the mazes (the ranking half) and the score reported is measured on the other half (the
scoring half), so a lucky channel does not score itself. The same is done for a network of the same
shape with random weights (`control_score` is the score of ITS channel at the same rank): the pixels
alone already locate the cheese at low layers, which is what the control shows.

Each channel's `cheese_response` is its mean activation at the cheese's cell over all `n` mazes: the scale
of a real cheese's mark in that channel (signed), which `clamp value: {times_cheese_response: K}` writes
in K times, so that an edit means the same on any network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from mazeprobe.agents.edits import RANKED_FACTS, RANKINGS, EditContext, cell_of_square, ranking_key
from mazeprobe.agents.impala import ImpalaCNN, random_impala
from mazeprobe.errors import UsageError
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.sim.policy import maze_batch
from mazeprobe.sim.rollout import Roller, start_states
from mazeprobe.tables import Field, TableSchema
from mazeprobe.validation import check_int

RANKING = TableSchema(
    "channels/<layer>.parquet",
    (
        Field("layer", pa.large_string(), "the ranked layer's activation name"),
        Field("channel", pa.int64(), "the channel's index in the layer"),
        Field("score", pa.float64(), "held-out accuracy of 'its extreme cell is the cheese's cell'"),
        Field("rank", pa.int64(), "1 = the best channel"),
        Field("control_score", pa.float64(), "the same channel's score in a random-weight network"),
        Field("sign", pa.int64(), "+1 when the channel's maximum marks the cheese, -1 its minimum"),
        Field("ranking_score", pa.float64(), "the score the ranking sorts by"),
        Field("cheese_response", pa.float64(), "mean activation at the cheese's cell"),
    ),
)
"""One row per channel of a layer, best first: what `mazeprobe channels` and a run's rankings write."""
RANKING_COLUMNS = RANKING.names
CONTROL_SEED = 7919


def _hits(maps: torch.Tensor, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) whether each channel's argmax / argmin cell is the cheese's cell; a constant map hits
    nothing (its argmax is an accident of the scan order)."""
    n, c, h, w = maps.shape
    flat = maps.reshape(n, c, h * w)
    target = torch.as_tensor(cells[:, 0] * w + cells[:, 1], device=maps.device)[:, None]
    constant = flat.amax(2) == flat.amin(2)
    top = (flat.argmax(2) == target) & ~constant
    bottom = (flat.argmin(2) == target) & ~constant
    return top.cpu().numpy(), bottom.cpu().numpy()


def _rank(maps: torch.Tensor, cells: np.ndarray, ranking_half: np.ndarray) -> pd.DataFrame:
    top, bottom = _hits(maps, cells)
    scoring_half = ~ranking_half
    rank_top, rank_bottom = top[ranking_half].mean(0), bottom[ranking_half].mean(0)
    sign = np.where(rank_bottom > rank_top, -1, 1)
    ranking_score = np.maximum(rank_top, rank_bottom)
    score = np.where(sign > 0, top[scoring_half].mean(0), bottom[scoring_half].mean(0))
    index = torch.as_tensor(np.stack([np.arange(len(cells)), cells[:, 0], cells[:, 1]]), device=maps.device)
    at_cheese = maps[index[0], :, index[1], index[2]]  # (N, C)
    response = at_cheese.double().mean(0).cpu().numpy()  # (C,): every maze, both halves
    order = np.lexsort((np.arange(len(sign)), -ranking_score))  # ties: the lower channel first
    frame = pd.DataFrame(
        {
            "channel": order,
            "score": score[order],
            "sign": sign[order],
            "ranking_score": ranking_score[order],
            "cheese_response": response[order],
        }
    )
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame


def rank_channels(
    model: ImpalaCNN,
    layer: str,
    n: int = 1000,
    seed: int = 0,
    control_seed: int = CONTROL_SEED,
    renderer: Roller | None = None,
) -> pd.DataFrame:
    """One row per channel of `layer`, best first: layer, channel, score (held-out accuracy of "its
    extreme cell is the cheese's cell"), rank (1 = best), control_score (the random-weight network's
    channel of the same rank, scored the same way), sign (+1 argmax, -1 argmin), ranking_score (the
    accuracy on the ranking half, which chose the order), cheese_response (the channel's mean activation
    at the cheese's cell over all n mazes)."""
    n = check_int(n, "n", 4)
    table = sample_mazes(SampleSpec(n=n, seed=check_int(seed, "seed", 0)))
    renderer = renderer or Roller(64)
    states = start_states(table, renderer.loader)
    shape = model.activation_shapes().get(layer)
    if shape is None or len(shape) != 3:
        raise UsageError(f"{layer} is not a spatial map of this network (shape {shape}); choose a conv layer")
    sizes = table["maze_size"].to_numpy(np.int64)
    hh, ww = cell_of_square(table["cheese_row"].to_numpy(), table["cheese_col"].to_numpy(), sizes, shape[1])
    cells = np.stack([hh, ww], 1)
    ranking_half = np.zeros(n, dtype=bool)
    ranking_half[np.random.default_rng([seed, 1]).permutation(n)[: n // 2]] = True
    scored = []
    # the control's weights are drawn on the CPU (the same on every device), then run where the model does
    for net in (model, random_impala(model.scale, control_seed).to(model.device).eval()):
        ctx = EditContext(net, maze_batch(table), renderer)
        scored.append(_rank(ctx.activations(states, layer), cells, ranking_half))
    out, control = scored
    out["control_score"] = control["score"].to_numpy()
    out.insert(0, "layer", layer)
    return out[list(RANKING_COLUMNS)]


def ranked_channels(table: pd.DataFrame) -> tuple[int, ...]:
    """The channels of a ranking table in rank order."""
    return tuple(int(c) for c in table.sort_values("rank")["channel"])


def ranking_record(table: pd.DataFrame) -> dict[str, list]:
    """What edits read of a ranking table (EditContext.rankings[layer]), plain enough for a manifest: the
    channels in rank order, and each one's sign and cheese response in the same order."""
    ordered = table.sort_values("rank")
    name = RANKINGS[0]
    record: dict[str, list] = {name: [int(c) for c in ordered["channel"]]}
    cast = {"sign": int, "cheese_response": float}
    for fact in RANKED_FACTS:
        record[ranking_key(name, fact)] = [cast[fact](v) for v in ordered[fact]]
    return record


def channel_maps_png(
    model: ImpalaCNN,
    layer: str,
    maze: pd.DataFrame,
    channels: Sequence[int],
    path: str | os.PathLike,
    renderer: Roller | None = None,
    cell: int = 8,
) -> Path:
    """The observation of one maze (mouse on its start square) beside the maps of `channels` at `layer`,
    each scaled to its own range, with the cheese's cell outlined."""
    from PIL import Image, ImageDraw

    renderer = renderer or Roller(8)
    state = start_states(maze, renderer.loader)[0]
    ctx = EditContext(model, maze_batch(maze), renderer)
    maps = ctx.activations([state], layer)[0].cpu().numpy()
    side = maps.shape[1]
    h, w = cell_of_square(
        maze["cheese_row"].to_numpy(), maze["cheese_col"].to_numpy(), maze["maze_size"].to_numpy(), side
    )
    obs = Image.fromarray(renderer.render([state])[0]).resize((side * cell, side * cell), Image.NEAREST)
    tiles = [obs]
    for ch in channels:
        m = maps[ch]
        span = float(m.max() - m.min()) or 1.0
        grey = ((m - m.min()) / span * 255).astype(np.uint8)
        tile = Image.fromarray(grey).resize((side * cell, side * cell), Image.NEAREST).convert("RGB")
        ImageDraw.Draw(tile).rectangle(
            [w[0] * cell, h[0] * cell, (w[0] + 1) * cell - 1, (h[0] + 1) * cell - 1], outline=(255, 64, 0)
        )
        tiles.append(tile)
    gap = 4
    out = Image.new("RGB", (len(tiles) * (side * cell + gap) - gap, side * cell), (255, 255, 255))
    for i, tile in enumerate(tiles):
        out.paste(tile, (i * (side * cell + gap), 0))
    path = Path(path)
    from mazeprobe.atomic import atomic_path

    with atomic_path(path, suffix=".png") as tmp:
        out.save(tmp)
    return path
