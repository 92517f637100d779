"""The report's sections on what the outcomes were resolved against: the runs and checkpoints read, a
picture of each model-editing outcome, the questions operationalized by amendment (old and new
criteria), and how long each step of the job took. They read what forecast_table put in the table's
attrs (runs, pictures, amendments) and, when the caller gives one, a step log (mazeprobe.steplog)."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
import yaml

from mazeprobe.registry.report.parts import Badge, Cell, Column, Figure, Section

RUNS_NOTE = (
    "Every run the automatic outcomes were read from (spec name and the hash of its spec; plans are "
    "fitted on the first run, a model-editing question reads the run of its registered family of edits) "
    "and every fine-tuned checkpoint, with the network each used (sha256) and the dates. Spec hashes and "
    "sha256 are shortened to 12 hex digits."
)
NO_RUNS = "No automatic outcome was given (only manual resolutions, or none)."
PICTURES_NOTE = (
    "One picture per model-editing outcome whose rule chose an edit, drawn from the family's run with the "
    "edit as the run applied it."
)
AMENDMENTS_NOTE = (
    "Questions whose resolution criteria were changed after they were first registered (`predictions "
    "register --amend`), with the criteria first registered and those in force now, and the time of every "
    "amendment (compare them with the runs' start times above: an amendment registered before the first run "
    "of the design it names is timely). The lock keeps every line; an outcome read with amended criteria "
    "says so beside the question."
)
CHANGED_NOTE = (
    "Outcomes that changed because the meaning of the resolution rules changed after results existed, on "
    "the same evidence (the same runs and files). The lock keeps the earlier resolution events; the "
    "thresholds, families and plans of the questions did not change. Scores use the current outcomes."
)
STEPS_NOTE = (
    "Each step's time is the wall time of its attempts up to its first success (a resumed step adds the "
    "time its interrupted attempt had spent); later re-runs of a finished step are listed as attempts. "
    "An attempt killed with its machine has no end: its step's time is then marked as at least that long."
)


def _short(value: object) -> str:
    return str(value)[:12] if value else "–"


def _day(stamp: object) -> str:
    return str(stamp)[:16].replace("T", " ") if stamp else "–"


def resolved_against(table: pd.DataFrame, scores: dict) -> Section | None:
    runs = table.attrs.get("runs") or []
    if "runs" not in table.attrs:
        return None
    rows = []
    for r in runs:
        if r.get("checkpoint"):
            rows.append((Cell(Path(str(r["checkpoint"])).name, lead="fine-tuned checkpoint"), Cell("–"),
                         Cell(str(r["checkpoint"]), detail=f"sha256 {_short(r.get('network_sha256'))}"),
                         Cell("–"), Cell(_checkpoint_dates(r))))  # fmt: skip
            continue
        network = str(r.get("network") or "–")
        rows.append(
            (
                Cell(str(r.get("name")), lead=str(r.get("spec_file") or "")),
                Cell(_short(r.get("spec_hash"))),
                Cell(Path(network).name, detail=f"sha256 {_short(r.get('network_sha256'))}"),
                Cell(f"{r['n_mazes']:,}" if isinstance(r.get("n_mazes"), int) else "–"),
                Cell(f"{_day(r.get('started_at'))} to {_day(r.get('ended_at'))} UTC"),
            )
        )
    columns = (
        Column("run", "question"),
        Column("spec hash"),
        Column("network", detail="sha256"),
        Column("mazes", "num"),
        Column("dates"),
    )
    return Section("Resolved against", columns, tuple(rows), note=RUNS_NOTE, empty=NO_RUNS)


def _checkpoint_dates(r: dict) -> str:
    """When a fine-tuned checkpoint's training began and, where it records it, its evaluation."""
    if r.get("trained_at") and r.get("trained_at") != r.get("started_at"):
        return f"training began {_day(r['trained_at'])}; evaluated {_day(r.get('started_at'))}"
    return f"training began {_day(r.get('started_at'))}"


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def pictures(table: pd.DataFrame, scores: dict) -> Section | None:
    found = table.attrs.get("pictures") or {}
    if not found:
        return None
    outcomes = table.drop_duplicates("question").set_index("question")
    shared: dict[str, list[str]] = {}  # questions sharing one picture (patch-reduce-50 ... -99) show it once
    for qid, pic in found.items():
        if Path(pic["path"]).is_file():
            shared.setdefault(str(pic["path"]), []).append(qid)
    figures = []
    for path, qids in shared.items():
        said = [(q, str(outcomes.loc[q, "outcome"]) if q in outcomes.index else "?") for q in qids]
        evidence = [str(outcomes.loc[q, "evidence"]) for q in qids if q in outcomes.index]
        figures.append(
            Figure(
                ", ".join(f"{q}: {o}" for q, o in said),
                None,
                columns=(Column("question"), Column("evidence")),
                rows=tuple((Cell(q), Cell(e)) for (q, _), e in zip(said, evidence, strict=False)),
                caption=(found[qids[0]].get("caption", ""), *dict.fromkeys(evidence)),
                image=_data_uri(Path(path)),
            )
        )
    return (
        Section("Model-editing outcomes in pictures", figures=tuple(figures), note=PICTURES_NOTE)
        if figures
        else None
    )


