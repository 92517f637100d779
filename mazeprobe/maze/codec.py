"""Byte codec for procgen 0.10.7 `maze` states (`env.callmethod("get_state")`).

The layout follows procgen's C++ serialisation (Game::serialize, BasicAbstractGame::serialize,
Entity::serialize, Grid::serialize, MazeGame::serialize, then the 0xCAFECAFE end marker written by
libenv's get_state). Ints and floats are native little-endian 4-byte values; strings and vectors are an
int32 length followed by the items. Every field is kept, so `encode_fields(decode_fields(b)) == b`.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from mazeprobe.errors import StateFormatError

SERIALIZE_VERSION = 0
GAME_NAME = "maze"
END_MARKER = 0xCAFECAFE

# Procgen's own object ids in the world grid.
PROCGEN_GOAL = 2
PROCGEN_SPACE = 100
PROCGEN_WALL = 51
PLAYER_TYPE = 0

# Field schema: runs of fixed-size fields (one struct each), and variable parts between them.
# "i" = int32, "f" = float32, "s" = string, "rng" = RandGen (is_seeded int + mt19937 text),
# "entities" = int32 count + 31 fields each, "grid" = w, h, int32 vector.
_SCHEMA: list[tuple[str, Any]] = [
    ("fixed", [("version", "i")]),
    ("s", "game_name"),
    ("fixed", [
        ("options.paint_vel_info", "i"), ("options.use_generated_assets", "i"),
        ("options.use_monochrome_assets", "i"), ("options.restrict_themes", "i"),
        ("options.use_backgrounds", "i"), ("options.center_agent", "i"),
        ("options.debug_mode", "i"), ("options.distribution_mode", "i"),
        ("options.use_sequential_levels", "i"), ("options.use_easy_jump", "i"),
        ("options.plain_assets", "i"), ("options.physics_mode", "i"),
        ("grid_step", "i"), ("level_seed_low", "i"), ("level_seed_high", "i"),
        ("game_type", "i"), ("game_n", "i"),
    ]),
    ("rng", "level_seed_rand_gen"),
    ("rng", "rand_gen"),
    ("fixed", [
        ("step_data.reward", "f"), ("step_data.done", "i"), ("step_data.level_complete", "i"),
        ("action", "i"), ("timeout", "i"),
        ("current_level_seed", "i"), ("prev_level_seed", "i"),
        ("episodes_remaining", "i"), ("episode_done", "i"),
        ("last_reward_timer", "i"), ("last_reward", "f"), ("default_action", "i"),
        ("fixed_asset_seed", "i"), ("cur_time", "i"), ("is_waiting_for_step", "i"),
        ("grid_size", "i"),
    ]),
    ("entities", "entities"),
    ("fixed", [
        ("use_procgen_background", "i"), ("background_index", "i"),
        ("bg_tile_ratio", "f"), ("bg_pct_x", "f"), ("char_dim", "f"),
        ("last_move_action", "i"), ("move_action", "i"), ("special_action", "i"),
        ("mixrate", "f"), ("maxspeed", "f"), ("max_jump", "f"),
        ("action_vx", "f"), ("action_vy", "f"), ("action_vrot", "f"),
        ("center_x", "f"), ("center_y", "f"),
        ("random_agent_start", "i"), ("has_useful_vel_info", "i"), ("step_rand_int", "i"),
    ]),
    ("rng", "asset_rand_gen"),
    ("fixed", [
        ("main_width", "i"), ("main_height", "i"), ("out_of_bounds_object", "i"),
        ("unit", "f"), ("view_dim", "f"), ("x_off", "f"), ("y_off", "f"),
        ("visibility", "f"), ("min_visibility", "f"),
    ]),
    ("grid", "grid"),
    ("fixed", [("maze_dim", "i"), ("world_dim", "i"), ("end_marker", "I")]),
]

ENTITY_FIELDS: tuple[tuple[str, str], ...] = (
    ("x", "f"), ("y", "f"), ("vx", "f"), ("vy", "f"), ("rx", "f"), ("ry", "f"),
    ("type", "i"), ("image_type", "i"), ("image_theme", "i"), ("render_z", "i"),
    ("will_erase", "i"), ("collides_with_entities", "i"),
    ("collision_margin", "f"), ("rotation", "f"), ("vrot", "f"),
    ("is_reflected", "i"), ("fire_time", "i"), ("spawn_time", "i"), ("life_time", "i"),
    ("expire_time", "i"), ("use_abs_coords", "i"),
    ("friction", "f"), ("smart_step", "i"), ("avoids_collisions", "i"), ("auto_erase", "i"),
    ("alpha", "f"), ("health", "f"), ("theta", "f"), ("grow_rate", "f"), ("alpha_decay", "f"),
    ("climber_spawn_x", "f"),
)
ENTITY_FIELD_NAMES = tuple(name for name, _ in ENTITY_FIELDS)
_ENTITY_STRUCT = struct.Struct("<" + "".join(code for _, code in ENTITY_FIELDS))
_INT = struct.Struct("<i")
_FIXED = {
    id(fields): (tuple(n for n, _ in fields), struct.Struct("<" + "".join(c for _, c in fields)))
    for kind, fields in _SCHEMA
    if kind == "fixed"
}

# Offsets that do not depend on variable-length parts (version, len("maze"), "maze", 12 options,
# grid_step): used by the fast level-seed patch.
_LEVEL_SEED_LOW_OFFSET = 4 + 4 + len(GAME_NAME) + 12 * 4 + 4


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def need(self, size: int, what: str) -> None:
        if self.offset + size > len(self.data):
            raise StateFormatError(
                f"truncated maze state: reading {what} needs {size} bytes at offset {self.offset}, "
                f"but the state has only {len(self.data)} bytes"
            )

    def int32(self, what: str) -> int:
        self.need(4, what)
        (value,) = _INT.unpack_from(self.data, self.offset)
        self.offset += 4
        return value

    def length(self, what: str) -> int:
        size = self.int32(f"the length of {what}")
        if size < 0 or self.offset + size > len(self.data) + 4 * 10**6:
            raise StateFormatError(f"bad maze state: {what} has impossible length {size}")
        return size

    def raw(self, size: int, what: str) -> bytes:
        self.need(size, what)
        out = self.data[self.offset : self.offset + size]
        self.offset += size
        return out


def decode_fields(data: bytes) -> dict[str, Any]:
    """Parse every field of a procgen maze state into an ordered dict.

    Scalars keep their C++ names; RandGen states become `NAME.is_seeded` and `NAME.state` (bytes);
    `entities` is a list of dicts; `grid` is a (h, w) int32 array indexed [y, x] with y pointing up.
    Raises StateFormatError naming what was expected and found.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise StateFormatError(f"a maze state must be bytes; got {type(data).__name__}")
    data = bytes(data)
    r = _Reader(data)
    out: dict[str, Any] = {}
    for kind, spec in _SCHEMA:
        if kind == "fixed":
            names, st = _FIXED[id(spec)]
            r.need(st.size, names[0])
            out.update(zip(names, st.unpack_from(data, r.offset), strict=True))
            r.offset += st.size
            if names[0] == "version" and out["version"] != SERIALIZE_VERSION:
                raise StateFormatError(
                    f"unsupported procgen serialisation version: expected {SERIALIZE_VERSION} "
                    f"(procgen 0.10.7), found {out['version']}"
                )
        elif kind == "s":
            size = r.length(spec)
            raw = r.raw(size, spec)
            name = raw.decode("latin-1")
            if spec == "game_name" and name != GAME_NAME:
                raise StateFormatError(
                    f"not a maze state: expected game {GAME_NAME!r}, found {name!r}"
                )
            out[spec] = name
        elif kind == "rng":
            out[f"{spec}.is_seeded"] = r.int32(f"{spec}.is_seeded")
            out[f"{spec}.state"] = r.raw(r.length(f"{spec}.state"), f"{spec}.state")
        elif kind == "entities":
            count = r.length("the entity count")
            ents = []
            for i in range(count):
                r.need(_ENTITY_STRUCT.size, f"entity {i}")
                values = _ENTITY_STRUCT.unpack_from(data, r.offset)
                r.offset += _ENTITY_STRUCT.size
                ents.append(dict(zip(ENTITY_FIELD_NAMES, values, strict=True)))
            out["entities"] = ents
        elif kind == "grid":
            w = r.int32("grid width")
            h = r.int32("grid height")
            size = r.length("grid data")
            if w <= 0 or h <= 0 or size != w * h:
                raise StateFormatError(
                    f"bad maze state: grid is {w}x{h} but holds {size} cells"
                )
            cells = np.frombuffer(r.raw(4 * size, "grid cells"), dtype="<i4").reshape(h, w)
            cells = cells.copy()
            cells.setflags(write=False)
            out["grid"] = cells
    if out["end_marker"] != END_MARKER:
        raise StateFormatError(
            f"bad maze state: expected end marker 0x{END_MARKER:08X}, "
            f"found 0x{out['end_marker']:08X}"
        )
    if r.offset != len(data):
        raise StateFormatError(
            f"bad maze state: {len(data) - r.offset} unexpected bytes after the end marker"
        )
    return out


