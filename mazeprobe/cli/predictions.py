"""Prediction commands: the predictions directory (validate, register, forecast, list, verify), then
resolve its questions from a run, score the forecasters and write the calibration report."""

from __future__ import annotations

import argparse
from pathlib import Path

from mazeprobe.cli._common import (
    EXIT_PROBLEMS,
    NOTHING_WRITTEN,
    Parser,
    _check_writable,
    _non_negative_int,
    _positive_int,
    add_command,
    add_device_flag,
    device_name,
    plural,
    whole_or_nothing,
)
from mazeprobe.errors import UsageError


def cmd_predictions(args: argparse.Namespace) -> int:
    """Validate, register, edit, list and verify a predictions directory (questions and forecasts).

    Example: mazeprobe predictions validate predictions/
             mazeprobe predictions forecast predictions/ --forecaster me --question goal-weirder \\
                 --probability 0.6
             mazeprobe predictions register predictions/
             mazeprobe predictions list predictions/
             mazeprobe predictions verify predictions/
    Files: DIR/questions.yaml, DIR/forecasts/<forecaster>.yaml, DIR/resolutions-manual.yaml and the hash
    chain DIR/registry.lock. Auto rules are checked against the plans in DIR/../analysis (else ./analysis)
    unless --analysis-dir says otherwise. Every action also takes the directory as --predictions DIR.
    """
    raise UsageError("name an action: validate, register, forecast, list or verify")


def _predictions_dir(args: argparse.Namespace) -> Path:
    """The directory named by the positional DIR or by --predictions DIR (one of them, or both alike)."""
    if args.dir is None and args.predictions is None:
        raise UsageError("name the predictions directory: DIR or --predictions DIR")
    if args.dir is not None and args.predictions is not None:
        if Path(args.dir).resolve() != Path(args.predictions).resolve():
            raise UsageError(
                f"two predictions directories: DIR {args.dir} and --predictions {args.predictions}; give one"
            )
    root = Path(args.dir if args.dir is not None else args.predictions)
    if not root.is_dir():
        raise UsageError(f"no such predictions directory: {root}")
    return root


def cmd_predictions_validate(args: argparse.Namespace) -> int:
    """Report every problem in the directory as file:line:col: message (exit 1 when there is any).

    Example: mazeprobe predictions validate predictions/
             mazeprobe predictions validate --predictions predictions/ --analysis-dir analysis
    """
    from mazeprobe.registry.items.load import scan

    result = scan(_predictions_dir(args), args.analysis_dir)
    problems = result.all_problems()
    for problem in problems:
        print(problem)
    if problems:
        print(plural(len(problems), "problem"))
        return EXIT_PROBLEMS
    forecasters = {f.forecaster for f in result.forecasts}
    print(
        f"ok: {len(result.questions)} questions, {len(result.forecasts)} forecasts by "
        f"{plural(len(forecasters), 'forecaster')}"
    )
    return 0


def cmd_predictions_register(args: argparse.Namespace) -> int:
    """Append every new question, forecast and manual resolution to DIR/registry.lock (edits need --amend).

    Example: mazeprobe predictions register predictions/
    """
    from mazeprobe.registry import register as register_items

    root = _predictions_dir(args)
    items = register_items(root, amend=args.amend, analysis_dir=args.analysis_dir)
    if not items:
        print(f"nothing new to register: {root / 'registry.lock'} unchanged")
        return 0
    for item in items:
        print(f"registered {item}")
    print(f"registered {plural(len(items), 'item')} in {root / 'registry.lock'}")
    return 0


def cmd_predictions_forecast(args: argparse.Namespace) -> int:
    """Add or (before registration) update one forecast, keeping the file's comments and layout.

    Example: mazeprobe predictions forecast predictions/ --forecaster me --question goal-weirder \\
                 --probability 0.6
    """
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
    """Show the questions, who forecast what, and what is registered.

    Example: mazeprobe predictions list predictions/
    """
    from mazeprobe.registry.scoring.table import listing

    print(listing(_predictions_dir(args), args.analysis_dir))
    return 0


