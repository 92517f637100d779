"""Resolution files: a person's (`DIR/resolutions-manual.yaml`) and resolve's (`OUT/resolutions.yaml`, in
the folder resolve writes into: mazeprobe.registry.resolution.resolved; before it had one, the first run's).

Manual, one entry per question a person resolved:

    resolutions:
      - {question: goal-weirder, outcome: yes, rationale: "...", evidence: "https://...",
         resolver: "name", date: 2026-11-26}

Automatic (written by `mazeprobe resolve`; recognised by its top-level `run` key):

    run: /abs/run/dir
    out: /abs/resolved/dir          # the folder holding this file, the fits and probe results it read
    run_spec_hash: ...
    run_started_at: 2026-...Z
    resolved_at: 2026-...Z
    predictions: predictions
    late: [forecast:F:QID, ...]     # items resolve accepted as late (--allow-late); informational only
    runs: [{run, name, spec_file, spec_hash, network, network_sha256, n_mazes, started_at, ended_at}, ...]
    resolutions:
      - {question, outcome, method: auto, analysis, analysis_hash, model, quantity, rule, numbers,
         evidence, reason}
      - {question, outcome, method: auto, rule: patch-reduce, family, family_hash, threshold,
         sources: {family:NAME: {run, spec_hash, started_at, files: {interventions.parquet: SHA, ...}}},
         numbers, evidence, reason}

Outcomes are yes, no, unresolved or ambiguous; only yes and no are scored. A question may be resolved
once across all the files given together.

Reading a file checks its form only. Whether an auto outcome is true of its run, and whether a manual one
is registered, is checked when it is scored (mazeprobe.registry.resolution.proof and .trust, via
table.forecast_table); lateness is computed from the lock then, never read from `late:`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mazeprobe.registry.items.model import OUTCOMES, Problem, Question, Registry, Resolution
from mazeprobe.registry.items.yamlcheck import (
    DocChecker,
    RegistryError,
    parse_yaml,
    plain,
    sort_problems,
    yes_no,
)
from mazeprobe.registry.rules.fitted import RULE_REGISTRY
from mazeprobe.yamlio import KeyPath, describe_value, suggest

MANUAL_KEYS = {
    "question": "the question id",
    "outcome": "yes, no, unresolved or ambiguous",
    "rationale": "why, in a sentence or two",
    "evidence": "a link or citation to what decided it",
    "resolver": "who resolved it",
    "date": "when, e.g. 2026-11-26",
    "method": "manual (the default in this file)",
    "notes": "free text",
}
MANUAL_REQUIRED = ("question", "outcome", "rationale", "evidence", "resolver", "date")
AUTO_TOP_KEYS = {
    "run": "the run directory",
    "out": "the folder resolve wrote this file, the fits, probe results and pictures into",
    "run_spec_hash": "the run spec's hash",
    "run_started_at": "when the run began (UTC)",
    "resolved_at": "when resolve ran (UTC)",
    "predictions": "the predictions directory",
    "runs": "every run (and fine-tuned checkpoint) read: spec name and hash, network, mazes, dates",
    "late": "items registered after the first evidence, accepted with --allow-late (informational)",
    "resolutions": "the list of resolutions",
}
AUTO_KEYS = {
    "question": "the question id",
    "outcome": "yes, no, unresolved or ambiguous",
    "method": "auto",
    "analysis": "the analysis plan name",
    "analysis_hash": "the analysis plan's hash",
    "model": "the model in the plan",
    "quantity": "the quantity the rule read",
    "rule": "the rule name",
    "threshold": "the rule's threshold",
    "rules": "the sub-rules of all-of / any-of",
    "sources": "what a model-editing rule read: per source its run, spec hash, start and files' sha256",
    **{k: v for rule in RULE_REGISTRY.values() for k, v in rule.keys.items()},
    "picture": "a picture of the chosen edit (a path in the folder `out`, else beside this file)",
    "picture_caption": "what the picture shows",
    "picture_error": "why no picture could be drawn",
    "numbers": "the numbers the rule used",
    "evidence": "one readable line with those numbers",
    "reason": "why it is unresolved, if it is",
}
AUTO_REQUIRED = ("question", "outcome", "method")
LATE_ITEM = re.compile(r"forecast:[^:\s]+:[^:\s]+|question:[^:\s]+")
RUN_KEYS = ("run", "out", "run_spec_hash", "run_started_at", "resolved_at", "runs")


def check_resolution_file(
    path: Path, questions: Mapping[str, Question] | None = None
) -> tuple[list[Resolution], list[Problem]]:
    """The resolutions in one file and its problems. With `questions`, also: the question exists, and a
    manual resolution is for a manual question (an auto question is decided by its registered rule)."""
    placed, problems = _check_file(path, questions)
    return [r for r, _ in placed], problems


def placed_resolutions(
    path: Path, questions: Mapping[str, Question] | None = None
) -> tuple[list[tuple[Resolution, int]], list[Problem]]:
    """check_resolution_file, with each resolution's column (where a problem about it is placed)."""
    return _check_file(path, questions)


