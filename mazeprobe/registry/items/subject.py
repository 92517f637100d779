"""The subject of a predictions directory: the network its questions are about, declared at the top of
questions.yaml and registered like a question.

    subject:
      name: maze_I/model_rand_region_5.pth (Turner et al. 2023)
      sha256: null          # known to whoever holds the file; set by `register --amend`
      trained: PPO, about 80M steps, IMPALA scale 4, cheese in the top-right 5x5
      fingerprint: {median_p_cheese_at_dsq: 0.81, got_cheese_dsq_test: 0.714, ...}   # published values
      source: "..."

An automatic outcome is on the subject when the network it was measured on has the subject's sha256, and
on a stand-in otherwise (also while the sha256 is unknown); score and report never mix the two. The
fingerprint's measures are those `mazeprobe fingerprint` measures, so a stand-in's measured fingerprint is
shown beside the subject's published one.
"""

from __future__ import annotations

import re
from typing import Any

from mazeprobe.agents.fingerprint import MEASURES
from mazeprobe.registry.items.model import Subject
from mazeprobe.registry.items.yamlcheck import DocChecker, plain
from mazeprobe.yamlio import KeyPath, describe_value, suggest

SUBJECT_KEYS = {
    "name": "the network's name, e.g. maze_I/model_rand_region_5.pth (Turner et al. 2023)",
    "sha256": "the checkpoint's sha256, or null while unknown (set later with register --amend)",
    "trained": "how it was trained, in words",
    "fingerprint": "its published behaviour: {measure: value or null} (mazeprobe fingerprint's measures)",
    "source": "where the fingerprint's values are published",
    "notes": "free text",
}
SHA256 = re.compile(r"[0-9a-f]{64}")
FINGERPRINT_MEASURES = tuple(MEASURES)
"""The measures a subject's fingerprint may give: those `mazeprobe fingerprint` measures."""


def check_subject(c: DocChecker, raw: Any) -> tuple[dict, Subject | None] | None:
    """The subject's registered content and, when it has no problem, the Subject (problems go to `c`);
    None when `raw` is not a mapping at all."""
    kp: KeyPath = ("subject",)
    n = len(c.problems)
    e = c.mapping(raw, kp, SUBJECT_KEYS, ("name",))
    if not e:
        return None
    name = c.text(e.get("name"), (*kp, "name")) if "name" in e else None
    sha = e.get("sha256")
    if sha is not None and not (isinstance(sha, str) and SHA256.fullmatch(sha)):
        c.fail((*kp, "sha256"), f"must be null or 64 lower-case hex digits; got {describe_value(sha)}")
    for key in ("trained", "source", "notes"):
        if e.get(key) is not None:
            c.text(e[key], (*kp, key))
    fingerprint = e.get("fingerprint") or {}
    if not isinstance(fingerprint, dict):
        why = f"must be a mapping of measures to values; got {describe_value(fingerprint)}"
        c.fail((*kp, "fingerprint"), why)
        fingerprint = {}
    for key, value in fingerprint.items():
        fkp = (*kp, "fingerprint", key)
        if key not in FINGERPRINT_MEASURES:
            known = ", ".join(FINGERPRINT_MEASURES)
            c.fail(fkp, f"unknown measure{suggest(str(key), FINGERPRINT_MEASURES)}; known: {known}")
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                    or not 0 <= value <= 1):  # fmt: skip
            c.fail(fkp, f"must be a number in [0, 1] or null (not published); got {describe_value(value)}")
    content = plain(e)
    if len(c.problems) > n or not name:
        return content, None
    subject = Subject(name, sha, e.get("trained"), plain(fingerprint), e.get("source"), c.doc.path,
                      c.pos(kp)[0], content)  # fmt: skip
    return content, subject
