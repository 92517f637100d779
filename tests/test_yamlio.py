"""Reading YAML: every problem is one line at file:line:col, never a traceback or a runaway."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mazeprobe.yamlio import MAX_NODES, SpecError, load_yaml

REPO = Path(__file__).resolve().parent.parent


def _bomb(levels: int) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(9))  # 9**9 = 387 million strings once expanded
    started = time.perf_counter()
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    assert time.perf_counter() - started < 1.0
    message = str(info.value)
    assert message.startswith(f"{path}:") and "alias bomb" in message and "\n" not in message


def test_a_few_aliases_below_the_budget_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(_bomb(5))  # 9**5 = 59,049 strings
    assert 9**5 < MAX_NODES
    doc = load_yaml(path)
    assert len(doc.data["l4"]) == 9 and doc.data["l4"][0][0][0][0] == doc.data["l0"]


def test_the_shipped_questions_keep_their_anchors():
    data = load_yaml(REPO / "predictions" / "questions.yaml").data
    sources = {q["id"]: q["source"] for q in data["questions"]}
    assert sources["closer-cheese-dsq-euclid"] == sources["closer-cheese-dsq-steps"]  # both *post_a


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("forecasts:\n  - question: q1\n    probability: 0.7\n    probability: 0.2\n")
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    assert str(info.value) == (
        f"{path}:4:5: invalid YAML: duplicate key 'probability' (first at line 3); a mapping holds each "
        "key once"
    )


def test_an_impossible_date_is_one_line(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("forecaster: x\nmade_at: 2026-02-30\n")
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    assert str(info.value).startswith(f"{path}:2:10: invalid YAML: '2026-02-30' is not a valid date")


def test_a_recursive_alias_and_a_directory_are_one_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(SpecError, match="an alias that contains itself"):
        load_yaml(path)
    with pytest.raises(SpecError, match="is a directory"):
        load_yaml(tmp_path)
