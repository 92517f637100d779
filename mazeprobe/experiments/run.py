"""Running a batch experiment into a run directory (mazeprobe.experiments.rundir), in chunks that can
resume and scale out.

Each chunk of mazes is computed from the run directory alone (so any process, local or a Dask worker,
can compute it), written file by file through temporary names, and marked done last; the done marker
records each file's size and sha256. `resume` skips the chunks whose marker and files agree and
recomputes the others; a chunk computed twice (a retried Dask task) writes identical files.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mazeprobe.atomic import write_bytes, write_parquet
from mazeprobe.devices import resolve_device
from mazeprobe.errors import UsageError
from mazeprobe.experiments.activations import write_chunk as write_activation_chunk
from mazeprobe.experiments.intervention_spec import check_fit
from mazeprobe.experiments.interventions import measure as measure_interventions
from mazeprobe.experiments.manifest import Manifest, ResolvedPolicy
from mazeprobe.experiments.rundir import RunDir, RunError, checkpoint_change, strict_json
from mazeprobe.experiments.spec import ExperimentSpec
from mazeprobe.experiments.tables import INTERVENTIONS, RETARGETING
from mazeprobe.maze.sampling import sample_mazes, write_mazes
from mazeprobe.provenance import file_sha256, git_commit, package_versions, utc_stamp
from mazeprobe.sim import Roller, episodes_table, maze_batch, start_states
from mazeprobe.sim.episodes import DSQ, EPISODES

DEFAULT_RUNS_DIR = Path("data/runs")
NUM_ENVS = 64
_PACKAGES = ("mazeprobe", "procgen-mirror", "numpy", "torch", "pandas", "pyarrow", "numba", "dask")

__all__ = [
    "DEFAULT_RUNS_DIR",
    "RunError",
    "chunk_count",
    "completed_episodes",
    "execute",
    "finalize",
    "load_run",
    "pending_chunks",
    "prepare_run",
    "read_manifest",
    "run_chunk",
    "run_experiment",
]


def read_manifest(run_dir: str | os.PathLike) -> dict:
    """The run's manifest as its JSON object (RunDir.manifest_json; RunDir.manifest is the typed one)."""
    return RunDir(run_dir).manifest_json()


