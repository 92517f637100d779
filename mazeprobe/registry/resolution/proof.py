"""Automatic resolutions prove themselves: an outcome is accepted only when its run and fit reproduce it.

For each entry of a resolutions.yaml that resolve wrote (into its folder, OUT, which the file names as
`out:`; a file written before resolve had a folder of its own names none, and its OUT is its run directory:
mazeprobe.registry.resolution.resolved):

1. the run directory exists and is complete, and its manifest's spec_hash is the file's run_spec_hash;
2. every plan the question's registered rule reads has its fit in OUT/analyses/<plan>/result.json,
   whose plan_hash is the entry's analysis_hash and whose input.spec_hash is the run's;
3. evaluating the registered rule (mazeprobe.registry.rules.fitted.evaluate) on those fits gives the entry's
   outcome. The table then shows the recomputed numbers and evidence, never the file's own text;
4. the lock holds a resolution event for this question, run spec and outcome whose recorded fit hashes
   are the fits' current ones (resolve appends it). Without one the resolution is unregistered.

A rule that reads model-editing evidence (mazeprobe.registry.resolution.evidence: a family run's tables, a
probe plan's result, a fine-tuned checkpoint) is proven the same way from the entry's `sources`: each is read
again from the run (or checkpoint) it names (a probe plan's result from OUT/probes/), its files must hash as
recorded, the rule on them must give
the outcome, and the lock must hold an event with those files' hashes. A rule that reads other
questions (none-of) is proven from their proven outcomes.

A failure of 1-3 is always refused (the file is not what resolve wrote for this run); 4 is refused unless
unregistered items are included, marked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from mazeprobe.experiments.manifest import Manifest
from mazeprobe.experiments.rundir import RunDir, RunError
from mazeprobe.provenance import sha256_if_present
from mazeprobe.registry.items.model import Problem, Question, Resolution
from mazeprobe.registry.items.trust import Evidence, Ledger, earliest, parse_time
from mazeprobe.registry.resolution.designs import run_designs
from mazeprobe.registry.resolution.evidence import depends_on, question_key, reread, run_network, source_keys
from mazeprobe.registry.resolution.resolved import ResolvedDir
from mazeprobe.registry.rules.fitted import evaluate


def plan_names(res: Mapping, inherited: str | None = None) -> list[str]:
    """Every analysis plan a resolution (and its sub-rules) reads, in order, without repeats."""
    analysis = res.get("analysis", inherited)
    if res.get("rules"):
        return list(dict.fromkeys(n for sub in res["rules"] for n in plan_names(sub, analysis)))
    return [analysis] if analysis else []


def _hashes(entry: Mapping, inherited: str | None = None) -> dict[str, object]:
    """plan name -> the analysis_hash an entry (and its sub-rules) records for it."""
    analysis = entry.get("analysis", inherited)
    out: dict[str, object] = {}
    if analysis and entry.get("analysis_hash") is not None:
        out[analysis] = entry["analysis_hash"]
    for sub in entry.get("rules") or []:
        if isinstance(sub, Mapping):
            out |= _hashes(sub, analysis)
    return out


def fit_hashes(resolved: ResolvedDir, plans: list[str]) -> dict[str, str | None]:
    """plan -> sha256 of OUT/analyses/<plan>/result.json (None when there is none: a plan that could not
    be fitted), as resolution events record them."""
    return {name: sha256_if_present(resolved.fit_path(name)) for name in plans}


def resolved_folder(r: Resolution) -> ResolvedDir:
    """The folder resolve wrote an auto resolution's file into: its `out:`, else (a file written before
    resolve had a folder of its own) its run directory."""
    info = r.run or {}
    return ResolvedDir(Path(str(info.get("out") or info.get("run"))))


@dataclass
class Proof:
    resolutions: list[Resolution] = field(default_factory=list)
    """Every resolution given; auto ones with the recomputed numbers, evidence and reason."""
    refused: list[Problem] = field(default_factory=list)
    """Auto resolutions their run does not reproduce: always refused."""
    unregistered: dict[str, Problem] = field(default_factory=dict)
    """Question id -> why its auto resolution has no resolution event in the lock."""
    evidence: dict[str, Evidence] = field(default_factory=dict)
    """Question id -> the run start of an unregistered auto resolution (lateness still counts it)."""
    designs: dict[str, list[str]] = field(default_factory=dict)
    """Question id -> the designs its proven auto resolution was read from
    (mazeprobe.registry.resolution.designs)."""
    networks: dict[str, dict] = field(default_factory=dict)
    """Question id -> {network, network_sha256} its proven auto resolution is about, read from the runs
    themselves (a question that reads others: theirs when they agree, else network_sha256 None)."""


def prove(resolutions: list[Resolution], questions: Mapping[str, Question], ledger: Ledger) -> Proof:
    """Check every automatic resolution against its run, its fits and sources and the lock (module doc);
    manual ones pass through (their registration is checked with the other items). A resolution that
    reads other questions' outcomes (none-of) is proven after them, from their proven outcomes."""
    out = Proof()
    outcomes: dict[str, str] = {}
    proven: dict[int, Resolution] = {}
    reads_others = [i for i, r in enumerate(resolutions) if _reads_questions(r, questions)]
    for i in [i for i in range(len(resolutions)) if i not in reads_others] + reads_others:
        r = resolutions[i]
        if r.method != "auto" or r.question not in questions:
            proven[i] = r
            continue
        result = _prove_one(r, questions[r.question], ledger, out, outcomes)
        if result is not None:
            outcomes[r.question] = str(result.outcome)
        proven[i] = result or r
    out.resolutions = [proven[i] for i in range(len(resolutions))]
    return out


