"""The calibration report (HTML and Markdown) and the `score` / `report` commands."""

from __future__ import annotations

import html as htmllib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mazeprobe.cli import main
from mazeprobe.errors import UsageError
from mazeprobe.registry.report import (
    ANECDOTAL,
    SECTIONS,
    Cell,
    Column,
    Section,
    build_report,
    format_for,
    render_html,
    render_markdown,
    render_report,
    write_report,
)
from mazeprobe.registry.scoring.scores import score_table

EVIL = "Is <script>alert('x')</script> & a | pipe escaped?"
WHEN = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def report_table() -> pd.DataFrame:
    """Two forecasters over 12 resolved questions, a claim, an unresolved question and a late forecast."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        y = float(i % 3 != 0)
        for name, shift in (("alice", 0.2), ("bob", -0.1)):
            p = float(np.clip(round(0.5 + shift * (1 if y else -1) + rng.normal(0, 0.1), 2), 0.05, 0.95))
            rows.append(
                {
                    "forecaster": name,
                    "question": f"q{i:02d}",
                    "probability": p,
                    "claim": None,
                    "outcome": "yes" if y else "no",
                    "y": y,
                    "late": name == "bob" and i == 0,
                    "evidence": f"logit coef -0.{i + 10}, 95% CI [-0.45, -0.17], p 2e-05",
                    "method": "auto",
                    "group": "goal" if i < 3 else None,
                    "text": EVIL if i == 0 else f"Question number {i}",
                }
            )
    rows.append(
        {
            "forecaster": "alice",
            "question": "claim-q",
            "probability": np.nan,
            "claim": "no",
            "outcome": "no",
            "y": 0.0,
            "late": False,
            "evidence": "rationale here — https://example.org/paper",
            "method": "manual",
            "group": None,
            "text": "A directional claim",
        }
    )
    rows.append(
        {
            "forecaster": "bob",
            "question": "open-q",
            "probability": 0.4,
            "claim": None,
            "outcome": None,
            "y": np.nan,
            "late": False,
            "evidence": "",
            "method": None,
            "group": None,
            "text": "Not yet resolved",
        }
    )
    # carol: a single resolved forecast, so anecdotal and a one-value reliability diagram
    rows.append(dict(rows[0], forecaster="carol", probability=0.6, late=False))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def rendered() -> tuple[pd.DataFrame, dict, str, str]:
    table = report_table()
    scores = score_table(table, n_boot=200, n_perm=200, seed=1)
    html = render_report(table, scores, "html", generated_at=WHEN)
    md = render_report(table, scores, "md", generated_at=WHEN)
    return table, scores, html, md


def test_html_is_self_contained_and_escaped(rendered):
    _, _, html, _ = rendered
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 3  # one reliability diagram per forecaster
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; a | pipe escaped?" in html
    # nothing is fetched: no src/href attributes at all, no CSS url() or @import, no <link>
    assert not re.search(r"\b(src|href)\s*=", html, re.I)
    assert "url(" not in html and "@import" not in html and "<link" not in html
    # the evidence link is shown as text
    assert "https://example.org/paper" in html
    assert "2026-11-26 12:00 UTC" in html


def test_html_sections_and_numbers(rendered):
    _, scores, html, _ = rendered
    for heading in (
        "Leaderboard",
        "Reliability diagrams",
        "Score decomposition",
        "Pairwise skill",
        "Questions",
    ):
        assert f"<h2>{heading}" in html
    alice = scores["forecasters"]["alice"]
    assert (
        f"{alice['brier']:.3f}" in html
        and f"[{alice['brier_ci'][0]:.3f}, {alice['brier_ci'][1]:.3f}]" in html
    )
    assert html.count(ANECDOTAL) >= 2  # carol in the leaderboard and under her diagram
    assert '<span class="badge late">late</span>' in html  # bob's q00
    assert "claim: no" in html and ">correct<" in html
    assert 'class="badge pending">not resolved' in html  # open-q
    # the leaderboard lists forecasters best Brier first
    board = html[html.index("<h2>Leaderboard") : html.index("<h2>Reliability")]
    order = [m for m in re.findall(r"<strong>(\w+)</strong>", board)]
    briers = [scores["forecasters"][n]["brier"] for n in order]
    assert sorted(order) == ["alice", "bob", "carol"] and briers == sorted(briers)


def test_reliability_svg_draws_the_cep_and_band(rendered):
    _, scores, html, _ = rendered
    alice_svg = re.search(r'aria-label="reliability diagram for alice">.*?</svg>', html, re.S).group(0)
    rel = scores["forecasters"]["alice"]["reliability"]
    assert alice_svg.count('<circle class="point"') == len(rel["x"])
    assert alice_svg.count('<rect class="hist"') == len(rel["x"])
    assert '<polygon class="band"' in alice_svg and '<path class="cep"' in alice_svg
    assert '<line class="diagonal"' in alice_svg
    # one distinct value (carol) still draws a band sliver and one point
    carol_svg = re.search(r'aria-label="reliability diagram for carol">.*?</svg>', html, re.S).group(0)
    assert carol_svg.count('<circle class="point"') == 1 and '<polygon class="band"' in carol_svg


def test_markdown_has_the_same_question_rows(rendered):
    table, scores, html, md = rendered
    questions_md = md[md.index("## Questions") :]
    md_ids = re.findall(r"^\| \*\*([\w-]+)\*\*", questions_md, re.M)
    html_ids = re.findall(r'<span class="qid">([\w-]+)</span>', html)
    assert md_ids == html_ids == list(pd.unique(table["question"]))
    # escaped for Markdown: the tag cannot open, the pipe does not split the cell
    assert "Is \\<script>alert('x')\\</script> & a \\| pipe escaped?" in md
    row = next(line for line in questions_md.splitlines() if line.startswith("| **q00**"))
    assert len(re.split(r"(?<!\\)\|", row)) - 2 == 7  # question, group, 3 forecasters, outcome, evidence
    assert "(late)" in row
    # a text reliability table per forecaster with every distinct forecast value
    alice = md[md.index("### alice") : md.index("### ", md.index("### alice") + 4)]
    assert len([ln for ln in alice.splitlines() if re.match(r"^\| 0\.\d\d \|", ln)]) == len(
        scores["forecasters"]["alice"]["reliability"]["x"]
    )
    assert ANECDOTAL in md and "<svg" not in md


def test_write_report_atomic_and_formats(tmp_path, rendered):
    table, scores, _, _ = rendered
    out = write_report(table, scores, tmp_path / "r.md", "md")
    assert out.read_text().startswith("# Forecast calibration report")
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]  # no temporary file left behind
    assert format_for(Path("x.md")) == "md" and format_for(Path("x.html")) == "html"
    assert format_for(Path("x.md"), "html") == "html"
    with pytest.raises(UsageError, match="unknown report format"):
        render_report(table, scores, "pdf")


def test_report_for_claims_only():
    table = report_table()
    table = table[table["forecaster"] == "alice"].assign(probability=np.nan, claim="yes")
    scores = score_table(table, n_boot=10, n_perm=10)
    html = render_report(table, scores, "html")
    assert "No resolved probability forecasts yet" in html and "<svg" not in html
    assert "Pairwise comparisons need two forecasters" in render_report(table, scores, "md")


def _claims_only() -> tuple[pd.DataFrame, dict]:
    table = report_table()
    table = table[table["forecaster"] == "alice"].assign(probability=np.nan, claim="yes")
    return table, score_table(table, n_boot=10, n_perm=10)


@pytest.mark.parametrize("case", ["full", "claims-only"])
def test_both_renderers_show_the_same_notes(rendered, case):
    """Every explanatory text comes from the one section model: each renderer shows exactly the model's
    notes, in order, and writes none of its own."""
    table, scores = (rendered[0], rendered[1]) if case == "full" else _claims_only()
    report = build_report(table, scores, generated_at=WHEN)
    html, md = render_html(report), render_markdown(report)
    notes = [s.empty if s.is_empty else s.note for s in report.sections if s.note or s.is_empty]
    assert len(notes) >= 4  # leaderboard, decomposition, pairwise, questions
    # HTML: the <p class="note"> paragraphs are the model's notes (the figure legend is a separate key)
    assert [htmllib.unescape(n) for n in re.findall(r'<p class="note">(.*?)</p>', html)] == notes
    # Markdown: every paragraph that is not a heading, table, list or flag is a model text, in order
    paragraphs = [b for b in md.split("\n\n")[2:] if not b.startswith(("#", "|", "*", "- "))]
    expected = []
    for s in report.sections:
        if s.is_empty:
            expected.append(s.empty)
            continue
        expected += [s.data_note] if s.data_note else []
        expected += [f.empty for f in s.figures if f.draw is None]
        expected += [s.note] if s.note else []
    assert paragraphs == expected
    assert set(notes) <= set(paragraphs)
    # the method definitions, in both
    method = next(s for s in report.sections if s.title == "Method")
    for term, text in method.definitions:
        assert (
            f"<dt>{htmllib.escape(term, quote=False)}</dt><dd>{htmllib.escape(text, quote=False)}</dd>"
            in html
        )
        assert f"- **{term}**: {text}" in md


def test_a_new_section_needs_only_a_builder(rendered):
    """A section added by one builder function shows in both formats, escaped, with an inline drawing in
    HTML and its text stand-in in Markdown; a builder returning None leaves its section out."""
    table, scores, _, _ = rendered

    def runs(table: pd.DataFrame, scores: dict) -> Section:
        row = (Cell(EVIL, draw=lambda: '<svg class="tiny"></svg>'), Cell("1000", detail="all finished"))
        return Section(
            "Runs",
            (Column("run"), Column("episodes", "num")),
            (row,),
            note="The runs this report resolved against.",
        )

    report = build_report(table, scores, generated_at=WHEN, builders=(runs, lambda t, s: None, *SECTIONS))
    assert [s.title for s in report.sections][:2] == ["Runs", "Leaderboard"]
    html, md = render_html(report), render_markdown(report)
    assert "<h2>Runs</h2>" in html and '<td><svg class="tiny"></svg></td>' in html
    assert '<td class="num">1000<small>all finished</small></td>' in html
    assert '<p class="note">The runs this report resolved against.</p>' in html
    assert "## Runs" in md and "The runs this report resolved against." in md
    assert "| Is \\<script>alert('x')\\</script> & a \\| pipe escaped? | 1000 · all finished |" in md
    assert html.count("<script") == 0 and render_report(table, scores, "html", generated_at=WHEN) == (
        render_html(build_report(table, scores, generated_at=WHEN))
    )


# --- CLI ----------------------------------------------------------------------------------------


def write_predictions(root: Path) -> Path:
    (root / "forecasts").mkdir(parents=True)
    (root / "questions.yaml").write_text(
        "questions:\n"
        + "".join(
            f"  - id: {qid}\n    text: {json.dumps(text)}\n    source: test\n    group: null\n"
            f"    resolution: {{method: manual}}\n"
            for qid, text in (("q-one", EVIL), ("q-two", "Second"), ("q-three", "Directional"))
        )
    )
    (root / "forecasts" / "alice.yaml").write_text(
        "forecaster: alice\nsource: test\nmade_at: 2023-03-01\nforecasts:\n"
        "  - {question: q-one, probability: 0.7}\n"
        "  - {question: q-two, probability: 0.2}\n"
        '  - {question: q-three, claim: "no"}\n'
    )
    res = root / "resolutions-manual.yaml"
    res.write_text(
        "resolutions:\n"
        + "".join(
            f'  - {{question: {q}, outcome: "{o}", rationale: "because {q}", evidence: "https://example.org/{q}",'
            " resolver: me, date: 2026-11-26}\n"
            for q, o in (("q-one", "yes"), ("q-two", "no"), ("q-three", "no"))
        )
    )
    return res


def test_cli_score_and_report(tmp_path, capsys):
    res = write_predictions(tmp_path / "pred")
    args = ["--predictions", str(tmp_path / "pred"), "--resolutions", str(res)]
    assert main(["score", *args]) == 1  # nothing is registered: a check found a problem
    assert "forecast:alice:q-one: never registered" in capsys.readouterr().err
    assert main(["predictions", "register", str(tmp_path / "pred")]) == 0  # the manual resolutions too
    assert "registered 9 items" in capsys.readouterr().out
    assert main(["score", *args, "--format", "json", "--n-boot", "50", "--n-perm", "50"]) == 0
    scores = json.loads(capsys.readouterr().out)
    # the resolutions are dated 2026-11-26 and the forecasts were registered after that: late, scored
    # apart and never ranked
    assert scores["forecasters"] == {} and scores["late"]["alice"]["late"] is True
    alice = scores["late"]["alice"]
    assert all(q["late"] for q in alice["questions"].values())
    # Brier: (0.7 - 1)^2 = 0.09 and (0.2 - 0)^2 = 0.04 -> 0.065
    assert alice["brier"] == pytest.approx(0.065) and alice["n_resolved"] == 2
    assert alice["questions"]["q-one"]["outcome"] == "yes" and alice["claims_correct"] == 1
    assert main(["score", *args]) == 0
    assert "alice*" in capsys.readouterr().out
    out = tmp_path / "report.md"
    assert main(["report", *args, "--out", str(out), "--n-boot", "50"]) == 0
    assert f"wrote {out} (md" in capsys.readouterr().out
    md = out.read_text()
    assert "because q-one — https://example.org/q-one" in md and "\\<script>" in md
    # the resolutions are dated 2026-11-26 and the forecasts were registered after that: late, each
    # forecast marked, and alice scored under her own heading, not on the leaderboard
    assert md.count("(late)") == 4
    late = md[md.index("## Late forecasts (not ranked)") :]
    assert "| alice (late) (anecdotal: fewer than 10 resolved forecasts) | 2 | 0.065 |" in late
    assert "| 1 | alice" not in md
    html_out = tmp_path / "report.html"
    assert main(["report", *args, "--out", str(html_out), "--n-boot", "50"]) == 0
    page = html_out.read_text()
    assert "<h2>Late forecasts (not ranked)</h2>" in page and '<span class="badge late">late</span>' in page
    assert main(["report", *args, "--out", str(tmp_path / "nodir" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