def load_run(run_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per episode, joined with its maze's features (and decision-square probabilities)."""
    return RunDir(run_dir).load()


# --- one chunk -------------------------------------------------------------------------------------


def chunk_count(run_dir: str | os.PathLike) -> int:
    return RunDir(run_dir).chunk_count()


def _file_record(path: Path) -> dict:
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def chunk_done(run: RunDir, index: int) -> dict | None:
    """The chunk's done marker when it and every file it lists are intact, else None (recompute it)."""
    marker = run.done_marker(index)
    try:
        summary = strict_json(marker.read_text(), str(marker))
    except (OSError, RunError):
        return None
    files = summary.get("files") if isinstance(summary, dict) else None
    if not isinstance(files, dict):
        return None  # a marker from before files were recorded: recompute rather than trust it
    for rel, want in files.items():
        path = run.path / rel
        if not path.is_file() or path.stat().st_size != want.get("size"):
            return None
        if file_sha256(path) != want.get("sha256"):
            return None
    return summary


@lru_cache(maxsize=1)
def _roller() -> Roller:
    return Roller(NUM_ENVS)


@lru_cache(maxsize=4)
def _run_context(run_dir: str, spec_hash: str, device: str):
    # per process: the maze table and the policy, reused across the chunks this process computes
    from mazeprobe.agents import make_policy

    run = RunDir(run_dir)
    manifest = run.manifest()
    table = run.mazes()
    pol = manifest.policy
    if pol.checkpoint:
        policy = make_policy(checkpoint=pol.checkpoint, device=device)
    else:
        policy = make_policy(builtin=pol.name, params=dict(pol.params))
    return manifest, table, policy


def run_device(manifest: Manifest) -> str:
    """The device this invocation computes on (older manifests kept it in the policy record)."""
    return manifest.run_device


def run_chunk(run_dir: str | os.PathLike, index: int) -> dict:
    """Compute chunk `index` of a prepared run directory and mark it done; returns a small summary.

    Safe to call again for the same chunk (a retried or duplicated task): it writes the same files.
    """
    run = RunDir(run_dir)
    done = chunk_done(run, index)
    if done is not None:
        return done
    manifest = run.manifest()
    manifest, table, policy = _run_context(str(run.path), manifest.spec_hash, manifest.run_device)
    spec = manifest.experiment
    size = spec.rollouts.chunk_mazes
    part = table.iloc[index * size : (index + 1) * size].reset_index(drop=True)
    if part.empty:
        raise RunError(f"{run.path}: chunk {index} is beyond the {len(table)} mazes")
    roller = _roller()
    mazes = maze_batch(part)
    # procgen start states only for policies that look at the pixels (scripted agents play on the grid)
    states = start_states(part, roller.loader) if policy.reads_pixels else None
    settings = spec.rollouts
    written: list[Path] = []
    episodes = roller.episodes(policy, mazes, states, settings)
    path = run.chunk_file("episodes", index)
    write_parquet(EPISODES.check(episodes_table(episodes), str(path)), path)
    written.append(path)

    record = spec.record
    acts = record.activations
    if record.decision_square_probs or acts:
        layers = list(acts.layers) if acts else []
        dsq, arrays = roller.decision_square_view(policy, mazes, states, layers)
        if record.decision_square_probs:
            path = run.chunk_file("dsq", index)
            write_parquet(DSQ.check(pa.Table.from_pandas(dsq, preserve_index=False), str(path)), path)
            written.append(path)
        if acts:
            seeds = part.loc[part["has_decision_square"].fillna(False).to_numpy(bool), "seed"]
            written += write_activation_chunk(run, index, arrays, seeds.to_numpy(np.int64), acts.dtype)
    if spec.interventions:
        written += _measure_interventions(run, index, manifest, policy, mazes, states, episodes, settings)
    summary = {
        "chunk": index,
        "mazes": len(part),
        "episodes": len(episodes),
        "files": {str(p.relative_to(run.path)): _file_record(p) for p in written},
    }
    write_bytes(run.done_marker(index), json.dumps(summary, sort_keys=True).encode())
    return summary


def _measure_interventions(
    run: RunDir, index, manifest, policy, mazes, states, episodes, settings
) -> list[Path]:
    """The chunk's interventions (and retargeting) tables: every edit beside the unedited network."""
    spec = manifest.experiment
    table, targets = measure_interventions(
        policy,
        mazes,
        states,
        episodes,
        settings,
        spec.interventions,
        _roller(),
        rankings=manifest.rankings or {},
        retargeting=spec.retargeting,
        vfield=spec.record.vfield_tv,
    )
    # checked against their schemas: a measure added to a writer and not to its schema fails here
    written = [run.chunk_file("interventions", index)]
    table = INTERVENTIONS.check(pa.Table.from_pandas(table, preserve_index=False), str(written[0]))
    write_parquet(table, written[0])
    if targets is not None:
        written.append(run.chunk_file("retargeting", index))
        targets = RETARGETING.check(pa.Table.from_pandas(targets, preserve_index=False), str(written[1]))
        write_parquet(targets, written[1])
    return written


def _rankings(spec: ExperimentSpec, model) -> dict:
    """layer -> its ranking record (channels in ranked order, with each one's sign and cheese response:
    channels.ranking_record) for every layer an edit ranks, and the full ranking tables to keep in the
    run directory (channels/<layer>.parquet, whose cheese_response column records what a clamp
    `times_cheese_response` multiplied)."""
    from mazeprobe.agents.channels import rank_channels, ranking_record

    layers = sorted({layer for i in spec.interventions for layer in i.ranked_layers()})
    tables = {
        layer: rank_channels(model, layer, n=spec.channel_ranking.n, seed=spec.channel_ranking.seed)
        for layer in layers
    }
    return {layer: ranking_record(t) for layer, t in tables.items()}, tables


def _check_edits(spec: ExperimentSpec, model=None, table: pd.DataFrame | None = None) -> None:
    """Edits that do not fit this network or the run's mazes (tensor shapes, channels, squares), refused
    before anything is written (intervention_spec.check_fit)."""
    if not spec.interventions:
        return
    if model is None:
        from mazeprobe.agents.impala import load_checkpoint

        model = load_checkpoint(spec.policy.checkpoint)
    mazes = table if table is not None else sample_mazes(spec.mazes)
    check_fit(spec.interventions, model.activation_shapes(), mazes)


# --- the whole run ---------------------------------------------------------------------------------


def prepare_run(
    spec: ExperimentSpec,
    out_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
    resume: bool = False,
    device: str | None = None,
) -> Path:
    """Create (or, with resume, check) the run directory: manifest, mazes, resolved policy.

    `device` (mazeprobe.devices: auto, cpu, cuda or cuda:N; default the spec's) says where this
    invocation computes; it is not part of the spec's identity, so a run may be resumed on another
    device, and each invocation's device is recorded in the manifest as resolved (cuda:1 stays cuda:1,
    so that the workers compute on that GPU)."""
    # absolute, so that worker processes started elsewhere (Dask) find the same directory
    run = RunDir(Path(out_dir).resolve() / spec.name)
    device = resolve_device(device or spec.policy.device)
    if run.manifest_path.exists():
        manifest = run.manifest()
        if not resume:
            raise RunError(
                f"{run.path} already holds a run ({manifest.status}); pass --resume to finish it, or "
                "choose another name or --out"
            )
        if manifest.spec_hash != spec.hash:
            raise RunError(
                f"{run.path} was started from a different spec (hash {manifest.spec_hash[:12]}, "
                f"this one {spec.hash[:12]}); resume needs the same spec"
            )
        _check_same_checkpoint(run, manifest.policy)
        run.write_manifest(manifest.invoked(device, utc_stamp()))
        return run.path
    leftover = _leftover(run)
    if leftover:
        raise RunError(
            f"{run.path} holds run files ({', '.join(leftover[:3])}{', ...' if len(leftover) > 3 else ''}) "
            "but no manifest.json, so nothing says which spec made them: remove the directory to start "
            "over, or choose another name or --out"
        )
    table = sample_mazes(spec.mazes)
    policy = _resolve_policy(spec, table)
    rankings, ranking_tables = {}, {}
    if spec.interventions:
        from mazeprobe.agents.impala import load_checkpoint

        model = load_checkpoint(spec.policy.checkpoint)
        _check_edits(spec, model, table)
        rankings, ranking_tables = _rankings(spec, model)
    run.chunks_dir.mkdir(parents=True, exist_ok=True)
    write_mazes(table, run.mazes_path, spec.mazes)
    manifest = Manifest(
        name=spec.name,
        spec=spec.to_dict(),
        spec_hash=spec.hash,
        spec_file=spec.source,
        policy=policy,
        n_mazes=len(table),
        versions=package_versions(_PACKAGES),
        git_commit=git_commit(),
        started_at=utc_stamp(),
        ended_at=None,
        status="running",
        rankings=rankings if spec.interventions else None,
    )
    run.write_manifest(manifest.invoked(device, utc_stamp()))
    for layer, ranking in ranking_tables.items():
        from mazeprobe.agents.channels import RANKING

        path = run.channels_path(layer)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(RANKING.check(pa.Table.from_pandas(ranking, preserve_index=False), str(path)), path)
    return run.path


def _leftover(run: RunDir) -> list[str]:
    """Files of a directory without a manifest that a start would have to trust: anything but the maze
    table and empty folders that an interrupted start leaves before its manifest."""
    if not run.path.exists():
        return []
    return sorted(
        str(p.relative_to(run.path))
        for p in run.path.rglob("*")
        if p.is_file() and p != run.mazes_path and not p.name.startswith(f".{run.MAZES}.tmp")
    )


def _resolve_policy(spec: ExperimentSpec, table) -> ResolvedPolicy:
    """The policy settings workers rebuild it from, with derived values (z-scoring, the network's
    scale) filled in."""
    if spec.policy.checkpoint:
        path = Path(spec.policy.checkpoint)
        if not path.is_file():
            raise RunError(f"policy.checkpoint: no such file {path}")
        from mazeprobe.agents.impala import load_checkpoint

        model = load_checkpoint(path, device="cpu")  # fail now, with the checkpoint's own message
        return ResolvedPolicy(
            name="checkpoint", checkpoint=str(path.resolve()), sha256=file_sha256(path), scale=model.scale
        )
    from mazeprobe.agents import make_policy

    described = make_policy(builtin=spec.policy.builtin, params=spec.policy.params, table=table).describe()
    return ResolvedPolicy.from_dict(described)


def _check_same_checkpoint(run: RunDir, policy: ResolvedPolicy) -> None:
    """A retrained checkpoint at the same path must not continue a run started with the old one: the
    run would mix two networks' episodes."""
    changed = checkpoint_change(policy)
    if changed is not None:
        path, now = changed
        raise RunError(
            f"{run.path}: policy.checkpoint {path} changed since this run started (sha256 "
            f"{policy.sha256[:12]}, now {now[:12]}); resuming would mix two networks' episodes: "
            "remove the run directory or choose another name or --out"
        )


def completed_episodes(run_dir: str | os.PathLike) -> int:
    """Episodes in the chunks already done (marker and files intact)."""
    run = RunDir(run_dir)
    return sum(s["episodes"] for i in range(run.chunk_count()) if (s := chunk_done(run, i)) is not None)


def pending_chunks(run_dir: str | os.PathLike) -> list[int]:
    run = RunDir(run_dir)
    return [i for i in range(run.chunk_count()) if chunk_done(run, i) is None]


def execute(
    run_dir: str | os.PathLike,
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
    report = progress or (lambda _summary: None)
    if scheduler:
        from distributed import Client
        from distributed import as_completed as dask_completed

        with Client(scheduler, timeout="20s") as client:
            futures = [client.submit(run_chunk, str(run_dir), i, pure=False, retries=3) for i in todo]
            for fut in dask_completed(futures):
                report(fut.result())
    elif workers <= 1:
        for i in todo:
            report(run_chunk(run_dir, i))
    else:
        with ProcessPoolExecutor(
            workers, mp_context=mp.get_context("spawn"), initializer=_quiet_threads
        ) as pool:
            futures = [pool.submit(run_chunk, str(run_dir), i) for i in todo]
            for fut in as_completed(futures):
                report(fut.result())


def _quiet_threads() -> None:
    # processes are the parallelism: one thread each for torch and numba
    import numba
    import torch

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    _exit_with_parent()


def _exit_with_parent() -> None:
    """A worker stops (within a second) once the process that started it is gone: a killed `mazeprobe run`
    must not leave workers computing chunks nobody will gather."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="mazeprobe-parent-watch").start()


def finalize(run_dir: str | os.PathLike) -> None:
    """Gather the chunk files into the run's tables and mark the manifest complete."""
    run = RunDir(run_dir)
    pending = pending_chunks(run.path)
    if pending:
        raise RunError(f"{run.path}: chunks {pending} are not done; run again with --resume")
    n = run.chunk_count()
    for stem, target in (
        ("episodes", run.episodes_path),
        ("dsq", run.dsq_path),
        ("act-index", run.activation_index_path),
        ("interventions", run.interventions_path),
        ("retargeting", run.retargeting_path),
    ):
        files = [run.chunk_file(stem, i) for i in range(n)]
        if all(f.exists() for f in files):
            target.parent.mkdir(parents=True, exist_ok=True)
            write_parquet(pa.concat_tables([pq.read_table(f) for f in files]), target)
    manifest = run.manifest()
    # a finished run resumed keeps the time it finished
    ended = manifest.ended_at if manifest.complete and manifest.ended_at else utc_stamp()
    run.write_manifest(replace(manifest, ended_at=ended, status="complete"))


def run_experiment(
    spec: ExperimentSpec,
    out_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: Callable[[dict], None] | None = None,
    on_start: Callable[[Path, int, int], None] | None = None,
) -> Path:
    """Prepare, execute and finalize a run; returns the run directory.

    `on_start(run_dir, total_episodes, done_episodes)` is called once the directory is prepared, before
    any chunk runs (a progress bar's total); `progress(summary)` after each chunk."""
    if workers < 1:
        raise UsageError(f"workers must be >= 1; got {workers}")
    if scheduler and workers > 1:
        raise UsageError("give workers or scheduler, not both")
    if scheduler:
        _check_scheduler(scheduler)
    device = resolve_device(device or spec.policy.device)  # before the lock: a missing GPU writes nothing
    _check_edits(spec)  # likewise an edit that does not fit: a refused spec leaves no file, not even the lock
    with RunDir(Path(out_dir).resolve() / spec.name).lock():
        run_dir = prepare_run(spec, out_dir, resume=resume, device=device)
        if on_start is not None:
            total = RunDir(run_dir).manifest().n_mazes * spec.rollouts.per_maze
            on_start(run_dir, total, completed_episodes(run_dir))
        execute(run_dir, workers=workers, scheduler=scheduler, progress=progress)
        finalize(run_dir)
    return run_dir


def _check_scheduler(address: str) -> None:
    """A Dask scheduler address is tcp://HOST:PORT (or another Dask protocol), checked before any work."""
    scheme, sep, rest = address.partition("://")
    host, colon, port = rest.rpartition(":")
    if (
        not sep
        or scheme not in ("tcp", "tls", "inproc", "ucx", "ws", "wss")
        or not colon
        or not port.isdigit()
    ):
        raise UsageError(f"scheduler must be an address like tcp://HOST:8786; got {address!r}")
    if scheme in ("inproc", "ucx"):
        return  # no TCP port to knock on: the Dask client says what is wrong
    import socket

    # before the run directory exists: a scheduler that is not there must not leave a run marked running
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {why}") from None
