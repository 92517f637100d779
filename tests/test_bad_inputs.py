"""Every command on bad inputs: one line that says what is wrong, exit 2 (or 1 where a check finds the
problem), never a traceback, and nothing left half-written.

The table: for each command, each file it reads is replaced in turn by something that is not what it
should be: missing, empty, a directory, a file of another schema, a truncated file, a file of another type;
then settings that parse but do not fit (an edit's tensor, square or channels), values no argument means
(NaN minutes, a 260-character name), a scheduler that is not there, and a disk that is full.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mazeprobe.cli import main

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "reference-r5.pth"
PLAN = REPO / "analysis" / "behavioral.yaml"
SPEC = REPO / "analysis" / "behavioral-demo.yaml"
L = "embedder.block2.res1.resadd_out"


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
    files.update(_bad_edits(root))
    files.update(_bad_registries(root))
    files["short-grid"] = _short_grid(root / "short-grid.parquet")
    files["spec-ok"] = root / "ok.yaml"
    files["spec-ok"].write_text("name: ok\npolicy: {builtin: shard}\nmazes: {n: 4, seed: 1}\n")
    files["full-disk"] = root / "full"  # outputs written in here meet a full disk (test_bad_inputs...)
    files["full-disk"].mkdir()
    # values, not files: the argument itself is what is wrong
    files.update({"name-260": Path("x" * 260), "negative": Path("-1")})
    files.update({v: Path(v) for v in ("nan", "inf")})
    return files


EDIT_SPEC = f"""\
kind: experiment
name: bad-edit
policy: {{{{checkpoint: {MODEL}}}}}
mazes: {{{{n: 2, seed: 2, require_decision_square: true, exclude_cheese_top_right: 5}}}}
rollouts: {{{{per_maze: 1, max_steps: 16}}}}
record: {{{{vfield_tv: false}}}}
interventions:
  - {{{{id: bad, {{edit}}}}}}
"""
BAD_EDITS = {
    # kind: (the edit, what the one line must say beside the spec file, the key and the intervention)
    "add-nan": (f"edit: add, layer: {L}, tensor: nan.npy", "tensor", "1 of its 8192 values are NaN"),
    "add-pickle": (f"edit: add, layer: {L}, tensor: pickle.npy", "tensor", "not a .npy file"),
    "add-text": (f"edit: add, layer: {L}, tensor: text.npy", "tensor", "not a .npy file"),
    "add-npz": (f"edit: add, layer: {L}, tensor: arrays.npz", "tensor", "not a .npy file"),
    "add-shape": (f"edit: add, layer: {L}, tensor: small.npy", "tensor", "has shape (3, 3, 3)"),
    "clamp-outside": (f"edit: clamp, layer: {L}, channels: [0], at: [30, 2]", "at", "(30, 2) is outside"),
    "channels-outside": (f"edit: zero-ablate, layer: {L}, channels: [0, 40]", "channels",
                         "channels [40] do not exist"),
    "cheese-on-wall": (f"edit: cheese-vector, layer: {L}, at: [1, 1]", "at", "(1, 1): it is a wall"),
    "clamp-sign-list": (f"edit: clamp, layer: {L}, channels: [0], at: [0, 0], sign: ranking", "sign",
                        "a ranked channel set"),
    "cheese-at-target-radius": (f"edit: cheese-at-target, layer: {L}, at: [0, 2], radius: -1", "radius",
                                "must be an integer >= 0"),
}  # fmt: skip


def _bad_edits(root: Path) -> dict[str, Path]:
    """Experiment specs (intervention `bad`) whose one edit parses but cannot be run, and their tensors."""
    shape = (32, 16, 16)  # the layer's maps in the reference network
    nan = np.zeros(shape, np.float32)
    nan[3, 4, 5] = np.nan
    np.save(root / "nan.npy", nan)
    (root / "pickle.npy").write_bytes(pickle.dumps(np.zeros(shape, np.float32)))  # np.load would unpickle it
    (root / "text.npy").write_text("0 0 0\n")
    np.savez(root / "arrays.npz", x=np.zeros(shape, np.float32))
    np.save(root / "small.npy", np.zeros((3, 3, 3), np.float32))
    specs = {}
    for kind, (edit, _, _) in BAD_EDITS.items():
        specs[f"spec-{kind}"] = root / f"spec-{kind}.yaml"
        specs[f"spec-{kind}"].write_text(EDIT_SPEC.format(edit=edit))
    return specs


SHIPPED_LOCK_LINES = len((REPO / "predictions" / "registry.lock").read_bytes().splitlines())


def _bad_registries(root: Path) -> dict[str, Path]:
    """Predictions directories: one whose lock lost its last newline, one whose forecaster's name is too
    long to be a file name."""
    cut = root / "cut-lock"
    shutil.copytree(REPO / "predictions", cut)
    lock = cut / "registry.lock"
    lock.write_bytes(lock.read_bytes()[:-1])
    long = root / "long-forecaster"
    shutil.copytree(REPO / "predictions", long)
    forecasts = long / "forecasts" / "garriga-alonso.yaml"
    text = forecasts.read_text().replace("forecaster: garriga-alonso", "forecaster: " + "x" * 260)
    forecasts.write_text(text)
    return {"cut-lock": cut, "long-forecaster": long}


def _short_grid(path: Path) -> Path:
    """A maze table whose first row's grid lost three cells."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mazeprobe.maze.sampling import SampleSpec, sample_mazes, write_mazes

    write_mazes(sample_mazes(SampleSpec(n=2, seed=0)), path)
    table = pq.read_table(path)
    grids = table.column("grid").to_pylist()
    grids[0] = grids[0][:-3]
    column = pa.array(grids, type=table.schema.field("grid").type)
    pq.write_table(table.set_column(table.schema.get_field_index("grid"), "grid", column), path)
    return path


