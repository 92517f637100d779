"""A network's fingerprint from a run's tables: P(cheese) and P(top-right) at the decision square, the
outcome rates of its episodes, and P(cheese) with the cheese vector subtracted, each with an interval.

Tables in (episodes.parquet, dsq_probs.parquet and interventions.parquet as a run writes them, read by
mazeprobe.experiments.inputs.fingerprint_inputs), numbers out. The rates are those `mazeprobe evaluate` and
the run summary report (mazeprobe.sim.outcome_rates), with Wilson intervals over episodes; the medians and
means are of per-maze probabilities, with a seeded percentile bootstrap that resamples mazes (one resample
of the mazes serves every measure, so the unedited and the edited P(cheese) move together).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mazeprobe.agents.fingerprint import MEASURES, PUBLISHED_FINGERPRINT, PUBLISHED_NETWORK
from mazeprobe.errors import UsageError
from mazeprobe.experiments.inputs import FingerprintInputs
from mazeprobe.sim import outcome_rates
from mazeprobe.stats.measures import wilson_interval
from mazeprobe.stats.plan import DEFAULT_ALPHA
from mazeprobe.validation import check_int, check_number

N_BOOT = 2000
MAX_BOOT = 100_000
EDIT = "cheese-vector"


def _columns(frame: pd.DataFrame, what: str, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise UsageError(f"{what} needs the column(s) {', '.join(missing)}")


def _rate(rate: float, n: int, z: float) -> dict:
    low, high = wilson_interval(rate, n, z)
    return {"value": float(rate), "ci_low": low, "ci_high": high}


def _per_maze(dsq_probs: pd.DataFrame, interventions: pd.DataFrame, edit: str) -> pd.DataFrame:
    """One row per maze: seed, p_cheese, p_top_right (unedited) and p_cheese_edit (null where undefined)."""
    _columns(dsq_probs, "the decision-square table", ("seed", "p_cheese_at_dsq", "p_top_right_at_dsq"))
    _columns(interventions, "the interventions table", ("seed", "intervention", "p_cheese_at_dsq"))
    edited = interventions.loc[interventions["intervention"] == edit, ["seed", "p_cheese_at_dsq"]]
    if edited.empty:
        raise UsageError(f"the interventions table has no {edit!r} rows")
    base = dsq_probs[["seed", "p_cheese_at_dsq", "p_top_right_at_dsq"]].rename(
        columns={"p_cheese_at_dsq": "p_cheese", "p_top_right_at_dsq": "p_top_right"}
    )
    edited = edited.rename(columns={"p_cheese_at_dsq": "p_cheese_edit"})
    # outer: a maze missing from one table still counts in the other's measures
    return base.merge(edited, on="seed", how="outer", validate="one_to_one").sort_values("seed")


def _centres(values: np.ndarray, idx: np.ndarray, q: list[float]) -> dict[str, dict]:
    """median and mean of one column with percentile intervals over the resampled rows `idx`."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        empty = {"value": None, "ci_low": None, "ci_high": None}
        return {"median": dict(empty), "mean": dict(empty)}
    out = {}
    for name, stat in (("median", np.nanmedian), ("mean", np.nanmean)):
        boot = values[idx]
        # a resample may draw only mazes without the value: leave it out rather than count a NaN
        keep = np.isfinite(boot).any(axis=1)
        with np.errstate(all="ignore"):
            stats = stat(boot[keep], axis=1)
        low, high = np.quantile(stats, q) if len(stats) else (None, None)
        out[name] = {
            "value": float(stat(finite)),
            "ci_low": None if low is None else float(low),
            "ci_high": None if high is None else float(high),
        }
    return out


def fingerprint(
    episodes: pd.DataFrame,
    dsq_probs: pd.DataFrame,
    interventions: pd.DataFrame,
    n_boot: int = N_BOOT,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
    edit: str = EDIT,
) -> dict[str, dict]:
    """The fingerprint's measures (mazeprobe.agents.fingerprint.MEASURES), each {value, ci_low, ci_high}:

    - median/mean P(cheese) and P(top-right) at the decision square from `dsq_probs` (one row per maze;
      mazes without a decision square, null there, are left out);
    - got_cheese_dsq_test and entered_top_right_5x5_without_cheese: the rates of `episodes` (one row per
      episode) with Wilson intervals;
    - median/mean P(cheese) at the decision square under `edit` from `interventions` (its rows).

    Intervals are (1 - alpha); the bootstrap draws `n_boot` resamples of the mazes from `seed`."""
    n_boot = check_int(n_boot, "n_boot", 1, MAX_BOOT)
    alpha = check_number(alpha, "alpha", 0.0, 1.0, open_low=True)
    _columns(episodes, "the episodes table", ("got_cheese", "entered_top_right_5x5", "timed_out", "steps"))
    if episodes.empty:
        raise UsageError("the episodes table is empty")
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    q = [alpha / 2, 1 - alpha / 2]
    mazes = _per_maze(dsq_probs, interventions, edit)
    idx = np.random.default_rng(seed).integers(0, len(mazes), size=(n_boot, len(mazes)))
    p_cheese = _centres(mazes["p_cheese"].to_numpy(float), idx, q)
    p_top_right = _centres(mazes["p_top_right"].to_numpy(float), idx, q)
    p_edit = _centres(mazes["p_cheese_edit"].to_numpy(float), idx, q)
    # the one definition of each rate (what evaluate, the run summary and the model card report)
    rates = outcome_rates(episodes)
    n = len(episodes)
    out = {
        "median_p_cheese_at_dsq": p_cheese["median"],
        "mean_p_cheese_at_dsq": p_cheese["mean"],
        "median_p_top_right_at_dsq": p_top_right["median"],
        "mean_p_top_right_at_dsq": p_top_right["mean"],
        "got_cheese_dsq_test": _rate(rates["got_cheese"], n, z),
        "entered_top_right_5x5_without_cheese": _rate(rates["entered_top_right_5x5_without_cheese"], n, z),
        "median_p_cheese_at_dsq_cheese_vector": p_edit["median"],
        "mean_p_cheese_at_dsq_cheese_vector": p_edit["mean"],
    }
    return {name: out[name] for name in MEASURES}


def fingerprint_document(
    inputs: FingerprintInputs, checkpoint: str | None = None, n_boot: int = N_BOOT
) -> dict:
    """The fingerprint document of a finished fingerprint run's tables (fingerprint_inputs): the checkpoint
    (as given, else as the run recorded it), its sha256 and scale, the mazes, the run, the measures and the
    published network's values beside them."""
    seed = inputs.seed
    measures = fingerprint(inputs.episodes, inputs.dsq_probs, inputs.interventions, n_boot=n_boot, seed=seed)
    return {
        "checkpoint": str(checkpoint) if checkpoint is not None else inputs.checkpoint,
        "sha256": inputs.sha256,
        "scale": inputs.scale,
        "n_mazes": inputs.n_mazes,
        "seed": seed,
        "run": inputs.run,
        "intervals": f"{1 - DEFAULT_ALPHA:.0%} intervals: Wilson for the two rates, a percentile bootstrap "
        f"over mazes ({n_boot} resamples, seed {seed}) for the medians and means",
        "measures": measures,
        "published_network": PUBLISHED_NETWORK,
        "published": PUBLISHED_FINGERPRINT,
    }
