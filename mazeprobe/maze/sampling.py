"""Sampling mazes: level seeds -> procgen mazes -> cheese placement -> filters -> features.

The output is one pandas frame (and, through `write_mazes`, one Parquet file) with one row per maze:
`seed` (the procgen level seed), `placement`, `maze_size`, `grid` (the inner grid row-major, row 0 at
the bottom, codes 0 open / 1 wall / 2 cheese) and every registered feature.

Candidate level seeds come in fixed chunks; each chunk is processed independently (in-process or by a
worker) and the passing mazes are taken in candidate order, so the result does not depend on the
number of workers.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mazeprobe.atomic import write_parquet
from mazeprobe.errors import UsageError
from mazeprobe.maze.features import REGISTRY, compute_features
from mazeprobe.maze.geometry import Geometry, maze_geometry
from mazeprobe.maze.placement import PLACEMENT_HELP, parse_placement, place_cheese
from mazeprobe.maze.procgen import CHEESE, OPEN, WALL, WORLD_SIDE
from mazeprobe.maze.state import inner_grid_from_world
from mazeprobe.settings import setting
from mazeprobe.tables import Field, TableSchema
from mazeprobe.validation import check_int, is_int
from mazeprobe.yamlio import Checker, KeyPath

MAX_LEVEL_SEED = 2**31 - 2  # procgen needs level_seed + 1 to fit in an int32
CHUNK = 2048
MAZE_BYTES = 2048
"""About what one maze costs in memory while sampling (grid, geometry, features, a pandas row)."""
MAX_MAZES = 2_000_000
"""The most mazes one table may hold (about 4 GiB while sampling): 10,000 is the published study."""


def parse_sizes(text: str) -> tuple[int, int]:
    """'MIN-MAX' (or a single 'N') -> (MIN, MAX)."""
    lo, sep, hi = str(text).partition("-")
    try:
        pair = (int(lo), int(hi) if sep else int(lo))
    except ValueError:
        raise UsageError(f"bad size range {text!r}; expected MIN-MAX, e.g. 9-25") from None
    if not 1 <= pair[0] <= pair[1]:
        raise UsageError(f"bad size range {text!r}; expected MIN-MAX with 1 <= MIN <= MAX")
    return pair


def _sizes_setting(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> tuple[int, int] | None:
    """A spec's `sizes`: [MIN, MAX] or the text MIN-MAX."""
    if isinstance(value, list):
        if len(value) == 2 and all(is_int(v) for v in value):
            return (int(value[0]), int(value[1]))
        c.fail(kp, f"must be [MIN, MAX] (two integers) or MIN-MAX; got {value!r}")
        return None
    try:
        return parse_sizes(str(value))
    except UsageError as exc:
        c.fail(kp, str(exc))
        return None


@dataclass(frozen=True)
class SampleSpec:
    """What to sample (an experiment spec's `mazes` section, and `mazeprobe sample`'s flags). Validated
    on construction."""

    n: int = setting(help="number of mazes", type=int, low=1)
    """Number of mazes to return (after filtering)."""
    seed: int = setting(0, "sampling seed", low=0)
    """Sampling seed: picks the candidate level seeds (unless start_level is set) and the cheese draws."""
    placement: str = setting("natural", PLACEMENT_HELP)
    """natural, uniform, region:R or quadrant:NAME (see mazeprobe.maze.placement)."""
    require_decision_square: bool = setting(False, "true/false")
    """Keep only mazes whose paths to the cheese and to the top-right square split."""
    exclude_cheese_top_right: int | None = setting(None, "R", type=int, low=1, metavar="R")
    """Drop mazes whose cheese lies in the top-right R x R region."""
    sizes: tuple[int, int] | None = setting(
        None, "MIN-MAX", check=_sizes_setting, parse=parse_sizes, metavar="MIN-MAX"
    )
    """Keep only mazes whose side n lies in [min, max]."""
    start_level: int | None = setting(None, "first level seed", type=int, low=0, metavar="L")
    """If set, candidate level seeds are start_level, start_level+1, ... instead of pseudo-random."""

    def __post_init__(self) -> None:
        if is_int(self.n) and self.n > MAX_MAZES:
            raise UsageError(
                f"n must be at most {MAX_MAZES:,}; got {self.n:,}, which would need about "
                f"{self.n * MAZE_BYTES / 2**30:,.1f} GiB of memory for the maze table alone"
            )
        check_int(self.n, "n", 1)
        check_int(self.seed, "seed", 0)
        object.__setattr__(self, "placement", str(parse_placement(self.placement)))
        if self.exclude_cheese_top_right is not None:
            check_int(self.exclude_cheese_top_right, "exclude_cheese_top_right", 1)
        if self.sizes is not None:
            lo, hi = self.sizes
            if not (1 <= lo <= hi):
                raise UsageError(f"sizes must be MIN-MAX with 1 <= MIN <= MAX; got {lo}-{hi}")
            if not any(s % 2 == 1 and lo <= s <= hi for s in range(3, 26)):
                raise UsageError(f"sizes {lo}-{hi} contain no hard-mode maze side (odd, 3..25)")
        if self.start_level is not None and not 0 <= self.start_level <= MAX_LEVEL_SEED:
            raise UsageError(f"start_level must lie in [0, {MAX_LEVEL_SEED}]; got {self.start_level}")


