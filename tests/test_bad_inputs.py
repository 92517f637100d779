"""Every command on bad inputs: one line that says what is wrong, exit 2 (or 1 where a check finds the
problem), never a traceback, and nothing left half-written.

The table: for each command, each file it reads is replaced in turn by something that is not what it
should be: missing, empty, a directory, a file of another schema, a truncated file, a file of another type.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mazeprobe.cli import main

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "reference-r5.pth"
PLAN = REPO / "analysis" / "behavioral.yaml"
SPEC = REPO / "analysis" / "behavioral-demo.yaml"


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    """One of each kind of bad file."""
    root = tmp_path_factory.mktemp("bad")
    files = {
        "missing": root / "no-such-file",
        "empty": root / "empty.yaml",
        "directory": root / "a-directory",
        "truncated-yaml": root / "truncated.yaml",
        "truncated-parquet": root / "truncated.parquet",
        "truncated-checkpoint": root / "truncated.pth",
        "binary": root / "binary.yaml",
        "text": root / "text.pth",
        "json-list": root / "list.json",
    }
    files["empty"].write_text("")
    files["directory"].mkdir()
    files["truncated-yaml"].write_text("name: x\npolicy: {builtin: cheese\nmazes: [")
    files["truncated-parquet"].write_bytes(b"PAR1" + b"\x00" * 40)
    files["truncated-checkpoint"].write_bytes(MODEL.read_bytes()[:5000])
    files["binary"].write_bytes(bytes(range(256)) * 4)
    files["text"].write_text("not a checkpoint\n")
    files["json-list"].write_text("[1, 2, 3]\n")
    return files


@pytest.fixture(scope="module")
def predictions(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("preds") / "predictions"
    shutil.copytree(REPO / "predictions", root)
    return root


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, allowed=(2,)) -> None:
    assert code in allowed, f"exit {code}: {err}"
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    # a refused registry may list each problem on its own line after its header: that is still one
    # error; anything else is exactly one line
    assert lines and lines[0].startswith("mazeprobe "), err
    assert ": error: " in lines[0] or code == 1, err


L = "embedder.block2.res1.resadd_out"
YAML = ["missing", "empty", "directory", "truncated-yaml", "binary"]
CHECKPOINT = ["missing", "empty", "directory", "truncated-checkpoint", "text"]
PARQUET = ["missing", "empty", "directory", "truncated-parquet", "binary"]
CASES = [
    # (command, argv with the bad file f, kinds of bad file)
    ("show", lambda f: ["show", f], PARQUET),
    ("run", lambda f: ["run", f, "--out", "{tmp}"], YAML),
    ("fit-input", lambda f: ["fit", f, "--plan", PLAN], ["missing", "directory", *PARQUET[3:]]),
    ("fit-plan", lambda f: ["fit", "{run}", "--plan", f], YAML),
    ("probe", lambda f: ["probe", f, "--layer", L], ["missing", "directory", "empty"]),
    ("channels", lambda f: ["channels", f, "--layer", L, "--n", "8", "--out", "{tmp}/c.pq"], CHECKPOINT),
    ("vfield", lambda f: ["vfield", "--checkpoint", f, "--seed", "0", "--png", "{tmp}/v.png"], CHECKPOINT),
    ("vfield-edit", lambda f: [
        "vfield", "--checkpoint", MODEL, "--level-seed", "0", "--png", "{tmp}/v.png", "--edit", f"{f}#x"
    ], YAML),
    ("evaluate", lambda f: ["evaluate", f, "--n", "2"], CHECKPOINT),
    ("train-config", lambda f: ["train", "--config", f, "--out", "{tmp}/m.pth"], YAML),
    ("train-init", lambda f: ["train", "--init", f, "--out", "{tmp}/m.pth"], CHECKPOINT),
    ("score", lambda f: ["score", "--predictions", "{preds}", "--resolutions", f], [*YAML, "json-list"]),
    ("report", lambda f: ["report", "--predictions", "{preds}", "--resolutions", f, "--out", "{tmp}/r.html"],
     YAML),
    ("resolve-run", lambda f: ["resolve", "--predictions", "{preds}", "--run", f],
     ["missing", "empty", "directory", "binary"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A complete run directory of a scripted agent (a few seconds)."""
    from mazeprobe.experiments.run import run_experiment
    from mazeprobe.experiments.spec import load_spec

    root = tmp_path_factory.mktemp("tinyrun")
    text = SPEC.read_text().replace("n: 1000", "n: 30")
    (root / "spec.yaml").write_text(text)
    return run_experiment(load_spec(root / "spec.yaml"), root / "runs")