def _reads_questions(r: Resolution, questions: Mapping[str, Question]) -> bool:
    q = questions.get(r.question)
    return r.method == "auto" and q is not None and bool(depends_on(q.resolution))


def _prove_one(
    r: Resolution, q: Question, ledger: Ledger, out: Proof, outcomes: Mapping[str, str]
) -> Resolution | None:
    def refuse(why: str) -> None:
        out.refused.append(
            Problem(r.file, r.line, 1, f"resolution of {r.question}: {why}; not scored (resolve it again)")
        )

    rule = q.resolution
    plans, keys, deps = plan_names(rule), source_keys(rule), depends_on(rule)
    fits: dict[str, dict] = {}
    spec_hash: object = None
    run: RunDir | None = None
    manifest: Manifest | None = None
    folder = resolved_folder(r)
    if plans or not (keys or deps):
        checked = _plan_fits(r, plans, folder, refuse)
        if checked is None:
            return None
        run, manifest, fits = checked
        spec_hash = manifest.spec_hash
    recorded = r.raw.get("sources") or {}
    starts = []
    designs: list[str] = run_designs(manifest) if manifest is not None else []
    networks: list[dict] = [run_network(manifest)] if manifest is not None else []
    for key in keys:
        rec = recorded.get(key) if isinstance(recorded, Mapping) else None
        if not isinstance(rec, Mapping):
            refuse(f"it names no source {key} (`sources:`): an automatic outcome names what it read")
            return None
        analysis_dir = _analysis_dir(ledger)
        out_dir = (r.run or {}).get("out")  # a file from before resolve had a folder: none (the run's own)
        source = reread(key, rec.get("run"), analysis_dir.parent, analysis_dir, out_dir)
        if source.hashes != (rec.get("files") or {}):
            refuse(f"{key}: the files it was read from ({source.run}) changed since it was resolved")
            return None
        fits[key] = source.value
        starts.append((source.started_at, f"{source.run} began {source.started_at}"))
        designs += source.designs
        networks += [source.network] if source.network else []
    for d in deps:
        fits[question_key(d)] = {"outcome": outcomes.get(d, "unresolved")}
        designs += out.designs.get(d, [])
        networks += [out.networks[d]] if d in out.networks else []
    result = evaluate(rule, fits)
    if result.outcome != r.outcome:
        where = f"the fits in {folder.path / folder.ANALYSES}" if run is not None else "what it read"
        refuse(
            f"the file says {r.outcome}, but the registered rule ({rule.get('rule')}) on {where} gives "
            f"{result.outcome}"
        )
        return None
    hashes = fit_hashes(folder, plans) if run is not None else {}
    sources = {k: dict((recorded[k] or {}).get("files") or {}) for k in keys}
    if not _registered(ledger, r, spec_hash if run is not None else None, hashes, sources):
        what = f"run ({run.path})" if run is not None else "evidence"
        out.unregistered[r.question] = Problem(
            r.file,
            r.line,
            1,
            f"resolution:{r.question}: no resolution event in {ledger.root / 'registry.lock'} for this "
            f"{what}, outcome and fit: it was not written by `mazeprobe resolve`, or a fit changed "
            "since (resolve it again: that registers it)",
        )
        # no event bounds the evidence's start, so its own record is all there is; at the latest, now
        now = datetime.now(UTC)
        if run is not None and manifest is not None:
            starts.append((manifest.started_at, f"run {run.path} began {manifest.started_at}"))
        for stamp, what_began in starts:
            start = min(parse_time(stamp) or now, now)
            found = Evidence(start, f"{what_began} (unregistered)")
            out.evidence[r.question] = earliest(out.evidence.get(r.question), found)  # type: ignore[assignment]
    out.designs[r.question] = list(dict.fromkeys(designs))
    shas = {n.get("network_sha256") for n in networks}
    if len(shas) == 1 and None not in shas:
        out.networks[r.question] = networks[0]
    else:  # nothing measured, or several networks: on no one network
        names = ", ".join(dict.fromkeys(str(n.get("network")) for n in networks)) or None
        out.networks[r.question] = {"network": names, "network_sha256": None}
    raw = {**r.raw, "numbers": result.numbers, "evidence": result.evidence, "reason": result.reason}
    return replace(
        r, outcome=result.outcome, numbers=dict(result.numbers), evidence=result.evidence or "", raw=raw
    )


