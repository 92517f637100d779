"""The calibration report: one self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched)
or the same content as Markdown for terminals and READMEs.

Input is the tidy forecast table (for question texts, outcomes and evidence) and the dict from
scoring.score_table (for every number). Every piece of text from the registry is escaped; evidence links
are shown as text, not as links, so opening the page never contacts anything.
"""

from __future__ import annotations

import html
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import UsageError
from mazeprobe.registry.report.svg import reliability_svg
from mazeprobe.registry.scoring import ANECDOTAL_BELOW, BASELINE_BRIER, BASELINE_LOG, ci_text

FORMATS = ("html", "md")
ANECDOTAL = f"anecdotal: fewer than {ANECDOTAL_BELOW} resolved forecasts"
TITLE = "Forecast calibration report"

# The explanatory notes, one text each, shown by both the HTML and the Markdown renderer.
LEADERBOARD_NOTE = (
    "Lower is better. Brier: mean (p − y)², 0–1; log score: mean −ln P(outcome) in nats. "
    f"Always saying 50% scores {BASELINE_BRIER:.3f} (Brier) and {BASELINE_LOG:.3f} (log); "
    f"skill vs 50% = 1 − Brier / {BASELINE_BRIER:g} (higher is better). MCB/DSC/UNC: CORP decomposition of "
    "the Brier score (Brier = MCB − DSC + UNC). Intervals: percentile bootstrap over questions. "
    "Claims: directional claims (no probability), correct / resolved; not scored."
)
DECOMPOSITION_NOTE = (
    "score = MCB − DSC + UNC (miscalibration − discrimination + uncertainty). MCB: how much recalibrating "
    "the forecasts (replacing each by its recalibrated probability, the CEP) would improve the score; DSC: "
    "how much the recalibrated forecasts beat the base rate issued everywhere; UNC: the score of that base "
    "rate, which depends only on the outcomes."
)
PAIRWISE_NOTE = (
    "Relative score: geometric mean over the common questions of the per-question score ratio a/b; below 1 "
    "means a scored better. p: two-sided permutation test that swaps a's and b's forecast on each common "
    "question at random."
)
QUESTIONS_NOTE = (
    "late: registered after the experiment that resolved it began (accepted with --allow-late). "
    "Evidence links are shown as text."
)
METHOD = (
    (
        "Scored forecasts",
        "A forecast is scored when it has a probability and its question resolved yes or no; unresolved and "
        "ambiguous questions and directional claims are not scored.",
    ),
    (
        "CORP reliability diagram",
        "Dimitriadis, Gneiting & Jordan (2021): the isotonic (pool-adjacent-violators) regression of "
        "outcomes on forecasts, with tied forecasts pooled first, gives the recalibrated probabilities; the "
        "consistency band resamples outcomes from the forecasts themselves and refits.",
    ),
    (
        "Anecdotal",
        f"Results on fewer than {ANECDOTAL_BELOW} resolved forecasts say little about a forecaster and are "
        "labelled anecdotal.",
    ),
)


