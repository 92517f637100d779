"""The shipped study's runs on any checkpoint (`mazeprobe study`): the four specs `make results` runs,
rewritten to name another network, and an estimate of their time on this machine.

    specs = write_study_specs("analysis", "out/analysis", "path/to/model.pth", small=False)
    warm = warm_up("path/to/model.pth", "cpu")          # a few mazes through the network, timed
    plan = [planned_work(spec, warm.mean_steps) for spec in specs]

A study spec is its shipped spec (analysis/<name>.yaml) with policy.checkpoint set to the network studied
(and, with `small`, fewer mazes), written beside the shipped plans so that a run's spec_file names a
file that hashes to its spec. The run keeps the shipped name, so the probe plan that names its run
(probe-run-r2) finds it; the family hash leaves out the network and the number of mazes, so the
registered families are the same families on this network.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import MazeprobeError
from mazeprobe.experiments.spec import ExperimentSpec, RolloutSpec, load_spec
from mazeprobe.yamlio import load_yaml

STUDY_SPECS = ("behavioral-10k", "model-editing-r2", "retargeting-r2", "probe-run-r2")
"""The runs of `make results` (its RUNS), in its order: the behavioural run is the primary run the plans
are fitted on."""

SMALL_MAZES = {"behavioral-10k": 8, "model-editing-r2": 1, "retargeting-r2": 1, "probe-run-r2": 20}
"""Mazes per spec with `small`: a test of the flow (about a minute for a scale-4 network on 2 CPU cores),
not a result."""
SMALL_STEPS = 8
"""With `small`: the step limit of every rollout, and of the warm-up."""
SMALL_FAMILY = {"targets_per_maze": 1, "channel_ranking": 8, "mean_ablate": 4}
"""With `small`: retargeting targets per maze, channel-ranking mazes and mean-ablation mazes. These, and
the step limit, are part of a family's hash: a small study's families are not the registered ones, so
the model-editing and retargeting questions stay unresolved in it (a scale-4 network on a CPU cannot
rank its channels on the registered 1,000 mazes, 256-step episodes, in a minute)."""

WARM_UP_SEED = 999_999
"""The warm-up's maze sample: not one a study run uses."""


@dataclass(frozen=True)
class WarmUp:
    """A short timed rollout of the network on this machine: what the estimate extrapolates from."""

    device: str
    scale: int
    mazes: int
    network_steps: int
    """Observations through the network (one per live episode per step)."""
    seconds: float

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.network_steps, 1)


def write_study_specs(
    analysis_dir: str | os.PathLike, out_dir: str | os.PathLike, checkpoint: str | os.PathLike, small: bool
) -> list[ExperimentSpec]:
    """Write each of STUDY_SPECS from `analysis_dir` into `out_dir` naming `checkpoint` (absolute), with
    fewer mazes when `small`; returns them as loaded back. A rewritten spec whose family of edits no longer
    hashes as the shipped one is a MazeprobeError (it could not resolve the registered questions)."""
    from mazeprobe.experiments.intervention_spec import family_hash

    checkpoint = Path(checkpoint).resolve()
    out = []
    for name in STUDY_SPECS:
        source = Path(analysis_dir) / f"{name}.yaml"
        shipped = load_spec(source)
        data = dict(load_yaml(source).data)
        data["policy"] = {**data["policy"], "checkpoint": str(checkpoint)}
        data["policy"].pop("device", None)  # where it runs is the study's --device
        changed = "policy.checkpoint"
        if small:
            _shrink(name, data)
            changed += " and, --small (a test of the flow, not a result), the sizes"
        head = f"# written by `mazeprobe study`: {source} with {changed} changed; the rest as shipped\n"
        target = Path(out_dir) / f"{name}.yaml"
        text = head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)
        write_bytes(target, text.encode("utf-8"))
        spec = load_spec(target)
        if not small and spec.interventions and family_hash(spec.to_dict()) != family_hash(shipped.to_dict()):
            raise MazeprobeError(f"{target}: its family of edits no longer hashes as {source}'s")
        out.append(spec)
    return out