def cmd_predictions_verify(args: argparse.Namespace) -> int:
    """Name every registered item edited or deleted since registration, and any break in the lock's chain.

    Example: mazeprobe predictions verify predictions/
             mazeprobe predictions verify predictions/ --head        # print the head hash to publish
             mazeprobe predictions verify predictions/ --anchor HASH # a head published earlier
    Also: a line dated before the line above it, and what git's history of the lock contradicts (a
    committed version that is no longer a prefix, a line dated before a commit that lacked it).
    Exits 1 when it finds any.
    """
    from mazeprobe.registry import lock_head, verify
    from mazeprobe.registry.items.lock import EVENT_KINDS, latest, read_lock
    from mazeprobe.registry.items.model import parse_item_id

    root = _predictions_dir(args)
    problems = verify(root, args.analysis_dir, anchor=args.anchor)
    for problem in problems:
        print(problem)
    if problems:
        print(plural(len(problems), "problem"))
        return EXIT_PROBLEMS
    if args.head:  # only the hash, for scripts; a broken chain has no head worth publishing (above)
        print(lock_head(root))
        return 0
    entries, _ = read_lock(root)
    items = [i for i in latest(entries) if parse_item_id(i)[0] not in EVENT_KINDS]
    kinds = [parse_item_id(e.item)[0] for e in entries]
    also = "".join(f", {plural(kinds.count(k), f'{k} event')}" for k in EVENT_KINDS if k in kinds)
    anchored = ", the published head is in it" if args.anchor else ""
    chain = f"{len(entries)} lock lines, chain intact{anchored}"
    print(f"ok: {len(items)} registered items unchanged{also}; {chain}")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    """Resolve the auto questions of a predictions directory from runs: OUT/resolutions.yaml.

    Example: mazeprobe resolve --predictions predictions --run data/runs/behavioral-demo
             mazeprobe resolve --predictions predictions --run data/runs/behavioral-10k \
                 --run data/runs/model-editing --run data/runs/retargeting --out data/resolved/round-2
             mazeprobe resolve --predictions predictions --run RUN --plan my-behavioral.yaml --allow-late
    The runs are read, never written. Everything resolve writes goes into OUT (default
    data/resolved/<the first run's directory name>/): resolutions.yaml, the fits (OUT/analyses/<plan>/),
    probe plan results (OUT/probes/<plan>.json) and pictures of chosen edits (OUT/pictures/).
    Each plan a question names (analysis/<name>.yaml, or a --plan file defining that name) is fitted once
    on the first run; a fit in OUT/analyses/<name>/ or RUN_DIR/analyses/<name>/ (`mazeprobe fit`'s) is
    reused when plan and run are unchanged, and so is a probe result in OUT/probes/ or in the run itself
    (an earlier resolve's).
    Only registered questions and forecasts are resolved (the registered rule; edits need
    `predictions register --amend`), else exit 1 unless --include-unregistered. Forecasts and questions
    registered after the first evidence for their question (this run's start, or an earlier resolution in
    the lock) are refused unless --allow-late (then marked late). One resolution event per question is
    appended to DIR/registry.lock.
    """
    from mazeprobe.registry.resolution.resolve import resolve_run
    from mazeprobe.yamlio import load_yaml

    for run in args.run:
        if not Path(run).is_dir():
            raise UsageError(f"no such run directory: {run}")
    device = device_name(args.device)
    args.out = str(_resolve_out(args))  # named by the Ctrl-C message too
    path = resolve_run(
        args.predictions,
        args.run,
        args.out,
        plan_paths=args.plan,
        allow_late=args.allow_late,
        include_unregistered=args.include_unregistered,
        device=device,
    )
    print(_resolve_table(load_yaml(path).data))
    print(f"wrote {path}")
    return 0


def _resolve_out(args: argparse.Namespace) -> Path:
    """--out, else data/resolved/<the first run's directory name> (ResolvedDir.default)."""
    from mazeprobe.registry.resolution.resolved import ResolvedDir

    return Path(args.out) if args.out else ResolvedDir.default(args.run[0]).path


def _resolve_table(doc: dict) -> str:
    """The resolutions resolve_run wrote, one line per question, for the terminal."""
    rows = doc["resolutions"]
    width = max(len(r["question"]) for r in rows)
    lines = [f"{'question':<{width}}  {'outcome':<10}  evidence / reason"]
    for r in rows:
        outcome = r["outcome"]  # resolve_run writes the strings yes, no, unresolved (quoted)
        detail = r.get("reason") or r.get("evidence") or ""
        detail = detail if len(detail) <= 110 else detail[:107] + "..."
        lines.append(f"{r['question']:<{width}}  {outcome:<10}  {detail}")
    counts = {o: sum(1 for r in rows if str(r["outcome"]) == o) for o in ("yes", "no", "unresolved")}
    lines.append(", ".join(f"{n} {o}" for o, n in counts.items()) + f" of {len(rows)} auto questions")
    if doc.get("late"):
        lines.append(f"accepted late (--allow-late): {', '.join(doc['late'])}")
    return "\n".join(lines)


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
    return forecast_table(registry, resolutions, include_unregistered=args.include_unregistered)


