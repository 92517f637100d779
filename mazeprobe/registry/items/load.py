"""Read and validate a predictions directory, reporting every problem at once as `file:line:col: ...`.

    DIR/questions.yaml              questions: [{id, text, source, group, resolution, expected?, notes?}]
    DIR/forecasts/<forecaster>.yaml forecaster, source, made_at, forecasts: [{question, probability|claim,
                                    note?, made_at?, source?}]  (an entry's made_at / source override
                                    the file's)
    DIR/resolutions-manual.yaml     optional; see mazeprobe.registry.items.resolutions

Auto resolution rules are checked by mazeprobe.registry.rules.fitted.check_resolution against the analysis
plans in `analysis_dir`: by default the `analysis/` directory beside DIR (`DIR/../analysis`) when it
exists, else `./analysis`.

Groups: the members of a group are mutually exclusive, so one forecaster's probabilities over ALL
members must sum to 1 (+-0.01). A forecaster may forecast only some members; then their probabilities
may not sum to more than 1 (+0.01). A forecaster who gives a directional claim for any member is not
checked for that group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mazeprobe.registry.items.model import (
    METHODS,
    SUBJECT_ITEM,
    Forecast,
    Problem,
    Question,
    Registry,
    item_id_forecast,
    item_id_manual,
    item_id_question,
    parse_item_id,
)
from mazeprobe.registry.items.resolutions import placed_resolutions
from mazeprobe.registry.items.subject import check_subject
from mazeprobe.registry.items.yamlcheck import (
    DocChecker,
    RegistryError,
    parse_yaml,
    plain,
    sort_problems,
    yes_no,
)
from mazeprobe.yamlio import KeyPath, describe_value, suggest

GROUP_TOLERANCE = 0.01

MANUAL_NAME = "resolutions-manual.yaml"

QUESTION_KEYS = {
    "id": "a short unique name, e.g. closer-cheese-dsq-euclid",
    "text": "the question in words",
    "source": "where the question comes from",
    "group": "null, or the name of a set of mutually exclusive questions",
    "resolution": "how it is resolved: {method: auto, analysis, model, quantity, rule} or {method: manual}",
    "expected": "yes or no: the direction a directional claim states",
    "notes": "free text",
}
QUESTION_REQUIRED = ("id", "text", "source", "resolution")
TOP_KEYS = {
    "subject": "the network the questions are about: {name, sha256, trained, fingerprint, source}",
    "questions": "the list of questions",
}
MANUAL_RESOLUTION_KEYS = {
    "method": "manual",
    "criteria": "what a person checks to resolve it",
    "notes": "free text",
}
FORECAST_FILE_KEYS = {
    "forecaster": "the forecaster id; must match the file name",
    "source": "where the forecasts were published or how they were entered",
    "made_at": "the date the forecasts were made, e.g. 2023-03-01",
    "notes": "free text",
    "forecasts": "a list of {question, probability or claim, note}",
}
FORECAST_FILE_REQUIRED = ("forecaster", "source", "made_at", "forecasts")
FORECAST_KEYS = {
    "question": "a question id from questions.yaml",
    "probability": "a number strictly between 0 and 1",
    "claim": "yes or no: a directional claim without a number (recorded and resolved, not scored)",
    "note": "free text",
    "made_at": "the date this forecast was made, when it differs from the file's",
    "source": "where this forecast was stated, when it differs from the file's",
}


def default_analysis_dir(root: Path) -> Path:
    """`analysis/` beside the predictions directory when it exists, else `./analysis`."""
    beside = Path(root).resolve().parent / "analysis"
    return beside if beside.is_dir() else Path("analysis")


# --- the scan: everything validate, load, lock and edit need ----------------------------------------


@dataclass
class ItemRef:
    """A registrable item as it is now in the files, valid or not."""

    item: str
    content: dict
    file: Path
    line: int
    col: int


@dataclass
class Scan:
    root: Path
    questions: dict[str, Question] = field(default_factory=dict)
    forecasts: list[Forecast] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    group_problems: list[tuple[str, str, Problem]] = field(default_factory=list)
    """(forecaster, group, problem): kept apart so that an edit may pass through an unbalanced group."""
    items: dict[str, ItemRef] = field(default_factory=dict)
    unreadable: set[Path] = field(default_factory=set)
    """Files that did not parse: their items cannot be compared with the lock."""
    group_members: dict[str, list[str]] = field(default_factory=dict)
    subject: Any = None
    """The directory's Subject (mazeprobe.registry.items.model), when questions.yaml declares one."""

    def all_problems(self) -> list[Problem]:
        return sort_problems(self.problems + [p for _, _, p in self.group_problems])

    def registry(self) -> Registry:
        return Registry(self.root, dict(self.questions), list(self.forecasts), self.subject)


