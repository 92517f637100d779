"""The whole shipped study on any checkpoint (`mazeprobe study`, `make results CHECKPOINT=...`): the
runs of `make results` on that network, its fingerprint, the shipped questions resolved in a scratch copy
of the registry, and the report, written beside the shipped results.

    study = Study(Path("model.pth"), out=Path("docs/results-1a2b3c4d"), runs=Path("data/runs/study-1a2b3c4d"))
    result = run_study(study, confirm=lambda estimate: True)

What goes where:
    OUT/results.md, results.html    the report; its first section names the network, its sha256 and its
                                    fingerprint, and whether it is the registered subject
    OUT/NAME.fingerprint.json       the fingerprint (here, not beside the checkpoint the user holds)
    OUT/analysis/                   the shipped specs and plans the scratch registry reads (with --small,
                                    the probe plan on fewer mazes)
    OUT/specs/                      the four study specs: the shipped ones naming this network
    OUT/predictions/                the scratch registry: a fresh copy of predictions/ each time, resolved
                                    here (the shipped registry.lock is never written)
    OUT/steps.json                  each step's time on this machine (the report's timing section)
    RUNS/<spec name>/               the runs, named as shipped (the probe plan finds probe-run-r2 by name);
                                    RUNS/fingerprints/ the fingerprint run; every run resumes
    RUNS/resolved/                  what resolve wrote (mazeprobe.registry.resolution.resolved): the
                                    resolutions, fits, probe results and pictures; the runs stay as run

The fine-tune question (finetune-cheese-agent) reads a fine-tuned checkpoint of the network, which this
does not make: it stays unresolved here (OUT/models/ holds no fine-tune), and the report says why.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import UsageError
from mazeprobe.provenance import file_sha256
from mazeprobe.yamlio import load_yaml

PROBE_PLAN = "probe-cheese-block2-r2"
"""The probe plan the probe question reads; --small fits it on the small probe run's mazes only."""
FINETUNE_QUESTIONS = ("finetune-cheese-agent",)
"""Questions that read a fine-tuned checkpoint of the network: not run by a study."""
FINGERPRINT_N = 500
SMALL_FINGERPRINT_N = 2
WARM_UP = (64, 16)
"""The warm-up: a full batch of mazes, for this many steps (with --small: SMALL_WARM_UP)."""
SMALL_WARM_UP = (4, 4)
RESOLVE_REFERENCE = (1246.3, 10_000, 8192)
"""The stand-in's resolve step in `make results` (2 CPU cores, 2026-12-07): seconds, the probe curve's
largest n and the probed layer's width at scale 1. The probe is most of it, and its cost grows with the
mazes and the width: the study's guess for resolve scales this (no warm-up measures it)."""


@dataclass(frozen=True)
class Study:
    checkpoint: Path
    out: Path
    runs: Path
    predictions: Path = Path("predictions")
    analysis: Path = Path("analysis")
    device: str = "cpu"
    """A resolved device (cpu, cuda, cuda:N)."""
    small: bool = False
    jobs: int = 1

    @property
    def resolved(self) -> Path:
        """The folder resolve writes into (a ResolvedDir): beside the study's runs, never in one."""
        return self.runs / "resolved"


@dataclass(frozen=True)
class Step:
    label: str
    seconds: float
    basis: str
    """How the seconds were estimated, in words."""


@dataclass(frozen=True)
class Estimate:
    device: str
    scale: int
    sha256: str
    warm_up: str
    """What was measured, in words."""
    steps: tuple[Step, ...]

    @property
    def total(self) -> float:
        return sum(s.seconds for s in self.steps)


@dataclass
class StudyResult:
    out: Path
    reports: tuple[Path, ...]
    resolutions: Path
    sha256: str
    on_subject: bool
    outcomes: dict[str, str] = field(default_factory=dict)
    not_run: tuple[str, ...] = ()


def default_name(sha256: str) -> str:
    """results-<first 8 hex digits of the sha256>: the default OUT under docs/ and runs folder name."""
    return f"results-{sha256[:8]}"


