"""The interventions part of an experiment spec: which edits to measure, and how to retarget.

    interventions:
      - {id: cv, edit: cheese-vector, layer: embedder.block2.res1.resadd_out, coefficient: -1}
      - {id: zero-top5, edit: zero-ablate, layer: embedder.block2.res1.resadd_out,
         channels: {ranking: cheese-channels, top: 5}}
      - {id: clamp-top1, edit: clamp, layer: embedder.block2.res1.resadd_out,
         channels: {ranking: cheese-channels, top: 1}, value: 5.5, at: target}
      - {id: clamp-top7-signed, edit: clamp, layer: embedder.block2.res1.resadd_out,
         channels: {ranking: cheese-channels, top: 7}, value: {times_cheese_response: 2}, radius: 1}
      - {id: cheese-here, edit: cheese-at-target, layer: embedder.block2.res1.resadd_out, at: target}
      - {id: cv+tr, edits: [{edit: cheese-vector, layer: L}, {edit: top-right-vector, layer: L}]}
    retargeting: {targets_per_maze: 5, remove_cheese: true, rollouts_per_target: 1, seed: 0,
                  targets: reachable}       # or off-path: squares the unedited agent does not visit
    channel_ranking: {n: 1000, seed: 0}     # how a {ranking: cheese-channels} channel set is ranked

The unedited network (id `none`) is always measured too, on the same mazes with the same rollout seeds;
with retargeting, so is the real-cheese ceiling (id `ceiling`: no edit, a cheese on the target). Neither
id may name an intervention.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mazeprobe.agents.edits import EDITS, Edit, Place, edit_from_spec
from mazeprobe.experiments.family_settings import RankingSpec, RetargetingSpec
from mazeprobe.settings import read_settings
from mazeprobe.validation import NAME_HELP, NAME_PATTERN
from mazeprobe.yamlio import Checker, KeyPath, SpecError, YamlDoc, describe_value, format_key_path

NONE = "none"
CEILING = "ceiling"
"""The retargeting rows of the unedited network with a real cheese placed on the target."""

_ID_HELP = "the intervention's name in the outputs"


@dataclass(frozen=True)
class InterventionSpec:
    id: str
    edits: tuple[Edit, ...]
    places: tuple[dict[str, str], ...] = field(default=(), compare=False, repr=False)
    """Per edit, `file:line:col: key.path` of each of its keys ('' for the entry itself), so that a check
    made after parsing (check_fit: against the network and the mazes) says where to fix the spec. Not part
    of the spec's identity; empty for an intervention read back from a manifest."""

    def where(self, index: int, key: str) -> str:
        """How a message names key `key` of edit `index`: its place in the spec file and the id."""
        place = self.places[index] if index < len(self.places) else {}
        at = place.get(key) or place.get("")
        return f"{at}: intervention {self.id}" if at else f"intervention {self.id}: {key}"

    @property
    def per_target(self) -> bool:
        """Whether an edit aims at each retargeting target in turn (then results are per target)."""
        return any(e.aims_at_target for e in self.edits)

    def to_dict(self) -> dict:
        return {"id": self.id, "edits": [e.to_spec() for e in self.edits]}

    def ranked_layers(self) -> list[str]:
        """Layers whose cheese-channel ranking an edit reads (a ranked channel set, a cheese response)."""
        return [e.layer for e in self.edits if e.needs_ranking]


def _edit(c: Checker, entry: Any, kp: KeyPath, layers: set[str], base: Path, iid: Any) -> dict | None:
    """One checked edit entry (the keys edit_from_spec reads), or None after reporting its problems. The
    keys, their help and checks are the kind's own settings (its fields, mazeprobe.agents.edits)."""
    if not isinstance(entry, dict):
        c.fail(kp, f"must be a mapping {{edit: KIND, layer: ...}}; got {describe_value(entry)}")
        return None
    kind = entry.get("edit")
    if kind not in EDITS:
        c.choice(kind, (*kp, "edit"), tuple(EDITS)) if "edit" in entry else c.fail(kp, "missing key 'edit'")
        return None
    cls = EDITS[kind]
    n = len(c.problems)
    common = {"id": _ID_HELP, "edit": " | ".join(EDITS)}
    values = read_settings(c, cls, entry, kp, extra=common, context=Place(base, iid, layers))
    if len(c.problems) > n:
        return None
    out = {"edit": kind, **values}
    # well formed: now the settings no network could fit (radius, sign, K)
    for key, message in edit_from_spec(out).problems():
        c.fail((*kp, key), f"intervention {iid}: {message}")
    return out if len(c.problems) == n else None


