"""What a validated analysis plan is: AnalysisPlan, its Filters and ModelSpecs, and the plan's hash.

Plain records, with no knowledge of the model kinds: mazeprobe.stats.plan builds them from YAML (checking
each model entry against its kind in mazeprobe.stats.kinds), and the modules that fit them (data, cv,
modelfits) read them. Keeping the records apart from the parser lets the kinds registry point at the fit
functions without an import cycle (plan -> kinds -> modelfits -> data -> planspec).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mazeprobe.settings import setting, text
from mazeprobe.sim.episodes import outcome_columns

OUTCOMES: dict[str, str] = outcome_columns()
"""Outcome columns of a run (mazeprobe.sim.EPISODE_COLUMNS and DSQ_COLUMNS) and how each is modelled."""

DEFAULT_MAX_VIF = 10.0
"""A coefficient whose VIF exceeds a plan's max_vif is not identified: the coefficient rules then say
unresolved (mazeprobe.registry.rules.quantities). A plan at this default hashes as plans did before
max_vif."""

HASHED_SETTINGS = ("alpha", "cov_type", "C", "splits", "test_size", "subsets")
"""The settings ModelSpec held as fields before the kinds registry. A plan's hash covers every model's
canonical dict (ModelSpec.to_dict), which therefore always holds these keys, null where the kind has no
such setting, so that the hashes of plans written before stay what they were. A setting that a later kind
adds appears only in the dicts of that kind's models, so adding a kind changes no existing plan's hash."""


@dataclass(frozen=True, init=False)
class ModelSpec:
    """One entry of `models:`: its kind, its key in the results, and the kind's settings, each given or
    filled with its default by parse_plan (mazeprobe.stats.kinds declares which settings a kind has).

    A setting reads as an attribute (`spec.alpha`, `spec.splits`); a setting of HASHED_SETTINGS that the
    kind does not have reads as None, as when ModelSpec had one field per setting.
    """

    kind: str
    """One of mazeprobe.stats.kinds.KIND_REGISTRY."""
    name: str
    """Key of the model in the results; the kind unless given (needed to list a kind twice)."""
    settings: dict[str, Any]
    """The kind's settings, all filled (read-only: the spec is a value)."""

    def __init__(
        self,
        kind: str,
        name: str = "",
        settings: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
        **more: Any,
    ) -> None:
        # settings as keywords too (ModelSpec("rate", alpha=0.1)), so that code written when each setting
        # was a field, dataclasses.replace(spec, splits=5) included, still works; None meant "not set"
        merged = {**dict(settings), **more}
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "settings", {k: v for k, v in merged.items() if v is not None})

    def __getattr__(self, name: str) -> Any:
        # reached only when ordinary lookup fails; __dict__ is read directly because a copy or an unpickle
        # asks for attributes before `settings` is set
        settings = self.__dict__.get("settings")
        if settings is None or name.startswith("__"):
            raise AttributeError(name)
        if name in settings:
            return settings[name]
        if name in HASHED_SETTINGS:
            return None
        raise AttributeError(f"a {self.__dict__.get('kind')} model has no setting {name!r}")

    def __hash__(self) -> int:
        # a dict field is not hashable: hash its items (the settings are numbers and strings)
        return hash((self.kind, self.name, tuple(sorted(self.settings.items()))))

    @property
    def key(self) -> str:
        return self.name or self.kind

    def to_dict(self) -> dict:
        """The canonical content of the entry (what the plan's hash covers); see HASHED_SETTINGS."""
        return {"kind": self.kind, "name": self.name, **dict.fromkeys(HASHED_SETTINGS), **self.settings}


@dataclass(frozen=True)
class Filter:
    """Keep rows whose `column` equals `value` (op "eq"), is one of `value` ("in"), or lies in the
    inclusive range `value` = (min, max) with None for an open end ("range")."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class AnalysisPlan:
    """A checked plan. Its top-level settings (name, standardize, seed, max_vif, description) are declared
    on their fields; outcome, features, models and filter have parsers of their own (mazeprobe.stats.plan)."""

    name: str = setting(help="the plan's name", type=str, name=True)
    outcome: str
    features: tuple[str, ...]
    models: tuple[ModelSpec, ...]
    filter: tuple[Filter, ...] = ()
    standardize: bool = setting(True, "true/false: z-score the features")
    seed: int = setting(
        0,
        "seed of the random splits (l1-logit, single, drop-one) and feature subsets (sign-stability)",
        low=0,
    )
    max_vif: float = setting(
        DEFAULT_MAX_VIF,
        "above this VIF (of the plan's vif model) a coefficient is not identified: rules say unresolved "
        "({default})",
        low=1,
        bounds="a number above 1 (a VIF is at least 1)",
    )
    description: str = setting("", "free text", check=text)
    source: str = ""
    """The file the plan came from (not part of its identity)."""
    _lines: dict = field(default_factory=dict, compare=False, repr=False)
    """`file:line:col` of each model entry, for errors raised while fitting."""

    @property
    def outcome_kind(self) -> str:
        return OUTCOMES[self.outcome]

    def model(self, key: str) -> ModelSpec:
        for m in self.models:
            if m.key == key:
                return m
        raise KeyError(key)

    def to_dict(self) -> dict:
        """The canonical content of the plan (what its hash covers)."""
        out = asdict(self)
        out["models"] = tuple(m.to_dict() for m in self.models)
        for key in ("source", "_lines", "description"):
            out.pop(key)
        if out["max_vif"] == DEFAULT_MAX_VIF:  # plans written before max_vif keep their hashes
            out.pop("max_vif")
        return out

    @property
    def hash(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=list)
        return hashlib.sha256(text.encode()).hexdigest()

    def where(self, model_key: str) -> str:
        """`file:line:col: models[i]` of a model, for messages about it."""
        return self._lines.get(model_key, self.source or "<plan>")
