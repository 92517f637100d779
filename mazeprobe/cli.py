"""The `mazeprobe` command: parse arguments, call one library function, report.

Every error mazeprobe raises on purpose (MazeprobeError) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mazeprobe.errors import MazeprobeError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, not the usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _check_writable(path: Path) -> None:
    parent = path.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write {path}: permission denied")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")


# --- commands -------------------------------------------------------------------------------------


def cmd_sample(args: argparse.Namespace) -> int:
    """Sample procgen mazes, place the cheese, filter, compute features, write Parquet.

    Example: mazeprobe sample --n 10000 --seed 0 --require-decision-square
             --exclude-cheese-top-right 5 --out data/mazes.parquet
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from mazeprobe.maze.sampling import SampleSpec, parse_sizes, sample_mazes, write_mazes

    out = Path(args.out)
    _check_writable(out)
    spec = SampleSpec(
        n=args.n,
        seed=args.seed,
        placement=args.placement,
        require_decision_square=args.require_decision_square,
        exclude_cheese_top_right=args.exclude_cheese_top_right,
        sizes=parse_sizes(args.sizes) if args.sizes else None,
        start_level=args.start_level,
    )
    columns = [
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, transient=True, disable=args.quiet) as bar:
        task = bar.add_task("sampling mazes", total=spec.n)
        frame = sample_mazes(
            spec,
            workers=args.workers,
            levels=args.levels,
            progress=lambda k: bar.update(task, completed=k),
        )
    write_mazes(frame, out, spec)
    if not args.quiet:
        print(f"wrote {len(frame)} mazes to {out}")
        print(summarise(frame))
    return 0


