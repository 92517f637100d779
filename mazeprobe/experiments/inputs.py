"""What the statistics layer is given from a run, as plain tables and arrays: an analysis's input table
(`load_input`), a probe's activations with their random-weight control (`probe_inputs`) and a fingerprint
run's tables (`fingerprint_inputs`).

The statistics layer takes these and never reads a run directory or builds a network itself:

    frame = load_input("data/runs/behavioral-demo")              # mazeprobe.experiments
    result = fit_plan(frame, load_plan("analysis/behavioral.yaml"))       # mazeprobe.stats

    inputs = probe_inputs("data/runs/probe", ProbeRequest("embedder.block2.res1.resadd_out"))
    results = probe_run(inputs)                                  # mazeprobe.stats.probes

    document = fingerprint_document(fingerprint_inputs(run_dir))  # mazeprobe.stats.fingerprint
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.experiments.activations import load_activations
from mazeprobe.experiments.rundir import RunDir
from mazeprobe.maze.sampling import arrow_to_frame
from mazeprobe.provenance import file_sha256

INPUT_ATTR = "mazeprobe_input"
"""Key in DataFrame.attrs where load_input records where the data came from."""
CONTROL_SEED_OFFSET = 7919
"""The random-weight control's seed is this plus the probe's seed unless given: not a seed researchers are
likely to have used for their own random-weight networks."""


def load_input(path: str | os.PathLike) -> pd.DataFrame:
    """A run directory (one row per episode, joined with maze features; see RunDir.load) or a Parquet
    table with the same columns. Where it came from is kept in `frame.attrs["mazeprobe_input"]`."""
    path = Path(path)
    if path.is_dir():
        run = RunDir(path)
        frame = run.load()
        frame.attrs[INPUT_ATTR] = run.identity()
        return frame
    if not path.exists():
        raise UsageError(f"{path}: no such file or run directory")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise UsageError(f"{path}: not a run directory or a Parquet table ({exc})") from None
    if "grid" in table.column_names:
        table = table.drop(["grid"])  # maze layouts: large and never a regressor
    frame = arrow_to_frame(table)  # null stays apart from 0 / false, as in read_mazes
    frame.attrs[INPUT_ATTR] = {"kind": "table", "path": str(path.resolve()), "sha256": file_sha256(path)}
    return frame


# --- a probe's arrays --------------------------------------------------------------------------------


class TooFewRecorded(MazeprobeError):
    """A probe needs more recorded mazes than the run has at that layer."""


@dataclass(frozen=True)
class ProbeRequest:
    """What a probe reads of a run: `layer`; only the first `n` recorded mazes (in the activation index's
    order; None: all); `need`: refuse (TooFewRecorded) when fewer than this many were recorded; the
    random-weight control's `scale` (default the run's network's) and `control_seed` (default
    CONTROL_SEED_OFFSET + `seed`); `conv_map`: the layer must be a conv map (the pixel probe)."""

    layer: str
    n: int | None = None
    need: int | None = None
    seed: int = 0
    control_seed: int | None = None
    scale: int | None = None
    conv_map: bool = False
    num_envs: int = 32


@dataclass(frozen=True)
class ProbeInputs:
    """A probe's data from one run: the recorded decision-square activations of `layer`, the level seed
    of each, the run's maze table, and the random-weight control's activations of the same observations
    (rounded to the stored dtype like the recorded ones)."""

    layer: str
    X: np.ndarray
    seeds: np.ndarray
    mazes: pd.DataFrame
    X_random: np.ndarray
    run: str
    """The run directory, for messages."""


def _scale(run: RunDir, layer: str, shape: tuple[int, ...]) -> int:
    """The network's scale: as the run's manifest records it, else what the layer's shape implies."""
    from mazeprobe.agents.layers import activation_shapes

    scale = run.scale()
    if scale is not None:
        return scale
    fits = [s for s in range(1, 65) if activation_shapes(s).get(layer) == tuple(shape)]
    if len(fits) != 1:
        raise UsageError(
            f"cannot tell the network's scale from {layer} {tuple(shape)} and the run records none; "
            "pass scale="
        )
    return fits[0]


