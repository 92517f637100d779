"""Scale-out of batch experiments, with real parts only: real procgen rollouts, local worker processes,
a real Dask scheduler and real Dask workers (subprocesses on localhost), and a worker killed mid-run.

The claims under test: a run's tables are a pure function of its spec, whatever the chunking, the
number of processes, the cluster, an interruption and resume, or a worker dying mid-run; and every
(seed, rollout) episode appears exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mazeprobe.experiments.run import (
    RunError,
    execute,
    finalize,
    load_run,
    pending_chunks,
    prepare_run,
    read_manifest,
    run_chunk,
    run_experiment,
)
from mazeprobe.experiments.spec import load_spec

N_MAZES = 120
PER_MAZE = 2
SPEC = """\
name: scaleout
policy:
  builtin: shard
  params: {{b0: 0.5, coefficients: {{euc_dist_cheese_top_right: -2.0}}, epsilon: 0.05}}
mazes: {{n: {n}, seed: 3, require_decision_square: true, exclude_cheese_top_right: 5}}
rollouts:
  {{per_maze: {per_maze}, max_steps: 128, actions: sample, seed: {rollout_seed}, chunk_mazes: {chunk}}}
record: {{decision_square_probs: true}}
"""
TABLES = ("mazes.parquet", "episodes.parquet", "dsq_probs.parquet")


def write_spec(path: Path, chunk: int = 20, rollout_seed: int = 7):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SPEC.format(n=N_MAZES, per_maze=PER_MAZE, rollout_seed=rollout_seed, chunk=chunk))
    return load_spec(path)


# --- comparing runs --------------------------------------------------------------------------------


def _first_difference(a: pa.Table, b: pa.Table) -> str:
    if a.schema != b.schema:
        return f"schemas differ:\n{a.schema}\nvs\n{b.schema}"
    if a.num_rows != b.num_rows:
        return f"{a.num_rows} rows vs {b.num_rows}"
    for i, (x, y) in enumerate(zip(a.to_pylist(), b.to_pylist(), strict=True)):
        if x != y:
            return f"row {i} differs:\n{x}\nvs\n{y}"
    return "tables differ (NaN?)"


def assert_same_tables(run_dir: Path, ref_dir: Path) -> None:
    for name in TABLES:
        a, b = pq.read_table(run_dir / name), pq.read_table(ref_dir / name)
        assert a.equals(b), f"{name}: {_first_difference(a, b)}"
    assert (run_dir / "episodes.parquet").read_bytes() == (ref_dir / "episodes.parquet").read_bytes()


def assert_each_episode_once(run_dir: Path) -> None:
    episodes = pq.read_table(run_dir / "episodes.parquet").to_pandas()
    seeds = pq.read_table(run_dir / "mazes.parquet", columns=["seed"]).column("seed").to_pylist()
    assert len(seeds) == len(set(seeds)) == N_MAZES
    keys = list(zip(episodes["seed"], episodes["rollout"], strict=True))
    assert len(keys) == N_MAZES * PER_MAZE
    assert len(set(keys)) == len(keys), "an episode appears more than once"
    assert set(keys) == {(s, k) for s in seeds for k in range(PER_MAZE)}
    dsq = pq.read_table(run_dir / "dsq_probs.parquet").column("seed").to_pylist()
    assert dsq == seeds
    assert read_manifest(run_dir)["status"] == "complete"
    assert len(load_run(run_dir)) == N_MAZES * PER_MAZE


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run in this process, one chunk after another."""
    root = tmp_path_factory.mktemp("reference").resolve()
    run_dir = run_experiment(write_spec(root / "spec.yaml"), root / "runs", workers=1)
    assert_each_episode_once(run_dir)
    return run_dir


# --- local ----------------------------------------------------------------------------------------


def test_the_same_spec_twice_gives_identical_tables(tmp_path, reference):
    spec = write_spec(tmp_path / "elsewhere" / "spec.yaml")  # another file: not part of the identity
    run_dir = run_experiment(spec, tmp_path / "runs", workers=1)
    assert run_dir != reference
    assert_same_tables(run_dir, reference)
    assert_each_episode_once(run_dir)
    assert read_manifest(run_dir)["spec_hash"] == read_manifest(reference)["spec_hash"]


def test_two_local_processes_give_the_same_tables_as_one(tmp_path, reference):
    seen = []
    run_dir = run_experiment(write_spec(tmp_path / "spec.yaml"), tmp_path / "runs", workers=2,
                             progress=seen.append)
    assert sorted(s["chunk"] for s in seen) == list(range(6))
    assert_same_tables(run_dir, reference)
    assert_each_episode_once(run_dir)


