"""What git's history of registry.lock proves about the lock in the working tree.

A hash chain alone cannot tell a consistent rewrite of its last lines (or of the whole file) from the
original, nor a back-dated line appended today from one written in 2023. Every committed version of the
lock is a witness dated by its commit:

- each committed version must be a prefix of the current lock: anything else means lines were removed
  or rewritten after that commit (this catches a deleted last line once the full lock was committed);
- a line that a committed version did not have was written after that commit, so a `registered_at`
  earlier than the commit time of the first commit holding that version is back-dated.

Outside a git checkout, or for a lock git does not track, there is no history and nothing is reported.
Commit times are only as honest as the repository they come from: a published (pushed) history bounds
back-dating, a local one can be rewritten too; publishing the lock's head hash anchors it independently.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mazeprobe.provenance import utc_stamp
from mazeprobe.registry.items.model import Problem

GIT_TIMEOUT_S = 10


@dataclass(frozen=True)
class Version:
    commit: str
    committed: datetime
    """The commit time (git %ct, whole seconds, UTC)."""
    lines: list[str]


def _git(cwd: Path, *args: str) -> str | None:
    """git's stdout, or None when git is missing, fails or this is not a checkout."""
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, encoding="utf-8"
        )
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    return out.stdout if out.returncode == 0 else None


def committed_versions(path: Path) -> list[Version]:
    """Every version of the file `path` that git's history (of the checkout's HEAD) holds, oldest first;
    [] outside a git checkout or for an untracked file."""
    path = Path(path).resolve()
    cwd = path.parent
    if not cwd.is_dir():
        return []
    log = _git(cwd, "log", "--format=%H %ct", "--", path.name)
    if not log:
        return []
    out = []
    for row in reversed(log.split("\n")):
        commit, _, stamp = row.strip().partition(" ")
        if not commit or not stamp.isdigit():
            continue
        # `<commit>:./NAME` is relative to the working directory, wherever the repository's root is; a
        # commit that deleted the file has no such blob (git show fails): there is nothing to compare
        text = _git(cwd, "show", f"{commit}:./{path.name}")
        if text is None:
            continue
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        out.append(Version(commit, datetime.fromtimestamp(int(stamp), UTC), lines))
    return out


def history_problems(
    path: Path, lines: list[str], times: dict[int, datetime], versions: list[Version] | None = None
) -> list[Problem]:
    """What the committed versions of the lock at `path` say is wrong with its current `lines` (the file's
    text, split) whose well-formed lines were registered at `times` (1-based line -> registered_at)."""
    versions = committed_versions(path) if versions is None else versions
    problems: list[Problem] = []
    # bound[n]: the latest commit known not to hold line n yet (it held a shorter prefix)
    bound: dict[int, Version] = {}
    for v in versions:
        n = len(v.lines)
        if lines[:n] != v.lines:
            first = next((i for i, (a, b) in enumerate(zip(lines, v.lines, strict=False)) if a != b), None)
            where = (
                f"line {first + 1} differs"
                if first is not None
                else f"the current lock has {len(lines)} line(s), the commit {n}"
            )
            problems.append(
                Problem(
                    path,
                    (first + 1) if first is not None else max(len(lines), 1),
                    1,
                    f"{path.name} as committed in {v.commit[:12]} ({utc_stamp(v.committed)}) is not a prefix "
                    f"of the current lock ({where}): registered lines were removed or rewritten after that "
                    "commit",
                )
            )
            continue
        for line in range(n + 1, len(lines) + 1):
            if line not in bound or bound[line].committed < v.committed:
                bound[line] = v
    for line, v in sorted(bound.items()):
        when = times.get(line)
        # registered_at has milliseconds, %ct whole seconds: compare whole seconds
        if when is not None and int(when.timestamp()) < int(v.committed.timestamp()):
            problems.append(
                Problem(
                    path,
                    line,
                    1,
                    f"line {line} is dated {utc_stamp(when)}, before commit {v.commit[:12]} "
                    f"({utc_stamp(v.committed)}) whose lock did not have it yet: the line is back-dated",
                )
            )
    return problems
