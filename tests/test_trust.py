"""The registry's trust model, from a hostile user's side: scores count only what the lock vouches for,
lateness is read from the lock, and a back-dated, edited or truncated lock is caught (by its own order,
by git's history of it, or by a published head). Every registry here is real files in tmp_path."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mazeprobe.cli import main
from mazeprobe.errors import UsageError
from mazeprobe.registry import (
    IntegrityError,
    forecast_table,
    load_registry,
    load_resolutions,
    lock_head,
    register,
    verify,
)
from mazeprobe.registry.items.load import scan
from mazeprobe.registry.items.lock import canonical_json, content_hash, read_lock
from mazeprobe.registry.report import render_report
from mazeprobe.registry.scoring.scores import score_table, scores_text

QUESTIONS = "questions:\n" + "".join(
    f"  - id: {q}\n    text: {q} happens\n    source: a post\n    resolution: {{method: manual}}\n"
    for q in ("q-one", "q-two", "q-three")
)
ALICE = """\
forecaster: alice
source: her post
made_at: 2023-03-01
forecasts:
  - {question: q-one, probability: 0.7}
  - {question: q-two, probability: 0.2}
  - {question: q-three, probability: 0.6}
"""
MALLORY = """\
forecaster: mallory
source: added after the results
made_at: 2023-03-01
forecasts:
  - {question: q-one, probability: 0.9}
  - {question: q-two, probability: 0.1}
"""
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()


def manual(date: str, outcomes: dict[str, str] | None = None) -> str:
    outcomes = outcomes or {"q-one": "yes", "q-two": "no"}
    return "resolutions:\n" + "".join(
        f'  - {{question: {q}, outcome: "{o}", rationale: "because", evidence: "https://example.org/{q}", '
        f"resolver: r, date: {date}}}\n"
        for q, o in outcomes.items()
    )


def make_dir(tmp_path: Path, resolutions: str | None = None) -> Path:
    root = tmp_path / "predictions"
    (root / "forecasts").mkdir(parents=True)
    (root / "questions.yaml").write_text(QUESTIONS)
    (root / "forecasts" / "alice.yaml").write_text(ALICE)
    if resolutions is not None:
        (root / "resolutions-manual.yaml").write_text(resolutions)
    return root


def table(root: Path, **kw):
    reg = load_registry(root)
    res = load_resolutions([root / "resolutions-manual.yaml"], registry=reg)
    return forecast_table(reg, res, **kw)


def registered_dir(tmp_path: Path) -> Path:
    """alice's forecasts registered now, then resolutions dated tomorrow registered: nothing late."""
    root = make_dir(tmp_path)
    register(root)
    (root / "resolutions-manual.yaml").write_text(manual(TOMORROW))
    register(root)
    return root


def lock_lines(root: Path) -> list[str]:
    return (root / "registry.lock").read_text().splitlines()


def line_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def forge(lines: list[str], item: str, content: dict, when: str) -> list[str]:
    """What an attacker can do by hand: append a line with correct hashes and any date."""
    line = json.dumps(
        {
            "item": item,
            "sha256": content_hash(content),
            "registered_at": when,
            "commit": None,
            "prev": line_hash(lines[-1]) if lines else None,
            "content": json.loads(canonical_json(content)),
        }
    )
    return [*lines, line]


def rechain(lines: list[str], when: str) -> list[str]:
    """The whole lock rewritten consistently, every line dated `when` (undetectable without an anchor)."""
    out: list[str] = []
    for text in lines:
        obj = json.loads(text)
        out = forge(out, obj["item"], obj["content"], when)
    return out


def write_lock(root: Path, lines: list[str]) -> None:
    (root / "registry.lock").write_text("\n".join(lines) + "\n")


# --- scores count only what the lock vouches for ----------------------------------------------------


def test_a_forecast_edited_after_registration_is_refused_not_scored_at_its_new_value(tmp_path):
    root = registered_dir(tmp_path)
    path = root / "forecasts" / "alice.yaml"
    path.write_text(path.read_text().replace("probability: 0.7}", "probability: 0.95}"))
    with pytest.raises(IntegrityError) as err:
        table(root)
    header, line = str(err.value).splitlines()
    assert "nothing scored: 1 item(s) cannot be trusted" in header and "--include-unregistered" in header
    assert line.startswith(f"{path}:5:1: forecast:alice:q-one: edited since its registration at 20")
    assert line.endswith("probability: 0.7 -> 0.95")
    t = table(root, include_unregistered=True)
    assert t.set_index("question")["unregistered"].to_dict() == {
        "q-one": True,
        "q-two": False,
        "q-three": False,
    }
    scores = score_table(t, n_boot=20, n_perm=20)
    # ranked on what is registered only: q-two (0.2, no) -> Brier 0.04; the edit is scored apart
    assert scores["forecasters"]["alice"]["brier"] == pytest.approx(0.04)
    assert scores["unregistered"]["alice"]["brier"] == pytest.approx(0.05**2)