@pytest.fixture(scope="module")
def predictions(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("preds") / "predictions"
    shutil.copytree(REPO / "predictions", root)
    return root


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse refuses a bad argument value before any handler runs
        code = exc.code
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


YAML = ["missing", "empty", "directory", "truncated-yaml", "binary"]
EDIT_KINDS = [f"spec-{k}" for k in BAD_EDITS]
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
    ("fingerprint", lambda f: ["fingerprint", f, "--n", "2", "--out", "{tmp}"], CHECKPOINT),
    # --n 0: the argument is what is wrong (the kind only names the case)
    ("fingerprint-n", lambda f: ["fingerprint", MODEL, "--n", "0", "--out", "{tmp}"], ["missing"]),
    ("study", lambda f: ["study", f, "--out", "{tmp}/o", "--runs", "{tmp}/r", "--device", "cpu", "--yes",
                         "--predictions", REPO / "predictions", "--analysis-dir", REPO / "analysis"],
     CHECKPOINT),
    ("train-config", lambda f: ["train", "--config", f, "--out", "{tmp}/m.pth"], YAML),
    ("train-init", lambda f: ["train", "--init", f, "--out", "{tmp}/m.pth"], CHECKPOINT),
    ("score", lambda f: ["score", "--predictions", "{preds}", "--resolutions", f], [*YAML, "json-list"]),
    ("report", lambda f: ["report", "--predictions", "{preds}", "--resolutions", f, "--out", "{tmp}/r.html"],
     YAML),
    ("resolve-run", lambda f: ["resolve", "--predictions", "{preds}", "--run", f],
     ["missing", "empty", "directory", "binary"]),
    # settings that parse but do not fit the network or the mazes: refused before a run directory exists
    ("run-edit", lambda f: ["run", f, "--out", "{tmp}"], EDIT_KINDS),
    ("vfield-edit-spec", lambda f: [
        "vfield", "--checkpoint", MODEL, "--level-seed", "0", "--png", "{tmp}/v.png", "--edit", f"{f}#bad"
    ], EDIT_KINDS),
    ("run-scheduler", lambda f: ["run", f, "--out", "{tmp}", "--scheduler", "tcp://127.0.0.1:1"],
     ["spec-ok"]),
    ("show-row", lambda f: ["show", f, "--row", "0"], ["short-grid"]),
    ("forecast-forecaster", lambda f: [
        "predictions", "forecast", "{preds}", "--forecaster", f.name, "--question", "goal-weirder",
        "--probability", "0.6"
    ], ["name-260"]),
    ("register-forecaster", lambda f: ["predictions", "register", f], ["long-forecaster"]),
    # a lock cut off: a check finds it (exit 1), and nothing is registered on top of it
    ("register-lock", lambda f: ["predictions", "register", f], ["cut-lock"], (1,)),
    ("train-minutes", lambda f: ["train", "--out", "{tmp}/m.pth", f"--max-minutes={f}"],
     ["nan", "inf", "negative"]),
    ("sample-out", lambda f: ["sample", "--n", "5", "--out", f"{f}/m.parquet", "--quiet"], ["full-disk"]),
    ("vfield-png", lambda f: ["vfield", "--builtin", "shard", "--level-seed", "0", "--png", f"{f}/v.png"],
     ["full-disk"]),
]  # fmt: skip
EXPECT = {
    # kind: what the one line must say ({f}: the bad file)
    **{f"spec-{k}": ("{f}:", f"interventions[0].{key}: intervention bad: ", why)
       for k, (_, key, why) in BAD_EDITS.items()},
    "spec-ok": ("cannot reach the Dask scheduler at tcp://127.0.0.1:1",),
    "short-grid": ("{f}: row 0: column grid holds ", "values; a ", " maze (maze_size "),
    "name-260": ("forecaster id is 260 characters long", "at most 100"),
    "long-forecaster": ("forecaster: a forecaster id is 260 characters long", "at most 100"),
    "cut-lock": (f"registry.lock:{SHIPPED_LOCK_LINES}:1: line {SHIPPED_LOCK_LINES} is cut off",
                 "the lock was truncated"),
    "nan": ("--max-minutes: expected a finite number >= 0, got 'nan'",),
    "inf": ("--max-minutes: expected a finite number >= 0, got 'inf'",),
    "negative": ("--max-minutes: expected a finite number >= 0, got '-1'",),
    "full-disk": ("cannot write {f}/", ": no space left on device"),
}  # fmt: skip


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
    ("name", "build", "kind", "codes"),
    [(n, b, k, c[0] if c else (2,)) for n, b, kinds, *c in CASES for k in kinds],
    ids=[f"{n}-{k}" for n, _, kinds, *_ in CASES for k in kinds],
)
def test_bad_inputs_are_one_line(name, build, kind, codes, bad, predictions, tiny_run, tmp_path, capsys):
    fill = {"{tmp}": str(tmp_path), "{preds}": str(predictions), "{run}": str(tiny_run)}
    argv = []
    for arg in build(bad[kind]):
        text = str(arg)
        for key, value in fill.items():
            text = text.replace(key, value)
        argv.append(text)
    if kind == "full-disk":
        _fill_the_disk(bad[kind], argv)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(capsys, argv)
    assert_one_line(code, err, allowed=codes)
    for text in EXPECT.get(kind, ()):
        assert text.replace("{f}", str(bad[kind])) in err, err
    # nothing half-written beside the outputs
    assert [p for p in sorted(q.name for q in tmp_path.iterdir()) if p not in before] == []
    if kind == "full-disk":  # neither the output nor its temporary file
        assert list(bad[kind].iterdir()) == []