def test_resume_after_an_interruption_finishes_the_same_run(tmp_path, reference):
    spec = write_spec(tmp_path / "spec.yaml")
    run_dir = prepare_run(spec, tmp_path / "runs")
    chunks = run_dir / "chunks"
    assert pending_chunks(run_dir) == list(range(6))
    for i in (0, 2, 4, 5):
        run_chunk(run_dir, i)
    # chunk 3: an atomic write that was killed before its rename left its temporary file behind
    (chunks / ".episodes-00003.parquet.tmp-123").write_bytes(b"PAR1 half a file")
    # chunk 1: its episodes file was written but the process died before the done marker; the file
    # holds chunk 0's episodes, so keeping it instead of recomputing would duplicate episodes
    shutil.copyfile(chunks / "episodes-00000.parquet", chunks / "episodes-00001.parquet")
    # chunk 5: everything but the marker was written
    (chunks / "done-00005.json").unlink()
    assert pending_chunks(run_dir) == [1, 3, 5]
    assert read_manifest(run_dir)["status"] == "running"
    with pytest.raises(RunError, match="not complete"):
        load_run(run_dir)
    with pytest.raises(RunError, match="not done"):
        finalize(run_dir)

    # neither a plain rerun nor a resume from another spec under the same name may touch the run
    before = {p.name: p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}
    with pytest.raises(RunError, match="already holds a run"):
        run_experiment(spec, tmp_path / "runs")
    other = write_spec(tmp_path / "other" / "spec.yaml", rollout_seed=8)
    assert other.name == spec.name and other.hash != spec.hash
    with pytest.raises(RunError, match="different spec"):
        run_experiment(other, tmp_path / "runs", resume=True)
    assert {p.name: p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()} == before

    seen = []
    same = write_spec(tmp_path / "copy" / "spec.yaml")  # the same spec from another file resumes
    assert run_experiment(same, tmp_path / "runs", resume=True, progress=seen.append) == run_dir
    assert sorted(s["chunk"] for s in seen) == [1, 3, 5], "resume must compute exactly the chunks not done"
    assert pending_chunks(run_dir) == []
    assert_same_tables(run_dir, reference)
    assert_each_episode_once(run_dir)
    for i in range(6):
        assert (chunks / f"episodes-{i:05d}.parquet").read_bytes() == (
            reference / "chunks" / f"episodes-{i:05d}.parquet"
        ).read_bytes()

    # once complete, a rerun without resume still refuses; with resume it changes no table
    with pytest.raises(RunError, match="already holds a run"):
        run_experiment(spec, tmp_path / "runs")
    run_experiment(spec, tmp_path / "runs", resume=True)
    assert_same_tables(run_dir, reference)


# --- Dask: a real scheduler and real workers, as subprocesses --------------------------------------


def _dask_cli() -> str:
    here = Path(sys.executable).parent / "dask"
    found = str(here) if here.exists() else shutil.which("dask")
    if not found:
        pytest.skip("no dask command line")
    return found


