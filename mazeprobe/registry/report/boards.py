"""The report's score tables, one per group that scoring keeps apart (mazeprobe.registry.scoring): the
leaderboard (timely, registered forecasts on the subject network), one table per stand-in network, late
forecasts and unregistered ones; and the subject with its fingerprint beside each network measured.

A group is (label, forecasters' summaries); the reliability and decomposition sections of model.py draw
every scored group, labelled, so a stand-in's numbers are never read as the subject's.
"""

from __future__ import annotations

import math

import pandas as pd

from mazeprobe.registry.report.parts import Badge, Cell, Column, Section
from mazeprobe.registry.scoring.metrics import METRICS, primary
from mazeprobe.registry.scoring.scores import (
    ANECDOTAL_BELOW,
    BASELINE_BRIER,
    BASELINE_LOG,
    ci_text,
    network_name,
    stand_ins,
)

ANECDOTAL = f"anecdotal: fewer than {ANECDOTAL_BELOW} resolved forecasts"
LEADERBOARD_NOTE = (
    "Lower is better. Brier: mean (p − y)², 0–1; log score: mean −ln P(outcome) in nats. "
    f"Always saying 50% scores {BASELINE_BRIER:.3f} (Brier) and {BASELINE_LOG:.3f} (log); "
    f"skill vs 50% = 1 − Brier / {BASELINE_BRIER:g} (higher is better). MCB/DSC/UNC: CORP decomposition of "
    "the Brier score (Brier = MCB − DSC + UNC). Intervals: percentile bootstrap over questions. "
    "Claims: directional claims (no probability), correct / resolved; not scored. Only timely, registered "
    "forecasts are ranked."
)
SUBJECT_NOTE = (
    "The network the questions are about (questions.yaml `subject:`, registered) and every network an "
    "outcome was measured on. An outcome is on the subject only when its network's sha256 is the "
    "subject's; otherwise it is about a stand-in, and its scores are shown apart from the leaderboard. "
    "Fingerprint: `mazeprobe fingerprint`, on seeded decision-square test mazes (a decision square, the "
    "cheese outside the top-right 5x5), with 95% intervals; the subject's values are the published ones."
)
STAND_IN_NOTE = (
    "These outcomes were measured on {network}, not on the subject ({subject}): they say how well the "
    "forecasts describe this network, which may behave very differently (compare the fingerprints above). "
    "They are never ranked with the leaderboard."
)
LATE_NOTE = (
    "Forecasts registered after the first evidence for their question (the earliest run of its design "
    "the registry was shown, or an earlier resolution), or on a question whose rule was registered or "
    "amended after the first evidence of the design it reads{unless}. Scored apart, never ranked or "
    "compared."
)
UNREGISTERED_NOTE = (
    "Forecasts that are not in the registry lock as they are: never registered, edited since registration, "
    "or on a question or resolution that is not. They were scored because unregistered items were asked "
    "for (--include-unregistered); nothing vouches for when they were made, so they are not ranked and "
    "not compared."
)


def num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def anecdotal(flag: bool, text: str = ANECDOTAL) -> tuple[Badge, ...]:
    return (Badge(text, "anecdotal"),) if flag else ()


def order(forecasters: dict) -> list[str]:
    """Best Brier first; forecasters with nothing scored last, by name."""
    brier = {f: forecasters[f]["brier"] for f in forecasters}
    return sorted(forecasters, key=lambda f: (brier[f] is None, brier[f] or 0.0, f))


def groups(scores: dict) -> list[tuple[str, dict]]:
    """(label, forecasters) of every ranked group: the leaderboard's ("" when the registry has no subject,
    else "on the subject"), then each stand-in network's."""
    main = "on the subject" if scores.get("subject") else ""
    return [(main, scores["forecasters"])] + [
        (f"on stand-in {network_name(net)}", net["forecasters"]) for net in stand_ins(scores)
    ]


def _score_cells(f: dict) -> tuple[Cell, ...]:
    """Each metric's mean with its interval (mazeprobe.registry.scoring.metrics, in its order), the primary
    metric's skill after its own, and the primary's decomposition last."""
    first = primary()
    cells = []
    for m in METRICS.values():
        cells.append(Cell(num(f[m.mean_key]), detail=ci_text(f[f"{m.name}_ci"])))
        if m is first:
            skill = f[f"{m.name}_skill"]
            cells.append(Cell("–" if skill is None else f"{skill:+.1%}"))
    return (*cells, *(Cell(num(f[f"{first.name}_{part}"])) for part in first.decomposition))


