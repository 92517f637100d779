"""Train a reference maze network: imitation of the shortest-path expert with DAgger relabelling.

The whole algorithm is here, top to bottom, except the collection itself (steps 1-3), which lives in
mazeprobe/training/collect.py so that it can also run in collector processes:

1. A vector of procgen envs plays mazes whose cheese lies in the top-right R x R region (R = 5, the
   goal-misgeneralization training distribution). Every episode is a fresh maze.
2. At each step, with probability beta the expert (a shortest path to the cheese) acts, else the learner
   samples from its own policy. beta decays from `beta_start` to `beta_end`, so later data are the
   learner's own states: the states its mistakes lead to, which plain behaviour cloning never sees.
3. Every visited state is labelled with the expert's move and stored (observation, move, steps to the
   cheese) in a replay buffer of recent states, together with "scattered" states: the mouse put on
   random open squares of the same mazes (rendered through set_state, not played), which cover squares
   no path visits.
4. The network is trained on minibatches from that buffer: the log-probability of the expert's move
   group (e.g. any of the three LEFT actions) and a small value loss towards the expert's discounted
   return, so the value head means something too.
5. A training-only "cell head" adds dense supervision: from the block 1-3 maps, read at the centre of
   every square of the 25x25 world, it predicts the expert's move from that square and whether the mouse
   is there (a softmax over the squares). One observation then labels every open square instead of one.
   The head is not part of the network and is not saved in the checkpoint.

Why not plain behaviour cloning: measured on a 2-core CPU, cloning 8,000 mazes' expert paths reached 95%
step accuracy but its rollouts got the cheese in only 46% of training mazes (errors compound off the
expert's paths). Fresh mazes and relabelled learner states are the standard remedies. Measured here,
they were not enough: DAgger alone reached 97% step accuracy on its buffer by 1.25M samples while its
held-out success stayed at 25% (the small mazes), with 48-69% accuracy on fresh states. The move field
alone taught the trunk the field but left the policy at chance for 450k samples; adding the mouse's
square made the policy learn at once. That recipe reached 47.5% held-out success after 2.2M samples (58
minutes on 2 CPU cores, batch 256) and was still rising; with 14 collector processes feeding one GPU
(`workers`, training.collect.CollectorPool) it reached 98% after 11.5M samples in 5.5 minutes (batch 512). See
models/reference-r5.md for the shipped run.

Training is seeded and resumable: a training state next to the checkpoint (`NAME.pth.train`: weights,
optimiser, counters, generator state) lets a run continue in chunks (`--max-minutes`). The replay buffer
is not saved; after a resume it refills from fresh mazes, so a resumed run is not bit-identical to an
uninterrupted one (nor is any run with collector processes: packets arrive in the order they finish).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mazeprobe.agents.impala import (
    ImpalaCNN,
    load_checkpoint,
    random_impala,
    resolve_device,
    save_checkpoint,
)
from mazeprobe.atomic import atomic_path, write_bytes
from mazeprobe.errors import UsageError
from mazeprobe.maze.procgen import CHEESE_REWARD, WORLD_SIDE
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.provenance import file_sha256, utc_stamp
from mazeprobe.sim import GROUP_MATRIX, Roller
from mazeprobe.training.collect import PACKET_FIELDS, CollectorPool, InProcessSource
from mazeprobe.training.config import (
    TrainConfig,
    card_path,
    load_config,
    state_path,
    training_record_path,
)
from mazeprobe.training.evaluate import play_episodes
from mazeprobe.validation import check_number

__all__ = [
    "CellHead",
    "Replay",
    "TrainConfig",
    "TrainResult",
    "card_path",
    "heldout_mazes",
    "imitation_loss",
    "load_config",
    "state_path",
    "train",
    "training_record_path",
    "write_training_record",
]

MAP_NAMES = (
    "embedder.block1.res2.resadd_out",
    "embedder.block2.res2.resadd_out",
    "embedder.block3.res2.resadd_out",
)


# (15, 4) mask: which actions belong to each move group, UP, DOWN, LEFT, RIGHT (base.MOVE_NAMES order).
GROUP_MASK = torch.from_numpy(GROUP_MATRIX > 0)


def _cell_index(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (25,) of the map row and map column under the centre of each world row and column, for a
    size x size map; world row 0 is at the bottom (image row 0 is the top). Checked against rendered
    frames: the pixel under a square's centre tells walls from floor on 98% of squares; a shift by one
    square drops that to 53-77%."""
    centre = ((torch.arange(WORLD_SIDE) + 0.5) / WORLD_SIDE * size).long()
    return size - 1 - centre, centre


