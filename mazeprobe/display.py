"""Small HTML pieces for rich display in notebooks (`_repr_html_`): escaped cells, a table, a list of facts.

Each layer writes its own objects' display beside them (a maze table's summary in maze/, a run in
experiments/, a fit in stats/, the leaderboard and report in registry/) and builds it from these pieces,
so every value is escaped once, here, and every view looks alike. The style is scoped to the view's own
`<div class="mazeprobe-view">`, so a view never restyles the notebook around it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import numpy as np

VIEW_CLASS = "mazeprobe-view"
_STYLE = (
    f".{VIEW_CLASS} {{ font-size: 0.92em; }}"
    f" .{VIEW_CLASS} table {{ border-collapse: collapse; margin: 4px 0 8px; }}"
    f" .{VIEW_CLASS} th, .{VIEW_CLASS} td {{ padding: 2px 8px; text-align: left; vertical-align: top;"
    " border-bottom: 1px solid rgba(128, 128, 128, 0.3); }"
    f" .{VIEW_CLASS} td.num, .{VIEW_CLASS} th.num {{ text-align: right; font-variant-numeric: tabular-nums;"
    " white-space: nowrap; }"
    f" .{VIEW_CLASS} .muted {{ opacity: 0.7; }}"
)


class Html(str):
    """Markup already escaped (a piece built here): placed into a table as it is."""


def esc(value: object) -> str:
    """Any value as HTML text: escaped for text and attributes alike."""
    return html.escape(str(value), quote=True)


def is_missing(value: object) -> bool:
    """None, NaN or pandas' NA (never a string, never an array)."""
    if value is None:
        return True
    if isinstance(value, (str, bytes)):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array: not one missing value
        return False


def fmt(value: object, digits: int = 4) -> str:
    """A value as people read it: missing -> "–", floats to `digits` significant digits, others as str."""
    if is_missing(value):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    return str(value)


def cell(value: object, digits: int = 4, right: bool | None = None) -> str:
    """One table cell: Html as is, everything else escaped; right-aligned when `right` (default: when
    the value is a number)."""
    if right is None:
        right = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    text = value if isinstance(value, Html) else esc(fmt(value, digits))
    return f'<td class="num">{text}</td>' if right else f"<td>{text}</td>"


def table_html(
    columns: Sequence[str], rows: Iterable[Sequence[object]], digits: int = 4, numeric: Sequence[str] = ()
) -> str:
    """A table: escaped headers; the columns named in `numeric` right-aligned, header and cells."""
    num = ' class="num"'
    head = "".join(f"<th{num if c in numeric else ''}>{esc(c)}</th>" for c in columns)
    right = [c in numeric for c in columns]
    body = "".join(
        "<tr>" + "".join(cell(v, digits, r) for v, r in zip(row, right, strict=True)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def facts_html(facts: Iterable[tuple[str, object]]) -> str:
    """Label: value lines as a two-column table without a header."""
    rows = "".join(f"<tr><th>{esc(label)}</th>{cell(value)}</tr>" for label, value in facts)
    return f"<table><tbody>{rows}</tbody></table>"


def note_html(text: str) -> str:
    return f'<p class="muted">{esc(text)}</p>'


def view_html(title: str, *parts: str) -> str:
    """The whole view: its scoped style, the title in bold, then the parts (already HTML)."""
    return (
        f'<div class="{VIEW_CLASS}"><style>{_STYLE}</style><p><strong>{esc(title)}</strong></p>'
        + "".join(parts)
        + "</div>"
    )


def one_line(text: str, limit: int = 160) -> str:
    """A repr's text on one line, cut with "..." past `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
