"""Small pictures of a model-editing result, drawn from a finished run, for the report beside each
outcome: the vector field of one maze before and after an edit, and where an aimed edit sends the agent.

    edit_picture("data/runs/model-editing", "zero-top11", seed=1234, path="pictures/q.png")
    retargeting_picture("data/runs/retargeting", "clamp-top1", path="pictures/r.png")

The edit is the run's own (its spec in the manifest, its channel rankings as the run computed them), so
the picture shows what was measured.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mazeprobe.atomic import atomic_path
from mazeprobe.errors import UsageError
from mazeprobe.experiments.rundir import RunDir, checkpoint_change
from mazeprobe.maze.procgen import WORLD_SIDE, to_world


def _intervention(run: RunDir, intervention: str):
    found = {i.id: i for i in run.manifest().experiment.interventions}
    if intervention not in found:
        raise UsageError(f"{run.path}: the run has no intervention {intervention!r}")
    return found[intervention]


def edit_picture(run_dir: str | os.PathLike, intervention: str, seed: int, path: str | os.PathLike) -> Path:
    """original | edited | difference: the network's vector field on the maze of level seed `seed` of
    the run, without and with the run's intervention (not aimed at targets)."""
    from mazeprobe.agents.impala import load_checkpoint
    from mazeprobe.agents.network import NetworkPolicy
    from mazeprobe.experiments.vfield import field_difference, vector_field, vector_field_pictures
    from mazeprobe.sim import Roller

    run = RunDir(run_dir)
    manifest = run.manifest()
    spec = _intervention(run, intervention)
    if spec.per_target:
        raise UsageError(f"{intervention} is aimed at targets: draw it with retargeting_picture")
    mazes = run.mazes()
    maze = mazes[mazes["seed"] == seed]
    if maze.empty:
        raise UsageError(f"{run.path}: no maze of level seed {seed}")
    changed = checkpoint_change(manifest.policy)
    if changed is not None:  # a picture of another network than the one measured would mislead
        path_now, now = changed
        raise UsageError(
            f"{run.path}: policy.checkpoint {path_now} changed since the run (sha256 "
            f"{manifest.policy.sha256[:12]}, now {now[:12]}); the picture would not show the "
            "measured network"
        )
    policy = NetworkPolicy(load_checkpoint(manifest.policy.checkpoint).eval())
    roller = Roller(64)
    original = vector_field(policy, maze, roller)
    # the run's own rankings: the channels it ranked, with the signs and cheese responses it measured
    edited = vector_field(policy, maze, roller, list(spec.edits), manifest.rankings or {})
    panels = [
        ("original", original),
        (intervention, edited),
        ("difference", field_difference(edited, original)),
    ]
    return vector_field_pictures(panels, maze, path, cell=10)


def reached_by_square(run: RunDir, intervention: str) -> pd.DataFrame:
    """Per square of the 25 x 25 world (row 0 at the bottom): the targets there and the share reached
    with `intervention` ("none": the unedited network), over every maze of the run."""
    rt = run.retargeting()
    rows = rt[rt["intervention"] == intervention].merge(run.mazes()[["seed", "maze_size"]], on="seed")
    if rows.empty:
        raise UsageError(f"{run.path}: no retargeting rows of {intervention!r}")
    wr, wc = to_world(
        rows["target_row"].to_numpy(), rows["target_col"].to_numpy(), rows["maze_size"].to_numpy()
    )
    frame = pd.DataFrame({"row": wr, "col": wc, "reached": rows["reached_target"].to_numpy() >= 0.5})
    return frame.groupby(["row", "col"], as_index=False).agg(
        targets=("reached", "size"), share=("reached", "mean")
    )


def retargeting_picture(
    run_dir: str | os.PathLike, intervention: str, path: str | os.PathLike, cell: int = 8
) -> Path:
    """Two heat maps of the world, unedited | edited: each square holding targets coloured by the share
    of them the agent reached (white none, dark green all; grey: no target there)."""
    from PIL import Image, ImageDraw

    run = RunDir(run_dir)
    maps = [("none", reached_by_square(run, "none")), (intervention, reached_by_square(run, intervention))]
    side, top, gap = WORLD_SIDE * cell, 14, 8
    out = Image.new("RGB", (2 * side + gap, side + top), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    for k, (title, frame) in enumerate(maps):
        x0 = k * (side + gap)
        draw.rectangle((x0, top, x0 + side - 1, top + side - 1), fill=(200, 200, 200))
        for r in frame.itertuples():
            green = np.array([0, 100, 0]) * r.share + np.array([255, 255, 255]) * (1 - r.share)
            y = top + (WORLD_SIDE - 1 - int(r.row)) * cell  # row 0 at the bottom
            x = x0 + int(r.col) * cell
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=tuple(int(v) for v in green))
        draw.text((x0 + 2, 1), title, fill=(0, 0, 0))
    path = Path(path)
    with atomic_path(path) as tmp:
        out.save(tmp, format="PNG")
    return path