def _score_columns() -> tuple[Column, ...]:
    first = primary()
    columns = []
    for m in METRICS.values():
        columns.append(Column(m.column_label, "num", detail="95% CI"))
        if m is first:
            columns.append(Column("skill vs 50%", "num"))
    return (*columns, *(Column(part.upper(), "num") for part in first.decomposition))


def _board(title: str, forecasters: dict, note: str, empty: str = "") -> Section:
    rows = []
    for rank, name in enumerate(order(forecasters), 1):
        f = forecasters[name]
        rows.append(
            (
                Cell(str(rank)),
                Cell(name, strong=True, badges=anecdotal(f["anecdotal"])),
                Cell(str(f["n_resolved"])),
                *_score_cells(f),
                Cell(f"{f['claims_correct']} / {f['n_claims_resolved']}" if f["n_claims"] else "–"),
            )
        )
    columns = (
        Column("#", "num"),
        Column("forecaster"),
        Column("resolved", "num"),
        *_score_columns(),
        Column("claims correct", "num"),
    )
    return Section(title, columns, tuple(rows), note=note, empty=empty)


def leaderboard(table: pd.DataFrame, scores: dict) -> Section:
    subject = scores.get("subject")
    if not subject:
        return _board("Leaderboard", scores["forecasters"], LEADERBOARD_NOTE)
    measured = any(f["n_resolved"] for f in scores["forecasters"].values())
    note = LEADERBOARD_NOTE + (
        ""
        if measured
        else f" No outcome here was measured on the subject ({network_name(subject)}): its "
        "sha256 matches no network a run used. The scores on stand-ins follow."
    )
    return _board(f"Leaderboard: outcomes on the subject, {subject['name']}", scores["forecasters"], note)


def stand_in_boards(table: pd.DataFrame, scores: dict) -> tuple[Section, ...]:
    subject = scores.get("subject") or {}
    return tuple(
        _board(
            f"Scores on a stand-in network: {network_name(net)}",
            net["forecasters"],
            STAND_IN_NOTE.format(network=network_name(net), subject=subject.get("name", "?")),
        )
        for net in stand_ins(scores)
    )


def _apart(title: str, forecasters: dict, note: str, mark: str) -> Section | None:
    if not forecasters:
        return None
    rows = tuple(
        (
            Cell(name, strong=True, badges=(Badge(mark, mark),) + anecdotal(f["anecdotal"])),
            Cell(str(f["n_resolved"])),
            *(Cell(num(f[m.mean_key]), detail=ci_text(f[f"{m.name}_ci"])) for m in METRICS.values()),
            Cell(f"{f['claims_correct']} / {f['n_claims_resolved']}" if f["n_claims"] else "–"),
        )
        for name, f in sorted(forecasters.items())
    )
    columns = (
        Column("forecaster"),
        Column("resolved", "num"),
        *(Column(m.column_label, "num", detail="95% CI") for m in METRICS.values()),
        Column("claims correct", "num"),
    )
    return Section(title, columns, rows, note=note)


def late(table: pd.DataFrame, scores: dict) -> Section | None:
    """The late forecasts' scores, apart from every ranked table; left out when there are none."""
    unless = " (ranked all the same, and marked, with --allow-late)" if scores.get("allow_late") else ""
    note = LATE_NOTE.format(unless=unless)
    return _apart("Late forecasts (not ranked)", scores.get("late") or {}, note, "late")


def unregistered(table: pd.DataFrame, scores: dict) -> Section | None:
    """The unregistered forecasts' scores, apart from the leaderboard; left out when there are none."""
    forecasters = scores.get("unregistered") or {}
    return _apart("Unregistered forecasts (not ranked)", forecasters, UNREGISTERED_NOTE, "unregistered")


def _measure(m: dict | None) -> str:
    from mazeprobe.agents.fingerprint import format_interval, format_value

    if not m or m.get("value") is None:
        return "–"
    interval = format_interval(m)
    return format_value(m["value"]) + ("" if interval == "-" else f" {interval}")


