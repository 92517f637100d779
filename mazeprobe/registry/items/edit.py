"""Add or update one forecast in `DIR/forecasts/<forecaster>.yaml`, keeping the file's comments and layout.

The edit is made on the text: the parsed YAML says where the entry's values sit, and only those
characters change (or one flow-style line is appended to the `forecasts:` list). The whole registry is
validated with the new text before it replaces the file, so a bad edit never lands. A forecast that is
already registered is refused: it is locked. A forecast entered on a day other than the file's `made_at`
gets its own `made_at: <today, UTC>`, so the file keeps saying when each forecast was made. `note=None`
keeps an existing note.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mazeprobe.atomic import atomic_path
from mazeprobe.errors import UsageError
from mazeprobe.provenance import utc_stamp
from mazeprobe.registry.items.load import scan
from mazeprobe.registry.items.lock import registered_at
from mazeprobe.registry.items.model import Problem, item_id_forecast
from mazeprobe.registry.items.yamlcheck import RegistryError, sort_problems
from mazeprobe.validation import check_name, check_probability


@dataclass(frozen=True)
class ForecastEdit:
    path: Path
    action: str
    """"added", "updated", "unchanged" or "created" (a new forecaster file)."""
    warnings: list[Problem] = field(default_factory=list)
    """Problems the edit may pass through: a group of this forecaster's that does not sum to 1 (they set
    its members one at a time; `register` refuses until it does)."""


def _number(p: float) -> str:
    """A probability as YAML reads back as the same float (YAML 1.1 needs a '.' in a float)."""
    text = repr(float(p))
    if "e" in text or "." not in text:
        text = f"{p:.17f}".rstrip("0")
    return text


def _scalar(text: str) -> str:
    """A plain scalar when YAML reads it back as this same string, else a double-quoted one."""
    try:
        plain_ok = yaml.safe_load(text) == text and text.strip() == text
    except yaml.YAMLError:
        plain_ok = False
    return (
        text if plain_ok and not any(ch in text for ch in ",{}[]#:") else json.dumps(text, ensure_ascii=False)
    )


def _key(node: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == name:
            return key_node, value_node
    return None


def _last_end(node: yaml.Node) -> int:
    """Where a node's text really ends: a block collection's own end mark lies at the next token, which
    may be past trailing comments."""
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        return _last_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _last_end(node.value[-1])
    return node.end_mark.index


def _after_line(text: str, index: int) -> int:
    """The index just past the end of the line holding `index` (past its newline)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def set_forecast(
    root: str | Path,
    forecaster: str,
    question: str,
    probability: float | None = None,
    note: str | None = None,
    *,
    claim: str | None = None,
    analysis_dir: str | Path | None = None,
) -> ForecastEdit:
    """Add or (before it is registered) update `forecaster`'s forecast on `question`: a probability, or a
    directional claim ("yes" / "no"). RegistryError if it is registered or the result does not validate."""
    root = Path(root)
    check_name(forecaster, "forecaster id")
    if (probability is None) == (claim is None):
        raise UsageError("give a probability or a claim (yes or no), not both and not neither")
    if probability is not None:
        probability = check_probability(probability, "probability", open_interval=True)
    if claim is not None and claim not in ("yes", "no"):
        raise UsageError(f"claim must be yes or no; got {claim!r}")
    if not (root / "questions.yaml").exists():
        raise UsageError(f"no questions.yaml in {root}: not a predictions directory")
    item = item_id_forecast(forecaster, question)
    when = registered_at(root).get(item)
    if when is not None:
        raise RegistryError(
            f"{item} is locked: registered at {utc_stamp(when)}; "
            "a registered forecast cannot be changed (forecasts on other questions can still be added)"
        )
    today = datetime.now(UTC).date().isoformat()
    path = root / "forecasts" / f"{forecaster}.yaml"
    values = {"probability": _number(probability)} if probability is not None else {"claim": claim}
    if note is not None:
        values["note"] = json.dumps(note, ensure_ascii=False)
    if path.exists():
        old = path.read_text(encoding="utf-8")
        new, action = _edit_text(path, old, question, values, today)
        if new == old:
            return ForecastEdit(path, "unchanged")
    else:
        new, action = _new_file(forecaster, question, values, today), "created"
    created_dir = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        warnings = _validate_and_replace(root, path, new, forecaster, analysis_dir)
    except BaseException:
        if created_dir:
            path.parent.rmdir()
        raise
    return ForecastEdit(path, action, warnings)