def _check_file(
    path: Path, questions: Mapping[str, Question] | None
) -> tuple[list[tuple[Resolution, int]], list[Problem]]:
    problems: list[Problem] = []
    doc = parse_yaml(Path(path), problems)
    if doc is None:
        return [], problems
    c = DocChecker(doc, problems)
    auto = isinstance(doc.data, dict) and "run" in doc.data
    if auto:
        top = c.mapping(doc.data, (), AUTO_TOP_KEYS, ("run", "resolutions"))
    else:
        top = c.mapping(doc.data, (), {"resolutions": "the list of resolutions"}, ("resolutions",))
    late = _late(c, top.get("late")) if auto else ()
    run = {k: plain(top.get(k)) for k in RUN_KEYS} if auto else None
    entries = top.get("resolutions")
    if entries is None:
        entries = []
    elif not isinstance(entries, list):
        c.fail(("resolutions",), f"must be a list of resolutions; got {describe_value(entries)}")
        entries = []
    out: list[tuple[Resolution, int]] = []
    for i, raw in enumerate(entries):
        res = _entry(c, raw, ("resolutions", i), auto, questions, late, run)
        if res is not None:
            out.append((res, c.pos(("resolutions", i))[1]))
    return out, problems


def _late(c: DocChecker, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        c.fail(("late",), f"must be a list of forecast item ids; got {describe_value(value)}")
        return ()
    for i, item in enumerate(value):
        if not isinstance(item, str) or not LATE_ITEM.fullmatch(item):
            c.fail(
                ("late", i),
                f"must be an item id like forecast:F:QID or question:QID; got {describe_value(item)}",
            )
    return tuple(v for v in value if isinstance(v, str))


def _entry(
    c: DocChecker,
    raw: Any,
    kp: KeyPath,
    auto: bool,
    questions: Mapping[str, Question] | None,
    late: tuple[str, ...],
    run: dict | None = None,
) -> Resolution | None:
    n = len(c.problems)
    e = c.mapping(raw, kp, AUTO_KEYS if auto else MANUAL_KEYS, AUTO_REQUIRED if auto else MANUAL_REQUIRED)
    if not e:
        return None
    qid = e.get("question")
    if "question" in e and not isinstance(qid, str):
        c.fail((*kp, "question"), f"must be a question id; got {describe_value(qid)}")
    outcome = _outcome(c, e, kp)
    method = e.get("method", "auto" if auto else "manual")
    if "method" in e and method != ("auto" if auto else "manual"):
        expected = "auto in a file written by resolve" if auto else "manual in a manual resolution file"
        c.fail((*kp, "method"), f"must be {expected}; got {describe_value(method)}")
    if auto:  # resolve may leave these empty or null (an unresolved rule has no evidence)
        for key in ("evidence", "reason"):
            if e.get(key) is not None and not isinstance(e[key], str):
                c.fail((*kp, key), f"must be a string; got {describe_value(e[key])}")
    else:
        for key in ("rationale", "evidence", "resolver"):
            if key in e:
                c.text(e[key], (*kp, key))
    if not auto and "date" in e:
        c.when(e["date"], (*kp, "date"))
    numbers = e.get("numbers") or {}
    if not isinstance(numbers, dict):
        c.fail((*kp, "numbers"), f"must be a mapping of names to numbers; got {describe_value(numbers)}")
    if isinstance(qid, str) and questions is not None:
        question = questions.get(qid)
        if question is None:
            c.fail((*kp, "question"), f"unknown question {qid!r}{suggest(qid, questions)}")
        elif question.resolution.get("method") != method:
            c.fail(
                (*kp, "question"),
                f"question {qid!r} is resolved by method {question.resolution.get('method')}, "
                f"not {method}: its resolution criteria were registered in advance",
            )
    if len(c.problems) > n:
        return None
    line, _ = c.pos(kp)
    return Resolution(
        question=qid,
        outcome=outcome,
        method=method,
        evidence=str(e.get("evidence") or ""),
        rationale=e.get("rationale"),
        numbers=plain(numbers) if isinstance(numbers, dict) else {},
        file=c.doc.path,
        line=line,
        raw=e,
        late=tuple(item for item in late if item.endswith(f":{qid}")),
        run=run,
    )


def _outcome(c: DocChecker, e: dict, kp: KeyPath) -> str | None:
    if "outcome" not in e:
        return None
    value = e["outcome"]
    outcome = yes_no(value) if isinstance(value, bool) else value
    if outcome not in OUTCOMES:
        c.fail((*kp, "outcome"), f"must be one of {', '.join(OUTCOMES)}; got {describe_value(value)}")
        return None
    return outcome


def load_resolutions(
    paths: Iterable[str | os.PathLike] | str | os.PathLike, registry: Registry | None = None
) -> list[Resolution]:
    """Every resolution in the files, validated together (a question resolved in two files is a
    problem); with `registry`, each must name one of its questions with the matching method.
    RegistryError lists every problem."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    questions = registry.questions if registry is not None else None
    problems: list[Problem] = []
    out: list[Resolution] = []
    seen: dict[str, Resolution] = {}
    for path in paths:
        placed, found = _check_file(Path(path), questions)
        problems.extend(found)
        for r, col in placed:
            if r.question in seen:
                first = seen[r.question]
                problems.append(
                    Problem(
                        r.file,
                        r.line,
                        col,
                        f"question {r.question!r} is resolved twice (first at {first.file}:{first.line})",
                    )
                )
                continue
            seen[r.question] = r
            out.append(r)
    if problems:
        raise RegistryError(sort_problems(problems))
    return out