# --- shared helpers -----------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _cell(value: object) -> str:
    """A table cell as text; NaN/None become ""."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _leaderboard_order(scores: dict) -> list[str]:
    """Best Brier first; forecasters with nothing scored last, by name."""
    fs = scores["forecasters"]
    return sorted(fs, key=lambda f: (fs[f]["brier"] is None, fs[f]["brier"] or 0.0, f))


def _questions(table: pd.DataFrame) -> list[dict]:
    """One entry per question in first-seen order: text, group, outcome, evidence, and each forecast."""
    out: dict[str, dict] = {}
    for row in table.to_dict("records"):
        qid = str(row["question"])
        q = out.setdefault(
            qid,
            {
                "id": qid,
                "text": "",
                "group": "",
                "outcome": "",
                "evidence": "",
                "method": "",
                "forecasts": {},
            },
        )
        for key in ("text", "group", "outcome", "evidence", "method"):
            if not q[key]:
                q[key] = _cell(row.get(key))
        prob = row.get("probability")
        has_prob = prob is not None and not pd.isna(prob)
        q["forecasts"][str(row["forecaster"])] = {
            "probability": float(prob) if has_prob else None,
            "claim": _cell(row.get("claim")) or None,
            "late": bool(_cell(row.get("late"))) and bool(row.get("late")),
        }
    return list(out.values())


def _forecast_text(f: dict | None, scored: dict | None = None, claim: dict | None = None) -> str:
    """A forecast cell for Markdown: the probability (with its Brier score once resolved) or the claim
    (with whether it was right)."""
    if f is None:
        return ""
    text = f"{f['probability']:.2f}" if f["probability"] is not None else f"claim: {f['claim'] or '?'}"
    if scored:
        text += f" · Brier {scored['brier']:.3f}"
    if claim and claim["correct"] is not None:
        text += " · correct" if claim["correct"] else " · wrong"
    return text + (" (late)" if f["late"] else "")


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
:root { --fg:#1d2330; --muted:#5d6678; --bg:#ffffff; --panel:#f6f7fa; --line:#d9dde6; --accent:#2f5fb3;
  --band:#c9d7f2; --yes:#1f7a3f; --yes-bg:#e2f4e8; --no:#a1262c; --no-bg:#fbe4e5; --warn:#8a5a00;
  --warn-bg:#fff1d1; }
@media (prefers-color-scheme: dark) {
  :root { --fg:#e4e7ee; --muted:#9aa3b5; --bg:#15181f; --panel:#1e222c; --line:#353b49; --accent:#7fa6ec;
    --band:#2e3d5c; --yes:#7fd39b; --yes-bg:#1b3325; --no:#f09499; --no-bg:#3a1f22; --warn:#f0c060;
    --warn-bg:#3a301a; }
  svg .plot-bg { fill:#15181f; stroke:#353b49; } svg .grid { stroke:#2a303c; }
  svg .tick { fill:#9aa3b5; } svg .axis { fill:#e4e7ee; } svg .band { fill:#2e3d5c; }
  svg .diagonal { stroke:#9aa3b5; } svg .hist { fill:#9aa3b5; } svg .cep { stroke:#7fa6ec; }
  svg .point { fill:#7fa6ec; stroke:#15181f; }
}
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 60px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 38px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
p.meta, .note, figcaption, .small { color: var(--muted); font-size: 0.9em; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 0.92em; }
th, td { padding: 6px 9px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
.scroll { overflow-x: auto; }
tbody tr:nth-child(even) td { background: var(--panel); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.num small, th.num small { display: block; color: var(--muted); font-size: 0.82em; font-weight: 400; }
code, .qid { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.88em; }
.qid { font-weight: 600; display: block; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 0.8em; font-weight: 600;
  white-space: nowrap; }
.yes { color: var(--yes); background: var(--yes-bg); }
.no { color: var(--no); background: var(--no-bg); }
.unresolved, .ambiguous, .pending { color: var(--muted); background: var(--panel);
  border: 1px solid var(--line); }
.anecdotal, .late { color: var(--warn); background: var(--warn-bg); }
.figures { display: flex; flex-wrap: wrap; gap: 18px; }
figure { margin: 0; padding: 12px; background: var(--panel); border: 1px solid var(--line);
  border-radius: 8px; max-width: 372px; }
figure h3 { margin: 0 0 6px; font-size: 1em; }
svg.reliability { display: block; max-width: 100%; height: auto; }
.evidence { font-size: 0.88em; overflow-wrap: anywhere; min-width: 16em; }
td.question { width: 40%; min-width: 18em; }
td.outcome { white-space: nowrap; }
.legend span { margin-right: 14px; }
dl.method dt { font-weight: 600; margin-top: 8px; }
dl.method dd { margin: 2px 0 0 18px; color: var(--muted); }
"""


def _e(text: object) -> str:
    return html.escape(_cell(text), quote=True)