def test_an_unregistered_forecaster_added_after_resolution_is_refused_or_scored_apart_unranked(tmp_path):
    root = registered_dir(tmp_path)
    (root / "forecasts" / "mallory.yaml").write_text(MALLORY)  # after the outcomes are known
    with pytest.raises(IntegrityError) as err:
        table(root)
    lines = str(err.value).splitlines()[1:]
    assert [ln.split(": ", 1)[1] for ln in lines] == [
        "forecast:mallory:q-one: never registered",
        "forecast:mallory:q-two: never registered",
    ]
    t = table(root, include_unregistered=True)
    scores = score_table(t, n_boot=50, n_perm=50)
    # mallory would rank first (Brier (0.1^2 + 0.1^2) / 2 = 0.01 against alice's (0.09 + 0.04) / 2)
    assert list(scores["forecasters"]) == ["alice"] and scores["pairwise"] == []
    assert scores["forecasters"]["alice"]["brier"] == pytest.approx(0.065)
    assert scores["unregistered"]["mallory"]["brier"] == pytest.approx(0.01)
    text = scores_text(scores)
    assert "unregistered (not in the registry lock" in text and "mallory" in text.split("unregistered (")[1]
    html = render_report(t, scores, "html")
    board = html[html.index("<h2>Leaderboard") : html.index("<h2>Reliability")]
    assert "mallory" not in board and "<strong>alice</strong>" in board
    apart = html[html.index("<h2>Unregistered forecasts (not ranked)") : html.index("<h2>Questions")]
    assert "<strong>mallory</strong>" in apart and "0.010" in apart
    # her two forecasts, and her name in the table apart
    assert html.count('<span class="badge unregistered">unregistered</span>') == 3
    md = render_report(t, scores, "md")
    assert "## Unregistered forecasts (not ranked)" in md and f"registry lock head {lock_head(root)}" in md


def test_a_damaged_or_deleted_lock_gives_no_scores(tmp_path):
    root = registered_dir(tmp_path)
    lines = lock_lines(root)
    write_lock(root, [lines[0].replace('"q-one happens"', '"q-one happens!"'), *lines[1:]])
    for kw in ({}, {"include_unregistered": True}):  # nothing is scored against a damaged lock
        with pytest.raises(IntegrityError, match="cannot be trusted.*\n.*line 1 .*does not match its sha256"):
            table(root, **kw)
    (root / "registry.lock").unlink()
    with pytest.raises(IntegrityError) as err:
        table(root)
    assert len(str(err.value).splitlines()) == 1 + 3 + 3 + 2  # every question, forecast and resolution
    assert table(root, include_unregistered=True)["unregistered"].all()


def test_a_manual_resolution_must_be_registered_and_stay_as_registered(tmp_path):
    root = make_dir(tmp_path)
    register(root)
    (root / "resolutions-manual.yaml").write_text(manual(TOMORROW))
    with pytest.raises(IntegrityError, match="resolution-manual:q-one: never registered"):
        table(root)
    assert register(root) == ["resolution-manual:q-one", "resolution-manual:q-two"]
    assert not table(root)["unregistered"].any()
    path = root / "resolutions-manual.yaml"
    path.write_text(path.read_text().replace('outcome: "no"', 'outcome: "yes"'))  # q-two flipped
    with pytest.raises(
        IntegrityError, match=r"resolution-manual:q-two: edited since .*outcome: \"no\" -> \"yes\""
    ):
        table(root)
    problems = verify(root)
    assert [p.message.split(" edited")[0] for p in problems] == ["resolution-manual:q-two"]
    assert table(root, include_unregistered=True).set_index("question")["unregistered"].tolist() == [
        False,
        True,
        False,
    ]


# --- lateness: a manual resolution's date counts, and is read from the lock ---------------------------


