"""The registry as tables: one tidy row per forecast with its outcome (for scoring and reports), and the
readable listing of `mazeprobe predictions list`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mazeprobe.registry.load import scan
from mazeprobe.registry.lock import LOCK_NAME, read_lock, status
from mazeprobe.registry.model import (
    Forecast,
    Problem,
    Registry,
    Resolution,
    item_id_forecast,
    item_id_question,
)
from mazeprobe.registry.yamlcheck import RegistryError

TABLE_COLUMNS = (
    "forecaster",
    "question",
    "probability",
    "claim",
    "outcome",
    "y",
    "late",
    "evidence",
    "method",
    "group",
    "text",
)


def _evidence(r: Resolution) -> str:
    """What decided it: the auto rule's numbers line (and why it stayed unresolved), or the manual
    rationale with its evidence link."""
    if r.method == "manual":
        return " — ".join(s for s in (r.rationale or "", r.evidence) if s)
    reason = r.raw.get("reason") if r.outcome not in ("yes", "no") else None
    return "; ".join(s for s in (r.evidence, reason or "") if s)


def forecast_table(registry: Registry, resolutions: Iterable[Resolution]) -> pd.DataFrame:
    """One row per forecast (columns TABLE_COLUMNS). `y` is 1.0 / 0.0 for a yes / no outcome, NaN
    otherwise; `probability` is NaN for a directional claim. RegistryError when a resolution names a
    question the registry does not have."""
    by_question: dict[str, Resolution] = {}
    unknown: list[Problem] = []
    for r in resolutions:
        if r.question not in registry.questions:
            unknown.append(Problem(r.file, r.line, 1, f"resolution for unknown question {r.question!r}"))
        by_question[r.question] = r
    if unknown:
        raise RegistryError(unknown, header=f"resolutions do not match the registry in {registry.root}:")
    rows = [_row(f, registry, by_question.get(f.question)) for f in registry.forecasts]
    dtypes = {"probability": float, "y": float, "late": bool}
    # object columns keep None as None (pandas 3 would turn a str column's None into NaN)
    return pd.DataFrame(
        {c: pd.Series([r[c] for r in rows], dtype=dtypes.get(c, object)) for c in TABLE_COLUMNS}
    )


def _row(f: Forecast, registry: Registry, r: Resolution | None) -> dict:
    q = registry.questions[f.question]
    outcome = r.outcome if r is not None else None
    return {
        "forecaster": f.forecaster,
        "question": f.question,
        "probability": f.probability if f.probability is not None else math.nan,
        "claim": f.claim,
        "outcome": outcome,
        "y": {"yes": 1.0, "no": 0.0}.get(outcome, math.nan),
        "late": r is not None and item_id_forecast(f.forecaster, f.question) in r.late,
        "evidence": _evidence(r) if r is not None else "",
        "method": r.method if r is not None else None,
        "group": q.group,
        "text": q.text,
    }


# --- `predictions list` ------------------------------------------------------------------------------

_MARK = {"registered": "", "edited": "!", "new": "+"}


def listing(root: str | Path, analysis_dir: str | Path | None = None, text_width: int = 48) -> str:
    """Questions (id, group, method, registration), each forecaster's probability or claim, and the text;
    a `+` marks an unregistered forecast and a `!` one edited since registration."""
    root = Path(root)
    current = scan(root, analysis_dir)
    entries, lock_problems = read_lock(root)
    state = status(current, entries)
    forecasters = sorted({f.forecaster for f in current.forecasts})
    cell: dict[tuple[str, str], str] = {}
    for f in current.forecasts:
        value = f"{f.probability:.2f}" if f.probability is not None else f"claim:{f.claim}"
        cell[(f.question, f.forecaster)] = value + _MARK[state[item_id_forecast(f.forecaster, f.question)][0]]
    header = ["question", "group", "method", "registered", *forecasters, "text"]
    rows = []
    for q in current.questions.values():
        kind, when = state[item_id_question(q.id)]
        reg = {"new": "no", "edited": "EDITED"}.get(kind, when.strftime("%Y-%m-%d") if when else "")
        text = q.text if len(q.text) <= text_width else q.text[: text_width - 3] + "..."
        row = [q.id, q.group or "-", q.resolution.get("method", "?"), reg]
        rows.append(row + [cell.get((q.id, name), "-") for name in forecasters] + [text])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join(f"{v:<{w}}" for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in [header, *rows]
    ]
    counts = {k: sum(1 for s, _ in state.values() if s == k) for k in _MARK}
    lines.append("")
    lines.append(
        f"{len(current.questions)} questions, {len(current.forecasts)} forecasts by {len(forecasters)} "
        f"forecaster(s); items registered: {counts['registered']}, not registered (+): {counts['new']}, "
        f"edited since registration (!): {counts['edited']}"
    )
    problems = current.all_problems() + lock_problems
    if problems:
        lines.append(
            f"{len(problems)} problem(s) (an item with a problem may be missing above): run "
            f"`mazeprobe predictions validate {root}`"
            + (f" and `verify` ({LOCK_NAME} is damaged)" if lock_problems else "")
        )
    return "\n".join(lines)