def cmd_score(args: argparse.Namespace) -> int:
    """Score every forecaster on the resolved questions: Brier, log score, CORP decomposition, pairwise skill.

    Example: mazeprobe score --predictions predictions/ --resolutions data/resolved/net-demo/resolutions.yaml
             predictions/resolutions-manual.yaml --format json
    Counts only what DIR/registry.lock vouches for (exit 1 naming every other item, unless
    --include-unregistered: then scored apart, not ranked); an automatic resolution must be reproduced
    by its run's fits. Lateness is read from the lock: late forecasts are scored apart, never ranked, and
    so are outcomes of rules amended after their design's first evidence (unless --allow-late). When the
    registry declares a subject network, outcomes measured on another network are scored under their own
    heading, per network, never on the leaderboard.
    """
    import json

    from mazeprobe.registry.scoring.scores import scores_text

    table = _scored_table(args)
    scores = _scores(table, args)
    print(json.dumps(scores, indent=2, allow_nan=False) if args.format == "json" else scores_text(scores))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the calibration report: leaderboard, CORP reliability diagrams, decomposition, every question.

    Example: mazeprobe report --predictions predictions/ --resolutions predictions/resolutions-manual.yaml
             --out report.html
    One self-contained HTML page (no network needed to view it), or Markdown when --out ends in .md.
    """
    from mazeprobe.registry.report import format_for, write_report

    out = Path(args.out)
    _check_writable(out)
    fmt = format_for(out, args.format)
    table = _scored_table(args)
    if args.steps:
        table.attrs["steps"] = _step_log(Path(args.steps))
    scores = _scores(table, args)
    write_report(table, scores, out, fmt)
    print(f"wrote {out} ({fmt}: {_scored_summary(scores)})")
    return 0


def _scores(table, args: argparse.Namespace) -> dict:
    from mazeprobe.registry.scoring.scores import score_table

    kw = {"n_boot": args.n_boot, "n_perm": args.n_perm, "seed": args.seed}
    return score_table(table, **kw, allow_late=args.allow_late)


def _scored_summary(scores: dict) -> str:
    """How many forecasts were scored in each group, for the line `report` prints."""
    from mazeprobe.registry.scoring.scores import network_name, stand_ins

    def count(group: dict) -> int:
        return sum(f["n_resolved"] for f in group.values())

    ranked = scores["forecasters"]
    on = " on the subject" if scores.get("subject") else ""
    parts = [f"{len(ranked)} forecaster(s), {count(ranked)} scored forecast(s) ranked{on}"]
    parts += [f"{count(n['forecasters'])} on stand-in {network_name(n)}" for n in stand_ins(scores)]
    parts += [f"{count(scores[k])} {k}" for k in ("late", "unregistered") if scores.get(k)]
    return "; ".join(parts)


def _step_log(path: Path) -> dict:
    """A step log (mazeprobe.steplog) for the report's timing section; UsageError naming the file."""
    import json

    from mazeprobe.steplog import read_log

    if not path.is_file():
        raise UsageError(f"--steps {path}: no such file (make results writes data/results/steps.json)")
    try:
        return read_log(path)
    except (ValueError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--steps {path}: not a step log ({exc})") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands to `subparsers`."""
    p = add_command(subparsers, "predictions", cmd_predictions)
    interrupted = {  # validate, list and verify only read
        "register": "interrupted; no partial file: registry.lock is rewritten whole or not at all "
        "(predictions list shows what is registered)",
        "forecast": whole_or_nothing("the forecaster's file"),
    }
    actions = p.add_subparsers(dest="action", required=True, parser_class=Parser, metavar="ACTION")
    for name, func in (
        ("validate", cmd_predictions_validate),
        ("register", cmd_predictions_register),
        ("forecast", cmd_predictions_forecast),
        ("list", cmd_predictions_list),
        ("verify", cmd_predictions_verify),
    ):
        a = add_command(actions, name, func, interrupted=interrupted.get(name, NOTHING_WRITTEN))
        # DIR or --predictions DIR: the flag resolve, score and report take works here too
        a.add_argument("dir", nargs="?", metavar="DIR", help="the predictions directory, e.g. predictions/")
        a.add_argument("--predictions", metavar="DIR", help="the predictions directory (instead of DIR)")
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
        if name == "verify":
            a.add_argument(
                "--head",
                action="store_true",
                help="print only the head hash (of the lock's last line) to publish, once all is intact",
            )
            a.add_argument(
                "--anchor",
                metavar="HASH",
                help="a head published earlier: it must still be a line of the chain",
            )
        if name == "forecast":
            a.add_argument("--forecaster", required=True, metavar="ID", help="forecaster id (file name)")
            a.add_argument("--question", required=True, metavar="QID", help="question id")
            value = a.add_mutually_exclusive_group(required=True)
            value.add_argument("--probability", type=float, metavar="P", help="probability in (0, 1)")
            value.add_argument("--claim", choices=("yes", "no"), help="a directional claim (not scored)")
            a.add_argument("--note", metavar="TEXT", help="a note kept with the forecast")

    p = add_command(
        subparsers,
        "resolve",
        cmd_resolve,
        # {out}: the folder cmd_resolve settled on (--out, or the default from the first run)
        interrupted="interrupted; the fits and probe results finished so far are kept in {out}, reused next "
        "time; {out}/resolutions.yaml is written whole at the end or not at all",
    )
    p.add_argument("--predictions", required=True, metavar="DIR", help="the predictions directory")
    p.add_argument(
        "--run",
        required=True,
        action="append",
        metavar="RUN_DIR",
        help="a complete run directory (repeatable: plans are fitted on the first; a model-editing rule "
        "reads the run of its family, a probe plan the first run recording its layer)",
    )
    p.add_argument(
        "--plan",
        action="append",
        default=[],
        metavar="PLAN.yaml",
        help="an analysis plan to use for the plan of that name (repeatable)",
    )
    p.add_argument(
        "--allow-late",
        action="store_true",
        help="accept forecasts and questions registered after the first evidence (marked late)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="the folder resolve writes into: resolutions.yaml, analyses/, probes/, pictures/ (default "
        "data/resolved/<the first run's directory name>; never inside a run)",
    )
    add_device_flag(p, default="cpu", what="of a probe plan's random-weight control runs")
    _include_unregistered(p)

    for name, func, interrupted_message in (
        ("score", cmd_score, NOTHING_WRITTEN),
        ("report", cmd_report, whole_or_nothing("{out}")),
    ):
        p = add_command(subparsers, name, func, interrupted=interrupted_message)
        p.add_argument("--predictions", required=True, metavar="DIR", help="the predictions directory")
        p.add_argument(
            "--resolutions",
            required=True,
            nargs="+",
            metavar="FILE",
            help="resolution files (data/resolved/RUN/resolutions.yaml, DIR/resolutions-manual.yaml, ...)",
        )
        if name == "score":
            p.add_argument("--format", choices=("text", "json"), default="text", help="what to print")
        else:
            p.add_argument("--out", required=True, help="the report file (.html, or .md for Markdown)")
            p.add_argument(
                "--format", choices=("html", "md"), help="report format (default: from the --out suffix)"
            )
            p.add_argument(
                "--steps",
                metavar="STEPS.json",
                help="a step log (python -m mazeprobe.steplog; make results writes data/results/steps.json): "
                "the report says how long each step took and on what machine",
            )
        _include_unregistered(p)
        p.add_argument(
            "--allow-late",
            action="store_true",
            help="rank outcomes of questions whose rule was amended after the first evidence of the design "
            "it reads (still marked); late forecasts are never ranked",
        )
        p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of resamples and permutations")
        p.add_argument("--n-boot", type=_positive_int, default=1000, help="bootstrap and band resamples")
        p.add_argument("--n-perm", type=_positive_int, default=2000, help="permutations per pairwise test")


def _include_unregistered(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--include-unregistered",
        action="store_true",
        help="keep items not in the registry lock as they are (new or edited), marked unregistered and "
        "scored apart, never ranked (default: refuse them, exit 1)",
    )