def _yes_no_fields(mapping: dict, keys: tuple[str, ...]) -> dict:
    out = dict(mapping)
    for key in keys:
        if key in out and isinstance(out[key], bool):
            out[key] = yes_no(out[key])
    return out


def question_content(raw: dict) -> dict:
    """The registered content of a question: its mapping as parsed (yes/no as strings)."""
    return plain(_yes_no_fields(raw, ("expected",)))


def forecast_content(forecaster: str, file_source: Any, file_made_at: Any, entry: dict) -> dict:
    """The registered content of a forecast: its entry plus the file's forecaster, source and made_at,
    which are part of the claim (an entry's own source / made_at take their place)."""
    content = {"forecaster": forecaster, "source": file_source, "made_at": file_made_at}
    content.update(_yes_no_fields(entry, ("claim",)))
    return plain(content)


def manual_content(raw: dict) -> dict:
    """The registered content of a manual resolution: its entry as parsed (yes/no, dates as strings)."""
    return plain(_yes_no_fields(raw, ("outcome",)))


def scan(
    root: str | Path, analysis_dir: str | Path | None = None, replace: dict[Path, Path] | None = None
) -> Scan:
    """Read every file of the predictions directory `root`; `replace` maps a file to a candidate file
    whose text is read in its place (a proposed edit is validated before it lands)."""
    root = Path(root)
    out = Scan(root=root)
    replace = replace or {}
    if not root.is_dir():
        out.problems.append(Problem(root, 1, 1, "no such predictions directory"))
        return out
    _scan_questions(out, root / "questions.yaml", analysis_dir, replace)
    forecast_dir = root / "forecasts"
    if forecast_dir.exists() and not forecast_dir.is_dir():
        out.problems.append(
            Problem(forecast_dir, 1, 1, "is a file, not a folder of <forecaster>.yaml forecast files")
        )
    if forecast_dir.is_dir():
        for path in sorted(forecast_dir.iterdir()):
            if path.suffix == ".yml":
                out.problems.append(Problem(path, 1, 1, "forecast files end in .yaml; this file is ignored"))
            elif path.suffix == ".yaml" and not path.name.startswith("."):
                _scan_forecasts(out, path, replace)
        # a new forecaster's file that does not exist yet
        for path in replace:
            if path.parent == forecast_dir and not path.exists():
                _scan_forecasts(out, path, replace)
    manual = root / MANUAL_NAME
    if manual.exists() and (root / "questions.yaml") not in out.unreadable:
        placed, problems = placed_resolutions(manual, out.questions)
        out.problems.extend(problems)
        if any(p.message.startswith("invalid YAML") for p in problems):
            out.unreadable.add(manual)
        # a person's resolution is registered like a forecast: its date bounds which forecasts are on time
        for r, col in placed:
            item = item_id_manual(r.question)
            out.items[item] = ItemRef(item, manual_content(r.raw), manual, r.line, col)
    return out


