"""The procgen maze state codec, `MazeState` and its edits, against live procgen 0.10.7 envs."""

from __future__ import annotations

import contextlib
import io
import struct
import warnings

import numpy as np
import pytest

from mazeprobe.errors import MazeEditError, StateFormatError
from mazeprobe.maze import codec
from mazeprobe.maze.env import LevelLoader, get_states, make_env, set_states
from mazeprobe.maze.state import MazeState

LEFT, DOWN, NOOP, UP, RIGHT = 1, 3, 4, 5, 7
MOVES = {UP: (1, 0), DOWN: (-1, 0), LEFT: (0, -1), RIGHT: (0, 1)}
TILE = 64 / 25  # 2.56 px per world tile


@pytest.fixture(scope="module")
def loader():
    ll = LevelLoader(64)
    yield ll
    ll.close()


@pytest.fixture(scope="module")
def states_1000(loader) -> list[bytes]:
    return loader.states(range(1000))


@pytest.fixture(scope="module")
def env1():
    """One live env (level 0) that tests load states into."""
    return make_env(1, start_level=0, num_levels=1)


def step(env, action: int):
    env.act(np.array([action]))
    rew, obs, first = env.observe()
    return float(rew[0]), obs["rgb"][0].copy(), bool(first[0])


def current(env) -> MazeState:
    return MazeState.from_bytes(get_states(env)[0])


def open_neighbours(grid: np.ndarray, pos) -> dict[int, tuple[int, int]]:
    n = grid.shape[0]
    out = {}
    for action, (dr, dc) in MOVES.items():
        r, c = pos[0] + dr, pos[1] + dc
        if 0 <= r < n and 0 <= c < n and grid[r, c] != 1:
            out[action] = (r, c)
    return out


def open_cells(grid: np.ndarray) -> list[tuple[int, int]]:
    return [(int(r), int(c)) for r, c in zip(*np.nonzero(grid == 0), strict=True)]


# --- round trips ---------------------------------------------------------------------------------


def test_round_trip_1000_level_seeds(states_1000) -> None:
    sizes = set()
    for seed, raw in enumerate(states_1000):
        assert codec.encode_fields(codec.decode_fields(raw)) == raw, f"seed {seed}"
        state = MazeState.from_bytes(raw)
        assert state.to_bytes() == raw, f"seed {seed}"
        assert state.level_seed == seed
        n = state.maze_size
        sizes.add(n)
        assert n % 2 == 1 and 3 <= n <= 25 and state.world_dim == 25
        assert state.grid.shape == (n, n) and state.grid.dtype == np.int8
        assert state.mouse == (0, 0)
        assert (state.grid == 2).sum() == 1 and state.cheese is not None
        assert state.grid[state.cheese] == 2
        assert state.grid[0, 0] == 0 and state.grid[n - 1, n - 1] != 1
        # the fast tail reader sees the same maze
        world, maze_dim = codec.read_world_grid(raw)
        assert maze_dim == n
        m = (25 - n) // 2
        np.testing.assert_array_equal(world, np.asarray(state.fields["grid"]))
        assert (np.delete(world.ravel(), [r * 25 + c for r in range(m, m + n) for c in range(m, m + n)])
                == codec.PROCGEN_WALL).all(), f"seed {seed}: the world outside the maze is not all wall"
    assert sizes == set(range(3, 26, 2))


def test_grid_orientation_row0_is_bottom(states_1000) -> None:
    # procgen stores data[y * w + x] with y up; the inner grid must keep row 0 at the bottom, and the
    # mouse entity (x, y) = (margin + 0.5, margin + 0.5) at its start is inner (0, 0).
    for raw in states_1000[:50]:
        state = MazeState.from_bytes(raw)
        fields = codec.decode_fields(raw)
        m = state.margin
        player = next(e for e in fields["entities"] if e["type"] == codec.PLAYER_TYPE)
        assert (player["x"], player["y"]) == (m + 0.5, m + 0.5)
        world = fields["grid"]
        cr, cc = state.cheese
        assert world[cr + m, cc + m] == codec.PROCGEN_GOAL


