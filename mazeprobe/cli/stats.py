"""Statistics commands: fit an analysis plan, probe a run's activations."""

from __future__ import annotations

import argparse
from pathlib import Path

from mazeprobe.cli._common import (
    _check_writable,
    _non_negative_int,
    _positive_int,
    add_command,
    add_device_flag,
    device_name,
    whole_or_nothing,
)
from mazeprobe.errors import UsageError
from mazeprobe.experiments.family_settings import RankingSpec
from mazeprobe.settings import add_flags


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit an analysis plan (logit, l1-logit, single, drop-one, sign-stability, vif) to a run or table.

    Example: mazeprobe fit data/runs/behavioral-demo --plan analysis/behavioral.yaml
             mazeprobe fit results.parquet --plan analysis/behavioral.yaml --format json --out fits/
    Tables (JSON, Parquet, CSV, text) go to --out, by default RUN_DIR/analyses/<plan name>/ for a run
    directory and <table stem>-<plan name>/ beside a Parquet table.
    """
    from mazeprobe.experiments.inputs import load_input
    from mazeprobe.stats import fit_plan, load_plan, write_outputs

    source = Path(args.input)
    if not source.exists():
        raise UsageError(f"no such run directory or Parquet table: {source}")
    if args.predictions:
        if not source.is_dir():
            raise UsageError(
                f"--predictions: {source} is a table, not a run directory; only a run has a design the "
                "registry can date"
            )
        _show(args.predictions, source, "fit")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file; fit writes a folder of tables there")
    plan = load_plan(args.plan)  # a bad plan fails before the (possibly large) input is read
    result = fit_plan(load_input(source), plan, jobs=args.jobs)
    out = Path(args.out) if args.out else _default_fit_dir(source, result.plan.name)
    out.mkdir(parents=True, exist_ok=True)
    written = write_outputs(result, out, "all")
    print(result.json_text() if args.format == "json" else result.summary_text())
    if args.format == "text":
        print(f"\nwrote {out}/ ({', '.join(p.name for p in written)})")
    return 0


def _show(predictions: str, run: Path, by: str) -> None:
    """Tell the registry at `predictions` that this run was read (its evidence events), before reading it."""
    from mazeprobe.registry.resolution.designs import show_runs

    if not Path(predictions).is_dir():
        raise UsageError(f"--predictions: no such predictions directory: {predictions}")
    added = show_runs(predictions, [run], by)
    if added:
        print(f"{predictions}/registry.lock: {added} evidence event(s) dating this run's design")


def _default_fit_dir(source: Path, plan_name: str) -> Path:
    """Where `fit` writes when --out is not given."""
    if source.is_dir():
        from mazeprobe.experiments.rundir import RunDir

        return RunDir(source).analysis_dir(plan_name)
    return source.with_name(f"{source.stem}-{plan_name}")


def cmd_probe(args: argparse.Namespace) -> int:
    """Linear probes on a run's decision-square activations, with shuffled and random-weight controls.

    Example: mazeprobe probe data/runs/net-demo --layer embedder.block2.res1.resadd_out --k 1000
    Writes RUN_DIR/probes/<layer>.parquet (one row per probe x metric) unless --out says otherwise.
    """
    from mazeprobe.atomic import write_parquet
    from mazeprobe.experiments.inputs import probe_inputs
    from mazeprobe.stats.probes import results_table
    from mazeprobe.stats.probes.run import probe_request, probe_run

    run_dir = Path(args.run)
    if not run_dir.is_dir():
        raise UsageError(f"no such run directory: {run_dir}")
    if args.out:
        _check_writable(Path(args.out))
    if args.predictions:
        _show(args.predictions, run_dir, "probe")
    device = device_name(args.device)
    inputs = probe_inputs(run_dir, probe_request(args.layer, args.probes, seed=args.seed), device=device)
    results = probe_run(inputs, probes=args.probes, k=args.k, folds=args.folds, seed=args.seed)
    table = results_table(results)
    out = Path(args.out) if args.out else _probe_path(run_dir, args.layer)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(table, out)
    print(_probe_table(table, args.layer, args.folds))
    print(f"wrote {out}")
    return 0


def _probe_path(run_dir: Path, layer: str) -> Path:
    from mazeprobe.experiments.rundir import RunDir

    return RunDir(run_dir).probe_path(layer)


def cmd_channels(args: argparse.Namespace) -> int:
    """Rank a layer's channels by how well their maps locate the cheese, beside a random-weight control.

    Example: mazeprobe channels models/reference-r5.pth --layer embedder.block2.res1.resadd_out --n 1000
             --seed 0 --out data/channels.parquet
    Over N seeded mazes (mouse on its start square), a channel scores when the cell of its map's maximum
    (or minimum) is the cell of the cheese's square; the order and sign are chosen on half the mazes and
    the score is measured on the other half. control_score: the random-weight network's channel of the
    same rank. cheese_response: the channel's mean activation at the cheese's cell over all N mazes (what
    clamp `value: {times_cheese_response: K}` multiplies). Also draws the top channels' maps for one maze
    (--png, default beside --out).
    """
    from mazeprobe.agents.channels import channel_maps_png, rank_channels, ranked_channels
    from mazeprobe.agents.impala import load_checkpoint
    from mazeprobe.atomic import write_parquet
    from mazeprobe.maze.sampling import SampleSpec, sample_mazes

    out = Path(args.out)
    png = Path(args.png) if args.png else out.with_suffix(".png")
    for path in (out, png):
        _check_writable(path)
    model = load_checkpoint(args.checkpoint, device=device_name(args.device)).eval()
    table = rank_channels(model, args.layer, n=args.n, seed=args.seed)
    write_parquet(table, out)
    maze = sample_mazes(SampleSpec(n=1, seed=args.seed, start_level=args.level_seed))
    channel_maps_png(model, args.layer, maze, ranked_channels(table)[: args.top], png)
    print(f"cheese channels of {args.layer} ({args.n} mazes, seed {args.seed}; score on the held-out half)")
    print(f"{'rank':>4}  {'channel':>7}  {'score':>6}  {'control':>7}  sign  {'cheese_response':>15}")
    for r in table.head(args.top).itertuples():
        sign = "+" if r.sign > 0 else "-"
        print(
            f"{r.rank:>4}  {r.channel:>7}  {r.score:>6.3f}  {r.control_score:>7.3f}  {sign:>4}  "
            f"{r.cheese_response:>15.3f}"
        )
    print(f"wrote {out} and {png} (the top {args.top} channels' maps on level {args.level_seed})")
    return 0


def _probe_table(table, layer: str, folds: int) -> str:
    """The primary probe rows of a results table, for the terminal."""
    main_rows = table[table["primary"]]
    lines = [
        f"probes on {layer} ({int(main_rows['n_samples'].iloc[0])} samples, {folds}-fold CV)",
        f"{'probe':<16}{'target':<20}{'metric':<20}{'value':>8}{'shuffled':>10}{'random w.':>10}"
        f"{'select.':>9}",
    ]
    for r in main_rows.itertuples():
        lines.append(
            f"{r.probe:<16}{r.target:<20}{r.metric:<20}{r.value:>8.3f}{r.shuffled:>10.3f}"
            f"{r.random_weights:>10.3f}{r.selectivity_random:>9.3f}"
        )
    lines.append("select. = value minus the random-weight control (positive: better than the control)")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands to `subparsers`."""
    from mazeprobe.stats.probes import PROBES
    from mazeprobe.stats.probes.plan import ProbePlan

    # write_outputs writes the files one by one, each atomically
    p = add_command(
        subparsers,
        "fit",
        cmd_fit,
        interrupted="interrupted; no partial file (each is written whole or not at all), but the output "
        "folder may lack some of this fit's files: run fit again",
    )
    p.add_argument("input", help="a run directory or a Parquet table with the same columns")
    p.add_argument("--plan", required=True, help="an analysis plan (analysis/*.yaml)")
    p.add_argument("--out", help="output folder (default: see above)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="what to print")
    p.add_argument("--jobs", type=_positive_int, default=1, help="processes for the cross-validated models")
    _predictions_flag(p)

    p = add_command(subparsers, "probe", cmd_probe, interrupted=whole_or_nothing("the probe table"))
    p.add_argument("run", help="a run directory with recorded activations")
    # --layer, --k, --folds and --seed are a probe plan's settings: the same bounds and defaults
    add_flags(
        p, ProbePlan, ["layer"], help={"layer": "an activation name recorded by the run"}, required=["layer"]
    )
    p.add_argument(
        "--probes",
        nargs="+",
        default=["cheese-coords", "cheese-pixel", "sparse"],
        choices=PROBES,
        help="which probes (default all)",
    )
    add_flags(
        p,
        ProbePlan,
        ["k", "folds", "seed"],
        help={
            "k": "activations kept by the sparse probe",
            "folds": "cross-validation folds",
            "seed": "seed of folds and controls",
        },
    )
    p.add_argument("--out", help="output Parquet file")
    add_device_flag(p, default="cpu", what="of the random-weight control runs")
    _predictions_flag(p)

    p = add_command(subparsers, "channels", cmd_channels, interrupted=whole_or_nothing("{out}"))
    p.add_argument("checkpoint", help="an IMPALA checkpoint")
    p.add_argument("--layer", required=True, help="a conv activation, e.g. embedder.block2.res1.resadd_out")
    # a spec's channel_ranking settings: the ranking an edit's {ranking: cheese-channels} reads
    add_flags(
        p,
        RankingSpec,
        help={
            "n": "mazes to rank and score on (default {default})",
            "seed": "sampling and split seed (default {default})",
        },
    )
    p.add_argument("--out", required=True, help="the ranking, a Parquet table")
    p.add_argument("--png", help="the picture of the top channels' maps (default: --out with .png)")
    p.add_argument("--top", type=_positive_int, default=8, help="channels drawn and printed (default 8)")
    p.add_argument("--level-seed", type=_non_negative_int, default=0, help="the maze drawn (default 0)")
    add_device_flag(p, default="cpu")


def _predictions_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--predictions",
        metavar="DIR",
        help="a predictions directory to show this run to: its lock dates the run's design (spec, family of "
        "edits) first, so that forecasts registered after this look are late",
    )