def _terminate(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, with every process in its group (the nanny's
    worker), politely first, and never wait unboundedly."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    try:  # the group may outlive its leader (a nanny's child): make sure it is gone
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Cluster:
    """A `dask scheduler` and `dask worker` processes (each in its own process group) on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cli = _dask_cli()
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
                    "PYTHONUNBUFFERED": "1"}
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.client = None
        self.address = ""

    def start(self) -> None:
        from distributed import Client

        scheduler_file = self.root / "scheduler.json"
        # port 0 and the scheduler file: no race for a "free" port
        self.scheduler = self._start(
            "scheduler",
            [self.cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file), "--idle-timeout", "900s"],
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.address = json.loads(scheduler_file.read_text())["address"]
                break
            except (FileNotFoundError, ValueError, KeyError):
                pass
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler did not start:\n{self.logs()}")
            time.sleep(0.1)
        assert self.address.startswith("tcp://127.0.0.1:"), self.address
        self.client = Client(self.address, timeout="30s")

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "wb")  # the child holds its own copy
        try:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.root, env=self.env, start_new_session=True)
        finally:
            log.close()
        self.procs.append(proc)
        return proc

    def ensure_workers(self, n: int = 2) -> None:
        """Start workers until `n` of ours are alive, then wait until the scheduler sees them all."""
        alive = [p for p in self.workers if p.poll() is None]
        for _ in range(n - len(alive)):
            k = len(self.workers)
            proc = self._start(
                f"worker-{k}",
                [self.cli, "worker", self.address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                 "--name", f"w{k}", "--local-directory", str(self.root / f"worker-{k}"),
                 "--death-timeout", "60s"],
            )
            self.workers.append(proc)
        try:
            self.client.wait_for_workers(n, timeout=90)
        except TimeoutError:
            raise RuntimeError(f"{n} workers did not connect:\n{self.logs()}") from None
        deadline = time.monotonic() + 30
        while len(self.client.scheduler_info(n_workers=-1)["workers"]) != n:  # a dead one must be gone
            assert time.monotonic() < deadline, self.client.scheduler_info(n_workers=-1)["workers"]
            time.sleep(0.1)

    def worker_groups(self) -> dict[str, int]:
        """Scheduler address of each worker -> the process group of the `dask worker` that runs it."""
        pids = self.client.run(os.getpid)
        return {addr: os.getpgid(pid) for addr, pid in pids.items()}

    def logs(self) -> str:
        parts = []
        for path in sorted(self.root.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close(timeout=10)
            except Exception:  # teardown must go on to stop the processes
                pass
        for proc in reversed(self.procs):  # workers first, then the scheduler
            _terminate(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("distributed")
    c = Cluster(tmp_path_factory.mktemp("dask").resolve())
    try:
        c.start()
        yield c
    finally:  # also after a failed start: stop whatever did start
        c.close()


def test_a_dask_cluster_gives_the_same_tables_as_a_local_run(tmp_path, reference, cluster):
    from distributed import get_task_stream

    cluster.ensure_workers(2)
    spec = write_spec(tmp_path / "spec.yaml")
    with get_task_stream(client=cluster.client) as stream:
        run_dir = run_experiment(spec, tmp_path.resolve() / "runs", scheduler=cluster.address)
    ran_on = {t["worker"] for t in stream.data if str(t["key"]).startswith("run_chunk")}
    assert len(ran_on) == 2, f"both workers should have computed chunks: {stream.data}"
    assert_same_tables(run_dir, reference)
    assert_each_episode_once(run_dir)


def test_a_relative_out_dir_works_with_workers_started_elsewhere(tmp_path, monkeypatch, reference, cluster):
    # `mazeprobe run spec.yaml --scheduler ...` uses the relative default data/runs; the workers were
    # started in another directory (as `dask worker` usually is) but share the file system
    cluster.ensure_workers(2)
    spec = write_spec(tmp_path / "spec.yaml")
    monkeypatch.chdir(tmp_path)
    assert Path.cwd() != cluster.root
    run_experiment(spec, "runs", scheduler=cluster.address)
    run_dir = tmp_path / "runs" / spec.name
    assert_same_tables(run_dir, reference)
    assert_each_episode_once(run_dir)


def test_a_worker_killed_mid_run_loses_no_chunk(tmp_path, reference, cluster):
    cluster.ensure_workers(2)
    groups = cluster.worker_groups()
    ours = {p.pid for p in cluster.workers if p.poll() is None}
    assert set(groups.values()) == ours, "each worker process must be in its `dask worker`'s group"

    # the same mazes and rollouts as the reference, in 18 chunks of 7 (the last of 1 maze): the
    # chunking is not part of the result, so the local reference with chunks of 20 is the answer
    spec = write_spec(tmp_path / "spec.yaml", chunk=7)
    run_dir = prepare_run(spec, tmp_path.resolve() / "runs")
    total = len(pending_chunks(run_dir))
    assert total == 18
    seen: list[dict] = []
    errors: list[Exception] = []

    def work() -> None:
        try:
            execute(run_dir, scheduler=cluster.address, progress=seen.append)
        except Exception as exc:  # reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    victim = processing = None
    deadline = time.monotonic() + 120
    while victim is None:
        assert thread.is_alive(), f"execute ended before a worker could be killed: {errors}"
        assert time.monotonic() < deadline, f"no chunk finished in time:\n{cluster.logs()}"
        done = len(list((run_dir / "chunks").glob("done-*.json")))
        if 2 <= done <= total - 5:
            busy = {a: keys for a, keys in cluster.client.processing().items() if keys}
            if busy:
                victim, processing = next(iter(busy.items()))
                os.killpg(groups[victim], signal.SIGKILL)
                break
        time.sleep(0.05)
    killed = next(p for p in cluster.workers if p.pid == groups[victim])
    killed.wait(timeout=10)

    thread.join(timeout=180)
    assert not thread.is_alive(), f"execute did not finish after the worker died:\n{cluster.logs()}"
    assert not errors, errors
    assert processing, "the killed worker was computing a chunk"
    assert done < total
    remaining = cluster.client.scheduler_info(n_workers=-1)["workers"]
    assert victim not in remaining and len(remaining) == 1

    assert pending_chunks(run_dir) == []
    # every chunk reported; one computed twice (the killed one, rescheduled) is reported once
    assert sorted(s["chunk"] for s in seen) == list(range(total))
    finalize(run_dir)
    assert_same_tables(run_dir, reference)
    assert_each_episode_once(run_dir)
