"""Resolve a predictions directory's auto questions from one run or several: OUT/resolutions.yaml.

    resolve_run("predictions", "data/runs/behavioral-demo", "data/resolved/behavioral-demo")
    resolve_run("predictions", ["data/runs/behavioral-10k", "data/runs/model-editing", ...], out)

The runs are read, never written: everything resolve writes goes into OUT, the folder it owns
(mazeprobe.registry.resolution.resolved: resolutions.yaml, the fits, probe plan results, pictures), and
the predictions directory's lock.

Only what the lock vouches for is resolved (mazeprobe.registry.items.trust): the lock must verify, and every
auto question and every forecast on one must be registered as it is now, so the rule applied is the
registered rule (an edited rule needs `predictions register --amend`). Each analysis plan the questions
name is fitted once on the primary run, the first given, into OUT/analyses/<plan>/ (an earlier fit there,
or in RUN_DIR/analyses/<plan>/ where `mazeprobe fit` and earlier versions of resolve wrote it, is reused
when both the plan and the run spec are unchanged: copied into OUT). A model-editing rule reads its sources
(mazeprobe.registry.resolution.evidence): the run of its registered family of edits, a probe plan's result on
the first run recording the plan's layer, a fine-tuned checkpoint. Every auto rule is evaluated
(mazeprobe.registry.rules.fitted; rules that read other questions after them) and the outcomes are written
with the numbers that decided them, the plan hashes or source files' hashes, and every run's identity.

Every run given is shown to the registry first: an evidence event per design it is a run of (its spec,
its family of edits; mazeprobe.registry.resolution.designs) is appended to the lock before anything is
decided, a refusal included. Lateness is measured against the first evidence (mazeprobe.registry.items.trust):
a question against the earliest run of the designs it reads now (the primary run's spec for a plan; the
family's run, the probe's run or the fine-tune for a source), a forecast also against every earlier
resolution event and registered manual resolution of its question, so re-running the same design into a new
directory does not make a late item timely. Forecasts and questions (amendments included) registered after
it are refused unless `allow_late`. Before the file is written, one resolution event per question is
appended to the lock (`resolution:QID`: the question's hash, the run, its spec hash and start, the outcome,
the fits' or sources' hashes and when it was resolved), so that later runs and scores see the evidence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.experiments.manifest import Manifest
from mazeprobe.experiments.rundir import RunDir
from mazeprobe.provenance import file_sha256, utc_stamp
from mazeprobe.registry.items.lock import append_items, content_hash
from mazeprobe.registry.items.model import Forecast, Question, item_id_resolution
from mazeprobe.registry.items.trust import (
    Evidence,
    Ledger,
    earliest,
    forecast_ref,
    item_problems,
    parse_time,
    question_ref,
    refuse,
)
from mazeprobe.registry.resolution.designs import Shown, record_shown, run_designs, shown_runs
from mazeprobe.registry.resolution.evidence import (
    Source,
    depends_on,
    draw_picture,
    gather,
    question_key,
    source_numbers,
)
from mazeprobe.registry.resolution.proof import fit_hashes, plan_names
from mazeprobe.registry.resolution.resolved import ResolvedDir
from mazeprobe.registry.rules.base import RULES_VERSION
from mazeprobe.registry.rules.editing import CHECKPOINT
from mazeprobe.registry.rules.fitted import evaluate


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


def _fit_all(
    plans: dict, run: RunDir, resolved: ResolvedDir, spec_hash: str, known: dict[str, set] | None = None
) -> dict:
    """Fit JSON per plan name (or {"error": ...}), each written into `resolved`. A saved fit of the same
    plan and run is reused (one in `resolved`, else one in the run's own analyses/, copied), unless
    `known` (plan -> the fit hashes earlier resolution events of this run spec recorded) holds hashes and
    not this file's: a fit edited after it was registered is refitted, not laundered into a new event."""
    from mazeprobe.experiments.inputs import load_input
    from mazeprobe.stats import fit_plan, write_outputs
    from mazeprobe.stats.errors import FitError

    fits: dict[str, dict] = {}
    frame = None
    for name, (plan, _) in plans.items():
        out = resolved.analysis_dir(name)
        reused = None
        # the folder may have held another run's fits (of the same spec): there a fit names its run; in the
        # run itself its place says it
        for old, own in ((resolved.fit_path(name), False), (run.analysis_dir(name) / "result.json", True)):
            if old.is_file():
                try:
                    doc = json.loads(old.read_text())
                except (OSError, json.JSONDecodeError):
                    doc = {}
                fitted_on = doc.get("input", {})
                same = doc.get("plan_hash") == plan.hash and fitted_on.get("spec_hash") == spec_hash
                same = same and (own or fitted_on.get("path") == str(run.path))
                vouched = not (known or {}).get(name) or file_sha256(old) in known[name]
                if same and vouched:
                    reused = (old, doc)
                    break
        if reused is not None:
            resolved.keep_fit(name, reused[0].parent)
            fits[name] = reused[1]
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
    run_dir: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    plan_paths: Iterable[str | os.PathLike] | None = None,
    allow_late: bool = False,
    include_unregistered: bool = False,
    device: str = "cpu",
) -> Path:
    """Evaluate every auto question of `predictions_dir` on the runs in `run_dir` (one directory or
    several: the first is the primary run, on which analysis plans are fitted; a family of edits is read
    from the run of that family, a probe plan from the first run recording its layer); append the
    resolution events to the lock, then write and return OUT/resolutions.yaml. The runs are only read:
    the fits, probe plan results and pictures go into `out` too (ResolvedDir.default(first run) is where
    the CLI writes without --out), which must not be inside a run directory given. `plan_paths`: plan
    files used instead of analysis/<name>.yaml for the plans they name. Raises IntegrityError naming every
    auto question or forecast on one that is not registered as it is now (unless `include_unregistered`:
    then they are resolved too and scored apart later) and for a damaged lock; MazeprobeError naming each
    late item unless `allow_late`. `device` (mazeprobe.devices): where a probe plan's random-weight
    control network runs."""
    from mazeprobe.registry.items.load import default_analysis_dir, load_registry

    root = Path(predictions_dir)
    given = [run_dir] if isinstance(run_dir, str | os.PathLike) else list(run_dir)
    runs = [RunDir(Path(r).resolve()) for r in given]
    if not runs:
        raise UsageError("no run given: resolve reads at least one complete run directory")
    twice = [str(r.path) for i, r in enumerate(runs) if r.path in [x.path for x in runs[:i]]]
    if twice:
        raise UsageError(f"the run {twice[0]} is given twice")
    manifests = [r.require_complete() for r in runs]
    run, manifest = runs[0], manifests[0]
    resolved = ResolvedDir(Path(out).resolve())
    inside = [r for r in runs if r.path == resolved.path or r.path in resolved.path.parents]
    if inside:
        raise UsageError(
            f"the output folder {out} is inside the run {inside[0].path}: resolve reads runs and writes only "
            f"into a folder of its own (e.g. {ResolvedDir.default(run.path).path})"
        )
    # the registry is shown these runs now, whatever happens next (a refusal included): their designs are
    # dated in the lock first, so re-running one into a new directory cannot make a late item timely
    ledger = record_shown(root, Ledger.load(root), shown_runs(runs, manifests), "resolve")
    registry = load_registry(root)
    questions = sorted(
        (q for q in registry.questions.values() if q.resolution.get("method") == "auto"),
        key=lambda q: (str(q.file), q.line),
    )
    if not questions:
        raise UsageError(f"{root}: no question has an auto resolution; nothing to resolve from a run")
    qids = {q.id for q in questions}
    forecasts = [f for f in registry.forecasts if f.question in qids]
    untrusted = item_problems(ledger, questions, forecasts)
    if not include_unregistered:
        refuse(list(untrusted.values()), "nothing resolved")
    analysis_dir = default_analysis_dir(root)
    cache: dict[str, Source] = {}
    sources = {
        q.id: gather(q.resolution, runs, analysis_dir.parent, analysis_dir, resolved, cache, device)
        for q in questions
    }
    checkpoints = [
        Shown(d, s.run or "", s.started_at, dict(s.hashes))
        for s in cache.values()
        if s.key.startswith(CHECKPOINT) and "sha256" in s.value
        for d in s.designs
    ]
    ledger = record_shown(root, ledger, checkpoints, "resolve")
    designs = _designs(questions, sources, manifest)
    found = _evidence(questions, sources, run, manifest)
    late = _late_items(ledger, questions, forecasts, found, designs)
    if late and not allow_late:
        raise MazeprobeError(
            f"{len(late)} item(s) on questions resolved here were registered after the first evidence for "
            "their question:\n"
            + "\n".join(f"  {why}" for _, why in late)
            + "\nregister forecasts and questions before running the experiment, or pass --allow-late to "
            "accept them (they are then marked late)"
        )
    names = list(dict.fromkeys(n for q in questions for n in plan_names(q.resolution)))
    plans = _load_plans(names, analysis_dir, plan_paths or [])
    known: dict[str, set] = {}
    for e in ledger.events():
        if e.content.get("spec_hash") == manifest.spec_hash:
            for name, sha in (e.content.get("fits") or {}).items():
                known.setdefault(name, set()).add(sha)
    fits = _fit_all(plans, run, resolved, manifest.spec_hash, known)

    entries, events = {}, {}
    resolved_at = utc_stamp()
    for q in _in_order(questions):
        res = q.resolution
        here = {**fits, **{k: s.value for k, s in sources[q.id].items()}}
        here |= {question_key(d): {"outcome": entries[d]["outcome"]} for d in depends_on(res) if d in entries}
        result = evaluate(res, here)
        entries[q.id] = _entry(q, result, plans, sources[q.id])
        entries[q.id] |= draw_picture(res, result.numbers, sources[q.id], resolved.pictures_dir) or {}
        source = next(iter(sources[q.id].values()), None)
        event = {
            "question": q.id,
            "question_sha256": content_hash(question_ref(q)[1]),
            "run": str(run.path) if source is None else source.run,
            "spec_hash": manifest.spec_hash if source is None else source.spec_hash,
            "run_started_at": manifest.started_at if source is None else source.started_at,
            "outcome": result.outcome,
            "evidence": result.evidence,  # what decided it, kept with the outcome when the rule later changes
            "fits": fit_hashes(resolved, plan_names(res)),
            "rules_version": RULES_VERSION,
            "resolved_at": resolved_at,
        }
        if sources[q.id]:
            event["sources"] = {k: dict(s.hashes) for k, s in sources[q.id].items()}
        if depends_on(res):  # read from other questions: dated by the earliest of their evidence
            outcomes = {d: entries[d]["outcome"] for d in depends_on(res) if d in entries}
            stamp = utc_stamp(found[q.id].time)
            event |= {"run": None, "spec_hash": None, "run_started_at": stamp, "depends": outcomes}
        events[q.id] = event
    order = [q.id for q in questions]
    # the evidence is registered before the results are written: a crash in between leaves a lock that
    # dates the run (safe), never a resolutions file the lock does not know
    append_items(root, _new_events(ledger, [events[i] for i in order]))
    doc = {
        "run": str(run.path),
        "out": str(resolved.path),
        "run_spec_hash": manifest.spec_hash,
        "run_started_at": manifest.started_at,
        "resolved_at": resolved_at,
        "predictions": str(root.resolve()),
        "runs": [run_summary(r, m) for r, m in zip(runs, manifests, strict=True)] + _checkpoints(cache),
        "late": [item for item, _ in late],
        "resolutions": [entries[i] for i in order],
    }
    path = resolved.resolutions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# written by `mazeprobe resolve`; do not edit (run it again)\n"
    text += yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=4096)  # one line each
    write_bytes(path, text.encode("utf-8"))
    return path