def candidate_seeds(spec: SampleSpec, chunk_index: int) -> np.ndarray:
    """The level seeds tried in one chunk (deterministic in spec.seed / spec.start_level)."""
    idx = np.arange(chunk_index * CHUNK, (chunk_index + 1) * CHUNK, dtype=np.int64)
    if spec.start_level is not None:
        seeds = spec.start_level + idx
        return seeds[seeds <= MAX_LEVEL_SEED]
    rng = np.random.default_rng([spec.seed, chunk_index, 0x5EED])
    return rng.integers(0, MAX_LEVEL_SEED + 1, size=CHUNK, dtype=np.int64)


# --- where mazes come from -------------------------------------------------------------------------


class ProcgenLevels:
    """Mazes from a live procgen env sent to each level seed (see mazeprobe.maze.env)."""

    def __init__(self, num_envs: int = 64) -> None:
        from mazeprobe.maze.env import LevelLoader

        self.loader = LevelLoader(num_envs)

    def __call__(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        worlds, sizes = self.loader.worlds(seeds)
        grids = np.ones((len(seeds), worlds.shape[1], worlds.shape[1]), dtype=np.int8)
        for i, n in enumerate(sizes):
            grids[i, :n, :n] = inner_grid_from_world(worlds[i], int(n))
        return grids, sizes


class LevelgenLevels:
    """Mazes from mazeprobe's compiled port of procgen's generator (identical mazes, ~100x faster)."""

    def __call__(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from mazeprobe.maze.levelgen import generate_levels

        return generate_levels(np.asarray(seeds, dtype=np.int64))


LevelSource = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
LEVEL_SOURCES: dict[str, Callable[[], LevelSource]] = {
    "levelgen": LevelgenLevels,
    "procgen": ProcgenLevels,
}
_SOURCES: dict[str, LevelSource] = {}


def level_source(name: str) -> LevelSource:
    """The named level source, created once per process (a procgen env is costly to create)."""
    if name not in LEVEL_SOURCES:
        raise UsageError(f"unknown level source {name!r}; expected one of {', '.join(LEVEL_SOURCES)}")
    if name not in _SOURCES:
        _SOURCES[name] = LEVEL_SOURCES[name]()
    return _SOURCES[name]


# --- one chunk -------------------------------------------------------------------------------------


def sample_chunk(spec: SampleSpec, chunk_index: int, levels: str = "levelgen") -> dict:
    """Generate, place and filter one chunk of candidate level seeds.

    Returns plain arrays (picklable, cheap to send from a worker): the passing `seeds`, padded
    `grids`, their `geometry`, and how many candidates were `tried`.
    """
    seeds = candidate_seeds(spec, chunk_index)
    tried = len(seeds)
    grids, sizes = level_source(levels)(seeds)
    if spec.sizes is not None:
        keep = (sizes >= spec.sizes[0]) & (sizes <= spec.sizes[1])
        seeds, grids, sizes = seeds[keep], grids[keep], sizes[keep]
    grids = place_cheese(grids, sizes, seeds, parse_placement(spec.placement), spec.seed)
    geo = maze_geometry(grids, sizes)
    keep = geo.int_column("cheese_row") >= 0  # tiny quadrants can leave a maze without cheese
    if spec.require_decision_square:
        keep &= geo.int_column("dsq_row") >= 0
    if spec.exclude_cheese_top_right is not None:
        lo = sizes - spec.exclude_cheese_top_right
        keep &= ~((geo.int_column("cheese_row") >= lo) & (geo.int_column("cheese_col") >= lo))
    return {"seeds": seeds[keep], "grids": grids[keep], "geometry": geo.take(keep), "tried": tried}


def _worker_init() -> None:
    import numba

    numba.set_num_threads(1)  # the processes are the parallelism


def _iter_chunks(spec: SampleSpec, workers: int, levels: str) -> Iterator[dict]:
    if workers <= 1:
        i = 0
        while True:
            yield sample_chunk(spec, i, levels)
            i += 1
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
        window = 2 * workers
        futures = [pool.submit(sample_chunk, spec, i, levels) for i in range(window)]
        nxt = window
        try:
            while True:
                result = futures.pop(0).result()
                futures.append(pool.submit(sample_chunk, spec, nxt, levels))
                nxt += 1
                yield result
        finally:
            for f in futures:
                f.cancel()


def sample_mazes(
    spec: SampleSpec,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    levels: str = "levelgen",
) -> pd.DataFrame:
    """Sample `spec.n` mazes; `progress(k)` is called with the number of mazes accepted so far.

    `levels` picks where mazes come from: "levelgen" (the compiled port of procgen's generator) or
    "procgen" (a live env sent to each level seed); both give identical mazes.
    """
    level_source(levels)  # fail on a bad name before starting workers
    parts: list[dict] = []
    seen: set[int] = set()
    have = tried = 0
    give_up_after = 200 * spec.n + 20 * CHUNK  # candidates, for filters almost nothing passes
    for chunk in _iter_chunks(spec, workers, levels):
        if chunk["tried"] == 0 or tried > give_up_after:
            raise UsageError(
                f"only {have} of {spec.n} mazes passed the filters after trying {tried} level seeds"
            )
        tried += chunk["tried"]
        # pseudo-random candidates can repeat a level seed (within or across chunks): keep the first
        take = []
        for i, s in enumerate(chunk["seeds"].tolist()):
            if len(take) == spec.n - have:
                break
            if s not in seen:
                seen.add(s)
                take.append(i)
        take = np.array(take, dtype=np.int64)
        parts.append({
            "seeds": chunk["seeds"][take], "grids": chunk["grids"][take],
            "geometry": chunk["geometry"].take(take),
        })
        have += len(take)
        if progress:
            progress(have)
        if have >= spec.n:
            break
    return _assemble(spec, parts)


def _assemble(spec: SampleSpec, parts: list[dict]) -> pd.DataFrame:
    seeds = np.concatenate([p["seeds"] for p in parts])
    grids = np.concatenate([p["grids"] for p in parts])
    feats = compute_features(Geometry.concat([p["geometry"] for p in parts]))
    flat = [grids[i, :n, :n].ravel() for i, n in enumerate(feats["maze_size"].to_numpy(np.int64))]
    frame = pd.DataFrame(
        {
            "seed": seeds.astype(np.int64),
            "placement": pd.array([spec.placement] * len(seeds), dtype="string"),
            "maze_size": feats["maze_size"],
            "grid": flat,
        }
    )
    return pd.concat([frame, feats.drop(columns=["maze_size"])], axis=1)


# --- Parquet ---------------------------------------------------------------------------------------


def mazes_to_arrow(frame: pd.DataFrame, metadata: dict | None = None) -> pa.Table:
    """The Parquet table of the data contract: grid as list<int8>, nulls where undefined."""
    grids = frame["grid"].tolist()
    offsets = np.zeros(len(grids) + 1, dtype=np.int32)
    np.cumsum([len(g) for g in grids], out=offsets[1:])
    values = np.concatenate(grids).astype(np.int8) if grids else np.zeros(0, np.int8)
    grid_col = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.int8()))
    rest = pa.Table.from_pandas(frame.drop(columns=["grid"]), preserve_index=False)
    # plain `string` rather than pandas' default large_string, for readers in other languages
    rest = rest.cast(pa.schema([
        pa.field(f.name, pa.string()) if f.type == pa.large_string() else f for f in rest.schema
    ], metadata=rest.schema.metadata))
    table = rest.add_column(list(frame.columns).index("grid"), "grid", grid_col)
    # no pandas metadata: the file's bytes then depend only on the data, not on the frame's dtypes
    meta = {b"mazeprobe": json.dumps(metadata, sort_keys=True).encode()} if metadata else None
    return table.replace_schema_metadata(meta)


