"""Maximum-likelihood fits of a (fractional) logit with statsmodels, and what they report.

`mle` fits a logit to a binary outcome or a fractional logit (GLM Binomial) to a probability; a fit that
meets perfect separation or does not converge raises NoFit.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

from mazeprobe.stats.data import AnalysisData
from mazeprobe.stats.design import design_matrix
from mazeprobe.stats.errors import FitError


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
    """A maximum-likelihood fit that did not converge or met perfect separation."""


def mle(
    data: AnalysisData, cols: tuple[int, ...], cov_type: str = "nonrobust", cov_kwds: dict | None = None
) -> Any:
    """Logit (binary outcome) or fractional logit (GLM Binomial, probability outcome) on `cols`: the
    statsmodels results."""
    exog = design_matrix(data, cols)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if data.outcome_kind == "binary":
                # identification is checked by `identified`; statsmodels' own rank check is a QR per fit
                res = sm.Logit(data.y, exog, check_rank=False).fit(
                    disp=0, method="newton", maxiter=100, cov_type=cov_type, cov_kwds=cov_kwds
                )
                converged = bool(res.mle_retvals.get("converged", False))
            else:
                res = sm.GLM(data.y, exog, family=sm.families.Binomial()).fit(
                    maxiter=100, cov_type=cov_type, cov_kwds=cov_kwds
                )
                converged = bool(res.converged)
        except PerfectSeparationError as exc:
            raise NoFit("perfect separation") from exc
        except np.linalg.LinAlgError as exc:
            raise NoFit(f"singular matrix ({exc})") from exc
    # a probability outcome strictly inside (0, 1) that the model fits exactly is a perfect fit with
    # finite coefficients, not separation
    interior = data.outcome_kind == "fraction" and bool(((data.y > 0) & (data.y < 1)).all())
    if not interior and any(issubclass(w.category, PerfectSeparationWarning) for w in caught):
        raise NoFit("perfect separation")
    params = np.asarray(res.params)
    if not converged or not np.isfinite(params).all():
        raise NoFit("no convergence")
    return res


def separation_error(data: AnalysisData, reason: str) -> FitError:
    """The error of a model that needs a maximum-likelihood fit that failed with `reason`."""
    return FitError(
        f"the maximum-likelihood fit failed ({reason}): the features separate {data.outcome} perfectly or "
        "almost perfectly, so the coefficients run off to infinity and no interval is meaningful. Check "
        "that the outcome is not a function of a feature; drop that feature, or use l1-logit (penalised)"
    )