class CellHead(torch.nn.Module):
    """Training only: from the block 1-3 maps at the pixel under each world square's centre, the expert's
    move (UP, DOWN, LEFT, RIGHT) from that square, and a logit for "the mouse is here" (a softmax over the
    squares). The policy needs both, at the same place: where the mouse is, and which way to go there."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear((16 + 32 + 32) * scale, 5)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        feats = []
        for m in maps:
            rows, cols = (i.to(m.device) for i in _cell_index(m.shape[-1]))
            # (B, H, W, C): free for the channels-last maps, and keeps their gradients channels-last
            # (a (B, C, H, W) gradient made the network's backward pass twice as slow)
            nhwc = m.permute(0, 2, 3, 1)
            feats.append(nhwc.index_select(1, rows).index_select(2, cols))  # (B, 25, 25, C)
        return self.linear(torch.cat(feats, dim=-1).float())  # (B, 25, 25, 5)


def heldout_mazes(config: TrainConfig) -> pd.DataFrame:
    """The held-out evaluation mazes: the training placement, a sampling seed no stream chunk uses."""
    return sample_mazes(
        SampleSpec(
            n=config.eval_mazes,
            seed=(config.seed * 1_000_003 + 1) % (2**31) + 2**31,
            placement=config.placement,
        )
    )


class Replay:
    """A ring buffer of the most recent labelled states (named tensors on the training device)."""

    def __init__(self, capacity: int, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.data = {
            k: torch.zeros(
                (capacity, *shape), dtype=torch.from_numpy(np.zeros(0, dt)).dtype, device=self.device
            )
            for k, (shape, dt) in PACKET_FIELDS.items()
        }
        self.capacity, self.size, self.head = capacity, 0, 0

    def add(self, batch: dict[str, np.ndarray]) -> None:
        n = min(len(batch["obs"]), self.capacity)
        idx = torch.from_numpy((self.head + np.arange(n)) % self.capacity).to(self.device)
        for k, arr in self.data.items():
            arr[idx] = torch.from_numpy(np.ascontiguousarray(batch[k][-n:])).to(self.device)
        self.head = int((self.head + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, torch.Tensor]:
        idx = torch.from_numpy(rng.integers(0, self.size, n)).to(self.device)
        return {k: arr[idx] for k, arr in self.data.items()}


# --- the loss ---------------------------------------------------------------------------------------


def imitation_loss(
    model: ImpalaCNN, head: CellHead | None, batch: dict[str, torch.Tensor], config: TrainConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """-log P(expert's move group) + value_coef * (value/10 - target/10)^2 + cell_coef * the cell head's
    cross-entropy over open squares; and batch statistics (0-d tensors: reading them waits for the device,
    so the caller reads them once per phase)."""
    # (B, 64, 64, 3) uint8 viewed as (B, 3, 64, 64): already channels-last in memory
    x = batch["obs"].permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    maps: dict[str, torch.Tensor] = {}

    def keep(act: torch.Tensor, name: str) -> None:
        maps[name] = act

    # bf16 autocast with channels-last convolutions: 2-4x faster on the CPUs measured (weights stay fp32).
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.bf16):
        with model.hooks([(name, keep) for name in MAP_NAMES] if head is not None else []):
            logits, value = model(x)
        cells = head([maps[name] for name in MAP_NAMES]) if head is not None else None
    logits, value = logits.float(), value.float()
    logp = torch.log_softmax(logits, dim=1)
    group_logp = torch.logsumexp(logp[:, :, None].masked_fill(~GROUP_MASK.to(logp.device), -math.inf), dim=1)
    target = batch["move"]
    policy_loss = F.nll_loss(group_logp, target)
    value_target = CHEESE_REWARD * config.gamma ** (batch["dist"].clamp(min=1) - 1).to(torch.float32)
    value_loss = F.mse_loss(value / CHEESE_REWARD, value_target / CHEESE_REWARD)
    loss = policy_loss + config.value_coef * value_loss
    stats = {
        "policy_loss": policy_loss.detach(),
        "value_loss": value_loss.detach(),
        "accuracy": (group_logp.argmax(1) == target).float().mean(),
    }
    if cells is not None:
        field = batch["field"].long()
        moves = cells[..., :4]
        cell_loss = F.cross_entropy(moves.reshape(-1, 4), field.reshape(-1), ignore_index=-1)
        where = cells[..., 4].reshape(len(field), -1)  # (B, 625): a softmax over the squares
        mouse = batch["mouse"]
        mouse_loss = F.cross_entropy(where, mouse)
        loss = loss + config.cell_coef * (cell_loss + mouse_loss)
        known = field >= 0
        stats["cell_loss"] = cell_loss.detach()
        stats["cell_accuracy"] = (moves.argmax(-1) == field)[known].float().mean()
        stats["mouse_accuracy"] = (where.argmax(1) == mouse).float().mean()
    return loss, stats


# --- training state ---------------------------------------------------------------------------------


def _save_state(path: Path, model, head, optimizer, counters, rng: np.random.Generator, config) -> None:
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "head": {k: v.detach().cpu() for k, v in head.state_dict().items()} if head is not None else {},
        "optimizer": optimizer.state_dict(),
        "counters": counters,
        "rng": rng.bit_generator.state,
        "config": asdict(config),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types
        raise UsageError(f"{path}: cannot read the training state ({type(e).__name__}: {e})") from e


def write_training_record(out: Path, config: TrainConfig, counters: dict, config_file: str | None) -> Path:
    """`NAME.train.json` next to the checkpoint: config, samples seen, wall time, machine and the held-out
    history (small enough to commit with the checkpoint; the model card reads it)."""
    import platform

    record = {
        "checkpoint": out.name,
        "config_file": config_file,
        "config": asdict(config),
        "samples": counters["samples"],
        "states_collected": counters.get("states", 0),
        "wall_seconds": round(counters["wall_seconds"], 1),
        "finished": counters["samples"] >= config.samples,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
        "device": counters.get("device", "cpu"),
        "torch": torch.__version__,
        "history": counters["history"],
        "extended": counters.get("extended", []),
    }
    if "init" in counters:
        record["init"] = counters["init"]
    if "started_at" in counters:
        record["started_at"] = counters["started_at"]
    path = training_record_path(out)
    write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return path


def fine_tune_start(init: str | os.PathLike, config: TrainConfig) -> dict:
    """What a fine-tune starts from: the checkpoint (its scale must be the config's), its sha256, the
    samples it was trained on (its training record NAME.train.json; None without one) and the share of
    those that this run's samples budget is."""
    path = Path(init)
    model = load_checkpoint(path)
    if model.scale != config.scale:
        raise UsageError(
            f"--init {path} is a scale-{model.scale} network; the config trains scale {config.scale}"
        )
    record_path = training_record_path(path)
    original = None
    if record_path.is_file():
        try:
            original = int(json.loads(record_path.read_text())["samples"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{record_path}: not a training record ({exc})") from None
    return {
        "checkpoint": str(path),
        "sha256": file_sha256(path),
        "original_samples": original,
        "budget_fraction": None if not original else config.samples / original,
    }


@dataclass
class TrainResult:
    checkpoint: Path
    samples: int
    wall_seconds: float
    finished: bool
    history: list[dict]
    interrupted: bool = False


def train(
    config: TrainConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    max_minutes: float | None = None,
    config_file: str | None = None,
    progress: Callable[[dict], None] | None = None,
    device: str | torch.device = "cpu",
    init: str | os.PathLike | None = None,
) -> TrainResult:
    """Train (or continue training) and write the checkpoint `out` plus its training state `out.train`.

    `init`: start from that checkpoint's weights (fine-tuning) instead of random ones; the training
    record then names it, its sha256, the samples it was trained on (from its own training record) and
    what fraction of them this run's `samples` budget is.

    Stops when `config.samples` training samples are done, or after `max_minutes` (at the next
    evaluation point, so the saved state is consistent). `progress(record)` gets a dict after every
    training phase (samples, loss, accuracy, beta, collection success) and after every evaluation
    (adds heldout_success). `device`: where the network trains (and plays its held-out mazes); the
    collectors always run on the CPU."""
    if max_minutes is not None:  # NaN would never stop: refused, like infinite and negative times
        check_number(max_minutes, "max_minutes", low=0)
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    spath = state_path(out)
    device = resolve_device(device)  # the one vocabulary (mazeprobe.devices): auto, cpu, cuda, cuda:N
    torch.manual_seed(config.seed)
    model = random_impala(config.scale, config.seed).to(device, memory_format=torch.channels_last)
    head = CellHead(config.scale).to(device) if config.cell_coef > 0 else None
    params = list(model.parameters()) + (list(head.parameters()) if head is not None else [])
    optimizer = torch.optim.Adam(params, lr=config.lr, fused=device.type == "cuda")
    rng = np.random.default_rng(config.seed)
    # started_at: when training began (resumes keep it); resolution rules date a fine-tune's evidence by it
    counters = {"samples": 0, "chunk": 0, "wall_seconds": 0.0, "history": [], "started_at": utc_stamp()}
    if init is not None:
        start = fine_tune_start(init, config)
        model.load_state_dict(load_checkpoint(init).state_dict())
        counters["init"] = start
    if resume:
        if not spath.exists():
            raise UsageError(f"{spath}: no training state to resume from (train without --resume first)")
        saved = _load_state(spath)
        saved_config = {**asdict(TrainConfig()), "workers": 0, **saved["config"]}  # older states: no workers
        changed = sorted(k for k in asdict(config) if saved_config.get(k) != asdict(config)[k])
        # Only `samples` may change, upwards: extending a run (the learning-rate schedule stretches to
        # the new total from where it is); anything else would make the run's record a lie.
        if changed and (changed != ["samples"] or config.samples < saved["counters"]["samples"]):
            raise UsageError(
                f"{spath}: the config differs from the one this run started with ({', '.join(changed)}); "
                "only samples may grow when resuming"
            )
        started_from = saved["counters"].get("init", {})
        if started_from.get("sha256") != counters.get("init", {}).get("sha256"):
            what = started_from.get("checkpoint", "random weights")
            raise UsageError(f"{spath}: this run started from {what}; resume it with the same --init")
        model.load_state_dict(saved["model"])
        if head is not None:
            head.load_state_dict(saved["head"])
        optimizer.load_state_dict(saved["optimizer"])
        counters = dict(saved["counters"])
        rng.bit_generator.state = saved["rng"]
        if changed:
            extended = {
                "at_samples": counters["samples"],
                "from": saved["config"]["samples"],
                "to": config.samples,
            }
            counters["extended"] = [*counters.get("extended", []), extended]
    elif spath.exists():
        raise UsageError(f"{spath} exists: pass --resume to continue that run, or remove it to start over")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels

    eval_roller = Roller(min(64, config.eval_mazes))
    heldout = heldout_mazes(config)
    exclude = set(heldout["seed"].tolist())
    if config.workers:
        source = CollectorPool(config, exclude, counters["chunk"], model)
    else:
        source = InProcessSource(config, exclude, counters["chunk"], rng)
    replay = Replay(config.buffer, device)
    owed = 0.0  # updates earned by fresh states (reuse * states / batch_size) and not yet made
    ended = reached = 0
    started = time.monotonic()
    base_wall = counters["wall_seconds"]
    next_eval = (counters["samples"] // config.eval_every + 1) * config.eval_every
    counters["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"

    def beta_now() -> float:
        if config.beta_samples == 0:
            return config.beta_end
        frac = min(1.0, counters["samples"] / config.beta_samples)
        return config.beta_start + (config.beta_end - config.beta_start) * frac

    def checkpoint_now(record: dict | None) -> None:
        counters["chunk"] = source.chunk
        counters["wall_seconds"] = base_wall + time.monotonic() - started
        if record is not None:
            counters["history"] = [*counters["history"], record]
        save_checkpoint(model, out)
        _save_state(spath, model, head, optimizer, counters, rng, config)
        write_training_record(out, config, counters, config_file)

    interrupted = False
    try:
        while counters["samples"] < config.samples:
            packet, n_ended, n_reached = source.next(model, beta_now())
            ended, reached = ended + n_ended, reached + n_reached
            replay.add(packet)
            counters["states"] = counters.get("states", 0) + len(packet["obs"])
            owed += len(packet["obs"]) * config.reuse / config.batch_size
            updates, owed = int(owed), owed - int(owed)
            if updates == 0:
                continue
            model.train()
            stats = []
            frac = min(1.0, counters["samples"] / config.samples)
            for group in optimizer.param_groups:
                group["lr"] = config.lr_end + (config.lr - config.lr_end) * (1 + math.cos(math.pi * frac)) / 2
            for _ in range(updates):
                loss, s = imitation_loss(model, head, replay.sample(rng, config.batch_size), config)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                stats.append(s)
                counters["samples"] += config.batch_size
            record = {
                "samples": counters["samples"],
                "beta": round(beta_now(), 4),
                **{k: torch.stack([s[k] for s in stats]).mean().item() for k in stats[0]},
                "collect_success": reached / max(1, ended),
            }
            if progress:
                progress(record)
            if counters["samples"] >= next_eval or counters["samples"] >= config.samples:
                next_eval += config.eval_every
                episodes = play_episodes(model, heldout, eval_roller, seed=config.seed)
                record = {
                    **record,
                    "heldout_success": float(episodes["got_cheese"].mean()),
                    "wall_seconds": round(base_wall + time.monotonic() - started, 1),
                }
                ended = reached = 0
                checkpoint_now(record)
                if progress:
                    progress(record)
                if max_minutes is not None and (time.monotonic() - started) / 60 >= max_minutes:
                    break
    except KeyboardInterrupt:
        # the model and counters agree after every optimiser step: keep what was done
        interrupted = True
        checkpoint_now(None)
    finally:
        source.close()
    return TrainResult(
        out,
        counters["samples"],
        counters["wall_seconds"],
        counters["samples"] >= config.samples,
        list(counters["history"]),
        interrupted,
    )
