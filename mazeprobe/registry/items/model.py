"""The registry's plain data: questions, forecasts, resolutions, and the problems validation finds.

Every record keeps the file and line it came from (so later errors can point at it) and its raw parsed
mapping (the registered content is hashed from it). Yes/no fields hold the strings "yes" / "no" even
where YAML 1.1 read an unquoted `yes` as a boolean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mazeprobe.registry.rules.base import METHODS as METHODS  # owned by the rule catalogue; read here too

OUTCOMES = ("yes", "no", "unresolved", "ambiguous")
"""What a resolution can say; only yes and no are scored."""



def item_id_question(qid: str) -> str:
    """The registered item id of a question: `question:QID`."""
    return f"question:{qid}"


def item_id_forecast(forecaster: str, qid: str) -> str:
    """The registered item id of one forecaster's forecast on one question: `forecast:F:QID`."""
    return f"forecast:{forecaster}:{qid}"


def item_id_resolution(qid: str) -> str:
    """The lock item of a resolution event that `resolve` appends: `resolution:QID` (one line per run that
    resolved the question; never a file's content)."""
    return f"resolution:{qid}"


SUBJECT_ITEM = "subject"
"""The registered item id of a predictions directory's subject network."""


def item_id_evidence(design: str) -> str:
    """The lock item of an evidence event: `evidence:DESIGN`, appended when the registry is shown a run (or a
    fine-tuned checkpoint) of a design, DESIGN being `spec:SPEC_HASH`, `family:FAMILY_HASH` or
    `checkpoint:SHA256` (mazeprobe.registry.resolution.designs). It dates every question later resolved from
    that design, whichever directory the run is in."""
    return f"evidence:{design}"


def item_id_manual(qid: str) -> str:
    """The registered item id of a person's resolution in resolutions-manual.yaml: `resolution-manual:QID`."""
    return f"resolution-manual:{qid}"


def parse_item_id(item: str) -> tuple[str, str, str | None]:
    """(kind, question id, forecaster or None) of an item id; kind is question, forecast, resolution,
    resolution-manual, evidence (its "question id" is then the design) or subject (no question id)."""
    kind, _, rest = item.partition(":")
    if kind == "forecast":
        forecaster, _, qid = rest.partition(":")
        return kind, qid, forecaster
    return kind, rest, None


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    source: str
    group: str | None
    """A mutually exclusive set: one forecaster's probabilities over all its members sum to 1."""
    resolution: dict
    """The raw `resolution:` mapping (method, analysis, model, quantity, rule, threshold, rules ...)."""
    expected: str | None
    """"yes" / "no" for a directional claim stated in the question, else None."""
    file: Path
    line: int
    raw: dict


@dataclass(frozen=True)
class Forecast:
    forecaster: str
    question: str
    probability: float | None
    """In (0, 1); None for a directional claim."""
    claim: str | None
    """"yes" / "no" for a directional claim (recorded and resolved, not scored); None with a probability."""
    note: str | None
    made_at: str | None
    """ISO date (or date-time) the forecast was made: the entry's own `made_at`, else the file's."""
    source: str | None
    file: Path
    line: int
    raw: dict
    content: dict | None = None
    """What is registered for it (load.forecast_content: the entry with its file's forecaster, source and
    made_at); None for a Forecast built by hand, whose content is then rebuilt from the fields."""


@dataclass(frozen=True)
class Resolution:
    question: str
    outcome: str
    """One of OUTCOMES."""
    method: str
    """One of METHODS."""
    evidence: str
    """Auto: one readable line with the numbers that decided it. Manual: a link or citation."""
    rationale: str | None
    """Manual: why the resolver decided so. Auto: None."""
    numbers: dict
    file: Path
    line: int
    raw: dict
    late: tuple[str, ...] = ()
    """Item ids of this question that resolve accepted as late (--allow-late). Informational only: the
    table computes lateness from the lock, never from a file."""
    run: dict | None = None
    """Auto: the file's run, run_spec_hash, run_started_at and resolved_at (what the proof checks)."""


@dataclass(frozen=True)
class Subject:
    """The network a predictions directory's questions are about (`subject:` at the top of questions.yaml).
    An outcome is on the subject when the network it was measured on has this sha256, and on a stand-in
    otherwise (also while the sha256 is unknown)."""

    name: str
    sha256: str | None
    """Lower-case hex; None while unknown to whoever registered it (set later with register --amend)."""
    trained: str | None
    fingerprint: dict
    """Its published behaviour: measure name (mazeprobe fingerprint's names) -> value, or None."""
    source: str | None
    file: Path
    line: int
    raw: dict

    def to_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "trained": self.trained,
                "fingerprint": dict(self.fingerprint), "source": self.source}  # fmt: skip


@dataclass(frozen=True)
class Registry:
    root: Path
    questions: dict[str, Question]
    forecasts: list[Forecast]
    subject: Subject | None = None


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"
