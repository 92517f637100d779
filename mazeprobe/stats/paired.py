"""Paired comparisons of interventions against the unedited network, with bootstrap intervals over mazes.

Input is an interventions table (one row per maze and intervention, `none` included; see
mazeprobe.experiments.interventions): every edit was measured on the same mazes with the same rollout
draws as `none`, so each maze gives a paired difference. Mazes are resampled with replacement; the
intervals are percentile intervals of the resampled statistic.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.experiments.tables import INTERVENTION_MEASURES
from mazeprobe.stats.plan import DEFAULT_ALPHA
from mazeprobe.validation import check_int, check_number

MEASURES = INTERVENTION_MEASURES
SUMMARY_COLUMNS = (
    "intervention",
    "measure",
    "n",
    "none_mean",
    "edit_mean",
    "mean_change",
    "mean_change_low",
    "mean_change_high",
    "median_change",
    "median_change_low",
    "median_change_high",
    "relative_drop",
    "relative_drop_low",
    "relative_drop_high",
)
MAX_BOOT = 100_000
MAX_UNDEFINED_SHARE = 0.01
"""A relative drop's bootstrap interval is given only when at most this share of the resamples has a
baseline rate of 0 (no drop defined)."""


def paired_values(
    frame: pd.DataFrame, intervention: str, measure: str, baseline: str = "none"
) -> pd.DataFrame:
    """seed, none, edit: the measure under the baseline and under the intervention, for the mazes where
    both are defined."""
    missing = {"seed", "intervention", measure} - set(frame.columns)
    if missing:
        raise UsageError(f"an interventions table needs the column(s) {', '.join(sorted(missing))}")
    base = frame.loc[frame["intervention"] == baseline, ["seed", measure]].rename(columns={measure: "none"})
    edit = frame.loc[frame["intervention"] == intervention, ["seed", measure]].rename(
        columns={measure: "edit"}
    )
    if edit.empty:
        raise UsageError(f"no intervention {intervention!r} in the table")
    pairs = base.merge(edit, on="seed", how="inner", validate="one_to_one")
    return pairs.dropna().reset_index(drop=True)


def _boot_index(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, n, size=(n_boot, n))


def relative_drop(none: np.ndarray, edit: np.ndarray) -> float:
    """1 - mean(edit) / mean(none): the share of the baseline rate the edit takes away (NaN when the
    baseline rate is 0)."""
    base = float(np.mean(none))
    return float(1.0 - np.mean(edit) / base) if base > 0 else float("nan")


def relative_drop_interval(
    none: np.ndarray, edit: np.ndarray, n_boot: int = 1000, seed: int = 0, alpha: float = DEFAULT_ALPHA
) -> tuple[float, float, float]:
    """The relative drop and its percentile bootstrap interval, mazes resampled in pairs."""
    none, edit = np.asarray(none, float), np.asarray(edit, float)
    if not len(none):
        return float("nan"), float("nan"), float("nan")
    idx = _boot_index(len(none), check_int(n_boot, "n_boot", 1, MAX_BOOT), np.random.default_rng(seed))
    base = none[idx].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        drops = 1.0 - edit[idx].mean(1) / base
    kept = drops[np.isfinite(drops)]
    # resamples whose baseline rate is 0 have no drop: a few do not move the interval, more would narrow it
    # to the resamples where the rare event happened to occur, so then there is no interval at all
    ok = len(kept) >= (1 - MAX_UNDEFINED_SHARE) * len(drops)
    lo, hi = np.quantile(kept, [alpha / 2, 1 - alpha / 2]) if ok and len(kept) else (np.nan, np.nan)
    return relative_drop(none, edit), float(lo), float(hi)


def paired_summary(
    frame: pd.DataFrame,
    measures: Sequence[str] = MEASURES,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
) -> pd.DataFrame:
    """One row per (intervention, measure): the mean under `none` and under the edit, the mean and median
    change (edit - none) and the relative drop (1 - edit mean / none mean), each with a (1 - alpha)
    percentile bootstrap interval over mazes. Measures a table lacks, or that are null throughout for an
    intervention (per-target edits), are left out."""
    n_boot = check_int(n_boot, "n_boot", 1, MAX_BOOT)
    alpha = check_number(alpha, "alpha", 0.0, 1.0, open_low=True)
    q = [alpha / 2, 1 - alpha / 2]
    rows = []
    for name in [i for i in dict.fromkeys(frame["intervention"]) if i != "none"]:
        for measure in measures:
            if measure not in frame.columns:
                continue
            pairs = paired_values(frame, name, measure)
            if pairs.empty:
                continue
            none, edit = pairs["none"].to_numpy(float), pairs["edit"].to_numpy(float)
            diff = edit - none
            # one generator per (intervention, measure): adding one never changes another's interval
            rng = np.random.default_rng([seed, zlib.crc32(f"{name}\x1f{measure}".encode())])
            idx = _boot_index(len(diff), n_boot, rng)
            means, medians = diff[idx].mean(1), np.median(diff[idx], axis=1)
            drop, drop_lo, drop_hi = relative_drop_interval(none, edit, n_boot, seed, alpha)
            rows.append(
                {
                    "intervention": name,
                    "measure": measure,
                    "n": len(diff),
                    "none_mean": float(none.mean()),
                    "edit_mean": float(edit.mean()),
                    "mean_change": float(diff.mean()),
                    "mean_change_low": float(np.quantile(means, q[0])),
                    "mean_change_high": float(np.quantile(means, q[1])),
                    "median_change": float(np.median(diff)),
                    "median_change_low": float(np.quantile(medians, q[0])),
                    "median_change_high": float(np.quantile(medians, q[1])),
                    "relative_drop": drop,
                    "relative_drop_low": drop_lo,
                    "relative_drop_high": drop_hi,
                }
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def summary_text(summary: pd.DataFrame, alpha: float = DEFAULT_ALPHA) -> str:
    """The paired summary as aligned text: per intervention, each measure's mean under `none` and under
    the edit, the mean and median change with their intervals, and the relative drop."""
    level = round(100 * (1 - alpha))
    w = max([len("intervention"), *map(len, summary["intervention"].astype(str))]) + 2  # whole ids
    lines = [
        f"paired against `none` on the same mazes; [{level}% bootstrap intervals over mazes]",
        f"{'intervention':<{w}}{'measure':<26}{'n':>6}{'none':>8}{'edit':>8}  {'mean change':<26}"
        f" {'median change':<26} relative drop",
    ]

    def ci(v: float, lo: float, hi: float) -> str:
        return "-" if not np.isfinite(v) else f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]"

    for r in summary.itertuples():
        lines.append(
            f"{r.intervention:<{w}}{r.measure:<26}{r.n:>6}{r.none_mean:>8.3f}{r.edit_mean:>8.3f}  "
            f"{ci(r.mean_change, r.mean_change_low, r.mean_change_high):<26} "
            f"{ci(r.median_change, r.median_change_low, r.median_change_high):<26} "
            f"{ci(r.relative_drop, r.relative_drop_low, r.relative_drop_high)}"
        )
    return "\n".join(lines)