def estimate_study(study: Study) -> Estimate:
    """Time a short warm-up of the network on this machine and extrapolate it to each step's planned
    observations (mazeprobe.experiments.study.planned_work); prepares OUT/analysis (the study specs)."""
    from mazeprobe.agents.impala import activation_shapes
    from mazeprobe.experiments.fingerprint import fingerprint_spec
    from mazeprobe.experiments.study import planned_work, warm_up

    specs = _prepare_analysis(study)
    sha = file_sha256(study.checkpoint)
    warm = warm_up(study.checkpoint, study.device, *(SMALL_WARM_UP if study.small else WARM_UP))
    # the runs' worker processes play chunks side by side: taken to scale with the cores they get
    parallel = max(1, min(study.jobs, os.cpu_count() or 1))
    per = warm.seconds_per_step / parallel
    steps = []
    for spec in specs:
        work = planned_work(spec)
        steps.append(Step(f"run {spec.name}: {spec.mazes.n:,} mazes", work * per, f"{work:,} network steps"))
    fp = fingerprint_spec(study.checkpoint, _fingerprint_n(study), sha256=sha, max_steps=_max_steps(study))
    work = planned_work(fp)
    steps.append(Step(f"fingerprint: {fp.mazes.n:,} mazes", work * per, f"{work:,} network steps"))
    seconds, n_ref, width_ref = RESOLVE_REFERENCE
    width = 1
    for d in activation_shapes(warm.scale)["embedder.block2.res1.resadd_out"]:
        width *= d
    probe_n = max(_probe_curve(study))
    guess = seconds * (probe_n / n_ref) * (width / width_ref)
    basis = (f"a guess: the stand-in's {seconds / 60:.0f} min on 2 CPU cores, scaled to {probe_n:,} probe "
             f"mazes x {width:,} activations")  # fmt: skip
    steps.append(Step("resolve, score, report (fits and the probe's learning curve)", guess, basis))
    said = (
        f"{warm.mazes} mazes played at once for {warm.network_steps // max(warm.mazes, 1)} steps by the "
        f"network (scale {warm.scale}) on {warm.device} in one thread took {warm.seconds:.1f} s, "
        f"{warm.seconds_per_step * 1000:.2f} ms per network step; each run is extrapolated from it with "
        f"every episode lasting its step limit (an upper bound: a network that reaches the cheese sooner "
        f"finishes sooner) and {parallel} worker process(es) side by side"
    )
    return Estimate(warm.device, warm.scale, sha, said, tuple(steps))


def run_study(
    study: Study,
    confirm: Callable[[Estimate], bool],
    say: Callable[[str], None] = lambda _text: None,
    progress: Callable[[str], tuple] | None = None,
) -> StudyResult | None:
    """Estimate, ask `confirm` (None is returned, nothing run, when it says no), then run each study spec
    (resuming), fingerprint the network, resolve the shipped questions in OUT/predictions and write the
    report. `say` gets a line per step; `progress(label)` may return run_experiment's (on_start, progress)
    for a progress bar."""
    from mazeprobe.agents.fingerprint import write_fingerprint
    from mazeprobe.experiments.fingerprint import fingerprint_run
    from mazeprobe.experiments.inputs import fingerprint_inputs
    from mazeprobe.experiments.run import run_experiment
    from mazeprobe.experiments.spec import load_spec
    from mazeprobe.experiments.study import STUDY_SPECS
    from mazeprobe.stats.fingerprint import fingerprint_document
    from mazeprobe.steplog import timed_step

    _check(study)
    estimate = estimate_study(study)
    if not confirm(estimate):
        return None
    log = study.out / "steps.json"
    runs = []
    hooks = progress or (lambda _label: (None, None))
    for name in STUDY_SPECS:
        spec = load_spec(study.out / "specs" / f"{name}.yaml")
        label = f"run {name}: {spec.mazes.n:,} mazes on {study.checkpoint.name}"
        say(label)
        on_start, on_chunk = hooks(name)
        with timed_step(log, label, f"mazeprobe run {spec.source} --out {study.runs} --resume"):
            runs.append(run_experiment(spec, study.runs, workers=study.jobs, resume=True, device=study.device,
                                       progress=on_chunk, on_start=on_start))  # fmt: skip
    fp_dir = study.runs / "fingerprints"
    label = f"fingerprint {study.checkpoint.name}: {_fingerprint_n(study)} decision-square test mazes"
    say(label)
    on_start, on_chunk = hooks("fingerprint")
    with timed_step(
        log, label, f"mazeprobe fingerprint {study.checkpoint} --out {study.runs / 'fingerprints'}"
    ):
        fp_run, _ = fingerprint_run(study.checkpoint, n=_fingerprint_n(study), out_dir=fp_dir,
                                    workers=study.jobs, device=study.device, progress=on_chunk,
                                    on_start=on_start, max_steps=_max_steps(study))  # fmt: skip
        document = fingerprint_document(fingerprint_inputs(fp_run), checkpoint=str(study.checkpoint))
    fp_path = write_fingerprint(study.checkpoint, document, study.out)
    label = "resolve the shipped questions in a scratch copy of the registry, score, report"
    say(label)
    with timed_step(
        log, label, f"mazeprobe resolve --predictions {study.out / 'predictions'} (and score, report)"
    ):
        result = _resolve_and_report(study, runs, document, fp_path, estimate)
    return result


def _check(study: Study) -> None:
    from mazeprobe.agents.impala import load_checkpoint

    if not study.checkpoint.is_file():
        raise UsageError(f"no such checkpoint {study.checkpoint}")
    load_checkpoint(study.checkpoint, device="cpu")  # not a network: its own one-line error, before anything
    for path, what in ((study.predictions, "predictions directory"), (study.analysis, "analysis directory")):
        if not path.is_dir():
            raise UsageError(f"no such {what}: {path}")
    out = study.out.resolve()
    if out == study.predictions.resolve() or study.predictions.resolve() in out.parents:
        raise UsageError(
            f"--out {study.out} is inside {study.predictions}: the scratch registry must be apart"
        )


def _fingerprint_n(study: Study) -> int:
    return SMALL_FINGERPRINT_N if study.small else FINGERPRINT_N


