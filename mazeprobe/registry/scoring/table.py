"""The registry as tables: one tidy row per forecast with its outcome (for scoring and reports), counting
only what the lock vouches for, and the readable listing of `mazeprobe predictions list`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from mazeprobe.provenance import utc_stamp
from mazeprobe.registry.items.load import manual_content, scan
from mazeprobe.registry.items.lock import LOCK_NAME, lock_head, read_lock, status
from mazeprobe.registry.items.model import (
    Forecast,
    Problem,
    Question,
    Registry,
    Resolution,
    item_id_forecast,
    item_id_manual,
    item_id_question,
    item_id_resolution,
)
from mazeprobe.registry.items.trust import (
    Evidence,
    Ledger,
    day_start,
    earliest,
    forecast_ref,
    item_problems,
    question_ref,
    refuse,
)
from mazeprobe.registry.items.yamlcheck import RegistryError
from mazeprobe.registry.resolution.changes import candidates, changed_outcomes, superseded_outcomes
from mazeprobe.registry.resolution.proof import prove

TABLE_COLUMNS = (
    "forecaster",
    "question",
    "probability",
    "claim",
    "outcome",
    "y",
    "late",
    "rule_late",
    "unregistered",
    "network",
    "network_sha256",
    "on_subject",
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
    if reason and r.evidence and reason in r.evidence:
        reason = None  # an unresolved rule's evidence already says why
    return "; ".join(s for s in (r.evidence, reason or "") if s)


def forecast_table(
    registry: Registry, resolutions: Iterable[Resolution], *, include_unregistered: bool = False
) -> pd.DataFrame:
    """One row per forecast (columns TABLE_COLUMNS). `y` is 1.0 / 0.0 for a yes / no outcome, NaN
    otherwise; `probability` is NaN for a directional claim.

    Only what the lock of `registry.root` vouches for is counted (mazeprobe.registry.items.trust): the lock
    must verify; every forecast, its question and a manual resolution must be registered as they are now;
    an automatic resolution must prove itself on its run and have its resolution event (proof.prove). One
    IntegrityError names every item that fails. With `include_unregistered`, unregistered and edited
    items (and auto resolutions without an event) are kept with `unregistered` True, for scoring apart;
    a damaged lock or a resolution its run does not reproduce is refused all the same. `late` is computed
    from the lock (mazeprobe.registry.items.trust): the forecast was registered after the first evidence for
    its question; `rule_late`: its question's rule was registered (or amended) after the first evidence of the
    design it is resolved from. `network` and `network_sha256`: the network the outcome was measured on,
    read from the runs the proof re-read; `on_subject`: whether that is the registry's subject network
    (None without a subject, or without an outcome). RegistryError when a resolution names a question the
    registry does not have."""
    by_question: dict[str, Resolution] = {}
    unknown: list[Problem] = []
    for r in resolutions:
        if r.question not in registry.questions:
            unknown.append(Problem(r.file, r.line, 1, f"resolution for unknown question {r.question!r}"))
        by_question[r.question] = r
    if unknown:
        raise RegistryError(unknown, header=f"resolutions do not match the registry in {registry.root}:")
    ledger = Ledger.load(registry.root)
    proof = prove(list(by_question.values()), registry.questions, ledger)
    by_question = {r.question: r for r in proof.resolutions}
    asked = {f.question for f in registry.forecasts}
    untrusted = item_problems(
        ledger, [q for q in registry.questions.values() if q.id in asked], registry.forecasts
    )
    for r in by_question.values():
        if r.method == "manual":
            found = ledger.problem(item_id_manual(r.question), manual_content(r.raw), r.file, r.line)
            if found is not None:
                untrusted[item_id_manual(r.question)] = found
    untrusted |= {item_id_resolution(q): p for q, p in proof.unregistered.items()}
    refuse(proof.refused + ([] if include_unregistered else list(untrusted.values())), "nothing scored")
    # a question's rule is dated by the designs it was read from; a forecast also by any earlier resolution
    rule_evidence: dict[str, Evidence | None] = {}
    for q in registry.questions:
        r = by_question.get(q)
        found = ledger.design_evidence(proof.designs.get(q, []))
        if r is not None and r.method == "manual":
            found = earliest(found, ledger.first_evidence(q))
        rule_evidence[q] = earliest(found, proof.evidence.get(q))
    for q, r in by_question.items():
        if r.method == "manual" and item_id_manual(q) in untrusted:  # an unregistered date still counts
            dated = day_start(r.raw.get("date"))
            if dated is not None:
                found = Evidence(dated, f"manual resolution dated {r.raw.get('date')} (unregistered)")
                rule_evidence[q] = earliest(rule_evidence[q], found)
    evidence = {q: (earliest(ledger.first_evidence(q), rule_evidence[q]), rule_evidence[q])
                for q in registry.questions}  # fmt: skip
    subject = registry.subject
    rows = [
        _row(f, registry, by_question.get(f.question), ledger, evidence, untrusted, _network(
            by_question.get(f.question), proof.networks, subject))
        for f in registry.forecasts
    ]
    dtypes = {"probability": float, "y": float, "late": bool, "rule_late": bool, "unregistered": bool}
    # object columns keep None as None (pandas 3 would turn a str column's None into NaN)
    table = pd.DataFrame(
        {c: pd.Series([r[c] for r in rows], dtype=dtypes.get(c, object)) for c in TABLE_COLUMNS}
    )
    table.attrs["lock_head"] = lock_head(registry.root)  # what the report names: the chain it trusted
    auto = [r for r in by_question.values() if r.method == "auto" and r.run]
    table.attrs["runs"] = _runs(auto)
    table.attrs["pictures"] = {
        r.question: {
            # in the folder resolve wrote into (a copy of the file elsewhere still finds it); a file from
            # before resolve had a folder of its own sits beside its pictures
            "path": str(Path(str((r.run or {}).get("out") or Path(r.file).parent)) / str(r.raw["picture"])),
            "caption": r.raw.get("picture_caption", ""),
        }
        for r in auto
        if r.raw.get("picture")
    }
    table.attrs["amendments"] = amendments(ledger, registry.questions)
    table.attrs["subject"] = subject.to_dict() if subject is not None else None
    table.attrs["changed"] = changed_outcomes(ledger, by_question.values())
    table.attrs["superseded"] = superseded_outcomes(ledger, registry.questions.values())
    table.attrs["candidates"] = candidates(by_question.values())
    table.attrs["fingerprints"] = _fingerprints(proof.networks.values())
    return table


def _fingerprints(networks: Iterable[dict]) -> dict[str, dict]:
    """network sha256 -> the fingerprint saved beside its checkpoint (`mazeprobe fingerprint --save`),
    for each network an outcome was measured on that has one of those very bytes."""
    from mazeprobe.agents.fingerprint import read_fingerprint

    out: dict[str, dict] = {}
    for net in networks:
        sha, path = net.get("network_sha256"), net.get("network")
        if sha and sha not in out and path and Path(str(path)).suffix == ".pth" and Path(str(path)).is_file():
            found = read_fingerprint(str(path))
            if found is not None and found.get("sha256") == sha:
                out[sha] = found
    return out


def _network(r: Resolution | None, networks: Mapping[str, dict], subject) -> dict:
    """network, network_sha256 and on_subject of a forecast's outcome (see forecast_table)."""
    if r is None:
        return {"network": None, "network_sha256": None, "on_subject": None}
    if r.method == "manual":  # a person may say which network the evidence was about
        net = {"network": r.raw.get("network"), "network_sha256": r.raw.get("network_sha256")}
    else:
        net = dict(networks.get(r.question) or {"network": None, "network_sha256": None})
    on = None if subject is None else bool(subject.sha256 and net["network_sha256"] == subject.sha256)
    return net | {"on_subject": on}


