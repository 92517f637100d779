"""The CORP reliability diagram as inline SVG: no scripts, no external references, colours as presentation
attributes (the page CSS overrides them for dark mode)."""

from __future__ import annotations

import html
import math

_W, _H = 340, 320
_ML, _MR, _MT, _MB = 50, 14, 14, 46
_PW, _PH = _W - _ML - _MR, _H - _MT - _MB


def _sx(v: float) -> float:
    return round(_ML + v * _PW, 2)


def _sy(v: float) -> float:
    return round(_MT + (1.0 - v) * _PH, 2)


# Colours as presentation attributes, so the figure reads the same in any SVG renderer; the page CSS
# overrides them for dark mode.
_SVG_STYLE = {
    "plot-bg": 'fill="#ffffff" stroke="#d9dde6"',
    "grid": 'stroke="#e3e6ed" stroke-width="0.6"',
    "tick": 'fill="#5d6678" font-size="10"',
    "axis": 'fill="#1d2330" font-size="11.5"',
    "band": 'fill="#c9d7f2" fill-opacity="0.9"',
    "diagonal": 'stroke="#5d6678" stroke-dasharray="4 3" stroke-width="1"',
    "hist": 'fill="#5d6678" fill-opacity="0.45"',
    "cep": 'fill="none" stroke="#2f5fb3" stroke-width="2.2"',
    "point": 'fill="#2f5fb3" fill-opacity="0.85" stroke="#ffffff" stroke-width="1"',
}


def _c(name: str) -> str:
    return f'class="{name}" {_SVG_STYLE[name]}'


def reliability_svg(name: str, rel: dict) -> str:
    """A CORP reliability diagram as inline SVG: diagonal, consistency band, CEP step curve, points sized
    by how many forecasts share the value, and a histogram of the forecasts along the bottom."""
    x, cep, counts = rel["x"], rel["cep"], rel["counts"]
    low, high = rel["band_low"], rel["band_high"]
    parts = [
        f'<svg class="reliability" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="reliability diagram for {html.escape(name)}">',
        f"<title>Reliability diagram: {html.escape(name)}</title>",
        f'<rect {_c("plot-bg")} x="{_ML}" y="{_MT}" width="{_PW}" height="{_PH}"/>',
    ]
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line {_c("grid")} x1="{_sx(t)}" y1="{_sy(0)}" x2="{_sx(t)}" y2="{_sy(1)}"/>')
        parts.append(f'<line {_c("grid")} x1="{_sx(0)}" y1="{_sy(t)}" x2="{_sx(1)}" y2="{_sy(t)}"/>')
        parts.append(f'<text {_c("tick")} x="{_sx(t)}" y="{_sy(0) + 15}" text-anchor="middle">{t:g}</text>')
        parts.append(f'<text {_c("tick")} x="{_ML - 6}" y="{_sy(t) + 4}" text-anchor="end">{t:g}</text>')
    # consistency band: pointwise quantiles at each distinct forecast value (a sliver when only one)
    if len(x) == 1:
        pts = [(x[0] - 0.01, high[0]), (x[0] + 0.01, high[0]), (x[0] + 0.01, low[0]), (x[0] - 0.01, low[0])]
    else:
        pts = list(zip(x, high, strict=True)) + list(zip(reversed(x), reversed(low), strict=True))
    poly = " ".join(f"{_sx(a)},{_sy(b)}" for a, b in pts)
    parts.append(
        f'<polygon {_c("band")} points="{poly}"><title>{rel["level"]:.0%} consistency band</title></polygon>'
    )
    parts.append(f'<line {_c("diagonal")} x1="{_sx(0)}" y1="{_sy(0)}" x2="{_sx(1)}" y2="{_sy(1)}"/>')
    # histogram of forecasts: bars up to 18% of the plot height
    top = max(counts)
    bar_w = max(2.0, min(10.0, _PW / 60))
    for v, c in zip(x, counts, strict=True):
        h = round(0.18 * _PH * c / top, 2)
        parts.append(
            f'<rect {_c("hist")} x="{round(_sx(v) - bar_w / 2, 2)}" y="{round(_sy(0) - h, 2)}" '
            f'width="{bar_w}" height="{h}"><title>{c} forecast(s) at {v:.2f}</title></rect>'
        )
    # CEP step curve: the isotonic fit is constant between distinct forecast values
    path = [f"M{_sx(x[0])},{_sy(cep[0])}"]
    for i in range(1, len(x)):
        path.append(f"H{_sx(x[i])}V{_sy(cep[i])}")
    parts.append(f'<path {_c("cep")} d="{"".join(path)}"/>')
    for v, c, n in zip(x, cep, counts, strict=True):
        r = round(2.0 + 1.6 * math.sqrt(n), 2)
        parts.append(
            f'<circle {_c("point")} cx="{_sx(v)}" cy="{_sy(c)}" r="{r}">'
            f"<title>forecast {v:.2f}: {n} forecast(s), CEP {c:.2f}</title></circle>"
        )
    parts.append(
        f'<text {_c("axis")} x="{_ML + _PW / 2}" y="{_H - 8}" text-anchor="middle">'
        "forecast probability</text>"
    )
    parts.append(
        f'<text {_c("axis")} transform="translate(14 {_MT + _PH / 2}) rotate(-90)" text-anchor="middle">'
        "conditional event probability</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
