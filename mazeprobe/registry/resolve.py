"""Resolve a predictions directory's auto questions from one run: RUN_DIR/resolutions.yaml.

    resolve_run("predictions", "data/runs/behavioral-demo")

Each analysis plan the questions name is fitted once on the run (or its earlier fit in
RUN_DIR/analyses/<plan>/ is reused when both the plan and the run spec are unchanged), every auto rule
is evaluated (mazeprobe.registry.rules), and the outcomes are written with the numbers that decided them,
the plan hashes and the run's identity. Forecasts registered after the run began (or never registered)
on the questions resolved here are refused unless `allow_late`, and then listed as `late`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import yaml

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.experiments.rundir import RunDir
from mazeprobe.provenance import utc_stamp
from mazeprobe.registry.rules import evaluate

RESOLUTIONS_NAME = RunDir.RESOLUTIONS


def _plan_names(res: Mapping, inherited: str | None = None) -> list[str]:
    """Every analysis plan a resolution (and its sub-rules) reads."""
    analysis = res.get("analysis", inherited)
    if res.get("rules"):
        return [n for sub in res["rules"] for n in _plan_names(sub, analysis)]
    return [analysis] if analysis else []


def late_forecasts(registry, qids: Iterable[str], started: datetime) -> list[tuple[str, datetime | None]]:
    """Forecasts on the questions `qids` that were registered after `started` or never registered, as
    (item id, registration time or None)."""
    from mazeprobe.registry.lock import registered_at
    from mazeprobe.registry.model import item_id_forecast

    when = registered_at(registry.root)
    wanted = set(qids)
    out = []
    for f in registry.forecasts:
        if f.question in wanted:
            item = item_id_forecast(f.forecaster, f.question)
            t = when.get(item)
            if t is None or t > started:
                out.append((item, t))
    return sorted(out)


def _load_plans(names: list[str], analysis_dir: Path, plan_paths: Iterable[str | os.PathLike]) -> dict:
    """name -> (plan, file): the --plan files by their plan's name, the rest from analysis_dir."""
    from mazeprobe.stats.plan import load_plan

    given: dict = {}
    for path in plan_paths:
        plan = load_plan(path)
        if plan.name in given:
            raise UsageError(f"--plan {path} and --plan {given[plan.name][1]} both define plan {plan.name!r}")
        given[plan.name] = (plan, Path(path))
    out = {}
    for name in names:
        out[name] = given.get(name) or (
            load_plan(analysis_dir / f"{name}.yaml"),
            analysis_dir / f"{name}.yaml",
        )
    return out


def _fit_all(plans: dict, run: RunDir, spec_hash: str) -> dict:
    """Fit JSON per plan name (or {"error": ...}); a saved fit of the same plan and run is reused."""
    from mazeprobe.stats import fit_plan, load_input, write_outputs
    from mazeprobe.stats.errors import FitError

    fits: dict[str, dict] = {}
    frame = None
    for name, (plan, _) in plans.items():
        out = run.analysis_dir(name)
        old = out / "result.json"
        if old.is_file():
            try:
                doc = json.loads(old.read_text())
            except (OSError, json.JSONDecodeError):
                doc = {}
            if doc.get("plan_hash") == plan.hash and doc.get("input", {}).get("spec_hash") == spec_hash:
                fits[name] = doc
                continue
        if frame is None:
            frame = load_input(run.path)  # read once for every plan
        try:
            result = fit_plan(frame, plan)
        except FitError as exc:
            fits[name] = {"plan": name, "error": str(exc)}
            continue
        write_outputs(result, out, "all")
        fits[name] = result.to_json()
    return fits


def resolve_run(
    predictions_dir: str | os.PathLike,
    run_dir: str | os.PathLike,
    plan_paths: Iterable[str | os.PathLike] | None = None,
    allow_late: bool = False,
) -> Path:
    """Evaluate every auto question of `predictions_dir` on the run in `run_dir`; write and return
    RUN_DIR/resolutions.yaml. `plan_paths`: plan files used instead of analysis/<name>.yaml for the
    plans they name. Raises MazeprobeError naming each late forecast unless `allow_late`."""
    from mazeprobe.registry.load import default_analysis_dir, load_registry

    root, run = Path(predictions_dir), RunDir(Path(run_dir).resolve())
    manifest = run.require_complete()
    started = run.started_at()
    registry = load_registry(root)
    questions = sorted(
        (q for q in registry.questions.values() if q.resolution.get("method") == "auto"),
        key=lambda q: (str(q.file), q.line),
    )
    if not questions:
        raise UsageError(f"{root}: no question has an auto resolution; nothing to resolve from a run")
    late = late_forecasts(registry, [q.id for q in questions], started)
    if late and not allow_late:
        lines = [
            f"  {item}: " + ("never registered" if t is None else f"registered {t.isoformat()}")
            for item, t in late
        ]
        raise MazeprobeError(
            f"{len(late)} forecast(s) on questions resolved here were not registered before the run began "
            f"({manifest.get('started_at')}):\n"
            + "\n".join(lines)
            + "\nregister forecasts before running the experiment, or pass --allow-late to accept them "
            "(they are then marked late)"
        )
    names = list(dict.fromkeys(n for q in questions for n in _plan_names(q.resolution)))
    plans = _load_plans(names, default_analysis_dir(root), plan_paths or [])
    fits = _fit_all(plans, run, manifest.get("spec_hash"))

    entries = []
    for q in questions:
        res = q.resolution
        result = evaluate(res, fits)
        analysis = res.get("analysis")
        entry = {
            "question": q.id,
            "outcome": result.outcome,
            "method": "auto",
            "analysis": analysis,
            "analysis_hash": plans[analysis][0].hash if analysis in plans else None,
            "model": res.get("model"),
            "quantity": res.get("quantity"),
            "rule": res["rule"],
        }
        if "threshold" in res:
            entry["threshold"] = res["threshold"]
        if res.get("rules"):
            entry["rules"] = [_sub_entry(sub, analysis, plans) for sub in res["rules"]]
        entry |= {"numbers": result.numbers, "evidence": result.evidence, "reason": result.reason}
        entries.append(entry)
    doc = {
        "run": str(run.path),
        "run_spec_hash": manifest.get("spec_hash"),
        "run_started_at": manifest.get("started_at"),
        "resolved_at": utc_stamp(),
        "predictions": str(root.resolve()),
        "late": [item for item, _ in late],
        "resolutions": entries,
    }
    path = run.resolutions_path
    text = "# written by `mazeprobe resolve`; do not edit (run it again)\n"
    text += yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=4096)  # one line each
    write_bytes(path, text.encode("utf-8"))
    return path


def _sub_entry(sub: Mapping, inherited: str | None, plans: dict) -> dict:
    """A sub-rule as written: its own fields, with the plan it read and that plan's hash."""
    analysis = sub.get("analysis", inherited)
    out = {"analysis": analysis, "analysis_hash": plans[analysis][0].hash if analysis in plans else None}
    out |= {k: v for k, v in sub.items() if k not in ("analysis", "rules")}
    if sub.get("rules"):
        out["rules"] = [_sub_entry(s, analysis, plans) for s in sub["rules"]]
    return out
