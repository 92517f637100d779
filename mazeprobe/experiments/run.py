"""Running a batch experiment into a run directory, in chunks that can resume and scale out.

    data/runs/<name>/
      manifest.json          the spec, its hash, the resolved policy, versions, git commit, times, status
      mazes.parquet          the sampled mazes (the maze layer's schema)
      episodes.parquet       one row per episode (seed, rollout, got_cheese, ..., path)
      dsq_probs.parquet      per maze: p_cheese_at_dsq, p_top_right_at_dsq (when recorded)
      activations/<layer>/chunk-NNNNN.npy + activations/index.parquet (seed -> file, row)
      chunks/                per-chunk outputs and done-markers (the unit of resume)

Each chunk of mazes is computed from the run directory alone (so any process, local or a Dask worker,
can compute it), written file by file through temporary names, and marked done last. `resume` skips
the chunks marked done; a chunk computed twice (a retried Dask task) writes identical files.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mazeprobe.atomic import atomic_path, write_bytes, write_parquet
from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.experiments.rollout import Roller, maze_batch, start_states
from mazeprobe.experiments.spec import ExperimentSpec, RolloutSpec
from mazeprobe.maze.sampling import read_mazes, sample_mazes, write_mazes
from mazeprobe.provenance import file_sha256, git_commit, package_versions, utc_stamp

DEFAULT_RUNS_DIR = Path("data/runs")
NUM_ENVS = 64
_PACKAGES = ("mazeprobe", "procgen-mirror", "numpy", "torch", "pandas", "pyarrow", "numba", "dask")


class RunError(MazeprobeError):
    """A run directory that cannot be started or resumed as asked."""


# --- small file helpers ----------------------------------------------------------------------------


def _atomic_npy(array: np.ndarray, path: Path) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def read_manifest(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{run_dir} is not a run directory: no manifest.json") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON ({exc})") from None


def _write_manifest(run_dir: Path, manifest: dict) -> None:
    write_bytes(run_dir / "manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


# --- one chunk -------------------------------------------------------------------------------------


def chunk_count(run_dir: Path) -> int:
    manifest = read_manifest(run_dir)
    return math.ceil(manifest["n_mazes"] / manifest["spec"]["rollouts"]["chunk_mazes"])


def _done_marker(run_dir: Path, index: int) -> Path:
    return run_dir / "chunks" / f"done-{index:05d}.json"


@lru_cache(maxsize=1)
def _roller() -> Roller:
    return Roller(NUM_ENVS)


@lru_cache(maxsize=4)
def _run_context(run_dir: str, spec_hash: str):
    # per process: the maze table and the policy, reused across the chunks this process computes
    from mazeprobe.agents import make_policy
    from mazeprobe.agents.network import NetworkPolicy

    manifest = read_manifest(run_dir)
    table = read_mazes(Path(run_dir) / "mazes.parquet")
    pol = manifest["policy"]
    if pol.get("checkpoint"):
        policy = NetworkPolicy.from_checkpoint(pol["checkpoint"], device=pol.get("device", "cpu"))
    else:
        params = {k: v for k, v in pol.items() if k not in ("name",)}
        policy = make_policy(builtin=pol["name"], params=params)
    return manifest, table, policy


def run_chunk(run_dir: str | os.PathLike, index: int) -> dict:
    """Compute chunk `index` of a prepared run directory and mark it done; returns a small summary.

    Safe to call again for the same chunk (a retried or duplicated task): it writes the same files.
    """
    run_dir = Path(run_dir)
    marker = _done_marker(run_dir, index)
    if marker.exists():
        return json.loads(marker.read_text())
    manifest = read_manifest(run_dir)
    manifest, table, policy = _run_context(str(run_dir), manifest["spec_hash"])
    spec = manifest["spec"]
    size = spec["rollouts"]["chunk_mazes"]
    part = table.iloc[index * size : (index + 1) * size].reset_index(drop=True)
    if part.empty:
        raise RunError(f"{run_dir}: chunk {index} is beyond the {len(table)} mazes")
    roller = _roller()
    mazes = maze_batch(part)
    # procgen start states only for policies that look at the pixels (scripted agents play on the grid)
    states = start_states(part, roller.loader) if policy.reads_pixels else None
    settings = RolloutSpec(**spec["rollouts"])
    chunks = run_dir / "chunks"
    episodes = roller.episodes(policy, mazes, states, settings)
    write_parquet(_episodes_arrow(episodes), chunks / f"episodes-{index:05d}.parquet")

    record = spec["record"]
    acts = record.get("activations")
    if record["decision_square_probs"] or acts:
        layers = acts["layers"] if acts else []
        dsq, arrays = roller.decision_square_view(policy, mazes, states, layers)
        if record["decision_square_probs"]:
            write_parquet(
                pa.Table.from_pandas(dsq, preserve_index=False), chunks / f"dsq-{index:05d}.parquet"
            )
        for layer, array in arrays.items():
            folder = run_dir / "activations" / layer
            folder.mkdir(parents=True, exist_ok=True)
            _atomic_npy(array.astype(acts["dtype"]), folder / f"chunk-{index:05d}.npy")
        if acts:
            seeds = part.loc[part["has_decision_square"].fillna(False).to_numpy(bool), "seed"]
            idx = pd.DataFrame(
                {"seed": seeds.to_numpy(np.int64), "chunk": index, "row": np.arange(len(seeds))}
            )
            write_parquet(
                pa.Table.from_pandas(idx, preserve_index=False), chunks / f"act-index-{index:05d}.parquet"
            )
    summary = {"chunk": index, "mazes": len(part), "episodes": len(episodes)}
    write_bytes(marker, json.dumps(summary).encode())
    return summary


def _episodes_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.table(
        {
            "seed": pa.array(frame["seed"], pa.int64()),
            "rollout": pa.array(frame["rollout"], pa.int64()),
            "got_cheese": pa.array(frame["got_cheese"], pa.bool_()),
            "reached_top_right_square": pa.array(frame["reached_top_right_square"], pa.bool_()),
            "entered_top_right_5x5": pa.array(frame["entered_top_right_5x5"], pa.bool_()),
            "steps": pa.array(frame["steps"], pa.int64()),
            "timed_out": pa.array(frame["timed_out"], pa.bool_()),
            "return": pa.array(frame["return"], pa.float64()),
            "path": pa.array([list(p) for p in frame["path"]], pa.list_(pa.int16())),
        }
    )


# --- the whole run ---------------------------------------------------------------------------------


def prepare_run(
    spec: ExperimentSpec,
    out_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
    resume: bool = False,
    device: str | None = None,
) -> Path:
    """Create (or, with resume, check) the run directory: manifest, mazes, resolved policy."""
    # absolute, so that worker processes started elsewhere (Dask) find the same directory
    run_dir = Path(out_dir).resolve() / spec.name
    manifest_path = run_dir / "manifest.json"
    if manifest_path.exists():
        manifest = read_manifest(run_dir)
        if not resume:
            status = manifest.get("status")
            raise RunError(
                f"{run_dir} already holds a run ({status}); pass --resume to finish it, or choose "
                "another name or --out"
            )
        if manifest["spec_hash"] != spec.hash:
            raise RunError(
                f"{run_dir} was started from a different spec (hash {manifest['spec_hash'][:12]}, "
                f"this one {spec.hash[:12]}); resume needs the same spec"
            )
        _check_same_checkpoint(run_dir, manifest["policy"])
        return run_dir
    if resume and run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"{run_dir} has no manifest.json: nothing to resume")
    (run_dir / "chunks").mkdir(parents=True, exist_ok=True)
    table = sample_mazes(spec.mazes)
    write_mazes(table, run_dir / "mazes.parquet", spec.mazes)
    policy = _resolve_policy(spec, table, device)
    manifest = {
        "name": spec.name,
        "spec": spec.to_dict(),
        "spec_hash": spec.hash,
        "spec_file": spec.source,
        "policy": policy,
        "n_mazes": len(table),
        "versions": package_versions(_PACKAGES),
        "git_commit": git_commit(),
        "started_at": utc_stamp(),
        "ended_at": None,
        "status": "running",
    }
    _write_manifest(run_dir, manifest)
    return run_dir


def _resolve_policy(spec: ExperimentSpec, table: pd.DataFrame, device: str | None) -> dict:
    """The policy settings workers rebuild it from, with derived values (z-scoring) filled in."""
    if spec.policy.checkpoint:
        path = Path(spec.policy.checkpoint)
        if not path.is_file():
            raise RunError(f"policy.checkpoint: no such file {path}")
        from mazeprobe.agents.impala import load_checkpoint

        load_checkpoint(path, device="cpu")  # fail now, with the checkpoint's own message
        return {
            "name": "checkpoint",
            "checkpoint": str(path.resolve()),
            "sha256": file_sha256(path),
            "device": device or spec.policy.device,
        }
    from mazeprobe.agents import make_policy

    return make_policy(builtin=spec.policy.builtin, params=spec.policy.params, table=table).describe()


def _check_same_checkpoint(run_dir: Path, policy: dict) -> None:
    """A retrained checkpoint at the same path must not continue a run started with the old one: the
    run would mix two networks' episodes."""
    if policy.get("name") != "checkpoint" or "sha256" not in policy:
        return
    path = Path(policy["checkpoint"])
    now = file_sha256(path) if path.is_file() else "missing"
    if now != policy["sha256"]:
        raise RunError(
            f"{run_dir}: policy.checkpoint {path} changed since this run started (sha256 "
            f"{policy['sha256'][:12]}, now {now[:12]}); resuming would mix two networks' episodes: "
            "remove the run directory or choose another name or --out"
        )