def _scan_questions(out: Scan, path: Path, analysis_dir, replace: dict[Path, Path]) -> None:
    if not path.exists() and path not in replace:
        out.problems.append(Problem(path, 1, 1, "no such file: a predictions directory needs questions.yaml"))
        out.unreadable.add(path)
        return
    doc = parse_yaml(path, out.problems, replace.get(path))
    if doc is None:
        out.unreadable.add(path)
        return
    c = DocChecker(doc, out.problems)
    top = c.mapping(doc.data, (), TOP_KEYS, ("questions",))
    if "subject" in top:
        _scan_subject(c, top["subject"], out, path)
    entries = top.get("questions", [])
    if "questions" in top and not isinstance(entries, list):
        c.fail(("questions",), f"must be a list of questions; got {describe_value(entries)}")
        entries = []
    first_line: dict[str, int] = {}
    auto: list[tuple[int, str | None, dict]] = []
    for i, raw in enumerate(entries):
        kp: KeyPath = ("questions", i)
        q = c.mapping(raw, kp, QUESTION_KEYS, QUESTION_REQUIRED)
        if not q:
            continue
        line, col = c.pos(kp)
        qid = c.ident(q["id"], (*kp, "id"), "a question id") if "id" in q else None
        if qid is not None:
            if qid in first_line:
                c.fail((*kp, "id"), f"duplicate question id {qid!r} (first at line {first_line[qid]})")
                continue
            first_line[qid] = line
            item = item_id_question(qid)
            out.items[item] = ItemRef(item, question_content(q), path, line, col)
        text = c.text(q.get("text"), (*kp, "text")) if "text" in q else None
        source = c.text(q.get("source"), (*kp, "source")) if "source" in q else None
        group = q.get("group")
        if group is not None:
            group = c.ident(group, (*kp, "group"), "a group name")
        expected = c.yes_no(q["expected"], (*kp, "expected")) if q.get("expected") is not None else None
        if q.get("notes") is not None:
            c.text(q["notes"], (*kp, "notes"))
        res = q.get("resolution")
        ok_res = False
        if "resolution" in q:
            rkp: KeyPath = (*kp, "resolution")
            if not isinstance(res, dict):
                c.fail(rkp, f"must be a mapping with a method (auto or manual); got {describe_value(res)}")
            elif "method" not in res:
                c.fail(rkp, "missing required key 'method' (auto or manual)")
            else:
                method = c.choice(res["method"], (*rkp, "method"), METHODS)
                if method == "manual":
                    n = len(out.problems)
                    c.mapping(res, rkp, MANUAL_RESOLUTION_KEYS)
                    ok_res = len(out.problems) == n
                elif method == "auto":
                    auto.append((i, qid, res))
                    ok_res = True
        if qid is not None and text and source and ok_res:
            out.questions[qid] = Question(
                id=qid,
                text=text,
                source=source,
                group=group,
                resolution=plain(res),
                expected=expected,
                file=path,
                line=line,
                raw=q,
            )
        if group is not None and qid is not None:
            out.group_members.setdefault(group, []).append(qid)
    if auto:
        _check_auto_rules(c, auto, out, analysis_dir)
    for group, members in out.group_members.items():
        if len(members) == 1:
            q = out.questions.get(members[0])
            line = q.line if q else 1
            out.problems.append(
                Problem(
                    path,
                    line,
                    1,
                    f"group {group!r} has only one member ({members[0]}); a group is a set of "
                    "mutually exclusive questions whose probabilities sum to 1",
                )
            )


def _scan_subject(c: DocChecker, raw: Any, out: Scan, path: Path) -> None:
    """The `subject:` mapping: a registered item like the others (mazeprobe.registry.items.subject)."""
    found = check_subject(c, raw)
    if found is None:
        return
    content, subject = found
    line, col = c.pos(("subject",))
    out.items[SUBJECT_ITEM] = ItemRef(SUBJECT_ITEM, content, path, line, col)
    out.subject = subject


def _check_auto_rules(
    c: DocChecker, auto: list[tuple[int, str | None, dict]], out: Scan, analysis_dir
) -> None:
    from mazeprobe.registry.rules.fitted import check_resolution  # imported here: only auto questions need it

    adir = Path(analysis_dir) if analysis_dir is not None else default_analysis_dir(out.root)
    for i, qid, res in auto:
        found = check_resolution(res, adir)
        for key_path, message in found:
            c.fail(("questions", i, "resolution", *key_path), message)
        if found and qid in out.questions:  # a question whose rule has problems is not loadable
            del out.questions[qid]


