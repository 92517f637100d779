"""The study command: the shipped study (`make results`) on any checkpoint (mazeprobe.registry.study)."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from mazeprobe.cli._common import _positive_int, add_command, add_device_flag, device_name
from mazeprobe.cli.run import run_bar


def cmd_study(args: argparse.Namespace) -> int:
    """Resolve the shipped questions on any network: the runs of `make results`, then resolve, score, report.

    Example: mazeprobe study path/to/model_rand_region_5.pth
             mazeprobe study model.pth --out docs/results-published --device auto --yes
             mazeprobe study model.pth --small --out /tmp/try     # a few mazes per design: a test of the flow
    Runs the shipped behavioural run (analysis/behavioral-10k.yaml), the model-editing and retargeting
    families (model-editing-r2, retargeting-r2: the registered families, whose hashes leave the network
    out) and the probe run (probe-run-r2) on CHECKPOINT (a published-format .pth, any scale) into
    RUNS/<name>/, measures its fingerprint, resolves every auto question in a scratch copy of the
    predictions directory (OUT/predictions: the shipped registry.lock is never written), and writes
    OUT/results.md and OUT/results.html, headed by the network's sha256 and fingerprint (on the subject
    only when its sha256 is the registered subject's). finetune-cheese-agent needs a fine-tuned checkpoint
    of the network and stays unresolved. Before starting it prints an estimate of the time on this
    machine, from a short warm-up of the network on the chosen device, and asks (unless --yes, or stdin is
    not a terminal). Interrupted, the same command resumes each run where it stopped.
    """
    from mazeprobe.provenance import file_sha256
    from mazeprobe.registry.study import Study, default_name, estimate_text, run_study

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        from mazeprobe.errors import UsageError

        raise UsageError(f"no such checkpoint {checkpoint}")
    name = default_name(file_sha256(checkpoint))
    study = Study(
        checkpoint=checkpoint,
        out=Path(args.out or Path("docs") / name),
        runs=Path(args.runs or Path("data/runs") / name),
        predictions=Path(args.predictions),
        analysis=Path(args.analysis_dir),
        device=device_name(args.device),
        small=args.small,
        jobs=args.jobs or os.cpu_count() or 1,
    )

    def confirm(estimate) -> bool:
        print(estimate_text(estimate), flush=True)
        if args.yes or not sys.stdin.isatty():
            return True
        return input("start? [y/N] ").strip().lower() in ("y", "yes")

    bars = _Bars(args.quiet)
    try:
        result = run_study(study, confirm, say=lambda line: print(f"== {line}", flush=True), progress=bars)
    finally:
        bars.close()
    if result is None:
        print("not started")
        return 0
    counts = {o: sum(1 for v in result.outcomes.values() if v == o) for o in ("yes", "no", "unresolved")}
    print(", ".join(f"{n} {o}" for o, n in counts.items()) + f" of {len(result.outcomes)} auto questions")
    for q in result.not_run:
        print(
            f"not run: {q} reads a fine-tuned checkpoint of the network, which the study does not train "
            f"(`mazeprobe train --init {checkpoint} --config analysis/finetune-uniform.yaml` makes one); "
            "unresolved here"
        )
    where = "on the subject" if result.on_subject else "a stand-in (not the registered subject's sha256)"
    print(f"network {checkpoint} (sha256 {result.sha256}): {where}")
    print(f"resolutions: {study.out / 'resolutions.yaml'} (a copy of {result.resolutions})")
    print("wrote " + " and ".join(str(p) for p in result.reports))
    return 0


class _Bars:
    """One progress bar per run (cli.run's run_bar), each closed when the next begins (registry.study's
    `progress` hook)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.open = quiet, ExitStack()

    def __call__(self, label: str) -> tuple:
        self.close()
        return self.open.enter_context(run_bar(label, [], quiet=self.quiet, lazy=True))

    def close(self) -> None:
        self.open.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands to `subparsers`."""
    p = add_command(
        subparsers,
        "study",
        cmd_study,
        interrupted="interrupted: finished chunks are kept in the runs folder; the same command resumes",
    )
    p.add_argument("checkpoint", help="an IMPALA checkpoint (.pth) in the published format, any scale")
    p.add_argument("--out", help="where results.md/html, the fingerprint and the scratch registry go "
                   "(default docs/results-<first 8 of the sha256>)")  # fmt: skip
    p.add_argument("--runs", help="folder for the runs (default data/runs/results-<first 8 of the sha256>)")
    p.add_argument("--predictions", default="predictions",
                   help="the predictions directory copied and resolved (default predictions)")  # fmt: skip
    p.add_argument("--analysis-dir", default="analysis",
                   help="the shipped specs and plans (default analysis)")  # fmt: skip
    add_device_flag(p)
    p.add_argument(
        "--small", action="store_true", help="a few mazes per design, shrunk families: a test of the flow"
    )
    p.add_argument(
        "--jobs", type=_positive_int, help="local worker processes for the runs (default: the cores)"
    )
    p.add_argument("--yes", action="store_true", help="start without asking after the estimate")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
