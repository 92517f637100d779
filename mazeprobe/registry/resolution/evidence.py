"""Where the model-editing rules (mazeprobe.registry.rules.editing) find their evidence, and how it is
pinned: a run of a registered family of edits, a probe plan's result on a run, a fine-tuned checkpoint's
record and evaluation. Fitted plans are the other kind of evidence (mazeprobe.registry.resolution.resolve).

Each source is read into a Source: the value the rule reads (under its key in `fits`, e.g.
"family:model-editing"), where it came from (a run directory, or the checkpoint), when that evidence
began (the run's start, or the fine-tune's) and the sha256 of every file it was read from. resolve
records the hashes with the outcome and in the lock's resolution event; the proof reads the same files
again (never computing anything) and accepts the outcome only when the hashes and the rule agree.

    sources = gather(resolution, runs, repo_root, analysis_dir, resolved, cache)   # resolve: may run a probe
    source = reread(key, entry_run, repo_root, analysis_dir, folder)               # the proof
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from mazeprobe.atomic import write_bytes
from mazeprobe.experiments.manifest import Manifest
from mazeprobe.experiments.rundir import RunDir, RunError
from mazeprobe.provenance import file_sha256, sha256_if_present, utc_stamp
from mazeprobe.registry.resolution.resolved import ResolvedDir
from mazeprobe.registry.rules.editing import CHECKPOINT, FAMILY, PROBE, QUESTION
from mazeprobe.registry.rules.fitted import RULE_REGISTRY


@dataclass(frozen=True)
class Source:
    key: str
    """Where the rule finds it in `fits`: family:NAME, probe:NAME or checkpoint:PATH."""
    value: dict
    """What the rule reads, or {"error": message}."""
    run: str | None = None
    """The run directory it was read from (for a checkpoint: the checkpoint's path)."""
    spec_hash: str | None = None
    started_at: str | None = None
    """When this evidence began: the run's start, or the fine-tune's (UTC)."""
    hashes: dict[str, str | None] = field(default_factory=dict)
    """File -> sha256 (None: absent), relative to the run for a family's tables, to the resolved folder
    (mazeprobe.registry.resolution.resolved) for a probe plan's result, to the repository for a checkpoint."""
    network: dict | None = None
    """The network the evidence is about: {network, network_sha256} (run_network); for a fine-tuned
    checkpoint, the network it was fine-tuned from (the question is about what fine-tuning does to it)."""
    designs: tuple[str, ...] = ()
    """The designs it is a result of (mazeprobe.registry.resolution.designs): what dates a question read from
    it."""


def run_network(manifest: Manifest) -> dict:
    """{network, network_sha256} of a run: its checkpoint's path (or built-in agent's name) and sha256."""
    return {"network": manifest.policy.network, "network_sha256": manifest.policy.sha256}


def _each_rule(res: Mapping) -> Iterator[Mapping]:
    """A resolution and every sub-rule under it (all-of / any-of), depth first."""
    yield res
    for sub in res.get("rules") or []:
        if isinstance(sub, Mapping):
            yield from _each_rule(sub)


def _source_fields() -> dict[str, str]:
    """Each key that names a source, with the prefix of its key in `fits`, as the rules declare them. A
    mapping may give any rule's keys, and a source it names is read whichever rule it is on."""
    return {name: prefix for rule in RULE_REGISTRY.values() for name, prefix in rule.sources.items()}


def source_keys(res: Mapping) -> list[str]:
    """The keys in `fits` a resolution (and its sub-rules) reads besides fitted plans, in order."""
    keys: list[str] = []
    fields = _source_fields()
    for r in _each_rule(res):
        for field_name, prefix in fields.items():
            if isinstance(r.get(field_name), str):
                keys.append(prefix + r[field_name])
    return list(dict.fromkeys(keys))


def depends_on(res: Mapping) -> list[str]:
    """The questions whose outcomes a resolution reads (rule none-of), in order."""
    return list(
        dict.fromkeys(q for r in _each_rule(res) for q in r.get("questions") or [] if isinstance(q, str))
    )


def question_key(qid: str) -> str:
    return QUESTION + qid


def _family_hashes(res: Mapping) -> dict[str, str]:
    """family name -> registered hash, over a resolution and its sub-rules."""
    return {
        r["family"]: str(r.get("family_hash")) for r in _each_rule(res) if isinstance(r.get("family"), str)
    }


def gather(
    res: Mapping,
    runs: Sequence[RunDir],
    repo: Path,
    analysis_dir: Path,
    resolved: ResolvedDir,
    cache: dict[str, Source],
    device: str = "cpu",
) -> dict[str, Source]:
    """Every source a resolution reads, found among `runs` (in order; a probe plan is run on the first
    run that records its layer and its result kept in `resolved`'s probes/) or in the repository; `cache`
    holds the sources gathered for earlier questions. `device`: where a probe plan's random-weight network
    runs."""
    wanted = _family_hashes(res)
    out = {}
    for key in source_keys(res):
        cached = key if not key.startswith(FAMILY) else f"{key}@{wanted[key[len(FAMILY) :]]}"
        if cached not in cache:
            cache[cached] = _gather_one(key, wanted, runs, repo, analysis_dir, resolved, device)
        out[key] = cache[cached]
    return out


def _gather_one(
    key: str,
    wanted: dict,
    runs: Sequence[RunDir],
    repo: Path,
    analysis_dir: Path,
    resolved: ResolvedDir,
    device: str = "cpu",
) -> Source:
    if key.startswith(FAMILY):
        name = key[len(FAMILY) :]
        return _family_source(key, name, wanted[name], runs)
    if key.startswith(PROBE):
        name = key[len(PROBE) :]
        return _probe_source(key, name, runs, analysis_dir, resolved, compute=True, device=device)
    return _checkpoint_source(key, repo)


def reread(key: str, run: str | None, repo: Path, analysis_dir: Path, folder: str | None = None) -> Source:
    """The source `key` read again from the run an entry names (the proof): nothing is computed. `folder`:
    the resolved folder the entry's file names (`out:`), where a probe plan's result was kept; None for a
    file written before resolve had one, which kept it in the run itself."""
    if key.startswith(CHECKPOINT):
        return _checkpoint_source(key, repo)
    if not run:
        return Source(key, {"error": "the entry names no run"})
    rundir = RunDir(Path(run))
    if key.startswith(FAMILY):
        return _family_source(key, key[len(FAMILY) :], None, [rundir])
    resolved = ResolvedDir(folder if folder else rundir.path)
    return _probe_source(key, key[len(PROBE) :], [rundir], analysis_dir, resolved, compute=False)


# --- a family of edits ----------------------------------------------------------------------------------


def _manifest(run: RunDir) -> Manifest | None:
    try:
        return run.require_complete()
    except RunError:
        return None


def _family_source(key: str, name: str, wanted_hash: str | None, runs: Sequence[RunDir]) -> Source:
    """The first complete run whose spec's family of edits hashes to `wanted_hash` (None: the first run
    with interventions, whatever its hash: the rule compares the value's family_hash with the registered
    one, so a proof of another family's run fails there)."""
    from mazeprobe.experiments.intervention_spec import family_hash

    seen = []
    for run in runs:
        manifest = _manifest(run)
        if manifest is None or not manifest.has_interventions:
            continue
        found = family_hash(manifest.spec)  # of the content the run recorded, as registered
        if wanted_hash is not None and found != wanted_hash:
            seen.append(f"{run.path} ({found[:12]})")
            continue
        spec = manifest.experiment
        hashes = {RunDir.INTERVENTIONS: sha256_if_present(run.interventions_path)}
        hashes[RunDir.RETARGETING] = sha256_if_present(run.retargeting_path)
        value = {
            "run": str(run.path),
            "family_hash": found,
            "interventions": run.interventions(),
            "retargeting": run.retargeting() if spec.retargeting is not None else None,
            "members": {i.id: i.per_target for i in spec.interventions},
        }
        return _from_run(key, value, run, manifest, hashes)
    hint = f"; runs with other families of edits: {', '.join(seen)}" if seen else ""
    what = f"family {name} (hash {wanted_hash[:12]})" if wanted_hash else f"family {name}"
    return Source(key, {"error": f"no complete run of the {what} was given{hint}"})


def _from_run(key: str, value: dict, run: RunDir, manifest: Manifest, hashes: dict) -> Source:
    from mazeprobe.registry.resolution.designs import run_designs

    spec_hash, started = manifest.spec_hash, manifest.started_at
    designs = tuple(run_designs(manifest))
    return Source(key, value, str(run.path), spec_hash, started, hashes, run_network(manifest), designs)


# --- a probe plan ---------------------------------------------------------------------------------------


def _records(manifest: Manifest, layer: str) -> bool:
    return layer in manifest.activation_layers


def _probe_source(
    key: str,
    name: str,
    runs: Sequence[RunDir],
    analysis_dir: Path,
    resolved: ResolvedDir,
    compute: bool,
    device: str = "cpu",
) -> Source:
    """The probe plan's result on the first run recording its layer, kept in resolved/probes/<plan>.json:
    reused when it is of this plan (hash) and run (spec hash). Otherwise, when `compute`: one kept in the
    run itself by an earlier resolve (RUN_DIR/probes/<plan>.json) is copied when it is of this plan and
    run (it took minutes to compute), else the plan is run and its result saved."""
    from mazeprobe.experiments.inputs import TooFewRecorded, probe_inputs
    from mazeprobe.stats.errors import FitError
    from mazeprobe.stats.probes.plan import load_probe_plan
    from mazeprobe.stats.probes.run import plan_request, plan_result
    from mazeprobe.yamlio import SpecError

    try:
        plan = load_probe_plan(analysis_dir / f"{name}.yaml")
    except SpecError as exc:
        return Source(key, {"error": str(exc).splitlines()[0]})
    for run in runs:
        manifest = _manifest(run)
        if manifest is None or not _records(manifest, plan.layer):
            continue
        if plan.run is not None and manifest.name != plan.run:
            continue
        path = resolved.probe_path(name)
        doc = _read_json(path)
        spec_hash = manifest.spec_hash
        # the folder may have held another run's result (of the same spec): there it names its run
        if compute and not (
            _of(doc, plan.hash, spec_hash) and resolved.probe_run(name, doc) == str(run.path)
        ):
            old = ResolvedDir(run.path).probe_path(name)  # where a resolve before --out kept it
            old_doc = _read_json(old)
            if _of(old_doc, plan.hash, spec_hash):
                resolved.keep_probe(name, old, run.path)
            doc = old_doc if _of(old_doc, plan.hash, spec_hash) else None
        if not _of(doc, plan.hash, spec_hash):
            if not compute:
                why = "missing" if doc is None else "not of this plan and run"
                return Source(key, {"error": f"{path} is {why}"}, str(run.path))
            try:
                result = plan_result(probe_inputs(run, plan_request(plan), device=device), plan).to_dict()
            except (FitError, TooFewRecorded) as exc:  # a learning curve longer than the run: unresolved
                return Source(key, {"error": str(exc)}, str(run.path))
            doc = {"plan": name, "plan_hash": plan.hash, "spec_hash": spec_hash, "run": str(run.path),
                   "computed_at": utc_stamp(), "result": result}  # fmt: skip
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(path, (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode())
        value = {**doc["result"], "plan_hash": plan.hash, "run": str(run.path)}
        hashes = {resolved.probe_name(name): file_sha256(path)}
        return _from_run(key, value, run, manifest, hashes)
    given = ", ".join(str(r.path) for r in runs) or "none"
    named = f"named {plan.run} " if plan.run is not None else ""
    return Source(key, {"error": f"no complete run {named}given records {plan.layer} (runs: {given})"})


def _of(doc: dict | None, plan_hash: str, spec_hash: str) -> bool:
    """A saved probe plan result of this plan (hash) on this run (spec hash)."""
    return bool(doc) and doc.get("plan_hash") == plan_hash and doc.get("spec_hash") == spec_hash


def _read_json(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


# --- a fine-tuned checkpoint ----------------------------------------------------------------------------


def _checkpoint_source(key: str, repo: Path) -> Source:
    """The checkpoint's sha256, its fine-tune record (NAME.train.json `init`) and its evaluation on the
    test suite (NAME.evaluation.json, which must be of this checkpoint). Dated by the evaluation's start:
    a fine-tuned network evaluated on new mazes is new evidence (its design: the checkpoint and the
    evaluation's seed)."""
    from mazeprobe.training.config import evaluation_path, training_record_path

    rel = key[len(CHECKPOINT) :]
    path = repo / rel
    if not path.is_file():
        return Source(key, {"error": f"no checkpoint {rel} (make finetune writes it)"}, rel)
    sha = file_sha256(path)
    record_file, eval_file = training_record_path(path), evaluation_path(path)
    hashes = {rel: sha, str(Path(rel).with_suffix(".train.json")): sha256_if_present(record_file)}
    hashes[str(Path(rel).with_suffix(".evaluation.json"))] = sha256_if_present(eval_file)
    record, evaluation = _read_json(record_file), _read_json(eval_file)
    started = _training_start(path, record)
    base = {"sha256": sha, "checkpoint": rel}
    if record is None:
        value = {**base, "error": f"{record_file} is missing or not JSON"}
        return Source(key, value, rel, None, started, hashes)
    init = record.get("init") or {}
    value = {**base, "budget_fraction": init.get("budget_fraction"), "init": init.get("checkpoint"),
             "samples": record.get("samples"), "finished": record.get("finished")}  # fmt: skip
    network = {"network": init.get("checkpoint"), "network_sha256": init.get("sha256")}
    if record.get("finished") is False:
        value["error"] = f"{rel}: the fine-tune is not finished ({record.get('samples'):,} samples so far)"
    elif evaluation is None:
        value["error"] = f"{eval_file} is missing (mazeprobe evaluate {rel})"
    elif evaluation.get("checkpoint_sha256") != sha:
        value["error"] = f"{eval_file} is not an evaluation of this checkpoint (its sha256 differs)"
    else:
        # the outcome is read from this evaluation: its evidence began when the evaluation did (an
        # evaluation written before evaluations recorded their start: when the training began)
        started = evaluation.get("started_at") or started
        value["trained_at"] = _training_start(path, record)
        suites = evaluation.get("suites") or {}
        value["test"] = suites.get("test/sample")
        # evaluations from before the uniform suite lack it: None here, and only a rule reading the
        # cheese rate relative to it (fine-tune's relative_to) is unresolved for want of it
        value["uniform"] = suites.get("uniform/sample")
        value["evaluation"] = str(Path(rel).with_suffix(".evaluation.json"))
        if value["test"] is None:
            value["error"] = f"{eval_file} has no test/sample suite"
    return Source(key, value, rel, None, started, hashes, network, (_evaluation_design(sha, evaluation),))


def _evaluation_design(sha: str, evaluation: dict | None) -> str:
    """What a fine-tune outcome is a result of: this network evaluated on these mazes (an evaluation's
    seed; one written before evaluations recorded it used the built-in seed)."""
    from mazeprobe.training.evaluate import EVAL_SEED

    return f"checkpoint:{sha}:evaluation-seed:{(evaluation or {}).get('seed', EVAL_SEED)}"


def _training_start(path: Path, record: dict | None) -> str | None:
    """When the fine-tune began: its record's started_at, else (conservatively early) the checkpoint's
    modification time less the training's wall time."""
    if record and isinstance(record.get("started_at"), str):
        return record["started_at"]
    if not path.is_file():
        return None
    end = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    wall = record.get("wall_seconds") if record else None
    return utc_stamp(end - timedelta(seconds=float(wall or 0)))


def source_numbers(source: Source) -> dict[str, Any]:
    """What an entry of resolutions.yaml records about a source: its run, spec hash, start and files."""
    return {"run": source.run, "spec_hash": source.spec_hash, "started_at": source.started_at,
            "files": dict(source.hashes)}  # fmt: skip


# --- a picture beside the outcome -------------------------------------------------------------------------


def draw_picture(res: Mapping, numbers: Mapping, sources: Mapping[str, Source], out_dir: Path) -> dict | None:
    """For an outcome with a chosen edit whose rule declares a picture (patch-reduce: `edit`, retarget:
    `retargeting`): one small picture of it, drawn from the family's run into out_dir (named after the
    family, edit and maze, so questions sharing it share the file). Returns {picture: path relative to
    out_dir's parent, picture_caption}; None when there is nothing to draw. A drawing that fails is left
    out (the outcome does not depend on it)."""
    from mazeprobe.errors import MazeprobeError
    from mazeprobe.experiments.pictures import edit_picture, retargeting_picture

    rule, chosen = res.get("rule"), numbers.get("chosen")
    picture = RULE_REGISTRY[rule].picture if isinstance(rule, str) and rule in RULE_REGISTRY else None
    source = sources.get(FAMILY + str(res.get("family")))
    if picture is None or not chosen or source is None or "error" in source.value:
        return None
    run = source.value["run"]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if picture == "retargeting":
            path = out_dir / f"{res['family']}-{chosen}-retargeting.png"
            if not path.is_file():
                retargeting_picture(run, chosen, path)
            caption = (
                f"Where the agent went with {chosen} aimed at each maze's targets (right) and without "
                "(left): each square of the 25 x 25 world holding targets, coloured by the share reached "
                "(white none, dark green all; grey no target); every maze of the run, row 0 at the bottom."
            )
        else:
            seed = _telling_maze(source.value["interventions"], chosen, int(res.get("split_seed", 0)))
            path = out_dir / f"{res['family']}-{chosen}-seed{seed}.png"
            if not path.is_file():
                edit_picture(run, chosen, seed, path)
            caption = (
                f"The vector field of level seed {seed} (a confirmation maze where the unedited network "
                f"got the cheese and the edited one did not, when there is one): original | {chosen} | "
                "difference."
            )
    except (MazeprobeError, OSError, KeyError, ValueError) as exc:
        return {"picture_error": f"{type(exc).__name__}: {exc}"}
    return {"picture": str(path.relative_to(out_dir.parent)), "picture_caption": caption}


def _telling_maze(table, chosen: str, split_seed: int) -> int:
    """The first confirmation-half maze (by level seed) where the unedited network got the cheese and
    the edited one did not; else the first confirmation maze."""
    from mazeprobe.stats.editing import selection_half

    seeds = sorted(int(s) for s in table.loc[table["intervention"] == "none", "seed"])
    confirm = [
        s for s, sel in zip(seeds, selection_half(np.asarray(seeds), split_seed), strict=True) if not sel
    ]
    got = table.pivot_table(index="seed", columns="intervention", values="got_cheese")
    for s in confirm:
        if s in got.index and got.at[s, "none"] > 0.5 and got.at[s, chosen] < 0.5:
            return s
    return confirm[0] if confirm else seeds[0]