def subject(table: pd.DataFrame, scores: dict) -> Section | None:
    """The subject (published fingerprint) beside every network an outcome was measured on (measured)."""
    subj = table.attrs.get("subject")
    if not subj:
        return None
    nets = [n for n in scores.get("networks", []) if n.get("network_sha256")]
    measured = table.attrs.get("fingerprints") or {}
    published = subj.get("fingerprint") or {}
    names = list(published) + [k for fp in measured.values() for k in fp.get("measures", ())]
    names = list(dict.fromkeys(names))
    columns = (
        Column("measure"),
        Column(f"subject: {subj['name']} (published)"),
        *(Column(f"{'subject' if n.get('on_subject') else 'stand-in'}: {network_name(n)}") for n in nets),
    )
    rows = tuple(
        (
            Cell(name),
            Cell("not published" if published.get(name) is None else _measure({"value": published[name]})),
            *(
                Cell(_measure((measured.get(n["network_sha256"]) or {}).get("measures", {}).get(name)))
                for n in nets
            ),  # fmt: skip
        )
        for name in names
    )
    sha = subj.get("sha256") or "unknown (no network can be on the subject until it is registered)"
    facts = (
        ("subject", subj["name"]),
        ("sha256", sha),
        ("trained", subj.get("trained") or "–"),
        ("source", subj.get("source") or "–"),
        *((f"network measured: {network_name(n)}", _fingerprint_state(n, measured)) for n in nets),
    )
    title = "The subject and the networks measured"
    return Section(title, columns, rows, definitions=facts, note=SUBJECT_NOTE)


def _fingerprint_state(net: dict, measured: dict) -> str:
    on = "the subject" if net.get("on_subject") else "a stand-in: its outcomes are scored apart"
    fp = measured.get(net["network_sha256"])
    if not fp:
        return f"{on}; no saved fingerprint (mazeprobe fingerprint CHECKPOINT --save)"
    return f"{on}; fingerprint on {fp.get('n_mazes')} mazes (seed {fp.get('seed')})"


STUDIED_NOTE = (
    "Written by `mazeprobe study` (make results CHECKPOINT=...): the shipped behavioural, model-editing and "
    "retargeting designs and the probe run on this network (the registered families: their hashes leave "
    "out the network and the number of mazes), resolved in a scratch copy of the registry. Fingerprint: "
    "`mazeprobe fingerprint` measures, with 95% intervals, beside the subject's published values."
)


def studied(table: pd.DataFrame, scores: dict) -> Section | None:
    """The network a study resolved the questions on (table.attrs["studied"]): its sha256, whether it is
    the subject, and its fingerprint; left out of every other report."""
    from mazeprobe.agents.fingerprint import MEASURES, PUBLISHED_FINGERPRINT

    s = table.attrs.get("studied")
    if not s:
        return None
    measures = (s.get("fingerprint") or {}).get("measures") or {}
    rows = tuple(
        (Cell(name), Cell(_measure(measures.get(name))), Cell(_measure(PUBLISHED_FINGERPRINT.get(name))))
        for name in MEASURES
    )
    columns = (Column("measure"), Column("this network"), Column("published network"))
    subj = s.get("subject") or {}
    if s.get("on_subject"):
        on = f"yes: its sha256 is the registered subject's ({subj.get('name')})"
    elif subj.get("sha256"):
        on = f"no: the registered subject's sha256 is {subj['sha256'][:12]}; these outcomes are a stand-in's"
    else:
        on = (
            "no: the registry names no subject sha256 (set it with `predictions register --amend` in the "
            "predictions directory the study copies); these outcomes are scored as a stand-in's"
        )
    fp = s.get("fingerprint") or {}
    facts = [
        ("checkpoint", str(s["checkpoint"])),
        ("sha256", str(s["sha256"])),
        ("scale", str(s.get("scale", "?"))),
        ("on the subject", on),
        ("fingerprint", f"{s.get('fingerprint_file')} ({fp.get('n_mazes')} mazes, seed {fp.get('seed')})"),
        (
            "sizes",
            "SMALL (--small): a few mazes per design, a test of the flow, not a result"
            if s.get("small")
            else "as shipped (the published-size designs)",
        ),  # fmt: skip
    ]
    if s.get("not_run"):
        facts.append(("not run", ", ".join(s["not_run"]) + ": reads a fine-tuned checkpoint of the network, "
                      "which the study does not train; unresolved here"))  # fmt: skip
    note = STUDIED_NOTE + (" With --small the families' sizes (targets, ranking mazes, steps) are part of "
                           "their hashes: they are not the registered families, and the model-editing and "
                           "retargeting questions stay unresolved." if s.get("small") else "")  # fmt: skip
    title = (
        f"The network studied: {network_name({'network': s['checkpoint'], 'network_sha256': s['sha256']})}"
    )
    return Section(title, columns, rows, definitions=tuple(facts), note=note)
