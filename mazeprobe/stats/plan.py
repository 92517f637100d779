"""Analysis plans (analysis/*.yaml): which rows, which outcome, which features, which models.

    name: behavioral
    filter: {has_decision_square: true, cheese_in_top_right_5x5: false}
    outcome: got_cheese              # or p_cheese_at_dsq (a probability: fractional logit)
    features: [euc_dist_cheese_top_right, steps_between_cheese_decision_square]
    standardize: true                # z-score features on the filtered rows (sd with ddof=1)
    seed: 0                          # random splits and subsets
    models:
      - {kind: logit}                                       # alpha, cov_type
      - {kind: l1-logit, C: 1.0, splits: 100, test_size: 0.2}
      - {kind: single}                                      # C, splits, test_size: as l1-logit
      - {kind: drop-one}
      - {kind: sign-stability, subsets: 200}
      - {kind: vif}
      - {kind: rate}                                        # the outcome's rate, with an interval

A plan whose models are all `rate` may leave `features` empty (a rate reads no feature).
A filter value is a scalar (equality), a list (any of) or {min, max} (inclusive range). Every problem
is reported as `file:line:col: key.path: what is wrong`; nothing is fitted until the plan is valid.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mazeprobe.maze.features import REGISTRY
from mazeprobe.sim.episodes import DSQ_COLUMNS, EPISODE_COLUMNS, outcome_columns
from mazeprobe.validation import NAME_HELP, NAME_PATTERN
from mazeprobe.yamlio import Checker, KeyPath, YamlDoc, check_kind, describe_value, load_yaml, suggest

OUTCOMES: dict[str, str] = outcome_columns()
"""Outcome columns of a run (mazeprobe.sim.EPISODE_COLUMNS and DSQ_COLUMNS) and how each is modelled."""

# columns of a run's joined frame (RunDir.load) that are not maze features, with the kind of value a
# filter compares
_RUN_COLUMNS: dict[str, str] = {
    **{c.name: c.kind for c in EPISODE_COLUMNS if c.kind != "path"},
    "placement": "str",
    **{c.name: c.kind for c in DSQ_COLUMNS},
}

MODEL_KINDS: dict[str, str] = {
    "logit": "multiple logistic regression (statsmodels; fractional logit for a probability outcome)",
    "l1-logit": "L1-penalised logistic regression over repeated stratified splits (scikit-learn)",
    "single": "cross-validated accuracy and AUC of each feature alone",
    "drop-one": "accuracy and AUC lost when each feature is dropped from the full set",
    "sign-stability": "how often each coefficient's sign flips over random feature subsets",
    "vif": "variance inflation factors and the correlation matrix",
    "rate": "the outcome's mean with a 95% interval (Wilson for a binary outcome)",
}
BINARY_ONLY = ("l1-logit", "single", "drop-one")
COV_TYPES = ("auto", "nonrobust", "cluster", "HC0", "HC1", "HC2", "HC3")

DEFAULT_ALPHA = 0.05
"""logit, rate: 1 - confidence level of the intervals (95%)."""
DEFAULT_C = 1.0
DEFAULT_SPLITS = 100
DEFAULT_TEST_SIZE = 0.2
DEFAULT_SUBSETS = 200


@dataclass(frozen=True)
class ModelSpec:
    """One entry of `models:`; fields that do not apply to the kind stay None."""

    kind: str
    """One of MODEL_KINDS."""
    name: str = ""
    """Key of the model in the results; the kind unless given (needed to list a kind twice)."""
    alpha: float | None = None
    """logit, rate: 1 - confidence level of the intervals (DEFAULT_ALPHA unless given)."""
    cov_type: str | None = None
    """logit: auto (clustered by maze seed when seeds repeat, else nonrobust; HC0 for a fractional
    logit), or a statsmodels cov_type: nonrobust, cluster, HC0..HC3."""
    C: float | None = None
    """l1-logit, single, drop-one: inverse regularisation strength."""
    splits: int | None = None
    """l1-logit, single, drop-one: number of random train/test splits."""
    test_size: float | None = None
    """l1-logit, single, drop-one: fraction of rows in each test split."""
    subsets: int | None = None
    """sign-stability: random feature subsets per feature."""

    @property
    def key(self) -> str:
        return self.name or self.kind


@dataclass(frozen=True)
class Filter:
    """Keep rows whose `column` equals `value` (op "eq"), is one of `value` ("in"), or lies in the
    inclusive range `value` = (min, max) with None for an open end ("range")."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class AnalysisPlan:
    name: str
    outcome: str
    features: tuple[str, ...]
    models: tuple[ModelSpec, ...]
    filter: tuple[Filter, ...] = ()
    standardize: bool = True
    seed: int = 0
    """Seeds the random splits (l1-logit, single, drop-one) and feature subsets (sign-stability)."""
    description: str = ""
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
        for key in ("source", "_lines", "description"):
            out.pop(key)
        return out

    @property
    def hash(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=list)
        return hashlib.sha256(text.encode()).hexdigest()

    def where(self, model_key: str) -> str:
        """`file:line:col: models[i]` of a model, for messages about it."""
        return self._lines.get(model_key, self.source or "<plan>")


