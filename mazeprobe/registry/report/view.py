"""The report as a notebook shows it: `calibration_report(table, scores)` at the end of a cell.

    table = forecast_table(load_registry("predictions"), load_resolutions([...]))
    report = calibration_report(table, score_table(table))
    report                      # the report, inline (the same content as `mazeprobe report` writes)
    report.write("report.html")

Inline, the report is one element carrying its own style scoped to it (html.render_fragment), so the
notebook keeps its look and the report keeps its own.
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import cached_property
from pathlib import Path

import pandas as pd

from mazeprobe.atomic import write_bytes
from mazeprobe.display import one_line
from mazeprobe.errors import UsageError
from mazeprobe.registry.report.html import render_fragment, render_html
from mazeprobe.registry.report.markdown import render_markdown
from mazeprobe.registry.report.model import build_report
from mazeprobe.registry.report.parts import Report


class CalibrationReport:
    """The calibration report of a forecast table and its scores (scoring.score_table), built once."""

    def __init__(self, table: pd.DataFrame, scores: dict, *, generated_at: datetime | None = None) -> None:
        self.table, self.scores, self.generated_at = table, scores, generated_at

    @cached_property
    def content(self) -> Report:
        """The report's sections, as both renderers read them."""
        return build_report(self.table, self.scores, generated_at=self.generated_at)

    def __repr__(self) -> str:
        s = self.scores
        return one_line(
            f"CalibrationReport({len(s.get('forecasters', {}))} forecaster(s) ranked, "
            f"{s.get('n_questions', 0)} question(s), {s.get('n_resolved_questions', 0)} resolved)"
        )

    def html(self) -> str:
        """The whole page, as `mazeprobe report` writes it."""
        return render_html(self.content)

    def markdown(self) -> str:
        return render_markdown(self.content)

    def write(self, path: str | os.PathLike, fmt: str | None = None) -> Path:
        """Write the page (or Markdown: `fmt` "md", or a path ending in .md) atomically."""
        path = Path(path)
        fmt = fmt or ("md" if path.suffix.lower() in (".md", ".markdown") else "html")
        if fmt not in ("html", "md"):
            raise UsageError(f"unknown report format {fmt!r}; expected html or md")
        write_bytes(path, (self.html() if fmt == "html" else self.markdown()).encode("utf-8"))
        return path

    def _repr_html_(self) -> str:
        return render_fragment(self.content)


def calibration_report(
    table: pd.DataFrame, scores: dict, *, generated_at: datetime | None = None
) -> CalibrationReport:
    """The report to show in a notebook (or write): `table` from forecast_table, `scores` from score_table."""
    return CalibrationReport(table, scores, generated_at=generated_at)
