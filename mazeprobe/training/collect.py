"""Where the training data come from: a stream of fresh training mazes, a collector that plays them
(expert or learner acting, every state labelled with the expert's move), and two ways to run it.

- `InProcessSource`: the collector runs in the training process between updates. Deterministic for a
  given seed; the default, and what the tests run.
- `CollectorPool`: `workers` processes each run a collector with a CPU copy of the network, refreshed
  whenever the trainer publishes new weights, and hand back packets of labelled states through shared
  memory. The trainer (on a GPU, say) then never waits for procgen. Seeded, but which packet arrives
  first depends on timing, so a pooled run is not bit-reproducible.

Both hand the trainer the same thing: a packet (named arrays, one row per state: obs, move, dist, field,
mouse) plus how many collection episodes ended and how many of those reached the cheese.
"""

from __future__ import annotations

import queue
import traceback

import numba
import numpy as np
import pandas as pd
import torch

from mazeprobe.agents.impala import ImpalaCNN, obs_to_tensor
from mazeprobe.maze.env import set_state_at
from mazeprobe.maze.geometry import distance_maps
from mazeprobe.maze.procgen import N_ACTIONS, OBS_SIZE, WORLD_SIDE, world_margin
from mazeprobe.maze.sampling import SampleSpec, row_grid, sample_mazes
from mazeprobe.sim import MOVE_ACTIONS, MazeBatch, Roller, apply_moves, move_toward, start_states
from mazeprobe.training.config import TrainConfig

WORLD = WORLD_SIDE  # slot grids are padded to the world's side, the largest hard-mode maze

# one row per labelled state
PACKET_FIELDS = {
    "obs": ((OBS_SIZE, OBS_SIZE, 3), np.uint8),
    "move": ((), np.int64),
    "dist": ((), np.int64),
    "field": ((WORLD, WORLD), np.int8),
    "mouse": ((), np.int64),
}

# --- the maze stream --------------------------------------------------------------------------------


class MazeStream:
    """Fresh training mazes, in batches, from a seeded sampler; never a held-out level seed."""

    def __init__(
        self, config: TrainConfig, exclude: set[int], roller: Roller, chunk: int, stride: int = 1
    ) -> None:
        self.config, self.exclude, self.roller = config, exclude, roller
        self.chunk = chunk  # continues across resumes, so a resumed run sees new mazes
        self.stride = stride  # collector process w of W takes chunks w, w + W, ...: never the same maze
        self.table = pd.DataFrame()
        self.states: list = []
        self.next = 0

    def take(self) -> tuple[pd.Series, object]:
        if self.next >= len(self.table):
            spec = SampleSpec(
                n=1024, seed=_stream_seed(self.config.seed, self.chunk), placement=self.config.placement
            )
            table = sample_mazes(spec)
            self.table = table[~table["seed"].isin(self.exclude)].reset_index(drop=True)
            self.states = start_states(self.table, self.roller.loader)
            self.chunk += self.stride
            self.next = 0
        i = self.next
        self.next += 1
        return self.table.iloc[i], self.states[i]


def _stream_seed(seed: int, chunk: int) -> int:
    return (seed * 1_000_003 + 7919 * (chunk + 1)) % (2**31)


# --- collection --------------------------------------------------------------------------------------


