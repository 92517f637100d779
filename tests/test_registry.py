"""The prediction registry: validation messages at the right line and column, the group sum, the
hash-chained lock and tamper detection, layout-keeping forecast edits, and the tidy forecast table."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mazeprobe.cli import main
from mazeprobe.registry import (
    IntegrityError,
    RegistryError,
    forecast_table,
    load_registry,
    load_resolutions,
    lock_head,
    register,
    registered_at,
    set_forecast,
    validate_registry,
    verify,
)
from mazeprobe.registry.items.lock import canonical_json, item_id_forecast, item_id_question
from mazeprobe.registry.scoring.table import TABLE_COLUMNS, listing

QUESTIONS = """\
# three manual questions, two of them a mutually exclusive group
questions:
  - id: q-one
    text: "The first question"
    source: "a post"
    group: null
    resolution: {method: manual}
  - id: goal-a
    text: "Goal A"
    source: "a post"
    group: goal
    resolution: {method: manual}
  - id: goal-b
    text: "Goal B"
    source: "a post"
    group: goal
    resolution: {method: manual, criteria: "a person reads the paper"}
"""

ALICE = """\
# Alice's forecasts, copied from her post
forecaster: alice
source: "her reply"
made_at: 2023-03-01

forecasts:
  - {question: q-one, probability: 0.7, note: "fairly sure"}   # keep this comment
  - {question: goal-a, probability: 0.25}
  # goal-b below is a block mapping on purpose
  - question: goal-b
    probability: 0.75
"""


def make_dir(tmp_path: Path, questions: str = QUESTIONS, **forecasters: str) -> Path:
    root = tmp_path / "predictions"
    (root / "forecasts").mkdir(parents=True)
    (root / "questions.yaml").write_text(questions)
    for name, text in (forecasters or {"alice": ALICE}).items():
        (root / "forecasts" / f"{name}.yaml").write_text(text)
    return root


def found(problems) -> set[tuple[str, int, int]]:
    return {(p.file.name, p.line, p.col) for p in problems}


# --- validation ------------------------------------------------------------------------------------


def test_a_valid_directory_loads_with_yes_no_and_dates_as_strings(tmp_path):
    root = make_dir(tmp_path)
    assert validate_registry(root) == []
    reg = load_registry(root)
    assert list(reg.questions) == ["q-one", "goal-a", "goal-b"]
    assert reg.questions["goal-a"].group == "goal" and reg.questions["goal-a"].line == 8
    by_q = {f.question: f for f in reg.forecasts}
    assert by_q["q-one"].probability == 0.7 and by_q["q-one"].note == "fairly sure"
    assert by_q["goal-b"].line == 10 and by_q["goal-b"].made_at == "2023-03-01"
    assert by_q["goal-b"].source == "her reply"


BAD_QUESTIONS = """\
questions:
  - id: q-one
    text: "The first question"
    source: "a post"
    resolution: {method: manual}
  - id: q-two
    txt: "typo in the key"
    source: "a post"
    resolution: {method: manul}
  - id: q-one
    text: "again"
    source: "a post"
    resolution: {method: manual}
"""

BAD_FORECASTS = """\
forecaster: bob
source: "x"
made_at: 2023-03-01
forecasts:
  - {question: q-one, probability: 1}
  - {question: q-one, probability: 0.5}
  - {question: q-onee, probability: 0.5}
  - {question: q-seven, probability: "0.4"}
  - {question: q-two, probability: 1.5}
  - {question: q-three, probability: 0.2, claim: yes}
  - {question: q-four}
  - {question: q-five, probability: 0}