def parse_interventions(c: Checker, raw: Any, layers: set[str], base: Path) -> tuple[InterventionSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        c.fail(("interventions",), f"must be a list of {{id, edit, layer, ...}}; got {describe_value(raw)}")
        return ()
    out = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw):
        kp: KeyPath = ("interventions", i)
        if not isinstance(entry, dict):
            c.fail(kp, f"must be a mapping {{id, edit, layer, ...}}; got {describe_value(entry)}")
            continue
        iid = entry.get("id")
        if not isinstance(iid, str) or not NAME_PATTERN.fullmatch(iid) or iid in (NONE, CEILING):
            c.fail(
                (*kp, "id") if "id" in entry else kp,
                f"needs an id of {NAME_HELP}, not '{NONE}' or '{CEILING}'; got {iid!r}",
            )
        elif iid in seen:
            c.fail((*kp, "id"), f"id {iid!r} is used twice (first at interventions[{seen[iid]}])")
        else:
            seen[iid] = i
        if "edits" in entry:
            c.mapping(entry, kp, {"id": _ID_HELP, "edits": "a list of edits applied in order"}, ("id",))
            subs = entry["edits"]
            if not isinstance(subs, list) or not subs:
                c.fail((*kp, "edits"), "must be a non-empty list of {edit, layer, ...}")
                continue
            paths = [(*kp, "edits", j) for j in range(len(subs))]
            checked = [_edit(c, sub, ekp, layers, base, iid) for sub, ekp in zip(subs, paths, strict=True)]
        else:
            paths = [kp]
            checked = [_edit(c, entry, kp, layers, base, iid)]
        if all(e is not None for e in checked) and isinstance(iid, str):
            places = tuple(_places(c.doc, ekp, e) for ekp, e in zip(paths, checked, strict=True))
            out.append(InterventionSpec(iid, tuple(edit_from_spec(e) for e in checked), places))
    return tuple(out)


def _places(doc: YamlDoc, kp: KeyPath, entry: dict) -> dict[str, str]:
    return {
        key: f"{doc.where(path)}: {format_key_path(path)}"
        for key, path in (("", kp), *((k, (*kp, k)) for k in entry))
    }


# --- checks against the network and the mazes, before anything is written --------------------------


def check_fit(
    interventions: tuple[InterventionSpec, ...], shapes: dict[str, tuple[int, ...]], mazes: pd.DataFrame
) -> None:
    """Refuse (SpecError, one line per problem, each naming the spec file, the intervention and the key)
    settings that do not fit this network or these mazes: an add tensor of another shape than its layer,
    channels the layer does not have, a clamp on a layer that is not a map, a square outside a maze (or,
    for the cheese, on a wall or the mouse's start). Run before a run directory is made, so that a spec
    fixed afterwards starts afresh instead of meeting a half-made run."""
    problems = []
    for spec in interventions:
        for index, edit in enumerate(spec.edits):
            for key, message in edit.fit_problems(shapes[edit.layer], mazes):
                problems.append(f"{spec.where(index, key)}: {message}")
    if problems:
        raise SpecError("\n".join(problems))


def parse_retargeting(c: Checker, raw: Any) -> RetargetingSpec | None:
    if raw is None:
        return None
    return RetargetingSpec(**read_settings(c, RetargetingSpec, raw, ("retargeting",)))


def parse_ranking(c: Checker, raw: Any) -> RankingSpec:
    return RankingSpec(**read_settings(c, RankingSpec, raw, ("channel_ranking",), none_ok=True))


def from_manifest(spec: dict) -> tuple[tuple[InterventionSpec, ...], RetargetingSpec | None, RankingSpec]:
    """The interventions, retargeting and ranking settings of a run, from its manifest's spec (the
    canonical form ExperimentSpec.to_dict wrote)."""
    interventions = tuple(
        InterventionSpec(i["id"], tuple(edit_from_spec(e) for e in i["edits"]))
        for i in spec.get("interventions", [])
    )
    retargeting = RetargetingSpec(**spec["retargeting"]) if spec.get("retargeting") else None
    ranking = RankingSpec(**spec.get("channel_ranking", {}))
    return interventions, retargeting, ranking


FAMILY_KEYS = ("interventions", "retargeting", "channel_ranking")


def family_hash(spec: dict) -> str:
    """The sha256 of a spec's family of edits: its interventions, retargeting and channel ranking, and
    the rollout settings that say what a rate means (episodes per maze, step limit, action choice, draws).
    Not the mazes (their number is the sample size) and not the network or the chunking: the same family
    on fewer mazes (a demo) hashes the same. `spec`: the canonical form (ExperimentSpec.to_dict)."""
    import hashlib
    import json

    rollouts = {k: v for k, v in spec.get("rollouts", {}).items() if k != "chunk_mazes"}
    content = {"rollouts": rollouts, **{k: spec.get(k) for k in FAMILY_KEYS}}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