def write_mazes(frame: pd.DataFrame, path: str | os.PathLike, spec: SampleSpec | None = None) -> Path:
    """Write the maze table atomically (temporary file, then rename)."""
    path = Path(path)
    meta = {"sample_spec": asdict(spec)} if spec else None
    write_parquet(mazes_to_arrow(frame, meta), path)
    return path


def row_grid(row: Mapping) -> np.ndarray:
    """The (n, n) int8 inner grid of one maze-table row (row 0 at the bottom)."""
    n = int(row["maze_size"])
    return np.asarray(row["grid"], dtype=np.int8).reshape(n, n)


def row_problem(row: Mapping) -> str | None:
    """What keeps one maze-table row from being drawn as a maze (a table written or edited by something
    other than `mazeprobe sample`), naming the column; None when it is a maze."""
    n = row.get("maze_size")
    if n is None or pd.isna(n) or not is_int(n) or not 1 <= int(n) <= WORLD_SIDE:
        return f"column maze_size: {n!r} is not a maze side (1 to {WORLD_SIDE})"
    n = int(n)
    grid = row.get("grid")
    try:
        cells = np.asarray(grid, dtype=np.int64).ravel() if grid is not None else None
    except (TypeError, ValueError):
        cells = None
    if cells is None or cells.size != n * n:
        held = "no values" if cells is None else f"{cells.size} values"
        return f"column grid holds {held}; a {n}x{n} maze (maze_size {n}) has {n * n}"
    if not np.isin(cells, (OPEN, WALL, CHEESE)).all():
        return f"column grid holds codes other than {OPEN} (open), {WALL} (wall) and {CHEESE} (cheese)"
    mouse = (row.get("mouse_row"), row.get("mouse_col"))
    if not all(v is not None and not pd.isna(v) and is_int(v) and 0 <= int(v) < n for v in mouse):
        return f"columns mouse_row, mouse_col: {mouse} is not a square of the {n}x{n} maze"
    return None


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas keeping null apart from 0 / false: ints, bools and strings become pandas'
    nullable types (Int64, boolean, string)."""
    nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype()}
    return table.to_pandas(types_mapper=nullable.get)


def read_mazes(path: str | os.PathLike) -> pd.DataFrame:
    """Read a maze table; `grid` comes back as int8 arrays, nullable columns as pandas nullable types."""
    table = pq.read_table(path)
    frame = arrow_to_frame(table)
    frame["grid"] = [np.asarray(g, dtype=np.int8) for g in frame["grid"]]
    return frame


MAZE_COLUMNS = (
    "seed", "placement", "maze_size", "grid", "cheese_row", "cheese_col", "mouse_row", "mouse_col",
)  # fmt: skip
"""Columns every maze table has (besides the features)."""
_FEATURE_TYPES = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}


def maze_schema() -> TableSchema:
    """The schema of a sampled maze table (mazes.parquet, `mazeprobe sample`): seed, placement, maze_size
    and grid, then every registered feature in registry order (so a new feature is in it at once)."""
    return TableSchema(
        "mazes.parquet",
        (
            Field("seed", pa.int64(), "the procgen level seed"),
            Field("placement", pa.string(), "how the cheese was placed (natural, or a placement rule)"),
            Field("maze_size", pa.int64(), REGISTRY["maze_size"].doc),
            Field("grid", pa.list_(pa.int8()), "the inner grid row by row, row 0 at the bottom"),
            *(Field(f.name, _FEATURE_TYPES[f.kind], f.doc) for f in REGISTRY.values()
              if f.name != "maze_size"),  # fmt: skip
        ),
    )


def read_maze_table(path: str | os.PathLike) -> pd.DataFrame:
    """read_mazes for a file a person names: not a readable Parquet maze table is a UsageError naming the
    file and what is wrong (empty, truncated, another table's columns), not a traceback."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a maze table")
    try:
        columns = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise UsageError(f"{path}: not a readable Parquet table ({str(exc).splitlines()[0]})") from None
    missing = [c for c in MAZE_COLUMNS if c not in columns]
    if missing:
        raise UsageError(
            f"{path}: not a maze table (no column {', '.join(missing)}); write one with `mazeprobe sample`"
        )
    try:
        return read_mazes(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable maze table ({str(exc).splitlines()[0]})") from None