def _note(text: str) -> str:
    """Our own prose: escaped as page text (quotes need no escaping outside attributes)."""
    return html.escape(text, quote=False)


def _outcome_badge(outcome: str) -> str:
    cls = outcome if outcome in ("yes", "no", "unresolved", "ambiguous") else "pending"
    return f'<span class="badge {cls}">{_e(outcome or "not resolved")}</span>'


def _html_leaderboard(scores: dict) -> list[str]:
    fs = scores["forecasters"]
    out = [
        '<div class="scroll"><table><thead><tr><th class="num">#</th><th>forecaster</th>'
        '<th class="num">resolved</th>'
        '<th class="num">Brier<small>95% CI</small></th><th class="num">skill vs 50%</th>'
        '<th class="num">log score<small>95% CI</small></th><th class="num">MCB</th><th class="num">DSC</th>'
        '<th class="num">UNC</th><th class="num">claims correct</th></tr></thead><tbody>'
    ]
    for rank, name in enumerate(_leaderboard_order(scores), 1):
        f = fs[name]
        badge = f' <span class="badge anecdotal">{_e(ANECDOTAL)}</span>' if f["anecdotal"] else ""
        claims = f"{f['claims_correct']} / {f['n_claims_resolved']}" if f["n_claims"] else "–"
        skill = "–" if f["brier_skill"] is None else f"{f['brier_skill']:+.1%}"
        out.append(
            f'<tr><td class="num">{rank}</td><td><strong>{_e(name)}</strong>{badge}</td>'
            f'<td class="num">{f["n_resolved"]}</td>'
            f'<td class="num">{_num(f["brier"])}<small>{ci_text(f["brier_ci"])}</small></td>'
            f'<td class="num">{skill}</td>'
            f'<td class="num">{_num(f["log_score"])}<small>{ci_text(f["log_ci"])}</small></td>'
            f'<td class="num">{_num(f["brier_mcb"])}</td><td class="num">{_num(f["brier_dsc"])}</td>'
            f'<td class="num">{_num(f["brier_unc"])}</td><td class="num">{claims}</td></tr>'
        )
    out.append("</tbody></table></div>")
    out.append(f'<p class="note">{_note(LEADERBOARD_NOTE)}</p>')
    return out


def _html_reliability(scores: dict) -> list[str]:
    out = ['<div class="figures">']
    for name in _leaderboard_order(scores):
        f = scores["forecasters"][name]
        rel = f.get("reliability")
        out.append(f"<figure><h3>{_e(name)}</h3>")
        if not rel:
            out.append('<p class="small">No resolved probability forecasts yet.</p></figure>')
            continue
        out.append(reliability_svg(name, rel))
        anecdotal = f' <span class="badge anecdotal">{_e(ANECDOTAL)}</span>' if f["anecdotal"] else ""
        out.append(
            f"<figcaption>{f['n_resolved']} resolved forecasts at {len(rel['x'])} distinct values.{anecdotal}"
            f"<br>Brier {_num(f['brier'])} = MCB {_num(f['brier_mcb'])} − DSC {_num(f['brier_dsc'])} "
            f"+ UNC {_num(f['brier_unc'])}</figcaption></figure>"
        )
    out.append("</div>")
    level = next(
        (f["reliability"]["level"] for f in scores["forecasters"].values() if f.get("reliability")), 0.9
    )
    out.append(
        '<p class="note legend"><span>— blue step curve: CORP recalibrated probability (isotonic fit of the '
        "outcomes on the forecasts, tied forecasts pooled)</span><span>● points: distinct forecast values, "
        "area ∝ count</span><span>grey bars: how many forecasts at each value</span><span>dashed: perfect "
        f"calibration</span><span>shaded: {level:.0%} consistency band (where the curve falls "
        "if the forecasts were calibrated)</span></p>"
    )
    return out


