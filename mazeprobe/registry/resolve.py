"""Resolve a predictions directory's auto questions from one run: RUN_DIR/resolutions.yaml.

    resolve_run("predictions", "data/runs/behavioral-demo")

Only what the lock vouches for is resolved (mazeprobe.registry.trust): the lock must verify, and every
auto question and every forecast on one must be registered as it is now, so the rule applied is the
registered rule (an edited rule needs `predictions register --amend`). Each analysis plan the questions
name is fitted once on the run (or its earlier fit in RUN_DIR/analyses/<plan>/ is reused when both the
plan and the run spec are unchanged), every auto rule is evaluated (mazeprobe.registry.rules), and the
outcomes are written with the numbers that decided them, the plan hashes and the run's identity.

Lateness is measured against the first evidence for each question: the earliest of this run's start and
every earlier resolution event and registered manual resolution in the lock, so re-running the same spec
into a new directory does not make a late forecast early. Forecasts and questions (amendments included)
registered after it are refused unless `allow_late`. Before the file is written, one resolution event per
question is appended to the lock (`resolution:QID`: the question's hash, the run, its spec hash and start,
the outcome, the fits' hashes and when it was resolved), so that later runs and scores see the evidence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.experiments.rundir import RunDir
from mazeprobe.provenance import file_sha256, utc_stamp
from mazeprobe.registry.lock import append_items, content_hash
from mazeprobe.registry.model import Forecast, Question, item_id_resolution
from mazeprobe.registry.proof import fit_hashes, plan_names
from mazeprobe.registry.rules import evaluate
from mazeprobe.registry.trust import (
    Evidence,
    Ledger,
    earliest,
    forecast_ref,
    item_problems,
    question_ref,
    refuse,
)

RESOLUTIONS_NAME = RunDir.RESOLUTIONS


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


def _fit_all(plans: dict, run: RunDir, spec_hash: str, known: dict[str, set] | None = None) -> dict:
    """Fit JSON per plan name (or {"error": ...}); a saved fit of the same plan and run is reused, unless
    `known` (plan -> the fit hashes earlier resolution events of this run spec recorded) holds hashes and
    not this file's: a fit edited after it was registered is refitted, not laundered into a new event."""
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
            same = doc.get("plan_hash") == plan.hash and doc.get("input", {}).get("spec_hash") == spec_hash
            vouched = not (known or {}).get(name) or file_sha256(old) in known[name]
            if same and vouched:
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
    include_unregistered: bool = False,
) -> Path:
    """Evaluate every auto question of `predictions_dir` on the run in `run_dir`; append its resolution
    events to the lock, then write and return RUN_DIR/resolutions.yaml. `plan_paths`: plan files used
    instead of analysis/<name>.yaml for the plans they name. Raises IntegrityError naming every auto
    question or forecast on one that is not registered as it is now (unless `include_unregistered`: then
    they are resolved too and scored apart later) and for a damaged lock; MazeprobeError naming each late
    item unless `allow_late`."""
    from mazeprobe.registry.load import default_analysis_dir, load_registry

    root, run = Path(predictions_dir), RunDir(Path(run_dir).resolve())
    manifest = run.require_complete()
    # a start in the future (an edited manifest) is bounded by now: the run exists already
    started = min(run.started_at(), datetime.now(UTC))
    registry = load_registry(root)
    questions = sorted(
        (q for q in registry.questions.values() if q.resolution.get("method") == "auto"),
        key=lambda q: (str(q.file), q.line),
    )
    if not questions:
        raise UsageError(f"{root}: no question has an auto resolution; nothing to resolve from a run")
    ledger = Ledger.load(root)
    qids = {q.id for q in questions}
    forecasts = [f for f in registry.forecasts if f.question in qids]
    untrusted = item_problems(ledger, questions, forecasts)
    if not include_unregistered:
        refuse(list(untrusted.values()), "nothing resolved")
    late = _late_items(
        ledger, questions, forecasts, Evidence(started, f"run {run.path} began {manifest.get('started_at')}")
    )
    if late and not allow_late:
        raise MazeprobeError(
            f"{len(late)} item(s) on questions resolved here were registered after the first evidence for "
            "their question:\n"
            + "\n".join(f"  {why}" for _, why in late)
            + "\nregister forecasts and questions before running the experiment, or pass --allow-late to "
            "accept them (they are then marked late)"
        )
    names = list(dict.fromkeys(n for q in questions for n in plan_names(q.resolution)))
    plans = _load_plans(names, default_analysis_dir(root), plan_paths or [])
    known: dict[str, set] = {}
    for e in ledger.events():
        if e.content.get("spec_hash") == manifest.get("spec_hash"):
            for name, sha in (e.content.get("fits") or {}).items():
                known.setdefault(name, set()).add(sha)
    fits = _fit_all(plans, run, manifest.get("spec_hash"), known)

    entries, events = [], []
    resolved_at = utc_stamp()
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
        events.append(
            {
                "question": q.id,
                "question_sha256": content_hash(question_ref(q)[1]),
                "run": str(run.path),
                "spec_hash": manifest.get("spec_hash"),
                "run_started_at": manifest.get("started_at"),
                "outcome": result.outcome,
                "fits": fit_hashes(run, plan_names(res)),
                "resolved_at": resolved_at,
            }
        )
    # the evidence is registered before the results are written: a crash in between leaves a lock that
    # dates the run (safe), never a resolutions file the lock does not know
    append_items(root, _new_events(ledger, events))
    doc = {
        "run": str(run.path),
        "run_spec_hash": manifest.get("spec_hash"),
        "run_started_at": manifest.get("started_at"),
        "resolved_at": resolved_at,
        "predictions": str(root.resolve()),
        "late": [item for item, _ in late],
        "resolutions": entries,
    }
    path = run.resolutions_path
    text = "# written by `mazeprobe resolve`; do not edit (run it again)\n"
    text += yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=4096)  # one line each
    write_bytes(path, text.encode("utf-8"))
    return path


