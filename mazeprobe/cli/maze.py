"""Maze commands: sample a maze table, show a maze or an episode, list the features, draw a vector field."""

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
    progress_bar,
    whole_or_nothing,
)
from mazeprobe.errors import UsageError
from mazeprobe.maze.placement import PLACEMENT_HELP
from mazeprobe.maze.sampling import SampleSpec, row_grid, row_problem
from mazeprobe.settings import add_flags, flag_values

_SAMPLE_FLAGS_HELP = {
    "n": "number of mazes to keep",
    "seed": "sampling seed (default {default})",
    "placement": f"cheese placement: {PLACEMENT_HELP}",
    "require_decision_square": "keep only mazes with a decision square",
    "exclude_cheese_top_right": "drop mazes whose cheese lies in the top-right R x R region",
    "sizes": "keep only maze sides in MIN..MAX, e.g. 9-25",
    "start_level": "try level seeds L, L+1, ... (default: pseudo-random seeds from --seed)",
}


def cmd_sample(args: argparse.Namespace) -> int:
    """Sample procgen mazes, place the cheese, filter, compute features, write Parquet.

    Example: mazeprobe sample --n 10000 --seed 0 --require-decision-square
             --exclude-cheese-top-right 5 --out data/mazes.parquet
    """
    from mazeprobe.maze.sampling import sample_mazes, write_mazes

    out = Path(args.out)
    _check_writable(out)
    spec = SampleSpec(**flag_values(args, SampleSpec))
    with progress_bar(quiet=args.quiet, transient=True) as bar:
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
        print(_summarise(frame))
    return 0