def test_a_forecast_registered_after_a_manual_resolutions_date_is_late(tmp_path):
    """Hostile case: manual resolutions had no late check at all."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    root = make_dir(tmp_path, manual(yesterday))
    register(root)  # everything now: the forecasts come after the evidence dated yesterday
    t = table(root).set_index("question")
    assert t["late"].to_dict() == {"q-one": True, "q-two": True, "q-three": False}  # q-three: no evidence
    scores = score_table(t.reset_index(), n_boot=20, n_perm=20)
    # late forecasts are scored apart, never ranked among timely ones
    assert scores["late"]["alice"]["questions"]["q-one"]["late"] is True
    assert "q-one" not in scores["forecasters"]["alice"]["questions"]
    # registered before the evidence: not late (the date of a resolution registered now is bounded by now)
    assert not table(registered_dir(tmp_path / "other"))["late"].any()


# --- the lock's own dates, git's history of it, and a published head ----------------------------------


def test_a_back_dated_line_with_correct_hashes_is_caught(tmp_path):
    """Hostile case: lines appended with correct hashes and dated 2023 passed verify and counted early."""
    root = registered_dir(tmp_path)
    (root / "forecasts" / "mallory.yaml").write_text(MALLORY)
    items = scan(root).items
    lines = lock_lines(root)
    for item in ("forecast:mallory:q-one", "forecast:mallory:q-two"):
        lines = forge(lines, item, items[item].content, "2023-03-02T00:00:00.000Z")
    write_lock(root, lines)
    problems = verify(root)
    assert [(p.line, "back-dated" in p.message) for p in problems] == [(9, True)]  # the first forged line
    assert (
        "line 9 (forecast:mallory:q-one) is dated 2023-03-02T00:00:00.000Z, before line 8"
        in problems[0].message
    )
    with pytest.raises(IntegrityError, match="back-dated"):
        table(root, include_unregistered=True)
    with pytest.raises(IntegrityError, match="back-dated"):
        register(root)


def git(cwd: Path, *args: str, when: str | None = None) -> str:
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_SYSTEM="/dev/null")
    if when:
        env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def test_git_history_bounds_back_dating_and_catches_a_removed_last_line(tmp_path):
    root = registered_dir(tmp_path)
    # a lock kept consistent by hand, every line dated 2023: the chain alone cannot tell
    write_lock(root, rechain(lock_lines(root), "2023-01-01T00:00:00.000Z"))
    assert verify(root) == []
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "predictions")
    git(tmp_path, "commit", "-qm", "register", when="2026-01-01T00:00:00Z")
    committed = lock_lines(root)
    # appended after that commit yet dated between its predecessor and the commit: git's history says no
    (root / "forecasts" / "mallory.yaml").write_text(MALLORY)
    content = scan(root).items["forecast:mallory:q-one"].content
    write_lock(root, forge(committed, "forecast:mallory:q-one", content, "2023-06-01T00:00:00.000Z"))
    (p,) = [p for p in verify(root) if p.file.name == "registry.lock"]
    assert p.line == 9 and "dated 2023-06-01T00:00:00Z, before commit" in p.message
    assert "(2026-01-01T00:00:00Z) whose lock did not have it yet: the line is back-dated" in p.message
    with pytest.raises(IntegrityError, match="back-dated"):
        table(root, include_unregistered=True)
    # the last registered line deleted: the chain is intact, but the committed lock is no longer a prefix
    (root / "forecasts" / "mallory.yaml").unlink()
    write_lock(root, committed[:-1])
    (p,) = verify(root)
    assert "as committed in" in p.message and "is not a prefix of the current lock" in p.message
    with pytest.raises(IntegrityError, match="not a prefix"):
        table(root, include_unregistered=True)
    # committing the truncation does not launder it: the older commit still holds the removed line
    git(tmp_path, "commit", "-qam", "truncate", when="2026-02-01T00:00:00Z")
    assert len(verify(root)) == 1
    # nor does putting the line back: a commit lacked it, so now it reads as back-dated
    write_lock(root, committed)
    git(tmp_path, "commit", "-qam", "restore", when="2026-03-01T00:00:00Z")
    (p,) = verify(root)
    assert p.line == 8 and "before commit" in p.message and "back-dated" in p.message


def test_a_published_head_anchors_the_chain(tmp_path):
    root = registered_dir(tmp_path)
    head = lock_head(root)
    assert head == line_hash(lock_lines(root)[-1]) and len(head) == 64
    assert verify(root, anchor=head) == []
    grown = make_dir(tmp_path / "x")  # appending after the published head keeps it in the chain
    register(grown)
    anchor = lock_head(grown)
    (grown / "resolutions-manual.yaml").write_text(manual(TOMORROW))
    register(grown)
    assert lock_head(grown) != anchor and verify(grown, anchor=anchor) == []
    write_lock(root, lock_lines(root)[:-1])  # the last line removed, no git: only the anchor sees it
    assert verify(root) == []
    (p,) = verify(root, anchor=head)
    assert f"the published head {head} is not a line of this lock" in p.message


def test_register_refuses_to_write_before_the_last_line(tmp_path):
    root = registered_dir(tmp_path)
    lines = lock_lines(root)
    obj = json.loads(lines[-1])
    write_lock(
        root, forge(lines, obj["item"], obj["content"] | {"date": TOMORROW}, "2999-01-01T00:00:00.000Z")
    )
    (root / "forecasts" / "mallory.yaml").write_text(MALLORY)
    before = (root / "registry.lock").read_bytes()
    with pytest.raises(UsageError, match="clock .* is behind the lock's last line"):
        register(root)
    assert (root / "registry.lock").read_bytes() == before


SHIPPED_HEAD = "f1af032463c27dc64cdf45e96c22bcc429f1ea411ebe6908fda1a18499f63c89"
"""The head of predictions/registry.lock as first published (68 lines)."""


def test_register_on_an_unchanged_directory_is_byte_identical_and_old_locks_verify(tmp_path):
    root = registered_dir(tmp_path)
    before = (root / "registry.lock").read_bytes()
    assert register(root) == [] and (root / "registry.lock").read_bytes() == before
    # the shipped lock verifies; its first 68 lines (the questions and forecasts first registered) are
    # the published head's chain, then the 11 model-editing amendments of issue 13, then what resolve added
    assert verify("predictions") == []
    entries, problems = read_lock("predictions")
    assert problems == [] and len(entries) >= 79
    assert main(["predictions", "verify", "predictions", "--anchor", SHIPPED_HEAD]) == 0
    amended = [e.item for e in entries[68:79]]
    assert all(item.startswith("question:") for item in amended) and "question:patch-reduce-50" in amended
    # after them: what resolve added (resolution and evidence events), the subject (issue 18) and the
    # round-2 amendments of the model-editing questions (issue 19; the retargeting family was amended once
    # more before its first run)
    later = [e.item for e in entries[79:]]
    kinds = {item.split(":")[0] for item in later}
    assert kinds <= {"resolution", "evidence", "subject", "question"} and later.count("subject") == 1
    again = [item for item in later if item.startswith("question:")]
    assert set(again) <= set(amended) and all(again.count(q) <= 2 for q in again)
    assert {q for q in again if again.count(q) == 2} == {f"question:retarget-{b}pct" for b in
                                                         ("0.01", "0.1", "1", "10")}  # fmt: skip


def test_cli_verify_head_and_anchor(tmp_path, capsys):
    root = registered_dir(tmp_path)
    assert main(["predictions", "verify", str(root), "--head"]) == 0
    assert capsys.readouterr().out.strip() == lock_head(root)
    assert main(["predictions", "verify", str(root), "--anchor", lock_head(root)]) == 0
    assert "the published head is in it" in capsys.readouterr().out
    assert main(["predictions", "verify", str(root), "--anchor", "0" * 64]) == 1
    assert "is not a line of this lock" in capsys.readouterr().out
    (root / "forecasts" / "mallory.yaml").write_text(MALLORY)
    res = str(root / "resolutions-manual.yaml")
    assert main(["score", "--predictions", str(root), "--resolutions", res]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mazeprobe score: nothing scored: 2 item(s) cannot be trusted")
    assert err.count("never registered") == 2
    assert main(["score", "--predictions", str(root), "--resolutions", res, "--include-unregistered"]) == 0
    assert "unregistered (not in the registry lock" in capsys.readouterr().out
    out = tmp_path / "r.md"
    args = ["report", "--predictions", str(root), "--resolutions", res, "--out", str(out), "--n-boot", "20"]
    assert main(args) == 1 and not out.exists()
    assert main([*args, "--include-unregistered"]) == 0
    assert "## Unregistered forecasts (not ranked)" in out.read_text()
