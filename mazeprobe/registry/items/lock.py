"""`DIR/registry.lock`: an append-only hash chain of registrations.

One JSON line per registration of one item:

    {"item": "forecast:garriga-alonso:goal-weirder", "sha256": "<of the canonical content>",
     "registered_at": "2026-11-26T10:00:00.000Z", "commit": "<git commit or null>",
     "prev": "<sha256 of the previous line's exact text, null on the first line>", "content": {...}}

Items: `question:QID`, `forecast:F:QID` and `resolution-manual:QID` (an entry of resolutions-manual.yaml)
are registered from the files by `register`; `resolution:QID` lines are events that `resolve` appends,
one per run that resolved the question, and `evidence:DESIGN` lines are appended whenever the registry is
shown a run of a design (mazeprobe.registry.resolution.designs); mazeprobe.registry.items.trust reads both:
they date the evidence.

The canonical content is json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
of the item's parsed mapping (dates as ISO strings, yes/no as strings); a forecast's content also holds
its file's forecaster, source and made_at, which are part of the claim. The content is stored so that
`verify` can say which field changed.

Registering adds new items only. An item edited since its registration is refused: registering it again
would launder the edit. `register(..., amend=True)` records the new content in a new line and keeps the
old one. What the chain catches: an edited, removed, inserted or reordered line before the last (the
next line's `prev` no longer matches), an edited `content` anywhere (it no longer matches `sha256`), and a
line dated before its predecessor. What it cannot: a consistent rewrite of the last lines or of the whole
file. The anchors for that are git's history of the lock (mazeprobe.registry.items.history: each committed
version must stay a prefix, and lines written after a commit cannot be dated before it) and the head
(`lock_head`: the hash of the last line), which people publish: a published head must stay in the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import UsageError
from mazeprobe.provenance import git_commit, parse_utc, utc_stamp
from mazeprobe.registry.items.history import history_problems
from mazeprobe.registry.items.load import MANUAL_NAME, ItemRef, Scan, scan
from mazeprobe.registry.items.model import Problem, parse_item_id
from mazeprobe.registry.items.model import (
    item_id_forecast as item_id_forecast,  # the names older code imports
)
from mazeprobe.registry.items.model import item_id_question as item_id_question
from mazeprobe.registry.items.yamlcheck import IntegrityError, RegistryError, sort_problems

LOCK_NAME = "registry.lock"
LINE_KEYS = ("item", "sha256", "registered_at", "commit", "prev", "content")
EVENT_KINDS = ("resolution", "evidence")
"""Item kinds appended as events (resolution events by `resolve`; evidence events whenever the registry is
shown a run): never in the files, so never 'no longer in' them."""


def canonical_json(content: Any) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(content: Any) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def _line_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LockEntry:
    line: int
    """1-based line number in registry.lock."""
    item: str
    sha256: str
    registered_at: datetime
    commit: str | None
    content: dict


def _lock_lines(path: Path) -> list[str]:
    """The lock's lines; RegistryError (one problem, at its line) for a lock that is not readable text."""
    if path.is_dir():
        raise RegistryError([Problem(path, 1, 1, "is a directory, not the lock file (JSON lines)")])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        why = f"line {line} is not UTF-8 text (byte {exc.start}): the lock was damaged"
        raise RegistryError([Problem(path, line, 1, why)]) from None
    except OSError as exc:
        raise RegistryError([Problem(path, 1, 1, f"cannot read the lock ({exc.strerror})")]) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_lock(root: str | Path) -> tuple[list[LockEntry], list[Problem]]:
    """Every well-formed line of the lock, and the problems: malformed lines, a broken chain, content
    that does not match its hash, a line dated before the line above it. No lock file: ([], [])."""
    path = Path(root) / LOCK_NAME
    if not path.exists():
        return [], []
    try:
        lines = _lock_lines(path)
    except RegistryError as exc:
        return [], list(exc.problems)
    return _parse(path, lines)