@pytest.mark.parametrize("seed", [0, 1, 7, 999, 123456, 2**31 - 2])
def test_round_trip_fresh_env(loader, seed: int) -> None:
    env = make_env(1, start_level=seed, num_levels=1)
    raw = get_states(env)[0]
    state = MazeState.from_bytes(raw)
    assert state.to_bytes() == raw
    assert codec.encode_fields(codec.decode_fields(raw)) == raw
    assert state.level_seed == seed
    # the LevelLoader's state for the same seed holds the same maze
    other = MazeState.from_bytes(loader.states([seed])[0])
    assert other.level_seed == seed and other.maze_size == state.maze_size
    np.testing.assert_array_equal(other.grid, state.grid)
    assert other.mouse == state.mouse == (0, 0)


def test_round_trip_mid_episode() -> None:
    rng = np.random.default_rng(0)
    env = make_env(8, start_level=100, num_levels=0)
    seen_off_start = 0
    for t in range(150):
        env.act(rng.choice([LEFT, DOWN, UP, RIGHT, NOOP], size=8).astype(np.int32))
        if t % 10 != 9:
            continue
        for raw in get_states(env):
            state = MazeState.from_bytes(raw)
            assert state.to_bytes() == raw
            assert codec.encode_fields(codec.decode_fields(raw)) == raw
            assert state.grid[state.mouse] != 1  # the mouse stands on an open cell
            assert 0 < codec.decode_fields(raw)["cur_time"] or state.mouse == (0, 0)
            seen_off_start += state.mouse != (0, 0)
    assert seen_off_start > 20  # the random walks really moved the mice


def _fields_equal(a: MazeState, b: MazeState) -> None:
    assert a.fields.keys() == b.fields.keys()
    for k in a.fields:
        va, vb = a.fields[k], b.fields[k]
        if k == "grid":
            np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
        elif k == "entities":
            assert [dict(e) for e in va] == [dict(e) for e in vb]
        else:
            assert va == vb, k


def test_round_trip_edited_states(states_1000) -> None:
    rng = np.random.default_rng(1)
    for seed in range(0, 1000, 20):
        state = MazeState.from_bytes(states_1000[seed])
        cells = [p for p in open_cells(state.grid) if p != (0, 0)]
        cheese_to = cells[rng.integers(len(cells))]
        mouse_to = [p for p in cells if p != cheese_to][0] if len(cells) > 1 else (0, 0)
        edits = [
            state.with_cheese(*cheese_to),
            state.with_cheese(*cheese_to).with_mouse(*mouse_to),
            state.with_cell(*cells[-1], 1) if cells[-1] != cheese_to else state.with_cell(*cells[0], 1),
        ]
        for edited in edits:
            raw = edited.to_bytes()
            back = MazeState.from_bytes(raw)
            _fields_equal(back, edited)
            assert back.to_bytes() == raw
            np.testing.assert_array_equal(back.grid, edited.grid)
            assert back.mouse == edited.mouse and back.cheese == edited.cheese
        assert MazeState.from_bytes(edits[0].to_bytes()).cheese == cheese_to
        assert MazeState.from_bytes(edits[1].to_bytes()).mouse == mouse_to
        # edits leave every other cell alone
        g0, g1 = state.grid.copy(), MazeState.from_bytes(edits[0].to_bytes()).grid.copy()
        g0[g0 == 2] = 0
        g1[g1 == 2] = 0
        np.testing.assert_array_equal(g0, g1)


def test_identity_edits_are_byte_identical(states_1000) -> None:
    for raw in states_1000[:200]:
        state = MazeState.from_bytes(raw)
        assert state.with_cheese(*state.cheese).to_bytes() == raw
        assert state.with_mouse(*state.mouse).to_bytes() == raw
        assert state.with_grid(state.grid).to_bytes() == raw
        assert state.with_cell(0, 0, 0).to_bytes() == raw


def test_edits_do_not_mutate_the_original(states_1000) -> None:
    raw = states_1000[4]
    state = MazeState.from_bytes(raw)
    cells = [p for p in open_cells(state.grid) if p != (0, 0)]
    state.with_cheese(*cells[0]).with_mouse(*cells[1]).with_cell(*cells[2], 1)
    assert state.to_bytes() == raw
    with pytest.raises((ValueError, TypeError)):
        state.grid[0, 0] = 1  # read-only view


