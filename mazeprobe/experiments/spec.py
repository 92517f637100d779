"""Batch experiment specs (analysis/*.yaml): one validated settings object per file.

    name: behavioral-demo
    policy:
      builtin: shard            # or: checkpoint: path/to/model.pth  (with optional device: cpu|cuda)
      params: {b0: 1.0, coefficients: {euc_dist_cheese_top_right: -2.5}}
    mazes: {n: 1000, seed: 0, placement: natural, require_decision_square: true,
            exclude_cheese_top_right: 5}
    rollouts: {per_maze: 1, max_steps: 256, actions: sample, seed: 0}
    record:
      decision_square_probs: true
      activations: {layers: [embedder.block2.res1.resadd_out], at: decision_square, dtype: float16}

Every problem is reported as `file:line:col: key.path: what is wrong (what is allowed)`; nothing runs
until the whole spec is valid.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mazeprobe.agents.layers import activation_names
from mazeprobe.agents.scripted import BUILTIN_AGENTS
from mazeprobe.devices import DEVICE_FORMS, device_problem
from mazeprobe.errors import MazeprobeError
from mazeprobe.experiments.intervention_spec import (
    InterventionSpec,
    RankingSpec,
    RetargetingSpec,
    parse_interventions,
    parse_ranking,
    parse_retargeting,
)
from mazeprobe.maze.placement import PLACEMENT_HELP
from mazeprobe.maze.sampling import SampleSpec, parse_sizes
from mazeprobe.sim import RolloutSettings
from mazeprobe.validation import NAME_HELP, NAME_PATTERN
from mazeprobe.yamlio import Checker, YamlDoc, check_kind, describe_value, load_yaml

MAX_PER_MAZE = 10_000
MAX_EPISODES = 20_000_000
EPISODE_BYTES = 700
"""About what one episode costs in the episodes table (its path of up to 256 steps and its outcomes)."""
MAX_CHUNK_MAZES = 100_000
ACTIVATION_MOMENTS = ("decision_square",)
ACTIVATION_DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class PolicySpec:
    builtin: str | None = None
    params: dict = field(default_factory=dict)
    checkpoint: str | None = None
    device: str = "cpu"
    """auto, cpu, cuda or cuda:N (mazeprobe.devices): where the network runs unless `mazeprobe run
    --device` says otherwise."""


@dataclass(frozen=True)
class RolloutSpec(RolloutSettings):
    chunk_mazes: int = 250
    """Mazes per chunk: the unit of parallel work, atomic writes and resume."""


@dataclass(frozen=True)
class ActivationSpec:
    layers: tuple[str, ...] = ()
    at: str = "decision_square"
    dtype: str = "float16"


@dataclass(frozen=True)
class RecordSpec:
    decision_square_probs: bool = False
    activations: ActivationSpec | None = None
    vfield_tv: bool = True
    """With interventions: each edit's vector-field difference from the unedited network, per maze
    (every open square rendered and evaluated: the costliest measure; false leaves it out)."""


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    policy: PolicySpec
    mazes: SampleSpec
    rollouts: RolloutSpec = RolloutSpec()
    record: RecordSpec = RecordSpec()
    interventions: tuple[InterventionSpec, ...] = ()
    retargeting: RetargetingSpec | None = None
    channel_ranking: RankingSpec = RankingSpec()
    source: str = ""
    """The file the spec came from (not part of its identity)."""

    def to_dict(self) -> dict:
        """The canonical content of the spec (what its hash covers). Sections added after the first
        release appear only when used, so the hashes of specs without them stay what they were."""
        out = asdict(self)
        out.pop("source")
        out["interventions"] = [i.to_dict() for i in self.interventions]
        if not self.interventions:
            for key in ("interventions", "retargeting", "channel_ranking"):
                out.pop(key)
            out["record"].pop("vfield_tv")
        elif out["retargeting"] is None:
            out.pop("retargeting")
        elif out["retargeting"]["targets"] == "reachable":
            out["retargeting"].pop("targets")  # the first release's rule, hashed as it was then
        return out

    @property
    def hash(self) -> str:
        """sha256 of the canonical content. The device is where a run computes, not what it computes,
        so it is hashed as its default: a run resumes on any device (and hashes made before the device
        left the identity stay valid)."""
        content = self.to_dict()
        content["policy"]["device"] = PolicySpec.device
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


_TOP = {
    "kind": "experiment (optional: tells this file from an analysis plan or a training config)",
    "name": "the run's name: data/runs/<name>/",
    "policy": "builtin or checkpoint",
    "mazes": "which mazes to sample",
    "rollouts": "how to play them",
    "record": "what to record besides episodes",
    "interventions": "edits of the network to measure beside the unedited one",
    "retargeting": "{targets_per_maze, remove_cheese, rollouts_per_target, seed, targets}",
    "channel_ranking": "{n, seed}: how {ranking: cheese-channels} channel sets are ranked",
}
_POLICY = {
    "builtin": f"one of {', '.join(BUILTIN_AGENTS)}",
    "params": "the built-in agent's parameters",
    "checkpoint": "path to an IMPALA checkpoint (.pth)",
    "device": f"{DEVICE_FORMS} (not part of the spec's identity)",
}
_MAZES = {
    "n": "number of mazes",
    "seed": "sampling seed",
    "placement": PLACEMENT_HELP,
    "require_decision_square": "true/false",
    "exclude_cheese_top_right": "R",
    "sizes": "MIN-MAX",
    "start_level": "first level seed",
}
_ROLLOUTS = {
    "per_maze": f"episodes per maze (1..{10_000:,})",
    "max_steps": "1..500",
    "actions": "sample or argmax",
    "seed": "action-sampling seed",
    "chunk_mazes": "mazes per chunk",
}
_RECORD = {
    "decision_square_probs": "true/false",
    "activations": "{layers, at, dtype}",
    "vfield_tv": "true/false: with interventions, the vector-field difference per maze (default true)",
}
_ACTIVATIONS = {"layers": "activation names", "at": "decision_square", "dtype": "float16 or float32"}


def parse_spec(doc: YamlDoc) -> ExperimentSpec:
    """Validate a parsed YAML document into an ExperimentSpec; raises SpecError listing every problem."""
    check_kind(doc, "experiment")
    c = Checker(doc)
    top = c.mapping(doc.data, (), _TOP, required=("name", "policy", "mazes"), none_ok=True)
    name = top.get("name")
    if "name" in top and (not isinstance(name, str) or not NAME_PATTERN.fullmatch(name)):
        c.fail(("name",), f"must be {NAME_HELP} (a folder name); got {name!r}")

    pol = c.mapping(top.get("policy"), ("policy",), _POLICY, none_ok="policy" not in top)
    if "policy" in top and ("builtin" in pol) == ("checkpoint" in pol):
        c.fail(("policy",), "give exactly one of builtin or checkpoint")
    if "builtin" in pol:
        c.choice(pol["builtin"], ("policy", "builtin"), BUILTIN_AGENTS)
    if "checkpoint" in pol and not isinstance(pol["checkpoint"], str):
        c.fail(("policy", "checkpoint"), f"must be a path; got {describe_value(pol['checkpoint'])}")
    if "params" in pol and not isinstance(pol["params"], dict):
        c.fail(("policy", "params"), f"must be a mapping; got {describe_value(pol['params'])}")
    if "params" in pol and "checkpoint" in pol:
        c.fail(("policy", "params"), "params apply to built-in agents only")
    if "device" in pol and device_problem(pol["device"]):
        c.fail(("policy", "device"), str(device_problem(pol["device"])))

    mz = c.mapping(top.get("mazes"), ("mazes",), _MAZES, required=("n",), none_ok="mazes" not in top)
    for key in ("n",):
        if key in mz:
            c.integer(mz[key], ("mazes", key), 1)
    for key in ("seed", "start_level"):
        if key in mz:
            c.integer(mz[key], ("mazes", key), 0)
    if "exclude_cheese_top_right" in mz:
        c.integer(mz["exclude_cheese_top_right"], ("mazes", "exclude_cheese_top_right"), 1)
    if "require_decision_square" in mz:
        c.boolean(mz["require_decision_square"], ("mazes", "require_decision_square"))
    sizes = None
    if "sizes" in mz:
        raw = mz["sizes"]
        try:
            sizes = tuple(raw) if isinstance(raw, list) and len(raw) == 2 else parse_sizes(str(raw))
        except MazeprobeError as exc:
            c.fail(("mazes", "sizes"), str(exc))

    ro = c.mapping(top.get("rollouts"), ("rollouts",), _ROLLOUTS, none_ok=True)
    if "per_maze" in ro:
        c.integer(ro["per_maze"], ("rollouts", "per_maze"), 1, MAX_PER_MAZE)
        n_mazes = mz.get("n") if isinstance(mz.get("n"), int) else 1
        if isinstance(ro["per_maze"], int) and 0 < ro["per_maze"] <= MAX_PER_MAZE:
            episodes = n_mazes * ro["per_maze"]
            if episodes > MAX_EPISODES:
                c.fail(
                    ("rollouts", "per_maze"),
                    f"{n_mazes:,} mazes x {ro['per_maze']:,} episodes is {episodes:,} episodes, more than "
                    f"the {MAX_EPISODES:,} a run may hold (about {episodes * EPISODE_BYTES / 2**30:,.1f} GiB "
                    "of episode table); split it into several runs",
                )
    if "max_steps" in ro:
        c.integer(ro["max_steps"], ("rollouts", "max_steps"), 1, 500)
    if "actions" in ro:
        c.choice(ro["actions"], ("rollouts", "actions"), ("sample", "argmax"))
    if "seed" in ro:
        c.integer(ro["seed"], ("rollouts", "seed"), 0)
    if "chunk_mazes" in ro:
        c.integer(ro["chunk_mazes"], ("rollouts", "chunk_mazes"), 1, MAX_CHUNK_MAZES)

    rec = c.mapping(top.get("record"), ("record",), _RECORD, none_ok=True)
    if "decision_square_probs" in rec:
        c.boolean(rec["decision_square_probs"], ("record", "decision_square_probs"))
    acts = None
    if rec.get("activations") is not None:
        a = c.mapping(rec["activations"], ("record", "activations"), _ACTIVATIONS, required=("layers",))
        layers = a.get("layers", [])
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers) or not layers:
            c.fail(("record", "activations", "layers"), "must be a non-empty list of activation names")
            layers = []
        if "at" in a:
            c.choice(a["at"], ("record", "activations", "at"), ACTIVATION_MOMENTS)
        if "dtype" in a:
            c.choice(a["dtype"], ("record", "activations", "dtype"), ACTIVATION_DTYPES)
        if "builtin" in pol:
            c.fail(("record", "activations"), "activations are recorded for checkpoint policies only")
        acts = (layers, a.get("at", "decision_square"), a.get("dtype", "float16"))

    if "vfield_tv" in rec:
        c.boolean(rec["vfield_tv"], ("record", "vfield_tv"))
    layers = set(activation_names())
    interventions = parse_interventions(c, top.get("interventions"), layers, Path(doc.path).parent)
    retargeting = parse_retargeting(c, top.get("retargeting"))
    ranking = parse_ranking(c, top.get("channel_ranking"))
    if top.get("interventions") and "checkpoint" not in pol:
        c.fail(("interventions",), "interventions edit a network: the policy must be a checkpoint")
    if any(i.per_target for i in interventions) and retargeting is None:
        c.fail(("interventions",), "an edit `at: target` needs targets: add a retargeting section")
    if retargeting is not None and not top.get("interventions"):
        c.fail(("retargeting",), "retargeting measures interventions: list some under interventions")

    if not c.problems:
        try:
            mazes = SampleSpec(
                n=mz["n"],
                seed=mz.get("seed", 0),
                placement=mz.get("placement", "natural"),
                require_decision_square=mz.get("require_decision_square", False),
                exclude_cheese_top_right=mz.get("exclude_cheese_top_right"),
                sizes=sizes,
                start_level=mz.get("start_level"),
            )
        except MazeprobeError as exc:
            c.fail(("mazes",), str(exc))
    c.raise_if_any()

    if acts is not None and "checkpoint" in pol:
        _check_layer_names(doc, acts[0])
    return ExperimentSpec(
        name=name,
        policy=PolicySpec(
            builtin=pol.get("builtin"),
            params=dict(pol.get("params") or {}),
            checkpoint=pol.get("checkpoint"),
            device=pol.get("device", "cpu"),
        ),
        mazes=mazes,
        rollouts=RolloutSpec(**{k: ro[k] for k in _ROLLOUTS if k in ro}),
        record=RecordSpec(
            decision_square_probs=rec.get("decision_square_probs", False),
            activations=ActivationSpec(tuple(acts[0]), acts[1], acts[2]) if acts else None,
            vfield_tv=rec.get("vfield_tv", True),
        ),
        interventions=interventions,
        retargeting=retargeting,
        channel_ranking=ranking,
        source=str(doc.path),
    )


def _check_layer_names(doc: YamlDoc, layers: list[str]) -> None:
    valid = set(activation_names())
    for i, layer in enumerate(layers):
        if layer not in valid:
            raise doc.error(
                ("record", "activations", "layers", i),
                f"unknown activation {layer!r}; valid names: {', '.join(activation_names())}",
            )


def load_spec(path: str | os.PathLike) -> ExperimentSpec:
    """Read and validate an experiment spec file."""
    return parse_spec(load_yaml(Path(path)))
