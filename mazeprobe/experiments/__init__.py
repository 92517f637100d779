"""Batch experiments: specs (YAML), runs in resumable chunks on local processes or Dask, run
directories (`RunDir`: the one owner of their files; `Manifest`: the typed manifest), recorded
activations, what the statistics layer is given from a run (`load_input`, `probe_inputs`), and vector
fields.

It sits beside `mazeprobe.training` above the agents: it plays agents through the rollout engine
(`mazeprobe.sim`) and writes what they did; the statistics layer above takes the tables and arrays it
reads from runs (experiments/inputs.py).

    spec = load_spec("analysis/behavioral-demo.yaml")
    run_dir = run_experiment(spec, workers=2)
    frame = RunDir(run_dir).load()
"""

from __future__ import annotations

from mazeprobe.lazy import lazy_names

# Each public name and the module that owns it, imported on first use: a command that reads a run
# directory (the registry's predictions commands) must not pay for torch, which the runner and the spec
# parser load through the agents.
_OWNERS = {
    "ActivationDataError": "mazeprobe.experiments.activations",
    "load_activations": "mazeprobe.experiments.activations",
    **dict.fromkeys(("ProbeInputs", "ProbeRequest", "load_input", "probe_inputs"),
                    "mazeprobe.experiments.inputs"),
    **dict.fromkeys(("Manifest", "ResolvedPolicy"), "mazeprobe.experiments.manifest"),
    "run_experiment": "mazeprobe.experiments.run",
    "RunDir": "mazeprobe.experiments.rundir",
    "RunError": "mazeprobe.experiments.rundir",
    "ExperimentSpec": "mazeprobe.experiments.spec",
    "load_spec": "mazeprobe.experiments.spec",
    "VectorFieldPicture": "mazeprobe.experiments.vfield",
    "field_picture": "mazeprobe.experiments.vfield",
}


__getattr__ = lazy_names(__name__, _OWNERS)


__all__ = [
    "ActivationDataError",
    "ExperimentSpec",
    "Manifest",
    "ProbeInputs",
    "ProbeRequest",
    "ResolvedPolicy",
    "RunDir",
    "RunError",
    "VectorFieldPicture",
    "field_picture",
    "load_activations",
    "load_input",
    "load_spec",
    "probe_inputs",
    "run_experiment",
]
