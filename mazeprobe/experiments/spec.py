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
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mazeprobe.agents.layers import activation_names
from mazeprobe.agents.scripted import BUILTIN_AGENTS
from mazeprobe.devices import DEVICE_FORMS, device_problem
from mazeprobe.errors import MazeprobeError
from mazeprobe.experiments.family_settings import RankingSpec, RetargetingSpec
from mazeprobe.experiments.intervention_spec import (
    InterventionSpec,
    from_manifest,
    parse_interventions,
    parse_ranking,
    parse_retargeting,
)
from mazeprobe.maze.sampling import SampleSpec
from mazeprobe.settings import keys_help, read_settings, setting
from mazeprobe.sim import RolloutSettings
from mazeprobe.yamlio import Checker, KeyPath, YamlDoc, check_kind, describe_value, load_yaml

MAX_EPISODES = 20_000_000
EPISODE_BYTES = 700
"""About what one episode costs in the episodes table (its path of up to 256 steps and its outcomes)."""
MAX_CHUNK_MAZES = 100_000
ACTIVATION_MOMENTS = ("decision_square",)
ACTIVATION_DTYPES = ("float16", "float32")
_KIND_HELP = "experiment (optional: tells this file from an analysis plan or a training config)"


# --- checks of the settings no type describes (called by read_settings) -----------------------------


