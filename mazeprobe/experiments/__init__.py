"""Batch experiments: specs (YAML), runs in resumable chunks on local processes or Dask, run
directories (`RunDir`: the one owner of their files and manifest), recorded activations, and vector
fields.

It sits beside `mazeprobe.training` above the agents: it plays agents through the rollout engine
(`mazeprobe.sim`) and writes what they did; the statistics layer above reads runs through `RunDir`.

    spec = load_spec("analysis/behavioral-demo.yaml")
    run_dir = run_experiment(spec, workers=2)
    frame = RunDir(run_dir).load()
"""

from mazeprobe.experiments.activations import ActivationDataError, load_activations
from mazeprobe.experiments.run import run_experiment
from mazeprobe.experiments.rundir import RunDir, RunError
from mazeprobe.experiments.spec import ExperimentSpec, load_spec
from mazeprobe.experiments.vfield import VectorFieldPicture, field_picture

__all__ = [
    "ActivationDataError",
    "ExperimentSpec",
    "RunDir",
    "RunError",
    "VectorFieldPicture",
    "field_picture",
    "load_activations",
    "load_spec",
    "run_experiment",
]
