"""Deciding model-editing questions from a registered family of edits, with a selection half and a
confirmation half of the mazes: the edit is chosen on one half and its effect is measured on the other,
so the choice cannot flatter its own result.

Tables in (an interventions table and a retargeting table, as mazeprobe.experiments.interventions writes
them), plain results out. A maze's half is a pure function of (split seed, level seed): the same maze is
in the same half whatever the chunking, the order or the other mazes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from mazeprobe.errors import UsageError
from mazeprobe.rng import uniforms
from mazeprobe.stats.decide import all_of, decide
from mazeprobe.stats.measures import wilson_interval
from mazeprobe.stats.paired import paired_values, relative_drop_interval
from mazeprobe.stats.plan import DEFAULT_ALPHA

MAX_TOP_RIGHT_DROP = 0.25
"""The patch-reduce questions' bound: the edit may lower reaching the top-right corner by at most 25%."""


def selection_half(seeds: np.ndarray, split_seed: int) -> np.ndarray:
    """(N,) bool: which mazes (by level seed) form the selection half; the rest confirm."""
    return uniforms(int(split_seed), np.asarray(seeds, dtype=np.int64)) < 0.5


def _pct(x: float) -> str:
    return f"{x:.1%}"


def relative_drop_of(none: np.ndarray, edit: np.ndarray) -> float:
    """1 - mean(edit) / mean(none); 0 when both rates are 0, -inf when only the baseline's is (a rise)."""
    base, after = float(np.mean(none)), float(np.mean(edit))
    if base > 0:
        return 1.0 - after / base
    return 0.0 if after == 0 else -math.inf


# --- patch-reduce ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatchReduceResult:
    outcome: str
    """yes, no or unresolved."""
    chosen: str | None
    threshold: float
    selection: dict
    """intervention -> {got_cheese_drop, top_right_drop, eligible} on the selection half."""
    got_cheese_drop: float | None = None
    got_cheese_drop_ci: tuple[float, float] | None = None
    top_right_drop: float | None = None
    top_right_drop_ci: tuple[float, float] | None = None
    n_selection: int = 0
    n_confirmation: int = 0
    reason: str | None = None
    n_needed: int | None = None
    """Unresolved: about how many confirmation mazes would decide it (mazeprobe.stats.decide)."""

    def numbers(self) -> dict:
        return asdict(self)


def patch_reduce(
    table: pd.DataFrame,
    family: Sequence[str],
    threshold: float,
    split_seed: int = 0,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
) -> PatchReduceResult:
    """Some edit of `family` lowers got_cheese by at least `threshold` (relative) while lowering
    reached_top_right_square by at most 25%? On the selection half, the edit with the largest relative drop
    in got_cheese among those whose top-right drop is at most 25%; on the confirmation half, both drops
    (paired over mazes, percentile bootstrap intervals). Decided on the intervals (mazeprobe.stats.decide):
    yes when the got_cheese drop's interval lies at or above `threshold` and the top-right drop's at or
    below 25%; no when either lies wholly on the wrong side; else unresolved."""
    if not family:
        raise UsageError("patch-reduce needs a family of at least one edit")
    seeds = table.loc[table["intervention"] == "none", "seed"].to_numpy(np.int64)
    select = dict(zip(seeds.tolist(), selection_half(seeds, split_seed).tolist(), strict=True))
    halves = {}
    for half, keep in (("selection", True), ("confirmation", False)):
        halves[half] = table[table["seed"].map(select).fillna(not keep).astype(bool) == keep]
    selection = {}
    for name in family:
        rows = table[table["intervention"] == name]
        if rows.empty:
            raise UsageError(f"the run has no intervention {name!r} of the registered family")
        got = paired_values(halves["selection"], name, "got_cheese")
        top = paired_values(halves["selection"], name, "reached_top_right_square")
        if got.empty:  # aimed at targets: no per-maze rates
            continue
        got_drop = relative_drop_of(got["none"], got["edit"])
        top_drop = relative_drop_of(top["none"], top["edit"])
        selection[name] = {
            "got_cheese_drop": got_drop,
            "top_right_drop": top_drop,
            "eligible": top_drop <= MAX_TOP_RIGHT_DROP,
        }
    n_sel = int(sum(select.values()))
    n_conf = len(select) - n_sel
    eligible = {k: v for k, v in selection.items() if v["eligible"] and np.isfinite(v["got_cheese_drop"])}
    if not eligible:
        return PatchReduceResult(
            "no", None, threshold, selection, n_selection=n_sel, n_confirmation=n_conf,
            reason="no edit of the family keeps the top-right drop within 25% on the selection half",
        )  # fmt: skip
    chosen = max(eligible, key=lambda k: (eligible[k]["got_cheese_drop"], k))
    got = paired_values(halves["confirmation"], chosen, "got_cheese")
    top = paired_values(halves["confirmation"], chosen, "reached_top_right_square")
    if got.empty or float(got["none"].mean()) == 0:
        return PatchReduceResult(
            "unresolved", chosen, threshold, selection, n_selection=n_sel, n_confirmation=n_conf,
            reason="the unedited network never got the cheese on the confirmation half: no drop to measure",
        )  # fmt: skip
    _, g_lo, g_hi = relative_drop_interval(got["none"], got["edit"], n_boot, seed, alpha)
    _, t_lo, t_hi = relative_drop_interval(top["none"], top["edit"], n_boot, seed + 1, alpha)
    g = relative_drop_of(got["none"], got["edit"])
    t = relative_drop_of(top["none"], top["edit"])
    n = len(got)
    d = all_of(
        decide(g, g_lo, g_hi, threshold, ">=", n=n, fmt=_pct, what="the got_cheese drop"),
        decide(t, t_lo, t_hi, MAX_TOP_RIGHT_DROP, "<=", n=n, fmt=_pct, what="the top-right drop"),
    )
    return PatchReduceResult(
        d.outcome, chosen, threshold, selection, g, (g_lo, g_hi), t, (t_lo, t_hi), n_sel, n_conf, d.reason,
        d.n_needed,
    )  # fmt: skip


