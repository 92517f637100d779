"""What the calibration report says, built once: a title, a meta line and a list of sections, from the tidy
forecast table (question texts, outcomes, evidence) and the dict from scoring.score_table (every number).

html.py and markdown.py only decide how each kind of content looks; every number, cell and explanatory
note is written here, once, so the two formats cannot drift apart. A new section (the runs a report
resolved against, forecasts not yet registered, ...) is one builder function added to SECTIONS.

What a section can hold, in the order renderers show it:
- figures: each a drawing (SVG) with a caption, and the drawn numbers as a table for renderers that
  cannot draw (Markdown);
- a table: columns and rows of cells (a cell may carry its own small drawing);
- definitions: (term, text) pairs;
- a note under all of it. `empty` replaces body and note when the section has nothing to show.

Text here is plain (unescaped); each renderer escapes it for its format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial

import pandas as pd

from mazeprobe.registry.report import boards, editing, provenance
from mazeprobe.registry.report.boards import ANECDOTAL, anecdotal, groups, order
from mazeprobe.registry.report.parts import Badge, Cell, Column, Figure, Report, Section
from mazeprobe.registry.report.provenance import amended_badge
from mazeprobe.registry.report.svg import reliability_svg
from mazeprobe.registry.scoring.metrics import CORP, METRICS
from mazeprobe.registry.scoring.scores import ANECDOTAL_BELOW

TITLE = "Forecast calibration report"
__all__ = ["ANECDOTAL", "SECTIONS", "TITLE", "build_report"]

# --- the explanatory notes: each text once, shown by every renderer ------------------------------

# The reliability section shows pictures in HTML and their numbers in Markdown: the legend keys the
# drawing, RELIABILITY_DATA_NOTE the table that stands in for it.
RELIABILITY_DATA_NOTE = (
    "At each distinct forecast value: how many forecasts, the observed frequency of yes, the "
    "recalibrated probability (CEP, isotonic fit with ties pooled) and the consistency band under "
    "perfect calibration."
)
NO_RELIABILITY = "No resolved probability forecasts yet."
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
NO_PAIRWISE = "Pairwise comparisons need two forecasters with common resolved questions."
QUESTIONS_NOTE = (
    "late: the forecast was registered after the first evidence for its question existed (the earliest run "
    "of its design the registry was shown, an earlier resolution, or a manual resolution's date), read from "
    "the registry lock; scored apart, not ranked. rule amended late: the question's rule was registered "
    "(or amended) after the first evidence of the design it reads. stand-in: the outcome was measured on a "
    "network that is not the subject. unregistered: not in the registry lock as it is (scored apart, not "
    "ranked). Evidence links are shown as text."
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


# --- the view of the table and the scores -------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _cell(value: object) -> str:
    """A table value as text; NaN/None become ""."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


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
            # a missing value (None/NaN) is not late; bool(NaN) would say it is
            "late": _true(row.get("late")),
            "rule_late": _true(row.get("rule_late")),
            "unregistered": _true(row.get("unregistered")),
        }
        q["rule_late"] = q.get("rule_late") or _true(row.get("rule_late"))
        q["on_subject"] = row.get("on_subject") if isinstance(row.get("on_subject"), bool) else None
    return list(out.values())


def _true(value: object) -> bool:
    # a missing value (None/NaN) is not a flag; bool(NaN) would say it is
    return bool(_cell(value)) and bool(value)


# --- section builders: (table, scores) -> Section, or None to leave the section out --------------

Builder = Callable[[pd.DataFrame, dict], Section | Sequence[Section] | None]


def _reliability_figure(name: str, f: dict) -> Figure:
    rel = f.get("reliability")
    if not rel:
        return Figure(name, None, empty=NO_RELIABILITY)
    columns = (
        Column("forecast", "num"),
        Column("n", "num"),
        Column("observed", "num"),
        Column("CEP", "num"),
        Column(f"{rel['level']:.0%} band"),
        Column(""),
    )
    rows = tuple(
        (
            Cell(f"{x:.2f}"),
            Cell(str(n)),
            Cell(f"{o:.3f}"),
            Cell(f"{c:.3f}"),
            Cell(f"[{lo:.3f}, {hi:.3f}]"),
            # the tolerance keeps a CEP that sits on the band's edge from reading as outside
            Cell("outside" if c < lo - 1e-12 or c > hi + 1e-12 else ""),
        )
        for x, n, o, c, lo, hi in zip(
            rel["x"],
            rel["counts"],
            rel["observed"],
            rel["cep"],
            rel["band_low"],
            rel["band_high"],
            strict=True,
        )
    )
    caption = (
        f"{f['n_resolved']} resolved forecasts at {len(rel['x'])} distinct values.",
        f"Brier {_num(f['brier'])} = MCB {_num(f['brier_mcb'])} − DSC {_num(f['brier_dsc'])} "
        f"+ UNC {_num(f['brier_unc'])}",
    )
    return Figure(
        name,
        partial(reliability_svg, name, rel),
        columns,
        rows,
        caption=caption,
        badges=anecdotal(f["anecdotal"]),
    )


