"""What the registry has been shown, keyed by design, so that lateness cannot be washed out by re-running.

A design is what a result is a result of, whatever directory it was written to:

    spec:SPEC_HASH          a run of an experiment spec (the same spec run again gives the same results)
    mazes:MAZES_HASH        the mazes a run was played on (its spec's `mazes:` section, their number left
                            out): a spec renamed or otherwise changed, on the same mazes, or on more of
                            them, is not a new experiment
    family:FAMILY_HASH      a run of a family of edits (mazeprobe.experiments.intervention_spec.family_hash:
                            the same edits on fewer mazes, or on another network, hash the same)
    edits:EDITS_HASH        the same family's edits by what they do (ids and order left out)
    checkpoint:SHA256:evaluation-seed:SEED
                            a fine-tuned checkpoint, evaluated on the mazes of that seed (mazeprobe.registry
                            .evidence): the same network evaluated on new mazes is a new experiment

Whenever a command reads a run for a registry (resolve, refused or not; fit and probe given --predictions),
it appends an evidence event `evidence:DESIGN` to the lock for each design whose run began earlier than
anything the lock already dates for it: the run, its start and its files' sha256. The first evidence of a
design is then the earliest start of any of its runs the registry was shown (mazeprobe.registry.items.trust),
and a question resolved from a design is dated by it.

What the registry cannot know: a run it is never shown (looked at only with `show`, a notebook or by hand)
leaves no trace. Register forecasts and criteria before running, and show runs to the registry early.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mazeprobe.experiments.manifest import Manifest
from mazeprobe.experiments.rundir import RunDir
from mazeprobe.provenance import sha256_if_present
from mazeprobe.registry.items.lock import append_items
from mazeprobe.registry.items.model import item_id_evidence
from mazeprobe.registry.items.trust import Ledger, parse_time, spec_design

RUN_FILES = (RunDir.MANIFEST, RunDir.EPISODES, RunDir.DSQ, RunDir.INTERVENTIONS, RunDir.RETARGETING)
"""The files of a run whose sha256 an evidence event records (activations are left out: large, and
derived from the same rollouts)."""


@dataclass(frozen=True)
class Shown:
    """One design the registry is shown: where (a run directory or a checkpoint), when it began, and the
    sha256 of what was read."""

    design: str
    where: str
    started_at: str | None
    files: dict[str, str | None] = field(default_factory=dict)


def family_design(family_hash: object) -> str:
    return f"family:{family_hash}"


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def mazes_design(spec: Mapping) -> str:
    """The mazes a run plays, whatever their number: mazes are sampled in a fixed order, so n + 1 mazes of
    the same sample hold the n mazes already seen."""
    return "mazes:" + _digest({k: v for k, v in (spec.get("mazes") or {}).items() if k != "n"})


def edits_design(spec: Mapping) -> str:
    """A family's edits by what they do, not by their ids or order: renaming or reordering the
    interventions of a family that was seen does not make a new experiment."""
    edits = sorted(json.dumps({k: v for k, v in i.items() if k != "id"}, sort_keys=True)
                   for i in spec.get("interventions") or [])  # fmt: skip
    return "edits:" + _digest({"edits": edits, "retargeting": spec.get("retargeting")})


def run_designs(manifest: Manifest) -> list[str]:
    """The designs a complete run is a run of: its spec, its mazes, and its family of edits when it has
    one."""
    from mazeprobe.experiments.intervention_spec import family_hash

    spec = manifest.spec
    out = [spec_design(manifest.spec_hash), mazes_design(spec)]
    if manifest.has_interventions:
        out += [family_design(family_hash(spec)), edits_design(spec)]
    return out


def shown_runs(runs: Sequence[RunDir], manifests: Sequence[Manifest]) -> list[Shown]:
    """What showing these (complete) runs to a registry shows: each run's designs, start and files."""
    out = []
    for run, manifest in zip(runs, manifests, strict=True):
        files = {name: sha256_if_present(run.path / name) for name in RUN_FILES}
        files = {k: v for k, v in files.items() if v is not None}
        for design in run_designs(manifest):
            out.append(Shown(design, str(run.path), manifest.started_at, files))
    return out


def record_shown(root: Path, ledger: Ledger, shown: Sequence[Shown], by: str) -> Ledger:
    """Append an evidence event for each design shown whose run began before anything the lock dates for
    that design (nothing is appended when the lock already knows as early a start); returns the ledger as
    it now is."""
    new = []
    for s in shown:
        start = parse_time(s.started_at)
        known = ledger.shown(s.design)
        if known is not None and (start is None or known.time <= start):
            continue
        if any(d == s.design for d, _ in new):
            continue
        content = {"design": s.design, "run": s.where, "run_started_at": s.started_at, "files": s.files,
                   "shown_by": by}  # fmt: skip
        new.append((s.design, content))
    if not new:
        return ledger
    append_items(root, [(item_id_evidence(design), content) for design, content in new])
    return Ledger.load(root)


def show_runs(root: str | Path, runs: Sequence[str | Path], by: str) -> int:
    """Tell the registry at `root` that these complete runs were read (fit, probe): their evidence events.
    Returns how many were appended. The lock must verify (IntegrityError otherwise)."""
    dirs = [RunDir(Path(r).resolve()) for r in runs]
    manifests = [d.require_complete() for d in dirs]
    ledger = Ledger.load(root)
    before = len(ledger.entries)
    after = record_shown(Path(root), ledger, shown_runs(dirs, manifests), by)
    return len(after.entries) - before
