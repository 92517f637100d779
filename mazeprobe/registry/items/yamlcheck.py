"""The registry's YAML checking toolkit: problems placed at file:line:col, collected rather than raised,
so that validation reports every problem at once. `load` (questions and forecasts) and `resolutions`
(resolution files) both check their files with it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mazeprobe.errors import CheckFailed, MazeprobeError
from mazeprobe.registry.items.model import Problem
from mazeprobe.validation import MAX_NAME_LENGTH, NAME_PATTERN, name_problem
from mazeprobe.yamlio import Checker, KeyPath, SpecError, YamlDoc, describe_value, format_key_path, load_yaml

ID_PATTERN = NAME_PATTERN
"""Question ids, group names and forecaster ids (no ':' so that item ids `forecast:F:Q` split cleanly)."""


class RegistryError(MazeprobeError, ValueError):
    """A predictions directory, lock or resolution file with problems; the message lists every one,
    after an optional header line."""

    def __init__(self, problems: list[Problem] | str, header: str | None = None) -> None:
        self.problems = [] if isinstance(problems, str) else list(problems)
        lines = [problems] if isinstance(problems, str) else [str(p) for p in self.problems]
        super().__init__("\n".join(([header] if header else []) + lines))


class IntegrityError(RegistryError, CheckFailed):
    """Items that cannot be trusted: never registered, edited since registration, a damaged or rewritten
    lock, or a resolution that does not prove itself. One error names every such item, one per line."""


class DocChecker(Checker):
    """Problems in one parsed YAML file, each placed at the key (or list item) it concerns; the yamlio
    Checker's checks (mapping, integer, ...), collected as Problem records instead of strings."""

    def __init__(self, doc: YamlDoc, problems: list[Problem]) -> None:  # shares the caller's list
        self.doc = doc
        self.problems = problems  # type: ignore[assignment]

    def pos(self, key_path: KeyPath) -> tuple[int, int]:
        kp = tuple(key_path)
        while kp and kp not in self.doc.positions:
            kp = kp[:-1]
        return self.doc.positions.get(kp, (1, 1))

    def problem(self, key_path: KeyPath, message: str) -> Problem:
        line, col = self.pos(key_path)
        dotted = format_key_path(key_path)
        return Problem(self.doc.path, line, col, f"{dotted + ': ' if dotted else ''}{message}")

    def fail(self, key_path: KeyPath, message: str) -> None:
        self.problems.append(self.problem(key_path, message))

    def text(self, value: Any, key_path: KeyPath, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key_path, f"must be a non-empty string; got {describe_value(value)}")
            return None
        return value

    def ident(self, value: Any, key_path: KeyPath, what: str) -> str | None:
        if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
            self.fail(key_path, f"{what} {name_problem(value)}")
            return None
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            self.fail(
                key_path,
                f"{what} must be a name of letters, digits, '.', '_' or '-' (no spaces or ':'); "
                f"got {describe_value(value)}",
            )
            return None
        return value

    def yes_no(self, value: Any, key_path: KeyPath) -> str | None:
        out = yes_no(value)
        if out is None:
            self.fail(key_path, f"must be yes or no; got {describe_value(value)}")
        return out

    def when(self, value: Any, key_path: KeyPath) -> str | None:
        out = iso_when(value)
        if out is None:
            self.fail(
                key_path, f"must be a date like 2023-03-01 (or an ISO date-time); got {describe_value(value)}"
            )
        return out


def yes_no(value: Any) -> str | None:
    """ "yes" / "no" from a YAML value: YAML 1.1 reads an unquoted yes/no as a boolean."""
    if value is True or value == "yes":
        return "yes"
    if value is False or value == "no":
        return "no"
    return None


def iso_when(value: Any) -> str | None:
    """An ISO date or date-time string from a YAML date, datetime or ISO string; None if it is none."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, str):
        for parse in (date.fromisoformat, datetime.fromisoformat):
            try:
                parse(value)
                return value
            except ValueError:
                pass
    return None


def parse_yaml(path: Path, problems: list[Problem], text_path: Path | None = None) -> YamlDoc | None:
    """load_yaml, with a syntax error turned into a Problem at the parser's line and column.

    `text_path`: read the text from this file instead (a candidate edit), but name `path` in messages."""
    try:
        doc = load_yaml(text_path or path)
    except SpecError as exc:
        message = str(exc)
        shown = str(text_path or path)
        rest = message[len(shown) + 1 :] if message.startswith(shown + ":") else message
        match = re.match(r"(\d+):(\d+): (.*)", rest, re.S)
        if match:
            problems.append(Problem(path, int(match[1]), int(match[2]), match[3]))
        else:
            problems.append(Problem(path, 1, 1, rest.strip()))
        return None
    doc.path = path
    return doc


def sort_problems(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (str(p.file), p.line, p.col, p.message))


def plain(value: Any) -> Any:
    """A JSON-ready copy of parsed YAML: dates become ISO strings, mapping keys strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