def probe_inputs(
    run_dir: str | os.PathLike[str] | RunDir, request: ProbeRequest, device: str = "cpu"
) -> ProbeInputs:
    """The recorded activations a probe fits and the random-weight control beside them: the control
    re-renders the same decision-square observations and runs `random_impala(scale, control_seed)` on
    them. `device` (mazeprobe.devices): where the random-weight network runs."""
    # the network and the simulator only here: reading the recorded arrays needs neither
    from mazeprobe.agents.impala import random_weight_activations
    from mazeprobe.sim.observe import decision_square_observations

    run = RunDir(run_dir)
    layer = request.layer
    X, seeds = load_activations(run, layer)
    if request.n is not None:
        X, seeds = X[: request.n], seeds[: request.n]
    if request.need is not None and len(X) < request.need:
        raise TooFewRecorded(
            f"{request.need:,} mazes are needed, but the run {run.path} recorded {len(X):,} at {layer}"
        )
    if request.conv_map and X.ndim != 4:  # before the costly rendering of the control
        raise UsageError(
            f"the cheese-pixel probe needs a conv layer (N, C, H, W); {layer} is {X.shape[1:]}; "
            "leave cheese-pixel out of probes"
        )
    mazes = run.mazes()
    table = mazes.drop(columns=["grid"]).drop_duplicates("seed").set_index("seed", drop=False)
    absent = ~np.isin(seeds, table.index.to_numpy())
    if absent.any():
        raise UsageError(
            f"{run.path}: {int(absent.sum())} recorded seed(s) are not in its mazes.parquet, e.g. "
            f"{seeds[absent][:5].tolist()}"
        )
    seen = table.loc[seeds].reset_index(drop=True)  # in activation order: what the network saw
    scale = request.scale if request.scale is not None else _scale(run, layer, X.shape[1:])
    control_seed = request.control_seed
    if control_seed is None:
        control_seed = CONTROL_SEED_OFFSET + request.seed
    obs = decision_square_observations(seen, num_envs=request.num_envs)
    X_random = random_weight_activations(obs, layer, scale, control_seed, device=device).astype(X.dtype)
    return ProbeInputs(layer=layer, X=X, seeds=seeds, mazes=mazes, X_random=X_random, run=str(run.path))


# --- a fingerprint run's tables ------------------------------------------------------------------------


@dataclass(frozen=True)
class FingerprintInputs:
    """A finished fingerprint run (mazeprobe.experiments.fingerprint) as the fingerprint reads it: its
    episodes, decision-square probabilities and interventions tables, and what its manifest records."""

    episodes: pd.DataFrame
    dsq_probs: pd.DataFrame
    interventions: pd.DataFrame
    checkpoint: str
    """The checkpoint as the run recorded it."""
    sha256: str | None
    scale: int | None
    n_mazes: int
    seed: int
    """The maze sample's seed (it also seeds the fingerprint's bootstrap)."""
    run: str
    """The run directory as a saved fingerprint shows it (relative to the working folder when inside it)."""


def fingerprint_inputs(run_dir: str | os.PathLike) -> FingerprintInputs:
    """The tables of a complete fingerprint run; UsageError when it recorded no decision-square
    probabilities."""
    run = RunDir(run_dir)
    manifest = run.require_complete()
    dsq = run.dsq_probs()
    if dsq is None:
        raise UsageError(f"{run.path}: the run did not record decision-square probabilities")
    policy = manifest.policy
    return FingerprintInputs(
        episodes=run.episodes(),
        dsq_probs=dsq,
        interventions=run.interventions(),
        checkpoint=policy.checkpoint,
        sha256=policy.sha256,
        scale=policy.scale,
        n_mazes=manifest.n_mazes,
        seed=manifest.maze_seed,
        run=_shown(run.path),
    )


def _shown(path: Path) -> str:
    """A path as a saved fingerprint records it: relative to the working folder when inside it (the file
    may be committed beside its checkpoint, where this machine's absolute paths mean nothing)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
