"""The training configuration (`mazeprobe train --config FILE`) and where a run's files go.

A config is YAML whose keys are TrainConfig's fields (missing keys keep their defaults); each field
declares its setting (help, default, bounds: mazeprobe.settings), and problems are reported as
file:line:col. Next to the checkpoint NAME.pth a run writes NAME.pth.train (the state
`--resume` continues from), NAME.train.json (the training record) and, from `mazeprobe evaluate`,
NAME.md (the model card).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mazeprobe.errors import UsageError
from mazeprobe.maze.placement import parse_placement
from mazeprobe.settings import read_settings, setting
from mazeprobe.yamlio import Checker, KeyPath, check_kind, load_yaml


def _placement(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> str | None:
    try:
        return str(parse_placement(str(value)))
    except UsageError as e:
        c.fail(kp, str(e))
        return None


_POSITIVE = {"low": 0, "bounds": "a positive number"}
_NON_NEGATIVE = {"low": 0, "closed": "low", "bounds": "a non-negative number"}
_SHARE = {"low": 0, "high": 1, "closed": "both", "bounds": "in [0, 1]"}


@dataclass(frozen=True)
class TrainConfig:
    scale: int = setting(1, "IMPALA width multiplier (1 = channels 16, 32, 32, the smallest)", low=1)
    seed: int = setting(
        0, "seeds the weights, the maze stream, the expert/learner coin flips and the minibatches", low=0
    )
    placement: str = setting(
        "region:5",
        "cheese placement during training (region:5: the top-right 5x5, as in the published set-up)",
        type=str,
        check=_placement,
    )
    samples: int = setting(2_200_000, "training samples (minibatch rows) in total", low=1)
    batch_size: int = setting(256, "minibatch rows per update (at most buffer)", low=1)
    lr: float = setting(5e-4, "the learning rate at the start (a cosine takes it to lr_end)", **_POSITIVE)
    lr_end: float = setting(5e-5, "the learning rate at the end of the run", **_POSITIVE)
    envs: int = setting(64, "env slots played in parallel during collection", low=1)
    collect_steps: int = setting(
        16,
        "env steps per slot between training phases: envs * collect_steps fresh states each time",
        low=1,
    )
    reuse: float = setting(
        1.5,
        "each fresh state is trained on about this many times (updates per phase follow from it)",
        **_POSITIVE,
    )
    buffer: int = setting(60_000, "replay buffer capacity in states (12 KiB each)", low=1)
    beta_start: float = setting(1.0, "share of expert actions in collection at the start", **_SHARE)
    beta_end: float = setting(0.2, "share of expert actions after beta_samples", **_SHARE)
    beta_samples: int = setting(
        600_000, "beta decays linearly from beta_start to beta_end over this many training samples", low=0
    )
    max_steps: int = setting(
        256, "collection episodes stop here (a learner stuck in a loop gets a fresh maze)", low=1
    )
    value_coef: float = setting(0.1, "weight of the value head's loss", **_NON_NEGATIVE)
    gamma: float = setting(
        0.99,
        "discount of the value target 10 * gamma**(steps to the cheese - 1) (scaled by 1/10 in the loss)",
        low=0,
        high=1,
        closed="high",
        bounds="in (0, 1]",
    )
    eval_every: int = setting(
        250_000, "training samples between held-out evaluations (and checkpoints)", low=1
    )
    eval_mazes: int = setting(
        200, "held-out training-distribution mazes (never trained on), played with sampled actions", low=1
    )
    scattered: int = setting(
        1024,
        "extra labelled states per training phase with the mouse on a random open square of a current maze "
        "(rendered, not played): cheap, and they cover the squares no path visits",
        low=0,
    )
    cell_coef: float = setting(0.5, "weight of the cell head's loss (0 turns the head off)", **_NON_NEGATIVE)
    bf16: bool = setting(True, "train under bfloat16 autocast (fp32 weights); false for full fp32")
    workers: int = setting(
        0,
        "collector processes (collect.CollectorPool); 0 collects in the training process, "
        "deterministically. Use them when the training step is fast (a GPU) and procgen would otherwise "
        "be the bottleneck",
        low=0,
    )


_KIND = {"kind": "training-config (optional: tells this file from an experiment spec or an analysis plan)"}


def load_config(path: str | os.PathLike | None) -> TrainConfig:
    """A TrainConfig from YAML (missing keys keep their defaults); problems as file:line:col."""
    if path is None:
        return TrainConfig()
    doc = load_yaml(path)
    check_kind(doc, "training-config")
    c = Checker(doc)
    # an empty file is refused as other YAML files are (leave out --config for the defaults)
    values = read_settings(c, TrainConfig, doc.data, (), extra=_KIND)
    c.raise_if_any()
    config = TrainConfig(**values)
    if config.buffer < config.batch_size:
        raise doc.error(("buffer",), "must be at least batch_size")
    return config


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
