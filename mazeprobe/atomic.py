"""Atomic file writes: write to a temporary name beside the target, then rename over it.

A reader (or a resumed run) sees either the old file or the complete new one, never half a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on failure it is removed.

    `suffix` keeps an extension that a writer insists on (np.save appends `.npy` otherwise)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
