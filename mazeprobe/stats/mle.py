"""Maximum-likelihood fits of a (fractional) logit with statsmodels, and what they report.

`mle` fits a logit to a binary outcome or a fractional logit (GLM Binomial) to a probability; a fit that
meets perfect separation or does not converge raises NoFit, and every other warning met while fitting
comes back with the fit (mazeprobe.stats.fitwarnings) for the model's warnings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

from mazeprobe.stats.data import AnalysisData
from mazeprobe.stats.design import design_matrix
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.fitwarnings import Met, recording, summarize


def resolve_cov(data: AnalysisData, cov_type: str) -> tuple[str, dict]:
    """The statsmodels cov_type (and its cov_kwds) that a plan's `cov_type` (auto, cluster, ...) means
    for these rows: auto clusters by maze when mazes repeat."""
    if cov_type == "auto":
        if data.repeated:
            cov_type = "cluster"
        else:
            cov_type = "nonrobust" if data.outcome_kind == "binary" else "HC0"
    if cov_type == "cluster":
        if data.groups is None:
            raise FitError("cov_type cluster needs a seed column to cluster by maze")
        return "cluster", {"groups": data.groups}
    return cov_type, {}


class NoFit(Exception):
    """A maximum-likelihood fit that did not converge or met perfect separation; `met` holds the
    warnings met on the way (a caller that leaves the fit out still counts them)."""

    def __init__(self, reason: str, met: Met = ()) -> None:
        super().__init__(reason)
        self.met = met


def mle(
    data: AnalysisData, cols: tuple[int, ...], cov_type: str = "nonrobust", cov_kwds: dict | None = None
) -> tuple[Any, Met]:
    """Logit (binary outcome) or fractional logit (GLM Binomial, probability outcome) on `cols`: the
    statsmodels results and the warnings met while fitting. Statistics that statsmodels computes when
    first read (bse, llnull, ...) may warn later: a caller reading them records those itself."""
    exog = design_matrix(data, cols)
    with recording() as caught:
        try:
            if data.outcome_kind == "binary":
                # cov_kwds only when there are some: statsmodels (0.14, 0.15) hands an empty one on to the
                # optimizer, which warns (FutureWarning) about an argument it does not take, in every fit
                cov = {"cov_type": cov_type, **({"cov_kwds": cov_kwds} if cov_kwds else {})}
                # identification is checked by `identified`; statsmodels' own rank check is a QR per fit
                res = sm.Logit(data.y, exog, check_rank=False).fit(
                    disp=0, method="newton", maxiter=100, **cov
                )
                converged = bool(res.mle_retvals.get("converged", False))
            else:
                res = sm.GLM(data.y, exog, family=sm.families.Binomial()).fit(
                    maxiter=100, cov_type=cov_type, cov_kwds=cov_kwds
                )
                converged = bool(res.converged)
        except PerfectSeparationError as exc:
            raise NoFit("perfect separation", summarize(caught, "statsmodels")) from exc
        except np.linalg.LinAlgError as exc:
            raise NoFit(f"singular matrix ({exc})", summarize(caught, "statsmodels")) from exc
    met = summarize(caught, "statsmodels")
    # a probability outcome strictly inside (0, 1) that the model fits exactly is a perfect fit with
    # finite coefficients, not separation (statsmodels' warning then stays among the fit's warnings)
    interior = data.outcome_kind == "fraction" and bool(((data.y > 0) & (data.y < 1)).all())
    if not interior and any(issubclass(w.category, PerfectSeparationWarning) for w in caught):
        raise NoFit("perfect separation", met)
    params = np.asarray(res.params)
    if not converged or not np.isfinite(params).all():
        raise NoFit("no convergence", met)
    return res, met


def separation_error(data: AnalysisData, reason: str) -> FitError:
    """The error of a model that needs a maximum-likelihood fit that failed with `reason`."""
    return FitError(
        f"the maximum-likelihood fit failed ({reason}): the features separate {data.outcome} perfectly or "
        "almost perfectly, so the coefficients run off to infinity and no interval is meaningful. Check "
        "that the outcome is not a function of a feature; drop that feature, or use l1-logit (penalised)"
    )