def test_edit_errors(states_1000) -> None:
    state = MazeState.from_bytes(states_1000[4])
    n = state.maze_size
    g = state.grid
    wall = tuple(int(v) for v in np.argwhere(g == 1)[0])
    for bad in [lambda: state.with_cheese(*wall), lambda: state.with_cheese(0, 0),
                lambda: state.with_cheese(n, 0), lambda: state.with_cheese(-1, 0),
                lambda: state.with_mouse(*wall), lambda: state.with_mouse(*state.cheese),
                lambda: state.with_mouse(0, n), lambda: state.with_cell(0, 0, 1),
                lambda: state.with_cell(1, 1, 2), lambda: state.with_cell(n, n, 0),
                lambda: state.with_grid(np.zeros((4, 4), np.int8)),
                lambda: state.with_grid(np.zeros((3, 5), np.int8)),
                lambda: state.with_grid(np.zeros((27, 27), np.int8)),
                lambda: state.with_grid(np.full((3, 3), 7, np.int8)),
                lambda: state.with_grid(np.array([[0, 2, 0], [0, 1, 0], [0, 2, 0]])),
                lambda: state.with_grid(np.array([[0, 0, 0], [0, 1, 0], [0, 0, 2]]), mouse=(1, 1))]:
        with pytest.raises(MazeEditError):
            bad()


# --- bad input --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def maze_bytes(states_1000) -> bytes:
    return states_1000[3]


@pytest.fixture(scope="module")
def coinrun_bytes() -> bytes:
    from procgen import ProcgenGym3Env

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        env = ProcgenGym3Env(num=1, env_name="coinrun")
    return env.callmethod("get_state")[0]


READERS = {
    "decode_fields": codec.decode_fields,
    "from_bytes": MazeState.from_bytes,
    "read_world_grid": codec.read_world_grid,
    "patch_level_seed": lambda b: codec.patch_level_seed(b, 5),
}
GRID_READERS = {k: READERS[k] for k in ("decode_fields", "from_bytes", "read_world_grid")}


@pytest.mark.parametrize("reader", list(READERS))
def test_rejects_other_game(reader, coinrun_bytes) -> None:
    with pytest.raises(StateFormatError) as exc:
        READERS[reader](coinrun_bytes)
    msg = str(exc.value)
    assert "'maze'" in msg and "'coinrun'" in msg, msg


@pytest.mark.parametrize("version", [1, -1, 7])
@pytest.mark.parametrize("reader", list(READERS))
def test_rejects_other_serialisation_version(reader, version, maze_bytes) -> None:
    bad = bytearray(maze_bytes)
    struct.pack_into("<i", bad, 0, version)
    with pytest.raises(StateFormatError) as exc:
        READERS[reader](bytes(bad))
    msg = str(exc.value)
    assert "expected 0" in msg and f"found {version}" in msg, msg


CUTS = [0, 3, 8, 11, 40, 70, 100, 6000, -2540, -2512, -12, -8, -4, -1]


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("reader", list(GRID_READERS))
def test_rejects_truncated(reader, cut, maze_bytes) -> None:
    data = maze_bytes[:cut]
    with pytest.raises(StateFormatError) as exc:
        READERS[reader](data)
    msg = str(exc.value)
    # names what it expected (bytes needed / the end marker) and what it found
    assert (f"only {len(data)} bytes" in msg) or ("expected" in msg and "found" in msg), msg


@pytest.mark.parametrize("cut", CUTS)
def test_patch_level_seed_rejects_truncated(cut, maze_bytes) -> None:
    # BUG: patch_level_seed checks only the header. Cuts 70..6000 raise struct.error; cuts near the end
    # (-2540 .. -1) return patched bytes of a truncated state, which LevelLoader would hand to procgen.
    data = maze_bytes[:cut]
    with pytest.raises(StateFormatError):
        codec.patch_level_seed(data, 5)


@pytest.mark.parametrize(
    "reader,tail",
    [(r, t) for r in GRID_READERS for t in (b"\x00", b"garbage!", b"\xfe\xca\xfe\xca", "STATE")
     if not (r == "read_world_grid" and t == "STATE")],  # that one: the test below
)
def test_rejects_trailing_garbage(reader, tail, maze_bytes) -> None:
    data = maze_bytes + (maze_bytes if tail == "STATE" else tail)
    with pytest.raises(StateFormatError) as exc:
        READERS[reader](data)
    msg = str(exc.value)
    assert "expected" in msg or "unexpected bytes" in msg or "impossible world_dim" in msg, msg


def test_read_world_grid_rejects_two_concatenated_states(maze_bytes, states_1000) -> None:
    # BUG: read_world_grid reads the header of the first state and the tail of the last, so two states
    # glued together (trailing garbage that ends like a state) yield a grid: the SECOND state's maze.
    data = maze_bytes + states_1000[0]
    with pytest.raises(StateFormatError):
        codec.read_world_grid(data)


