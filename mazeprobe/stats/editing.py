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
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.rng import uniforms
from mazeprobe.stats.decide import Decision, all_of, decide
from mazeprobe.stats.measures import wilson_interval
from mazeprobe.stats.paired import paired_values, relative_drop_interval
from mazeprobe.stats.plan import DEFAULT_ALPHA

MAX_TOP_RIGHT_DROP = 0.25
"""The patch-reduce questions' bound: the edit may lower top-right attainment by at most 25%."""
TOP_RIGHT_MEASURES = ("reached_top_right_square", "entered_top_right_5x5", "p_top_right_at_dsq")
"""Every top-right measure an interventions table records: the corner square reached, the top-right 5x5
entered, P(top-right) at the decision square. A patch-reduce question guards some of them (by default the
corner square, its first operationalization); the evidence shows all."""
DEFAULT_GUARDS = ("reached_top_right_square",)


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
    """Every candidate on the selection half: intervention -> {got_cheese_drop, MEASURE_drop for each
    top-right measure recorded, edited_fraction_network, eligible}."""
    got_cheese_drop: float | None = None
    got_cheese_drop_ci: tuple[float, float] | None = None
    top_right_drop: float | None = None
    """The first guard's drop (the corner square unless the question guards others)."""
    top_right_drop_ci: tuple[float, float] | None = None
    n_selection: int = 0
    n_confirmation: int = 0
    reason: str | None = None
    n_needed: int | None = None
    """Unresolved: about how many confirmation mazes would decide it (mazeprobe.stats.decide)."""
    guards: tuple[str, ...] = DEFAULT_GUARDS
    confirmation: dict = field(default_factory=dict)
    """The chosen edit on the confirmation half: measure -> {none, edit, drop, ci, guard} for got_cheese,
    every top-right measure and p_cheese_at_dsq (the published one-step measure)."""

    def numbers(self) -> dict:
        return asdict(self)


def _drops(half: pd.DataFrame, name: str, measures: Sequence[str]) -> dict[str, float]:
    """measure -> the edit's relative drop against `none` on these mazes (measures the table records)."""
    out = {}
    for measure in measures:
        if measure in half.columns:
            pairs = paired_values(half, name, measure)
            if not pairs.empty:
                out[measure] = relative_drop_of(pairs["none"], pairs["edit"])
    return out


