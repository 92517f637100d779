"""The training configuration (`mazeprobe train --config FILE`) and where a run's files go.

A config is YAML whose keys are TrainConfig's fields (missing keys keep their defaults); problems are
reported as file:line:col. Next to the checkpoint NAME.pth a run writes NAME.pth.train (the state
`--resume` continues from), NAME.train.json (the training record) and, from `mazeprobe evaluate`,
NAME.md (the model card).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from mazeprobe.errors import UsageError
from mazeprobe.maze.placement import parse_placement
from mazeprobe.yamlio import Checker, check_kind, load_yaml


@dataclass(frozen=True)
class TrainConfig:
    scale: int = 1
    """IMPALA width multiplier (1 = channels 16, 32, 32, the smallest)."""
    seed: int = 0
    """Seeds the weights, the maze stream, the expert/learner coin flips and the minibatches."""
    placement: str = "region:5"
    """Cheese placement during training (region:5: the top-right 5x5, as in the published set-up)."""
    samples: int = 2_200_000
    """Training samples (minibatch rows) in total."""
    batch_size: int = 256
    lr: float = 5e-4
    lr_end: float = 5e-5
    """The learning rate follows a cosine from lr down to lr_end over the run."""
    envs: int = 64
    """Env slots played in parallel during collection."""
    collect_steps: int = 16
    """Env steps per slot between training phases: envs * collect_steps fresh states each time."""
    reuse: float = 1.5
    """Each fresh state is trained on about this many times (updates per phase follow from it)."""
    buffer: int = 60_000
    """Replay buffer capacity in states (12 KiB each)."""
    beta_start: float = 1.0
    beta_end: float = 0.2
    beta_samples: int = 600_000
    """beta decays linearly from beta_start to beta_end over this many training samples."""
    max_steps: int = 256
    """Collection episodes stop here (a learner stuck in a loop gets a fresh maze)."""
    value_coef: float = 0.1
    gamma: float = 0.99
    """Discount of the value target 10 * gamma**(steps to the cheese - 1) (scaled by 1/10 in the loss)."""
    eval_every: int = 250_000
    """Training samples between held-out evaluations (and checkpoints)."""
    eval_mazes: int = 200
    """Held-out training-distribution mazes (never trained on), played with sampled actions."""
    scattered: int = 1024
    """Extra labelled states per training phase with the mouse on a random open square of a current maze
    (rendered, not played): cheap, and they cover the squares no path visits."""
    cell_coef: float = 0.5
    """Weight of the cell head's loss (0 turns the head off)."""
    bf16: bool = True
    """Train under bfloat16 autocast (fp32 weights); false for full fp32."""
    workers: int = 0
    """Collector processes (collect.CollectorPool); 0 collects in the training process, deterministically.
    Use them when the training step is fast (a GPU) and procgen would otherwise be the bottleneck."""


_KEYS = {
    "kind": "training-config (optional: tells this file from an experiment spec or an analysis plan)",
    **{f.name: f"TrainConfig.{f.name}" for f in fields(TrainConfig)},
}


def load_config(path: str | os.PathLike | None) -> TrainConfig:
    """A TrainConfig from YAML (missing keys keep their defaults); problems as file:line:col."""
    if path is None:
        return TrainConfig()
    doc = load_yaml(path)
    check_kind(doc, "training-config")
    c = Checker(doc)
    raw = c.mapping(doc.data, (), _KEYS, none_ok=True)
    values: dict = {}
    ints = {
        "scale": 1,
        "seed": 0,
        "samples": 1,
        "batch_size": 1,
        "envs": 1,
        "collect_steps": 1,
        "buffer": 1,
        "scattered": 0,
        "beta_samples": 0,
        "max_steps": 1,
        "eval_every": 1,
        "eval_mazes": 1,
        "workers": 0,
    }
    for key, low in ints.items():
        if key in raw:
            values[key] = c.integer(raw[key], (key,), low=low)
    for key, what, lo, hi in (
        ("lr", "a positive number", 0.0, None),
        ("lr_end", "a positive number", 0.0, None),
        ("reuse", "a positive number", 0.0, None),
        ("value_coef", "a non-negative number", -1e-12, None),
        ("cell_coef", "a non-negative number", -1e-12, None),
        ("gamma", "in (0, 1]", 0.0, 1.0 + 1e-12),
        ("beta_start", "in [0, 1]", -1e-12, 1.0 + 1e-12),
        ("beta_end", "in [0, 1]", -1e-12, 1.0 + 1e-12),
    ):
        if key in raw:
            values[key] = c.number(raw[key], (key,), lo, hi, what)
    if "placement" in raw:
        try:
            values["placement"] = str(parse_placement(str(raw["placement"])))
        except UsageError as e:
            c.fail(("placement",), str(e))
    if "bf16" in raw:
        values["bf16"] = c.boolean(raw["bf16"], ("bf16",))
    c.raise_if_any()
    if values.get("buffer", 1) < values.get("batch_size", TrainConfig.batch_size):
        raise doc.error(("buffer",), "must be at least batch_size")
    return TrainConfig(**{k: v for k, v in values.items() if v is not None})


def state_path(out: Path) -> Path:
    """The training state next to a checkpoint: NAME.pth -> NAME.pth.train."""
    return out.with_name(out.name + ".train")


def training_record_path(checkpoint: Path) -> Path:
    """The training record next to a checkpoint: NAME.pth -> NAME.train.json."""
    return checkpoint.with_suffix(".train.json")


def card_path(checkpoint: Path) -> Path:
    """The model card next to a checkpoint: NAME.pth -> NAME.md."""
    return checkpoint.with_suffix(".md")


def evaluation_path(checkpoint: Path) -> Path:
    """The latest `mazeprobe evaluate` result next to a checkpoint: NAME.pth -> NAME.evaluation.json."""
    return checkpoint.with_suffix(".evaluation.json")