def _label(name: str, group: str) -> str:
    return f"{name} · {group}" if group else name


def reliability(table: pd.DataFrame, scores: dict) -> Section:
    # every ranked group (the subject's, each stand-in's), labelled: a stand-in's calibration is its own
    figures = tuple(
        _reliability_figure(_label(name, group), fs[name])
        for group, fs in groups(scores)
        for name in order(fs)
        if not group or fs[name].get("n_resolved")
    )
    level = next(
        (f["reliability"]["level"] for _, fs in groups(scores) for f in fs.values() if f.get("reliability")),
        0.9,
    )
    legend = (
        "— blue step curve: CORP recalibrated probability (isotonic fit of the outcomes on the forecasts, "
        "tied forecasts pooled)",
        "● points: distinct forecast values, area ∝ count",
        "grey bars: how many forecasts at each value",
        "dashed: perfect calibration",
        f"shaded: {level:.0%} consistency band (where the curve falls if the forecasts were calibrated)",
    )
    return Section(
        "Reliability diagrams (CORP)",
        figures=figures,
        legend=legend,
        data_title="Reliability (CORP)",
        data_note=RELIABILITY_DATA_NOTE,
    )


def decomposition(table: pd.DataFrame, scores: dict) -> Section:
    rows = tuple(
        (
            Cell(_label(name, group)),
            Cell(m.row_label),
            Cell(_num(fs[name][m.mean_key])),
            *(Cell(_num(fs[name][f"{m.name}_{part}"])) for part in m.decomposition),
        )
        for group, fs in groups(scores)
        for name in order(fs)
        if not group or fs[name].get("n_resolved")
        for m in METRICS.values()
        if m.decomposition == CORP  # the table's columns are CORP's parts
    )
    columns = (
        Column("forecaster"),
        Column("score"),
        Column("value", "num"),
        Column("MCB (miscalibration)", "num", short="MCB"),
        Column("DSC (discrimination)", "num", short="DSC"),
        Column("UNC (uncertainty)", "num", short="UNC"),
    )
    return Section("Score decomposition", columns, rows, note=DECOMPOSITION_NOTE)


def pairwise(table: pd.DataFrame, scores: dict) -> Section:
    rows = tuple(
        (
            Cell(e["a"]),
            Cell(e["b"]),
            Cell(str(e["n_common"]), badges=anecdotal(bool(e.get("anecdotal")), "anecdotal")),
            *(c for m in METRICS.values()
              for c in (Cell(_num(e[f"relative_{m.name}"])), Cell(_num(e.get(m.p_key))))),  # fmt: skip
        )
        for e in scores["pairwise"]
    )
    columns = (
        Column("a"),
        Column("b"),
        Column("common questions", "num", short="common"),
        *(c for m in METRICS.values()
          for c in (Column(f"relative {m.label} a/b", "num"), Column("p", "num"))),  # fmt: skip
    )
    return Section("Pairwise skill", columns, rows, note=PAIRWISE_NOTE, empty=NO_PAIRWISE)


def _forecast_cell(f: dict | None, scored: dict | None, claim: dict | None) -> Cell | None:
    """The probability (with its Brier score once resolved) or the claim (with whether it was right). A
    forecast has one or the other, so at most one detail."""
    if f is None:
        return None
    text = f"{f['probability']:.2f}" if f["probability"] is not None else f"claim: {f['claim'] or '?'}"
    detail = f"Brier {scored['brier']:.3f}" if scored else ""
    if claim and claim["correct"] is not None:
        detail = "correct" if claim["correct"] else "wrong"
    badges = ((Badge("late", "late"),) if f["late"] else ()) + (
        (Badge("unregistered", "unregistered"),) if f.get("unregistered") else ()
    )
    return Cell(text, badges=badges, detail=detail)