def _analysis_dir(ledger: Ledger) -> Path:
    from mazeprobe.registry.items.load import default_analysis_dir

    return default_analysis_dir(ledger.root)


def _plan_fits(
    r: Resolution, plans: list[str], folder: ResolvedDir, refuse
) -> tuple[RunDir, Manifest, dict[str, dict]] | None:
    """The run the file names, its manifest and the fits of `plans` on it (in `folder`), each checked
    against the entry's analysis hashes and the run's spec hash; None (after `refuse`) when any check
    fails."""
    info = r.run or {}
    if not info.get("run"):
        refuse("the file names no run (`run:`): an automatic outcome must come with the run it is read from")
        return None
    run = RunDir(Path(str(info["run"])))
    if not run.path.is_dir():
        refuse(f"the run directory {run.path} does not exist")
        return None
    try:
        manifest = run.require_complete()
    except RunError as exc:
        refuse(str(exc))
        return None
    spec_hash = manifest.spec_hash
    if info.get("run_spec_hash") != spec_hash:
        refuse(f"run_spec_hash {info.get('run_spec_hash')} is not the run's spec_hash {spec_hash}")
        return None
    recorded = _hashes(r.raw)
    fits: dict[str, dict] = {}
    for name in plans:
        if name not in recorded:
            refuse(f"it names no analysis_hash for plan {name}: an automatic outcome names its fit")
            return None
        path = folder.fit_path(name)
        if not path.is_file():
            continue  # a plan that could not be fitted: the rule says unresolved, and so must the file
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            refuse(f"{path} is not readable JSON ({exc})")
            return None
        if doc.get("plan_hash") != recorded[name]:
            refuse(f"{path} is a fit of plan hash {doc.get('plan_hash')}, not the recorded {recorded[name]}")
            return None
        fitted_on = (doc.get("input") or {}).get("spec_hash")
        if fitted_on != spec_hash:
            refuse(f"{path} was fitted on another run (input spec_hash {fitted_on})")
            return None
        fits[name] = doc
    return run, manifest, fits


def _registered(
    ledger: Ledger, r: Resolution, spec_hash: object, hashes: dict[str, str | None], sources: dict
) -> bool:
    """An event of this question with this outcome, the same sources' files and, for a resolution read
    from a run's fits (spec_hash given), that run's spec and the same fits."""
    for e in ledger.events(r.question):
        c = e.content
        if c.get("outcome") != r.outcome or (c.get("sources") or {}) != sources:
            continue
        if spec_hash is not None and c.get("spec_hash") != spec_hash:
            continue
        recorded = c.get("fits") or {}
        if all(recorded.get(name) == sha for name, sha in hashes.items()):
            return True
    return False