# --- validation ----------------------------------------------------------------------------------


_TOP = {
    "kind": "analysis-plan (optional: tells this file from an experiment spec or a training config)",
    "name": "the plan's name",
    "description": "free text",
    "filter": "{column: value | [values] | {min, max}}",
    "outcome": " or ".join(OUTCOMES),
    "features": "list of feature names (mazeprobe features --list)",
    "standardize": "true/false: z-score the features",
    "seed": "seed of the random splits and subsets",
    "models": "list of {kind: ...}",
}
_MODEL_KEYS: dict[str, dict[str, str]] = {
    "logit": {"alpha": "0 < alpha < 1", "cov_type": " | ".join(COV_TYPES)},
    "l1-logit": {"C": "> 0", "splits": "integer >= 1", "test_size": "0 < test_size < 1"},
    "single": {"C": "> 0", "splits": "integer >= 1", "test_size": "0 < test_size < 1"},
    "drop-one": {"C": "> 0", "splits": "integer >= 1", "test_size": "0 < test_size < 1"},
    "sign-stability": {"subsets": "integer >= 1"},
    "vif": {},
    "rate": {"alpha": "0 < alpha < 1"},
}
_COMMON_MODEL_KEYS = {"kind": " | ".join(MODEL_KINDS), "name": "key of the model in the results"}


def filter_columns() -> dict[str, str]:
    """Columns a filter may name, with the kind of value each holds (int, float, bool or str)."""
    return {**{name: feat.kind for name, feat in REGISTRY.items()}, **_RUN_COLUMNS}


