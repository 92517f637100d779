"""The command line: help for every command, clean one-line errors with exit 2, no partial files."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from mazeprobe.cli import build_parser, main
from mazeprobe.maze.features import REGISTRY
from mazeprobe.maze.sampling import read_mazes


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mazeprobe", *args], capture_output=True, text=True, timeout=300
    )


def test_every_command_has_help_with_an_example():
    def commands(parser, prefix=()):  # every sub-command, the predictions actions too
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, p in action.choices.items():
                    yield (*prefix, name), p
                    yield from commands(p, (*prefix, name))

    found = dict(commands(build_parser()))
    assert ("predictions", "verify") in found and ("evaluate",) in found
    for name, p in found.items():
        assert p.description and "Example:" in p.description, f"{' '.join(name)} has no help example"


def test_features_list_prints_every_feature_with_its_docstring(capsys):
    assert main(["features", "--list"]) == 0
    out = capsys.readouterr().out
    for name, feat in REGISTRY.items():
        assert name in out
        assert feat.doc[:30] in out


def test_sample_then_show(tmp_path):
    out = tmp_path / "m.parquet"
    res = run(
        "sample", "--n", "40", "--seed", "4", "--placement", "region:5", "--workers", "1", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr
    assert "wrote 40 mazes" in res.stdout
    assert "euc_dist_cheese_top_right" in res.stdout
    frame = read_mazes(out)
    assert len(frame) == 40 and frame["cheese_in_top_right_5x5"].all()
    png = tmp_path / "m.png"
    res = run("show", str(out), "--row", "3", "--png", str(png))
    assert res.returncode == 0, res.stderr
    row = frame.iloc[3]
    n = int(row["maze_size"])
    text_rows = [line for line in res.stdout.splitlines() if line[:3].strip().isdigit()]
    assert len(text_rows) == n
    # the top line printed is row n-1: the cheese row counted from the top
    cheese_line = text_rows[n - 1 - int(row["cheese_row"])]
    assert cheese_line[4:].split(" ")[int(row["cheese_col"])] == "C"
    assert text_rows[-1][4] == "M"  # the mouse at (0, 0) is bottom-left
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n", "0"], "positive integer"),
        (["--n", "5", "--placement", "corner"], "unknown placement 'corner'"),
        (["--n", "5", "--sizes", "9-3"], "bad size range"),
        (["--n", "5", "--sizes", "abc"], "bad size range"),
        (["--n", "5", "--out", "/nonexistent-dir/m.parquet"], "does not exist"),
    ],
)
def test_bad_sample_arguments(tmp_path, args, message):
    out = tmp_path / "m.parquet"
    if "--out" not in args:
        args = [*args, "--out", str(out)]
    res = run("sample", *args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_sample_flags_are_the_spec_mazes_settings(tmp_path):
    """`mazeprobe sample`'s flags are made from SampleSpec's settings (a spec's mazes section): the same
    values give the same SampleSpec both ways, and a flag left out takes the field's default."""
    from mazeprobe.experiments.spec import load_spec
    from mazeprobe.maze.sampling import SampleSpec
    from mazeprobe.settings import flag_values

    argv = ["sample", "--n", "7", "--placement", "region:5", "--require-decision-square", "--sizes", "9-25",
            "--exclude-cheese-top-right", "4", "--start-level", "11", "--out", "m.parquet"]  # fmt: skip
    from_flags = SampleSpec(**flag_values(build_parser().parse_args(argv), SampleSpec))
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(
        "name: s\npolicy: {builtin: shard}\n"
        "mazes: {n: 7, placement: region:5, require_decision_square: true, sizes: 9-25,\n"
        "  exclude_cheese_top_right: 4, start_level: 11}\n"
    )
    assert from_flags == load_spec(spec_file).mazes
    assert from_flags.seed == 0 and from_flags.sizes == (9, 25)
    bare = build_parser().parse_args(["sample", "--n", "3", "--out", "m.parquet"])
    assert SampleSpec(**flag_values(bare, SampleSpec)) == SampleSpec(n=3)


def test_show_errors(tmp_path):
    res = run("show", str(tmp_path / "missing.parquet"))
    assert res.returncode == 2 and "no such maze table" in res.stderr


def test_run_fit_and_probe_commands(tmp_path):
    import json

    from mazeprobe.agents.impala import random_impala, save_checkpoint

    ckpt = save_checkpoint(random_impala(1, seed=2), tmp_path / "net.pth")
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "name: clinet\n"
        f"policy: {{checkpoint: {ckpt}}}\n"
        "mazes: {n: 60, seed: 4, require_decision_square: true, exclude_cheese_top_right: 5}\n"
        "rollouts: {max_steps: 6, actions: argmax, chunk_mazes: 30}\n"
        "record:\n  decision_square_probs: true\n"
        "  activations: {layers: [embedder.block1.res1.resadd_out]}\n"
    )
    res = run("run", str(spec), "--out", str(tmp_path / "runs"), "--workers", "1")
    assert res.returncode == 0, res.stderr
    assert "run complete" in res.stdout and "episodes: 60 on 60 mazes" in res.stdout
    run_dir = tmp_path / "runs" / "clinet"
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: dsq\noutcome: p_cheese_at_dsq\n"
        "features: [euc_dist_cheese_top_right, steps_between_cheese_decision_square]\n"
        "models: [{kind: logit}, {kind: vif}]\n"
    )
    res = run("fit", str(run_dir), "--plan", str(plan), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["plan"] == "dsq" and doc["n"] == 60 and doc["outcome"] == "p_cheese_at_dsq"
    assert set(doc["models"]["logit"]["features"]) == {
        "euc_dist_cheese_top_right",
        "steps_between_cheese_decision_square",
    }
    assert (run_dir / "analyses" / "dsq" / "result.json").exists()
    res = run(
        "probe",
        str(run_dir),
        "--layer",
        "embedder.block1.res1.resadd_out",
        "--probes",
        "cheese-pixel",
        "--folds",
        "2",
    )
    assert res.returncode == 0, res.stderr
    assert "pixel" in res.stdout
    assert (run_dir / "probes" / "embedder.block1.res1.resadd_out.parquet").exists()
    res = run("probe", str(run_dir), "--layer", "embedder.block3.res2.resadd_out")
    assert res.returncode == 2 and "embedder.block1.res1.resadd_out" in res.stderr


# --- exit codes -----------------------------------------------------------------------------------

QUESTIONS = """\
questions:
  - id: q-one
    text: "The first question"
    source: "a post"
    resolution: {method: manual}
"""


def predictions_dir(tmp_path, probability: str = "0.7"):
    root = tmp_path / "predictions"
    (root / "forecasts").mkdir(parents=True)
    (root / "questions.yaml").write_text(QUESTIONS)
    (root / "forecasts" / "alice.yaml").write_text(
        "forecaster: alice\nsource: a post\nmade_at: 2023-03-01\n"
        f"forecasts:\n  - {{question: q-one, probability: {probability}}}\n"
    )
    return root


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code, meaning in (("0", "success"), ("1", "a check found a problem"), ("2", "bad input or usage"),
                          ("130", "interrupted")):  # fmt: skip
        assert any(line.split()[:1] == [code] and meaning in line for line in out.splitlines()), code


def test_validate_exits_1_when_the_directory_has_a_problem(tmp_path, capsys):
    root = predictions_dir(tmp_path, probability="1.0")  # a certain forecast: infinite log loss
    assert main(["predictions", "validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "infinite log loss" in out and out.strip().endswith("1 problem")


# --- predictions DIR or --predictions DIR ---------------------------------------------------------


@pytest.mark.parametrize("action", ["validate", "list", "verify"])
def test_predictions_takes_dir_or_the_predictions_flag(tmp_path, capsys, action):
    root = predictions_dir(tmp_path)
    if action == "verify":
        assert main(["predictions", "register", str(root)]) == 0
        capsys.readouterr()
    assert main(["predictions", action, str(root)]) == 0
    positional = capsys.readouterr()
    assert main(["predictions", action, "--predictions", str(root)]) == 0
    assert capsys.readouterr() == positional
    assert main(["predictions", action, str(root), "--predictions", f"{root}/"]) == 0  # the same directory
    assert capsys.readouterr() == positional


def test_predictions_refuses_two_different_directories(tmp_path, capsys):
    root = predictions_dir(tmp_path)
    other = predictions_dir(tmp_path / "other")
    assert main(["predictions", "validate", str(root), "--predictions", str(other)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mazeprobe predictions validate: error: two predictions")
    assert main(["predictions", "validate"]) == 2
    assert "DIR or --predictions DIR" in capsys.readouterr().err


# --- --device -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["run", "spec.yaml"],
        ["vfield", "--builtin", "shard", "--seed", "0", "--png", "v.png"],
        ["train", "--out", "m.pth"],
    ],
)
def test_device_rejects_a_bad_value_with_exit_2(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--device", "gpu"])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "argument --device: expected auto, cpu, cuda or cuda:N, got 'gpu'" in lines[0]


def test_device_means_the_same_everywhere(monkeypatch, tmp_path, capsys):
    import torch

    from mazeprobe.cli._common import device_name

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_name("auto") == "cpu" and device_name("cpu") == "cpu"
    png = tmp_path / "v.png"
    assert main(["vfield", "--builtin", "shard", "--seed", "0", "--png", str(png), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err and not png.exists()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_name("auto") == "cuda"


def test_vfield_level_seed_and_seed_are_the_same(tmp_path, capsys):
    parser = build_parser()
    common = ["vfield", "--builtin", "shard", "--png", "v.png"]
    by_level_seed = parser.parse_args([*common, "--level-seed", "7"])
    assert vars(by_level_seed) == vars(parser.parse_args([*common, "--seed", "7"]))
    assert by_level_seed.level_seed == 7
    pngs = []
    for flag in ("--level-seed", "--seed"):
        png = tmp_path / f"{flag.strip('-')}.png"
        assert main(["vfield", "--builtin", "shard", flag, "3", "--png", str(png)]) == 0
        pngs.append(png.read_bytes())
        assert "maze of level seed 3" in capsys.readouterr().out
    assert pngs[0] == pngs[1]


# --- Ctrl-C: exit 130 and a message that says what was kept ---------------------------------------


def test_train_interrupted_says_the_state_was_saved_and_exits_130(tmp_path, monkeypatch, capsys):
    import mazeprobe.training as training

    out = tmp_path / "m.pth"

    def interrupted_train(config, path, **kwargs):  # what train returns after catching a Ctrl-C
        return training.TrainResult(Path(path), 256, 12.0, False, [], interrupted=True)

    monkeypatch.setattr(training, "train", interrupted_train)
    assert main(["train", "--out", str(out), "--quiet", "--device", "cpu"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mazeprobe train: interrupted at 256 samples")
    assert f"{out}.train" in err[0] and "--resume" in err[0]


def test_run_interrupted_after_it_started_keeps_its_chunks(tmp_path, monkeypatch, capsys):
    import mazeprobe.experiments.run as running

    spec = tmp_path / "s.yaml"
    spec.write_text("name: cut\npolicy: {builtin: shard}\nmazes: {n: 4, seed: 1}\n")
    run_dir = tmp_path / "runs" / "cut"

    def cut_short(spec, out_dir, on_start, **kwargs):
        on_start(run_dir, 4, 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(running, "run_experiment", cut_short)
    assert main(["run", str(spec), "--out", str(tmp_path / "runs"), "--quiet"]) == 130
    err = capsys.readouterr().err.strip()
    assert err == f"mazeprobe run: interrupted: finished chunks are kept in {run_dir}; finish with --resume"


def test_a_command_that_only_reads_says_nothing_was_written(tmp_path, monkeypatch, capsys):
    import mazeprobe.registry.items.load as load

    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(load, "scan", ctrl_c)
    assert main(["predictions", "validate", str(predictions_dir(tmp_path))]) == 130
    assert capsys.readouterr().err == "mazeprobe predictions validate: interrupted; nothing was written\n"


def test_resolve_interrupted_names_the_folder_where_its_fits_are_kept(tmp_path, monkeypatch, capsys):
    import mazeprobe.registry.resolution.resolve as resolve

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(resolve, "resolve_run", ctrl_c)
    first, second = tmp_path / "runs" / "first", tmp_path / "runs" / "second"
    first.mkdir(parents=True)
    second.mkdir()
    args = ["resolve", "--predictions", str(tmp_path), "--run", str(first), "--run", str(second)]
    out = tmp_path / "resolved"
    assert main([*args, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err == (
        f"mazeprobe resolve: interrupted; the fits and probe results finished so far are kept in {out}, "
        f"reused next time; {out}/resolutions.yaml is written whole at the end or not at all\n"
    )
    # without --out: data/resolved/<the first run's name>, never a run directory
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "kept in data/resolved/first, reused" in err and str(second) not in err


def test_sample_interrupted_says_its_table_is_whole_or_absent(tmp_path, monkeypatch, capsys):
    import mazeprobe.maze.sampling as sampling

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sampling, "sample_mazes", ctrl_c)
    out = tmp_path / "m.parquet"
    assert main(["sample", "--n", "5", "--out", str(out), "--quiet"]) == 130
    message = f"interrupted; no partial file: {out} is written whole at the end or not at all"
    assert capsys.readouterr().err == f"mazeprobe sample: {message}\n"
    assert not list(tmp_path.iterdir())
