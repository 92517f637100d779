"""Intervention speed, each measured against a baseline in the same run (the shipped network by default).

    .venv/bin/python benchmarks/bench_interventions.py [--quick] [--checkpoint PATH] [--mazes N]

1. Retargeting sweep: every reachable target of N mazes (100 at full size, the published sweep), three
   channel conditions (clamp the top 1, 5 and 11 cheese channels at the target's cell to 5.5, 2.3 and
   1.0, as the published "55", "effective" and "all" conditions), path probabilities. mazeprobe: the
   layers below the edited one run once per square, targets sharing a map cell share their passes.
   Baseline: the whole forward pass for every (square on the path, target), measured on a subset and
   scaled to the sweep by its evaluation count. Targets: at most 10 minutes on 2 cores, at least 2x.
2. Vector fields of N mazes (every open square): mazeprobe's long-lived renderer against a new procgen
   env per maze holding one env per square, as procgen-tools builds them. Target: at least 10x.
3. Cheese-vector decision-square probabilities on 1,000 mazes against the plain decision-square
   recording of a run (Roller.decision_square_view). Target: at most 3x its time.
4. Rollouts with the cheese vector active against the batch-64 forward limit. Target: at least 80%.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LAYER = "embedder.block2.res1.resadd_out"
CONDITIONS = (("top1", 1, 5.5), ("top5", 5, 2.3), ("top11", 11, 1.0))


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def retargeting(model, policy, table, roller, ranked, baseline_mazes: int) -> dict:
    import pandas as pd
    import torch

    from mazeprobe.agents.edits import Channels, Clamp, prepare_edits
    from mazeprobe.agents.obs import obs_to_tensor
    from mazeprobe.experiments import retarget
    from mazeprobe.sim import GROUP_MATRIX, maze_batch, start_states

    side = model.activation_shapes()[LAYER][-1]
    rankings = {LAYER: {"cheese-channels": ranked}}
    batch = maze_batch(table)
    targets = retarget.draw_targets(batch, per_maze=10_000, seed=0)  # every reachable target
    natural = start_states(table, roller.loader)

    def sweep(rows: pd.DataFrame):
        contexts = retarget.target_contexts(batch, rows, "remove")
        states = retarget.played_states(natural, contexts, "remove")
        variants = {}
        for name, k, value in CONDITIONS:
            edit = Clamp(LAYER, Channels(ranking="cheese-channels", top=k), value=value, at="target")
            variants[name] = (prepare_edits(edit, model, contexts, roller, rankings), side)
        return retarget.path_probabilities(policy, contexts, states, roller, variants), contexts, states

    (ours, contexts, _), seconds = timed(sweep, targets)
    evaluations = sum(len(p) for p in retarget.path_squares(contexts)) * len(CONDITIONS)

    # the baseline: one full forward pass per (square on the path, target), no sharing
    sub = targets[targets["maze"] < baseline_mazes]
    sub_contexts = retarget.target_contexts(batch, sub, "remove")
    sub_states = retarget.played_states(natural, sub_contexts, "remove")
    paths = retarget.path_squares(sub_contexts)
    t0 = time.perf_counter()
    base_evals = 0
    check = []
    for name, k, value in CONDITIONS:
        edit = Clamp(LAYER, Channels(ranking="cheese-channels", top=k), value=value, at="target")
        prepared = prepare_edits(edit, model, sub_contexts, roller, rankings)
        for i, steps in enumerate(paths):
            if not steps:
                continue
            obs = roller.render([sub_states[i].with_mouse(r, c) for r, c, _ in steps])
            with torch.no_grad(), model.hooks(prepared.hooks(np.full(len(steps), i))):
                logits, _ = model(obs_to_tensor(obs))
            groups = torch.softmax(logits.double(), 1).numpy() @ GROUP_MATRIX
            moves = [m for _, _, m in steps]
            check.append((name, i, float(np.exp(np.mean(np.log(groups[np.arange(len(steps)), moves]))))))
            base_evals += len(steps)
    base_seconds = time.perf_counter() - t0
    # the two methods agree on the subset (the baseline's contexts are the sweep's first rows)
    worst = max(abs(ours[name][i] - p) for name, i, p in check) if check else 0.0
    return {
        "targets": len(targets),
        "evaluations": evaluations,
        "seconds": seconds,
        "baseline_rate": base_evals / base_seconds,
        "baseline_seconds_scaled": evaluations / (base_evals / base_seconds),
        "agreement": worst,
    }


def vector_fields(policy, table, roller) -> dict:
    from mazeprobe.experiments.vfield import vector_fields
    from mazeprobe.maze.env import make_env, set_states
    from mazeprobe.maze.procgen import WALL
    from mazeprobe.maze.sampling import row_grid
    from mazeprobe.sim import start_states

    _, ours = timed(vector_fields, policy, table, roller)
    natural = start_states(table, roller.loader)

    def baseline() -> None:
        for i in range(len(table)):
            grid = row_grid(table.iloc[i])
            cells = [(r, c) for r, c in np.argwhere(grid != WALL) if grid[r, c] != 2]
            env = make_env(len(cells))  # one env per square, as procgen-tools builds a field's venv
            set_states(env, [natural[i].with_mouse(int(r), int(c)).to_bytes() for r, c in cells])
            policy.model.action_probs(env.observe()[1]["rgb"])
            env.close()

    _, base = timed(baseline)
    return {"mazes": len(table), "seconds": ours, "baseline_seconds": base}


def cheese_vector_dsq(model, policy, table, roller) -> dict:
    from mazeprobe.agents.edits import CheeseVector, prepare_edits
    from mazeprobe.experiments.interventions import _dsq_probs
    from mazeprobe.sim import maze_batch, start_states

    batch = maze_batch(table)
    states = start_states(table, roller.loader)
    _, plain = timed(roller.decision_square_view, policy, batch, states)

    def edited():
        prepared = prepare_edits(CheeseVector(LAYER), model, batch, roller, states=states)  # as a run does
        return _dsq_probs(policy, batch, roller, states, {"cv": prepared})

    out, seconds = timed(edited)
    return {
        "mazes": len(table),
        "plain": plain,
        "edited": seconds,
        "median_p": float(np.nanmedian(out["cv"][:, 0])),
    }


def edited_rollouts(model, policy, table, roller, max_steps: int) -> dict:
    from mazeprobe.agents.edits import CheeseVector, prepare_edits
    from mazeprobe.agents.impala import forward_rate
    from mazeprobe.sim import RolloutSettings, maze_batch, start_states

    batch = maze_batch(table)
    states = start_states(table, roller.loader)
    prepared = prepare_edits(CheeseVector(LAYER), model, batch, roller)
    settings = RolloutSettings(max_steps=max_steps)
    before = forward_rate(model, batch=64, seconds=3.0)
    plain, t_plain = timed(roller.episodes, policy, batch, states, settings)
    edited, t_edit = timed(roller.episodes, policy.with_edits(prepared), batch, states, settings)
    after = forward_rate(model, batch=64, seconds=3.0)
    return {
        "limit": (before + after) / 2,
        "plain": plain["steps"].sum() / t_plain,
        "edited": edited["steps"].sum() / t_edit,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "reference-r5.pth"))
    parser.add_argument("--mazes", type=int, default=None, help="mazes of the retargeting sweep (100)")
    args = parser.parse_args()
    quick = args.quick
    start = time.perf_counter()

    import torch

    from mazeprobe.agents.channels import rank_channels, ranked_channels
    from mazeprobe.agents.impala import load_checkpoint
    from mazeprobe.agents.network import NetworkPolicy
    from mazeprobe.maze.sampling import SampleSpec, sample_mazes
    from mazeprobe.sim import Roller

    model = load_checkpoint(args.checkpoint).eval()
    policy = NetworkPolicy(model)
    print(
        f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}; network {Path(args.checkpoint).name} (scale {model.scale}); "
        f"load average {load()}"
    )
    roller = Roller(64)
    ranked = ranked_channels(rank_channels(model, LAYER, n=200 if quick else 1000, seed=0, renderer=roller))
    n_sweep = args.mazes or (6 if quick else 100)
    sweep_mazes = sample_mazes(SampleSpec(n=n_sweep, seed=0, start_level=0))
    r = retargeting(model, policy, sweep_mazes, roller, ranked, baseline_mazes=2 if quick else 5)
    ratio = r["baseline_seconds_scaled"] / r["seconds"]
    print(
        f"\n1. retargeting sweep: {n_sweep} mazes, {r['targets']:,} targets, 3 conditions, "
        f"{r['evaluations']:,} (square, target, condition) evaluations"
    )
    print(
        f"   mazeprobe: {r['seconds']:,.1f} s; baseline (whole forward pass each): "
        f"{r['baseline_rate']:,.0f}/s, so {r['baseline_seconds_scaled']:,.1f} s for the sweep"
    )
    print(
        f"   {ratio:.1f}x the baseline ({'meets' if ratio >= 2 else 'BELOW'} 2x); "
        f"{'within' if r['seconds'] <= 600 else 'OVER'} 10 minutes; largest difference in path "
        f"probability between the two: {r['agreement']:.1e}"
    )

    field_mazes = sample_mazes(SampleSpec(n=10 if quick else 100, seed=1, start_level=1000))
    v = vector_fields(policy, field_mazes, roller)
    ratio = v["baseline_seconds"] / v["seconds"]
    print(
        f"\n2. vector fields of {v['mazes']} mazes: mazeprobe {v['seconds']:.1f} s, a new env per maze "
        f"{v['baseline_seconds']:.1f} s: {ratio:.1f}x ({'meets' if ratio >= 10 else 'BELOW'} 10x)"
    )

    dsq_mazes = sample_mazes(SampleSpec(n=100 if quick else 1000, seed=2, require_decision_square=True))
    c = cheese_vector_dsq(model, policy, dsq_mazes, roller)
    ratio = c["edited"] / c["plain"]
    print(
        f"\n3. cheese-vector decision-square probabilities on {c['mazes']} mazes: {c['edited']:.1f} s "
        f"against {c['plain']:.1f} s plain: {ratio:.2f}x ({'meets' if ratio <= 3 else 'OVER'} the 3x bound); "
        f"median P(cheese-ward move) with the vector subtracted {c['median_p']:.3f}"
    )

    roll_mazes = sample_mazes(SampleSpec(n=64 if quick else 128, seed=3, start_level=5000))
    e = edited_rollouts(model, policy, roll_mazes, roller, 32 if quick else 256)
    for name in ("plain", "edited"):
        share = e[name] / e["limit"]
        print(
            f"\n4. rollouts, {name}: {e[name]:,.0f} steps/s against the batch-64 forward limit "
            f"{e['limit']:,.0f}/s: {100 * share:.0f}% ({'meets' if share >= 0.8 else 'BELOW'} 80%)"
        )
    print(f"\nwall time {time.perf_counter() - start:,.0f} s; load average {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