@pytest.mark.parametrize("obj", [None, 12345, 3.5, "maze", [0, 4, 0, 0], {"version": 0}])
@pytest.mark.parametrize("reader", list(READERS))
def test_rejects_non_bytes(reader, obj) -> None:
    # BUG for read_world_grid / patch_level_seed: None, 12345 and 3.5 raise TypeError
    # ("object of type 'int' has no len()"), and "maze" / [0, 4, 0, 0] a misleading
    # "truncated maze state: only 4 bytes".
    with pytest.raises(StateFormatError) as exc:
        READERS[reader](obj)
    msg = str(exc.value)
    assert "bytes" in msg and type(obj).__name__ in msg, msg


def test_from_bytes_rejects_bad_maze_part(maze_bytes) -> None:
    fields = codec.decode_fields(maze_bytes)
    for key, value in (("maze_dim", 4), ("maze_dim", 27), ("maze_dim", -1)):
        bad = dict(fields, **{key: value})
        with pytest.raises(StateFormatError) as exc:
            MazeState.from_bytes(codec.encode_fields(bad))
        assert "maze_dim" in str(exc.value)
    world = np.array(fields["grid"])
    m = (25 - fields["maze_dim"]) // 2
    world[m, m + 1] = 7  # an object id that never occurs in a maze
    with pytest.raises(StateFormatError) as exc:
        MazeState.from_bytes(codec.encode_fields(dict(fields, grid=world)))
    assert "[7]" in str(exc.value)
    # a grid header that disagrees with its data length
    bad = bytearray(maze_bytes)
    grid_off = len(maze_bytes) - 12 - 4 * 625 - 12
    struct.pack_into("<i", bad, grid_off, 24)
    for reader in GRID_READERS.values():
        with pytest.raises(StateFormatError):
            reader(bytes(bad))


# --- edits in a live env -------------------------------------------------------------------------


LIVE_SEEDS = [0, 1, 3, 8, 17, 21, 26, 40]  # sides 13, 3, 5, 21, 25, 3, 7, 25


def test_cheese_next_to_mouse_is_eaten_in_one_step(env1, loader) -> None:
    for seed in LIVE_SEEDS:
        state = MazeState.from_bytes(loader.states([seed])[0])
        nbrs = open_neighbours(state.grid, (0, 0))
        assert nbrs, f"seed {seed}: the start has no open neighbour"
        for action, cell in nbrs.items():
            edited = state.with_cheese(*cell)
            # control: a no-op and the other moves do not eat it
            set_states(env1, [edited.to_bytes()])
            rew, _, first = step(env1, NOOP)
            assert rew == 0 and not first
            others = [a for a in MOVES if a != action]
            for a in others:
                set_states(env1, [edited.to_bytes()])
                rew, _, first = step(env1, a)
                assert rew == 0 and not first, f"seed {seed}: action {a} ate cheese at {cell}"
            set_states(env1, [edited.to_bytes()])
            rew, _, first = step(env1, action)
            assert rew == 10.0, f"seed {seed}: cheese at {cell}, action {action}: reward {rew}"
            assert first, "the episode should end when the cheese is eaten"
            # the next level starts from scratch: mouse back at the start
            assert current(env1).mouse == (0, 0)


def _tile_box(row: int, col: int, margin: int, pad: int = 1) -> tuple[slice, slice]:
    y, x = row + margin, col + margin
    top = int(np.floor(64 - (y + 1) * TILE)) - pad
    bottom = int(np.ceil(64 - y * TILE)) + pad
    left = int(np.floor(x * TILE)) - pad
    right = int(np.ceil((x + 1) * TILE)) + pad
    return slice(max(top, 0), bottom), slice(max(left, 0), right)