def encode_fields(fields: dict[str, Any]) -> bytes:
    """Serialise fields produced by `decode_fields` (possibly edited) back to procgen's bytes."""
    parts: list[bytes] = []
    for kind, spec in _SCHEMA:
        if kind == "fixed":
            names, st = _FIXED[id(spec)]
            parts.append(st.pack(*(fields[n] for n in names)))
        elif kind == "s":
            raw = fields[spec].encode("latin-1")
            parts += [_INT.pack(len(raw)), raw]
        elif kind == "rng":
            raw = bytes(fields[f"{spec}.state"])
            parts += [_INT.pack(fields[f"{spec}.is_seeded"]), _INT.pack(len(raw)), raw]
        elif kind == "entities":
            parts.append(_INT.pack(len(fields["entities"])))
            for ent in fields["entities"]:
                parts.append(_ENTITY_STRUCT.pack(*(ent[n] for n in ENTITY_FIELD_NAMES)))
        elif kind == "grid":
            grid = np.asarray(fields["grid"])
            h, w = grid.shape
            parts += [_INT.pack(w), _INT.pack(h), _INT.pack(w * h)]
            parts.append(np.ascontiguousarray(grid, dtype="<i4").tobytes())
    return b"".join(parts)


# --- fast paths for sampling: touch only the few fields needed ------------------------------