def _parse(path: Path, lines: list[str]) -> tuple[list[LockEntry], list[Problem]]:
    entries: list[LockEntry] = []
    problems: list[Problem] = []

    def fail(n: int, message: str) -> None:
        problems.append(Problem(path, n, 1, message))

    for n, text in enumerate(lines, start=1):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            fail(n, f"line {n} is not valid JSON ({exc.msg}); the lock was edited by hand")
            continue
        if not isinstance(obj, dict) or any(k not in obj for k in LINE_KEYS):
            fail(n, f"line {n} is not a registration: it needs the keys {', '.join(LINE_KEYS)}")
            continue
        expected_prev = _line_hash(lines[n - 2]) if n > 1 else None
        if (obj["prev"] or None) != expected_prev:
            if n == 1:
                fail(
                    n,
                    "chain broken at line 1: the first line must have prev null (earlier lines were removed)",
                )
            else:
                fail(
                    n,
                    f"chain broken between lines {n - 1} and {n}: line {n} records a different hash for the "
                    f"line before it (line {n - 1} was edited, or lines were removed, inserted or reordered)",
                )
        if not isinstance(obj["content"], dict) or content_hash(obj["content"]) != obj["sha256"]:
            fail(n, f"line {n} ({obj['item']}): its content does not match its sha256 (the line was edited)")
            continue
        try:
            when = parse_utc(obj["registered_at"])
        except UsageError:
            fail(n, f"line {n}: registered_at is not an ISO time: {obj['registered_at']!r}")
            continue
        # appended lines are written now, so time never runs backwards down the file: a line dated before
        # the one above it was back-dated (or written by hand)
        if entries and when < entries[-1].registered_at:
            fail(
                n,
                f"line {n} ({obj['item']}) is dated {utc_stamp(when, 'milliseconds')}, before line "
                f"{entries[-1].line} ({utc_stamp(entries[-1].registered_at, 'milliseconds')}): "
                "the line is back-dated",
            )
        entries.append(LockEntry(n, str(obj["item"]), obj["sha256"], when, obj["commit"], obj["content"]))
    return entries, problems


def lock_problems(root: str | Path) -> list[Problem]:
    """Everything wrong with the lock itself: read_lock's problems, and what git's history of it says
    (a committed version that is no longer a prefix, a line dated before a commit that lacked it)."""
    path = Path(root) / LOCK_NAME
    if not path.exists():
        return []
    try:
        lines = _lock_lines(path)
    except RegistryError as exc:
        return list(exc.problems)
    entries, problems = _parse(path, lines)
    if lines and not path.read_bytes().endswith(b"\n"):
        # every line is written whole with its newline: a lock without one lost the end of its last line
        problems = [p for p in problems if p.line != len(lines)]
        why = f"line {len(lines)} is cut off (the lock does not end with a newline): the lock was truncated"
        problems.append(Problem(path, len(lines), 1, why))
    problems += history_problems(path, lines, {e.line: e.registered_at for e in entries})
    return sort_problems(problems)


def lock_head(root: str | Path) -> str | None:
    """The head of the chain: the sha256 of the last line's exact text (what the next line's `prev` will
    hold), or None for an empty or missing lock. Publish it (a post, a commit message, a paper) to anchor
    the lock: a later lock whose chain no longer contains it was rewritten (`verify(anchor=...)`)."""
    path = Path(root) / LOCK_NAME
    lines = _lock_lines(path) if path.exists() else []
    return _line_hash(lines[-1]) if lines else None


def line_hashes(root: str | Path) -> list[str]:
    """The hash of every line, in order (line n's hash is what line n + 1 records as `prev`)."""
    path = Path(root) / LOCK_NAME
    return [_line_hash(t) for t in _lock_lines(path)] if path.exists() else []


def latest(entries: list[LockEntry]) -> dict[str, LockEntry]:
    """Each item's most recent registration."""
    out: dict[str, LockEntry] = {}
    for e in entries:
        out[e.item] = e
    return out


def _read_lock_or_raise(root: str | Path) -> list[LockEntry]:
    problems = lock_problems(root)
    if problems:
        raise IntegrityError(
            problems, header=f"{Path(root) / LOCK_NAME} is damaged (see `predictions verify`):"
        )
    entries, _ = read_lock(root)
    return entries


def registered_at(root: str | Path) -> dict[str, datetime]:
    """Item id -> UTC time of its latest registration; RegistryError if the lock is damaged."""
    return {item: e.registered_at for item, e in latest(_read_lock_or_raise(root)).items()}


