"""Probes on a run directory: its recorded decision-square activations, with both controls."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.experiments.activations import load_activations
from mazeprobe.experiments.rundir import RunDir
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.probes import PROBES
from mazeprobe.stats.probes.cheese import (
    coordinate_probes,
    pixel_probe,
    position_probe,
    probe_targets,
    sparse_probes,
)
from mazeprobe.stats.probes.result import ProbeResult

DEFAULT_PROBES = ("cheese-coords", "cheese-pixel", "sparse")
"""What probe_run runs unless told: cheese-position fits two classifiers per fold, the costliest."""


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
    device: str = "cpu",
) -> list[ProbeResult]:
    """Run the named probes on a run's decision-square activations of `layer`, with both controls.

    The random-weight control re-renders the same decision-square observations and runs
    `random_impala(scale, control_seed)` (default 7919 + seed: not a seed researchers are likely to have
    used for their own random-weight networks) on them, rounded to the stored dtype like the recorded
    activations. `scale` defaults to the run's checkpoint's (or what the layer's shape implies). `n`: only
    the first n recorded mazes (in the activation index's order). `device` (mazeprobe.devices): where the
    random-weight network runs."""
    probes = [probes] if isinstance(probes, str) else list(probes)
    unknown = [p for p in probes if p not in PROBES]
    if unknown or not probes:
        raise UsageError(f"probes must be among {', '.join(PROBES)}; got {probes!r}")
    control_seed = 7919 + seed if control_seed is None else control_seed
    maps = "cheese-pixel" in probes
    X, targets, X_random = _prepared(
        run_dir, layer, n, scale, control_seed, num_envs, maps=maps, device=device
    )
    return _fit(probes, X, targets, X_random, layer=layer, k=k, folds=folds, seed=seed, coords=coords)


def _prepared(
    run_dir: str | os.PathLike[str] | RunDir,
    layer: str,
    n: int | None,
    scale: int | None,
    control_seed: int,
    num_envs: int = 32,
    maps: bool = False,
    exactly: bool = False,
    device: str = "cpu",
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """The first n recorded activations of `layer`, their targets, and the random-weight control's
    activations of the same observations. `maps`: the layer must be a conv map (the pixel probe).
    `exactly`: FitError when the run recorded fewer than n (else all it recorded are used)."""
    # the network and the simulator only here: fitting probes on arrays needs neither torch nor procgen
    from mazeprobe.agents.impala import random_weight_activations
    from mazeprobe.sim.observe import decision_square_observations

    run = RunDir(run_dir)
    X, seeds = load_activations(run, layer)
    if n is not None:
        X, seeds = X[:n], seeds[:n]
    if exactly and n is not None and len(X) < n:
        raise FitError(f"{n:,} mazes are needed, but the run {run.path} recorded {len(X):,} at {layer}")
    if maps and X.ndim != 4:  # before the costly rendering of the control
        raise UsageError(
            f"the cheese-pixel probe needs a conv layer (N, C, H, W); {layer} is {X.shape[1:]}; "
            "leave cheese-pixel out of probes"
        )
    targets = probe_targets(run.mazes(), seeds)
    if scale is None:
        scale = _scale(run, layer, X.shape[1:])
    obs = decision_square_observations(targets, num_envs=num_envs)  # in activation order
    X_random = random_weight_activations(obs, layer, scale, control_seed, device=device).astype(X.dtype)
    return X, targets, X_random


def _fit(
    probes: Sequence[str], X: np.ndarray, targets: pd.DataFrame, X_random: np.ndarray, **settings: Any
) -> list[ProbeResult]:
    common = {k: settings[k] for k in ("folds", "seed", "layer")}
    coords, k = settings["coords"], settings["k"]
    results: list[ProbeResult] = []
    for name in probes:
        if name == "cheese-position":
            # a learning curve's larger points leave out the shuffled control (its costliest fit, 70% of the
            # time at 10,000 mazes; no rule reads it): it is kept at the curve's first point
            shuffled = settings.get("shuffled", True)
            results.append(position_probe(X, targets, X_random=X_random, coords=coords, shuffled=shuffled,
                                          **common))  # fmt: skip
        elif name == "cheese-coords":
            results += coordinate_probes(X, targets, X_random=X_random, coords=coords, **common)
        elif name == "sparse":
            results += sparse_probes(X, targets, X_random=X_random, k=k, coords=coords, **common)
        else:
            results.append(pixel_probe(X, targets, X_random=X_random, **common))
    return results


def run_probe_plan(run_dir: str | os.PathLike[str] | RunDir, plan, device: str = "cpu") -> ProbeResult:
    """The one result of a probe plan (mazeprobe.stats.probes.plan) on a run: its probe's headline result
    (the first, for a probe that gives several). For a learning curve, the result of its largest n with
    every point (smallest first) in `curve`; FitError when the run recorded fewer mazes than that n.
    `device`: where the random-weight control's network runs."""
    if plan.curve is None:
        results = probe_run(
            run_dir, plan.layer, probes=[plan.probe], k=plan.k, folds=plan.folds, seed=plan.seed,
            coords=plan.coords, n=plan.n, device=device,
        )  # fmt: skip
        return results[0]
    # the activations, targets and control once, for the largest n; each point fits the first n of them
    # (the control's activations of a maze do not depend on the other mazes rendered with it)
    largest = plan.curve[-1]
    X, targets, X_random = _prepared(
        run_dir, plan.layer, largest, None, 7919 + plan.seed, exactly=True, device=device
    )
    settings = {"layer": plan.layer, "k": plan.k, "folds": plan.folds, "seed": plan.seed}
    settings["coords"] = plan.coords
    points = [
        _fit([plan.probe], X[:n], targets.iloc[:n].reset_index(drop=True), X_random[:n], **settings,
             shuffled=i == 0)[0]  # fmt: skip
        for i, n in enumerate(plan.curve)
    ]
    return replace(points[-1], curve=tuple(p.point() for p in points))