def _fill_the_disk(folder: Path, argv: list[str]) -> None:
    """Each output named in `folder` is written to a full device: its temporary name (mazeprobe.atomic:
    .NAME.tmp-PID beside it) is made a link to /dev/full, where every write fails with ENOSPC."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    for text in argv:
        if text.startswith(f"{folder}/"):
            out = Path(text)
            (out.parent / f".{out.name}.tmp-{os.getpid()}").symlink_to("/dev/full")


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


# --- a lock cut off, a disk that fills ------------------------------------------------------------------


def test_verify_reports_a_lock_whose_last_line_is_cut_off(tmp_path, capsys, predictions):
    from mazeprobe.registry.items.lock import LOCK_NAME, append_items, lock_problems

    root = tmp_path / "p"
    shutil.copytree(predictions, root)
    lock = root / LOCK_NAME
    # the last line an event, so that cutting it loses no registration the files rely on
    append_items(root, [("resolution:goal-weirder", {"outcome": "no", "run": "before the cut"})])
    whole = lock.read_bytes()
    n = whole.count(b"\n")
    assert run_cli(capsys, ["predictions", "verify", root])[0] == 0
    # without its last newline (the last line still parses) and cut inside the last line (it does not)
    for cut in (whole[:-1], whole[:-30]):
        lock.write_bytes(cut)
        code, out, err = run_cli(capsys, ["predictions", "verify", root])
        assert code == 1 and "Traceback" not in err
        assert f"{LOCK_NAME}:{n}:1: line {n} is cut off" in out and "the lock was truncated" in out
        assert "1 problem" in out  # said once, not also as a line that is not JSON
        # whatever loads the lock through lock_problems refuses it, and writes nothing on top of it
        code, _, err = run_cli(capsys, ["predictions", "register", root])
        assert code == 1 and f"line {n} is cut off" in err and lock.read_bytes() == cut
    # an intact lock still takes new lines, and stays whole
    lock.write_bytes(whole)
    append_items(root, [("resolution:goal-weirder", {"outcome": "no", "run": "test"})])
    assert lock.read_bytes().startswith(whole) and lock.read_bytes().endswith(b"\n")
    assert lock_problems(root) == []


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, capsys, predictions):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    root = tmp_path / "p"
    shutil.copytree(predictions, root)
    lock = root / "registry.lock"
    before = lock.read_bytes()
    forecast = ["predictions", "forecast", root, "--forecaster", "me", "--question", "goal-weirder"]
    assert run_cli(capsys, [*forecast, "--probability", "0.6"])[0] == 0
    # the lock's temporary name (mazeprobe.atomic) on a device where every write fails with ENOSPC
    (root / f".registry.lock.tmp-{os.getpid()}").symlink_to("/dev/full")
    code, _, err = run_cli(capsys, ["predictions", "register", root])
    assert_one_line(code, err)
    assert f"cannot write {lock}: no space left on device" in err
    assert lock.read_bytes() == before and not [p for p in root.iterdir() if ".tmp-" in p.name]


def _limited(argv: list[str], cwd: Path, limit: int) -> subprocess.CompletedProcess:
    """`argv` run with the file-size limit `ulimit -f` sets (Python ignores SIGXFSZ: writes past it fail
    with EFBIG)."""

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, preexec_fn=limit_files, timeout=300)


def test_the_file_size_limit_is_one_line_naming_the_file(tmp_path):
    code = _limited([sys.executable, "-m", "mazeprobe", "sample", "--n", "200", "--out", "m.parquet",
                     "--quiet"], tmp_path, 10_000)  # fmt: skip
    assert code.returncode == 2 and "Traceback" not in code.stderr
    assert code.stderr.strip() == (
        "mazeprobe sample: error: cannot write m.parquet: file too large for this process's limit (ulimit -f)"
    )
    # torch.save reports a short write without its errno: the limit is found all the same
    save = "from mazeprobe.agents.impala import random_impala, save_checkpoint; "
    save += "save_checkpoint(random_impala(1, 0), 'm.pth')"
    code = _limited([sys.executable, "-c", save], tmp_path, 10_000)
    assert code.returncode == 1
    assert "WriteFailed: cannot write m.pth: file too large" in code.stderr.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []  # neither file, nor a temporary one


@pytest.mark.parametrize("minutes", [float("nan"), float("inf"), -1.0])
def test_train_refuses_a_time_limit_that_is_no_time_before_writing(minutes, tmp_path):
    from mazeprobe.errors import UsageError
    from mazeprobe.training import TrainConfig, train

    with pytest.raises(UsageError, match="max_minutes must be a finite number >= 0"):
        train(TrainConfig(), tmp_path / "out" / "m.pth", max_minutes=minutes)
    assert list(tmp_path.iterdir()) == []