def _question_badges(table: pd.DataFrame, q: dict) -> tuple[Badge, ...]:
    late = (Badge("rule amended late", "late"),) if q.get("rule_late") else ()
    return amended_badge(table, q["id"]) + late


def _outcome_badges(q: dict) -> tuple[Badge, ...]:
    return (Badge("stand-in", "standin"),) if q.get("on_subject") is False else ()


def _outcome_tone(outcome: str) -> str:
    return outcome if outcome in ("yes", "no", "unresolved", "ambiguous") else "pending"


def _scored(scores: dict, name: str, f: dict | None, qid: str) -> dict:
    """The score entry a forecast's numbers are in: the group it was scored in (ranked on the subject, on
    a stand-in, late or unregistered)."""
    parts = [scores.get("unregistered", {}), scores.get("late", {}), scores["forecasters"]]
    parts += [net["forecasters"] for net in scores.get("networks", [])]
    for part in parts:
        entry = part.get(name)
        if entry and (qid in entry["questions"] or qid in entry.get("claims", {})):
            return entry
    return {"questions": {}, "claims": {}}


def questions(table: pd.DataFrame, scores: dict) -> Section:
    # ranked forecasters first, best first; then those scored only on stand-ins, late or unregistered
    names = order(scores["forecasters"])
    for _, fs in groups(scores)[1:] + [("", scores.get("late", {})), ("", scores.get("unregistered", {}))]:
        names += [n for n in order(fs) if n not in names]

    def cell(q: dict, name: str) -> Cell | None:
        f = q["forecasts"].get(name)
        entry = _scored(scores, name, f, q["id"])
        return _forecast_cell(f, entry["questions"].get(q["id"]), entry.get("claims", {}).get(q["id"]))

    rows = tuple(
        (
            Cell(q["text"], lead=q["id"], badges=_question_badges(table, q)),
            Cell(q["group"]),
            *(cell(q, n) for n in names),
            Cell(
                q["outcome"] or "not resolved",
                tone=_outcome_tone(q["outcome"]),
                aside=q["method"],
                badges=_outcome_badges(q) if q["outcome"] else (),
            ),
            Cell(q["evidence"]),
        )
        for q in _questions(table)
    )
    columns = (
        Column("question", "question"),
        Column("group"),
        *(Column(n, "forecast") for n in names),
        Column("outcome", "outcome"),
        Column("evidence", "evidence"),
    )
    return Section("Questions", columns, rows, note=QUESTIONS_NOTE)


def method(table: pd.DataFrame, scores: dict) -> Section:
    return Section("Method", definitions=METHOD)


SECTIONS: tuple[Builder, ...] = (
    boards.studied,
    provenance.resolved_against,
    boards.subject,
    boards.leaderboard,
    boards.stand_in_boards,
    reliability,
    decomposition,
    pairwise,
    boards.late,
    boards.unregistered,
    provenance.changed,
    questions,
    provenance.pictures,
    editing.candidates,
    provenance.amendments,
    editing.superseded,
    provenance.steps,
    method,
)


def build_report(
    table: pd.DataFrame,
    scores: dict,
    *,
    generated_at: datetime | None = None,
    builders: Sequence[Builder] = SECTIONS,
) -> Report:
    """The report's content, in the order of `builders`; a builder returns one section, several (one per
    stand-in network), or None to leave its section out."""
    when = (generated_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta = (
        f"Generated {when} by mazeprobe · {table['forecaster'].nunique()} forecaster(s) · "
        f"{scores['n_questions']} question(s), {scores.get('n_resolved_questions', 0)} resolved · "
        f"{len(table)} forecast(s) · seed {scores['seed']}, {scores.get('n_boot', '?')} bootstrap resamples, "
        f"{scores.get('n_perm', '?')} permutations"
    )
    head = table.attrs.get("lock_head")
    if head:  # the chain these scores trusted: compare it with the head its owners published
        meta += f" · registry lock head {head}"
    built = [build(table, scores) for build in builders]
    sections = tuple(s for b in built for s in ((b,) if isinstance(b, Section) else b or ()))
    return Report(TITLE, meta, sections)
