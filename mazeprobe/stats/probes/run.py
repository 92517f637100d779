"""Probes on a run directory: its recorded decision-square activations, with both controls."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mazeprobe.errors import UsageError
from mazeprobe.experiments.activations import load_activations
from mazeprobe.experiments.rundir import RunDir
from mazeprobe.stats.probes.cheese import (
    coordinate_probes,
    pixel_probe,
    position_probe,
    probe_targets,
    sparse_probes,
)
from mazeprobe.stats.probes.result import ProbeResult

PROBES = ("cheese-coords", "cheese-pixel", "sparse", "cheese-position")
DEFAULT_PROBES = ("cheese-coords", "cheese-pixel", "sparse")
"""What probe_run runs unless told: cheese-position fits two classifiers per fold, the costliest."""


def _scale(run: RunDir, layer: str, shape: tuple[int, ...]) -> int:
    """The network's scale: as the run's manifest records it, else what the layer's shape implies."""
    from mazeprobe.agents.impala import activation_shapes

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


def probe_run(
    run_dir: str | os.PathLike[str] | RunDir,
    layer: str,
    probes: Sequence[str] = DEFAULT_PROBES,
    k: int = 1000,
    folds: int = 5,
    seed: int = 0,
    coords: str = "outer",
    scale: int | None = None,
    control_seed: int | None = None,
    num_envs: int = 32,
    n: int | None = None,
) -> list[ProbeResult]:
    """Run the named probes on a run's decision-square activations of `layer`, with both controls.

    The random-weight control re-renders the same decision-square observations and runs
    `random_impala(scale, control_seed)` (default 7919 + seed: not a seed researchers are likely to have
    used for their own random-weight networks) on them, rounded to the stored dtype like the recorded
    activations. `scale` defaults to the run's checkpoint's (or what the layer's shape implies). `n`: only
    the first n recorded mazes (in the activation index's order)."""
    # the network and the simulator only here: fitting probes on arrays needs neither torch nor procgen
    from mazeprobe.agents.impala import random_weight_activations
    from mazeprobe.sim.observe import decision_square_observations

    probes = [probes] if isinstance(probes, str) else list(probes)
    unknown = [p for p in probes if p not in PROBES]
    if unknown or not probes:
        raise UsageError(f"probes must be among {', '.join(PROBES)}; got {probes!r}")
    run = RunDir(run_dir)
    X, seeds = load_activations(run, layer)
    if n is not None:
        X, seeds = X[:n], seeds[:n]
    if "cheese-pixel" in probes and X.ndim != 4:
        raise UsageError(
            f"the cheese-pixel probe needs a conv layer (N, C, H, W); {layer} is {X.shape[1:]}; "
            "leave cheese-pixel out of probes"
        )
    targets = probe_targets(run.mazes(), seeds)
    if scale is None:
        scale = _scale(run, layer, X.shape[1:])
    obs = decision_square_observations(targets, num_envs=num_envs)  # in activation order
    control_seed = 7919 + seed if control_seed is None else control_seed
    X_random = random_weight_activations(obs, layer, scale, control_seed).astype(X.dtype)

    common = {"X_random": X_random, "folds": folds, "seed": seed, "layer": layer}
    results: list[ProbeResult] = []
    for name in probes:
        if name == "cheese-position":
            results.append(position_probe(X, targets, coords=coords, **common))
        elif name == "cheese-coords":
            results += coordinate_probes(X, targets, coords=coords, **common)
        elif name == "sparse":
            results += sparse_probes(X, targets, k=k, coords=coords, **common)
        else:
            results.append(pixel_probe(X, targets, **common))
    return results


def run_probe_plan(run_dir: str | os.PathLike[str] | RunDir, plan) -> ProbeResult:
    """The one result of a probe plan (mazeprobe.stats.probes.plan) on a run: its probe's headline result
    (the first, for a probe that gives several)."""
    results = probe_run(
        run_dir, plan.layer, probes=[plan.probe], k=plan.k, folds=plan.folds, seed=plan.seed,
        coords=plan.coords, n=plan.n,
    )  # fmt: skip
    return results[0]
