"""The calibration report: one self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched)
or the same content as Markdown for terminals and READMEs.

model.py builds the content once from the tidy forecast table and the dict from scoring.score_table;
html.py and markdown.py render it; svg.py draws the reliability diagram. Every piece of text from the
registry is escaped; evidence links are shown as text, not as links, so opening the page never contacts
anything.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import UsageError
from mazeprobe.registry.report.html import render_fragment, render_html
from mazeprobe.registry.report.markdown import render_markdown
from mazeprobe.registry.report.model import ANECDOTAL, SECTIONS, TITLE, build_report
from mazeprobe.registry.report.parts import Badge, Cell, Column, Figure, Report, Section
from mazeprobe.registry.report.svg import reliability_svg
from mazeprobe.registry.report.view import CalibrationReport, calibration_report

FORMATS = ("html", "md")

__all__ = [
    "ANECDOTAL",
    "FORMATS",
    "SECTIONS",
    "TITLE",
    "Badge",
    "CalibrationReport",
    "Cell",
    "Column",
    "Figure",
    "Report",
    "Section",
    "build_report",
    "calibration_report",
    "format_for",
    "reliability_svg",
    "render_fragment",
    "render_html",
    "render_markdown",
    "render_report",
    "write_report",
]


def render_report(
    table: pd.DataFrame, scores: dict, fmt: str = "html", *, generated_at: datetime | None = None
) -> str:
    """The report as text: `fmt` "html" (one self-contained page) or "md" (Markdown)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    report = build_report(table, scores, generated_at=generated_at)
    return render_html(report) if fmt == "html" else render_markdown(report)


def format_for(out: Path, fmt: str | None = None) -> str:
    """The report format: `fmt` if given, else from the file suffix (.md/.markdown -> md, otherwise html)."""
    if fmt:
        return fmt
    return "md" if Path(out).suffix.lower() in (".md", ".markdown") else "html"


def write_report(table: pd.DataFrame, scores: dict, out: Path, fmt: str = "html") -> Path:
    """Render and write the report atomically (a reader never sees half a page); returns the path."""
    out = Path(out)
    text = render_report(table, scores, fmt)
    write_bytes(out, text.encode("utf-8"))
    return out