# --- retargeting ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetargetResult:
    outcome: str
    chosen: str | None
    max_fraction: float
    selection: dict
    """intervention -> {edited_fraction_network, retargeted_share, eligible} on the selection half."""
    retargeted_share: float | None = None
    retargeted_share_ci: tuple[float, float] | None = None
    n_selection: int = 0
    n_confirmation: int = 0
    reason: str | None = None
    n_needed: int | None = None

    def numbers(self) -> dict:
        return asdict(self)


def retargeted_mazes(retargeting: pd.DataFrame, intervention: str, need: float = 0.8) -> pd.Series:
    """seed -> whether the edited agent reached at least `need` of the maze's targets (4 of 5; a target
    counts as reached when at least half its rollouts stood on it)."""
    rows = retargeting[retargeting["intervention"] == intervention]
    per_maze = rows.groupby("seed")["reached_target"].agg(lambda r: ((r >= 0.5).sum(), len(r)))
    return per_maze.map(lambda hit_n: hit_n[0] >= math.ceil(need * hit_n[1] - 1e-9))


def retarget(
    interventions: pd.DataFrame,
    retargeting: pd.DataFrame,
    family: Sequence[str],
    max_fraction: float,
    split_seed: int = 0,
    share: float = 0.75,
    alpha: float = DEFAULT_ALPHA,
) -> RetargetResult:
    """Some edit of `family` aimed at targets, changing at most `max_fraction` of the network's
    activations, retargets the agent in at least `share` of random mazes? Among the family's edits whose
    edited_fraction_network (its largest over the mazes) is at most `max_fraction`, the one retargeting the
    most selection-half mazes (a maze: at least 4 of its 5 targets reached); yes when the Wilson interval
    of the share it retargets among the confirmation-half mazes lies at or above `share`, no when it lies
    below, else unresolved. No eligible edit: no."""
    seeds = np.unique(retargeting["seed"].to_numpy(np.int64))
    select = dict(zip(seeds.tolist(), selection_half(seeds, split_seed).tolist(), strict=True))
    selection = {}
    for name in family:
        rows = interventions[interventions["intervention"] == name]
        if rows.empty:
            raise UsageError(f"the run has no intervention {name!r} of the registered family")
        fraction = float(rows["edited_fraction_network"].max())
        hit = retargeted_mazes(retargeting, name)
        in_selection = hit[hit.index.map(select).astype(bool)]
        selection[name] = {
            "edited_fraction_network": fraction,
            "retargeted_share": float(in_selection.mean()) if len(in_selection) else math.nan,
            "eligible": fraction <= max_fraction,
        }
    n_sel = int(sum(select.values()))
    n_conf = len(select) - n_sel
    eligible = {k: v for k, v in selection.items() if v["eligible"] and np.isfinite(v["retargeted_share"])}
    if not eligible:
        return RetargetResult(
            "no", None, max_fraction, selection, n_selection=n_sel, n_confirmation=n_conf,
            reason=f"no edit of the family changes at most {max_fraction:.4%} of the network's activations",
        )  # fmt: skip
    chosen = max(eligible, key=lambda k: (eligible[k]["retargeted_share"], k))
    hit = retargeted_mazes(retargeting, chosen)
    confirm = hit[~hit.index.map(select).astype(bool)]
    if not len(confirm):
        return RetargetResult(
            "unresolved", chosen, max_fraction, selection, n_selection=n_sel, n_confirmation=n_conf,
            reason="no maze in the confirmation half",
        )  # fmt: skip
    rate = float(confirm.mean())
    z = float(norm.ppf(1 - alpha / 2))
    ci = wilson_interval(rate, len(confirm), z)
    d = decide(rate, ci[0], ci[1], share, ">=", n=len(confirm), fmt=_pct, what="the retargeted share")
    return RetargetResult(
        d.outcome, chosen, max_fraction, selection, rate, ci, n_sel, n_conf, d.reason, d.n_needed
    )