def changed_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    """`field: old -> new` for every field that differs (nested mappings as dotted names)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in list(old) + [k for k in new if k not in old]:
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in new:
                out.append(f"{name}: {_short(old[key])} -> (removed)")
            elif key not in old:
                out.append(f"{name}: (absent) -> {_short(new[key])}")
            else:
                out.extend(changed_fields(old[key], new[key], name))
        return out
    if canonical_json(old) == canonical_json(new):
        return []
    return [f"{prefix or 'content'}: {_short(old)} -> {_short(new)}"]


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def status(current: Scan, entries: list[LockEntry]) -> dict[str, tuple[str, datetime | None]]:
    """Item id -> ("registered" | "edited" | "new", time of its latest registration or None)."""
    last = latest(entries)
    out: dict[str, tuple[str, datetime | None]] = {}
    for item, ref in current.items.items():
        e = last.get(item)
        if e is None:
            out[item] = ("new", None)
        else:
            out[item] = ("registered" if e.sha256 == content_hash(ref.content) else "edited", e.registered_at)
    return out


def _edited_problem(ref: ItemRef, e: LockEntry, advice: str) -> Problem:
    fields = "; ".join(changed_fields(e.content, ref.content))
    return Problem(
        ref.file,
        ref.line,
        ref.col,
        f"{ref.item} edited since its registration at {utc_stamp(e.registered_at)}: {fields}{advice}",
    )


def register(root: str | Path, amend: bool = False, analysis_dir: str | Path | None = None) -> list[str]:
    """Append a lock line for every item not yet registered; return their ids (empty: nothing written,
    the lock stays byte-identical). Refuses (RegistryError, nothing written) when the registry has
    problems, the lock is damaged, or an item changed since its registration (unless `amend`)."""
    root = Path(root)
    current = scan(root, analysis_dir)
    problems = current.all_problems()
    if problems:
        raise RegistryError(problems, header=f"nothing registered: {len(problems)} problem(s)")
    entries = _read_lock_or_raise(root)
    last = latest(entries)
    todo: list[ItemRef] = []
    refused: list[Problem] = []
    for item, ref in current.items.items():
        e = last.get(item)
        if e is None:
            todo.append(ref)
        elif e.sha256 != content_hash(ref.content):
            if amend:
                todo.append(ref)
            else:
                refused.append(
                    _edited_problem(
                        ref,
                        e,
                        ". Registering it again would hide the edit: restore it, or register with "
                        "--amend to record the change (the first registration stays in the lock)",
                    )
                )
    if refused:
        raise RegistryError(
            sort_problems(refused), header="nothing registered: items changed since registration"
        )
    if not todo:
        return []
    append_items(root, [(ref.item, ref.content) for ref in todo])
    return [ref.item for ref in todo]


def append_items(root: str | Path, items: list[tuple[str, dict]]) -> None:
    """Append one chained line per (item id, content) to the lock, all stamped now, written whole (a
    reader never sees half a line). Refused when the clock reads earlier than the lock's last line: the
    new lines would be dated before it, which verify reports as back-dating."""
    if not items:
        return
    path = Path(root) / LOCK_NAME
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    lines = text.split("\n")[:-1] if text else []
    prev = _line_hash(lines[-1]) if lines else None
    entries, _ = _parse(path, lines)
    now = datetime.now(UTC)
    if entries and now < entries[-1].registered_at:
        raise UsageError(
            f"nothing written to {path}: this machine's clock ({utc_stamp(now, 'milliseconds')}) is behind "
            f"the lock's last line ({utc_stamp(entries[-1].registered_at, 'milliseconds')}); set the clock "
            "right and try again"
        )
    when, commit = utc_stamp(now, timespec="milliseconds"), git_commit()
    for item, content in items:
        line = json.dumps(
            {
                "item": item,
                "sha256": content_hash(content),
                "registered_at": when,
                "commit": commit,
                "prev": prev,
                "content": json.loads(canonical_json(content)),
            },
            ensure_ascii=False,
        )
        text += line + "\n"
        prev = _line_hash(line)
    write_bytes(path, text.encode("utf-8"))


def _item_file(root: Path, item: str) -> Path:
    kind, _, forecaster = parse_item_id(item)
    if kind == "forecast":
        return root / "forecasts" / f"{forecaster}.yaml"
    if kind == "resolution-manual":
        return root / MANUAL_NAME
    return root / "questions.yaml"


def verify(
    root: str | Path, analysis_dir: str | Path | None = None, anchor: str | None = None
) -> list[Problem]:
    """Every registered item edited or deleted since registration (naming the fields that changed), every
    break in the lock's chain, every line dated before the line above it, and what git's history of the
    lock contradicts (mazeprobe.registry.items.history); empty when all is intact. `anchor`: a head published
    earlier (lock_head); it must still be a line of the chain, else lines were removed or rewritten."""
    root = Path(root)
    path = root / LOCK_NAME
    if not path.exists():
        return [
            Problem(path, 1, 1, "no registry.lock: nothing here is registered, so nothing can be verified")
        ]
    entries, _ = read_lock(root)
    problems = lock_problems(root)
    if anchor is not None and anchor.strip().lower() not in line_hashes(root):
        problems.append(
            Problem(
                path,
                1,
                1,
                f"the published head {anchor.strip()} is not a line of this lock: lines were removed or "
                "rewritten since it was published",
            )
        )
    current = scan(root, analysis_dir)
    # a file that does not parse: say so, rather than calling each of its items deleted
    problems += [p for p in current.problems if p.file in current.unreadable]
    for item, e in latest(entries).items():
        ref = current.items.get(item)
        if ref is None:
            if parse_item_id(item)[0] in EVENT_KINDS:
                continue  # appended by resolve: in no file
            file = _item_file(root, item)
            if file not in current.unreadable:
                problems.append(
                    Problem(
                        path,
                        e.line,
                        1,
                        f"{item} (registered at {utc_stamp(e.registered_at)}, lock line {e.line}) is no "
                        f"longer in {file}",
                    )
                )
        elif e.sha256 != content_hash(ref.content):
            problems.append(_edited_problem(ref, e, ""))
    return sort_problems(problems)