def _html_decomposition(scores: dict) -> list[str]:
    out = [
        '<div class="scroll"><table><thead><tr><th>forecaster</th><th>score</th><th class="num">value</th>'
        '<th class="num">MCB (miscalibration)</th><th class="num">DSC (discrimination)</th>'
        '<th class="num">UNC (uncertainty)</th></tr></thead><tbody>'
    ]
    for name in _leaderboard_order(scores):
        f = scores["forecasters"][name]
        for label, key, pre in (("Brier", "brier", "brier"), ("log (nats)", "log_score", "log")):
            out.append(
                f'<tr><td>{_e(name)}</td><td>{label}</td><td class="num">{_num(f[key])}</td>'
                f'<td class="num">{_num(f[pre + "_mcb"])}</td><td class="num">{_num(f[pre + "_dsc"])}</td>'
                f'<td class="num">{_num(f[pre + "_unc"])}</td></tr>'
            )
    out.append("</tbody></table></div>")
    out.append(f'<p class="note">{_note(DECOMPOSITION_NOTE)}</p>')
    return out


def _html_pairwise(scores: dict) -> list[str]:
    if not scores["pairwise"]:
        return [
            '<p class="note">Pairwise comparisons need two forecasters with common resolved questions.</p>'
        ]
    out = [
        '<div class="scroll"><table><thead><tr><th>a</th><th>b</th><th class="num">common questions</th>'
        '<th class="num">relative Brier a/b</th><th class="num">p</th><th class="num">relative log a/b</th>'
        '<th class="num">p</th></tr></thead><tbody>'
    ]
    for e in scores["pairwise"]:
        badge = ' <span class="badge anecdotal">anecdotal</span>' if e.get("anecdotal") else ""
        out.append(
            f'<tr><td>{_e(e["a"])}</td><td>{_e(e["b"])}</td><td class="num">{e["n_common"]}{badge}</td>'
            f'<td class="num">{_num(e["relative_brier"])}</td><td class="num">{_num(e["p_value"])}</td>'
            f'<td class="num">{_num(e["relative_log"])}</td>'
            f'<td class="num">{_num(e.get("p_value_log"))}</td></tr>'
        )
    out.append("</tbody></table></div>")
    out.append(f'<p class="note">{_note(PAIRWISE_NOTE)}</p>')
    return out


def _html_questions(table: pd.DataFrame, scores: dict) -> list[str]:
    names = _leaderboard_order(scores)
    head = "".join(f'<th class="num">{_e(n)}</th>' for n in names)
    out = [
        f'<div class="scroll"><table><thead><tr><th>question</th><th>group</th>{head}'
        "<th>outcome</th><th>evidence</th></tr>"
        "</thead><tbody>"
    ]
    for q in _questions(table):
        cells = []
        for n in names:
            f = q["forecasts"].get(n)
            if f is None:
                cells.append('<td class="num"></td>')
                continue
            text = (
                f"{f['probability']:.2f}"
                if f["probability"] is not None
                else f"claim: {_e(f['claim'] or '?')}"
            )
            scored = scores["forecasters"][n]["questions"].get(q["id"])
            extra = f"<small>Brier {scored['brier']:.3f}</small>" if scored else ""
            claim = scores["forecasters"][n].get("claims", {}).get(q["id"])
            if claim and claim["correct"] is not None:
                extra = f"<small>{'correct' if claim['correct'] else 'wrong'}</small>"
            late = ' <span class="badge late">late</span>' if f["late"] else ""
            cells.append(f'<td class="num forecast">{text}{late}{extra}</td>')
        method = f' <span class="small">({_e(q["method"])})</span>' if q["method"] else ""
        out.append(
            f'<tr><td class="question"><span class="qid">{_e(q["id"])}</span>{_e(q["text"])}</td>'
            f"<td>{_e(q['group'])}</td>{''.join(cells)}"
            f'<td class="outcome">{_outcome_badge(q["outcome"])}{method}</td>'
            f'<td class="evidence">{_e(q["evidence"])}</td></tr>'
        )
    out.append("</tbody></table></div>")
    out.append(f'<p class="note">{_note(QUESTIONS_NOTE)}</p>')
    return out


