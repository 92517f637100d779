"""The report's sections on model-editing choices and re-operationalized questions: every candidate edit a
rule chose among (so a reader sees what the choice was made among), and the outcomes that amended
criteria superseded (kept in the lock, shown with their evidence; scores use the current criteria).
They read what forecast_table put in the table's attrs (candidates, superseded)."""

from __future__ import annotations

import math

import pandas as pd
import yaml

from mazeprobe.registry.report.parts import Cell, Column, Section

CANDIDATES_NOTE = (
    "Every edit of a registered family, measured on the selection half of the mazes, and which edit each "
    "question chose there (its outcome is then read on the other half). A drop is relative to the unedited "
    "network on the same mazes (negative: a rise); an edit is eligible for patch-reduce when no guarded "
    "top-right measure drops by more than 25%, for retarget when it changes at most the question's share "
    "of the network's activations."
)
SUPERSEDED_NOTE = (
    "Questions whose criteria were amended after an outcome had been reached under the earlier ones: that "
    "outcome, with its evidence and criteria, stays in the registry lock. Scores use the current criteria "
    "(the Questions table)."
)


def _pct(x: object) -> str:
    return "–" if not isinstance(x, int | float) or not math.isfinite(x) else f"{x:.1%}"


def _day(stamp: object) -> str:
    return str(stamp)[:16].replace("T", " ")


def _criteria(resolution: object) -> str:
    return yaml.safe_dump(resolution, default_flow_style=True, sort_keys=False, width=10**6).strip()


def candidates(table: pd.DataFrame, scores: dict) -> tuple[Section, ...]:
    out = []
    for group in table.attrs.get("candidates") or []:
        selection = group["selection"]
        chosen_by: dict[str, list[str]] = {}
        for q, edit in group["chosen"].items():
            chosen_by.setdefault(str(edit), []).append(q)
        measures = list(dict.fromkeys(k[: -len("_drop")] for v in selection.values() for k in v
                                      if k.endswith("_drop")))  # fmt: skip
        # the rows say what the rule measured: a share of mazes retargeted, or drops of measures
        if any("retargeted_share" in v for v in selection.values()):
            columns = (Column("edit"), Column("edited share of the network", "num"),
                       Column("mazes retargeted (selection half)", "num"), Column("chosen by"))  # fmt: skip
            rows = tuple(
                (Cell(name), Cell(f"{v.get('edited_fraction_network', math.nan):.5%}"),
                 Cell(_pct(v.get("retargeted_share"))), Cell(", ".join(chosen_by.get(name, []))))  # fmt: skip
                for name, v in selection.items()
            )
        else:
            guards = set(group.get("guards") or ())
            columns = (
                Column("edit"),
                Column("edited share of the network", "num"),
                *(Column(f"{m} drop{' (guard)' if m in guards else ''}", "num") for m in measures),
                Column("eligible"),
                Column("chosen by"),
            )
            rows = tuple(
                (
                    Cell(name),
                    Cell(_pct(v.get("edited_fraction_network"))),
                    *(Cell(_pct(v.get(f"{m}_drop"))) for m in measures),
                    Cell("yes" if v.get("eligible") else "no"),
                    Cell(", ".join(chosen_by.get(name, []))),
                )
                for name, v in selection.items()
            )
        guards_said = f", guards {', '.join(group['guards'])}" if group.get("guards") else ""
        title = f"Candidate edits: {group['rule']} over family {group['family']}{guards_said}"
        out.append(Section(title, columns, rows, note=CANDIDATES_NOTE))
    return tuple(out)


def superseded(table: pd.DataFrame, scores: dict) -> Section | None:
    found = table.attrs.get("superseded") or []
    if not found:
        return None
    rows = tuple(
        (
            Cell(s["question"]),
            Cell(str(s["outcome"]), tone=str(s["outcome"]), detail=_day(s["resolved_at"])),
            Cell(_criteria(s["criteria"])),
            Cell(str(s["evidence"])),
        )
        for s in found
    )
    columns = (Column("question"), Column("outcome then", "outcome"), Column("criteria then", "evidence"),
               Column("evidence then", "evidence"))  # fmt: skip
    return Section("Outcomes superseded by amended criteria", columns, rows, note=SUPERSEDED_NOTE)