@pytest.mark.parametrize(
    ("name", "build", "kind"),
    [(n, b, k) for n, b, kinds in CASES for k in kinds],
    ids=[f"{n}-{k}" for n, _, kinds in CASES for k in kinds],
)
def test_bad_inputs_are_one_line(name, build, kind, bad, predictions, tiny_run, tmp_path, capsys):
    fill = {"{tmp}": str(tmp_path), "{preds}": str(predictions), "{run}": str(tiny_run)}
    argv = []
    for arg in build(bad[kind]):
        text = str(arg)
        for key, value in fill.items():
            text = text.replace(key, value)
        argv.append(text)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(capsys, argv)
    assert_one_line(code, err)
    # nothing half-written beside the outputs
    assert [p for p in sorted(q.name for q in tmp_path.iterdir()) if p not in before] == []


def test_a_run_directory_with_a_broken_manifest_is_one_line(tiny_run, tmp_path, capsys, predictions):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for content in ("[1, 2]\n", '{"spec": ', "", '{"name": NaN}'):
        (run / "manifest.json").write_text(content)
        for argv in (["show", run, "--episode", "0"], ["fit", run, "--plan", PLAN],
                     ["resolve", "--predictions", predictions, "--run", run]):  # fmt: skip
            code, _, err = run_cli(capsys, argv)
            assert_one_line(code, err)


def test_a_predictions_directory_that_is_not_one(tmp_path, capsys, predictions):
    # a file where the forecasts folder should be, a lock that is a directory or not UTF-8
    broken = tmp_path / "p"
    shutil.copytree(predictions, broken)
    shutil.rmtree(broken / "forecasts")
    (broken / "forecasts").write_text("not a folder\n")
    code, out, err = run_cli(capsys, ["predictions", "validate", broken])
    assert code == 1 and "forecasts:1:1: is a file, not a folder" in out
    lockdir = tmp_path / "q"
    shutil.copytree(predictions, lockdir)
    (lockdir / "registry.lock").unlink()
    (lockdir / "registry.lock").mkdir()
    code, out, err = run_cli(capsys, ["predictions", "verify", lockdir])
    assert code in (1, 2) and "Traceback" not in err
    latin = tmp_path / "r"
    shutil.copytree(predictions, latin)
    (latin / "registry.lock").write_bytes((latin / "registry.lock").read_bytes() + b"\xff\xfe caf\xe9\n")
    code, out, err = run_cli(capsys, ["predictions", "verify", latin])
    assert code in (1, 2) and "Traceback" not in err and ("UTF-8" in out + err or "utf-8" in out + err)


def test_a_spec_with_impossible_sizes_says_the_memory_it_would_take(tmp_path, capsys):
    spec = tmp_path / "big.yaml"
    text = SPEC.read_text().replace("n: 1000", "n: 1000000000000")
    spec.write_text(text)
    code, _, err = run_cli(capsys, ["run", spec, "--out", tmp_path])
    assert_one_line(code, err)
    assert "GiB" in err and ("at most" in err or "more than" in err)
    text = SPEC.read_text().replace("per_maze: 1", "per_maze: 1000000000")
    spec.write_text(text)
    code, _, err = run_cli(capsys, ["run", spec, "--out", tmp_path])
    assert_one_line(code, err)
    assert json.dumps("per_maze")[1:-1] in err
