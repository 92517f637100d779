"""What a notebook shows for a fit: `fit_plan(...)` at the end of a cell.

The plan's formula and sample, then each model under the head line its summary text prints, with its
table: the intercept and one row per feature (a logit's coefficient, standard error, interval, p and odds
ratio; a cross-validated model's mean coefficients; ...), and the model's warnings. The same numbers as
`summary.txt`, laid out as tables.
"""

from __future__ import annotations

from mazeprobe.display import esc, facts_html, is_missing, note_html, table_html, view_html
from mazeprobe.stats.kinds import KIND_REGISTRY
from mazeprobe.stats.modelfits import ModelResult

# the columns people read first, in the order of the summary text; a model's other columns follow
_FIRST = ("coef", "se", "ci_low", "ci_high", "p", "odds_ratio")


def _headers(m: ModelResult, columns: list[str]) -> list[str]:
    """The table's column names as people read them: an interval's ends named by their level."""
    alpha = m.stats.get("alpha")
    level = f"{round(100 * (1 - alpha))}%" if isinstance(alpha, (int, float)) else "CI"
    names = {"ci_low": f"{level} low", "ci_high": f"{level} high", "odds_ratio": "odds ratio",
             "or_ci_low": f"odds ratio {level} low", "or_ci_high": f"odds ratio {level} high"}  # fmt: skip
    return [names.get(c, c.replace("_", " ")) for c in columns]


def _number(column: str, value: object) -> str:
    """As the summary text writes it: three decimals, p below 0.001 as "<0.001"."""
    if is_missing(value):
        return "–"
    v = float(value)
    if column == "p" and v < 0.001:
        return "<0.001"
    return f"{v:.3f}" if abs(v) >= 0.001 or v == 0 else f"{v:.2e}"


def model_html(key: str, m: ModelResult) -> str:
    """One model: its summary's head line, its table (intercept first when it has one), its warnings.
    A feature left out as aliased (a linear combination of others) says so in place of its numbers."""
    head = KIND_REGISTRY[m.kind].summary(key, m)[0] if m.kind in KIND_REGISTRY else key
    columns = [c for c in _FIRST if c in m.table.columns]
    columns += [c for c in m.table.columns if c not in columns and c != "aliased"]
    rows = []
    if m.intercept is not None:
        rows.append(["(intercept)", *(_number(c, m.intercept.get(c)) for c in columns)])
    for name, row in m.table.iterrows():
        if bool(row.get("aliased", False)):
            rows.append([name, *(["aliased"] + [""] * (len(columns) - 1) if columns else [])])
        else:
            rows.append([name, *(_number(c, row[c]) for c in columns)])
    headers = ["term", *_headers(m, columns)]
    parts = [f"<p><code>{esc(head)}</code></p>", table_html(headers, rows, numeric=headers[1:])]
    parts += [note_html(f"warning: {w}") for w in m.warnings]
    return "".join(parts)


def fit_html(result) -> str:
    """The fit's display as HTML (`result` is a FitResult)."""
    p = result.plan
    unit = "mazes" if result.outcome_kind == "fraction" else f"rows ({result.n_mazes} mazes)"
    facts = [
        ("plan", p.name),
        ("model", f"{p.outcome} ~ {' + '.join(p.features)}"),
        ("features", "z-scored" if p.standardize else "raw units"),
        ("n", f"{result.n} {unit}"),
        (f"{p.outcome} {'mean' if result.outcome_kind == 'fraction' else 'rate'}", result.outcome_mean),
    ]
    if result.input.get("path"):
        facts.append(("input", result.input["path"]))
    parts = [facts_html(facts)]
    parts += [note_html(f"warning: {w}") for w in result.warnings]
    parts += [model_html(key, m) for key, m in result.models.items()]
    return view_html(f"Fit of plan {p.name}", *parts)