def _late_items(
    ledger: Ledger, questions: list[Question], forecasts: list[Forecast], this_run: Evidence
) -> list[tuple[str, str]]:
    """(item id, why) for every registered question or forecast registered after the first evidence for
    its question: the earliest of this run's start and what the lock already dates."""
    out = []
    for q in questions:
        evidence = earliest(ledger.first_evidence(q.id), this_run)
        refs = [question_ref(q)] + [forecast_ref(f) for f in forecasts if f.question == q.id]
        for item, content, _, _ in refs:
            why = ledger.late(item, content, evidence)
            if why is not None:
                out.append((item, why))
    return sorted(out)


def _new_events(ledger: Ledger, events: list[dict]) -> list[tuple[str, dict]]:
    """The resolution events not in the lock yet: resolving the same run with the same fits and outcome
    again adds nothing (only resolved_at would differ)."""
    out = []
    for event in events:
        same = {k: v for k, v in event.items() if k != "resolved_at"}
        known = (
            {k: v for k, v in e.content.items() if k != "resolved_at"}
            for e in ledger.events(event["question"])
        )
        if same not in list(known):
            out.append((item_id_resolution(event["question"]), event))
    return out


def _sub_entry(sub: Mapping, inherited: str | None, plans: dict) -> dict:
    """A sub-rule as written: its own fields, with the plan it read and that plan's hash."""
    analysis = sub.get("analysis", inherited)
    out = {"analysis": analysis, "analysis_hash": plans[analysis][0].hash if analysis in plans else None}
    out |= {k: v for k, v in sub.items() if k not in ("analysis", "rules")}
    if sub.get("rules"):
        out["rules"] = [_sub_entry(s, analysis, plans) for s in sub["rules"]]
    return out
