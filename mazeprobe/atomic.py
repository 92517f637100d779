"""Atomic file writes: write to a temporary name beside the target, then rename over it.

A reader (or a resumed run) sees either the old file or the complete new one, never half a file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mazeprobe.errors import WriteFailed

FULL = {
    errno.ENOSPC: "no space left on device",
    errno.EFBIG: "file too large for this process's limit (ulimit -f)",
    errno.EDQUOT: "disk quota exceeded",
}
"""The errors that say the disk, not the data, stopped a write, and how a message says each."""


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on failure it is removed.

    A write stopped by a full disk or the file-size limit is WriteFailed: "cannot write PATH: why".
    `suffix` keeps an extension that a writer insists on (np.save appends `.npy` otherwise)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as exc:
        why = None if isinstance(exc, WriteFailed) else full_disk(exc, tmp)
        if why is None:
            raise
        raise WriteFailed(f"cannot write {path}: {why}") from None
    finally:
        tmp.unlink(missing_ok=True)


def full_disk(exc: BaseException, written: Path | None = None) -> str | None:
    """How to say that `exc` was a full disk or the file-size limit, or None when it was something else.

    Some writers report a short write without its errno (numpy's tofile: "N requested and M written";
    torch.save: a RuntimeError): then the file `written` reaching the size limit, or no free space left
    beside it, says so."""
    code = getattr(exc, "errno", None)
    if code in FULL:
        return FULL[code]
    if written is None or not isinstance(exc, (OSError, RuntimeError)):
        return None
    import resource  # Unix only, like the advisory locks; here, not at the top: only failures need it

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    try:
        if limit != resource.RLIM_INFINITY and written.stat().st_size >= limit:
            return FULL[errno.EFBIG]
        if os.statvfs(written.parent).f_bavail == 0:
            return FULL[errno.ENOSPC]
    except OSError:
        pass
    return None


def write_parquet(table, path: str | os.PathLike) -> None:
    """A pyarrow Table (or a DataFrame, without its index) to Parquet, atomically."""
    import pyarrow as pa  # here, not at the top: most users of this module write no Parquet
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
