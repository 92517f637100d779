"""Threshold decisions on intervals: the one place that says when data decide "above" or "below".

A registered threshold is decided yes or no only when the 95% interval of the estimate lies wholly on one
side of it; when the interval contains the threshold the data cannot tell, and the outcome is unresolved,
with the interval and an estimate of how many mazes would decide it if the estimate stayed where it is.
Every threshold rule (greater-than, less-than, patch-reduce, retarget, fine-tune, probe-beats-control)
calls `decide`; combinations of several criteria call `all_of`.

The estimate of mazes needed assumes the interval's half-width shrinks as 1 / sqrt(n), as it does for a
rate, a mean or a regression coefficient: n' = n (w / d)^2, w the half-width on the side facing the
threshold and d the distance from the estimate to the threshold. It is a planning figure, not a promise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

CLAIMS = {
    ">": "above",
    ">=": "at least",
    "<": "below",
    "<=": "at most",
}
"""What a threshold claim says, in words."""


@dataclass(frozen=True)
class Decision:
    outcome: str
    """yes, no or unresolved."""
    reason: str | None = None
    """Why it is unresolved (None otherwise)."""
    n_needed: int | None = None
    """Unresolved: about how many mazes would decide it at the observed value (None: none would, the
    estimate sits on the threshold)."""


def _g(x: float) -> str:
    return f"{x:.3g}"


def decide(
    value: float,
    lo: float,
    hi: float,
    threshold: float,
    claim: str,
    *,
    n: int | None = None,
    unit: str = "mazes",
    fmt: Callable[[float], str] = _g,
    what: str = "the estimate",
) -> Decision:
    """Decide `value CLAIM threshold` (claim one of CLAIMS) on the interval [lo, hi] of `value`, estimated
    from `n` units (mazes): yes when the interval lies wholly on the claimed side, no when it lies wholly
    on the other, unresolved otherwise (or when a number is missing)."""
    if claim not in CLAIMS:
        raise ValueError(f"claim must be one of {', '.join(CLAIMS)}; got {claim!r}")
    if not all(isinstance(x, int | float) and math.isfinite(x) for x in (value, lo, hi)):
        return Decision("unresolved", f"{what} or its 95% interval is missing or not finite")
    above = {">": lo > threshold, ">=": lo >= threshold, "<": lo >= threshold, "<=": lo > threshold}[claim]
    below = {">": hi <= threshold, ">=": hi < threshold, "<": hi < threshold, "<=": hi <= threshold}[claim]
    if above or below:
        yes = above if claim in (">", ">=") else below
        return Decision("yes" if yes else "no")
    gap = abs(value - threshold)
    half = (value - lo) if value > threshold else (hi - value)
    needed = None
    if gap > 0 and n:
        needed = max(int(math.ceil(n * (half / gap) ** 2)), n + 1)
    reason = (
        f"the 95% interval of {what} [{fmt(lo)}, {fmt(hi)}] contains the threshold {fmt(threshold)}: the "
        "data cannot tell"
    )
    if needed is not None:
        reason += f"; at the observed {fmt(value)} about {needed:,} {unit} would decide it (now {n:,})"
    elif n:
        reason += f"; the estimate {fmt(value)} sits on the threshold, so no number of {unit} decides it"
    return Decision("unresolved", reason, needed)


def all_of(*parts: Decision) -> Decision:
    """Several criteria that must all hold: no when any is no, yes when all are yes, else unresolved (with
    every unresolved part's reason and the largest number of mazes needed)."""
    outcomes = [p.outcome for p in parts]
    if "no" in outcomes:
        return Decision("no")
    if all(o == "yes" for o in outcomes):
        return Decision("yes")
    open_parts = [p for p in parts if p.outcome == "unresolved"]
    needed = [p.n_needed for p in open_parts]
    return Decision(
        "unresolved",
        "; ".join(p.reason for p in open_parts if p.reason),
        None if None in needed else max(needed),  # type: ignore[type-var]
    )


def difference_interval(
    p1: float, lo1: float, hi1: float, p2: float, lo2: float, hi2: float
) -> tuple[float, float, float]:
    """p1 - p2 with Newcombe's (1998, method 10) interval from the two proportions' own (Wilson) intervals."""
    d = p1 - p2
    return d, d - math.hypot(p1 - lo1, hi2 - p2), d + math.hypot(hi1 - p1, p2 - lo2)