def read_world_grid(data: bytes) -> tuple[np.ndarray, int]:
    """The (h, w) world grid and maze_dim, without decoding the other fields.

    Much faster than `decode_fields`, and as strict about the layout: bytes from another game, another
    serialisation version, truncated or with anything appended never yield a grid.
    """
    layout = _layout(data)
    w, h = layout["grid_w"], layout["grid_h"]
    grid = np.frombuffer(data, dtype="<i4", count=w * h, offset=layout["grid_cells"]).reshape(h, w)
    return grid, layout["maze_dim"]


def patch_level_seed(data: bytes, level_seed: int) -> bytes:
    """A copy of the state that, after one more step, times out and resets into `level_seed`.

    procgen draws the next level seed from [level_seed_low, level_seed_high); setting them to
    [s, s+1) and cur_time to timeout-1 makes the next step reset into level s.
    """
    layout = _layout(data)
    if not 0 <= level_seed < 2**31 - 1:
        raise StateFormatError(f"level seed must be in [0, 2**31 - 1); got {level_seed}")
    buf = bytearray(data)
    struct.pack_into("<ii", buf, _LEVEL_SEED_LOW_OFFSET, level_seed, level_seed + 1)
    struct.pack_into("<i", buf, layout["cur_time"], layout["timeout"] - 1)
    return bytes(buf)


# Byte sizes of the fixed runs between the variable parts (see _SCHEMA).
_STEP_RUN = 16 * 4  # step_data.reward ... grid_size
_BACKGROUND_RUN = 19 * 4  # use_procgen_background ... step_rand_int
_VIEW_RUN = 9 * 4  # main_width ... min_visibility


def _layout(data: bytes) -> dict[str, int]:
    """Offsets of the fields the fast paths need, walking only the lengths of the variable parts."""
    if not isinstance(data, (bytes, bytearray)):
        raise StateFormatError(f"a maze state must be bytes; got {type(data).__name__}")
    size = len(data)

    def int_at(offset: int, what: str) -> int:
        if offset < 0 or offset + 4 > size:
            raise StateFormatError(
                f"truncated maze state: {what} would be at offset {offset}, but the state has only "
                f"{size} bytes"
            )
        return _INT.unpack_from(data, offset)[0]

    version = int_at(0, "the serialisation version")
    if version != SERIALIZE_VERSION:
        raise StateFormatError(
            f"unsupported procgen serialisation version: expected {SERIALIZE_VERSION} "
            f"(procgen 0.10.7), found {version}"
        )
    name_len = int_at(4, "the game name")
    name = bytes(data[8 : 8 + max(0, min(name_len, 64))]).decode("latin-1")
    if name_len != len(GAME_NAME) or name != GAME_NAME:
        raise StateFormatError(f"not a maze state: expected game {GAME_NAME!r}, found {name!r}")
    offset = _LEVEL_SEED_LOW_OFFSET + 4 * 4  # level_seed_low, level_seed_high, game_type, game_n
    for rng in ("level_seed_rand_gen", "rand_gen"):
        length = int_at(offset + 4, f"{rng}.state")
        if length < 0:
            raise StateFormatError(f"bad maze state: {rng}.state has negative length {length}")
        offset += 8 + length
    out = {"timeout": int_at(offset + 4 * 4, "timeout"), "cur_time": offset + 13 * 4}
    offset += _STEP_RUN
    entities = int_at(offset, "the entity count")
    if entities < 0:
        raise StateFormatError(f"bad maze state: negative entity count {entities}")
    offset += 4 + entities * _ENTITY_STRUCT.size + _BACKGROUND_RUN
    length = int_at(offset + 4, "asset_rand_gen.state")
    if length < 0:
        raise StateFormatError(f"bad maze state: asset_rand_gen.state has negative length {length}")
    offset += 8 + length + _VIEW_RUN
    w, h = int_at(offset, "grid width"), int_at(offset + 4, "grid height")
    cells = int_at(offset + 8, "grid size")
    if w <= 0 or h <= 0 or cells != w * h:
        raise StateFormatError(f"bad maze state: grid is {w}x{h} but holds {cells} cells")
    out.update(grid_w=w, grid_h=h, grid_cells=offset + 12)
    offset += 12 + 4 * cells
    out["maze_dim"] = int_at(offset, "maze_dim")
    end = int_at(offset + 8, "the end marker") & 0xFFFFFFFF
    if end != END_MARKER:
        raise StateFormatError(
            f"bad maze state: expected end marker 0x{END_MARKER:08X} at offset {offset + 8}, "
            f"found 0x{end:08X}"
        )
    if offset + 12 != size:
        raise StateFormatError(
            f"bad maze state: {size - offset - 12} unexpected bytes after the end marker"
        )
    return out
