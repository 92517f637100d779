"""Recorded activations in a run directory: written chunk by chunk while the run plays, read back whole.

activations/<layer>/chunk-NNNNN.npy   (entries, ...) in the recorded dtype, one per maze of the
                                      chunk that has a decision square, in table order
activations/index.parquet             seed -> (chunk, row), gathered from chunks/act-index-*.parquet
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mazeprobe.atomic import atomic_path, write_parquet
from mazeprobe.errors import MazeprobeError
from mazeprobe.experiments.rundir import RunDir


class ActivationDataError(MazeprobeError, ValueError):
    """Activation files of a run directory that are missing or do not fit together."""


def write_chunk(
    run: RunDir, chunk: int, arrays: dict[str, np.ndarray], seeds: np.ndarray, dtype: str
) -> list[Path]:
    """Write one chunk's activations (one array per layer, entries aligned with `seeds`) and its index
    part; returns the files written."""
    written = []
    for layer, array in arrays.items():
        path = run.activation_file(layer, chunk)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, array.astype(dtype))
        written.append(path)
    index = pd.DataFrame({"seed": np.asarray(seeds, np.int64), "chunk": chunk, "row": np.arange(len(seeds))})
    path = run.chunk_file("act-index", chunk)
    write_parquet(pa.Table.from_pandas(index, preserve_index=False), path)
    return [*written, path]


def recorded_layers(run_dir: str | os.PathLike[str] | RunDir) -> list[str]:
    """The layers whose activations a run recorded."""
    folder = RunDir(run_dir).activations_dir
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def load_activations(run_dir: str | os.PathLike[str] | RunDir, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """The decision-square activations of `layer` in a finished run: X (N, ...) in the stored dtype and
    the level seed of each entry (N,), in the order of activations/index.parquet."""
    run = RunDir(run_dir)
    if not run.activations_dir.is_dir():
        raise ActivationDataError(
            f"{run.path}: no activations/ folder; record them with `record: activations: {{layers: [...]}}`"
        )
    layers = recorded_layers(run)
    if layer not in layers:
        raise ActivationDataError(
            f"{run.path}: layer {layer!r} was not recorded; recorded layers: {', '.join(layers) or 'none'}"
        )
    index_path = run.activation_index_path
    if not index_path.is_file():
        raise ActivationDataError(
            f"{run.path}: no activations/index.parquet; the run is not finished (run it again with --resume)"
        )
    try:
        index = pq.read_table(index_path).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise ActivationDataError(f"{index_path}: not a readable Parquet table ({exc})") from None
    missing_cols = {"seed", "chunk", "row"} - set(index.columns)
    if missing_cols:
        raise ActivationDataError(f"{index_path}: missing column(s) {', '.join(sorted(missing_cols))}")
    seeds = index["seed"].to_numpy(np.int64)
    if len(np.unique(seeds)) != len(seeds):
        raise ActivationDataError(f"{index_path}: a level seed appears more than once")
    chunks = index["chunk"].to_numpy(np.int64)
    rows = index["row"].to_numpy(np.int64)

    out: np.ndarray | None = None
    for chunk in np.unique(chunks):
        path = run.activation_file(layer, int(chunk))
        if not path.is_file():
            raise ActivationDataError(f"{path}: missing, but activations/index.parquet refers to it")
        try:
            array = np.load(path, mmap_mode="r")  # read only the rows the index asks for
        except (OSError, ValueError) as exc:
            raise ActivationDataError(f"{path}: not a readable .npy file ({exc})") from None
        where = np.flatnonzero(chunks == chunk)
        if len(array) != len(where) or rows[where].max() >= len(array):
            raise ActivationDataError(
                f"{path}: holds {len(array)} entries but the index lists {len(where)} (rows up to "
                f"{rows[where].max()}); the files are from different runs"
            )
        if out is None:
            out = np.empty((len(seeds), *array.shape[1:]), dtype=array.dtype)
        elif array.shape[1:] != out.shape[1:]:
            raise ActivationDataError(f"{path}: entries of shape {array.shape[1:]}, others {out.shape[1:]}")
        out[where] = array[rows[where]]
    if out is None:
        raise ActivationDataError(f"{index_path}: no entries (no maze had a decision square)")
    return out, seeds
