"""Analysis plans (analysis/*.yaml): which rows, which outcome, which features, which models.

    name: behavioral
    filter: {has_decision_square: true, cheese_in_top_right_5x5: false}
    outcome: got_cheese              # or p_cheese_at_dsq (a probability: fractional logit)
    features: [euc_dist_cheese_top_right, steps_between_cheese_decision_square]
    standardize: true                # z-score features on the filtered rows (sd with ddof=1)
    seed: 0                          # random splits and subsets
    max_vif: 10                      # rules call a coefficient with a higher VIF not identified (default)
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

import os
from pathlib import Path
from typing import Any

from mazeprobe.maze.features import REGISTRY
from mazeprobe.settings import read_settings
from mazeprobe.sim.episodes import DSQ_COLUMNS, EPISODE_COLUMNS
from mazeprobe.stats.kinds import (
    COV_TYPES,
    DEFAULT_ALPHA,
    DEFAULT_C,
    DEFAULT_SPLITS,
    DEFAULT_SUBSETS,
    DEFAULT_TEST_SIZE,
    KIND_REGISTRY,
)
from mazeprobe.stats.planspec import OUTCOMES, AnalysisPlan, Filter, ModelSpec
from mazeprobe.validation import NAME_HELP, NAME_PATTERN
from mazeprobe.yamlio import Checker, KeyPath, YamlDoc, check_kind, describe_value, load_yaml, suggest

__all__ = [
    "BINARY_ONLY",
    "COV_TYPES",
    "DEFAULT_ALPHA",
    "DEFAULT_C",
    "DEFAULT_SPLITS",
    "DEFAULT_SUBSETS",
    "DEFAULT_TEST_SIZE",
    "MODEL_KINDS",
    "OUTCOMES",
    "AnalysisPlan",
    "Filter",
    "ModelSpec",
    "filter_columns",
    "load_plan",
    "make_plan",
    "parse_plan",
]

# columns of a run's joined frame (RunDir.load) that are not maze features, with the kind of value a
# filter compares
_RUN_COLUMNS: dict[str, str] = {
    **{c.name: c.kind for c in EPISODE_COLUMNS if c.kind != "path"},
    "placement": "str",
    **{c.name: c.kind for c in DSQ_COLUMNS},
}

MODEL_KINDS: dict[str, str] = {name: kind.description for name, kind in KIND_REGISTRY.items()}
"""Each model kind and what it fits (a view of mazeprobe.stats.kinds.KIND_REGISTRY)."""
BINARY_ONLY = tuple(name for name, kind in KIND_REGISTRY.items() if kind.binary_only)
"""The kinds that need a binary outcome (a view of KIND_REGISTRY)."""


# --- validation ----------------------------------------------------------------------------------


_EXTRA = {
    "kind": "analysis-plan (optional: tells this file from an experiment spec or a training config)",
    "filter": "{column: value | [values] | {min, max}}",
    "outcome": " or ".join(OUTCOMES),
    "features": "list of feature names (mazeprobe features --list)",
    "models": "list of {kind: ...}",
}
"""The top-level keys with parsers of their own; the others are AnalysisPlan's settings."""
_ORDER = ("kind", "name", "description", "filter", "outcome", "features", "standardize", "seed", "max_vif")
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


def _parse_features(c: Checker, raw: Any, featureless: bool = False) -> tuple[str, ...]:
    if featureless and (raw is None or raw == []):
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
            c.fail(kp, f"missing required key 'kind' ({' | '.join(KIND_REGISTRY)})")
            continue
        if not isinstance(kind, str) or kind not in KIND_REGISTRY:
            c.fail(
                (*kp, "kind"),
                f"unknown model kind {kind!r}{suggest(str(kind), KIND_REGISTRY)}; "
                f"known kinds: {', '.join(KIND_REGISTRY)}",
            )
            continue
        model_kind = KIND_REGISTRY[kind]
        # the kind's settings are the keys an entry may give besides kind and name
        allowed = {**_COMMON_MODEL_KEYS, **{k: setting.help for k, setting in model_kind.settings.items()}}
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
        if model_kind.binary_only and outcome in OUTCOMES and OUTCOMES[outcome] == "fraction":
            c.fail(
                (*kp, "kind"),
                f"{kind} needs a binary outcome; {outcome} is a probability. Use logit "
                "(a fractional logit for this outcome), or a binary outcome like got_cheese",
            )
        # one feature is checked for the whole plan (`features` must be a non-empty list)
        if model_kind.min_features > 1 and n_features < model_kind.min_features:
            c.fail((*kp, "kind"), f"{kind} needs at least {model_kind.min_features} features")
        for setting_key, setting in model_kind.settings.items():
            if setting_key in entry:
                setting.validate(c, entry[setting_key], (*kp, setting_key))
        out.append((entry, i))
    return out


def _featureless(models: Any) -> bool:
    """Whether every model entry is of a kind that reads no feature (a rate), so `features` may be empty."""
    if not isinstance(models, list) or not models:
        return False
    kinds = [m if isinstance(m, str) else m.get("kind") if isinstance(m, dict) else None for m in models]
    known = [KIND_REGISTRY.get(k) if isinstance(k, str) else None for k in kinds]
    return all(kind is not None and not kind.reads_features for kind in known)


def parse_plan(doc: YamlDoc) -> AnalysisPlan:
    """Validate a parsed YAML document into an AnalysisPlan; raises SpecError listing every problem."""
    check_kind(doc, "analysis-plan")
    c = Checker(doc)
    values = read_settings(
        c, AnalysisPlan, doc.data, (), extra=_EXTRA, order=_ORDER, require=("outcome", "models")
    )
    top = doc.data if isinstance(doc.data, dict) else {}
    outcome = top.get("outcome")
    if "outcome" in top and outcome not in OUTCOMES:
        c.fail(
            ("outcome",),
            f"unknown outcome {outcome!r}{suggest(str(outcome), OUTCOMES)}; one of {', '.join(OUTCOMES)}",
        )
    filters = _parse_filter(c, top.get("filter"))
    featureless = _featureless(top.get("models"))
    if "features" not in top and not featureless:
        c.fail((), "missing required key 'features' (" + _EXTRA["features"] + ")")
    features = _parse_features(c, top["features"], featureless) if "features" in top else ()
    if outcome in features:
        c.fail(("features",), f"the outcome {outcome} cannot also be a feature")
    entries = _parse_models(c, top["models"], outcome, len(features)) if "models" in top else []
    c.raise_if_any()

    models = []
    lines = {}
    for entry, i in entries:
        kind = KIND_REGISTRY[entry["kind"]]
        # a setting the entry leaves out comes from the plan's first entry of the kind it takes its
        # defaults from (single and drop-one score on the same splits as l1-logit), else the default
        source = next((e for e, _ in entries if e["kind"] == kind.defaults_from), {})
        settings = {
            key: setting.held(entry.get(key, source.get(key, setting.default)))
            for key, setting in kind.settings.items()
        }
        spec = ModelSpec(kind.name, entry.get("name", ""), settings)
        models.append(spec)
        lines[spec.key] = f"{doc.where(('models', i))}: models[{i}]"
    return AnalysisPlan(
        outcome=outcome,
        features=features,
        models=tuple(models),
        filter=filters,
        **values,
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
