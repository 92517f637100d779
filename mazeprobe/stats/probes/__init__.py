"""Linear probes on decision-square activations: where does the network keep the cheese?

Every probe is scored on held-out data by seeded K-fold cross-validation and always next to two
controls, so a number is never reported without its baseline:

* shuffled: the same probe, same folds, on targets permuted across mazes (what the probe finds in
  activations that carry no information about this particular maze's cheese);
* random weights: the same probe on activations of the same layer of an ImpalaCNN with random weights,
  computed on the same observations (what the architecture and the pixels give away on their own).

selectivity = score - control score (for error metrics such as MAE: control - score), so a positive
selectivity always means "better than the control".

The probes (the published analysis's settings: logistic C = 10 with balanced classes, ridge alpha = 100):

* `coordinate_probes`: the cheese's row and column as multinomial classes (LogisticRegression) and as
  numbers (Ridge), from all activations flattened;
* `sparse_probes`: the same, after keeping the top-K activations by ANOVA F-test, chosen inside each
  training fold (selection on all data would leak the test fold's labels into the features);
* `pixel_probe`: for a conv map (N, C, H, W), each position's C-vector is one sample, labelled 1 iff the
  cheese's tile maps to that position; one logistic regression shared by all positions.

Features are standardised inside each fold (so C and alpha mean the same for every layer). Cheese
coordinates default to the OUTER 25x25 grid (`cheese_outer_row/col`, row 0 at the bottom), which is what
the pixels show; the inner-grid coordinates also depend on the maze's size (`coords="inner"`).

    layer = "embedder.block2.res1.resadd_out"
    run = RunDir("data/runs/probe")
    X, seeds = load_activations(run, layer)                 # mazeprobe.experiments
    targets = probe_targets(run.mazes(), seeds)
    obs = decision_square_observations(targets)             # mazeprobe.sim: what the network saw
    X_random = random_weight_activations(obs, layer, scale=4, seed=0)   # mazeprobe.agents.impala
    results_table(coordinate_probes(X, targets, X_random=X_random, layer=layer))

The fitting functions take activations and targets as arrays and frames; reading a run directory and
building the random-weight control belong to the experiments layer (mazeprobe.experiments.inputs), so all
of it at once is:

    probe_run(probe_inputs("data/runs/probe", probe_request(layer)))
"""
from __future__ import annotations

from mazeprobe.lazy import lazy_names

PROBES = ("cheese-coords", "cheese-pixel", "sparse", "cheese-position")
"""The probes `probe_run` (and `mazeprobe probe --probe`) knows, by name."""
# Names that a probe plan's check and the registry's rules read: here, beside PROBES, so that validating
# predictions loads no scikit-learn.
COORDS = {"outer": ("cheese_outer_row", "cheese_outer_col"), "inner": ("cheese_row", "cheese_col")}
POSITION_METRICS = (
    "exact_position_accuracy",
    "row_accuracy",
    "col_accuracy",
    "within_1_position_accuracy",
)
"""What the position probe reports, the primary first: every one a share of the held-out mazes."""
MAZE_SHARES: dict[str, tuple[str, ...]] = {
    "cheese-position": POSITION_METRICS,
    "cheese-coords": ("accuracy", "within_1"),
    "sparse": ("accuracy", "within_1"),
    "cheese-pixel": (),  # its accuracies are shares of map positions (H*W per maze), not of mazes
}
"""Per probe, the metrics of its headline result (a plan's result) that are a share of the held-out
mazes, each maze predicted once: what a Wilson interval over the mazes applies to."""

# Each public name and the module that owns it, imported on first use, so that naming a probe (the CLI's
# parser) imports nothing heavy, and fitting probes on arrays never imports torch or procgen.
_OWNERS = {
    **dict.fromkeys(
        ("coordinate_probes", "grid_to_spatial", "pixel_probe", "position_probe", "probe_targets",
         "sparse_probes"),
        "mazeprobe.stats.probes.cheese",
    ),
    **dict.fromkeys(("FIT_THREADS", "LOGISTIC_C", "MAX_ITER", "RIDGE_ALPHA", "TASKS", "fit_probe"),
                    "mazeprobe.stats.probes.cv"),
    **dict.fromkeys(("METRICS", "ProbeResult", "results_table"), "mazeprobe.stats.probes.result"),
    **dict.fromkeys(("plan_request", "plan_result", "probe_request", "probe_run"),
                    "mazeprobe.stats.probes.run"),
    # names that live in the layers below (run-directory files, the simulator, the network)
    "ActivationDataError": "mazeprobe.experiments.activations",
    "load_activations": "mazeprobe.experiments.activations",
    **dict.fromkeys(("ProbeInputs", "ProbeRequest", "probe_inputs"), "mazeprobe.experiments.inputs"),
    "decision_square_observations": "mazeprobe.sim.observe",
    "random_weight_activations": "mazeprobe.agents.impala",
}


__getattr__ = lazy_names(__name__, _OWNERS)


__all__ = [
    "COORDS",
    "FIT_THREADS",
    "MAZE_SHARES",
    "POSITION_METRICS",
    "LOGISTIC_C",
    "MAX_ITER",
    "METRICS",
    "PROBES",
    "RIDGE_ALPHA",
    "TASKS",
    "ActivationDataError",
    "ProbeInputs",
    "ProbeRequest",
    "ProbeResult",
    "coordinate_probes",
    "decision_square_observations",
    "fit_probe",
    "grid_to_spatial",
    "load_activations",
    "plan_request",
    "plan_result",
    "probe_inputs",
    "probe_request",
    "pixel_probe",
    "position_probe",
    "probe_run",
    "probe_targets",
    "random_weight_activations",
    "results_table",
    "sparse_probes",
]