def _mapping(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> dict | None:
    if not isinstance(value, dict):
        c.fail(kp, f"must be a mapping; got {describe_value(value)}")
        return None
    return dict(value)


def _path(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> str | None:
    if not isinstance(value, str):
        c.fail(kp, f"must be a path; got {describe_value(value)}")
        return None
    return value


def _device(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> str | None:
    problem = device_problem(value)
    if problem:
        c.fail(kp, problem)
        return None
    return value


def _layer_names(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> tuple[str, ...] | None:
    # whether each is a layer of the network is checked once the spec is whole (_check_layer_names)
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value) or not value:
        c.fail(kp, "must be a non-empty list of activation names")
        return None
    return tuple(value)


def _keys_of(cls: type) -> str:
    """A section's keys as its parent's help lists them: {a, b, c}."""
    return "{" + ", ".join(keys_help(cls)) + "}"


# A section (policy, mazes, ...) is a setting with no type: its key and help are declared on the field,
# and parse_spec reads its content with the settings of its own class.


@dataclass(frozen=True)
class PolicySpec:
    builtin: str | None = setting(
        None, f"one of {', '.join(BUILTIN_AGENTS)}", type=str, choices=tuple(BUILTIN_AGENTS)
    )
    params: dict = setting(help="the built-in agent's parameters", factory=dict, check=_mapping)
    checkpoint: str | None = setting(None, "path to an IMPALA checkpoint (.pth)", check=_path)
    device: str = setting("cpu", f"{DEVICE_FORMS} (not part of the spec's identity)", check=_device)
    """auto, cpu, cuda or cuda:N (mazeprobe.devices): where the network runs unless `mazeprobe run
    --device` says otherwise."""


@dataclass(frozen=True)
class RolloutSpec(RolloutSettings):
    chunk_mazes: int = setting(250, "mazes per chunk", low=1, high=MAX_CHUNK_MAZES)
    """Mazes per chunk: the unit of parallel work, atomic writes and resume."""


@dataclass(frozen=True)
class ActivationSpec:
    layers: tuple[str, ...] = setting((), "activation names", check=_layer_names, required=True)
    at: str = setting("decision_square", " or ".join(ACTIVATION_MOMENTS), choices=ACTIVATION_MOMENTS)
    dtype: str = setting("float16", " or ".join(ACTIVATION_DTYPES), choices=ACTIVATION_DTYPES)


@dataclass(frozen=True)
class RecordSpec:
    decision_square_probs: bool = setting(False, "true/false")
    activations: ActivationSpec | None = setting(None, _keys_of(ActivationSpec), type=None)
    vfield_tv: bool = setting(
        True, "true/false: with interventions, the vector-field difference per maze (default {default})"
    )
    """With interventions: each edit's vector-field difference from the unedited network, per maze
    (every open square rendered and evaluated: the costliest measure; false leaves it out)."""


@dataclass(frozen=True)
class ExperimentSpec:
    name: str = setting(help="the run's name: data/runs/<name>/", type=str, name=True)
    policy: PolicySpec = setting(help="builtin or checkpoint", type=None)
    mazes: SampleSpec = setting(help="which mazes to sample", type=None)
    rollouts: RolloutSpec = setting(RolloutSpec(), "how to play them", type=None)
    record: RecordSpec = setting(RecordSpec(), "what to record besides episodes", type=None)
    interventions: tuple[InterventionSpec, ...] = setting(
        (), "edits of the network to measure beside the unedited one", type=None
    )
    retargeting: RetargetingSpec | None = setting(None, _keys_of(RetargetingSpec), type=None)
    channel_ranking: RankingSpec = setting(
        RankingSpec(),
        _keys_of(RankingSpec) + ": how {ranking: cheese-channels} channel sets are ranked",
        type=None,
    )
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
        return _as_json(out)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "") -> ExperimentSpec:
        """The spec a run recorded (its manifest's `spec`: what to_dict wrote), typed again, so that
        to_dict(from_dict(d)) == d. A section a run recorded before it existed reads as its default."""
        record = dict(d.get("record") or {})
        if record.get("activations") is not None:
            acts = record["activations"]
            record["activations"] = ActivationSpec(**{**acts, "layers": tuple(acts["layers"])})
        mazes = dict(d["mazes"])
        if mazes.get("sizes") is not None:
            mazes["sizes"] = tuple(mazes["sizes"])
        interventions, retargeting, ranking = from_manifest(d)
        return cls(
            name=d["name"],
            policy=PolicySpec(**d["policy"]),
            mazes=SampleSpec(**mazes),
            rollouts=RolloutSpec(**(d.get("rollouts") or {})),
            record=RecordSpec(**record),
            interventions=interventions,
            retargeting=retargeting,
            channel_ranking=ranking,
            source=source,
        )

    @property
    def hash(self) -> str:
        """sha256 of the canonical content. The device is where a run computes, not what it computes,
        so it is hashed as its default: a run resumes on any device (and hashes made before the device
        left the identity stay valid)."""
        content = self.to_dict()
        content["policy"]["device"] = PolicySpec.device
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _as_json(value: Any) -> Any:
    """Tuples as the lists JSON reads back (the layers, the sizes), so that a spec's canonical content
    equals what its manifest holds."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    return value


def parse_spec(doc: YamlDoc) -> ExperimentSpec:
    """Validate a parsed YAML document into an ExperimentSpec; raises SpecError listing every problem."""
    check_kind(doc, "experiment")
    c = Checker(doc)
    top = read_settings(c, ExperimentSpec, doc.data, (), extra={"kind": _KIND_HELP}, none_ok=True)

    # the cross-field checks ask which keys a section gives, valid or not
    given = _given(top.get("policy"))
    pol = read_settings(c, PolicySpec, top.get("policy"), ("policy",), none_ok="policy" not in top)
    if "policy" in top and ("builtin" in given) == ("checkpoint" in given):
        c.fail(("policy",), "give exactly one of builtin or checkpoint")
    if "params" in given and "checkpoint" in given:
        c.fail(("policy", "params"), "params apply to built-in agents only")

    mz = read_settings(c, SampleSpec, top.get("mazes"), ("mazes",), none_ok="mazes" not in top)

    ro = read_settings(c, RolloutSpec, top.get("rollouts"), ("rollouts",), none_ok=True)
    if "per_maze" in ro:
        n_mazes = mz.get("n", 1)
        episodes = n_mazes * ro["per_maze"]
        if episodes > MAX_EPISODES:
            c.fail(
                ("rollouts", "per_maze"),
                f"{n_mazes:,} mazes x {ro['per_maze']:,} episodes is {episodes:,} episodes, more than "
                f"the {MAX_EPISODES:,} a run may hold (about {episodes * EPISODE_BYTES / 2**30:,.1f} GiB "
                "of episode table); split it into several runs",
            )

    rec = read_settings(c, RecordSpec, top.get("record"), ("record",), none_ok=True)
    acts = None
    if rec.get("activations") is not None:
        acts = read_settings(c, ActivationSpec, rec["activations"], ("record", "activations"))
        if "builtin" in given:
            c.fail(("record", "activations"), "activations are recorded for checkpoint policies only")

    layers = set(activation_names())
    interventions = parse_interventions(c, top.get("interventions"), layers, Path(doc.path).parent)
    retargeting = parse_retargeting(c, top.get("retargeting"))
    ranking = parse_ranking(c, top.get("channel_ranking"))
    if top.get("interventions") and "checkpoint" not in given:
        c.fail(("interventions",), "interventions edit a network: the policy must be a checkpoint")
    if any(i.per_target for i in interventions) and retargeting is None:
        c.fail(("interventions",), "an edit `at: target` needs targets: add a retargeting section")
    if retargeting is not None and not top.get("interventions"):
        c.fail(("retargeting",), "retargeting measures interventions: list some under interventions")

    if not c.problems:
        try:
            mazes = SampleSpec(**mz)
        except MazeprobeError as exc:
            c.fail(("mazes",), str(exc))
    c.raise_if_any()

    if acts is not None and "checkpoint" in pol:
        _check_layer_names(doc, acts["layers"])
    return ExperimentSpec(
        name=top["name"],
        policy=PolicySpec(**pol),
        mazes=mazes,
        rollouts=RolloutSpec(**ro),
        record=RecordSpec(**{**rec, "activations": ActivationSpec(**acts) if acts is not None else None}),
        interventions=interventions,
        retargeting=retargeting,
        channel_ranking=ranking,
        source=str(doc.path),
    )


def _given(section: Any) -> dict:
    """The keys a section gives (none when it is not a mapping: read_settings has said so)."""
    return section if isinstance(section, dict) else {}


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