def _in_order(questions: list[Question]) -> list[Question]:
    """Questions that read other questions' outcomes (none-of) after those questions."""
    done: list[Question] = []
    left = list(questions)
    ids = {q.id for q in questions}
    while left:
        ready = [
            q
            for q in left
            if all(d in {x.id for x in done} or d not in ids for d in depends_on(q.resolution))
        ]
        if not ready:  # a cycle: evaluate the rest as they are (their dependencies read as unresolved)
            ready = left
        done += ready
        left = [q for q in left if q not in ready]
    return done


def _evidence(
    questions: list[Question], sources: dict, run: RunDir, manifest: Manifest
) -> dict[str, Evidence]:
    """Question id -> when this resolution's evidence began: the start of each source it reads (a run of
    its family, the run a probe plan read, a fine-tune), else the primary run's; a question that reads
    other questions, the earliest of theirs. A source that could not be found dates from now."""
    now = datetime.now(UTC)
    primary = Evidence(min(run.started_at(), now), f"run {run.path} began {manifest.started_at}")
    out: dict[str, Evidence] = {}
    for q in _in_order(questions):
        found = []
        for s in sources[q.id].values():
            start = parse_time(s.started_at) if s.started_at else None
            if start is not None:
                found.append(Evidence(min(start, now), f"{s.run} began {s.started_at}"))
        found += [out[d] for d in depends_on(q.resolution) if d in out]
        if not sources[q.id] and not depends_on(q.resolution):
            found.append(primary)
        out[q.id] = earliest(*found) or Evidence(now, "nothing before this resolution")
    return out


