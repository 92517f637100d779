"""The run commands: a batch experiment into a run directory (`run`), and a network's fingerprint
(`fingerprint`: a fixed run of a checkpoint, then its few numbers beside the published network's)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mazeprobe.cli._common import (
    Interrupted,
    _non_negative_int,
    _positive_int,
    add_command,
    add_device_flag,
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
        with run_bar(f"run {spec.name}", started, quiet=args.quiet) as (on_start, progress):
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


@contextmanager
def run_bar(
    label: str, started: list[Path], quiet: bool, stderr: bool = False, lazy: bool = False
) -> Iterator[tuple]:
    """A progress bar of a run's episodes: yields run_experiment's (on_start, progress); on_start appends
    the run directory to `started` (what a Ctrl-C leaves behind). `lazy`: the bar appears only once the
    run starts, so that a refused input prints its one line and no bar."""
    bar = progress_bar("{task.fields[rate]} episodes/s", quiet=quiet, stderr=stderr)
    task = bar.add_task(label, total=None, rate="-")

    def on_start(run_dir: Path, total: int, done: int) -> None:
        started.append(run_dir)
        bar.update(task, total=total, completed=done)
        bar.start()  # a second start is a no-op

    def progress(summary: dict) -> None:
        bar.update(task, advance=summary["episodes"])
        speed = bar.tasks[task].speed
        bar.update(task, rate=f"{speed:,.0f}" if speed else "-")

    if not lazy:
        bar.start()
    try:
        yield on_start, progress
    finally:
        if bar.live.is_started:  # stopping a bar never drawn would print an empty line
            bar.stop()


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


def cmd_fingerprint(args: argparse.Namespace) -> int:
    """Measure a network's fingerprint on fixed decision-square test mazes, beside the published network's.

    Example: mazeprobe fingerprint models/reference-r5.pth --save
             mazeprobe fingerprint models/mine.pth --n 1000 --format json
    Runs the checkpoint on N test mazes (natural cheese placement, a decision square, the cheese outside
    the top-right 5x5; maze sample and action draws seeded by --seed) into
    data/fingerprints/<sha256[:12]>-n<N>-s<seed>/ (resumable; a finished run is reused), then reports
    median and mean P(cheese) and P(top-right) at the decision square, the got-cheese rate and the rate of
    entering the top-right 5x5 without the cheese (sampled actions, 256 steps), and P(cheese) at the
    decision square with the maze's cheese vector subtracted, each with a 95% interval. --save writes
    NAME.fingerprint.json beside the checkpoint (the model card of `mazeprobe evaluate` shows it).
    """
    from mazeprobe.agents.fingerprint import write_fingerprint
    from mazeprobe.experiments.fingerprint import DEFAULT_FINGERPRINTS_DIR, DEFAULT_N, fingerprint_run
    from mazeprobe.experiments.inputs import fingerprint_inputs
    from mazeprobe.stats.fingerprint import fingerprint_document

    device = device_name(args.device)
    started: list[Path] = []
    try:
        bar = run_bar("fingerprint", started, quiet=args.quiet, stderr=True, lazy=True)
        with bar as (on_start, progress):
            run_dir, _reused = fingerprint_run(
                args.checkpoint,
                n=args.n or DEFAULT_N,
                seed=args.seed,
                out_dir=args.out or DEFAULT_FINGERPRINTS_DIR,
                workers=args.workers or os.cpu_count() or 1,
                device=device,
                progress=progress,
                on_start=on_start,
            )
        document = fingerprint_document(fingerprint_inputs(run_dir), checkpoint=args.checkpoint)
        if args.save:
            document["saved"] = str(write_fingerprint(args.checkpoint, document))
    except KeyboardInterrupt:
        if not started:
            raise Interrupted("interrupted before the run started; run the same command again") from None
        raise Interrupted(
            f"interrupted: finished chunks are kept in {started[0]} and the same command resumes (or "
            "reuses) them; a fingerprint file is written whole or not at all"
        ) from None
    if args.format == "json":
        print(json.dumps(document, indent=1, allow_nan=False))
    else:
        print(_fingerprint_text(document))
    return 0


def _fingerprint_text(document: dict) -> str:
    """The fingerprint as an aligned table, the published network's values beside the measured ones."""
    from mazeprobe.agents.fingerprint import fingerprint_rows

    rows = [("measure", "value", "95% interval", "published"), *fingerprint_rows(document)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        f"fingerprint of {document['checkpoint']} (sha256 {document['sha256'][:12]}, scale "
        f"{document['scale']}) on {document['n_mazes']:,} decision-square test mazes, seed "
        f"{document['seed']}",
        f"run: {document['run']}",
        "",
    ]
    for name, value, interval, published in rows:
        lines.append(
            f"{name:<{widths[0]}}  {value:>{widths[1]}}  {interval:<{widths[2]}}  {published:>{widths[3]}}"
        )
    lines += ["", f"published: {document['published_network']} (sources: --format json)"]
    if "saved" in document:
        lines.append(f"saved {document['saved']}")
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
    add_device_flag(p, default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    p = add_command(
        subparsers,
        "fingerprint",
        cmd_fingerprint,
        interrupted="interrupted before the run started; nothing was written",
    )
    p.add_argument("checkpoint", help="an IMPALA checkpoint (.pth)")
    p.add_argument("--n", type=_positive_int, help="test mazes (default 500)")
    p.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="seed of the maze sample and the action draws (default 0)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="what to print")
    p.add_argument("--save", action="store_true", help="write NAME.fingerprint.json beside the checkpoint")
    p.add_argument("--out", help="folder for fingerprint runs (default data/fingerprints)")
    add_device_flag(p)
    p.add_argument("--workers", type=_positive_int, help="local worker processes (default: the cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
