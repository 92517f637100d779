"""YAML in, with positions: the one way mazeprobe reads YAML files.

`load_yaml` parses with the safe loader and also records where every key and list item sits, so an
error can say `file:line:col: key.path: what is wrong`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mazeprobe.errors import MazeprobeError


class SpecError(MazeprobeError, ValueError):
    """A YAML file that is not what mazeprobe expects; the message names file, line and key path."""


KeyPath = tuple[str | int, ...]


@dataclass
class YamlDoc:
    """A parsed YAML document and the (line, col) of each key path, 1-based."""

    path: Path
    data: Any
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def where(self, key_path: KeyPath) -> str:
        """`file:line:col` of the key path, or of its nearest ancestor that has a position."""
        kp = tuple(key_path)
        while kp and kp not in self.positions:
            kp = kp[:-1]
        line, col = self.positions.get(kp, (1, 1))
        return f"{self.path}:{line}:{col}"

    def error(self, key_path: KeyPath, message: str) -> SpecError:
        dotted = format_key_path(key_path)
        return SpecError(f"{self.where(key_path)}: {dotted + ': ' if dotted else ''}{message}")


def format_key_path(key_path: KeyPath) -> str:
    out = ""
    for k in key_path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _positions(node: yaml.Node, prefix: KeyPath, out: dict[KeyPath, tuple[int, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            kp = (*prefix, str(key_node.value))
            out[kp] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _positions(value_node, kp, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            kp = (*prefix, i)
            out[kp] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _positions(item, kp, out)


def load_yaml(path: str | os.PathLike) -> YamlDoc:
    """Parse a YAML file safely; syntax errors become SpecError with the file, line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{where}: invalid YAML: {problem}") from None
    doc = YamlDoc(path=path, data=data)
    if node is not None:
        _positions(node, (), doc.positions)
    return doc


# --- validation helpers shared by every YAML file mazeprobe reads ---------------------------------


def describe_value(value: Any) -> str:
    """How an unexpected value is named in a message: its type, and the value when it is short."""
    return type(value).__name__ if isinstance(value, (dict, list)) else f"{type(value).__name__} {value!r}"


def suggest(name: str, known: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a near miss, else the empty string."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Checker:
    """Collects every problem in a document, each as `file:line:col: key.path: message`, so that one
    error can list them all."""

    def __init__(self, doc: YamlDoc) -> None:
        self.doc = doc
        self.problems: list[str] = []

    def fail(self, key_path: KeyPath, message: str) -> None:
        self.problems.append(str(self.doc.error(key_path, message)))

    def raise_if_any(self) -> None:
        if self.problems:
            raise SpecError("\n".join(self.problems))

    def mapping(
        self,
        value: Any,
        key_path: KeyPath,
        allowed: dict[str, str],
        required: tuple = (),
        none_ok: bool = False,
    ) -> dict:
        """The mapping (or {} after reporting it is not one); unknown and missing keys are reported.
        `none_ok`: an empty section (`key:` with nothing after it) counts as an empty mapping."""
        if value is None and none_ok:
            value = {}
        if not isinstance(value, dict):
            self.fail(
                key_path, f"must be a mapping with keys {', '.join(allowed)}; got {describe_value(value)}"
            )
            return {}
        for key in value:
            if key not in allowed:
                hint = suggest(str(key), allowed)
                self.fail((*key_path, key), f"unknown key{hint}; allowed: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.fail(key_path, f"missing required key {key!r} ({allowed[key]})")
        return value

    def integer(self, value: Any, key_path: KeyPath, low: int | None = None, high: int | None = None):
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key_path, f"must be an integer; got {describe_value(value)}")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"between {low} and {high}"
            self.fail(key_path, f"must be {bounds}; got {value}")
            return None
        return value

    def number(self, value: Any, key_path: KeyPath, low: float, high: float | None, what: str):
        """A number in the open interval (low, high); `what` describes the bounds for the message."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key_path, f"must be a number; got {describe_value(value)}")
            return None
        if not (value > low and (high is None or value < high)):
            self.fail(key_path, f"must be {what}; got {value}")
            return None
        return float(value)

    def boolean(self, value: Any, key_path: KeyPath) -> bool:
        if not isinstance(value, bool):
            self.fail(key_path, f"must be true or false; got {describe_value(value)}")
            return False
        return value

    def choice(self, value: Any, key_path: KeyPath, allowed: tuple[str, ...]) -> str | None:
        if value not in allowed:
            hint = suggest(str(value), allowed)
            self.fail(key_path, f"must be one of {', '.join(allowed)}; got {value!r}{hint}")
            return None
        return value


# --- which kind of file a YAML document is -------------------------------------------------------

FILE_KINDS: dict[str, tuple[str, str]] = {
    "experiment": ("an experiment spec", "mazeprobe run"),
    "analysis-plan": ("an analysis plan", "mazeprobe fit --plan, and resolution rules"),
    "training-config": ("a training config", "mazeprobe train --config"),
}
"""The YAML files mazeprobe reads from analysis/: kind -> (what it is, what reads it)."""

# Keys only one kind has: they tell an older file without `kind:` apart.
_MARKERS: dict[str, tuple[str, ...]] = {
    "experiment": ("policy", "mazes", "rollouts", "record", "interventions", "retargeting"),
    "analysis-plan": ("outcome", "models", "features", "filter", "standardize"),
    "training-config": ("samples", "batch_size", "beta_start", "beta_end", "collect_steps", "envs", "lr"),
}
KIND_HELP = " | ".join(FILE_KINDS)


def file_kind(data: Any) -> str | None:
    """The kind a parsed document declares (`kind:`) or, without one, the kind its keys show."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("kind"), str):
        return data["kind"]
    found = [kind for kind, keys in _MARKERS.items() if any(k in data for k in keys)]
    return found[0] if len(found) == 1 else None


def check_kind(doc: YamlDoc, expected: str) -> None:
    """Refuse a file of another kind before checking its keys, naming the kind it is."""
    kind = file_kind(doc.data)
    if "kind" in (doc.data if isinstance(doc.data, dict) else {}) and kind not in FILE_KINDS:
        raise doc.error(
            ("kind",), f"unknown kind {kind!r}{suggest(str(kind), FILE_KINDS)}; one of {KIND_HELP}"
        )
    if kind is not None and kind != expected:
        what, reader = FILE_KINDS[kind]
        raise doc.error(
            ("kind",) if "kind" in doc.data else (),
            f"this file is {what} (kind: {kind}, read by {reader}), not {FILE_KINDS[expected][0]}",
        )
