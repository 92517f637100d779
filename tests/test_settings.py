"""mazeprobe.settings: a field declared once gives its YAML check, its allowed-key table and its CLI flag."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from mazeprobe.errors import UsageError
from mazeprobe.settings import (
    KeyedSetting,
    Setting,
    add_flags,
    flag_values,
    keys_help,
    read_settings,
    setting,
    settings_of,
    text,
)
from mazeprobe.yamlio import Checker, SpecError, parse_yaml_text


def _sides(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    if not (lo.isdigit() and hi.isdigit()):
        raise UsageError(f"sides must be MIN-MAX; got {text!r}")
    return int(lo), int(hi)


@dataclass(frozen=True)
class Demo:
    name: str = setting(help="the run's name", name=True)
    n: int = setting(1000, "mazes (default {default})", low=4, high=100_000)
    seed: int = setting(0, "sampling seed", low=0)
    lr: float = setting(5e-4, "learning rate", low=0, bounds="a positive number")
    gamma: float = setting(0.99, "discount", low=0, high=1, closed="high", bounds="in (0, 1]")
    beta: float = setting(1.0, "mix", low=0, high=1, closed="both")
    switch: bool = setting(False, "a switch")
    mode: str = setting("sample", "sample or argmax", choices=("sample", "argmax"))
    limit: int | None = setting(None, "a cap (null: none)", type=int, low=1, nullable=True)
    sides: tuple[int, int] | None = setting(None, "MIN-MAX", type=str, parse=_sides, nullable=True)
    plain: int = 3
    """Not a setting: no setting(...)."""


def _read(text: str) -> tuple[dict, list[str]]:
    doc = parse_yaml_text(text, Path("demo.yaml"))
    c = Checker(doc)
    return read_settings(c, Demo, doc.data, ()), c.problems


def test_fields_without_setting_are_not_settings_and_defaults_stay_on_the_field() -> None:
    assert list(settings_of(Demo)) == [
        "name", "n", "seed", "lr", "gamma", "beta", "switch", "mode", "limit", "sides"
    ]  # fmt: skip
    demo = Demo(name="x")
    assert (demo.n, demo.seed, demo.gamma, demo.switch, demo.plain) == (1000, 0, 0.99, False, 3)
    assert keys_help(Demo, {"kind": "demo"})["n"] == "mazes (default 1000)"
    assert list(keys_help(Demo, {"kind": "demo"}))[0] == "kind"


def test_a_good_section_reads_back_its_values() -> None:
    values, problems = _read(
        "name: r1\nn: 4\nseed: 2\nlr: 0.1\ngamma: 1\nbeta: 0\nswitch: true\nlimit: null\n"
    )
    assert problems == []
    assert values == {
        "name": "r1", "n": 4, "seed": 2, "lr": 0.1, "gamma": 1.0, "beta": 0.0, "switch": True, "limit": None
    }  # fmt: skip
    assert Demo(**values).gamma == 1.0


def test_every_problem_is_reported_at_its_line_with_the_old_messages() -> None:
    text = "n: 3\nseed: -1\nlr: 0\ngamma: 0\nbeta: 1.5\nswitch: 1\nmode: argmx\nlimt: 4\n"
    values, problems = _read(text)
    assert values == {}
    assert problems == [
        "demo.yaml:8:1: limt: unknown key (did you mean 'limit'?); allowed: name, n, seed, lr, gamma, beta, "
        "switch, mode, limit, sides",
        "demo.yaml:1:1: missing required key 'name' (the run's name)",
        "demo.yaml:1:1: n: must be between 4 and 100000; got 3",
        "demo.yaml:2:1: seed: must be >= 0; got -1",
        "demo.yaml:3:1: lr: must be a positive number; got 0",
        "demo.yaml:4:1: gamma: must be in (0, 1]; got 0",
        "demo.yaml:5:1: beta: must be >= 0 and <= 1; got 1.5",
        "demo.yaml:6:1: switch: must be true or false; got int 1",
        "demo.yaml:7:1: mode: must be one of sample, argmax; got 'argmx' (did you mean 'argmax'?)",
    ]


def test_a_name_setting_refuses_what_cannot_be_a_folder_name() -> None:
    _, problems = _read("name: a/b\n")
    assert len(problems) == 1 and problems[0].startswith("demo.yaml:1:1: name: must be at most 100 letters")


def test_flags_are_made_from_the_same_fields() -> None:
    parser = argparse.ArgumentParser(prog="demo", exit_on_error=False)
    add_flags(parser, Demo, ["n", "seed", "gamma", "switch", "mode", "sides"], help={"n": "mazes to keep"})
    args = parser.parse_args(["--n", "10", "--switch", "--gamma", "0.5", "--sides", "9-25"])
    assert flag_values(args, Demo) == {
        "n": 10, "seed": 0, "gamma": 0.5, "switch": True, "mode": "sample", "sides": (9, 25)
    }  # fmt: skip
    text = parser.format_help()
    assert "--n N" in text and "mazes to keep" in text and "{sample,argmax}" in text
    for argv, message in (
        (["--n", "3"], "expected an integer between 4 and 100000, got 3"),
        (["--seed", "x"], "expected a non-negative integer, got 'x'"),
        (["--gamma", "1.5"], "expected in (0, 1], got 1.5"),
        (["--sides", "9"], "sides must be MIN-MAX; got '9'"),
    ):
        with pytest.raises(argparse.ArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parser.parse_args(argv)


def test_the_checker_collects_problems_into_one_error() -> None:
    doc = parse_yaml_text("n: 1\nseed: x\n", Path("demo.yaml"))
    c = Checker(doc)
    read_settings(c, Demo, doc.data, (), check_missing=False)
    with pytest.raises(SpecError) as info:
        c.raise_if_any()
    assert str(info.value).count("\n") == 1


def _even_in(c: Checker, value: object, kp: tuple, context: object) -> object:
    # a check of its own: what it is checked against comes from read_settings' context
    if not isinstance(value, int) or value % 2 or value not in context:
        c.fail(kp, f"must be an even number of {sorted(context)}; got {value!r}")
    return value


@dataclass(frozen=True)
class Entry:
    first: int = setting(0, "checked first", low=0)
    needed: int = setting(0, "needed", check=_even_in, required=True, missing="give `needed`: an even number")
    last: int = setting(0, "checked last", low=0)


def test_own_checks_read_the_context_and_a_missing_message_of_its_own_comes_in_field_order() -> None:
    doc = parse_yaml_text("first: -1\nlast: -2\nextra: 1\n", Path("entry.yaml"))
    c = Checker(doc)
    assert read_settings(c, Entry, doc.data, (), context={2, 4}) == {}
    assert c.problems == [
        "entry.yaml:3:1: extra: unknown key; allowed: first, needed, last",
        "entry.yaml:1:1: first: must be >= 0; got -1",
        "entry.yaml:1:1: give `needed`: an even number",
        "entry.yaml:2:1: last: must be >= 0; got -2",
    ]
    for source, kept, problem in (("needed: 4\n", {"needed": 4}, None), ("needed: 6\n", {}, "got 6")):
        doc = parse_yaml_text(source, Path("entry.yaml"))
        c = Checker(doc)
        assert read_settings(c, Entry, doc.data, (), context={2, 4}) == kept
        assert (c.problems == []) if problem is None else c.problems[0].endswith(problem)


@dataclass(frozen=True)
class Plan:
    name: str = setting(help="the plan's name", name=True)
    seed: int = setting(0, "its seed", low=0)
    description: str = setting("", "free text", check=text)


def test_extra_keys_may_sit_between_settings_and_be_required() -> None:
    doc = parse_yaml_text("description: 3\nseed: -1\nsed: 1\n", Path("plan.yaml"))
    c = Checker(doc)
    order = ("kind", "name", "description", "outcome")
    extra = {"kind": "analysis-plan", "outcome": "what is modelled", "models": "list of {kind: ...}"}
    values = read_settings(c, Plan, doc.data, (), extra=extra, order=order, require=("models", "outcome"))
    assert list(keys_help(Plan, extra, order)) == ["kind", "name", "description", "outcome", "models", "seed"]
    assert values == {}
    assert c.problems == [  # in the order the keys are listed
        "plan.yaml:3:1: sed: unknown key (did you mean 'seed'?); allowed: kind, name, description, outcome, "
        "models, seed",
        "plan.yaml:1:1: missing required key 'name' (the plan's name)",
        "plan.yaml:1:1: missing required key 'outcome' (what is modelled)",
        "plan.yaml:1:1: missing required key 'models' (list of {kind: ...})",
        "plan.yaml:1:1: description: must be text; got int 3",
        "plan.yaml:2:1: seed: must be >= 0; got -1",
    ]


def test_a_keyed_setting_carries_its_default_and_holds_values_as_its_type() -> None:
    digits = KeyedSetting(int, 3, "digits kept", low=0)
    alpha = KeyedSetting(float, 0.05, "1 - confidence", low=0, high=1, bounds="between 0 and 1")
    cov = KeyedSetting(str, "auto", "covariance", choices=("auto", "HC0"))
    assert isinstance(digits, Setting) and (digits.default, digits.type, digits.low) == (3, int, 0)
    assert alpha.held(1) == 1.0 and isinstance(alpha.held(1), float) and cov.held("HC0") == "HC0"
    doc = parse_yaml_text("a: 2\nb: -1\nc: HCO\nd: 1\n", Path("kind.yaml"))
    c = Checker(doc)
    kept = [
        s.validate(c, doc.data[k], (k,)) for k, s in zip("abcd", (digits, digits, cov, alpha), strict=True)
    ]
    assert kept == [2, None, None, None]
    assert c.problems == [
        "kind.yaml:2:1: b: must be >= 0; got -1",
        "kind.yaml:3:1: c: must be one of auto, HC0; got 'HCO' (did you mean 'HC0'?)",
        "kind.yaml:4:1: d: must be between 0 and 1; got 1",
    ]