def _html(table: pd.DataFrame, scores: dict, generated: str) -> str:
    fs = scores["forecasters"]
    n_forecasts = len(table)
    meta = (
        f"Generated {_e(generated)} by mazeprobe · {len(fs)} forecaster(s) · {scores['n_questions']} "
        f"question(s), {scores.get('n_resolved_questions', 0)} resolved · {n_forecasts} forecast(s) · "
        f"seed {scores['seed']}, {scores.get('n_boot', '?')} bootstrap resamples, "
        f"{scores.get('n_perm', '?')} permutations"
    )
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{TITLE}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>{TITLE}</h1>",
        f'<p class="meta">{meta}</p>',
        "<h2>Leaderboard</h2>",
        *_html_leaderboard(scores),
        "<h2>Reliability diagrams (CORP)</h2>",
        *_html_reliability(scores),
        "<h2>Score decomposition</h2>",
        *_html_decomposition(scores),
        "<h2>Pairwise skill</h2>",
        *_html_pairwise(scores),
        "<h2>Questions</h2>",
        *_html_questions(table, scores),
        "<h2>Method</h2>",
        '<dl class="method">',
        *(f"<dt>{_note(term)}</dt><dd>{_note(text)}</dd>" for term, text in METHOD),
        "</dl>",
        "</main></body></html>",
    ]
    return "\n".join(body) + "\n"


# --- Markdown -----------------------------------------------------------------------------------

_MD_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")


def _m(text: object) -> str:
    """Text for a Markdown table cell: one line, pipes escaped, and no '<' that could open an HTML tag
    (so '<script>' shows as text, while '< 10%' stays as written)."""
    s = " ".join(_cell(text).split())
    return _MD_HTML_START.sub(r"\\<", s.replace("\\", "\\\\").replace("|", "\\|"))


