"""The run behind a network's fingerprint (`mazeprobe fingerprint`): one experiment spec built in code,
run by the ordinary run engine into data/fingerprints/<sha256[:12]>-n<N>-s<seed>/.

The spec is the published test set-up: N decision-square test mazes (natural cheese placement, a decision
square, the cheese outside the top-right 5x5, as in analysis/reference-demo.yaml), one episode per maze
with sampled actions for at most 256 steps, the decision-square probabilities recorded, and one
intervention, the maze's own cheese vector subtracted at the halfway layer (the `cheese-vector` entry of
analysis/model-editing.yaml). The run's episodes, dsq_probs and interventions tables then hold every number
the fingerprint reports (mazeprobe.stats.fingerprint computes them); nothing here measures anything itself.

The directory is named by the checkpoint's bytes, so a retrained checkpoint gets a new run and a finished
run of the same bytes is reused as it is; an interrupted one resumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mazeprobe.agents.edits import edit_from_spec
from mazeprobe.agents.impala import load_checkpoint
from mazeprobe.experiments.intervention_spec import InterventionSpec
from mazeprobe.experiments.run import run_experiment
from mazeprobe.experiments.rundir import RunDir, RunError
from mazeprobe.experiments.spec import ExperimentSpec, PolicySpec, RecordSpec, RolloutSpec
from mazeprobe.maze.sampling import SampleSpec
from mazeprobe.provenance import file_sha256, sha256_if_present
from mazeprobe.validation import check_int

DEFAULT_FINGERPRINTS_DIR = Path("data/fingerprints")
DEFAULT_N = 500
"""About 1 min 45 s on 2 CPU cores for a scale-1 network (the rollouts, unedited and with the cheese vector,
are most of it); 1,000 mazes would take about twice that, over the 3 minutes a fingerprint should cost."""
DEFAULT_SEED = 0
MAX_STEPS = 256
CHUNK_MAZES = 125
"""Mazes per chunk: the unit of resume and of parallel work (500 mazes are 4 chunks, 2 per core on 2)."""

CHEESE_VECTOR_ID = "cheese-vector"
CHEESE_VECTOR = {"edit": "cheese-vector", "layer": "embedder.block2.res1.resadd_out", "coefficient": -1}
"""The `cheese-vector` intervention of analysis/model-editing.yaml: the maze's own cheese vector, minus
once, at the published halfway layer (a test checks the two stay the same)."""


def run_name(sha256: str, n: int, seed: int, max_steps: int = MAX_STEPS) -> str:
    """The run's folder name: the checkpoint's bytes, the number of mazes and the seed (and a step limit
    other than the published 256: `mazeprobe study --small`)."""
    return f"{sha256[:12]}-n{n}-s{seed}" + ("" if max_steps == MAX_STEPS else f"-m{max_steps}")


def fingerprint_spec(
    checkpoint: str | os.PathLike,
    n: int = DEFAULT_N,
    seed: int = DEFAULT_SEED,
    sha256: str | None = None,
    max_steps: int = MAX_STEPS,
) -> ExperimentSpec:
    """The experiment spec of a checkpoint's fingerprint (`seed` seeds the maze sample and the action
    draws; `sha256`, the checkpoint's, when the caller has it; `max_steps` other than 256 only for a test
    of a flow: the published rates are at 256)."""
    check_int(n, "n", 1)
    check_int(max_steps, "max_steps", 1)
    check_int(seed, "seed", 0)
    path = Path(checkpoint)
    return ExperimentSpec(
        name=run_name(sha256 or file_sha256(path), n, seed, max_steps),
        # the absolute path: models/x.pth and ./models/x.pth are the same spec
        policy=PolicySpec(checkpoint=str(path.resolve())),
        mazes=SampleSpec(
            n=n, seed=seed, placement="natural", require_decision_square=True, exclude_cheese_top_right=5
        ),
        rollouts=RolloutSpec(
            per_maze=1, max_steps=max_steps, actions="sample", seed=seed, chunk_mazes=CHUNK_MAZES
        ),
        # the vector-field difference is the costliest measure and no fingerprint number reads it
        record=RecordSpec(decision_square_probs=True, vfield_tv=False),
        interventions=(InterventionSpec(CHEESE_VECTOR_ID, (edit_from_spec(CHEESE_VECTOR),)),),
        source="mazeprobe fingerprint",
    )


def _without_path(spec: dict) -> dict:
    """A spec's content apart from where the checkpoint was read from (and the device)."""
    policy = {k: v for k, v in spec["policy"].items() if k not in ("checkpoint", "device")}
    return {**spec, "policy": policy}


def fingerprint_run(
    checkpoint: str | os.PathLike,
    n: int = DEFAULT_N,
    seed: int = DEFAULT_SEED,
    out_dir: str | os.PathLike = DEFAULT_FINGERPRINTS_DIR,
    workers: int = 1,
    device: str | None = None,
    progress: Callable[[dict], None] | None = None,
    on_start: Callable[[Path, int, int], None] | None = None,
    max_steps: int = MAX_STEPS,
) -> tuple[Path, bool]:
    """Run (or resume, or reuse) the fingerprint run of a checkpoint; returns (run directory, whether a
    finished run was reused). `progress` and `on_start` as in run_experiment."""
    path = Path(checkpoint)
    if not path.is_file():
        raise RunError(f"no such checkpoint {path}")
    # a file that is no network is refused here, before the run takes its lock or writes anything
    load_checkpoint(path, device="cpu")
    sha256 = file_sha256(path)
    spec = fingerprint_spec(path, n, seed, sha256, max_steps)
    run = RunDir(Path(out_dir).resolve() / spec.name)
    if run.exists():
        manifest = run.manifest()
        same = (
            _without_path(manifest.spec) == _without_path(spec.to_dict()) and manifest.policy.sha256 == sha256
        )
        if same and manifest.complete:
            # the folder is named by the checkpoint's bytes and the manifest recorded them: a copy of the
            # same network elsewhere reuses the run rather than repeating it
            if on_start is not None:
                total = manifest.n_mazes
                on_start(run.path, total, total)
            return run.path, True
        recorded = manifest.experiment.policy.checkpoint
        if same and sha256_if_present(recorded) == sha256:
            # an interrupted run started from another path to the same bytes: resume it as it was started
            spec = replace(spec, policy=replace(spec.policy, checkpoint=recorded))
    run_dir = run_experiment(
        spec, out_dir, workers=workers, resume=True, device=device, progress=progress, on_start=on_start
    )
    return run_dir, False
