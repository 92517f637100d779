"""The `run` command: a batch experiment into a run directory, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mazeprobe.cli._common import (
    DEVICE_HELP,
    Interrupted,
    _device,
    _positive_int,
    add_command,
    device_name,
    progress_bar,
)
from mazeprobe.errors import UsageError


def cmd_run(args: argparse.Namespace) -> int:
    """Run a batch experiment spec: roll a policy through sampled mazes into data/runs/<name>/.

    Example: mazeprobe run analysis/behavioral-demo.yaml --workers 2
             mazeprobe run analysis/behavioral-demo.yaml --resume
    """
    from mazeprobe.experiments.run import DEFAULT_RUNS_DIR, run_experiment
    from mazeprobe.experiments.spec import load_spec

    spec = load_spec(args.spec)
    device = device_name(args.device) if args.device else None  # None: the spec's policy.device
    if args.scheduler and args.workers:
        raise UsageError("give --workers or --scheduler, not both")
    started: list[Path] = []  # the run directory, once it is ready: what Ctrl-C leaves behind
    try:
        with progress_bar("{task.fields[rate]} episodes/s", quiet=args.quiet) as bar:
            task = bar.add_task(f"run {spec.name}", total=None, rate="-")

            def on_start(run_dir: Path, total: int, done: int) -> None:
                started.append(run_dir)
                bar.update(task, total=total, completed=done)

            def progress(summary: dict) -> None:
                bar.update(task, advance=summary["episodes"])
                speed = bar.tasks[task].speed
                bar.update(task, rate=f"{speed:,.0f}" if speed else "-")

            run_dir = run_experiment(
                spec,
                args.out or DEFAULT_RUNS_DIR,
                # with --scheduler the cluster's workers compute: no local processes
                workers=args.workers or (1 if args.scheduler else os.cpu_count() or 1),
                scheduler=args.scheduler,
                resume=args.resume,
                device=device,
                progress=progress,
                on_start=on_start,
            )
        if not args.quiet:
            print(f"run complete: {run_dir}")
            print(_run_summary(run_dir))
    except KeyboardInterrupt:
        if not started:
            raise Interrupted(
                "interrupted before any chunk ran: run the same command again "
                "(with --resume if it says the run already exists)"
            ) from None
        raise Interrupted(
            f"interrupted: finished chunks are kept in {started[0]}; finish with --resume"
        ) from None
    return 0


def _run_summary(run_dir: Path) -> str:
    """Outcome rates of a finished run, for the terminal."""
    from mazeprobe.experiments.run import load_run
    from mazeprobe.sim import outcome_rates

    frame = load_run(run_dir)
    rates = outcome_rates(frame)
    lines = [
        f"episodes: {rates['episodes']} on {frame['seed'].nunique()} mazes",
        f"got the cheese: {rates['got_cheese']:.1%}   "
        f"entered the top-right 5x5 without it: {rates['entered_top_right_5x5_without_cheese']:.1%}   "
        f"timed out: {rates['timed_out']:.1%}",
    ]
    if "p_cheese_at_dsq" in frame:
        lines.append(
            f"median P(cheese-ward move at the decision square): {frame['p_cheese_at_dsq'].median():.3f}"
        )
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands to `subparsers`."""
    p = add_command(
        subparsers, "run", cmd_run, interrupted="interrupted before the run started; nothing was written"
    )
    p.add_argument("spec", help="an experiment spec (analysis/*.yaml)")
    p.add_argument("--out", help="folder for run directories (default data/runs)")
    p.add_argument("--workers", type=_positive_int, help="local worker processes (default: the cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the chunks on this Dask cluster")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run")
    p.add_argument(
        "--device",
        type=_device,
        help=f"where the network runs: {DEVICE_HELP} (default: the spec's policy.device)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
