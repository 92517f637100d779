"""fit_plan: one analysis plan, fitted to one input table, every model in the plan's order."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mazeprobe.errors import UsageError
from mazeprobe.experiments.inputs import INPUT_ATTR
from mazeprobe.provenance import package_versions
from mazeprobe.stats.data import prepare
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.kinds import KIND_REGISTRY
from mazeprobe.stats.plan import AnalysisPlan, load_plan
from mazeprobe.stats.result import FitResult, write_outputs

_PACKAGES = ("mazeprobe", "statsmodels", "scikit-learn", "scipy", "numpy", "pandas")


def fit_plan(data: pd.DataFrame, plan: AnalysisPlan, jobs: int = 1) -> FitResult:
    """Fit every model of `plan` to `data` (a frame from mazeprobe.experiments.inputs.load_input, or any
    frame with the columns).

    `jobs` > 1 fits the repeated splits of l1-logit, single and drop-one in that many processes; the
    numbers are the same for any `jobs`.

    Raises FitError (with the plan file and model entry in the message) where a model cannot be fitted
    honestly; the other data problems that can be worked around are listed in the result's warnings.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"jobs must be an integer >= 1; got {jobs!r}")
    if not isinstance(data, pd.DataFrame):
        raise UsageError(
            f"data must be a table (DataFrame); got {type(data).__name__}: read a run directory or a "
            "Parquet file with mazeprobe.experiments.inputs.load_input"
        )
    start = time.perf_counter()
    both_classes = any(KIND_REGISTRY[m.kind].needs_both_classes for m in plan.models)
    prepared = prepare(data, plan, both_classes=both_classes)
    prepared.jobs = jobs
    models = {}
    for spec in plan.models:
        t0 = time.perf_counter()
        try:
            # the matrices are small: BLAS threads only add overhead, and stall on a loaded machine
            with threadpool_limits(limits=1, user_api="blas"):
                result = KIND_REGISTRY[spec.kind].fit(prepared, spec)
        except FitError as exc:
            raise FitError(f"{plan.where(spec.key)} ({spec.kind}): {exc}") from None
        result.seconds = time.perf_counter() - t0
        models[spec.key] = result
    standardization = None
    if plan.standardize:
        standardization = {f: {"mean": prepared.means[f], "sd": prepared.sds[f]} for f in plan.features}
    return FitResult(
        plan=plan,
        n=prepared.n,
        n_mazes=prepared.n_clusters,
        outcome_kind=prepared.outcome_kind,
        outcome_mean=float(np.mean(prepared.y)),
        counts=prepared.counts,
        standardization=standardization,
        models=models,
        input=dict(data.attrs.get(INPUT_ATTR, {})),
        warnings=list(prepared.warnings),
        versions=package_versions(_PACKAGES),
        seconds=time.perf_counter() - start,
    )


def run_analysis(
    plan_path: str | os.PathLike,
    data: pd.DataFrame,
    out_dir: str | os.PathLike | None = None,
    format: str = "all",
    jobs: int = 1,
) -> FitResult:
    """Load a plan, fit it to `data` (a table: mazeprobe.experiments.inputs.load_input reads a run
    directory or a Parquet table), and write the outputs to `out_dir` when given."""
    result = fit_plan(data, load_plan(plan_path), jobs=jobs)
    if out_dir is not None:
        write_outputs(result, out_dir, format)
    return result