def _max_steps(study: Study) -> int:
    from mazeprobe.experiments.fingerprint import MAX_STEPS
    from mazeprobe.experiments.study import SMALL_STEPS

    return SMALL_STEPS if study.small else MAX_STEPS


def _probe_curve(study: Study) -> list[int]:
    from mazeprobe.experiments.study import SMALL_MAZES

    if study.small:
        return [SMALL_MAZES["probe-run-r2"]]
    n = load_yaml(study.analysis / f"{PROBE_PLAN}.yaml").data.get("n")
    return list(n) if isinstance(n, list) else [int(n or 10_000)]


def _prepare_analysis(study: Study) -> list:
    """OUT/analysis: every shipped plan and spec, with --small the probe plan on the small probe run's
    mazes (plans' hashes are not registered; the question's rule is); OUT/specs: the study specs."""
    from mazeprobe.experiments.study import write_study_specs

    target = study.out / "analysis"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(study.analysis.glob("*.yaml")):
        shutil.copyfile(path, target / path.name)
    (study.out / "specs").mkdir(exist_ok=True)
    specs = write_study_specs(study.analysis, study.out / "specs", study.checkpoint, study.small)
    if study.small:
        data = dict(load_yaml(study.analysis / f"{PROBE_PLAN}.yaml").data)
        data["n"] = _probe_curve(study)
        head = f"# written by `mazeprobe study --small`: {study.analysis / PROBE_PLAN}.yaml with n changed\n"
        text = head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)
        write_bytes(target / f"{PROBE_PLAN}.yaml", text.encode("utf-8"))
    return specs


def _scratch_registry(study: Study) -> Path:
    """A fresh copy of the predictions directory in OUT (an earlier study's copy is replaced: resolving
    the same runs again gives the same outcomes, dated by the runs' own starts)."""
    from mazeprobe.registry.items.trust import Ledger

    root = study.out / "predictions"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(study.predictions, root)
    Ledger.load(root)  # the copy's lock verifies, or nothing is resolved in it
    return root


def _resolve_and_report(study: Study, runs: list[Path], fingerprint: dict, fp_path: Path, estimate: Estimate):
    from mazeprobe.registry.items.load import load_registry
    from mazeprobe.registry.items.resolutions import load_resolutions
    from mazeprobe.registry.report import write_report
    from mazeprobe.registry.resolution.resolve import resolve_run
    from mazeprobe.registry.scoring.scores import score_table
    from mazeprobe.registry.scoring.table import forecast_table
    from mazeprobe.steplog import read_log

    root = _scratch_registry(study)
    with warnings.catch_warnings():
        if study.small:  # a probe on a few mazes: scikit-learn warns of classes with one member, at length
            warnings.simplefilter("ignore", UserWarning)
        path = resolve_run(root, runs, study.resolved)
    # beside the report it supports (resolve writes it into its own folder, under RUNS)
    write_bytes(study.out / "resolutions.yaml", path.read_bytes())
    registry = load_registry(root)
    files = [path] + [p for p in [root / "resolutions-manual.yaml"] if p.is_file()]
    resolutions = load_resolutions(files, registry=registry)
    table = forecast_table(registry, resolutions)
    sha = fingerprint["sha256"]
    table.attrs["fingerprints"] = {**table.attrs.get("fingerprints", {}), sha: fingerprint}
    subject = registry.subject
    on_subject = bool(subject is not None and subject.sha256 and subject.sha256 == sha)
    doc = load_yaml(path).data
    outcomes = {r["question"]: str(r["outcome"]) for r in doc["resolutions"]}
    not_run = tuple(q for q in FINETUNE_QUESTIONS if q in outcomes)
    table.attrs["studied"] = {
        "checkpoint": str(study.checkpoint),
        "sha256": sha,
        "scale": estimate.scale,
        "on_subject": on_subject,
        "subject": None if subject is None else {"name": subject.name, "sha256": subject.sha256},
        "fingerprint": fingerprint,
        "fingerprint_file": str(fp_path),
        "small": study.small,
        "not_run": list(not_run),
        "estimate_seconds": round(estimate.total, 1),
        "device": study.device,
    }
    table.attrs["steps"] = read_log(study.out / "steps.json")
    scores = score_table(table)
    reports = tuple(write_report(table, scores, study.out / f"results.{fmt}", fmt) for fmt in ("md", "html"))
    return StudyResult(study.out, reports, path, sha, on_subject, outcomes, not_run)


def estimate_text(estimate: Estimate) -> str:
    """The estimate as the study prints it before starting: per step and in total, and from what."""
    lines = [
        f"estimate of the time on this machine ({estimate.device}, network scale {estimate.scale}, sha256 "
        f"{estimate.sha256[:12]}):"
    ]
    width = max(len(s.label) for s in estimate.steps)
    for s in estimate.steps:
        lines.append(f"  {s.label:<{width}}  {_duration(s.seconds):>8}  ({s.basis})")
    lines.append(f"  {'total':<{width}}  {_duration(estimate.total):>8}")
    lines.append(f"  an estimate: {estimate.warm_up}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
