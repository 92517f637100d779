"""Deciding what a network learned or was taught, from shares of mazes: a probe's held-out score against a
threshold and against its random-weight control, and a fine-tuned network's cheese rate on test mazes
against a share of its own rate on uniformly placed cheese.

Numbers in, a Decision (mazeprobe.stats.decide: yes or no only when the 95% interval lies wholly on one
side) and the numbers it was decided from out; the rules (mazeprobe.registry.rules.editing) put them into
words.
"""

from __future__ import annotations

from scipy.stats import norm

from mazeprobe.stats.decide import Decision, all_of, decide, difference_interval
from mazeprobe.stats.kinds import DEFAULT_ALPHA
from mazeprobe.stats.measures import wilson_interval

Z = float(norm.ppf(1 - DEFAULT_ALPHA / 2))
"""The normal quantile of the 95% intervals."""


def _pct(x: float) -> str:
    return f"{x:.1%}"


def beats_control(
    score: float, control: float, n: int, threshold: float, margin: float, metric: str, who: str
) -> tuple[Decision, dict]:
    """A probe metric that is a share of `n` held-out mazes (each predicted once), decided against
    `threshold` on its Wilson interval and against its random-weight control on Newcombe's interval of the
    lead: no when the score's interval lies at or below the threshold; unresolved (not no) when the score
    beats the threshold but the lead's interval does not reach `margin` (the claim is then not shown false,
    only not shown to be the layer's own rather than the architecture's); `who` names the probe in that
    reason. Returns the decision and {score_ci, random_weights_ci, lead, lead_ci}."""
    score_ci, control_ci = wilson_interval(score, n, Z), wilson_interval(control, n, Z)
    lead, lo, hi = difference_interval(score, *score_ci, control, *control_ci)
    numbers = {"score_ci": list(score_ci), "random_weights_ci": list(control_ci), "lead": lead,
               "lead_ci": [lo, hi]}  # fmt: skip
    beats = decide(score, *score_ci, threshold, ">", n=n, fmt=_pct, what=f"the {metric}")
    if beats.outcome == "no":
        return beats, numbers
    what = "the lead over the control" if who == "the probe" else f"the {metric} lead over the control"
    d = all_of(beats, decide(lead, lo, hi, margin, ">=", n=n, fmt=_pct, what=what))
    if d.outcome == "no":  # the lead is clearly short of the margin: not false, not the layer's own either
        said = f"beats {threshold:g}"
        if beats.outcome != "yes":
            said = f"may beat {threshold:g} ({beats.reason})"
        return Decision("unresolved", f"{who} {said} but its random-weight control is within {margin:g} of "
                        "it"), numbers  # fmt: skip
    return d, numbers


def at_least_share_of(
    rate: float, n: int, reference: float, n_reference: int, share: float, what: str
) -> tuple[Decision, dict]:
    """rate >= share x reference, two rates of independent samples (n and n_reference episodes), decided
    on the 95% interval of the contrast rate - share x reference. Returns the decision and {rate_ci,
    reference_ci, ratio (None when the reference is 0), contrast, contrast_ci}.

    The interval is MOVER (Zou & Donner 2008; Newcombe's method 10 is its case share = 1): each rate's own
    Wilson limits, the reference's scaled by the share, joined by root-sum-square on each side. Not a Wald
    interval (too narrow and symmetric for rates near 0.8 or 0.9 over 500 episodes), not the ratio's delta
    method (skewed near 1), not a bootstrap: an evaluation keeps rates, not episodes, and a proof must
    recompute the very same interval."""
    rate_ci, ref_ci = wilson_interval(rate, n, Z), wilson_interval(reference, n_reference, Z)
    scaled = (share * reference, share * ref_ci[0], share * ref_ci[1])  # share > 0 keeps the limits' order
    diff, lo, hi = difference_interval(rate, *rate_ci, *scaled)
    # the planning figure: both samples growing together, the interval narrowing as 1 / sqrt(n)
    d = decide(diff, lo, hi, 0.0, ">=", n=min(n, n_reference), unit="episodes per suite", fmt=_pct, what=what)
    numbers = {"rate_ci": list(rate_ci), "reference_ci": list(ref_ci),
               "ratio": rate / reference if reference > 0 else None, "contrast": diff,
               "contrast_ci": [lo, hi]}  # fmt: skip
    return d, numbers
