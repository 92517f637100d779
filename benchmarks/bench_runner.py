"""Rollout speed: mazeprobe's batched runner against the procgen-tools way, measured in one run here.

    .venv/bin/python benchmarks/bench_runner.py [--quick] [--device cuda] [--threads N] [--profile]

Baseline (the way procgen-tools gathers episodes): a new procgen env per maze, one episode at a time, one
policy call per step (batch of 1), up to 256 steps (32 with --quick), ending on the cheese reward or the
step limit; the scripted agents read the mouse from the env's state every step.
mazeprobe: one `Roller` of 64 envs, one batched policy call per step, finished slots refilled at once.
Limit: the network's own forward passes (observations/s) at batch 64 (the runner's batch) and 256.
Prints episodes/s and steps/s for each, and the ratios against the targets: the runner's network steps/s
at least 80% of the batch-64 forward limit; scripted agents at least 10x the baseline's episodes/s.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

import numpy as np

NUM_ENVS = 64
SHARD_PARAMS = {"b0": 1.0, "coefficients": {"euc_dist_cheese_top_right": -2.5}}

# Maze counts per measurement. Scale 4 on a CPU is ~100 observations/s and the random-weight network
# rarely finds the cheese (most episodes run all 256 steps), so its counts stay small.
SIZES = {
    "full": {
        "base_net1": 12, "run_net1": 128, "base_net4": 3, "run_net4": 24,
        "base_script": 200, "base_random": 60, "run_script": 2000, "run_random": 600,
        "limit_s": 3.0,
        "max_steps": 256,
    },
    "quick": {
        "base_net1": 1, "run_net1": 8, "base_net4": 1, "run_net4": 2,
        "base_script": 20, "base_random": 4, "run_script": 128, "run_random": 64,
        "limit_s": 0.5,
        # a short step limit too: under load from other processes a batch-1 forward on 2 torch threads
        # can take 100+ ms, and 256 of them alone would overrun a smoke run
        "max_steps": 32,
    },
}


# --- the baseline, written the way procgen-tools plays episodes -----------------------------------


def _sample_action(probs: np.ndarray, rng: np.random.Generator) -> int:
    cdf = np.cumsum(probs)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(probs) - 1))


def baseline_episodes(act, table, read_mouse: bool, max_steps: int, seed: int = 0) -> list[int]:
    """Steps of each episode: a fresh env per maze, `act(obs, maze_index, positions)` on batches of 1."""
    from mazeprobe.maze.env import make_env
    from mazeprobe.maze.state import MazeState

    rng = np.random.default_rng(seed)
    lengths = []
    no_pos = np.zeros((1, 2), dtype=np.int64)
    for i, level in enumerate(table["seed"].tolist()):
        env = make_env(1, start_level=int(level), num_levels=1)
        index = np.array([i])
        steps = 0
        while steps < max_steps:
            obs = env.observe()[1]["rgb"]
            # a procgen-tools style loop reads the mouse from the env state (scripted agents need it)
            pos = no_pos
            if read_mouse:
                pos = np.array([MazeState.from_bytes(env.callmethod("get_state")[0]).mouse])
            action = _sample_action(act(obs, index, pos)[0], rng)
            env.act(np.array([action], dtype=np.int32))
            steps += 1
            if env.observe()[0][0] > 0:  # the cheese reward ends the episode
                break
        env.close()
        lengths.append(steps)
    return lengths


# --- mazeprobe's runner ----------------------------------------------------------------------------


def runner_episodes(roller, policy, table, max_steps: int):
    """The runner's whole path for a table, as a run chunk takes it: grids, start states (through the
    roller's level loader) for policies that read pixels, and the episodes (scripted agents are played
    on the grid alone). Creating the Roller is left out: it is made once and reused across calls."""
    from mazeprobe.sim import RolloutSettings, maze_batch, start_states

    mazes = maze_batch(table)
    states = start_states(table, roller.loader) if policy.reads_pixels else None
    return roller.episodes(policy, mazes, states, RolloutSettings(max_steps=max_steps))


class TimedPolicy:
    """Wraps a policy and adds up the time spent in its `action_probs` (the network's forward passes):
    the share of the runner's time they take is measured under the same load as the runner itself."""

    def __init__(self, policy) -> None:
        self.policy, self.seconds = policy, 0.0
        self.name, self.reads_pixels = policy.name, policy.reads_pixels

    def prepare(self, mazes) -> None:
        self.policy.prepare(mazes)

    def action_probs(self, obs, maze_index, positions):
        t = time.perf_counter()
        out = self.policy.action_probs(obs, maze_index, positions)  # numpy out: the device has finished
        self.seconds += time.perf_counter() - t
        return out


# --- measurement ----------------------------------------------------------------------------------


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def load() -> str:
    # other processes on the machine change every rate here (torch's threads suffer most): show the load
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def section(self, title: str) -> None:
        self.rows.append((title,))

    def add(
        self, name, episodes=None, steps=None, seconds=None, *, steps_rate=None, vs_base=None, vs_limit=None
    ):
        eps = rate(episodes, seconds) if episodes is not None else None
        if steps_rate is None and steps is not None:
            steps_rate = rate(steps, seconds)
        self.rows.append((name, episodes, eps, steps_rate, vs_base, vs_limit))
        return eps, steps_rate

    def print(self) -> None:
        def cell(value, fmt, width, suffix=""):
            return ("" if value is None else f"{value:{fmt}}{suffix}").rjust(width)

        print(f"{'':<46}{'episodes':>9}{'episodes/s':>12}{'steps/s':>10}{'x baseline':>12}{'of limit':>10}")
        for row in self.rows:
            if len(row) == 1:
                print(row[0])
                continue
            name, n, eps, sps, vs_base, vs_limit = row
            pct = None if vs_limit is None else 100 * vs_limit
            print(
                f"  {name:<44}{cell(n, ',', 9)}{cell(eps, ',.2f', 12)}{cell(sps, ',.0f', 10)}"
                f"{cell(vs_base, ',.1f', 12, 'x')}{cell(pct, '.0f', 10, '%')}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--device", default="cpu", help="torch device for the network: cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--profile", action="store_true", help="also cProfile one scale-1 runner pass")
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    start = time.perf_counter()

    import torch

    from mazeprobe.agents.impala import forward_rate, random_impala
    from mazeprobe.agents.network import NetworkPolicy
    from mazeprobe.agents.scripted import builtin_policy
    from mazeprobe.maze.sampling import SampleSpec, sample_mazes
    from mazeprobe.sim import Roller

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, torch {torch.__version__}; "
        f"device {device}{gpu}, torch threads {torch.get_num_threads()}; load average {load()}"
    )

    # one maze table (natural placement: the env's own cheese); every measurement plays its first rows,
    # so the baseline's fresh envs and the runner's loaded states are the same mazes
    n_mazes = max(v for k, v in size.items() if k not in ("limit_s", "max_steps"))
    max_steps = size["max_steps"]
    table = sample_mazes(SampleSpec(n=n_mazes, seed=0, start_level=0))
    roller = Roller(num_envs=NUM_ENVS)  # created once: making 64 envs is a one-off cost, as in real use
    out = Table()
    limits = {}

    for scale in (1, 4):
        model = random_impala(scale, seed=0).to(device).eval()
        policy = TimedPolicy(NetworkPolicy(model))
        k_base, k_run = size[f"base_net{scale}"], size[f"run_net{scale}"]
        out.section(f"IMPALA network, scale {scale}, random weights")

        def net_act(obs, index, pos, m=model):
            return m.action_probs(obs)  # the network sees the pixels only

        lengths, sec = timed(baseline_episodes, net_act, table[:k_base], False, max_steps)
        base_eps, _ = out.add("baseline: new env per maze, batch 1", len(lengths), sum(lengths), sec)

        # the forward limit is measured right before and after the runner, so a change in the machine's
        # load during the run (other processes) shows up as a gap between the two
        before = forward_rate(model, batch=NUM_ENVS, seconds=size["limit_s"])
        frame, sec = timed(runner_episodes, roller, policy, table[:k_run], max_steps)
        after = forward_rate(model, batch=NUM_ENVS, seconds=size["limit_s"])
        limit64 = (before + after) / 2
        limit256 = forward_rate(model, batch=256, seconds=size["limit_s"])
        steps = int(frame["steps"].sum())
        run_eps, run_sps = rate(len(frame), sec), rate(steps, sec)
        out.add(
            f"runner: {NUM_ENVS} envs, one batched call per step", len(frame), steps, sec,
            vs_base=rate(run_eps, base_eps), vs_limit=run_sps / limit64,
        )
        out.add(f"limit: forward passes, batch {NUM_ENVS} (before/after)", steps_rate=limit64)
        out.add("limit: forward passes, batch 256", steps_rate=limit256)
        limits[scale] = (before, after, run_sps, policy.seconds / sec, min(k_run, NUM_ENVS))

    scripted = {
        "cheese": builtin_policy("cheese"),
        "random": builtin_policy("random"),
        "shard": builtin_policy("shard", SHARD_PARAMS, table),  # z-scoring fitted on the whole table
    }
    mismatch = None
    ratios = {}
    for name, policy in scripted.items():
        long_episodes = name == "random"  # random walks mostly run all 256 steps: fewer mazes
        k_base = size["base_random" if long_episodes else "base_script"]
        k_run = size["run_random" if long_episodes else "run_script"]
        out.section(f"scripted agent: {name}")

        def act(obs, index, pos, p=policy):
            return p.action_probs(obs, index, pos)

        def base(sub, p=policy):
            from mazeprobe.sim import maze_batch

            p.prepare(maze_batch(sub))  # distance maps for these mazes, computed once up front
            return baseline_episodes(act, sub, True, max_steps)

        lengths, sec = timed(base, table[:k_base])
        base_eps, _ = out.add("baseline: new env per maze, state read/step", len(lengths), sum(lengths), sec)
        frame, sec = timed(runner_episodes, roller, policy, table[:k_run], max_steps)
        ratios[name] = rate(len(frame), sec) / base_eps
        out.add(
            "runner: played on the grid, batched calls", len(frame), int(frame["steps"].sum()), sec,
            vs_base=ratios[name],
        )
        if name == "cheese":  # deterministic: the runner must play the baseline's episodes exactly
            runner_lengths = frame["steps"].to_numpy()[: len(lengths)]
            if not np.array_equal(runner_lengths, lengths):
                mismatch = int(np.sum(runner_lengths != np.asarray(lengths)))

    print()
    out.print()
    print()
    for scale, (before, after, run_sps, share, busy) in limits.items():
        ok = "meets" if run_sps >= 0.8 * (before + after) / 2 else "BELOW"
        print(
            f"scale {scale}: runner {run_sps:,.0f} network steps/s vs batch-{NUM_ENVS} limit "
            f"{before:,.0f} before / {after:,.0f} after: {ok} the 80% target; within the run, "
            f"{100 * share:.0f}% of the runner's time was in the network's forward passes"
            + (f" (fewer mazes than envs: batches of at most {busy})" if busy < NUM_ENVS else "")
        )
    for name, ratio in ratios.items():
        ok = "meets" if ratio >= 10 else "BELOW"
        print(f"{name}: runner {ratio:,.1f}x the baseline's episodes/s: {ok} the 10x target")
    if mismatch is not None:
        print(f"WARNING: the cheese agent's episode lengths differ (baseline vs runner) on {mismatch} mazes")
    else:
        print("check: the cheese agent's episode lengths agree between baseline and runner")

    if args.profile:
        model = random_impala(1, seed=0).to(device).eval()
        prof = cProfile.Profile()
        prof.enable()
        frame, sec = timed(runner_episodes, roller, NetworkPolicy(model), table[:NUM_ENVS], max_steps)
        prof.disable()
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(15)
        print(
            f"\ncProfile, runner with the scale-1 network on {NUM_ENVS} mazes "
            f"({rate(frame['steps'].sum(), sec):,.0f} steps/s under the profiler), by own time:"
        )
        print(text.getvalue())

    print(f"wall time {time.perf_counter() - start:,.0f} s; load average {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