def _summarise(frame) -> str:
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
             mazeprobe show data/runs/model-editing --interventions
    """

    from mazeprobe.maze.render import MazePicture, maze_text

    path = Path(args.file)
    if args.interventions:
        return _show_interventions(args)
    if path.is_dir():
        row, episode = _run_episode(path, args.episode)
    else:
        if args.episode is not None:
            raise UsageError(f"{path} is a maze table: --episode reads a run directory; use --row")
        row, episode = _table_row(path, args.row), None
    n = int(row["maze_size"])
    grid = row_grid(row)
    mouse = (int(row["mouse_row"]), int(row["mouse_col"]))
    dsq = "none" if not row["has_decision_square"] else f"({row['dsq_row']}, {row['dsq_col']})"
    print(
        f"level seed {row['seed']}, placement {row['placement']}, {n}x{n}, "
        f"cheese ({row['cheese_row']}, {row['cheese_col']}), decision square {dsq}"
    )
    cells = None
    if episode is not None:
        from mazeprobe.sim import path_positions

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


def _table_row(path: Path, row: int):
    """Row `row` of a maze table."""
    from mazeprobe.maze.sampling import read_maze_table

    if not path.is_file():
        raise UsageError(f"no such maze table: {path}")
    frame = read_maze_table(path)
    if not 0 <= row < len(frame):
        raise UsageError(f"--row {row} is out of range: {path} has rows 0..{len(frame) - 1}")
    problem = row_problem(frame.iloc[row])
    if problem:
        raise UsageError(f"{path}: row {row}: {problem}")
    return frame.iloc[row]


def _run_episode(run_dir: Path, index: int | None):
    """(maze row, episode row) of episode `index` of a run directory."""
    from mazeprobe.experiments.rundir import RunDir

    run = RunDir(run_dir)
    run.manifest()  # a clear error if this is not a run directory
    if index is None:
        raise UsageError(f"{run_dir} is a run directory: say which episode with --episode I")
    table = run.episodes()
    if not 0 <= index < len(table):
        raise UsageError(f"--episode {index} is out of range: {run_dir} has episodes 0..{len(table) - 1}")
    episode = table.iloc[index]
    mazes = run.mazes()
    return mazes[mazes["seed"] == episode["seed"]].iloc[0], episode


def _show_interventions(args: argparse.Namespace) -> int:
    """`show RUN --interventions`: each edit against the unedited network, paired over mazes."""
    from mazeprobe.experiments.rundir import RunDir
    from mazeprobe.stats.paired import paired_summary, summary_text

    run = RunDir(args.file)
    print(summary_text(paired_summary(run.interventions(), n_boot=args.n_boot, seed=args.seed)))
    if run.retargeting_path.is_file():
        table = run.retargeting()
        means = table.groupby("intervention", sort=False)[["path_probability", "reached_target", "steps"]]
        print("\nretargeting (mean over targets):")
        print(means.mean().round(3).to_string())
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


def cmd_vfield(args: argparse.Namespace) -> int:
    """Draw a policy's vector field: its action distribution at every open square of one maze.

    Example: mazeprobe vfield --builtin shard --level-seed 0 --png vfield.png
             mazeprobe vfield --checkpoint models/net.pth --level-seed 0 --placement uniform --png v.png
             mazeprobe vfield --checkpoint models/reference-r5.pth --level-seed 3 --png cv.png \\
                 --edit analysis/model-editing.yaml#cheese-vector
    --seed L is another name for --level-seed L.
    """
    from mazeprobe.agents import make_policy
    from mazeprobe.experiments.vfield import vector_field, vector_field_png
    from mazeprobe.maze.sampling import SampleSpec, sample_mazes
    from mazeprobe.sim import Roller

    _check_writable(Path(args.png))
    device = device_name(args.device)
    maze = sample_mazes(SampleSpec(n=1, seed=0, start_level=args.level_seed, placement=args.placement))
    policy = make_policy(builtin=args.builtin, checkpoint=args.checkpoint, device=device, table=maze)
    roller = Roller(64)
    field = vector_field(policy, maze, roller)
    n = int(maze["maze_size"].iloc[0])
    if args.edit is None:
        vector_field_png(field, maze, args.png)
        print(f"wrote {args.png}: {len(field)} squares of the {n}x{n} maze of level seed {args.level_seed}")
        return 0
    if args.checkpoint is None:
        raise UsageError("--edit changes a network: give --checkpoint")
    from mazeprobe.experiments.vfield import field_difference, field_tv, vector_field_pictures

    name, edits, rankings = _edit_from_file(args.edit, policy.model, maze)
    edited = vector_field(policy, maze, roller, edits=edits, rankings=rankings)
    panels = [("original", field), (name, edited), ("difference", field_difference(edited, field))]
    vector_field_pictures(panels, maze, args.png)
    print(
        f"wrote {args.png}: the {n}x{n} maze of level seed {args.level_seed}, original | {name} | "
        f"difference; mean total variation {field_tv(edited, field):.4f} over {len(field)} squares"
    )
    return 0


def _edit_from_file(ref: str, model, maze):
    """FILE.yaml#ID -> (ID, its edits, the channel rankings they read computed for this network as a run
    would: layer -> ranking record), the edits checked against this network and the maze drawn."""
    from mazeprobe.experiments.intervention_spec import check_fit
    from mazeprobe.experiments.spec import load_spec

    path, sep, iid = ref.rpartition("#")
    if not sep or not path or not iid:
        raise UsageError(f"--edit takes FILE.yaml#ID (an intervention of an experiment spec); got {ref!r}")
    spec = load_spec(path)
    found = {i.id: i for i in spec.interventions}
    if iid not in found:
        raise UsageError(f"{path} has no intervention {iid!r}; it has {', '.join(found) or 'none'}")
    intervention = found[iid]
    if intervention.per_target:
        raise UsageError(f"{iid} aims at retargeting targets (at: target): draw it with at: [row, col]")
    check_fit((intervention,), model.activation_shapes(), maze)
    rankings = {}
    for layer in dict.fromkeys(intervention.ranked_layers()):
        from mazeprobe.agents.channels import rank_channels, ranking_record

        table = rank_channels(model, layer, spec.channel_ranking.n, spec.channel_ranking.seed)
        rankings[layer] = ranking_record(table)
    return iid, list(intervention.edits), rankings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands to `subparsers`."""
    from mazeprobe.agents.scripted import BUILTIN_AGENTS

    p = add_command(subparsers, "sample", cmd_sample, interrupted=whole_or_nothing("{out}"))
    # SampleSpec's settings (an experiment spec's `mazes` section), in words for the command line
    add_flags(p, SampleSpec, required=["n"], help=_SAMPLE_FLAGS_HELP)
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

    p = add_command(subparsers, "show", cmd_show, interrupted=whole_or_nothing("the --png picture"))
    p.add_argument("file", help="a maze table written by `mazeprobe sample`, or a run directory")
    p.add_argument("--row", type=_non_negative_int, default=0, help="maze table row (default 0)")
    p.add_argument("--episode", type=_non_negative_int, help="run directory: the episode to draw")
    p.add_argument("--png", metavar="OUT.png", help="also draw the maze to this PNG")
    p.add_argument(
        "--interventions",
        action="store_true",
        help="run directory: each edit against the unedited network, paired over mazes",
    )
    p.add_argument("--n-boot", type=_positive_int, default=1000, help="bootstrap resamples (--interventions)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="bootstrap seed (--interventions)")

    p = add_command(subparsers, "vfield", cmd_vfield, interrupted=whole_or_nothing("{png}"))
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--checkpoint", metavar="PATH", help="an IMPALA checkpoint")
    who.add_argument("--builtin", choices=BUILTIN_AGENTS, help="a built-in agent")
    # --seed: the older name, kept (make demo and the README use it)
    p.add_argument(
        "--level-seed",
        "--seed",
        dest="level_seed",
        type=_non_negative_int,
        required=True,
        metavar="L",
        help="the procgen level seed of the maze to draw",
    )
    p.add_argument("--placement", default="natural", help=f"cheese placement: {PLACEMENT_HELP}")
    add_device_flag(p)
    p.add_argument("--png", required=True, metavar="OUT.png", help="where to draw it")
    p.add_argument(
        "--edit",
        metavar="FILE.yaml#ID",
        help="also draw the field under intervention ID of an experiment spec, and the difference",
    )

    p = add_command(subparsers, "features", cmd_features)
    p.add_argument("--list", action="store_true", required=True, help="list the features")
