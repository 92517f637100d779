"""Statistics on experiment results: analysis plans (analysis/*.yaml), their models, their outputs.

plan = load_plan("analysis/behavioral.yaml")
result = fit_plan(load_input("data/runs/behavioral-demo"), plan)
print(result.summary_text())
write_outputs(result, "data/stats/behavioral")

Each model kind (logit, rate, ...) is one record of KIND_REGISTRY (mazeprobe.stats.kinds).
"""

from mazeprobe.stats.data import AnalysisData, load_input, prepare
from mazeprobe.stats.errors import FitError
from mazeprobe.stats.fit import fit_plan, run_analysis
from mazeprobe.stats.kinds import KIND_REGISTRY, ModelKind, Quantities, Setting
from mazeprobe.stats.models import MODELS, ModelResult
from mazeprobe.stats.plan import (
    MODEL_KINDS,
    OUTCOMES,
    AnalysisPlan,
    ModelSpec,
    load_plan,
    make_plan,
    parse_plan,
)
from mazeprobe.stats.result import FitResult, write_outputs

__all__ = [
    "KIND_REGISTRY",
    "MODELS",
    "MODEL_KINDS",
    "OUTCOMES",
    "AnalysisData",
    "AnalysisPlan",
    "FitError",
    "FitResult",
    "ModelKind",
    "ModelResult",
    "ModelSpec",
    "Quantities",
    "Setting",
    "fit_plan",
    "load_input",
    "load_plan",
    "make_plan",
    "parse_plan",
    "prepare",
    "run_analysis",
    "write_outputs",
]
