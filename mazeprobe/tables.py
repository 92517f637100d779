"""Column schemas of the tables a run writes: each column's name, Arrow type and meaning, in order.

Each table's schema has one owner (the episodes' in sim/episodes.py, the interventions' and retargeting's
in experiments/tables.py, the channel ranking's in agents/channels.py, the probe table's in
stats/probes/result.py); its writer checks a table against it before writing, and readers take the
column names from it, so a column cannot be added in one place and forgotten in another.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from mazeprobe.errors import MazeprobeError


def _plain(dtype: pa.DataType) -> pa.DataType:
    # pandas 2 writes text as string, pandas 3 as large_string: the same column either way
    return pa.string() if dtype == pa.large_string() else dtype


class SchemaError(MazeprobeError):
    """A table whose columns or types are not its schema's: a writer changed without its schema."""


@dataclass(frozen=True)
class Field:
    name: str
    dtype: pa.DataType
    meaning: str


@dataclass(frozen=True)
class TableSchema:
    """One table's columns in order. `file`: the table's name in a run directory (for messages)."""

    file: str
    fields: tuple[Field, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def dtypes(self) -> dict[str, pa.DataType]:
        return {f.name: f.dtype for f in self.fields}

    def meaning(self, name: str) -> str:
        return next(f.meaning for f in self.fields if f.name == name)

    def problems(self, schema: pa.Schema) -> list[str]:
        """How an Arrow schema differs from this one (column names, order, types); empty when it is it."""
        found = [(f.name, f.type) for f in schema]
        want = [(f.name, f.dtype) for f in self.fields]
        if [n for n, _ in found] != [n for n, _ in want]:
            extra = [n for n, _ in found if n not in self.names]
            missing = [n for n in self.names if n not in schema.names]
            return [
                f"columns {[n for n, _ in found]} are not {list(self.names)}"
                + (f" (not in the schema: {', '.join(extra)})" if extra else "")
                + (f" (missing: {', '.join(missing)})" if missing else "")
            ]
        return [
            f"{n} is {t}, the schema says {w}"
            for (n, t), (_, w) in zip(found, want, strict=True)
            if _plain(t) != _plain(w)
        ]

    def check(self, table: pa.Table, where: str = "") -> pa.Table:
        """`table` itself when its columns and types are this schema's; SchemaError otherwise."""
        problems = self.problems(table.schema)
        if problems:
            raise SchemaError(f"{where or self.file}: not the {self.file} schema: {'; '.join(problems)}")
        return table
