"""What user text can do to a report: in Markdown it never renders as a link or a picture (only the report's
own pictures are), and the HTML run table's stacked details read apart from their values."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from mazeprobe.cli import main
from mazeprobe.registry.report import render_html, render_markdown
from mazeprobe.registry.report.parts import Cell, Column, Figure, Report, Section
from mazeprobe.registry.report.provenance import resolved_against

LINK = "[x](javascript:alert(1))"
IMAGE = "![](http://e/x.png)"
PNG = "data:image/png;base64,iVBORw0KGgo="


def _rendered(md: str) -> str:
    """The Markdown as a CommonMark renderer (with GitHub's tables) turns it into HTML."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable("table").render(md)


def _live(html: str) -> list[str]:
    return re.findall(r"<(?:a|img)\b[^>]*>", html)


def test_links_and_images_in_user_text_stay_text_in_the_markdown_report(tmp_path, capsys):
    root = tmp_path / "pred"
    (root / "forecasts").mkdir(parents=True)
    texts = {"q-link": f"Does {LINK} run?", "q-image": f"Is {IMAGE} drawn?", "q-ref": "See [x][y] and [y]."}
    (root / "questions.yaml").write_text(
        "questions:\n"
        + "".join(
            f"  - id: {qid}\n    text: {json.dumps(text)}\n    source: test\n"
            "    resolution: {method: manual}\n"
            for qid, text in texts.items()
        )
    )
    (root / "forecasts" / "alice.yaml").write_text(
        "forecaster: alice\nsource: test\nmade_at: 2023-03-01\nforecasts:\n"
        + "".join(f"  - {{question: {q}, probability: 0.6}}\n" for q in texts)
    )
    resolutions = root / "resolutions-manual.yaml"
    resolutions.write_text(
        "resolutions:\n"
        + "".join(
            f"  - {{question: {q}, outcome: 'yes', rationale: {json.dumps('because ' + LINK)}, "
            f"evidence: {json.dumps(IMAGE + ' [y]: javascript:alert(2)')}, resolver: me, date: 2026-11-26}}\n"
            for q in texts
        )
    )
    assert main(["predictions", "register", str(root)]) == 0
    out = tmp_path / "report.md"
    args = ["report", "--predictions", str(root), "--resolutions", str(resolutions), "--out", str(out)]
    assert main([*args, "--n-boot", "20"]) == 0
    capsys.readouterr()
    html = _rendered(out.read_text())
    assert _live(html) == []
    # the texts still read as written
    for text in (LINK, IMAGE, "See [x][y] and [y].", "because " + LINK):
        assert text in html


def test_the_reports_own_pictures_stay_pictures_in_markdown():
    caption = f"drawn from {LINK} {IMAGE}"
    figure = Figure("patch [half]: yes", None, caption=(caption,), image=PNG)
    section = Section(
        "Pictures",
        columns=(Column("question"),),
        rows=((Cell(LINK, lead="q"),),),
        figures=(figure,),
        note=f"a note with {IMAGE}",
    )
    md = render_markdown(Report("Report", "made now", (section,)))
    html = _rendered(md)
    assert _live(html) == [f'<img src="{PNG}" alt="patch [half]: yes" />']
    assert caption in html


def test_the_run_tables_network_and_its_sha256_read_apart():
    table = pd.DataFrame({"question": ["q"]})
    table.attrs["runs"] = [
        {"name": "demo", "spec_file": "analysis/demo.yaml", "spec_hash": "ab" * 32, "network":
         "models/reference-r5.pth", "network_sha256": "cd" * 32, "n_mazes": 100,
         "started_at": "2026-11-30T09:46:00Z", "ended_at": "2026-11-30T10:00:00Z"}
    ]  # fmt: skip
    report = Report("Report", "made now", (resolved_against(table, {}),))
    assert "| run | spec hash | network | sha256 | mazes | dates |" in render_markdown(report)
    page = render_html(report)
    # HTML stacks a detail under its value: the header is "network" over "sha256", not "networksha256",
    # in every column (this one is text, not a number)
    assert "<th>network<small>sha256</small></th>" in page
    assert "<td>reference-r5.pth<small>sha256 cdcdcdcdcdcd</small></td>" in page
    css = page[page.index("<style>") : page.index("</style>")]
    stacked = [
        {s.strip() for s in selectors.split(",")}
        for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)
        if "display: block" in body
    ]
    assert any({"th small", "td small"} <= s for s in stacked)


def test_markdown_escaping_keeps_plain_brackets_as_written():
    section = Section("Numbers", columns=(Column("evidence"),), rows=((Cell("95% CI [0.12, 0.34]"),),))
    md = render_markdown(Report("Report", "made now", (section,)))
    assert "| 95% CI [0.12, 0.34] |" in md
