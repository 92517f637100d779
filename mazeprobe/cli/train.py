"""Network commands: train the IMPALA maze network, evaluate a checkpoint and write its model card."""

from __future__ import annotations

import argparse
from pathlib import Path

from mazeprobe.cli._common import (
    Interrupted,
    _check_writable,
    _non_negative_int,
    _non_negative_number,
    _positive_int,
    add_command,
    add_device_flag,
    device_name,
    progress_bar,
    whole_or_nothing,
)


def cmd_train(args: argparse.Namespace) -> int:
    """Train an IMPALA maze network by imitating the shortest-path expert with DAgger relabelling.

    Example: mazeprobe train --config analysis/train-r5.yaml --out models/reference-r5.pth --max-minutes 55
             mazeprobe train --config analysis/train-r5.yaml --out models/reference-r5.pth --resume
             mazeprobe train --init models/reference-r5.pth --config analysis/finetune-uniform.yaml \\
                 --out models/finetune-uniform.pth
    The cheese lies in the top-right R x R region during training (placement region:5 by default). Every
    evaluation point writes the checkpoint (the published format), NAME.pth.train (the state --resume
    continues from) and NAME.train.json (the record the model card reads). Ctrl-C saves and stops.
    """
    from mazeprobe.training import load_config, state_path, train

    config = load_config(args.config)
    out = Path(args.out)
    _check_writable(out)
    device = device_name(args.device)
    bar = progress_bar(
        "loss {task.fields[loss]}  acc {task.fields[acc]}  held-out {task.fields[heldout]}",
        count="{task.completed:,.0f}/{task.total:,.0f} samples",
        quiet=args.quiet,
        eta=True,
    )
    with bar:
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
            init=args.init,
        )
    if result.interrupted:  # train caught the Ctrl-C and saved: say so, and exit as interrupted
        raise Interrupted(
            f"interrupted at {result.samples:,} samples: saved the checkpoint {result.checkpoint} and the "
            f"training state {state_path(result.checkpoint)}; continue with the same command and --resume"
        )
    state = "finished" if result.finished else "paused"
    minutes = result.wall_seconds / 60
    print(f"{state} at {result.samples:,} samples ({minutes:.1f} min in all): {result.checkpoint}")
    if not result.finished:
        print("continue with the same command and --resume")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint on training-distribution and test mazes and write its model card.

    Example: mazeprobe evaluate models/reference-r5.pth --n 500
    Training distribution: cheese in the top-right 5x5 (region:5). Test: natural placement, a decision
    square, cheese outside the top-right 5x5. Uniform: the cheese anywhere open, no filter (the network's
    own skill, which a test-maze rate can be read against). Each with sampled actions and with the argmax,
    at most 256 steps. The card (NAME.md, or --card) also shows the training record NAME.train.json when
    there is one.
    """
    from mazeprobe.training import evaluate, write_card

    def progress(key: str, summary: dict) -> None:
        if not args.quiet:
            print(
                f"{key:<20} got cheese {summary['got_cheese']:6.1%}   entered top-right 5x5 without it "
                f"{summary['entered_top_right_5x5_without_cheese']:6.1%}   "
                f"timed out {summary['timed_out']:6.1%}"
            )

    if args.card:
        _check_writable(Path(args.card))  # before minutes of play, not after
    from mazeprobe.training.evaluate import EVAL_SEED

    seed = EVAL_SEED if args.seed is None else args.seed
    device = device_name(args.device)
    result = evaluate(
        args.checkpoint, n=args.n, max_steps=args.max_steps, seed=seed, progress=progress, device=device
    )
    card = write_card(args.checkpoint, result, args.card)
    print(f"wrote {card}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands to `subparsers`."""
    # a Ctrl-C outside train's loop (the loop catches its own and saves: see cmd_train)
    p = add_command(
        subparsers,
        "train",
        cmd_train,
        interrupted="interrupted; {out}.train, if it exists, holds the last saved state: "
        "continue with --resume",
    )
    p.add_argument("--config", help="a training config, e.g. analysis/train-r5.yaml (default: built-in)")
    p.add_argument("--out", required=True, help="the checkpoint to write, e.g. models/NAME.pth")
    p.add_argument("--resume", action="store_true", help="continue from OUT.train")
    p.add_argument(
        "--init",
        metavar="CHECKPOINT",
        help="fine-tune: start from this checkpoint's weights (the record names it and the budget as a "
        "fraction of its training samples)",
    )
    p.add_argument(
        "--max-minutes",
        type=_non_negative_number,
        metavar="M",
        help="stop (resumably) at the first evaluation point after M minutes (0: at the first one)",
    )
    add_device_flag(p, what="trains")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add_command(subparsers, "evaluate", cmd_evaluate, interrupted=whole_or_nothing("the model card"))
    p.add_argument("checkpoint", help="an IMPALA checkpoint")
    p.add_argument("--n", type=_positive_int, default=500, help="mazes per suite (default 500)")
    p.add_argument("--max-steps", type=_positive_int, default=256, help="steps before a timeout")
    p.add_argument(
        "--seed",
        type=_non_negative_int,
        help="sampling seed of the suites' mazes (default: the built-in evaluation seed; each suite adds its "
        "own offset); another seed evaluates on other mazes",
    )
    p.add_argument("--card", help="where to write the model card (default: next to the checkpoint, NAME.md)")
    add_device_flag(p, default="cpu")
    p.add_argument("--quiet", action="store_true", help="no per-suite lines")
