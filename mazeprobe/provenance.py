"""What produced a result: package versions and the git commit, recorded in manifests and fits."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from mazeprobe.errors import UsageError


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Python's version and each named distribution's (None when it is not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> str | None:
    """The commit of the mazeprobe checkout in use, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_if_present(path: str | os.PathLike) -> str | None:
    """The file's sha256, or None when there is no such file (recorded as absent, not as an error)."""
    return file_sha256(path) if Path(path).is_file() else None


def utc_stamp(t: datetime | None = None, timespec: str = "seconds") -> str:
    """`t` (default: now) in UTC as ISO 8601 ending in Z, as manifests, locks and resolutions record it."""
    t = datetime.now(UTC) if t is None else t.astimezone(UTC)
    return t.isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_utc(text: object, what: str = "time") -> datetime:
    """An ISO 8601 time (a trailing Z allowed; no zone means UTC) as an aware UTC datetime; UsageError
    naming `what` when it is not one."""
    try:
        t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what}: not an ISO 8601 time: {text!r}") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
