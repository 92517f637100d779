"""Probe plans (analysis/*.yaml of kind probe-plan): one registered probe of a run's recorded activations.

    kind: probe-plan
    name: probe-cheese-block2
    layer: embedder.block2.res1.resadd_out
    probe: cheese-position        # or cheese-coords, sparse, cheese-pixel
    coords: outer                 # the cheese in the 25 x 25 world grid (what the pixels show)
    n: 2000                       # the first n decision-square mazes the run recorded (all: null)
    # n: [1000, 2000, 5000, 10000]  # a learning curve: the probe fitted on the first n, for each n
    folds: 5
    seed: 0
    k: 1000                       # the sparse probe's kept activations

A plan's hash covers every setting, so a question can name a plan and a resolution can show it used
exactly that plan. A learning curve hashes as its list, a single n as the integer it always was (plans
registered before curves existed keep their hashes).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from mazeprobe.stats.probes import COORDS, PROBES
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
    "n": "the first n recorded mazes (null: all), or a learning curve: a list of increasing n, the probe "
    "fitted on the first n for each (its result: the largest n, with every point under `curve`)",
    "folds": "cross-validation folds (default 5)",
    "seed": "seed of the folds and controls (default 0)",
    "k": "activations the sparse probe keeps (default 1000)",
    "run": "the name of the run (its experiment spec's `name`) whose activations the plan reads (default: "
    "the first run given that records the layer)",
}


@dataclass(frozen=True)
class ProbePlan:
    name: str
    layer: str
    probe: str
    coords: str = "outer"
    n: int | tuple[int, ...] | None = None
    """The first n recorded mazes (None: all), or a learning curve: increasing n, one fit each."""
    folds: int = 5
    seed: int = 0
    k: int = 1000
    run: str | None = None
    """The run (by its spec's name) the plan reads; None: the first run given that records the layer."""
    source: str = ""

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("source")
        if out["run"] is None:  # plans written before `run` keep their hashes
            out.pop("run")
        return out

    @property
    def curve(self) -> tuple[int, ...] | None:
        """The learning curve's n, in increasing order; None for a single fit."""
        return self.n if isinstance(self.n, tuple) else None

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def parse_probe_plan(doc: YamlDoc) -> ProbePlan:
    """A checked probe plan; SpecError lists every problem as file:line:col."""
    from mazeprobe.agents.layers import activation_names

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
    n = top.get("n")
    if isinstance(n, list):
        _check_curve(c, n)
        n = tuple(n)
    elif n is not None:
        c.integer(n, ("n",), 10, MAX_PROBE_MAZES)
    if "folds" in top:
        c.integer(top["folds"], ("folds",), 2, 20)
    if "seed" in top:
        c.integer(top["seed"], ("seed",), 0)
    if "k" in top:
        c.integer(top["k"], ("k",), 1)
    if "run" in top and (not isinstance(top["run"], str) or not NAME_PATTERN.fullmatch(top["run"])):
        c.fail(("run",), f"must be a run's name ({NAME_HELP}); got {top['run']!r}")
    c.raise_if_any()
    fields = {k: top[k] for k in ("coords", "folds", "seed", "k", "run") if k in top}
    if "n" in top:
        fields["n"] = n
    return ProbePlan(name=top["name"], layer=top["layer"], probe=top["probe"], source=str(doc.path), **fields)


def _check_curve(c: Checker, n: list) -> None:
    if not n:
        c.fail(("n",), "a learning curve needs at least one n, e.g. [1000, 2000, 5000, 10000]")
        return
    good = [c.integer(v, ("n", i), 10, MAX_PROBE_MAZES) for i, v in enumerate(n)]
    if None not in good and any(b <= a for a, b in zip(good, good[1:], strict=False)):
        c.fail(("n",), f"a learning curve's n must increase strictly; got {n}")


def load_probe_plan(path: str | os.PathLike) -> ProbePlan:
    return parse_probe_plan(load_yaml(Path(path)))
