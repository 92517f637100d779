"""What resolve, score and report may trust: the lock, verified, read as a ledger.

    ledger = Ledger.load(root)                 # IntegrityError when the lock is damaged or rewritten
    ledger.problem(item, content, file, line)  # None when the item is registered as it is now
    ledger.first_evidence(qid)                 # when results about the question first existed

An item counts only when its current content hashes to its latest registration. Lateness is measured
against the first evidence, read from the lock alone, and keyed by design as well as by question:

- a question's events: every resolution event's run start (bounded above by the event's own registration,
  so a manifest's `started_at` edited later cannot move it) and every registered manual resolution's date
  (bounded by its registration);
- a design's events (`ledger.design_evidence`): the earliest start of any run of that design (spec hash,
  family hash, fine-tuned checkpoint) the registry was ever shown: evidence events, which resolve appends
  before it decides anything (also when it then refuses) and fit/probe append when given --predictions,
  and the spec hashes of resolution events.

A forecast is late when registered after the earliest of its question's events and the first evidence of
the designs its question is resolved from now; a question (its rule) is late when registered after the
first evidence of the designs it reads now, so an amendment that names a new design, registered before
that design's first run, is timely. Re-running a design into a new directory cannot move either later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from mazeprobe.errors import UsageError
from mazeprobe.provenance import parse_utc, utc_stamp
from mazeprobe.registry.items.load import forecast_content, question_content
from mazeprobe.registry.items.lock import (
    LOCK_NAME,
    LockEntry,
    changed_fields,
    content_hash,
    latest,
    lock_problems,
    read_lock,
)
from mazeprobe.registry.items.model import (
    Forecast,
    Problem,
    Question,
    item_id_evidence,
    item_id_forecast,
    item_id_question,
    item_id_resolution,
    parse_item_id,
)
from mazeprobe.registry.items.yamlcheck import IntegrityError, sort_problems

ADVICE = (
    "register what is new (`mazeprobe predictions register`; an edit needs --amend, and is late if the "
    "evidence already existed), or pass --include-unregistered to score unregistered items apart"
)


@dataclass(frozen=True)
class Evidence:
    """The earliest time results about a question existed, and what says so (for messages)."""

    time: datetime
    what: str


def earliest(*found: Evidence | None) -> Evidence | None:
    """The earliest of the evidence given (None when there is none)."""
    known = [e for e in found if e is not None]
    return min(known, key=lambda e: e.time) if known else None


def day_start(value: object) -> datetime | None:
    """A manual resolution's `date` as a UTC time: a bare date is its first instant (the evidence existed
    on that day, perhaps from its start: forecasts registered later that day are late)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value)
    try:
        d = date.fromisoformat(text)
    except ValueError:
        try:
            return parse_utc(text)
        except UsageError:
            return None
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def parse_time(value: object) -> datetime | None:
    """An ISO time as aware UTC, None when it is missing or not one."""
    try:
        return parse_utc(value) if value else None
    except UsageError:
        return None


def event_evidence(e: LockEntry) -> Evidence | None:
    """The evidence a lock line dates: a resolution event (its run's start, at the latest its own
    registration) or a registered manual resolution (its date, at the latest its registration)."""
    kind = parse_item_id(e.item)[0]
    c = e.content
    if kind == "resolution":
        start = parse_time(c.get("run_started_at"))
        when = e.registered_at if start is None else min(start, e.registered_at)
        what = f"run {c.get('run')} began {c.get('run_started_at')} (lock line {e.line})"
        return Evidence(when, what)
    if kind == "resolution-manual":
        dated = day_start(c.get("date"))
        when = e.registered_at if dated is None else min(dated, e.registered_at)
        return Evidence(when, f"manual resolution dated {c.get('date')} (lock line {e.line})")
    if kind == "evidence":
        start = parse_time(c.get("run_started_at"))
        when = e.registered_at if start is None else min(start, e.registered_at)
        shown = f"shown to {c.get('shown_by')}, lock line {e.line}"
        thing = "the fine-tune of" if str(c.get("design")).startswith("checkpoint:") else "run"
        what = f"{thing} {c.get('run')} began {c.get('run_started_at')} ({shown})"
        return Evidence(when, what)
    return None


def spec_design(spec_hash: object) -> str:
    """The design key of a run spec (mazeprobe.registry.resolution.designs owns the others)."""
    return f"spec:{spec_hash}"