def completed_episodes(run_dir: Path) -> int:
    """Episodes in the chunks already marked done."""
    return sum(
        json.loads(_done_marker(run_dir, i).read_text())["episodes"]
        for i in range(chunk_count(run_dir))
        if _done_marker(run_dir, i).exists()
    )


def pending_chunks(run_dir: Path) -> list[int]:
    return [i for i in range(chunk_count(run_dir)) if not _done_marker(run_dir, i).exists()]


def execute(
    run_dir: Path,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[dict], None] | None = None,
) -> None:
    """Compute every chunk not yet done: in this process, in `workers` local processes, or on a Dask
    cluster at `scheduler` (tcp://HOST:PORT)."""
    run_dir = Path(run_dir).resolve()
    todo = pending_chunks(run_dir)
    if not todo:
        return
    if scheduler:
        from distributed import Client
        from distributed import as_completed as dask_completed

        with Client(scheduler, timeout="20s") as client:
            futures = [client.submit(run_chunk, str(run_dir), i, pure=False, retries=3) for i in todo]
            for fut in dask_completed(futures):
                summary = fut.result()
                if progress:
                    progress(summary)
    elif workers <= 1:
        for i in todo:
            summary = run_chunk(run_dir, i)
            if progress:
                progress(summary)
    else:
        with ProcessPoolExecutor(
            workers, mp_context=mp.get_context("spawn"), initializer=_quiet_threads
        ) as pool:
            futures = [pool.submit(run_chunk, str(run_dir), i) for i in todo]
            for fut in as_completed(futures):
                summary = fut.result()
                if progress:
                    progress(summary)


