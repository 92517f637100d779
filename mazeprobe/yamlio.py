"""YAML in, with positions: the one way mazeprobe reads YAML files.

`load_yaml` parses with the safe loader and also records where every key and list item sits, so an
error can say `file:line:col: key.path: what is wrong`.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mazeprobe.errors import MazeprobeError
from mazeprobe.validation import within


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


MAX_NODES = 200_000
"""The most nodes a document may hold once its aliases are expanded. A handful of `&name` / `*name`
anchors (the shipped questions use a few) stays far below; an alias bomb (each level doubling the last)
passes it within a few levels and is refused before anything walks the expanded tree."""


class _Loader(yaml.SafeLoader):
    """The safe loader, with dates that do not exist (2026-02-30) reported at their line and column."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date or time ({exc})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _expanded_size(root: yaml.Node, path: Path) -> int:
    """Nodes in the document with every alias expanded (counted without expanding anything); a
    recursive alias or a size above MAX_NODES is refused."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise SpecError(f"{_where(path, node)}: invalid YAML: an alias that contains itself")
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        active.discard(key)
        if total > MAX_NODES:
            raise SpecError(
                f"{_where(path, node)}: invalid YAML: its aliases expand to more than {MAX_NODES:,} values "
                "(an alias bomb?); write the values out, or nest fewer aliases"
            )
        sizes[key] = total
        return total

    return size(root)


def _positions(node: yaml.Node, prefix: KeyPath, out: dict[KeyPath, tuple[int, int]], path: Path) -> None:
    """Where each key path sits; a key given twice in one mapping is refused, naming both lines."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = str(key_node.value)
            line = key_node.start_mark.line + 1
            merge = key_node.tag == "tag:yaml.org,2002:merge"
            if isinstance(key_node, yaml.ScalarNode) and name in seen and not merge:
                raise SpecError(
                    f"{_where(path, key_node)}: invalid YAML: duplicate key {name!r} (first at line "
                    f"{seen[name]}); a mapping holds each key once"
                )
            seen[name] = line
            kp = (*prefix, name)
            out[kp] = (line, key_node.start_mark.column + 1)
            _positions(value_node, kp, out, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            kp = (*prefix, i)
            out[kp] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _positions(item, kp, out, path)


def parse_yaml_text(text: str, path: Path) -> YamlDoc:
    """YAML text -> YamlDoc (positions included), refusing duplicate keys, impossible dates and alias
    bombs; every problem is a SpecError at `path`'s line and column."""
    loader = _Loader(text)
    doc = YamlDoc(path=path, data=None)
    try:
        node = loader.get_single_node()
        if node is not None:
            _expanded_size(node, path)
            _positions(node, (), doc.positions, path)
            doc.data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise SpecError(f"{path}: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return doc


def load_yaml(path: str | os.PathLike) -> YamlDoc:
    """Parse a YAML file safely (see parse_yaml_text); unreadable files are SpecError too."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a directory, not a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    return parse_yaml_text(text, path)


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

    def number(
        self,
        value: Any,
        key_path: KeyPath,
        low: float | None,
        high: float | None,
        what: str,
        closed_low: bool = False,
        closed_high: bool = False,
    ):
        """A number in the interval (low, high), each end included when `closed_low`/`closed_high` says
        so (None: no bound); `what` describes the bounds for the message."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key_path, f"must be a number; got {describe_value(value)}")
            return None
        if not math.isfinite(value):  # YAML reads .inf and .nan as floats
            self.fail(key_path, f"must be a finite number; got {value}")
            return None
        if not within(value, low, high, closed_low, closed_high):
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
    "probe-plan": ("a probe plan", "probe-accuracy resolution rules"),
}
"""The YAML files mazeprobe reads from analysis/: kind -> (what it is, what reads it)."""

# Keys only one kind has: they tell an older file without `kind:` apart.
_MARKERS: dict[str, tuple[str, ...]] = {
    "experiment": ("policy", "mazes", "rollouts", "record", "interventions", "retargeting"),
    "analysis-plan": ("outcome", "models", "features", "filter", "standardize"),
    "training-config": ("samples", "batch_size", "beta_start", "beta_end", "collect_steps", "envs", "lr"),
    "probe-plan": ("probe", "layer", "coords", "folds"),
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
