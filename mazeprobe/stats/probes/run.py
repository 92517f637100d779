"""Probes on a run's decision-square activations, with both controls: arrays in (ProbeInputs, read and
built by mazeprobe.experiments.inputs.probe_inputs), results out.

    inputs = probe_inputs("data/runs/probe", ProbeRequest(layer))     # mazeprobe.experiments.inputs
    results = probe_run(inputs, probes=["cheese-coords"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.experiments.inputs import ProbeInputs, ProbeRequest
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


def check_probes(probes: Sequence[str] | str) -> list[str]:
    """The probe names as a list; UsageError naming the known ones when one is unknown or none is given."""
    probes = [probes] if isinstance(probes, str) else list(probes)
    unknown = [p for p in probes if p not in PROBES]
    if unknown or not probes:
        raise UsageError(f"probes must be among {', '.join(PROBES)}; got {probes!r}")
    return probes


def probe_request(
    layer: str, probes: Sequence[str] | str = DEFAULT_PROBES, seed: int = 0, **settings: Any
) -> ProbeRequest:
    """What `probe_run` with these probes reads of a run (checked names first: nothing is read for a bad
    one); `settings` as ProbeRequest's (n, control_seed, scale, num_envs)."""
    return ProbeRequest(layer, seed=seed, conv_map="cheese-pixel" in check_probes(probes), **settings)


def probe_run(
    inputs: ProbeInputs,
    probes: Sequence[str] = DEFAULT_PROBES,
    k: int = 1000,
    folds: int = 5,
    seed: int = 0,
    coords: str = "outer",
) -> list[ProbeResult]:
    """Run the named probes on a run's decision-square activations (`inputs`: recorded and random-weight
    control activations of one layer, mazeprobe.experiments.inputs.probe_inputs), with both controls."""
    probes = check_probes(probes)
    if not isinstance(inputs, ProbeInputs):
        raise UsageError(
            f"inputs must be ProbeInputs (arrays); got {type(inputs).__name__}: read a run directory with "
            "mazeprobe.experiments.inputs.probe_inputs"
        )
    if "cheese-pixel" in probes and inputs.X.ndim != 4:
        raise UsageError(
            f"the cheese-pixel probe needs a conv layer (N, C, H, W); {inputs.layer} is "
            f"{inputs.X.shape[1:]}; leave cheese-pixel out of probes"
        )
    targets = probe_targets(inputs.mazes, inputs.seeds)
    return _fit(probes, inputs.X, targets, inputs.X_random, layer=inputs.layer, k=k, folds=folds, seed=seed,
                coords=coords)  # fmt: skip


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


def plan_request(plan) -> ProbeRequest:
    """What a probe plan (mazeprobe.stats.probes.plan) reads of a run: for a learning curve, its largest n
    (refused when the run recorded fewer), with the plan's seed for the control."""
    if plan.curve is None:
        return probe_request(plan.layer, [plan.probe], seed=plan.seed, n=plan.n)
    largest = plan.curve[-1]
    return ProbeRequest(plan.layer, n=largest, need=largest, seed=plan.seed)


def plan_result(inputs: ProbeInputs, plan) -> ProbeResult:
    """The one result of a probe plan on a run's inputs (read as `plan_request(plan)` says): its probe's
    headline result (the first, for a probe that gives several). For a learning curve, the result of its
    largest n with every point (smallest first) in `curve`; FitError when fewer mazes were given."""
    if plan.curve is None:
        results = probe_run(inputs, probes=[plan.probe], k=plan.k, folds=plan.folds, seed=plan.seed,
                            coords=plan.coords)  # fmt: skip
        return results[0]
    largest = plan.curve[-1]
    if not isinstance(inputs, ProbeInputs):
        raise UsageError(f"inputs must be ProbeInputs (arrays); got {type(inputs).__name__}")
    if len(inputs.X) < largest:
        raise FitError(f"{largest:,} mazes are needed, but the run {inputs.run} recorded {len(inputs.X):,} "
                       f"at {plan.layer}")  # fmt: skip
    X, X_random = inputs.X[:largest], inputs.X_random[:largest]
    targets = probe_targets(inputs.mazes, inputs.seeds[:largest])
    # each point fits the first n (the control's activations of a maze do not depend on the other mazes
    # rendered with it)
    settings = {"layer": plan.layer, "k": plan.k, "folds": plan.folds, "seed": plan.seed}
    settings["coords"] = plan.coords
    points = [
        _fit([plan.probe], X[:n], targets.iloc[:n].reset_index(drop=True), X_random[:n], **settings,
             shuffled=i == 0)[0]  # fmt: skip
        for i, n in enumerate(plan.curve)
    ]
    return replace(points[-1], curve=tuple(p.point() for p in points))