class Collector:
    """`envs` procgen slots, each playing a fresh training maze; records expert-labelled states."""

    def __init__(
        self, config: TrainConfig, stream: MazeStream, roller: Roller, rng: np.random.Generator
    ) -> None:
        self.config, self.stream, self.roller, self.rng = config, stream, roller, rng
        k = config.envs
        self.grids = np.ones((k, WORLD, WORLD), dtype=np.int8)
        self.sizes = np.ones(k, dtype=np.int64)
        self.dist = np.zeros((k, WORLD, WORLD), dtype=np.int64)
        self.cheese = np.zeros((k, 2), dtype=np.int64)
        self.pos = np.zeros((k, 2), dtype=np.int64)
        self.steps = np.zeros(k, dtype=np.int64)
        self.field = np.full((k, WORLD, WORLD), -1, dtype=np.int8)
        self.states: list = [None] * k
        self.episodes = 0
        self.successes = 0
        for slot in range(k):
            self._load(slot)

    def _load(self, slot: int) -> None:
        row, state = self.stream.take()
        n = int(row["maze_size"])
        self.grids[slot] = 1
        self.grids[slot, :n, :n] = row_grid(row)
        self.sizes[slot] = n
        self.cheese[slot] = (int(row["cheese_row"]), int(row["cheese_col"]))
        self.dist[slot] = distance_maps(
            self.grids[slot : slot + 1], self.sizes[slot : slot + 1], self.cheese[slot : slot + 1]
        )[0]
        self.pos[slot] = state.mouse
        self.steps[slot] = 0
        self.field[slot] = expert_field(self.dist[slot], n)
        self.states[slot] = state
        set_state_at(self.roller.env, slot, state.to_bytes())

    def scattered(self, renderer: Roller, count: int) -> dict[str, np.ndarray]:
        """`count` labelled states with the mouse on a random open square (not the cheese) of the mazes
        now in the slots: every part of the maze, not only the squares near some path."""
        slot = self.rng.integers(0, self.config.envs, count)
        states, pos = [], np.zeros((count, 2), dtype=np.int64)
        for i, k in enumerate(slot):
            rows, cols = np.nonzero(self.dist[k] > 0)
            j = self.rng.integers(0, len(rows))
            pos[i] = rows[j], cols[j]
            states.append(self.states[k].with_mouse(int(rows[j]), int(cols[j])))
        return {
            "obs": renderer.render(states),
            "move": move_toward(self.dist, slot, pos),
            "dist": self.dist[slot, pos[:, 0], pos[:, 1]],
            "field": self.field[slot],
            "mouse": world_index(pos, self.sizes[slot]),
        }

    @torch.no_grad()
    def collect(self, model: ImpalaCNN, beta: float, steps: int) -> dict[str, np.ndarray]:
        """`steps` env steps in every slot: observations, the expert's move 0..3, steps to the cheese and
        the expert's move from every world square (the cell head's target)."""
        k = self.config.envs
        env = self.roller.env
        slots = np.arange(k)
        batch = MazeBatch(grids=self.grids, sizes=self.sizes, table=pd.DataFrame())
        obs_out, move_out, dist_out, field_out, mouse_out = [], [], [], [], []
        for _ in range(steps):
            obs = env.observe()[1]["rgb"].copy()
            expert = move_toward(self.dist, slots, self.pos)
            actions = MOVE_ACTIONS[expert]
            learner = self.rng.random(k) >= beta
            if learner.any():
                x = obs_to_tensor(obs[learner], model.device).contiguous(memory_format=torch.channels_last)
                logits, _ = model(x)
                probs = torch.softmax(logits.double(), dim=1).cpu().numpy()
                u = self.rng.random((int(learner.sum()), 1))
                actions = actions.copy()
                actions[learner] = np.minimum((probs.cumsum(1) < u).sum(1), N_ACTIONS - 1)
            obs_out.append(obs)
            move_out.append(expert)
            dist_out.append(self.dist[slots, self.pos[:, 0], self.pos[:, 1]])
            field_out.append(self.field.copy())
            mouse_out.append(world_index(self.pos, self.sizes))
            env.act(actions.astype(np.int32))
            self.pos = apply_moves(batch, slots, self.pos, actions)
            self.steps += 1
            got = (self.pos == self.cheese).all(1)
            for slot in np.flatnonzero(got | (self.steps >= self.config.max_steps)):
                self.episodes += 1
                self.successes += int(got[slot])
                self._load(slot)
        return {
            "obs": np.concatenate(obs_out),
            "move": np.concatenate(move_out),
            "dist": np.concatenate(dist_out),
            "field": np.concatenate(field_out),
            "mouse": np.concatenate(mouse_out),
        }


def world_index(pos: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Flat index (world row * 25 + world col) of inner-maze positions (B, 2) in mazes of side `sizes`."""
    margin = world_margin(sizes)
    return (pos[:, 0] + margin) * WORLD + pos[:, 1] + margin


def expert_field(dist: np.ndarray, n: int) -> np.ndarray:
    """(25, 25) int8 over the world grid: the expert's move (0..3) from each open square of the inner
    n x n maze, -1 on walls, outside the maze and on the cheese. `dist`: the slot's distance map."""
    rows, cols = np.nonzero(dist[:n, :n] > 0)
    moves = move_toward(dist[None], np.zeros(len(rows), dtype=np.int64), np.stack([rows, cols], 1))
    out = np.full((WORLD, WORLD), -1, dtype=np.int8)
    margin = world_margin(n)
    out[rows + margin, cols + margin] = moves
    return out


def packet_size(config: TrainConfig) -> int:
    """Labelled states per packet: every slot's played steps, plus the scattered states."""
    return config.envs * config.collect_steps + config.scattered


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in PACKET_FIELDS}


class _Worker:
    """One collector with its own envs, maze stream and renderer: makes one packet at a time."""

    def __init__(
        self, config: TrainConfig, exclude: set[int], chunk: int, stride: int, rng: np.random.Generator
    ) -> None:
        self.config = config
        self.roller = Roller(config.envs)
        self.stream = MazeStream(config, exclude, self.roller, chunk, stride)
        self.collector = Collector(config, self.stream, self.roller, rng)
        self.renderer = Roller(64) if config.scattered else None

    def packet(self, model: ImpalaCNN, beta: float) -> tuple[dict[str, np.ndarray], int, int]:
        parts = [self.collector.collect(model, beta, self.config.collect_steps)]
        if self.renderer is not None:
            parts.append(self.collector.scattered(self.renderer, self.config.scattered))
        ended, reached = self.collector.episodes, self.collector.successes
        self.collector.episodes = self.collector.successes = 0
        return _concat(parts), ended, reached


