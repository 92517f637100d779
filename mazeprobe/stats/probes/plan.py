"""Probe plans (analysis/*.yaml of kind probe-plan): one registered probe of a run's recorded activations.

    kind: probe-plan
    name: probe-cheese-block2
    layer: embedder.block2.res1.resadd_out
    probe: cheese-position        # or cheese-coords, sparse, cheese-pixel
    coords: outer                 # the cheese in the 25 x 25 world grid (what the pixels show)
    n: 2000                       # the first n decision-square mazes the run recorded (all: null)
    folds: 5
    seed: 0
    k: 1000                       # the sparse probe's kept activations

A plan's hash covers every setting, so a question can name a plan and a resolution can show it used
exactly that plan.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from mazeprobe.stats.probes.cheese import COORDS
from mazeprobe.stats.probes.run import PROBES
from mazeprobe.validation import NAME_HELP, NAME_PATTERN
from mazeprobe.yamlio import Checker, YamlDoc, check_kind, load_yaml

MAX_PROBE_MAZES = 100_000

_KEYS = {
    "kind": "probe-plan",
    "name": "the plan's name",
    "description": "free text",
    "layer": "a recorded activation, e.g. embedder.block2.res1.resadd_out",
    "probe": " | ".join(PROBES),
    "coords": " | ".join(COORDS),
    "n": "the first n recorded mazes (null: all)",
    "folds": "cross-validation folds (default 5)",
    "seed": "seed of the folds and controls (default 0)",
    "k": "activations the sparse probe keeps (default 1000)",
}


@dataclass(frozen=True)
class ProbePlan:
    name: str
    layer: str
    probe: str
    coords: str = "outer"
    n: int | None = None
    folds: int = 5
    seed: int = 0
    k: int = 1000
    source: str = ""

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("source")
        return out

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def parse_probe_plan(doc: YamlDoc) -> ProbePlan:
    """A checked probe plan; SpecError lists every problem as file:line:col."""
    from mazeprobe.agents.impala import activation_names

    check_kind(doc, "probe-plan")
    c = Checker(doc)
    top = c.mapping(doc.data, (), _KEYS, required=("name", "layer", "probe"))
    if "name" in top and (not isinstance(top["name"], str) or not NAME_PATTERN.fullmatch(top["name"])):
        c.fail(("name",), f"must be {NAME_HELP}; got {top['name']!r}")
    if "layer" in top and top["layer"] not in activation_names():
        c.fail(("layer",), f"unknown activation {top['layer']!r}; e.g. embedder.block2.res1.resadd_out")
    if "probe" in top:
        c.choice(top["probe"], ("probe",), PROBES)
    if "coords" in top:
        c.choice(top["coords"], ("coords",), tuple(COORDS))
    if top.get("n") is not None:
        c.integer(top["n"], ("n",), 10, MAX_PROBE_MAZES)
    if "folds" in top:
        c.integer(top["folds"], ("folds",), 2, 20)
    if "seed" in top:
        c.integer(top["seed"], ("seed",), 0)
    if "k" in top:
        c.integer(top["k"], ("k",), 1)
    c.raise_if_any()
    fields = {k: top[k] for k in ("coords", "n", "folds", "seed", "k") if k in top}
    return ProbePlan(name=top["name"], layer=top["layer"], probe=top["probe"], source=str(doc.path), **fields)


def load_probe_plan(path: str | os.PathLike) -> ProbePlan:
    return parse_probe_plan(load_yaml(Path(path)))
