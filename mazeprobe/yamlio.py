"""YAML in, with positions: the one way mazeprobe reads YAML files.

`load_yaml` parses with the safe loader and also records where every key and list item sits, so an
error can say `file:line:col: key.path: what is wrong`.
"""

from __future__ import annotations

import os
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