"""


def test_every_problem_is_reported_at_its_line_and_column(tmp_path):
    root = make_dir(
        tmp_path,
        BAD_QUESTIONS,
        bob=BAD_FORECASTS,
        carol="forecaster: carol\nsource: x\nmade_at: 2023-03-01\nforecasts:\n  - {question: q-one, probability: 0.5\n",  # noqa: E501
        dave="forecaster: david\nsource: x\nmade_at: 2023-03-01\nforecasts: []\n",
    )
    problems = validate_registry(root)
    text = "\n".join(str(p) for p in problems)
    expected = {
        ("questions.yaml", 7, 5): "unknown key (did you mean 'text'?)",
        ("questions.yaml", 6, 5): "missing required key 'text'",
        ("questions.yaml", 9, 18): "must be one of auto, manual; got 'manul' (did you mean 'manual'?)",
        ("questions.yaml", 10, 5): "duplicate question id 'q-one' (first at line 2)",
        ("bob.yaml", 5, 23): "probability 1 is refused: it gives an infinite log loss",
        ("bob.yaml", 6, 6): "duplicate forecast for 'q-one' by 'bob' (first at line 5)",
        ("bob.yaml", 7, 6): "unknown question 'q-onee' (did you mean 'q-one'?)",
        ("bob.yaml", 8, 25): "must be a number strictly between 0 and 1; got str '0.4'",
        ("bob.yaml", 9, 23): "must be a number strictly between 0 and 1; got 1.5",
        ("bob.yaml", 10, 5): "has both probability and claim",
        ("bob.yaml", 11, 5): "needs a probability",
        ("bob.yaml", 12, 24): "probability 0 is refused: it gives an infinite log loss",
        ("dave.yaml", 1, 1): "forecaster 'david' does not match the file name 'dave.yaml'",
    }
    for (name, line, col), message in expected.items():
        hits = [
            p for p in problems if (p.file.name, p.line, p.col) == (name, line, col) and message in p.message
        ]
        assert hits, f"missing {name}:{line}:{col}: {message}\ngot:\n{text}"
    # the YAML syntax error carries the parser's position (the unclosed flow mapping, found at the end)
    carol = [p for p in problems if p.file.name == "carol.yaml"]
    assert len(carol) == 1 and "invalid YAML" in carol[0].message and carol[0].line == 6
    # q-seven, q-three, q-four, q-five are unknown too; nothing else is reported
    assert len(problems) == len(expected) + 1 + 4
    assert str(problems[0]).startswith(f"{problems[0].file}:{problems[0].line}:{problems[0].col}: ")
    assert problems == sorted(problems, key=lambda p: (str(p.file), p.line, p.col, p.message))
    with pytest.raises(RegistryError) as err:
        load_registry(root)
    assert str(err.value).count("\n") == len(problems) - 1


def group_dir(tmp_path: Path, a: float, b: float | None, extra: str = "") -> Path:
    entries = f"  - {{question: goal-a, probability: {a}}}\n"
    if b is not None:
        entries += f"  - {{question: goal-b, probability: {b}}}\n"
    text = f"forecaster: alice\nsource: x\nmade_at: 2023-03-01\nforecasts:\n{entries}{extra}"
    return make_dir(tmp_path, alice=text)


@pytest.mark.parametrize(
    ("a", "b", "bad"),
    [
        (0.25, 0.75, False),
        (0.25, 0.76, False),  # within +-0.01
        (0.25, 0.77, True),
        (0.2, 0.5, True),  # all members forecast: must sum to 1, not less
        (0.5, None, False),  # only some members: may sum to less than 1
        (0.995, None, False),
    ],
)
def test_group_members_must_sum_to_one(tmp_path, a, b, bad):
    problems = validate_registry(group_dir(tmp_path, a, b))
    assert bool(problems) == bad, problems
    if bad:
        (p,) = problems
        assert (p.file.name, p.line, p.col) == ("alice.yaml", 5, 5)  # at the group's first forecast
        assert "group 'goal'" in p.message and f"goal-a {a:g} + goal-b {b:g}" in p.message


def test_a_partial_group_over_one_is_reported(tmp_path):
    root = make_dir(
        tmp_path,
        QUESTIONS.replace("group: null", "group: goal"),
        alice=(
            "forecaster: alice\nsource: x\nmade_at: 2023-03-01\nforecasts:\n"
            "  - {question: goal-a, probability: 0.6}\n  - {question: goal-b, probability: 0.6}\n"
        ),
    )
    (p,) = validate_registry(root)
    assert "2 of its 3 members already sum to 1.2" in p.message


def test_a_directional_claim_needs_no_number_and_is_not_group_checked(tmp_path):
    root = group_dir(tmp_path, 0.9, None, "  - {question: goal-b, claim: no}\n")
    assert validate_registry(root) == []
    f = {f.question: f for f in load_registry(root).forecasts}["goal-b"]
    assert f.claim == "no" and f.probability is None  # YAML 1.1 read `no` as False


def test_an_auto_rule_is_checked_against_its_analysis_plan(tmp_path):
    analysis = tmp_path / "analysis"  # the default: beside the predictions directory
    analysis.mkdir()
    (analysis / "tiny.yaml").write_text(
        "name: tiny\noutcome: got_cheese\nfeatures: [euc_dist_cheese_top_right]\nmodels:\n  - {kind: logit}\n"
    )
    head = "    text: t\n    source: s\n    resolution:\n      method: auto\n      analysis: tiny\n"
    questions = QUESTIONS + (
        f"  - id: auto-good\n{head}      model: logit\n"
        "      quantity: features.euc_dist_cheese_top_right.coef\n      rule: negative-significant\n"
        f"  - id: auto-bad\n{head}      model: logit\n      quantity: features.no_such_feature.coef\n"
        "      rule: negative-significant\n"
    )
    root = make_dir(tmp_path, questions)
    problems = validate_registry(root)
    assert len(problems) == 1, problems
    (p,) = problems
    assert (p.file.name, p.line, p.col) == ("questions.yaml", 34, 7)  # the `quantity:` key of auto-bad
    assert p.message.startswith("questions[4].resolution.quantity: ")
    assert validate_registry(root, analysis_dir=tmp_path / "elsewhere")  # the plan is not there


# --- the lock ----------------------------------------------------------------------------------------


def test_register_writes_a_hash_chain_and_registering_again_changes_nothing(tmp_path):
    root = make_dir(tmp_path)
    items = register(root)
    assert items == [
        "question:q-one",
        "question:goal-a",
        "question:goal-b",
        "forecast:alice:q-one",
        "forecast:alice:goal-a",
        "forecast:alice:goal-b",
    ]
    lock = root / "registry.lock"
    lines = lock.read_text().splitlines()
    assert len(lines) == 6
    prev = None
    for text in lines:
        entry = json.loads(text)
        assert entry["prev"] == prev
        assert entry["sha256"] == hashlib.sha256(canonical_json(entry["content"]).encode()).hexdigest()
        assert entry["registered_at"].endswith("Z")
        prev = hashlib.sha256(text.encode()).hexdigest()
    forecast = json.loads(lines[3])["content"]
    assert forecast == {
        "forecaster": "alice",
        "source": "her reply",
        "made_at": "2023-03-01",
        "question": "q-one",
        "probability": 0.7,
        "note": "fairly sure",
    }
    before = lock.read_bytes()
    assert register(root) == []
    assert lock.read_bytes() == before
    times = registered_at(root)
    assert set(times) == set(items) and all(t.tzinfo is not None for t in times.values())
    assert verify(root) == []


def test_register_refuses_an_invalid_registry_and_writes_nothing(tmp_path):
    root = make_dir(tmp_path, alice=ALICE.replace("0.75", "0.9"))  # the goal group sums to 1.15
    with pytest.raises(RegistryError, match="nothing registered"):
        register(root)
    assert not (root / "registry.lock").exists()


def test_verify_names_the_edited_item_and_field_and_register_will_not_launder_it(tmp_path):
    root = make_dir(tmp_path)
    register(root)
    path = root / "forecasts" / "alice.yaml"
    path.write_text(path.read_text().replace("probability: 0.7,", "probability: 0.8,"))
    (p,) = verify(root)
    assert (p.file.name, p.line, p.col) == ("alice.yaml", 7, 5)
    assert "forecast:alice:q-one edited since its registration" in p.message
    assert "probability: 0.7 -> 0.8" in p.message
    lock = root / "registry.lock"
    before = lock.read_bytes()
    with pytest.raises(RegistryError, match="forecast:alice:q-one.*--amend"):
        register(root)
    assert lock.read_bytes() == before
    assert register(root, amend=True) == ["forecast:alice:q-one"]
    assert lock.read_bytes().startswith(before)  # the first registration stays
    assert verify(root) == []


def test_verify_names_a_changed_question_field_and_a_deleted_item(tmp_path):
    root = make_dir(tmp_path)
    register(root)
    q = root / "questions.yaml"
    q.write_text(q.read_text().replace('"Goal A"', '"Goal A, reworded"'))
    path = root / "forecasts" / "alice.yaml"
    path.write_text(path.read_text().replace("  - {question: goal-a, probability: 0.25}\n", ""))
    problems = verify(root)
    messages = [p.message for p in problems]
    assert any(
        "question:goal-a edited" in m and 'text: "Goal A" -> "Goal A, reworded"' in m for m in messages
    )
    (deleted,) = [p for p in problems if "no longer in" in p.message]
    assert (
        deleted.file.name == "registry.lock"
        and deleted.line == 5
        and "forecast:alice:goal-a" in deleted.message
    )


def test_verify_names_the_line_where_the_chain_breaks(tmp_path):
    root = make_dir(tmp_path)
    register(root)
    lock = root / "registry.lock"
    lines = lock.read_text().splitlines()
    original = list(lines)
    # an edited timestamp on line 2 breaks the link from line 3
    lines[1] = lines[1].replace('"registered_at": "20', '"registered_at": "19', 1)
    assert lines[1] != original[1]
    lock.write_text("\n".join(lines) + "\n")
    dated, chain = verify(root)  # sorted by line: the back-dated line 2, then the link from line 3
    assert chain.file.name == "registry.lock" and chain.line == 3 and "between lines 2 and 3" in chain.message
    assert dated.line == 2 and "dated 19" in dated.message and "back-dated" in dated.message
    # an edited content on the last line no longer matches its hash
    lines = list(original)
    lines[5] = lines[5].replace('"probability": 0.75', '"probability": 0.76')
    lock.write_text("\n".join(lines) + "\n")
    problems = verify(root)
    assert any(p.line == 6 and "does not match its sha256" in p.message for p in problems)
    # a removed line
    lock.write_text("\n".join(original[:2] + original[3:]) + "\n")
    assert any(p.line == 3 and "chain broken" in p.message for p in verify(root))
    with pytest.raises(RegistryError, match="damaged"):
        register(root)


# --- editing forecasts ----------------------------------------------------------------------------------


def test_set_forecast_changes_only_the_values_and_keeps_comments(tmp_path):
    start = ALICE.replace("0.25}", "0.2}").replace("0.75", "0.7")  # the goal group sums to 0.9
    root = make_dir(tmp_path, alice=start)
    path = root / "forecasts" / "alice.yaml"
    edit = set_forecast(root, "alice", "q-one", 0.65, note="less sure now")
    assert edit.action == "updated" and len(edit.warnings) == 1  # her own group may be off meanwhile
    text = path.read_text()
    made = text.split("made_at: ", 2)[2].split("}", 1)[0]  # the entry's own made_at: today, not 2023
    assert made != "2023-03-01" and len(made) == 10
    expected = start.replace(
        '{question: q-one, probability: 0.7, note: "fairly sure"}',
        f'{{question: q-one, probability: 0.65, note: "less sure now", made_at: {made}}}',
    )
    assert text == expected
    # a block mapping: the value is replaced where it stands, a missing key goes after its last line
    edit = set_forecast(root, "alice", "goal-b", 0.85)
    assert edit.action == "updated" and "sum to 1.05" in edit.warnings[0].message
    expected = expected.replace("    probability: 0.7\n", f"    probability: 0.85\n    made_at: {made}\n")
    assert path.read_text() == expected
    assert set_forecast(root, "alice", "goal-a", 0.15).warnings == []
    expected = expected.replace("probability: 0.2}", f"probability: 0.15, made_at: {made}}}")
    assert path.read_text() == expected
    assert validate_registry(root) == []


def test_set_forecast_appends_a_new_forecast_as_one_line(tmp_path):
    questions = QUESTIONS + '  - id: extra\n    text: "x"\n    source: s\n    resolution: {method: manual}\n'
    root = make_dir(tmp_path, questions)
    path = root / "forecasts" / "alice.yaml"
    edit = set_forecast(root, "alice", "extra", None, claim="yes")
    assert edit.action == "added"
    text = path.read_text()
    assert text.startswith(ALICE)
    assert text[len(ALICE) :].startswith("  - {question: extra, claim: yes, made_at: ")
    f = {f.question: f for f in load_registry(root).forecasts}["extra"]
    assert f.claim == "yes" and f.made_at != "2023-03-01"


def test_set_forecast_creates_a_forecaster_file(tmp_path):
    root = make_dir(tmp_path)
    edit = set_forecast(root, "zoe", "q-one", 0.1, note='says "no"')
    assert edit.action == "created"
    reg = load_registry(root)
    (f,) = [f for f in reg.forecasts if f.forecaster == "zoe"]
    assert f.probability == 0.1 and f.note == 'says "no"'


def test_a_bad_edit_never_lands_and_a_registered_forecast_is_locked(tmp_path):
    root = make_dir(tmp_path)
    path = root / "forecasts" / "alice.yaml"
    before = path.read_bytes()
    with pytest.raises(RegistryError, match="unknown question 'nope'"):
        set_forecast(root, "alice", "nope", 0.5)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["alice.yaml"]  # no temporary left
    register(root)
    with pytest.raises(RegistryError, match="forecast:alice:q-one is locked: registered at 20"):
        set_forecast(root, "alice", "q-one", 0.6)
    assert path.read_bytes() == before
    # a new forecaster on a registered question is fine
    assert set_forecast(root, "bob", "q-one", 0.6).action == "created"


# --- resolutions and the table ----------------------------------------------------------------------


TOMORROW = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
MANUAL = """\
resolutions:
  - {question: q-one, outcome: yes, rationale: "the paper shows it", evidence: "https://example.org/a",
     resolver: "r", date: 2026-11-26}
  - {question: goal-a, outcome: unresolved, rationale: "not enough evidence yet", evidence: "none",
     resolver: "r", date: 2026-11-26}