def patch_reduce(
    table: pd.DataFrame,
    family: Sequence[str],
    threshold: float,
    split_seed: int = 0,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
    guards: Sequence[str] = DEFAULT_GUARDS,
) -> PatchReduceResult:
    """Some edit of `family` lowers got_cheese by at least `threshold` (relative) while lowering each of the
    `guards` (top-right measures) by at most 25%? On the selection half, the edit with the largest relative
    drop in got_cheese among those whose guards' drops are all at most 25%; on the confirmation half, every
    drop (paired over mazes, percentile bootstrap intervals). Decided on the intervals
    (mazeprobe.stats.decide): yes when the got_cheese drop's interval lies at or above `threshold` and every
    guard's at or below 25%; no when any lies wholly on the wrong side; else unresolved. The numbers keep
    every candidate's selection-half drops and the chosen edit's confirmation-half numbers for every
    top-right measure, guarded or not."""
    if not family:
        raise UsageError("patch-reduce needs a family of at least one edit")
    guards = tuple(guards)
    missing = [g for g in guards if g not in TOP_RIGHT_MEASURES or g not in table.columns]
    if missing:
        why = "not a top-right measure this table records"
        raise UsageError(f"patch-reduce guards {', '.join(missing)}: {why}")
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
        drops = _drops(halves["selection"], name, ("got_cheese", *TOP_RIGHT_MEASURES))
        if "got_cheese" not in drops:  # aimed at targets: no per-maze rates
            continue
        entry = {f"{m}_drop": v for m, v in drops.items()}
        if "edited_fraction_network" in rows.columns:
            entry["edited_fraction_network"] = float(rows["edited_fraction_network"].max())
        entry["eligible"] = all(drops.get(g, math.inf) <= MAX_TOP_RIGHT_DROP for g in guards)
        selection[name] = entry
    n_sel = int(sum(select.values()))
    n_conf = len(select) - n_sel
    eligible = {
        k: v for k, v in selection.items() if v["eligible"] and np.isfinite(v["got_cheese_drop"])
    }
    if eligible:
        chosen = max(eligible, key=lambda k: (eligible[k]["got_cheese_drop"], k))
    else:  # none spares the guards on the selection half: the one that spares them most is confirmed on
        # the other half, where the intervals decide (a selection-half point estimate never says no)
        finite = {k: v for k, v in selection.items() if np.isfinite(v["got_cheese_drop"])}
        if not finite:
            return PatchReduceResult(
                "unresolved", None, threshold, selection, n_selection=n_sel, n_confirmation=n_conf,
                guards=guards, reason="no edit of the family has a got_cheese drop on the selection half",
            )  # fmt: skip
        worst = {k: max(v.get(f"{g}_drop", math.inf) for g in guards) for k, v in finite.items()}
        chosen = min(finite, key=lambda k: (worst[k], -finite[k]["got_cheese_drop"], k))
    got = paired_values(halves["confirmation"], chosen, "got_cheese")
    if got.empty or float(got["none"].mean()) == 0:
        return PatchReduceResult(
            "unresolved", chosen, threshold, selection, n_selection=n_sel, n_confirmation=n_conf,
            guards=guards,
            reason="the unedited network never got the cheese on the confirmation half: no drop to measure",
        )  # fmt: skip
    confirmation = {}
    for i, measure in enumerate(("got_cheese", *TOP_RIGHT_MEASURES, "p_cheese_at_dsq")):
        if measure not in table.columns:
            continue
        pairs = paired_values(halves["confirmation"], chosen, measure)
        if pairs.empty:
            continue
        _, lo, hi = relative_drop_interval(pairs["none"], pairs["edit"], n_boot, seed + i, alpha)
        confirmation[measure] = {
            "none": float(pairs["none"].mean()),
            "edit": float(pairs["edit"].mean()),
            "drop": relative_drop_of(pairs["none"], pairs["edit"]),
            "ci": (lo, hi),
            "n": len(pairs),
            "guard": measure in guards,
        }
    g = confirmation["got_cheese"]
    unit = "confirmation mazes"  # the half the outcome is read on: a run needs about twice as many
    decisions = [decide(g["drop"], *g["ci"], threshold, ">=", n=g["n"], unit=unit, fmt=_pct,
                        what="the got_cheese drop")]  # fmt: skip
    for guard in guards:
        t = confirmation.get(guard)
        if t is None:
            decisions.append(Decision("unresolved", f"no confirmation maze has {guard} under {chosen}"))
            continue
        decisions.append(decide(t["drop"], *t["ci"], MAX_TOP_RIGHT_DROP, "<=", n=t["n"], unit=unit, fmt=_pct,
                                what=f"the {guard} drop"))  # fmt: skip
    d = all_of(*decisions)
    first = confirmation.get(guards[0], {"drop": None, "ci": None})
    return PatchReduceResult(
        d.outcome, chosen, threshold, selection, g["drop"], g["ci"], first["drop"], first["ci"], n_sel,
        n_conf, d.reason, d.n_needed, guards, confirmation,
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
    references: dict = field(default_factory=dict)
    """Evidence beside the decision, on the same confirmation mazes and targets: reference (`ceiling`: a
    real cheese on the target, no edit; `none`: no edit, as the edits are played) -> {share, ci} of the
    mazes retargeted (Wilson interval); references a run did not record are left out."""
    relative_to_ceiling: float | None = None
    """The chosen edit's share / the ceiling's (None without a ceiling or when the ceiling's share is 0)."""
    relative_to_ceiling_ci: tuple[float, float] | None = None
    """Its percentile bootstrap interval, confirmation mazes resampled with both their outcomes."""
    path_probability: dict = field(default_factory=dict)
    """Mean path probability over the confirmation mazes' targets: `edit` (the chosen), `ceiling`, `none`
    (those recorded)."""
    short_mazes: dict | None = None
    """Confirmation mazes with fewer targets than the most any maze has, because fewer squares were
    eligible (`targets: off-path`): {mazes, targets_per_maze, fewest_eligible, without_targets (mazes of
    the run with no eligible square at all, so no row in the table and no part in any share)}; None when
    no maze is short."""

    def numbers(self) -> dict:
        return asdict(self)


CEILING, NONE = "ceiling", "none"
"""The reference rows of a retargeting table (mazeprobe.experiments.retarget)."""


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
    n_boot: int = 1000,
    seed: int = 0,
) -> RetargetResult:
    """Some edit of `family` aimed at targets, changing at most `max_fraction` of the network's
    activations, retargets the agent in at least `share` of random mazes? Among the family's edits whose
    edited_fraction_network (its largest over the mazes) is at most `max_fraction`, the one retargeting the
    most selection-half mazes (a maze: at least 4 of its 5 targets reached); yes when the Wilson interval
    of the share it retargets among the confirmation-half mazes lies at or above `share`, no when it lies
    below, else unresolved. No eligible edit: no. Beside the decision (evidence, not criteria), on the
    same confirmation mazes: the shares the real-cheese ceiling and the unedited network retarget, the
    edit's share relative to the ceiling's, and the mean path probabilities (_references)."""
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
    within = {k: v for k, v in selection.items() if v["eligible"]}
    eligible = {k: v for k, v in within.items() if np.isfinite(v["retargeted_share"])}
    if not within:  # the budget is exact (counted activations): the family has no edit this small
        return RetargetResult(
            "no", None, max_fraction, selection, n_selection=n_sel, n_confirmation=n_conf,
            reason=f"no edit of the family changes at most {max_fraction:.4%} of the network's activations",
        )  # fmt: skip
    if not eligible:
        return RetargetResult(
            "unresolved", None, max_fraction, selection, n_selection=n_sel, n_confirmation=n_conf,
            reason="no selection-half maze has targets: nothing to choose an edit on",
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
    from scipy.stats import norm  # here: a rule's check reads this module's names without scipy.stats

    z = float(norm.ppf(1 - alpha / 2))
    # mazes of the run that got no target (nothing was eligible) are in the interventions table only
    lacking = np.setdiff1d(np.unique(interventions["seed"].to_numpy(np.int64)), seeds)
    untargeted = int((~selection_half(lacking, split_seed)).sum())
    ci = wilson_interval(rate, len(confirm), z)
    d = decide(rate, ci[0], ci[1], share, ">=", n=len(confirm), unit="confirmation mazes", fmt=_pct,
               what="the retargeted share")  # fmt: skip
    return RetargetResult(
        d.outcome, chosen, max_fraction, selection, rate, ci, n_sel, n_conf, d.reason, d.n_needed,
        **_references(retargeting, chosen, confirm, z, n_boot, seed, alpha, untargeted),
    )  # fmt: skip


def _references(
    retargeting: pd.DataFrame,
    chosen: str,
    confirm: pd.Series,
    z: float,
    n_boot: int,
    seed: int,
    alpha: float,
    untargeted: int,
) -> dict:
    """The chosen edit against the ceiling and the unedited network on the confirmation mazes (`confirm`:
    seed -> retargeted by the edit; `untargeted`: confirmation mazes without a target): RetargetResult's
    evidence fields."""
    references, hits = {}, {}
    for ref in (CEILING, NONE):
        hit = retargeted_mazes(retargeting, ref).reindex(confirm.index)
        if hit.isna().any():  # a run before the references were recorded (none: hand-built tables)
            continue
        hits[ref] = hit.astype(float).to_numpy()
        rate = float(hits[ref].mean())
        references[ref] = {"share": rate, "ci": wilson_interval(rate, len(hit), z)}
    ratio = ratio_ci = None
    if CEILING in hits and hits[CEILING].mean() > 0:
        edit = confirm.astype(float).to_numpy()
        # edit / ceiling = 1 - the edit's relative drop from the ceiling: the same paired bootstrap
        drop, lo, hi = relative_drop_interval(hits[CEILING], edit, n_boot, seed, alpha)
        ratio, ratio_ci = float(1.0 - drop), (float(1.0 - hi), float(1.0 - lo))
    rows = retargeting[retargeting["seed"].isin(confirm.index)]
    paths = {}
    if "path_probability" in rows.columns:
        for key, name in (("edit", chosen), (CEILING, CEILING), (NONE, NONE)):
            values = rows.loc[rows["intervention"] == name, "path_probability"].dropna()
            if len(values):
                paths[key] = float(values.mean())
    per_maze = retargeting.groupby(["intervention", "seed"]).size().groupby("seed").max()
    most = int(per_maze.max())
    short = rows[rows["intervention"] == chosen].groupby("seed").size()
    short = short[short < most]
    short_mazes = None
    if len(short) or untargeted:
        fewest = int(short.min()) if len(short) else 0
        if len(short) and "eligible_squares" in rows.columns:  # what was eligible, not only what was drawn
            fewest = int(rows.loc[rows["seed"].isin(short.index), "eligible_squares"].min())
        short_mazes = {
            "mazes": len(short) + untargeted,
            "targets_per_maze": most,
            "fewest_eligible": 0 if untargeted else fewest,
            "without_targets": untargeted,
        }
    return {
        "references": references,
        "relative_to_ceiling": ratio,
        "relative_to_ceiling_ci": ratio_ci,
        "path_probability": paths,
        "short_mazes": short_mazes,
    }