def _quiet_threads() -> None:
    # processes are the parallelism: one thread each for torch and numba
    import numba
    import torch

    torch.set_num_threads(1)
    numba.set_num_threads(1)


def finalize(run_dir: Path) -> None:
    """Gather the chunk files into the run's tables and mark the manifest complete."""
    if pending_chunks(run_dir):
        raise RunError(f"{run_dir}: chunks {pending_chunks(run_dir)} are not done; run again with --resume")
    chunks = run_dir / "chunks"
    n = chunk_count(run_dir)
    for stem, target in (
        ("episodes", "episodes.parquet"),
        ("dsq", "dsq_probs.parquet"),
        ("act-index", "activations/index.parquet"),
    ):
        files = [chunks / f"{stem}-{i:05d}.parquet" for i in range(n)]
        if all(f.exists() for f in files):
            (run_dir / target).parent.mkdir(parents=True, exist_ok=True)
            write_parquet(pa.concat_tables([pq.read_table(f) for f in files]), run_dir / target)
    manifest = read_manifest(run_dir)
    manifest["ended_at"] = utc_stamp()
    manifest["status"] = "complete"
    _write_manifest(run_dir, manifest)


def run_experiment(
    spec: ExperimentSpec,
    out_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: Callable[[dict], None] | None = None,
) -> Path:
    """Prepare, execute and finalize a run; returns the run directory."""
    if workers < 1:
        raise UsageError(f"workers must be >= 1; got {workers}")
    run_dir = prepare_run(spec, out_dir, resume=resume, device=device)
    execute(run_dir, workers=workers, scheduler=scheduler, progress=progress)
    finalize(run_dir)
    return run_dir


def load_run(run_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per episode, joined with its maze's features (and decision-square probabilities)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest.get("status") != "complete":
        raise RunError(
            f"{run_dir}: the run is not complete ({manifest.get('status')}); finish it with --resume"
        )
    mazes = read_mazes(run_dir / "mazes.parquet").drop(columns=["grid"])
    episodes = pq.read_table(run_dir / "episodes.parquet").to_pandas()
    frame = episodes.merge(mazes, on="seed", how="left", validate="many_to_one")
    dsq = run_dir / "dsq_probs.parquet"
    if dsq.exists():
        frame = frame.merge(pq.read_table(dsq).to_pandas(), on="seed", how="left", validate="many_to_one")
    return frame
