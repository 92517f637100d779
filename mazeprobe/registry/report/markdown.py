"""The report as Markdown, for terminals and READMEs: the same sections as the HTML page, with each
figure shown as the table of the numbers it draws."""

from __future__ import annotations

import re

from mazeprobe.registry.report.parts import Cell, Column, Report, Row, Section

_MD_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")
_MD_LINK_CLOSE = re.compile(r"\](?= ?[(\[:])")
_MD_BRACKET = re.compile(r"[\[\]]")


def _m(text: str, alt: bool = False) -> str:
    """Text for Markdown: one line, backslashes and pipes escaped (a pipe would split a table cell), no
    '<' that could open an HTML tag (so '<script>' shows as text, while '< 10%' stays as written), and no
    ']' that could close a link or a picture (`[x](javascript:...)`, `![](http://...)`, `[x][ref]`,
    `[ref]: url`), so user text never renders as one while '[0.1, 0.3]' stays as written. `alt`: the alt
    text of the report's own picture, where every bracket is escaped."""
    s = " ".join(text.split())
    s = _MD_HTML_START.sub(r"\\<", s.replace("\\", "\\\\").replace("|", "\\|"))
    return (_MD_BRACKET if alt else _MD_LINK_CLOSE).sub(r"\\\g<0>", s)


def _cells(cell: Cell | None, col: Column) -> list[str]:
    """A cell's text: one entry, or two where the column gives the detail a column of its own."""
    if cell is None:
        return ["", ""] if col.detail else [""]
    text = (f"**{_m(cell.lead)}** " if cell.lead else "") + _m(cell.text)
    if cell.detail and not col.detail:
        text += f" · {_m(cell.detail)}"
    if cell.aside:
        text += f" ({_m(cell.aside)})"
    text += "".join(f" ({_m(b.text)})" for b in cell.badges)
    return [text, _m(cell.detail)] if col.detail else [text]


def _table(columns: tuple[Column, ...], rows: tuple[Row, ...]) -> str:
    header, align = [], []
    for col in columns:
        header.append(_m(col.short or col.header))
        align.append("---:" if col.kind == "num" else "---")
        if col.detail:
            header.append(_m(col.detail))
            align.append("---")
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for row in rows:
        cells = [text for cell, col in zip(row, columns, strict=True) for text in _cells(cell, col)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _section(s: Section) -> list[str]:
    """The section's blocks (paragraphs, tables), to be separated by blank lines."""
    out = [f"## {_m(s.data_title or s.title)}"]
    if s.is_empty:
        return out + [_m(s.empty)]
    if s.data_note:
        out.append(_m(s.data_note))
    for fig in s.figures:
        out.append(f"### {_m(fig.title)}")
        if fig.image:  # inline, so the file stays self-contained
            out.append(f"![{_m(fig.title, alt=True)}]({fig.image})")
            out += [_m(line) for line in fig.caption if line]
            continue
        out.append(_m(fig.empty) if fig.draw is None else _table(fig.columns, fig.rows))
        if fig.draw is not None:
            out += [f"*{_m(b.text)}*" for b in fig.badges]
    if s.columns:
        out.append(_table(s.columns, s.rows))
    if s.definitions:
        out.append("\n".join(f"- **{_m(term)}**: {_m(text)}" for term, text in s.definitions))
    if s.note:
        out.append(_m(s.note))
    return out


def render_markdown(report: Report) -> str:
    """The report as Markdown."""
    blocks = [f"# {_m(report.title)}", _m(report.meta)]
    for s in report.sections:
        blocks += _section(s)
    return "\n\n".join(blocks) + "\n"
