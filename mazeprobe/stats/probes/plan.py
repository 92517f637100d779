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
from typing import Any

from mazeprobe.settings import read_settings, setting
from mazeprobe.stats.probes import COORDS, PROBES
from mazeprobe.validation import NAME_HELP, NAME_PATTERN
from mazeprobe.yamlio import Checker, KeyPath, YamlDoc, check_kind, load_yaml

MAX_PROBE_MAZES = 100_000


def _layers() -> list[str]:
    # imported on use: mazeprobe.agents' package imports pandas
    from mazeprobe.agents.layers import activation_names

    return activation_names()


def _known_layer(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> str | None:
    if value not in _layers():
        c.fail(kp, f"unknown activation {value!r}; e.g. embedder.block2.res1.resadd_out")
        return None
    return value


def _mazes(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> int | tuple[int, ...] | None:
    """n: one number of mazes, or a learning curve (a strictly increasing list of them)."""
    if not isinstance(value, list):
        return c.integer(value, kp, 10, MAX_PROBE_MAZES)
    if not value:
        c.fail(kp, "a learning curve needs at least one n, e.g. [1000, 2000, 5000, 10000]")
        return None
    good = [c.integer(v, (*kp, i), 10, MAX_PROBE_MAZES) for i, v in enumerate(value)]
    if None in good:
        return None
    if any(b <= a for a, b in zip(good, good[1:], strict=False)):
        c.fail(kp, f"a learning curve's n must increase strictly; got {value}")
        return None
    return tuple(good)


def _run_name(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> str | None:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        c.fail(kp, f"must be a run's name ({NAME_HELP}); got {value!r}")
        return None
    return value


_EXTRA = {"kind": "probe-plan", "description": "free text"}
_ORDER = ("kind", "name", "description")


@dataclass(frozen=True)
class ProbePlan:
    name: str = setting(help="the plan's name", type=str, name=True)
    layer: str = setting(
        help="a recorded activation, e.g. embedder.block2.res1.resadd_out",
        type=str,
        check=_known_layer,
    )
    probe: str = setting(help=" | ".join(PROBES), type=str, choices=PROBES)
    coords: str = setting("outer", " | ".join(COORDS), choices=tuple(COORDS))
    n: int | tuple[int, ...] | None = setting(
        None,
        "the first n recorded mazes (null: all), or a learning curve: a list of increasing n, the probe "
        "fitted on the first n for each (its result: the largest n, with every point under `curve`)",
        check=_mazes,
        nullable=True,
    )
    folds: int = setting(5, "cross-validation folds (default {default})", low=2, high=20)
    seed: int = setting(0, "seed of the folds and controls (default {default})", low=0)
    k: int = setting(1000, "activations the sparse probe keeps (default {default})", low=1)
    run: str | None = setting(
        None,
        "the name of the run (its experiment spec's `name`) whose activations the plan reads (default: "
        "the first run given that records the layer)",
        type=str,
        check=_run_name,
    )
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
    check_kind(doc, "probe-plan")
    c = Checker(doc)
    values = read_settings(c, ProbePlan, doc.data, (), extra=_EXTRA, order=_ORDER)
    c.raise_if_any()
    return ProbePlan(**values, source=str(doc.path))


def load_probe_plan(path: str | os.PathLike) -> ProbePlan:
    return parse_probe_plan(load_yaml(Path(path)))