class InProcessSource:
    """Collect in the training process, between updates, with the network being trained."""

    def __init__(self, config: TrainConfig, exclude: set[int], chunk: int, rng: np.random.Generator) -> None:
        self.worker = _Worker(config, exclude, chunk, 1, rng)

    @property
    def chunk(self) -> int:
        """The next maze-stream chunk: a resumed run starts here, so it never replays a maze."""
        return self.worker.stream.chunk

    def next(self, model: ImpalaCNN, beta: float) -> tuple[dict[str, np.ndarray], int, int]:
        model.eval()
        return self.worker.packet(model, beta)

    def close(self) -> None:
        pass


class CollectorPool:
    """`config.workers` collector processes feeding the trainer through shared memory.

    Each worker owns `slots` packet buffers. It takes a free slot, reloads the published weights if they
    changed, fills the slot and reports it ready; the trainer copies the packet out and frees the slot.
    Worker w of W plays maze-stream chunks chunk + w, chunk + w + W, ..., so no two workers play the same
    maze, and a resumed run starts past every chunk whose mazes reached the trainer.
    """

    def __init__(
        self, config: TrainConfig, exclude: set[int], chunk: int, model: ImpalaCNN, slots: int = 3
    ) -> None:
        ctx = torch.multiprocessing.get_context("spawn")  # no fork after CUDA or OpenMP threads start
        n, w = packet_size(config), config.workers
        self.buffers = {
            k: torch.from_numpy(np.zeros((w, slots, n, *shape), dtype=dt)).share_memory_()
            for k, (shape, dt) in PACKET_FIELDS.items()
        }
        self.weights = {k: v.detach().cpu().clone().share_memory_() for k, v in model.state_dict().items()}
        self.version = ctx.Value("q", 0)
        self.beta = ctx.Value("d", 1.0)
        self.lock = ctx.Lock()
        self.stop = ctx.Event()
        self.free = [ctx.Queue() for _ in range(w)]
        self.ready = ctx.Queue()
        self._chunk = chunk
        self.procs = []
        for i in range(w):
            for slot in range(slots):
                self.free[i].put(slot)
            shared = (self.buffers, self.weights, self.version, self.beta, self.lock, self.stop)
            proc = ctx.Process(
                target=_worker_main,
                args=(i, config, exclude, chunk, shared, self.free[i], self.ready),
                daemon=True,
                name=f"mazeprobe-collector-{i}",
            )
            proc.start()
            self.procs.append(proc)

    @property
    def chunk(self) -> int:
        return self._chunk

    def publish(self, model: ImpalaCNN, beta: float) -> None:
        """Make the trainer's current weights (and beta) the ones workers collect with from now on."""
        with self.lock:
            for k, v in model.state_dict().items():
                self.weights[k].copy_(v.detach())
            self.version.value += 1
        self.beta.value = beta

    def next(self, model: ImpalaCNN, beta: float) -> tuple[dict[str, np.ndarray], int, int]:
        self.publish(model, beta)
        while True:
            try:
                msg = self.ready.get(timeout=5.0)
                break
            except queue.Empty:
                dead = [p.name for p in self.procs if not p.is_alive()]
                if dead:
                    raise RuntimeError(
                        f"collector process(es) {', '.join(dead)} died; see the output above"
                    ) from None
        if msg[0] == "error":
            raise RuntimeError(f"collector process {msg[1]} failed:\n{msg[2]}")
        _, i, slot, ended, reached, chunk = msg
        packet = {k: buf[i, slot].numpy().copy() for k, buf in self.buffers.items()}
        self.free[i].put(slot)
        self._chunk = max(self._chunk, chunk)
        return packet, ended, reached

    def close(self) -> None:
        self.stop.set()
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()


def _worker_main(i, config, exclude, chunk, shared, free, ready) -> None:
    buffers, weights, version, beta, lock, stop = shared
    try:
        torch.set_num_threads(1)  # one core per worker: the pool is the parallelism
        numba.set_num_threads(1)
        rng = np.random.default_rng([config.seed, chunk, i])
        worker = _Worker(config, exclude, chunk + i, config.workers, rng)
        model = ImpalaCNN(config.scale).to(memory_format=torch.channels_last).eval()
        seen = -1
        while not stop.is_set():
            try:
                slot = free.get(timeout=0.5)
            except queue.Empty:
                continue
            if version.value != seen:
                with lock:
                    model.load_state_dict(weights)
                    seen = version.value
            packet, ended, reached = worker.packet(model, beta.value)
            for k, buf in buffers.items():
                buf[i, slot].numpy()[...] = packet[k]
            ready.put(("packet", i, slot, ended, reached, worker.stream.chunk))
    except KeyboardInterrupt:
        pass  # the trainer saves and stops the pool
    except Exception:
        ready.put(("error", i, traceback.format_exc()))
