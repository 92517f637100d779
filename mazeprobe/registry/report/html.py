"""The report as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched.

Every piece of text is escaped; user text (names, question texts, evidence) with quotes escaped too, as it
always was. Evidence links stay text, not links, so opening the page never contacts anything.
"""

from __future__ import annotations

import html
import re

from mazeprobe.display import esc
from mazeprobe.registry.report.parts import Badge, Cell, Column, Figure, Report, Row, Section

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
td small, th small { display: block; color: var(--muted); font-size: 0.82em; font-weight: 400; }
code, .qid { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.88em; }
.qid { font-weight: 600; display: block; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 0.8em; font-weight: 600;
  white-space: nowrap; }
.yes { color: var(--yes); background: var(--yes-bg); }
.no { color: var(--no); background: var(--no-bg); }
.unresolved, .ambiguous, .pending { color: var(--muted); background: var(--panel);
  border: 1px solid var(--line); }
.anecdotal, .late, .unregistered, .standin { color: var(--warn); background: var(--warn-bg); }
.amended { color: var(--muted); background: var(--panel); border: 1px dashed var(--line); }
figure.picture { max-width: 100%; }
figure.picture img { display: block; max-width: 100%; height: auto; image-rendering: pixelated; }
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


def _prose(text: str) -> str:
    """Our own prose: escaped as page text (apostrophes in "a's" need no escaping outside attributes)."""
    return html.escape(text, quote=False)


# What a column's values are -> the class of its cells; headers, and cells with no entry, carry only the
# alignment.
_TD_CLASS = {
    "num": "num",
    "forecast": "num forecast",
    "question": "question",
    "outcome": "outcome",
    "evidence": "evidence",
}


def _class(name: str) -> str:
    return f' class="{name}"' if name else ""


def _align(col: Column) -> str:
    return _class("num" if col.kind in ("num", "forecast") else "")


def _badge(b: Badge) -> str:
    # tones are the model's own names (anecdotal, late, an outcome), never user text: safe as a class
    return f' <span class="badge {b.tone}">{esc(b.text)}</span>'


def _th(col: Column) -> str:
    detail = f"<small>{esc(col.detail)}</small>" if col.detail else ""
    return f"<th{_align(col)}>{esc(col.header)}{detail}</th>"


def _td(cell: Cell | None, col: Column) -> str:
    if cell is None:
        return f"<td{_align(col)}></td>"
    parts = [f'<span class="qid">{esc(cell.lead)}</span>'] if cell.lead else []
    if cell.draw is not None:
        parts.append(cell.draw())
    elif cell.tone:
        parts.append(f'<span class="badge {cell.tone}">{esc(cell.text)}</span>')
    elif cell.strong:
        parts.append(f"<strong>{esc(cell.text)}</strong>")
    else:
        parts.append(esc(cell.text))
    if cell.aside:
        parts.append(f' <span class="small">({esc(cell.aside)})</span>')
    parts += [_badge(b) for b in cell.badges]
    # a column that names its detail stacks one in every row, empty or not, so the rows line up
    if cell.detail or col.detail:
        parts.append(f"<small>{esc(cell.detail)}</small>")
    return f"<td{_class(_TD_CLASS.get(col.kind, ''))}>{''.join(parts)}</td>"


def _table(columns: tuple[Column, ...], rows: tuple[Row, ...]) -> list[str]:
    head = "".join(_th(c) for c in columns)
    out = [f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>']
    out += ["<tr>" + "".join(_td(c, col) for c, col in zip(r, columns, strict=True)) + "</tr>" for r in rows]
    out.append("</tbody></table></div>")
    return out


def _figure(fig: Figure) -> list[str]:
    if fig.image:  # a picture: as wide as the page allows, with its caption lines
        lines = "<br>".join(_prose(line) for line in fig.caption if line)
        return [f'<figure class="picture"><h3>{esc(fig.title)}</h3><img src="{esc(fig.image)}" '
                f'alt="{esc(fig.title)}"><figcaption>{lines}</figcaption></figure>']  # fmt: skip
    out = [f"<figure><h3>{esc(fig.title)}</h3>"]
    if fig.draw is None:
        return out + [f'<p class="small">{_prose(fig.empty)}</p></figure>']
    lines = [_prose(line) for line in fig.caption] or [""]
    lines[0] += "".join(_badge(b) for b in fig.badges)
    return out + [fig.draw(), f"<figcaption>{'<br>'.join(lines)}</figcaption></figure>"]


def _section(s: Section) -> list[str]:
    out = [f"<h2>{_prose(s.title)}</h2>"]
    if s.is_empty:
        return out + [f'<p class="note">{_prose(s.empty)}</p>']
    if s.figures or s.legend:
        out.append('<div class="figures">')
        for fig in s.figures:
            out += _figure(fig)
        out.append("</div>")
        if s.legend:
            out.append(
                '<p class="note legend">' + "".join(f"<span>{_prose(x)}</span>" for x in s.legend) + "</p>"
            )
    if s.columns:
        out += _table(s.columns, s.rows)
    if s.definitions:
        out.append('<dl class="method">')
        out += [f"<dt>{_prose(term)}</dt><dd>{_prose(text)}</dd>" for term, text in s.definitions]
        out.append("</dl>")
    if s.note:
        out.append(f'<p class="note">{_prose(s.note)}</p>')
    return out


REPORT_CLASS = "mazeprobe-report"


def scope_css(css: str, scope: str = f".{REPORT_CLASS}") -> str:
    """The page's style confined to the element `scope` selects: the page's root and body rules apply to
    that element, every other selector only inside it. For a notebook, whose own page must keep its look.
    Handles the style above: plain rules and @media blocks of plain rules."""

    def rules(text: str) -> str:
        out = []
        for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
            scoped = []
            for sel in (x.strip() for x in selectors.split(",")):
                scoped.append(scope if sel in (":root", "body") else f"{scope} {sel}")
            out.append(f"{', '.join(scoped)} {{{body}}}")
        return "\n".join(out)

    parts, rest = [], css
    while (at := rest.find("@media")) >= 0:
        parts.append(rules(rest[:at]))
        open_at = rest.index("{", at)
        depth, i = 1, open_at + 1
        while depth:  # the block's end: the brace that closes the one after the query
            depth += {"{": 1, "}": -1}.get(rest[i], 0)
            i += 1
        parts.append(f"{rest[at:open_at].strip()} {{\n{rules(rest[open_at + 1 : i - 1])}\n}}")
        rest = rest[i:]
    parts.append(rules(rest))
    return "\n".join(p for p in parts if p)


def _content(report: Report) -> list[str]:
    body = [f"<h1>{_prose(report.title)}</h1>", f'<p class="meta">{_prose(report.meta)}</p>']
    for s in report.sections:
        body += _section(s)
    return body


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_prose(report.title)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        *_content(report),
    ]
    body.append("</main></body></html>")
    return "\n".join(body) + "\n"


def render_fragment(report: Report) -> str:
    """The same content as the page, to place inside another page (a notebook's output): one element
    holding its own style, scoped to it (scope_css), so neither page restyles the other."""
    body = [f'<div class="{REPORT_CLASS}"><style>{scope_css(_CSS)}</style><main>', *_content(report)]
    body.append("</main></div>")
    return "\n".join(body) + "\n"
