"""Training throughput: where the training data come from, and the training step, measured in one run here.

    .venv/bin/python benchmarks/bench_train.py [--seconds S] [--workers N] [--device cuda]

Baseline: collection in the training process (`workers: 0`), one packet of labelled states after another.
mazeprobe's collector pool: N processes (default: all CPU cores) filling packets through shared memory.
Both use the shipped config (analysis/train-r5.yaml) with beta at its floor (the learner acts on most
steps, as for most of a run) and a random scale-1 network. The training step alone (minibatches from a
filled replay buffer on the device) bounds the loop from the other side: a run trains at about
min(pool states/s x reuse, step samples/s). Prints each rate and the pool's ratio against the baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def collection_rate(source, model, beta: float, seconds: float) -> float:
    """Labelled states/s from `source`, after a first packet that absorbs the start-up."""
    source.next(model, beta)
    start, n = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        packet, _, _ = source.next(model, beta)
        n += len(packet["obs"])
    return n / (time.monotonic() - start)


def step_rate(config, model, head, packet: dict, device: torch.device, seconds: float) -> float:
    from mazeprobe.training.trainer import Replay, imitation_loss

    replay = Replay(len(packet["obs"]), device)
    replay.add(packet)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=config.lr, fused=device.type == "cuda")
    rng = np.random.default_rng(0)

    def step() -> None:
        loss, _ = imitation_loss(model, head, replay.sample(rng, config.batch_size), config)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up: cuDNN's kernel choice, allocator
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, n = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        step()
        n += config.batch_size
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.monotonic() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring time per rate")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="collector processes")
    ap.add_argument("--device", default="cpu", help="where the training step runs")
    args = ap.parse_args()

    from mazeprobe.agents.impala import random_impala
    from mazeprobe.training.collect import CollectorPool, InProcessSource
    from mazeprobe.training.trainer import CellHead, heldout_mazes, load_config

    config = load_config(ROOT / "analysis" / "train-r5.yaml")
    beta = config.beta_end
    device = torch.device(args.device)
    exclude = set(heldout_mazes(config)["seed"].tolist())
    model = random_impala(config.scale, config.seed).to(memory_format=torch.channels_last)
    print(
        f"config analysis/train-r5.yaml: scale {config.scale}, packets of {config.envs} x "
        f"{config.collect_steps} played + {config.scattered} scattered states, beta {beta}, "
        f"{os.cpu_count()} CPU cores"
    )

    inproc = InProcessSource(replace(config, workers=0), exclude, 0, np.random.default_rng(0))
    base = collection_rate(inproc, model, beta, args.seconds)
    packet, _, _ = inproc.next(model, beta)
    print(f"  in-process collection (baseline)     {base:>9,.0f} states/s")
    pool = CollectorPool(replace(config, workers=args.workers), exclude, 10_000, model)
    try:
        pooled = collection_rate(pool, model, beta, args.seconds)
    finally:
        pool.close()
    ratio = pooled / base
    print(f"  collector pool, {args.workers:>2} processes         {pooled:>9,.0f} states/s   {ratio:.2f}x")

    model = model.to(device)
    head = CellHead(config.scale).to(device)
    steps = step_rate(config, model, head, packet, device, args.seconds)
    print(f"  training step on {args.device:<6} (batch {config.batch_size})  {steps:>9,.0f} samples/s")
    bound = min(pooled * config.reuse, steps)
    print(
        f"  a run's bound: min({pooled:,.0f} x reuse {config.reuse}, {steps:,.0f}) = {bound:,.0f} samples/s "
        f"({'collection' if pooled * config.reuse < steps else 'the training step'} limits it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