class Ledger:
    """The verified lock of one predictions directory: each item's latest registration, every resolution
    event, and the first evidence per question."""

    def __init__(self, root: Path, entries: list[LockEntry]) -> None:
        self.root = root
        self.entries = entries
        self.latest = latest(entries)
        self._evidence: dict[str, Evidence] = {}
        self._designs: dict[str, Evidence] = {}
        for e in entries:
            found = event_evidence(e)
            if found is None:
                continue
            kind, key, _ = parse_item_id(e.item)
            if kind == "evidence":
                self._designs[key] = earliest(self._designs.get(key), found)  # type: ignore[assignment]
                continue
            self._evidence[key] = earliest(self._evidence.get(key), found)  # type: ignore[assignment]
            if kind == "resolution" and e.content.get("spec_hash"):  # a resolution event also shows its run
                design = spec_design(e.content["spec_hash"])
                self._designs[design] = earliest(self._designs.get(design), found)  # type: ignore[assignment]

    @classmethod
    def load(cls, root: str | Path) -> Ledger:
        """The lock of `root`, verified (chain, hashes, dates, git history); IntegrityError naming every
        problem when it is damaged or rewritten. No lock: an empty ledger (nothing is registered)."""
        root = Path(root)
        problems = lock_problems(root)
        if problems:
            raise IntegrityError(
                problems,
                header=f"{root / LOCK_NAME} cannot be trusted ({len(problems)} problem(s); nothing is "
                "scored against a damaged lock):",
            )
        entries, _ = read_lock(root)
        return cls(root, entries)

    def first_evidence(self, qid: str) -> Evidence | None:
        """The earliest evidence any resolution of this question read (whatever its design)."""
        return self._evidence.get(qid)

    def design_evidence(self, designs: Iterable[str]) -> Evidence | None:
        """The earliest evidence of any of `designs` the registry was shown (None when none was)."""
        return earliest(*(self._designs.get(d) for d in designs))

    def shown(self, design: str) -> Evidence | None:
        return self._designs.get(design)

    def evidence_event(self, design: str) -> LockEntry | None:
        """The latest evidence event of a design (None when there is none)."""
        return self.latest.get(item_id_evidence(design))

    def events(self, qid: str | None = None) -> list[LockEntry]:
        """The resolution events of a question (of every question when None), oldest first."""
        if qid is None:
            return [e for e in self.entries if parse_item_id(e.item)[0] == "resolution"]
        return [e for e in self.entries if e.item == item_id_resolution(qid)]

    def registration(self, item: str, content: dict) -> LockEntry | None:
        """The latest registration of `item` when it matches `content`, else None."""
        e = self.latest.get(item)
        return e if e is not None and e.sha256 == content_hash(content) else None

    def problem(self, item: str, content: dict, file: Path, line: int, col: int = 1) -> Problem | None:
        """Why `item` with this content cannot be trusted (never registered, or edited since), or None."""
        e = self.latest.get(item)
        if e is None:
            return Problem(file, line, col, f"{item}: never registered")
        if e.sha256 != content_hash(content):
            fields = "; ".join(changed_fields(e.content, content))
            return Problem(
                file,
                line,
                col,
                f"{item}: edited since its registration at {utc_stamp(e.registered_at)}: {fields}",
            )
        return None

    def late(self, item: str, content: dict, evidence: Evidence | None) -> str | None:
        """Why the registered `item` is late (registered after the evidence), or None."""
        e = self.registration(item, content)
        if e is None or evidence is None or e.registered_at <= evidence.time:
            return None
        return f"{item}: registered {utc_stamp(e.registered_at)}, after {evidence.what}"


def question_ref(q: Question) -> tuple[str, dict, Path, int]:
    """A question's item id, registered content, file and line."""
    return item_id_question(q.id), question_content(q.raw), q.file, q.line


def forecast_ref(f: Forecast) -> tuple[str, dict, Path, int]:
    """A forecast's item id, registered content, file and line."""
    content = (
        f.content if f.content is not None else forecast_content(f.forecaster, f.source, f.made_at, f.raw)
    )
    return item_id_forecast(f.forecaster, f.question), content, f.file, f.line


def item_problems(
    ledger: Ledger, questions: Iterable[Question], forecasts: Iterable[Forecast]
) -> dict[str, Problem]:
    """Item id -> why it cannot be trusted, for every question and forecast given that is not registered
    as it is now."""
    out: dict[str, Problem] = {}
    refs = [question_ref(q) for q in questions] + [forecast_ref(f) for f in forecasts]
    for item, content, file, line in refs:
        found = ledger.problem(item, content, file, line)
        if found is not None:
            out[item] = found
    return out


def refuse(problems: list[Problem], what: str) -> None:
    """Raise the one IntegrityError naming every item that cannot be trusted (nothing when none)."""
    if problems:
        raise IntegrityError(
            sort_problems(problems),
            header=f"{what}: {len(problems)} item(s) cannot be trusted; {ADVICE}:",
        )
