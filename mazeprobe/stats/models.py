"""The models of an analysis plan, by their old path: MODELS (kind -> fit function) and the fit functions.

The fit functions live in mazeprobe.stats.modelfits and each kind's record, which names its fit function,
in mazeprobe.stats.kinds; MODELS is a view of that registry, kept for code that reads it.
"""

from __future__ import annotations

from collections.abc import Callable

from mazeprobe.stats.data import AnalysisData
from mazeprobe.stats.kinds import KIND_REGISTRY, Owned
from mazeprobe.stats.modelfits import (
    VIF_WARN,
    ModelResult,
    auc_score,
    fit_drop_one,
    fit_l1_logit,
    fit_logit,
    fit_rate,
    fit_sign_stability,
    fit_single,
    fit_vif,
    wilson_interval,
)
from mazeprobe.stats.planspec import ModelSpec

__all__ = [
    "MODELS",
    "VIF_WARN",
    "ModelResult",
    "auc_score",
    "fit_drop_one",
    "fit_l1_logit",
    "fit_logit",
    "fit_rate",
    "fit_sign_stability",
    "fit_single",
    "fit_vif",
    "wilson_interval",
]

MODELS: dict[str, Callable[[AnalysisData, ModelSpec], ModelResult]] = {
    name: kind.fit.resolve() if isinstance(kind.fit, Owned) else kind.fit
    for name, kind in KIND_REGISTRY.items()
}
"""Each model kind's fit function (a view of mazeprobe.stats.kinds.KIND_REGISTRY)."""