def summarise(frame) -> str:
    """A short feature summary of a maze table, for the terminal."""
    from mazeprobe.maze.features import PUBLISHED_FEATURES

    lines = [
        f"mazes: {len(frame)}   sizes {int(frame['maze_size'].min())}-{int(frame['maze_size'].max())}"
        f"   with a decision square: {frame['has_decision_square'].mean():.1%}"
        f"   cheese in top-right 5x5: {frame['cheese_in_top_right_5x5'].mean():.1%}",
        f"{'feature':<42}{'mean':>9}{'sd':>9}{'min':>8}{'max':>8}{'null':>7}",
    ]
    for name in PUBLISHED_FEATURES:
        col = frame[name].astype("Float64")
        lines.append(
            f"{name:<42}{col.mean():>9.2f}{col.std():>9.2f}{col.min():>8.2f}{col.max():>8.2f}"
            f"{int(col.isna().sum()):>7}"
        )
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    """Show one maze of a maze table, or one episode of a run, as text (and optionally a PNG).

    Example: mazeprobe show data/mazes.parquet --row 0 --png maze0.png
             mazeprobe show data/runs/behavioral-demo --episode 3 --png episode3.png
    """
    import numpy as np

    from mazeprobe.maze.render import MazePicture, maze_text
    from mazeprobe.maze.sampling import read_mazes

    path = Path(args.file)
    episode = None
    if path.is_dir():
        from mazeprobe.experiments.rollout import path_positions
        from mazeprobe.experiments.run import read_manifest

        read_manifest(path)  # a clear error if this is not a run directory
        if args.episode is None:
            raise UsageError(f"{path} is a run directory: say which episode with --episode I")
        import pyarrow.parquet as pq

        episodes = path / "episodes.parquet"
        if not episodes.exists():
            raise UsageError(f"{path} has no episodes.parquet yet (is the run complete?)")
        table = pq.read_table(episodes).to_pandas()
        if not 0 <= args.episode < len(table):
            raise UsageError(
                f"--episode {args.episode} is out of range: {path} has episodes 0..{len(table) - 1}"
            )
        episode = table.iloc[args.episode]
        mazes = read_mazes(path / "mazes.parquet")
        frame = mazes[mazes["seed"] == episode["seed"]]
        row = frame.iloc[0]
    else:
        if not path.is_file():
            raise UsageError(f"no such maze table: {path}")
        frame = read_mazes(path)
        if not 0 <= args.row < len(frame):
            raise UsageError(f"--row {args.row} is out of range: {path} has rows 0..{len(frame) - 1}")
        row = frame.iloc[args.row]
    n = int(row["maze_size"])
    grid = np.asarray(row["grid"], dtype=np.int8).reshape(n, n)
    mouse = (int(row["mouse_row"]), int(row["mouse_col"]))
    dsq = "none" if not row["has_decision_square"] else f"({row['dsq_row']}, {row['dsq_col']})"
    print(
        f"level seed {row['seed']}, placement {row['placement']}, {n}x{n}, "
        f"cheese ({row['cheese_row']}, {row['cheese_col']}), decision square {dsq}"
    )
    cells = None
    if episode is not None:
        cells = path_positions(episode["path"], n)
        outcome = "got the cheese" if episode["got_cheese"] else "timed out"
        print(
            f"episode {args.episode} (rollout {episode['rollout']}): {outcome} after "
            f"{episode['steps']} steps; reached the top-right square: "
            f"{bool(episode['reached_top_right_square'])}"
        )
    print(maze_text(grid, mouse, cells))
    if args.png:
        _check_writable(Path(args.png))
        picture = MazePicture(grid, mouse, shortest_paths=cells is None)
        if cells:
            picture.path(cells)
        print(f"wrote {picture.save(args.png)}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a batch experiment spec: roll a policy through sampled mazes into data/runs/<name>/.

    Example: mazeprobe run analysis/behavioral-demo.yaml --workers 2
             mazeprobe run analysis/behavioral-demo.yaml --resume
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mazeprobe.experiments.run import (
        DEFAULT_RUNS_DIR,
        completed_episodes,
        execute,
        finalize,
        prepare_run,
        read_manifest,
    )
    from mazeprobe.experiments.spec import load_spec

    spec = load_spec(args.spec)
    if args.device:
        from dataclasses import replace

        spec = replace(spec, policy=replace(spec.policy, device=args.device))
    if args.scheduler and args.workers:
        raise UsageError("give --workers or --scheduler, not both")
    run_dir = prepare_run(spec, args.out or DEFAULT_RUNS_DIR, resume=args.resume, device=args.device)
    manifest = read_manifest(run_dir)
    total = manifest["n_mazes"] * spec.rollouts.per_maze
    done = completed_episodes(run_dir)
    columns = [
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} episodes/s"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, disable=args.quiet) as bar:
        task = bar.add_task(f"run {spec.name}", total=total, completed=done, rate="-")

        def progress(summary: dict) -> None:
            bar.update(task, advance=summary["episodes"])
            speed = bar.tasks[task].speed
            bar.update(task, rate=f"{speed:,.0f}" if speed else "-")

        execute(
            run_dir,
            workers=args.workers or (os.cpu_count() or 1),
            scheduler=args.scheduler,
            progress=progress,
        )
    finalize(run_dir)
    if not args.quiet:
        print(f"run complete: {run_dir}")
        print(run_summary(run_dir))
    return 0


def run_summary(run_dir: Path) -> str:
    """Outcome rates of a finished run, for the terminal."""
    from mazeprobe.experiments.rollout import outcome_rates
    from mazeprobe.experiments.run import load_run

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


def cmd_vfield(args: argparse.Namespace) -> int:
    """Draw a policy's vector field: its action distribution at every open square of one maze.

    Example: mazeprobe vfield --builtin shard --seed 0 --png vfield.png
             mazeprobe vfield --checkpoint models/net.pth --seed 0 --placement uniform --png v.png
    """
    from mazeprobe.agents import make_policy
    from mazeprobe.experiments.rollout import Roller
    from mazeprobe.experiments.vfield import vector_field, vector_field_png
    from mazeprobe.maze.sampling import SampleSpec, sample_mazes

    _check_writable(Path(args.png))
    maze = sample_mazes(SampleSpec(n=1, seed=0, start_level=args.seed, placement=args.placement))
    policy = make_policy(builtin=args.builtin, checkpoint=args.checkpoint, device=args.device, table=maze)
    field = vector_field(policy, maze, Roller(64))
    vector_field_png(field, maze, args.png)
    print(
        f"wrote {args.png}: {len(field)} squares of the {int(maze['maze_size'].iloc[0])}x"
        f"{int(maze['maze_size'].iloc[0])} maze of level seed {args.seed}"
    )
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit an analysis plan (logit, l1-logit, single, drop-one, sign-stability, vif) to a run or table.

    Example: mazeprobe fit data/runs/behavioral-demo --plan analysis/behavioral.yaml
             mazeprobe fit results.parquet --plan analysis/behavioral.yaml --format json --out fits/
    Tables (JSON, Parquet, CSV, text) go to --out, by default RUN_DIR/analyses/<plan name>/ for a run
    directory and <table stem>-<plan name>/ beside a Parquet table.
    """
    from mazeprobe.stats import run_analysis

    source = Path(args.input)
    if not source.exists():
        raise UsageError(f"no such run directory or Parquet table: {source}")
    result = run_analysis(args.plan, source, out_dir=None, jobs=args.jobs)
    out = Path(args.out) if args.out else default_fit_dir(source, result.plan.name)
    out.mkdir(parents=True, exist_ok=True)
    from mazeprobe.stats import write_outputs

    write_outputs(result, out, "all")
    print(result.json_text() if args.format == "json" else result.summary_text())
    if args.format == "text":
        print(f"\nwrote {out}/ (result.json, stats.parquet/csv, correlation.parquet/csv, summary.txt)")
    return 0


def default_fit_dir(source: Path, plan_name: str) -> Path:
    """Where `fit` writes when --out is not given."""
    if source.is_dir():
        return source / "analyses" / plan_name
    return source.with_name(f"{source.stem}-{plan_name}")


def cmd_probe(args: argparse.Namespace) -> int:
    """Linear probes on a run's decision-square activations, with shuffled and random-weight controls.

    Example: mazeprobe probe data/runs/net-demo --layer embedder.block2.res1.resadd_out --k 1000
    Writes RUN_DIR/probes/<layer>.parquet (one row per probe x metric) unless --out says otherwise.
    """
    from mazeprobe.atomic import write_parquet
    from mazeprobe.stats.probes import probe_run, results_table

    run_dir = Path(args.run)
    if not run_dir.is_dir():
        raise UsageError(f"no such run directory: {run_dir}")
    results = probe_run(run_dir, args.layer, probes=args.probes, k=args.k, folds=args.folds, seed=args.seed)
    table = results_table(results)
    out = Path(args.out) if args.out else run_dir / "probes" / f"{args.layer}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(table, out)
    main_rows = table[table["primary"]]
    print(f"probes on {args.layer} ({int(main_rows['n_samples'].iloc[0])} samples, {args.folds}-fold CV)")
    print(
        f"{'probe':<16}{'target':<20}{'metric':<20}{'value':>8}{'shuffled':>10}{'random w.':>10}"
        f"{'select.':>9}"
    )
    for r in main_rows.itertuples():
        print(
            f"{r.probe:<16}{r.target:<20}{r.metric:<20}{r.value:>8.3f}{r.shuffled:>10.3f}"
            f"{r.random_weights:>10.3f}{r.selectivity_random:>9.3f}"
        )
    print("select. = value minus the random-weight control (positive: better than the control)")
    print(f"wrote {out}")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    """List the maze features mazeprobe computes (procgen-tools names where they exist).

    Example: mazeprobe features --list
    """
    from mazeprobe.maze.features import PUBLISHED_FEATURES, REGISTRY

    width = max(len(n) for n in REGISTRY)
    for name, feat in REGISTRY.items():
        mark = "*" if name in PUBLISHED_FEATURES else " "
        print(f"{mark} {name:<{width}}  {feat.kind:<5}  {feat.doc}")
    print("* regressed in the published analysis (Turner et al. 2023). Undefined values are null.")
    return 0


# --- predictions (registry: issue 5) --- #


def cmd_predictions(args: argparse.Namespace) -> int:
    """Validate, register, edit, list and verify a predictions directory (questions and forecasts).

    Example: mazeprobe predictions validate predictions/
             mazeprobe predictions forecast predictions/ --forecaster me --question goal-weirder \
                 --probability 0.6
             mazeprobe predictions register predictions/
             mazeprobe predictions list predictions/
             mazeprobe predictions verify predictions/
    Files: DIR/questions.yaml, DIR/forecasts/<forecaster>.yaml, DIR/resolutions-manual.yaml and the hash
    chain DIR/registry.lock. Auto rules are checked against the plans in DIR/../analysis (else ./analysis)
    unless --analysis-dir says otherwise.
    """
    raise UsageError("name an action: validate, register, forecast, list or verify")


def _predictions_dir(args: argparse.Namespace) -> Path:
    root = Path(args.dir)
    if not root.is_dir():
        raise UsageError(f"no such predictions directory: {root}")
    return root


def cmd_predictions_validate(args: argparse.Namespace) -> int:
    """Report every problem in the directory as file:line:col: message (exit 2 when there is any)."""
    from mazeprobe.registry.load import scan

    result = scan(_predictions_dir(args), args.analysis_dir)
    problems = result.all_problems()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
        return 2
    forecasters = {f.forecaster for f in result.forecasts}
    print(
        f"ok: {len(result.questions)} questions, {len(result.forecasts)} forecasts by "
        f"{len(forecasters)} forecaster{'s' if len(forecasters) != 1 else ''}"
    )
    return 0


def cmd_predictions_register(args: argparse.Namespace) -> int:
    """Append every new question and forecast to DIR/registry.lock (edited items need --amend)."""
    from mazeprobe.registry import register

    root = _predictions_dir(args)
    items = register(root, amend=args.amend, analysis_dir=args.analysis_dir)
    if not items:
        print(f"nothing new to register: {root / 'registry.lock'} unchanged")
        return 0
    for item in items:
        print(f"registered {item}")
    print(f"registered {len(items)} item{'s' if len(items) != 1 else ''} in {root / 'registry.lock'}")
    return 0


def cmd_predictions_forecast(args: argparse.Namespace) -> int:
    """Add or (before registration) update one forecast, keeping the file's comments and layout."""
    from mazeprobe.registry import set_forecast

    edit = set_forecast(
        _predictions_dir(args),
        args.forecaster,
        args.question,
        args.probability,
        args.note,
        claim=args.claim,
        analysis_dir=args.analysis_dir,
    )
    value = f"probability {args.probability:g}" if args.probability is not None else f"claim {args.claim}"
    if edit.action == "unchanged":
        print(f"{edit.path}: {args.forecaster} on {args.question} is already {value}; file unchanged")
    else:
        print(f"{edit.action} {edit.path}: {args.forecaster} on {args.question}: {value}")
    for warning in edit.warnings:
        print(f"warning: {warning} (register refuses until it does)")
    return 0


def cmd_predictions_list(args: argparse.Namespace) -> int:
    """Show the questions, who forecast what, and what is registered."""
    from mazeprobe.registry.table import listing

    print(listing(_predictions_dir(args), args.analysis_dir))
    return 0


def cmd_predictions_verify(args: argparse.Namespace) -> int:
    """Name every registered item edited or deleted since registration, and any break in the lock's chain
    (exit 1 when there is any)."""
    from mazeprobe.registry import verify
    from mazeprobe.registry.lock import latest, read_lock

    root = _predictions_dir(args)
    problems = verify(root, args.analysis_dir)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
        return 1
    entries, _ = read_lock(root)
    print(f"ok: {len(latest(entries))} registered items unchanged; {len(entries)} lock lines, chain intact")
    return 0


# --- resolve (issue 5) --- #


def cmd_resolve(args: argparse.Namespace) -> int:
    """Resolve the auto questions of a predictions directory from one run: RUN_DIR/resolutions.yaml.

    Example: mazeprobe resolve --predictions predictions --run data/runs/behavioral-demo
             mazeprobe resolve --predictions predictions --run RUN --plan my-behavioral.yaml --allow-late
    Each plan a question names (analysis/<name>.yaml, or a --plan file defining that name) is fitted once
    on the run, or its fit in RUN_DIR/analyses/<name>/ is reused when plan and run are unchanged.
    Forecasts registered after the run began are refused unless --allow-late (then marked late).
    """
    from mazeprobe.registry.resolve import resolve_run
    from mazeprobe.yamlio import load_yaml

    if not Path(args.run).is_dir():
        raise UsageError(f"no such run directory: {args.run}")
    path = resolve_run(args.predictions, args.run, plan_paths=args.plan, allow_late=args.allow_late)
    doc = load_yaml(path).data
    rows = doc["resolutions"]
    width = max(len(r["question"]) for r in rows)
    print(f"{'question':<{width}}  {'outcome':<10}  evidence / reason")
    for r in rows:
        outcome = r["outcome"]  # resolve_run writes the strings yes, no, unresolved (quoted)
        detail = r.get("reason") or r.get("evidence") or ""
        detail = detail if len(detail) <= 110 else detail[:107] + "..."
        print(f"{r['question']:<{width}}  {outcome:<10}  {detail}")
    counts = {o: sum(1 for r in rows if str(r["outcome"]) == o) for o in ("yes", "no", "unresolved")}
    print(", ".join(f"{n} {o}" for o, n in counts.items()) + f" of {len(rows)} auto questions")
    if doc.get("late"):
        print(f"accepted late (--allow-late): {', '.join(doc['late'])}")
    print(f"wrote {path}")
    return 0


# --- score and report (issue 5) --- #


def _scored_table(args: argparse.Namespace):
    """Load the registry and resolutions and build the tidy forecast table (score and report share it)."""
    from mazeprobe.registry import forecast_table, load_registry, load_resolutions

    root = Path(args.predictions)
    if not root.is_dir():
        raise UsageError(f"no such predictions directory: {root}")
    for path in args.resolutions:
        if not Path(path).is_file():
            raise UsageError(f"no such resolutions file: {path}")
    registry = load_registry(root)
    resolutions = load_resolutions([Path(p) for p in args.resolutions], registry=registry)
    return forecast_table(registry, resolutions)


def cmd_score(args: argparse.Namespace) -> int:
    """Score every forecaster on the resolved questions: Brier, log score, CORP decomposition, pairwise skill.

    Example: mazeprobe score --predictions predictions/ --resolutions data/runs/net-demo/resolutions.yaml
             predictions/resolutions-manual.yaml --format json
    """
    import json

    from mazeprobe.registry.scoring import score_table, scores_text

    table = _scored_table(args)
    scores = score_table(table, n_boot=args.n_boot, n_perm=args.n_perm, seed=args.seed)
    print(json.dumps(scores, indent=2, allow_nan=False) if args.format == "json" else scores_text(scores))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the calibration report: leaderboard, CORP reliability diagrams, decomposition, every question.

    Example: mazeprobe report --predictions predictions/ --resolutions predictions/resolutions-manual.yaml
             --out report.html
    One self-contained HTML page (no network needed to view it), or Markdown when --out ends in .md.
    """
    from mazeprobe.registry.report import format_for, write_report
    from mazeprobe.registry.scoring import score_table

    out = Path(args.out)
    _check_writable(out)
    fmt = format_for(out, args.format)
    table = _scored_table(args)
    scores = score_table(table, n_boot=args.n_boot, n_perm=args.n_perm, seed=args.seed)
    write_report(table, scores, out, fmt)
    n = sum(f["n_resolved"] for f in scores["forecasters"].values())
    print(f"wrote {out} ({fmt}: {len(scores['forecasters'])} forecaster(s), {n} scored forecast(s))")
    return 0


# --- train and evaluate (issue 6) --- #


def cmd_train(args: argparse.Namespace) -> int:
    """Train an IMPALA maze network by imitating the shortest-path expert with DAgger relabelling.

    Example: mazeprobe train --config analysis/train-r5.yaml --out models/reference-r5.pth --max-minutes 55
             mazeprobe train --config analysis/train-r5.yaml --out models/reference-r5.pth --resume
    The cheese lies in the top-right R x R region during training (placement region:5 by default). Every
    evaluation point writes the checkpoint (the published format), NAME.pth.train (the state --resume
    continues from) and NAME.train.json (the record the model card reads). Ctrl-C saves and stops.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from mazeprobe.agents.impala import resolve_device
    from mazeprobe.agents.train import load_config, train

    config = load_config(args.config)
    out = Path(args.out)
    _check_writable(out)
    device = resolve_device(args.device)
    columns = [
        "[progress.description]{task.description}",
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} samples"),
        TextColumn("loss {task.fields[loss]}  acc {task.fields[acc]}  held-out {task.fields[heldout]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, disable=args.quiet) as bar:
        task = bar.add_task(f"train {out.stem}", total=config.samples, loss="-", acc="-", heldout="-")

        def progress(record: dict) -> None:
            fields = {"loss": f"{record['policy_loss']:.3f}", "acc": f"{record['accuracy']:.1%}"}
            if "heldout_success" in record:
                fields["heldout"] = f"{record['heldout_success']:.1%}"
                bar.console.print(
                    f"{record['samples']:>10,} samples: step accuracy {record['accuracy']:.1%}, "
                    f"held-out success {record['heldout_success']:.1%}"
                )
            bar.update(task, completed=record["samples"], **fields)

        result = train(
            config,
            out,
            resume=args.resume,
            max_minutes=args.max_minutes,
            config_file=args.config,
            progress=progress,
            device=device,
        )
    state = "finished" if result.finished else ("interrupted" if result.interrupted else "paused")
    minutes = result.wall_seconds / 60
    print(f"{state} at {result.samples:,} samples ({minutes:.1f} min in all): {result.checkpoint}")
    if not result.finished:
        print("continue with the same command and --resume")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint on training-distribution and test mazes and write its model card.

    Example: mazeprobe evaluate models/reference-r5.pth --n 500
    Training distribution: cheese in the top-right 5x5 (region:5). Test: natural placement, a decision
    square, cheese outside the top-right 5x5. Each with sampled actions and with the argmax, at most 256
    steps. The card (NAME.md, or --card) also shows the training record NAME.train.json when there is one.
    """
    from mazeprobe.agents.evaluate import evaluate, write_card

    def progress(key: str, summary: dict) -> None:
        if not args.quiet:
            print(
                f"{key:<20} got cheese {summary['got_cheese']:6.1%}   entered top-right 5x5 without it "
                f"{summary['entered_top_right_5x5_without_cheese']:6.1%}   "
                f"timed out {summary['timed_out']:6.1%}"
            )

    result = evaluate(args.checkpoint, n=args.n, max_steps=args.max_steps, progress=progress)
    card = write_card(args.checkpoint, result, args.card)
    print(f"wrote {card}")
    return 0


# --- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mazeprobe",
        description="Register, test and score predictions about the procgen cheese-maze policy network.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, func) -> argparse.ArgumentParser:
        doc = func.__doc__ or ""
        p = sub.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    from mazeprobe.agents.scripted import BUILTIN_AGENTS
    from mazeprobe.maze.placement import PLACEMENT_HELP

    p = add("sample", cmd_sample)
    p.add_argument("--n", type=_positive_int, required=True, help="number of mazes to keep")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="sampling seed (default 0)")
    p.add_argument("--placement", default="natural", help=f"cheese placement: {PLACEMENT_HELP}")
    p.add_argument(
        "--require-decision-square", action="store_true", help="keep only mazes with a decision square"
    )
    p.add_argument(
        "--exclude-cheese-top-right",
        type=_positive_int,
        metavar="R",
        help="drop mazes whose cheese lies in the top-right R x R region",
    )
    p.add_argument("--sizes", metavar="MIN-MAX", help="keep only maze sides in MIN..MAX, e.g. 9-25")
    p.add_argument(
        "--start-level",
        type=_non_negative_int,
        metavar="L",
        help="try level seeds L, L+1, ... (default: pseudo-random seeds from --seed)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="worker processes (default 1: the compiled kernels already use every core; "
        "on 2 cores, 2 workers were no faster than 1 at a million mazes)",
    )
    p.add_argument(
        "--levels",
        choices=("levelgen", "procgen"),
        default="levelgen",
        help="where mazes come from: levelgen, the compiled port of procgen's generator "
        "(default), or procgen, a live env sent to each level (slower; the same mazes)",
    )
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    p = add("show", cmd_show)
    p.add_argument("file", help="a maze table written by `mazeprobe sample`, or a run directory")
    p.add_argument("--row", type=_non_negative_int, default=0, help="maze table row (default 0)")
    p.add_argument("--episode", type=_non_negative_int, help="run directory: the episode to draw")
    p.add_argument("--png", metavar="OUT.png", help="also draw the maze to this PNG")

    p = add("run", cmd_run)
    p.add_argument("spec", help="an experiment spec (analysis/*.yaml)")
    p.add_argument("--out", help="folder for run directories (default data/runs)")
    p.add_argument("--workers", type=_positive_int, help="local worker processes (default: the cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the chunks on this Dask cluster")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run")
    p.add_argument("--device", choices=("cpu", "cuda"), help="where the network runs (overrides the spec)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    p = add("vfield", cmd_vfield)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--checkpoint", metavar="PATH", help="an IMPALA checkpoint")
    who.add_argument("--builtin", choices=BUILTIN_AGENTS, help="a built-in agent")
    p.add_argument("--seed", type=_non_negative_int, required=True, help="the procgen level seed")
    p.add_argument("--placement", default="natural", help=f"cheese placement: {PLACEMENT_HELP}")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--png", required=True, metavar="OUT.png", help="where to draw it")

    p = add("fit", cmd_fit)
    p.add_argument("input", help="a run directory or a Parquet table with the same columns")
    p.add_argument("--plan", required=True, help="an analysis plan (analysis/*.yaml)")
    p.add_argument("--out", help="output folder (default: see above)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="what to print")
    p.add_argument("--jobs", type=_positive_int, default=1, help="processes for the cross-validated models")

    p = add("probe", cmd_probe)
    p.add_argument("run", help="a run directory with recorded activations")
    p.add_argument("--layer", required=True, help="an activation name recorded by the run")
    p.add_argument(
        "--probes",
        nargs="+",
        default=["cheese-coords", "cheese-pixel", "sparse"],
        choices=("cheese-coords", "cheese-pixel", "sparse"),
        help="which probes (default all)",
    )
    p.add_argument("--k", type=_positive_int, default=1000, help="activations kept by the sparse probe")
    p.add_argument("--folds", type=_positive_int, default=5, help="cross-validation folds")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of folds and controls")
    p.add_argument("--out", help="output Parquet file")

    p = add("features", cmd_features)
    p.add_argument("--list", action="store_true", required=True, help="list the features")

    # predictions parsers (issue 5: registry)
    p = add("predictions", cmd_predictions)
    actions = p.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    for name, func in (
        ("validate", cmd_predictions_validate),
        ("register", cmd_predictions_register),
        ("forecast", cmd_predictions_forecast),
        ("list", cmd_predictions_list),
        ("verify", cmd_predictions_verify),
    ):
        a = actions.add_parser(name, help=func.__doc__.splitlines()[0], description=func.__doc__)
        a.set_defaults(func=func)
        a.add_argument("dir", metavar="DIR", help="the predictions directory, e.g. predictions/")
        a.add_argument(
            "--analysis-dir",
            metavar="DIR",
            help="where auto rules find analysis plans (default: DIR/../analysis, else ./analysis)",
        )
        if name == "register":
            a.add_argument(
                "--amend",
                action="store_true",
                help="also register items edited since registration (a new lock line; the old one stays)",
            )
        if name == "forecast":
            a.add_argument("--forecaster", required=True, metavar="ID", help="forecaster id (file name)")
            a.add_argument("--question", required=True, metavar="QID", help="question id")
            value = a.add_mutually_exclusive_group(required=True)
            value.add_argument("--probability", type=float, metavar="P", help="probability in (0, 1)")
            value.add_argument("--claim", choices=("yes", "no"), help="a directional claim (not scored)")
            a.add_argument("--note", metavar="TEXT", help="a note kept with the forecast")

    # resolve parser (issue 5)
    p = add("resolve", cmd_resolve)
    p.add_argument("--predictions", required=True, metavar="DIR", help="the predictions directory")
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a complete run directory")
    p.add_argument(
        "--plan",
        action="append",
        default=[],
        metavar="PLAN.yaml",
        help="an analysis plan to use for the plan of that name (repeatable)",
    )
    p.add_argument(
        "--allow-late", action="store_true", help="accept forecasts registered after the run began"
    )

    # score and report parsers (issue 5)
    for name, func in (("score", cmd_score), ("report", cmd_report)):
        p = add(name, func)
        p.add_argument("--predictions", required=True, metavar="DIR", help="the predictions directory")
        p.add_argument(
            "--resolutions",
            required=True,
            nargs="+",
            metavar="FILE",
            help="resolution files (RUN_DIR/resolutions.yaml, DIR/resolutions-manual.yaml, ...)",
        )
        if name == "score":
            p.add_argument("--format", choices=("text", "json"), default="text", help="what to print")
        else:
            p.add_argument("--out", required=True, help="the report file (.html, or .md for Markdown)")
            p.add_argument(
                "--format", choices=("html", "md"), help="report format (default: from the --out suffix)"
            )
        p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of resamples and permutations")
        p.add_argument("--n-boot", type=_positive_int, default=1000, help="bootstrap and band resamples")
        p.add_argument("--n-perm", type=_positive_int, default=2000, help="permutations per pairwise test")

    # train and evaluate parsers (issue 6)
    p = add("train", cmd_train)
    p.add_argument("--config", help="a training config, e.g. analysis/train-r5.yaml (default: built-in)")
    p.add_argument("--out", required=True, help="the checkpoint to write, e.g. models/NAME.pth")
    p.add_argument("--resume", action="store_true", help="continue from OUT.train")
    p.add_argument(
        "--max-minutes",
        type=float,
        metavar="M",
        help="stop (resumably) at the first evaluation point after M minutes",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="where the network trains: auto (cuda when there is one), cpu, cuda or cuda:N",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("evaluate", cmd_evaluate)
    p.add_argument("checkpoint", help="an IMPALA checkpoint")
    p.add_argument("--n", type=_positive_int, default=500, help="mazes per suite (default 500)")
    p.add_argument("--max-steps", type=_positive_int, default=256, help="steps before a timeout")
    p.add_argument("--card", help="where to write the model card (default: next to the checkpoint, NAME.md)")
    p.add_argument("--quiet", action="store_true", help="no per-suite lines")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MazeprobeError as exc:
        print(f"mazeprobe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mazeprobe {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