def _entry(q: Question, result, plans: dict, sources: Mapping[str, Source]) -> dict:
    """The line of resolutions.yaml for one question: the registered rule as written, what it read
    (plans with their hashes, or sources with their runs and files) and the numbers that decided it."""
    res = q.resolution
    entry: dict = {"question": q.id, "outcome": result.outcome, "method": "auto"}
    if plan_names(res) or not (sources or depends_on(res)):
        analysis = res.get("analysis")
        entry |= {
            "analysis": analysis,
            "analysis_hash": plans[analysis][0].hash if analysis in plans else None,
            "model": res.get("model"),
            "quantity": res.get("quantity"),
        }
    entry["rule"] = res["rule"]
    entry |= {
        k: v for k, v in res.items() if k not in ("method", "analysis", "model", "quantity", "rule", "rules")
    }
    if res.get("rules"):
        entry["rules"] = [_sub_entry(sub, res.get("analysis"), plans) for sub in res["rules"]]
    if sources:
        entry["sources"] = {k: source_numbers(s) for k, s in sources.items()}
    entry |= {"numbers": result.numbers, "evidence": result.evidence, "reason": result.reason}
    return entry


def run_summary(run: RunDir, manifest: Manifest) -> dict:
    """What a resolutions file and the report say about a run it read: spec name and hash, network,
    mazes and dates."""
    return {
        "run": str(run.path),
        "name": manifest.name,
        "spec_file": manifest.spec_file,
        "spec_hash": manifest.spec_hash,
        "network": manifest.policy.network,
        "network_sha256": manifest.policy.sha256,
        "n_mazes": manifest.n_mazes,
        "started_at": manifest.started_at,
        "ended_at": manifest.ended_at,
    }