def _validate_and_replace(root: Path, path: Path, new: str, forecaster: str, analysis_dir) -> list[Problem]:
    with atomic_path(path) as tmp:
        tmp.write_text(new, encoding="utf-8")
        result = scan(root, analysis_dir, replace={path: tmp})
        # this forecaster's groups may be off while they set the members one at a time
        passing = [p for f, _, p in result.group_problems if f == forecaster]
        blocking = result.problems + [p for f, _, p in result.group_problems if f != forecaster]
        if blocking:
            raise RegistryError(
                sort_problems(blocking), header=f"{path} not changed: the registry would have these problems"
            )
    return passing


def _entry_text(question: str, values: dict[str, str]) -> str:
    return (
        "{" + ", ".join([f"question: {_scalar(question)}"] + [f"{k}: {v}" for k, v in values.items()]) + "}"
    )


def _new_file(forecaster: str, question: str, values: dict[str, str], today: str) -> str:
    return (
        f"# Forecasts by {forecaster}. Add or update one (before it is registered) with\n"
        f"#   mazeprobe predictions forecast DIR --forecaster {forecaster} --question QID --probability P\n"
        f"forecaster: {_scalar(forecaster)}\n"
        'source: "entered with mazeprobe predictions forecast"\n'
        f"made_at: {today}\n"
        "forecasts:\n"
        f"  - {_entry_text(question, values)}\n"
    )


def _edit_text(path: Path, text: str, question: str, values: dict[str, str], today: str) -> tuple[str, str]:
    try:
        # compose, not load: the edit needs where each value sits; the safe loader builds no objects
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise RegistryError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(root, yaml.MappingNode):
        raise RegistryError(
            f"{path}:1:1: not a forecast file (a mapping with forecaster, source, made_at, forecasts)"
        )
    made = _key(root, "made_at")
    if made is None or made[1].value != today:
        values = {**values, "made_at": today}
    found = _key(root, "forecasts")
    if found is None:
        sep = "" if text.endswith("\n") or not text else "\n"
        return text + f"{sep}forecasts:\n  - {_entry_text(question, values)}\n", "added"
    key_node, seq = found
    if isinstance(seq, yaml.SequenceNode):
        for entry in seq.value:
            q = _key(entry, "question") if isinstance(entry, yaml.MappingNode) else None
            if q is not None and q[1].value == question:
                if _key(entry, "made_at") is not None:
                    values = {**values, "made_at": today}
                return _update_entry(text, entry, values), "updated"
    line = f"- {_entry_text(question, values)}"
    if isinstance(seq, yaml.SequenceNode) and seq.value and not seq.flow_style:
        pos = _after_line(text, _last_end(seq.value[-1]))
        sep = "" if pos == 0 or text[pos - 1] == "\n" else "\n"
        return text[:pos] + sep + " " * seq.start_mark.column + line + "\n" + text[pos:], "added"
    if isinstance(seq, yaml.SequenceNode) and seq.value:  # a non-empty flow list: [..., new]
        pos = seq.value[-1].end_mark.index
        return text[:pos] + ", " + _entry_text(question, values) + text[pos:], "added"
    # `forecasts:` with nothing, null or []: drop the empty value and start a block list below the key
    text = text[: seq.start_mark.index] + text[seq.end_mark.index :]
    end = text.find("\n", key_node.end_mark.index)
    end = len(text) if end < 0 else end
    if text[key_node.end_mark.index : end].strip() == ":":  # no trailing space where `[]` was
        text = text[: key_node.end_mark.index] + ":" + text[end:]
        end = key_node.end_mark.index + 1
    return text[:end] + "\n  " + line + text[end:], "added"


def _update_entry(text: str, entry: yaml.MappingNode, values: dict[str, str]) -> str:
    """Rewrite the values of `entry` in place; keys it lacks are added after its last value. A claim
    replacing a probability (or back) rewrites that key too."""
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement)
    missing: dict[str, str] = {}
    other = {"probability": "claim", "claim": "probability"}
    for name, value in values.items():
        here = _key(entry, name)
        swap = _key(entry, other[name]) if name in other else None
        if here is not None:
            edits.append((here[1].start_mark.index, here[1].end_mark.index, value))
        elif swap is not None:
            edits.append((swap[0].start_mark.index, swap[1].end_mark.index, f"{name}: {value}"))
        else:
            missing[name] = value
    if missing:
        last = _last_end(entry.value[-1][1])
        if entry.flow_style:
            add = "".join(f", {k}: {v}" for k, v in missing.items())
            edits.append((last, last, add))
        else:
            indent = " " * entry.value[0][0].start_mark.column
            pos = _after_line(text, last)
            sep = "" if text[pos - 1] == "\n" else "\n"
            add = sep + "".join(f"{indent}{k}: {v}\n" for k, v in missing.items())
            edits.append((pos, pos, add))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text
