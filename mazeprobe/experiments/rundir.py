"""A run directory: the one owner of its file names, its manifest and how its tables are read.

    data/runs/<name>/
      manifest.json          the spec, its hash, the resolved policy, versions, git commit, times, status,
                             and the device of each invocation
      mazes.parquet          the sampled mazes (the maze layer's schema)
      episodes.parquet       one row per episode (mazeprobe.sim.EPISODE_COLUMNS)
      dsq_probs.parquet      per maze: p_cheese_at_dsq, p_top_right_at_dsq (when recorded)
      activations/<layer>/chunk-NNNNN.npy + activations/index.parquet (seed -> chunk, row)
      chunks/                per-chunk outputs and done markers (the unit of resume)
      analyses/<plan>/       what `mazeprobe fit` wrote for an analysis plan
      probes/<layer>.parquet what `mazeprobe probe` wrote
      interventions.parquet  per (maze, intervention): the measures of each edit (with interventions)
      retargeting.parquet    per (maze, intervention, target): path probability, reached, steps,
                             eligible squares; `none` and the real-cheese `ceiling` as rows too
      channels/<layer>.parquet  the layer's cheese-channel ranking (when an edit names it)

Everything else (the CLI, the statistics layer, the registry) reads a run through `RunDir`. `mazeprobe
resolve` writes nothing here: its fits, probe plan results, pictures and resolutions.yaml go into a folder of
its own (mazeprobe.registry.resolution.resolved), which reads the names an earlier resolve left in a run
(resolutions.yaml, pictures/, analyses/<plan>/, probes/<plan>.json) as its own.
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import MazeprobeError
from mazeprobe.experiments.manifest import Manifest, ManifestError, ResolvedPolicy
from mazeprobe.maze.sampling import arrow_to_frame, read_mazes
from mazeprobe.provenance import parse_utc, sha256_if_present, utc_stamp


def checkpoint_change(policy: ResolvedPolicy) -> tuple[Path, str] | None:
    """(path, its sha256 now or "missing") when a run's checkpoint policy (the manifest's `policy`) no
    longer matches the file it recorded; None when it does, or when the policy records no checkpoint."""
    if not policy.is_checkpoint or policy.sha256 is None:
        return None
    path = Path(policy.checkpoint)
    now = sha256_if_present(path) or "missing"
    return None if now == policy.sha256 else (path, now)


class RunError(MazeprobeError):
    """A run directory that cannot be started, resumed or read as asked."""


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str, where: str) -> Any:
    """JSON as the standard defines it: NaN and Infinity (which Python's json accepts) are refused."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise RunError(f"{where}: not valid JSON ({exc})") from None


def dump_json(value: Any) -> bytes:
    """Strict, stable JSON (sorted keys, no NaN)."""
    return (json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


class RunDir:
    """The files of one run directory. Reading never writes; writing goes through temporary files."""

    MANIFEST = "manifest.json"
    MAZES = "mazes.parquet"
    EPISODES = "episodes.parquet"
    DSQ = "dsq_probs.parquet"
    INTERVENTIONS = "interventions.parquet"
    RETARGETING = "retargeting.parquet"
    PROBES = "probes"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def _repr_html_(self) -> str:
        """What a notebook shows: name, network and sha256, mazes, episodes and chunks done, outcome rates,
        interventions (mazeprobe.experiments.rundisplay)."""
        from mazeprobe.experiments.rundisplay import run_html

        return run_html(self)

    # --- names ----------------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def mazes_path(self) -> Path:
        return self.path / self.MAZES

    @property
    def episodes_path(self) -> Path:
        return self.path / self.EPISODES

    @property
    def dsq_path(self) -> Path:
        return self.path / self.DSQ

    @property
    def chunks_dir(self) -> Path:
        return self.path / "chunks"

    @property
    def activations_dir(self) -> Path:
        return self.path / "activations"

    @property
    def activation_index_path(self) -> Path:
        return self.activations_dir / "index.parquet"

    @property
    def interventions_path(self) -> Path:
        return self.path / self.INTERVENTIONS

    @property
    def retargeting_path(self) -> Path:
        return self.path / self.RETARGETING

    def channels_path(self, layer: str) -> Path:
        return self.path / "channels" / f"{layer}.parquet"

    def activation_file(self, layer: str, chunk: int) -> Path:
        return self.activations_dir / layer / f"chunk-{chunk:05d}.npy"

    def chunk_file(self, stem: str, chunk: int, suffix: str = ".parquet") -> Path:
        """A chunk's part of a run table, e.g. chunks/episodes-00003.parquet."""
        return self.chunks_dir / f"{stem}-{chunk:05d}{suffix}"

    def done_marker(self, chunk: int) -> Path:
        return self.chunks_dir / f"done-{chunk:05d}.json"

    def analysis_dir(self, plan: str) -> Path:
        """Where the fit of analysis plan `plan` on this run is written (and reused from)."""
        return self.path / "analyses" / plan

    @property
    def probes_dir(self) -> Path:
        return self.path / self.PROBES

    def probe_path(self, layer: str) -> Path:
        """What `mazeprobe probe` writes for a layer (mazeprobe.stats.probes.result.PROBE_TABLE)."""
        return self.probes_dir / f"{layer}.parquet"

    # --- the manifest ---------------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        """The advisory lock of the run, beside its directory (so it can be taken before the directory
        exists, and never counts as a file of the run)."""
        return self.path.parent / f".{self.path.name}.lock"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's advisory lock: one process at a time works on a run directory. Refused, naming
        the holder, when another process holds it; released when the block ends or the process dies."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise RunError(
                    f"{self.path} is in use by {holder}; wait for it to finish (or stop it), then run again "
                    "with --resume"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()} on {socket.gethostname()} since {utc_stamp()}\n")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def manifest_json(self) -> dict:
        """The manifest as its JSON object (strict JSON, a mapping with the keys every manifest has);
        RunError if this is not a run directory. Readers use `manifest()`, the typed record."""
        path = self.manifest_path
        if path.is_dir():
            raise RunError(f"{path} is a directory, not a run manifest")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RunError(f"{self.path} is not a run directory: no {self.MANIFEST}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RunError(f"{path}: cannot read ({exc})") from None
        doc = strict_json(text, str(path))
        if not isinstance(doc, dict):
            raise RunError(f"{path}: a run manifest is a JSON object; found a {type(doc).__name__}")
        return doc

    def manifest(self) -> Manifest:
        """The manifest, typed (mazeprobe.experiments.manifest); RunError if this is not a run directory
        or a field does not have the type a run writes."""
        try:
            return Manifest.from_dict(self.manifest_json(), str(self.manifest_path))
        except ManifestError as exc:
            raise RunError(str(exc)) from None

    def write_manifest(self, manifest: Manifest) -> None:
        write_bytes(self.manifest_path, dump_json(manifest.to_dict()))

    def started_at(self) -> datetime:
        return parse_utc(self.manifest().started_at, f"{self.manifest_path} started_at")

    def spec_hash(self) -> str:
        return self.manifest().spec_hash

    def chunk_count(self) -> int:
        manifest = self.manifest()
        return math.ceil(manifest.n_mazes / manifest.chunk_mazes)

    def require_complete(self) -> Manifest:
        manifest = self.manifest()
        if not manifest.complete:
            raise RunError(
                f"{self.path}: the run is not complete ({manifest.status}); finish it with "
                "`mazeprobe run SPEC --resume`"
            )
        return manifest

    # --- tables ---------------------------------------------------------------------------------

    def _table(self, path: Path, what: str) -> pa.Table:
        if not path.is_file():
            raise RunError(f"{self.path} has no {path.name} ({what}); is the run complete?")
        try:
            return pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise RunError(f"{path}: not a readable Parquet table ({exc})") from None

    def mazes(self) -> pd.DataFrame:
        """The maze table (grid as int8 arrays)."""
        if not self.mazes_path.is_file():
            raise RunError(f"{self.path} has no {self.MAZES}")
        try:
            return read_mazes(self.mazes_path)
        except (pa.ArrowException, OSError) as exc:
            raise RunError(f"{self.mazes_path}: not a readable maze table ({exc})") from None

    def episodes(self) -> pd.DataFrame:
        return self._table(self.episodes_path, "the episodes").to_pandas()

    def dsq_probs(self) -> pd.DataFrame | None:
        """Per-maze decision-square probabilities, or None when the run did not record them."""
        return arrow_to_frame(self._table(self.dsq_path, "")) if self.dsq_path.is_file() else None

    def interventions(self) -> pd.DataFrame:
        """One row per (maze, intervention) of a complete run (mazeprobe.experiments.interventions)."""
        self.require_complete()
        return self._table(self.interventions_path, "the run lists no interventions").to_pandas()

    def retargeting(self) -> pd.DataFrame:
        """One row per (maze, intervention, target) of a complete run with a retargeting section."""
        self.require_complete()
        return self._table(self.retargeting_path, "the run has no retargeting section").to_pandas()

    def load(self) -> pd.DataFrame:
        """One row per episode of a complete run, joined with its maze's features (and decision-square
        probabilities when recorded)."""
        self.require_complete()
        mazes = self.mazes().drop(columns=["grid"])
        frame = self.episodes().merge(mazes, on="seed", how="left", validate="many_to_one")
        dsq = self.dsq_probs()
        if dsq is not None:
            frame = frame.merge(dsq, on="seed", how="left", validate="many_to_one")
        return frame

    def identity(self) -> dict:
        """What a fit on this run records about its input: path, run name and spec hash."""
        manifest = self.manifest()
        return {
            "kind": "run",
            "path": str(self.path.resolve()),
            "run": manifest.name,
            "spec_hash": manifest.spec_hash,
        }

    def scale(self) -> int | None:
        """The IMPALA scale of the run's network, when its manifest records one."""
        return self.manifest().policy.scale
