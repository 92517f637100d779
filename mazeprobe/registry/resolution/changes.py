"""Outcomes that changed because the rules changed: re-resolving in the open.

When the meaning of the rules changes after results exist (mazeprobe.registry.rules.base.RULES_VERSION),
resolving again appends new resolution events and leaves the old ones in the lock. For each question
resolved now, its earlier events on the same evidence (the same run spec, the same kinds of sources) under
an older version of the rules are compared with the current outcome: each one that differs is listed, with
both outcomes, when each was decided, and why (what that version of the rules changed, and the current
outcome's reason).
"""

from __future__ import annotations

from collections.abc import Iterable

from mazeprobe.provenance import utc_stamp
from mazeprobe.registry.items.model import Resolution
from mazeprobe.registry.items.trust import Ledger
from mazeprobe.registry.rules.base import RULES_CHANGES, RULES_VERSION
from mazeprobe.registry.rules.fitted import RULE_REGISTRY


def _evidence_of(content: dict) -> tuple:
    """What an event was decided on: the question as registered then (its criteria), its run spec (a
    deterministic design: the same spec gives the same tables) and which sources it read."""
    return content.get("question_sha256"), content.get("spec_hash"), sorted(content.get("sources") or {})


def changed_outcomes(ledger: Ledger, resolutions: Iterable[Resolution]) -> list[dict]:
    """One entry per automatic outcome that a change of the rules changed: {question, before, before_rules,
    before_resolved_at, after, after_rules, after_resolved_at, why}. `before`: the latest outcome, on the
    same evidence, that differs from the current one; `after_rules`: the first version of the rules that
    gave the current outcome after it, and `why` what the versions in between changed."""
    out = []
    for r in resolutions:
        if r.method != "auto":
            continue
        events = ledger.events(r.question)
        current = [e for e in events if e.content.get("outcome") == r.outcome
                   and e.content.get("rules_version", 1) == RULES_VERSION]  # fmt: skip
        if not current:
            continue
        now = current[-1]
        same = [e for e in events if _evidence_of(e.content) == _evidence_of(now.content)]
        latest: dict[int, object] = {}  # version -> its latest event on this evidence
        for e in same:
            latest[e.content.get("rules_version", 1)] = e
        versions = sorted(latest)
        differ = [v for v in versions if v < RULES_VERSION and latest[v].content.get("outcome") != r.outcome]
        if not differ:
            continue
        version = differ[-1]
        first = next(v for v in versions if v > version)  # the first version that gave the current outcome
        before, after = latest[version], latest[first]
        changes = "; ".join(RULES_CHANGES[v] for v in range(version + 1, first + 1))
        why = changes + (f". Now: {r.raw.get('reason')}" if r.raw.get("reason") else "")
        out.append(
            {
                "question": r.question,
                "before": before.content.get("outcome"),
                "before_rules": version,
                "before_resolved_at": utc_stamp(before.registered_at),
                "after": r.outcome,
                "after_rules": first,
                "after_resolved_at": utc_stamp(after.registered_at),
                "why": why,
            }
        )
    return out


def superseded_outcomes(ledger: Ledger, questions: Iterable) -> list[dict]:
    """For each question whose criteria were amended, the outcome its earlier criteria had reached (the
    latest resolution event under them): {question, outcome, evidence, resolved_at, criteria}. Those
    outcomes stay in the lock; scores use the current criteria."""
    from mazeprobe.registry.items.model import item_id_question

    out = []
    for q in questions:
        lines = [e for e in ledger.entries if e.item == item_id_question(q.id)]
        if len(lines) < 2:
            continue
        criteria = {e.sha256: e.content.get("resolution") for e in lines}
        now = lines[-1].sha256
        old = [e for e in ledger.events(q.id) if e.content.get("question_sha256") not in (None, now)]
        if not old:
            continue
        last = old[-1]
        sha = last.content.get("question_sha256")
        out.append(
            {
                "question": q.id,
                "outcome": last.content.get("outcome"),
                "evidence": last.content.get("evidence") or "(not recorded: resolved before events kept it)",
                "resolved_at": utc_stamp(last.registered_at),
                "criteria": criteria.get(sha),
            }
        )
    return out


def candidates(resolutions: Iterable[Resolution]) -> list[dict]:
    """Every candidate a model-editing rule chose among (its selection half's table), once per family of
    edits and choice rule, with the edit each question chose: {rule, family, guards, selection, chosen}."""
    groups: dict[tuple, dict] = {}
    for r in resolutions:
        rule = r.raw.get("rule")
        spec = RULE_REGISTRY.get(rule) if isinstance(rule, str) else None
        if r.method != "auto" or spec is None or not spec.chooses_edit:
            continue
        numbers = r.numbers or {}
        selection = numbers.get("selection") or {}
        if not selection:
            continue
        guards = tuple(numbers.get("guards") or ())
        key = (rule, r.raw.get("family"), guards, r.raw.get("split_seed", 0))
        group = groups.setdefault(
            key, {"rule": rule, "family": r.raw.get("family"), "guards": list(guards), "selection": selection,
                  "chosen": {}},  # fmt: skip
        )
        group["chosen"][r.question] = numbers.get("chosen")
    return list(groups.values())