"""


def test_forecast_table_has_the_columns_and_a_manual_resolution_becomes_y(tmp_path):
    root = make_dir(tmp_path)
    register(root)  # the forecasts, before any evidence exists
    # dated tomorrow, registered now: the evidence time is its registration, after the forecasts'
    (root / "resolutions-manual.yaml").write_text(MANUAL.replace("2026-11-26", TOMORROW))
    assert validate_registry(root) == []
    assert register(root) == ["resolution-manual:q-one", "resolution-manual:goal-a"]
    reg = load_registry(root)
    table = forecast_table(reg, load_resolutions([root / "resolutions-manual.yaml"], registry=reg))
    assert tuple(table.columns) == TABLE_COLUMNS
    rows = table.set_index("question")
    assert rows.loc["q-one", "y"] == 1.0 and rows.loc["q-one", "outcome"] == "yes"
    assert rows.loc["q-one", "method"] == "manual"
    assert rows.loc["q-one", "evidence"] == "the paper shows it — https://example.org/a"
    assert math.isnan(rows.loc["goal-a", "y"]) and rows.loc["goal-a", "outcome"] == "unresolved"
    assert rows.loc["goal-b", "outcome"] is None and rows.loc["goal-b", "evidence"] == ""
    assert rows.loc["goal-b", "group"] == "goal" and rows.loc["goal-b", "text"] == "Goal B"
    assert table["probability"].tolist() == [0.7, 0.25, 0.75]
    assert not table["late"].any() and not table["unregistered"].any()
    assert table.attrs["lock_head"] == lock_head(root)


def test_a_hand_written_auto_resolution_file_is_refused(tmp_path):
    """Hostile case: a file with `run: /nonexistent` and bare outcomes was accepted as automatic."""
    root = make_dir(tmp_path)
    register(root)
    reg = load_registry(root)
    auto = tmp_path / "resolutions.yaml"
    auto.write_text(
        "run: /nonexistent\nrun_spec_hash: abc\nrun_started_at: 2026-11-26T00:00:00Z\nresolved_at: now\n"
        "predictions: p\nlate: []\nresolutions:\n"
        "  - {question: goal-b, outcome: no, method: auto}\n"
    )
    resolutions = load_resolutions(auto)  # the form is fine; no registry given: method not cross-checked
    for include in (False, True):  # a file its run does not reproduce is refused even then
        with pytest.raises(IntegrityError) as err:
            forecast_table(reg, resolutions, include_unregistered=include)
        (line,) = str(err.value).splitlines()[1:]
        assert line.startswith(
            f"{auto}:8:1: resolution of goal-b: the run directory /nonexistent does not exist"
        )


def test_resolution_files_are_validated_with_positions(tmp_path):
    root = make_dir(tmp_path)
    bad = (
        "resolutions:\n"
        "  - {question: q-one, outcome: maybe, rationale: r, evidence: e, resolver: r, date: 2026-11-26}\n"
        "  - {question: q-twoo, outcome: no, rationale: r, evidence: e, resolver: r, date: 2026-11-26}\n"
        "  - {question: goal-a, outcome: no, evidence: e, resolver: r, date: 2026-11-26}\n"
    )
    (root / "resolutions-manual.yaml").write_text(bad)
    problems = validate_registry(root)
    assert found(problems) == {
        ("resolutions-manual.yaml", 2, 23),
        ("resolutions-manual.yaml", 3, 6),
        ("resolutions-manual.yaml", 4, 5),
    }
    text = "\n".join(p.message for p in problems)
    assert "must be one of yes, no, unresolved, ambiguous; got str 'maybe'" in text
    assert "unknown question 'q-twoo'" in text and "missing required key 'rationale'" in text
    other = tmp_path / "more.yaml"
    other.write_text(MANUAL)
    (root / "resolutions-manual.yaml").write_text(MANUAL)
    with pytest.raises(RegistryError, match="resolved twice"):
        load_resolutions([root / "resolutions-manual.yaml", other])


# --- the command line ------------------------------------------------------------------------------


def test_cli_validate_register_list_verify(tmp_path, capsys):
    root = make_dir(tmp_path)
    assert main(["predictions", "validate", str(root)]) == 0
    assert capsys.readouterr().out.strip() == "ok: 3 questions, 3 forecasts by 1 forecaster"
    assert main(["predictions", "forecast", str(root), "--forecaster", "bob", "--question", "q-one",
                 "--probability", "0.4", "--note", "a guess"]) == 0  # fmt: skip
    assert "created" in capsys.readouterr().out
    assert main(["predictions", "register", str(root)]) == 0
    assert "registered 7 items" in capsys.readouterr().out
    assert main(["predictions", "list", str(root)]) == 0
    out = capsys.readouterr().out
    assert "0.40" in out and "alice" in out and "bob" in out and "not registered (+): 0" in out
    assert main(["predictions", "verify", str(root)]) == 0
    capsys.readouterr()
    path = root / "forecasts" / "bob.yaml"
    path.write_text(path.read_text().replace("0.4", "0.45"))
    assert main(["predictions", "verify", str(root)]) == 1
    out = capsys.readouterr().out
    assert "forecast:bob:q-one edited" in out and out.strip().endswith("1 problem")
    assert main(["predictions", "forecast", str(root), "--forecaster", "bob", "--question", "q-one",
                 "--claim", "yes"]) == 2  # fmt: skip
    assert "locked" in capsys.readouterr().err
    path.write_text(path.read_text().replace("0.45", "1.0"))
    assert main(["predictions", "validate", str(root)]) == 1  # a check that found a problem
    out = capsys.readouterr().out
    assert "infinite log loss" in out and out.strip().endswith("1 problem")
    assert item_id_question("x") == "question:x" and item_id_forecast("f", "x") == "forecast:f:x"
    assert "EDITED" not in listing(root) and "1.00!" not in listing(
        root
    )  # the invalid forecast is not listed


@pytest.mark.parametrize(
    ("empty", "after"),
    [
        ("forecasts: []\n", "forecasts:\n  - {question: q-one, probability: 0.4}\n"),
        ("forecasts:\n", "forecasts:\n  - {question: q-one, probability: 0.4}\n"),
        ("forecasts:   # none yet\n", "forecasts:   # none yet\n  - {question: q-one, probability: 0.4}\n"),
        ("", "forecasts:\n  - {question: q-one, probability: 0.4}\n"),
    ],
)
def test_set_forecast_starts_an_empty_list_below_its_key(tmp_path, empty, after):
    from datetime import UTC, datetime

    head = f"# mine\nforecaster: alice\nsource: x\nmade_at: {datetime.now(UTC).date().isoformat()}\n"
    root = make_dir(tmp_path, alice=head + empty)
    set_forecast(root, "alice", "q-one", 0.4)
    assert (root / "forecasts" / "alice.yaml").read_text() == head + after


def test_set_forecast_swaps_a_probability_for_a_claim(tmp_path):
    root = make_dir(tmp_path)
    set_forecast(root, "alice", "q-one", None, claim="no")
    text = (root / "forecasts" / "alice.yaml").read_text()
    assert '  - {question: q-one, claim: no, note: "fairly sure", made_at: ' in text
    f = {f.question: f for f in load_registry(root).forecasts}["q-one"]
    assert f.claim == "no" and f.probability is None and f.note == "fairly sure"


def test_every_amendment_of_a_question_is_listed_with_its_time(tmp_path):
    from mazeprobe.registry.items.trust import Ledger
    from mazeprobe.registry.scoring.table import amendments, utc_stamp

    root = make_dir(tmp_path)
    register(root)
    path = root / "questions.yaml"
    for old, new in [
        ("manual}\n  - id: goal-a", "manual, criteria: one}\n  - id: goal-a"),
        ('text: "The first question"', 'text: "The first question, reworded"'),  # not a change of criteria
        ("criteria: one}", "criteria: two}"),
    ]:
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))
        register(root, amend=True)
    ledger = Ledger.load(root)
    lines = [e for e in ledger.entries if e.item == item_id_question("q-one")]
    found = amendments(ledger, load_registry(root).questions)
    assert set(found) == {"q-one"}
    a = found["q-one"]
    assert len(lines) == 4 and len(a["amendments_at"]) == 2
    assert a["amendments_at"] == [utc_stamp(lines[1].registered_at), utc_stamp(lines[3].registered_at)]
    assert a["amended_at"] == a["amendments_at"][0]
    assert a["before"] == {"method": "manual"} and a["after"] == {"method": "manual", "criteria": "two"}