def _scalar_ok(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _parse_filter(c: Checker, raw: Any) -> tuple[Filter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        c.fail(("filter",), f"must be a mapping {{column: value}}; got {describe_value(raw)}")
        return ()
    columns = filter_columns()
    out = []
    for col, value in raw.items():
        kp = ("filter", col)
        col = str(col)
        if col not in columns:
            c.fail(
                kp,
                f"unknown column{suggest(col, columns)}; a filter may name a maze feature "
                "(mazeprobe features --list) or a run column (" + ", ".join(_RUN_COLUMNS) + ")",
            )
            continue
        kind = columns[col]
        expect = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}[kind]
        if isinstance(value, list):
            if not value:
                c.fail(kp, "an empty list keeps no rows")
            for i, v in enumerate(value):
                if not _scalar_ok(kind, v):
                    c.fail((*kp, i), f"must be {expect} ({col} is {kind}); got {describe_value(v)}")
            out.append(Filter(col, "in", tuple(value)))
        elif isinstance(value, dict):
            if kind not in ("int", "float"):
                c.fail(kp, f"a {{min, max}} range needs a numeric column; {col} is {kind}")
                continue
            c.mapping(value, kp, {"min": "lowest value kept", "max": "highest value kept"})
            bounds = []
            for key in ("min", "max"):
                v = value.get(key)
                if v is not None and not _scalar_ok("float", v):
                    c.fail((*kp, key), f"must be a number; got {describe_value(v)}")
                bounds.append(v)
            if not value:
                c.fail(kp, "give min, max or both")
            elif (
                bounds[0] is not None
                and bounds[1] is not None
                and _scalar_ok("float", bounds[0])
                and _scalar_ok("float", bounds[1])
                and bounds[0] > bounds[1]
            ):
                c.fail(kp, f"min {bounds[0]} is above max {bounds[1]}: no rows would pass")
            out.append(Filter(col, "range", tuple(bounds)))
        else:
            if not _scalar_ok(kind, value):
                c.fail(
                    kp,
                    f"must be {expect} ({col} is {kind}), a list of them, or {{min, max}}; "
                    f"got {describe_value(value)}",
                )
            out.append(Filter(col, "eq", value))
    return tuple(out)


def _parse_features(c: Checker, raw: Any, rate_only: bool = False) -> tuple[str, ...]:
    if rate_only and (raw is None or raw == []):
        return ()
    if not isinstance(raw, list) or not raw:
        c.fail(("features",), f"must be a non-empty list of feature names; got {describe_value(raw)}")
        return ()
    seen: set[str] = set()
    for i, name in enumerate(raw):
        kp = ("features", i)
        if not isinstance(name, str):
            c.fail(kp, f"must be a feature name; got {describe_value(name)}")
        elif name not in REGISTRY:
            c.fail(
                kp,
                f"unknown feature {name!r}{suggest(name, REGISTRY)}; "
                "`mazeprobe features --list` prints the known ones",
            )
        elif REGISTRY[name].kind == "str":
            c.fail(kp, f"{name} is a text feature; a regression needs numbers")
        elif name in seen:
            c.fail(kp, f"{name} is listed twice")
        else:
            seen.add(name)
    return tuple(x for x in raw if isinstance(x, str))


def _parse_models(c: Checker, raw: Any, outcome: str | None, n_features: int) -> list[tuple[dict, int]]:
    """Checked model entries as (settings, index in the list)."""
    if not isinstance(raw, list) or not raw:
        c.fail(("models",), f"must be a non-empty list of {{kind: ...}}; got {describe_value(raw)}")
        return []
    out = []
    keys: dict[str, int] = {}
    for i, entry in enumerate(raw):
        kp: KeyPath = ("models", i)
        if isinstance(entry, str):
            entry = {"kind": entry}  # `- vif` is short for `- {kind: vif}`
        if not isinstance(entry, dict):
            c.fail(kp, f"must be a mapping {{kind: ...}} or a kind name; got {describe_value(entry)}")
            continue
        kind = entry.get("kind")
        if "kind" not in entry:
            c.fail(kp, f"missing required key 'kind' ({' | '.join(MODEL_KINDS)})")
            continue
        if kind not in MODEL_KINDS:
            c.fail(
                (*kp, "kind"),
                f"unknown model kind {kind!r}{suggest(str(kind), MODEL_KINDS)}; "
                f"known kinds: {', '.join(MODEL_KINDS)}",
            )
            continue
        allowed = {**_COMMON_MODEL_KEYS, **_MODEL_KEYS[kind]}
        for key in entry:
            if key not in allowed:
                c.fail(
                    (*kp, key),
                    f"unknown key for a {kind} model{suggest(str(key), allowed)}; "
                    f"allowed: {', '.join(allowed)}",
                )
        name = entry.get("name", "")
        if "name" in entry and (not isinstance(name, str) or not NAME_PATTERN.fullmatch(name)):
            c.fail((*kp, "name"), f"must be {NAME_HELP}; got {name!r}")
        key = name or kind
        if key in keys:
            c.fail(kp, f"a second model with key {key!r} (models[{keys[key]}]); give one a distinct name")
        keys[key] = i
        if kind in BINARY_ONLY and outcome in OUTCOMES and OUTCOMES[outcome] == "fraction":
            c.fail(
                (*kp, "kind"),
                f"{kind} needs a binary outcome; {outcome} is a probability. Use logit "
                "(a fractional logit for this outcome), or a binary outcome like got_cheese",
            )
        if kind == "drop-one" and n_features < 2:
            c.fail((*kp, "kind"), "drop-one needs at least 2 features")
        if "alpha" in entry:
            c.number(entry["alpha"], (*kp, "alpha"), 0, 1, "between 0 and 1 (0.05 gives 95% intervals)")
        if "cov_type" in entry and entry["cov_type"] not in COV_TYPES:
            c.fail((*kp, "cov_type"), f"must be one of {', '.join(COV_TYPES)}; got {entry['cov_type']!r}")
        if "C" in entry:
            c.number(entry["C"], (*kp, "C"), 0, None, "> 0")
        if "splits" in entry:
            c.integer(entry["splits"], (*kp, "splits"), 1)
        if "test_size" in entry:
            c.number(entry["test_size"], (*kp, "test_size"), 0, 1, "between 0 and 1, e.g. 0.2")
        if "subsets" in entry:
            c.integer(entry["subsets"], (*kp, "subsets"), 1)
        out.append((entry, i))
    return out


def _rate_only(models: Any) -> bool:
    """Whether every model entry is a `rate` (which reads no feature, so `features` may be empty)."""
    if not isinstance(models, list) or not models:
        return False
    kinds = [m if isinstance(m, str) else m.get("kind") if isinstance(m, dict) else None for m in models]
    return all(k == "rate" for k in kinds)


def parse_plan(doc: YamlDoc) -> AnalysisPlan:
    """Validate a parsed YAML document into an AnalysisPlan; raises SpecError listing every problem."""
    check_kind(doc, "analysis-plan")
    c = Checker(doc)
    top = c.mapping(doc.data, (), _TOP, required=("name", "outcome", "models"))
    name = top.get("name")
    if "name" in top and (not isinstance(name, str) or not NAME_PATTERN.fullmatch(name)):
        c.fail(("name",), f"must be {NAME_HELP}; got {name!r}")
    description = top.get("description", "")
    if not isinstance(description, str):
        c.fail(("description",), f"must be text; got {describe_value(description)}")
    outcome = top.get("outcome")
    if "outcome" in top and outcome not in OUTCOMES:
        c.fail(
            ("outcome",),
            f"unknown outcome {outcome!r}{suggest(str(outcome), OUTCOMES)}; one of {', '.join(OUTCOMES)}",
        )
    filters = _parse_filter(c, top.get("filter"))
    rate_only = _rate_only(top.get("models"))
    if "features" not in top and not rate_only:
        c.fail((), "missing required key 'features' (" + _TOP["features"] + ")")
    features = _parse_features(c, top["features"], rate_only) if "features" in top else ()
    if outcome in features:
        c.fail(("features",), f"the outcome {outcome} cannot also be a feature")
    standardize = c.boolean(top.get("standardize", True), ("standardize",))
    seed = top.get("seed", 0)
    if "seed" in top:
        c.integer(seed, ("seed",), 0)
    entries = _parse_models(c, top["models"], outcome, len(features)) if "models" in top else []
    c.raise_if_any()

    # single and drop-one score on the same splits as l1-logit unless they say otherwise
    l1 = next((e for e, _ in entries if e["kind"] == "l1-logit"), {})
    cv_defaults = {
        "C": float(l1.get("C", DEFAULT_C)),
        "splits": l1.get("splits", DEFAULT_SPLITS),
        "test_size": float(l1.get("test_size", DEFAULT_TEST_SIZE)),
    }
    models = []
    lines = {}
    for entry, i in entries:
        kind = entry["kind"]
        settings: dict[str, Any] = {}
        if kind == "logit":
            settings = {
                "alpha": float(entry.get("alpha", DEFAULT_ALPHA)),
                "cov_type": entry.get("cov_type", "auto"),
            }
        elif kind == "rate":
            settings = {"alpha": float(entry.get("alpha", DEFAULT_ALPHA))}
        elif kind in BINARY_ONLY:
            settings = {k: type(v)(entry.get(k, v)) for k, v in cv_defaults.items()}
        elif kind == "sign-stability":
            settings = {"subsets": entry.get("subsets", DEFAULT_SUBSETS)}
        spec = ModelSpec(kind=kind, name=entry.get("name", ""), **settings)
        models.append(spec)
        lines[spec.key] = f"{doc.where(('models', i))}: models[{i}]"
    return AnalysisPlan(
        name=name,
        outcome=outcome,
        features=features,
        models=tuple(models),
        filter=filters,
        standardize=standardize,
        seed=seed,
        description=description,
        source=str(doc.path),
        _lines=lines,
    )


def load_plan(path: str | os.PathLike) -> AnalysisPlan:
    """Read and validate an analysis plan file."""
    return parse_plan(load_yaml(Path(path)))


def make_plan(
    name: str,
    outcome: str,
    features: list[str] | tuple[str, ...],
    models: list[dict | str],
    **top: Any,
) -> AnalysisPlan:
    """Build a plan from Python values, validated exactly as a file would be (tests, notebooks)."""
    data = {"name": name, "outcome": outcome, "features": list(features), "models": list(models), **top}
    return parse_plan(YamlDoc(path=Path("<plan>"), data=data))
