"""Maze-layer speed: mazeprobe against the procgen-tools way, measured in one run on this machine.

    .venv/bin/python benchmarks/bench_maze.py [--quick]

Baseline (the way procgen-tools works): a new procgen env per level seed, then one pure-Python
breadth-first search per feature (each feature finds the paths it needs on its own).
mazeprobe: compiled batch geometry + the feature registry, sampling end to end to Parquet, and the
real `mazeprobe sample` command (a fresh process: wall time including its start-up, as a user sees it).
Prints mazes/s for each and the ratio to the baseline, and whether the command meets its target.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import deque

import numpy as np

# --- the baseline, written the way procgen-tools computes features ------------------------------


def _py_path(grid, start, goal):
    n = len(grid)
    prev = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if cur == goal:
            break
        r, c = cur
        for rr, cc in ((r + 1, c), (r - 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < n and 0 <= cc < n and grid[rr][cc] != 1 and (rr, cc) not in prev:
                prev[(rr, cc)] = cur
                queue.append((rr, cc))
    path, cur = [], goal
    while cur is not None:
        path.append(cur)
        cur = prev[cur]
    return path[::-1]


def _py_region_steps(grid, start):
    n = len(grid)
    region = [(r, c) for r in range(max(0, n - 5), n) for c in range(max(0, n - 5), n) if grid[r][c] != 1]
    return min(len(_py_path(grid, start, cell)) - 1 for cell in region), region


def _py_dsq(grid):
    n = len(grid)
    cheese = next((r, c) for r in range(n) for c in range(n) if grid[r][c] == 2)
    a, b = _py_path(grid, (0, 0), cheese), _py_path(grid, (0, 0), (n - 1, n - 1))
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return a[i - 1], cheese
    return None, cheese


def baseline_features(grid) -> dict:
    n = len(grid)
    tr = (n - 1, n - 1)
    out = {}
    dsq, cheese = _py_dsq(grid)
    steps, region = _py_region_steps(grid, cheese)
    out["steps_between_cheese_5x5"] = steps
    out["euc_dist_cheese_5x5"] = min(math.dist(cheese, cell) for cell in region)
    out["steps_between_cheese_top_right"] = len(_py_path(grid, cheese, tr)) - 1
    out["euc_dist_cheese_top_right"] = math.dist(cheese, tr)
    margin = (25 - n) // 2
    out["cheese_coord_norm"] = math.hypot(cheese[0] + margin, cheese[1] + margin)
    if dsq is not None:
        out["steps_between_decision_square_5x5"] = _py_region_steps(grid, _py_dsq(grid)[0])[0]
        out["euc_dist_decision_square_5x5"] = min(math.dist(_py_dsq(grid)[0], c) for c in region)
        out["steps_between_decision_square_top_right"] = len(_py_path(grid, _py_dsq(grid)[0], tr)) - 1
        out["euc_dist_decision_square_top_right"] = math.dist(_py_dsq(grid)[0], tr)
        out["steps_between_cheese_decision_square"] = len(_py_path(grid, _py_dsq(grid)[0], cheese)) - 1
        out["euc_dist_cheese_decision_square"] = math.dist(_py_dsq(grid)[0], cheese)
    return out


def baseline_levels(seeds):
    from mazeprobe.maze.env import get_states, make_env
    from mazeprobe.maze.state import MazeState

    grids = []
    for s in seeds:
        env = make_env(1, start_level=int(s), num_levels=1)
        grids.append(MazeState.from_bytes(get_states(env)[0]).grid.tolist())
        env.close()
    return grids


CLI_TARGET = 150
"""The `mazeprobe sample` command, start-up included, should sample at least this many times faster than
the baseline's mazes + features."""


def cli_sample_seconds(n: int, out: str) -> float:
    """Wall seconds of `python -m mazeprobe sample --n N` in a fresh interpreter (this checkout's code)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "mazeprobe", "sample", "--n", str(n), "--seed", "2", "--quiet"]
    command += ["--out", out]
    t = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=root)
    return time.perf_counter() - t


# --- measurement -------------------------------------------------------------------------------


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--workers", type=int, default=1, help="sampling worker processes")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0

    from mazeprobe.maze.features import compute_features
    from mazeprobe.maze.geometry import maze_geometry, pad_grids
    from mazeprobe.maze.sampling import SampleSpec, sample_mazes, write_mazes

    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; workers={args.workers}")

    n_env = max(20, int(200 * scale))
    t = time.perf_counter()
    grids = baseline_levels(range(n_env))
    base_levels = rate(n_env, time.perf_counter() - t)

    t = time.perf_counter()
    for g in grids:
        baseline_features(g)
    base_feats = rate(len(grids), time.perf_counter() - t)
    base_both = 1 / (1 / base_levels + 1 / base_feats)

    # mazeprobe, features alone: a large batch built from real mazes
    frame = sample_mazes(SampleSpec(n=max(1000, int(5000 * scale)), seed=0), workers=1)
    pairs = zip(frame["grid"], frame["maze_size"], strict=True)
    real = [np.asarray(g, np.int8).reshape(n, n) for g, n in pairs]
    padded, sizes = pad_grids(real, side=25)
    reps = max(2, int(40 * scale))
    big_grids, big_sizes = np.tile(padded, (reps, 1, 1)), np.tile(sizes, reps)
    compute_features(maze_geometry(big_grids[:100], big_sizes[:100]))  # compile / load the cache
    t = time.perf_counter()
    compute_features(maze_geometry(big_grids, big_sizes))
    mp_feats = rate(len(big_sizes), time.perf_counter() - t)

    # mazeprobe, sampling + features end to end, written to Parquet
    n_sample = max(5000, int(100_000 * scale))
    spec = SampleSpec(n=n_sample, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        out = sample_mazes(spec, workers=args.workers)
        write_mazes(out, os.path.join(tmp, "m.parquet"), spec)
        mp_both = rate(n_sample, time.perf_counter() - t)
        n_cli = 2_000 if args.quick else 20_000
        cli_seconds = cli_sample_seconds(n_cli, os.path.join(tmp, "cli.parquet"))
        mp_cli = rate(n_cli, cli_seconds)

    rows = [
        ("baseline: new env per seed (mazes only)", base_levels, None),
        ("baseline: pure-Python search per feature", base_feats, None),
        ("baseline: mazes + features", base_both, None),
        ("mazeprobe: features alone", mp_feats, mp_feats / base_feats),
        ("mazeprobe: sampling + features -> Parquet", mp_both, mp_both / base_both),
        (f"mazeprobe sample --n {n_cli:,} (CLI, start-up)", mp_cli, mp_cli / base_both),
    ]
    print(f"{'':<44}{'mazes/s':>12}{'x baseline':>12}")
    for name, value, ratio in rows:
        print(f"{name:<44}{value:>12,.0f}{'' if ratio is None else f'{ratio:>12,.0f}'}")
    ratio = mp_cli / base_both
    verdict = "meets" if ratio >= CLI_TARGET else "misses"
    print(
        f"the CLI end to end: {n_cli:,} mazes in {cli_seconds:.1f} s, {ratio:,.0f}x the baseline: "
        f"{verdict} the {CLI_TARGET}x target"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