def _criteria(resolution: object) -> str:
    return yaml.safe_dump(resolution, default_flow_style=True, sort_keys=False, width=10**6).strip()


def amendments(table: pd.DataFrame, scores: dict) -> Section | None:
    found = table.attrs.get("amendments") or {}
    if not found:
        return None
    rows = tuple(
        (
            Cell(qid, lead=""),
            Cell(_day(a["first_registered"])[:10]),
            Cell(", ".join(_day(t) for t in a.get("amendments_at") or [a["amended_at"]]) + " UTC"),
            Cell(_criteria(a["before"])),
            Cell(_criteria(a["after"])),
        )
        for qid, a in found.items()
    )
    columns = (
        Column("question"),
        Column("registered"),
        Column("amended"),
        Column("criteria before", "evidence"),
        Column("criteria after", "evidence"),
    )
    return Section("Questions operationalized by amendment", columns, rows, note=AMENDMENTS_NOTE)


def amended_badge(table: pd.DataFrame, qid: str) -> tuple[Badge, ...]:
    """The badge beside a question whose criteria were amended after registration."""
    a = (table.attrs.get("amendments") or {}).get(qid)
    if not a:
        return ()
    last = (a.get("amendments_at") or [a["amended_at"]])[-1]
    return (Badge(f"operationalized by amendment on {_day(last)[:10]}", "amended"),)


def changed(table: pd.DataFrame, scores: dict) -> Section | None:
    found = table.attrs.get("changed") or []
    if not found:
        return None
    rows = tuple(
        (
            Cell(c["question"]),
            Cell(str(c["before"]), tone=str(c["before"]), aside=f"rules v{c['before_rules']}",
                 detail=_day(c["before_resolved_at"])),
            Cell(str(c["after"]), tone=str(c["after"]), aside=f"rules v{c['after_rules']}",
                 detail=_day(c["after_resolved_at"])),
            Cell(c["why"]),
        )  # fmt: skip
        for c in found
    )
    columns = (Column("question"), Column("before", "outcome"), Column("now", "outcome"),
               Column("why", "evidence"))  # fmt: skip
    return Section("Outcomes changed by a change of the rules", columns, rows, note=CHANGED_NOTE)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def steps(table: pd.DataFrame, scores: dict) -> Section | None:
    log = table.attrs.get("steps")
    if not log:
        return None
    rows = []
    for s in log.get("steps", []):
        attempts = s.get("attempts") or []
        first = attempts[0]["started_at"] if attempts else None
        rows.append(
            (
                Cell(str(s["step"]), detail=str(s.get("command", ""))),
                Cell(
                    ("≥ " if s.get("seconds_is_lower_bound") else "") + _duration(float(s.get("seconds", 0)))
                ),
                Cell(str(len(attempts)), aside="" if s.get("succeeded") else "not finished"),
                Cell(_day(first)),
            )
        )
    total = sum(float(s.get("seconds", 0)) for s in log.get("steps", []))
    bound = "≥ " if any(s.get("seconds_is_lower_bound") for s in log.get("steps", [])) else ""
    rows.append((Cell("total", strong=True), Cell(bound + _duration(total), strong=True), None, None))
    columns = (Column("step", detail="command"), Column("time", "num"), Column("attempts", "num"),
               Column("began (UTC)"))  # fmt: skip
    return Section(
        f"How these results were made: {log.get('machine', '?')}", columns, tuple(rows), note=STEPS_NOTE
    )