def _checkpoints(cache: Mapping[str, Source]) -> list[dict]:
    """The fine-tuned checkpoints the resolutions read, as entries of `runs`."""
    return [
        {"checkpoint": s.run, "network_sha256": s.value.get("sha256"), "started_at": s.started_at,
         "trained_at": s.value.get("trained_at")}  # fmt: skip
        for key, s in cache.items()
        if key.startswith(CHECKPOINT) and s.value.get("sha256")
    ]


def _designs(questions: list[Question], sources: dict, manifest: Manifest) -> dict[str, list[str]]:
    """Question id -> the designs its resolution reads now (mazeprobe.registry.resolution.designs): the
    primary run's spec for a plan, each source's run spec, family or checkpoint, and those of the questions
    it reads."""
    out: dict[str, list[str]] = {}
    for q in _in_order(questions):
        res = q.resolution
        found: list[str] = []
        if plan_names(res) or not (sources[q.id] or depends_on(res)):
            found += run_designs(manifest)
        for s in sources[q.id].values():
            found += s.designs
        for d in depends_on(res):
            found += out.get(d, [])
        out[q.id] = list(dict.fromkeys(found))
    return out


def _late_items(
    ledger: Ledger,
    questions: list[Question],
    forecasts: list[Forecast],
    found: Mapping[str, Evidence],
    designs: Mapping[str, list[str]],
) -> list[tuple[str, str]]:
    """(item id, why) for every registered question or forecast registered after the first evidence for
    its question (mazeprobe.registry.items.trust): a question's rule against the first evidence of the designs
    it reads now; a forecast also against every earlier resolution of its question."""
    out = []
    for q in questions:
        rule_evidence = earliest(ledger.design_evidence(designs[q.id]), found[q.id])
        forecast_evidence = earliest(ledger.first_evidence(q.id), rule_evidence)
        refs = [(question_ref(q), rule_evidence)]
        refs += [(forecast_ref(f), forecast_evidence) for f in forecasts if f.question == q.id]
        for (item, content, _, _), evidence in refs:
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