def test_moving_the_cheese_changes_the_picture_only_there(env1, loader) -> None:
    for seed in LIVE_SEEDS:
        state = MazeState.from_bytes(loader.states([seed])[0])
        old = state.cheese
        cells = [p for p in open_cells(state.grid) if p != (0, 0)]
        # the open cell furthest from the old cheese
        new = max(cells, key=lambda p: abs(p[0] - old[0]) + abs(p[1] - old[1]))
        set_states(env1, [state.to_bytes()])
        _, before, _ = step(env1, NOOP)
        set_states(env1, [state.with_cheese(*new).to_bytes()])
        _, after, _ = step(env1, NOOP)
        assert before.shape == (64, 64, 3)
        changed = (before != after).any(axis=-1)
        near = np.zeros_like(changed)
        for cell in (old, new):
            box = _tile_box(*cell, state.margin)
            assert changed[box].any(), f"seed {seed}: nothing changed around cheese tile {cell}"
            near[box] = True
        assert changed[~near].sum() <= 2, (
            f"seed {seed}: {changed[~near].sum()} pixels changed away from {old} and {new}"
        )


def test_moved_mouse_steps_from_its_new_position(env1, loader) -> None:
    for seed in LIVE_SEEDS:
        state = MazeState.from_bytes(loader.states([seed])[0])
        g = state.grid
        # an open cell away from the start with an open, cheese-free neighbour and a wall side
        for cell in open_cells(g)[::-1]:
            nbrs = {a: p for a, p in open_neighbours(g, cell).items() if g[p] == 0}
            blocked = [a for a in MOVES if a not in open_neighbours(g, cell)]
            if cell != (0, 0) and nbrs and blocked:
                break
        else:
            pytest.fail(f"seed {seed}: no suitable cell")
        moved = state.with_mouse(*cell)
        set_states(env1, [moved.to_bytes()])
        assert current(env1).mouse == cell
        action, target = next(iter(nbrs.items()))
        rew, _, first = step(env1, action)
        assert current(env1).mouse == target and rew == 0 and not first
        set_states(env1, [moved.to_bytes()])
        step(env1, blocked[0])
        assert current(env1).mouse == cell, "a move into a wall (or off the maze) should not move"


def test_with_cell_wall_blocks_movement(env1, loader) -> None:
    for seed in LIVE_SEEDS:
        state = MazeState.from_bytes(loader.states([seed])[0])
        nbrs = open_neighbours(state.grid, (0, 0))
        for action, cell in nbrs.items():
            base = state
            if state.grid[cell] == 2:  # keep the cheese out of the way
                base = state.with_cheese(*[p for p in open_cells(state.grid) if p not in ((0, 0), cell)][0])
            set_states(env1, [base.to_bytes()])
            step(env1, action)
            assert current(env1).mouse == cell  # control: the move works on the open cell
            walled = base.with_cell(*cell, 1)
            assert walled.grid[cell] == 1
            set_states(env1, [walled.to_bytes()])
            step(env1, action)
            live = current(env1)
            assert live.mouse == (0, 0), f"seed {seed}: walked through a wall at {cell}"
            assert live.grid[cell] == 1


HAND_5X5 = np.array(  # rows top first, then flipped: cheese at (2, 4), mouse at (0, 0)
    [
        [0, 1, 0, 0, 0],
        [0, 1, 0, 1, 1],
        [0, 0, 0, 1, 2],
        [1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0],
    ],
    dtype=np.int8,
)[::-1]


@pytest.mark.parametrize("seed", [3, 17, 1])  # start mazes of side 5, 25 and 3
def test_with_grid_hand_maze_loads_and_plays(env1, loader, seed: int) -> None:
    state = MazeState.from_bytes(loader.states([seed])[0]).with_grid(HAND_5X5)
    assert state.maze_size == 5 and state.margin == 10 and state.mouse == (0, 0)
    assert state.cheese == (2, 4)
    set_states(env1, [state.to_bytes()])
    live = current(env1)
    np.testing.assert_array_equal(live.grid, HAND_5X5)
    assert live.mouse == (0, 0) and live.maze_size == 5
    # walls hold: up from (0,0) is a wall; left and down leave the maze
    for a in (UP, LEFT, DOWN):
        step(env1, a)
        assert current(env1).mouse == (0, 0)
    route = [RIGHT, RIGHT, RIGHT, RIGHT, UP, UP]
    pos = (0, 0)
    for i, a in enumerate(route):
        rew, _, first = step(env1, a)
        pos = (pos[0] + MOVES[a][0], pos[1] + MOVES[a][1])
        if i < len(route) - 1:
            assert rew == 0 and not first
            assert current(env1).mouse == pos
            if pos == (0, 4):
                step(env1, RIGHT)  # the maze's right edge: the outer world is wall
                assert current(env1).mouse == (0, 4)
        else:
            assert rew == 10.0 and first