def _shrink(name: str, data: dict) -> None:
    """A spec's YAML content made small (SMALL_MAZES, SMALL_STEPS, SMALL_FAMILY), in place."""
    data["mazes"] = {**data["mazes"], "n": SMALL_MAZES[name]}
    rollouts = data.get("rollouts") or {}
    steps = int(rollouts.get("max_steps", RolloutSpec.max_steps))
    data["rollouts"] = {**rollouts, "max_steps": min(steps, SMALL_STEPS)}
    if data.get("retargeting"):
        data["retargeting"] = {**data["retargeting"], "targets_per_maze": SMALL_FAMILY["targets_per_maze"]}
    if data.get("interventions"):
        data["channel_ranking"] = {
            **(data.get("channel_ranking") or {}),
            "n": SMALL_FAMILY["channel_ranking"],
        }
        data["interventions"] = [
            {**i, "n": SMALL_FAMILY["mean_ablate"]} if i.get("edit") == "mean-ablate" else i
            for i in data["interventions"]
        ]


def warm_up(checkpoint: str | os.PathLike, device: str, mazes: int = 64, steps: int = 16) -> WarmUp:
    """Play `mazes` decision-square test mazes at once (a full batch of the run engine: 64) for `steps`
    steps with the network on `device`, in one thread as a run's worker does, and time it, after two
    steps that pay the start-up costs (compiling, loading) outside the timing: what a network step costs
    in a full batch. Episode lengths are not measured (the estimate takes each episode to its limit)."""
    import torch

    from mazeprobe.agents import make_policy
    from mazeprobe.agents.impala import load_checkpoint
    from mazeprobe.maze.sampling import SampleSpec, sample_mazes
    from mazeprobe.sim import Roller, RolloutSettings, maze_batch, start_states

    scale = load_checkpoint(checkpoint, device="cpu").scale
    policy = make_policy(checkpoint=str(checkpoint), device=device)
    sample = SampleSpec(n=mazes, seed=WARM_UP_SEED, placement="natural", require_decision_square=True,
                        exclude_cheese_top_right=5)  # fmt: skip
    table = sample_mazes(sample)
    roller = Roller(64)
    batch, states = maze_batch(table), start_states(table, roller.loader)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a run's worker process computes (experiments.run._quiet_threads)
    try:
        first = RolloutSettings(per_maze=1, max_steps=2, actions="sample", seed=0)
        roller.episodes(policy, batch, states, first)
        t0 = time.perf_counter()
        settings = RolloutSettings(per_maze=1, max_steps=steps, actions="sample", seed=0)
        episodes = roller.episodes(policy, batch, states, settings)
        seconds = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    return WarmUp(str(device), scale, len(table), int(episodes["steps"].sum()), seconds)


def planned_work(spec: ExperimentSpec, mean_steps: float | None = None) -> int:
    """About how many observations a run of `spec` sends through the network, its episodes taken to last
    `mean_steps` (capped by the spec's step limit; None: the limit, an upper bound): every episode (the
    unedited network's, each edit's,
    per retargeting target with the real-cheese ceiling, and the unedited rollout that finds off-path
    targets), the decision-square views, and the channel ranking's and mean ablations' passes."""
    n, per = spec.mazes.n, spec.rollouts.per_maze
    limit = spec.rollouts.max_steps
    length = limit if mean_steps is None else min(float(mean_steps), limit)
    views = 1 if spec.record.decision_square_probs or spec.record.activations else 0
    episodes, passes = n * per, n * views
    aimed = [i for i in spec.interventions if i.per_target]
    plain = [i for i in spec.interventions if not i.per_target]
    episodes += n * per * len(plain)
    passes += n * len(plain) * (1 if spec.record.decision_square_probs else 0)
    if spec.retargeting is not None:
        per_target = spec.retargeting.targets_per_maze * spec.retargeting.rollouts_per_target
        episodes += n * per_target * (len(aimed) + 1)  # the aimed edits and the ceiling
        if spec.retargeting.targets == "off-path":
            episodes += n * per  # the unedited rollout, cheese removed, that marks the visited squares
    if any(i.ranked_layers() for i in spec.interventions):
        passes += 2 * spec.channel_ranking.n  # each ranking maze with and without its cheese
    for i in spec.interventions:
        passes += sum(int(getattr(e, "n", 0) or 0) for e in i.edits)  # mean-ablate's mean
    return int(round(episodes * length + passes))