def _runs(resolutions: list[Resolution]) -> list[dict]:
    """Every run and checkpoint the automatic resolutions read (the `runs` their files list), once each."""
    out: dict[str, dict] = {}
    for r in resolutions:
        info = r.run or {}
        listed = info.get("runs") or [{"run": info.get("run"), "spec_hash": info.get("run_spec_hash"),
                                       "started_at": info.get("run_started_at")}]  # fmt: skip
        for run in listed:
            if isinstance(run, dict):
                out.setdefault(str(run.get("run") or run.get("checkpoint")), run)
    return list(out.values())


def amendments(ledger: Ledger, questions: Mapping[str, Question]) -> dict[str, dict]:
    """Question id -> {first_registered, amended_at, amendments_at, before, after} for each question whose
    registered resolution criteria changed after its first registration (the lock keeps every line):
    amended_at is the first change, amendments_at every change, so a reader can compare each with the runs."""
    out = {}
    for qid in questions:
        lines = [e for e in ledger.entries if e.item == item_id_question(qid)]
        if len(lines) < 2 or lines[0].content.get("resolution") == lines[-1].content.get("resolution"):
            continue
        pairs = zip(lines, lines[1:], strict=False)
        changes = [b for a, b in pairs if b.content.get("resolution") != a.content.get("resolution")]
        out[qid] = {
            "first_registered": utc_stamp(lines[0].registered_at),
            "amended_at": utc_stamp(changes[0].registered_at),
            "amendments_at": [utc_stamp(e.registered_at) for e in changes],
            "before": lines[0].content.get("resolution"),
            "after": lines[-1].content.get("resolution"),
        }
    return out


def _row(
    f: Forecast,
    registry: Registry,
    r: Resolution | None,
    ledger: Ledger,
    evidence: dict[str, tuple[Evidence | None, Evidence | None]],
    untrusted: dict[str, Problem],
    network: dict,
) -> dict:
    q = registry.questions[f.question]
    outcome = r.outcome if r is not None else None
    q_item, q_content, _, _ = question_ref(q)
    f_item, f_content, _, _ = forecast_ref(f)
    resolution_items = (item_id_manual(f.question), item_id_resolution(f.question))
    unregistered = any(i in untrusted for i in (q_item, f_item)) or (
        r is not None and any(i in untrusted for i in resolution_items)
    )
    forecast_ev, rule_ev = evidence.get(f.question, (None, None))
    rule_late = bool(ledger.late(q_item, q_content, rule_ev))
    late = bool(ledger.late(f_item, f_content, forecast_ev))
    return {
        "forecaster": f.forecaster,
        "question": f.question,
        "probability": f.probability if f.probability is not None else math.nan,
        "claim": f.claim,
        "outcome": outcome,
        "y": {"yes": 1.0, "no": 0.0}.get(outcome, math.nan),
        "late": late,
        "rule_late": rule_late,
        "unregistered": unregistered,
        **network,
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
