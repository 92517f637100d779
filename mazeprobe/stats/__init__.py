"""Statistics on experiment results: analysis plans (analysis/*.yaml), their models, their outputs.

plan = load_plan("analysis/behavioral.yaml")
result = fit_plan(load_input("data/runs/behavioral-demo"), plan)
print(result.summary_text())
write_outputs(result, "data/stats/behavioral")

Each model kind (logit, rate, ...) is one record of KIND_REGISTRY (mazeprobe.stats.kinds).
"""

from __future__ import annotations

from mazeprobe.lazy import lazy_names

# Each public name and the module that owns it, imported on first use: `mazeprobe --help` and every
# command that only needs a submodule (a plan, a probe's name) must not pay for statsmodels, scikit-learn
# and torch at start-up.
_OWNERS = {
    "AnalysisData": "mazeprobe.stats.data",
    "load_input": "mazeprobe.experiments.inputs",  # reading a run is the experiments layer's
    "prepare": "mazeprobe.stats.data",
    "FitError": "mazeprobe.stats.errors",
    "fit_plan": "mazeprobe.stats.fit",
    "run_analysis": "mazeprobe.stats.fit",
    "KIND_REGISTRY": "mazeprobe.stats.kinds",
    "ModelKind": "mazeprobe.stats.kinds",
    "Quantities": "mazeprobe.stats.kinds",
    "Setting": "mazeprobe.stats.kinds",
    "MODELS": "mazeprobe.stats.models",
    "ModelResult": "mazeprobe.stats.models",
    "MODEL_KINDS": "mazeprobe.stats.plan",
    "OUTCOMES": "mazeprobe.stats.plan",
    "AnalysisPlan": "mazeprobe.stats.plan",
    "ModelSpec": "mazeprobe.stats.plan",
    "load_plan": "mazeprobe.stats.plan",
    "make_plan": "mazeprobe.stats.plan",
    "parse_plan": "mazeprobe.stats.plan",
    "FitResult": "mazeprobe.stats.result",
    "write_outputs": "mazeprobe.stats.result",
}


__getattr__ = lazy_names(__name__, _OWNERS)


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
