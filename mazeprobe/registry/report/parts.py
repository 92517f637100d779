"""The pieces a report is made of (sections, tables, cells, figures, badges): plain data that
model.py and provenance.py fill in and html.py and markdown.py draw. See model.py for what each shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Badge:
    """A short flag beside a value (anecdotal, late): a coloured pill in HTML, "(text)" in Markdown."""

    text: str
    tone: str  # which flag it is, so HTML can colour it: anecdotal | late | unregistered


@dataclass(frozen=True)
class Cell:
    """One table value. Renderers place its pieces in a fixed order: lead, text, aside, badges, detail."""

    text: str = ""
    lead: str = ""  # an identifier shown bold before the text (a question id)
    strong: bool = False  # the row's subject (a leaderboard forecaster): bold in HTML, plain in Markdown
    tone: str = ""  # show the text itself as a badge of this tone: an outcome (yes, no, pending, ...)
    aside: str = ""  # a parenthetical remark: how the outcome was decided
    badges: tuple[Badge, ...] = ()
    detail: str = ""  # a secondary value: a 95% CI, a forecast's Brier score, whether a claim was right
    draw: Callable[[], str] | None = None  # a small inline SVG; `text` stands in where nothing is drawn


@dataclass(frozen=True)
class Column:
    header: str
    # What the values are, so each renderer can style them: text | num | forecast | question | outcome |
    # evidence. Markdown right-aligns num only; forecasts mix numbers and words and read better left.
    kind: str = "text"
    # Names the cells' detail (e.g. "95% CI"): HTML stacks it under the value, Markdown gives it a column
    # of its own. Without it, a cell's detail follows the value inline.
    detail: str = ""
    short: str = ""  # the header in Markdown, read in narrow terminals (the note spells it out)


Row = tuple[Cell | None, ...]  # None: no entry (a forecaster who did not answer the question)


@dataclass(frozen=True)
class Figure:
    title: str
    draw: Callable[[], str] | None  # SVG markup; None: nothing to draw and `empty` says why
    columns: tuple[Column, ...] = ()  # the numbers drawn, for a renderer that cannot draw
    rows: tuple[Row, ...] = ()
    caption: tuple[str, ...] = ()  # lines under the drawing; badges follow the first
    badges: tuple[Badge, ...] = ()
    empty: str = ""
    image: str = ""  # a picture as a data: URI (PNG), shown inline by both renderers in place of `draw`


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[Column, ...] = ()
    rows: tuple[Row, ...] = ()
    figures: tuple[Figure, ...] = ()
    definitions: tuple[tuple[str, str], ...] = ()
    note: str = ""  # explains the section; every renderer shows it under the body
    empty: str = ""  # shown instead of body and note when there are no rows, figures or definitions
    legend: tuple[str, ...] = ()  # keys to the drawings, shown where figures are drawn
    data_title: str = ""  # the title where figures are shown as their tables instead (default: title)
    data_note: str = ""  # explains those tables, shown before them

    @property
    def is_empty(self) -> bool:
        return not (self.rows or self.figures or self.definitions) and bool(self.empty)


@dataclass(frozen=True)
class Report:
    title: str
    meta: str
    sections: tuple[Section, ...]

    def __repr__(self) -> str:  # the sections hold every cell: far too much for one line
        return f"Report({self.title!r}, {len(self.sections)} sections)"