def _md_table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _md(table: pd.DataFrame, scores: dict, generated: str) -> str:
    fs = scores["forecasters"]
    names = _leaderboard_order(scores)
    out = [
        f"# {TITLE}",
        "",
        f"Generated {_m(generated)} by mazeprobe · {len(fs)} forecaster(s) · {scores['n_questions']} "
        f"question(s), {scores.get('n_resolved_questions', 0)} resolved · {len(table)} forecast(s) · "
        f"seed {scores['seed']}, {scores.get('n_boot', '?')} bootstrap resamples, "
        f"{scores.get('n_perm', '?')} permutations",
        "",
        "## Leaderboard",
        "",
    ]
    rows = []
    for rank, name in enumerate(names, 1):
        f = fs[name]
        label = _m(name) + (f" ({ANECDOTAL})" if f["anecdotal"] else "")
        skill = "–" if f["brier_skill"] is None else f"{f['brier_skill']:+.1%}"
        claims = f"{f['claims_correct']} / {f['n_claims_resolved']}" if f["n_claims"] else "–"
        rows.append(
            [
                str(rank),
                label,
                str(f["n_resolved"]),
                _num(f["brier"]),
                ci_text(f["brier_ci"]),
                skill,
                _num(f["log_score"]),
                ci_text(f["log_ci"]),
                _num(f["brier_mcb"]),
                _num(f["brier_dsc"]),
                _num(f["brier_unc"]),
                claims,
            ]
        )
    out += _md_table(
        [
            "#",
            "forecaster",
            "resolved",
            "Brier",
            "95% CI",
            "skill vs 50%",
            "log score",
            "95% CI",
            "MCB",
            "DSC",
            "UNC",
            "claims correct",
        ],
        rows,
        right={0, 2, 3, 5, 6, 8, 9, 10, 11},
    )
    out += [
        "",
        LEADERBOARD_NOTE,
        "",
        "## Reliability (CORP)",
        "",
        "At each distinct forecast value: how many forecasts, the observed frequency of yes, the "
        "recalibrated probability (CEP, isotonic fit with ties pooled) and the consistency band under "
        "perfect calibration.",
    ]
    for name in names:
        f = fs[name]
        rel = f.get("reliability")
        out += ["", f"### {_m(name)}", ""]
        if not rel:
            out.append("No resolved probability forecasts yet.")
            continue
        band = f"{rel['level']:.0%} band"
        rel_rows = [
            [
                f"{x:.2f}",
                str(n),
                f"{o:.3f}",
                f"{c:.3f}",
                f"[{lo:.3f}, {hi:.3f}]",
                "outside" if c < lo - 1e-12 or c > hi + 1e-12 else "",
            ]
            for x, n, o, c, lo, hi in zip(
                rel["x"],
                rel["counts"],
                rel["observed"],
                rel["cep"],
                rel["band_low"],
                rel["band_high"],
                strict=True,
            )
        ]
        out += _md_table(["forecast", "n", "observed", "CEP", band, ""], rel_rows, right={0, 1, 2, 3})
        if f["anecdotal"]:
            out += ["", f"*{ANECDOTAL}*"]
    out += ["", "## Score decomposition", ""]
    rows = []
    for name in names:
        f = fs[name]
        for label, key, pre in (("Brier", "brier", "brier"), ("log (nats)", "log_score", "log")):
            rows.append(
                [
                    _m(name),
                    label,
                    _num(f[key]),
                    _num(f[pre + "_mcb"]),
                    _num(f[pre + "_dsc"]),
                    _num(f[pre + "_unc"]),
                ]
            )
    out += _md_table(["forecaster", "score", "value", "MCB", "DSC", "UNC"], rows, right={2, 3, 4, 5})
    out += [
        "",
        DECOMPOSITION_NOTE,
        "",
        "## Pairwise skill",
        "",
    ]
    if scores["pairwise"]:
        rows = [
            [
                _m(e["a"]),
                _m(e["b"]),
                str(e["n_common"]) + (" (anecdotal)" if e.get("anecdotal") else ""),
                _num(e["relative_brier"]),
                _num(e["p_value"]),
                _num(e["relative_log"]),
                _num(e.get("p_value_log")),
            ]
            for e in scores["pairwise"]
        ]
        out += _md_table(
            ["a", "b", "common", "relative Brier a/b", "p", "relative log a/b", "p"],
            rows,
            right={2, 3, 4, 5, 6},
        )
        out += [
            "",
            PAIRWISE_NOTE,
        ]
    else:
        out.append("Pairwise comparisons need two forecasters with common resolved questions.")
    out += ["", "## Questions", ""]
    rows = []
    for q in _questions(table):
        outcome = (q["outcome"] or "not resolved") + (f" ({q['method']})" if q["method"] else "")
        rows.append(
            [f"**{_m(q['id'])}** {_m(q['text'])}", _m(q["group"])]
            + [
                _m(
                    _forecast_text(
                        q["forecasts"].get(n),
                        fs[n]["questions"].get(q["id"]),
                        fs[n].get("claims", {}).get(q["id"]),
                    )
                )
                for n in names
            ]
            + [_m(outcome), _m(q["evidence"])]
        )
    out += _md_table(["question", "group", *[_m(n) for n in names], "outcome", "evidence"], rows)
    out += [
        "",
        QUESTIONS_NOTE,
        "",
        "## Method",
        "",
        *(f"- **{term}**: {text}" for term, text in METHOD),
    ]
    return "\n".join(out) + "\n"


# --- entry points -------------------------------------------------------------------------------


def render_report(
    table: pd.DataFrame, scores: dict, fmt: str = "html", *, generated_at: datetime | None = None
) -> str:
    """The report as text: `fmt` "html" (one self-contained page) or "md" (Markdown)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    when = (generated_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _html(table, scores, when) if fmt == "html" else _md(table, scores, when)


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