def _scan_forecasts(out: Scan, path: Path, replace: dict[Path, Path]) -> None:
    doc = parse_yaml(path, out.problems, replace.get(path))
    if doc is None:
        out.unreadable.add(path)
        return
    c = DocChecker(doc, out.problems)
    top = c.mapping(doc.data, (), FORECAST_FILE_KEYS, FORECAST_FILE_REQUIRED)
    forecaster = None
    if "forecaster" in top:
        forecaster = c.ident(top["forecaster"], ("forecaster",), "a forecaster id")
        if forecaster is not None and forecaster != path.stem:
            c.fail(
                ("forecaster",),
                f"forecaster {forecaster!r} does not match the file name {path.name!r}; "
                f"the forecasts of {forecaster!r} belong in forecasts/{forecaster}.yaml",
            )
            forecaster = None
    source = c.text(top["source"], ("source",)) if "source" in top else None
    made_at = c.when(top["made_at"], ("made_at",)) if "made_at" in top else None
    if top.get("notes") is not None:
        c.text(top["notes"], ("notes",))
    entries = top.get("forecasts")
    if entries is None:
        entries = []
    elif not isinstance(entries, list):
        c.fail(("forecasts",), f"must be a list of forecasts; got {describe_value(entries)}")
        entries = []
    who = forecaster or path.stem
    question_ids = {
        parse_item_id(ref.item)[1] for ref in out.items.values() if parse_item_id(ref.item)[0] == "question"
    }
    check_known = Path(out.root / "questions.yaml") not in out.unreadable
    first_line: dict[str, int] = {}
    valid: dict[str, Forecast] = {}
    for i, raw in enumerate(entries):
        kp: KeyPath = ("forecasts", i)
        e = c.mapping(raw, kp, FORECAST_KEYS, ("question",))
        if not e:
            continue
        line, col = c.pos(kp)
        qid = e.get("question")
        if "question" in e:
            if not isinstance(qid, str):
                c.fail((*kp, "question"), f"must be a question id; got {describe_value(qid)}")
                qid = None
            elif qid in first_line:
                c.fail(
                    (*kp, "question"),
                    f"duplicate forecast for {qid!r} by {who!r} (first at line {first_line[qid]})",
                )
                continue
            else:
                first_line[qid] = line
                if check_known and qid not in question_ids:
                    c.fail((*kp, "question"), f"unknown question {qid!r}{suggest(qid, question_ids)}")
                item = item_id_forecast(who, qid)
                content = forecast_content(who, top.get("source"), top.get("made_at"), e)
                out.items[item] = ItemRef(item, content, path, line, col)
        probability = claim = None
        ok = True
        if ("probability" in e) == ("claim" in e):
            ok = False
            if "probability" in e:
                c.fail(
                    kp,
                    "has both probability and claim; give one: a probability to be scored, or a "
                    "directional claim (yes or no)",
                )
            else:
                c.fail(kp, "needs a probability (a number strictly between 0 and 1) or a claim (yes or no)")
        if "probability" in e:
            probability = _probability(c, e["probability"], (*kp, "probability"))
            ok = ok and probability is not None
        if "claim" in e:
            claim = c.yes_no(e["claim"], (*kp, "claim"))
            ok = ok and claim is not None
        note = c.text(e.get("note"), (*kp, "note"), optional=True) if "note" in e else None
        entry_made_at = c.when(e["made_at"], (*kp, "made_at")) if "made_at" in e else None
        entry_source = c.text(e["source"], (*kp, "source")) if "source" in e else None
        if ok and forecaster and qid and qid in out.questions and (made_at or entry_made_at):
            f = Forecast(
                forecaster=forecaster,
                question=qid,
                probability=probability,
                claim=claim,
                note=note,
                made_at=entry_made_at or made_at,
                source=entry_source or source,
                file=path,
                line=line,
                raw=e,
                content=forecast_content(who, top.get("source"), top.get("made_at"), e),
            )
            out.forecasts.append(f)
            valid[qid] = f
    if forecaster:
        _check_groups(c, forecaster, valid, out)


def _probability(c: DocChecker, value: Any, key_path: KeyPath) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        c.fail(key_path, f"must be a number strictly between 0 and 1; got {describe_value(value)}")
        return None
    if value in (0, 1):
        c.fail(
            key_path,
            f"probability {value:g} is refused: it gives an infinite log loss if the outcome goes the other "
            "way; use e.g. 0.01 or 0.99",
        )
        return None
    if not (0 < value < 1):  # also NaN
        c.fail(key_path, f"must be a number strictly between 0 and 1; got {value}")
        return None
    return float(value)


def _check_groups(c: DocChecker, forecaster: str, valid: dict[str, Forecast], out: Scan) -> None:
    for group, members in out.group_members.items():
        mine = [valid[q] for q in members if q in valid]
        if not mine or any(f.probability is None for f in mine):
            continue
        total = math.fsum(f.probability for f in mine)
        parts = " + ".join(f"{f.question} {f.probability:g}" for f in mine)
        if len(mine) == len(members):
            if abs(total - 1) <= GROUP_TOLERANCE + 1e-9:  # 0.25 + 0.76 is 1.0100000000000002
                continue
            message = (
                f"group {group!r}: {forecaster}'s probabilities sum to {total:.4g} ({parts}); its members "
                f"are mutually exclusive, so they must sum to 1 (+-{GROUP_TOLERANCE})"
            )
        else:
            if total <= 1 + GROUP_TOLERANCE + 1e-9:
                continue
            message = (
                f"group {group!r}: {forecaster}'s probabilities for {len(mine)} of its {len(members)} "
                f"members already sum to {total:.4g} ({parts}); exclusive members may sum to at most 1"
            )
        first = min(mine, key=lambda f: f.line)
        out.group_problems.append(
            (
                forecaster,
                group,
                Problem(
                    first.file,
                    first.line,
                    out.items[item_id_forecast(forecaster, first.question)].col,
                    message,
                ),
            )
        )


# --- public -----------------------------------------------------------------------------------------


def validate_registry(root: str | Path, analysis_dir: str | Path | None = None) -> list[Problem]:
    """Every problem in the predictions directory `root`, sorted by file and line (empty when valid)."""
    return scan(root, analysis_dir).all_problems()


def load_registry(root: str | Path, analysis_dir: str | Path | None = None) -> Registry:
    """The questions and forecasts of `root`; RegistryError listing every problem if there is any."""
    result = scan(root, analysis_dir)
    problems = result.all_problems()
    if problems:
        raise RegistryError(problems)
    return result.registry()
