"""The house's conventions: file kinds told apart, old import paths kept, one owner per fact, the device
outside a spec's identity."""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from mazeprobe.experiments.spec import load_spec
from mazeprobe.stats.plan import load_plan
from mazeprobe.training.config import load_config
from mazeprobe.yamlio import SpecError, file_kind, load_yaml

ANALYSIS = Path(__file__).resolve().parent.parent / "analysis"
LOADERS = {"experiment": load_spec, "analysis-plan": load_plan, "training-config": load_config}
SHIPPED = {
    "reference-demo.yaml": "experiment",
    "behavioral.yaml": "analysis-plan",
    "train-r5.yaml": "training-config",
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_each_loader_refuses_the_other_kinds_naming_the_kind(name, loader):
    kind = SHIPPED[name]
    if loader == kind:
        LOADERS[loader](ANALYSIS / name)  # loads
        return
    with pytest.raises(SpecError) as info:
        LOADERS[loader](ANALYSIS / name)
    message = str(info.value)
    assert message.startswith(f"{ANALYSIS / name}:")
    assert f"(kind: {kind}" in message and (" not an " in message or " not a " in message)


def test_every_shipped_yaml_in_analysis_declares_its_kind():
    for path in sorted(ANALYSIS.glob("*.yaml")):
        assert file_kind(load_yaml(path).data) == load_yaml(path).data.get("kind"), path


def test_a_file_without_kind_is_told_apart_by_its_keys(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text("name: p\noutcome: got_cheese\nfeatures: [maze_size]\nmodels: [logit]\n")
    with pytest.raises(SpecError, match="this file is an analysis plan"):
        load_spec(plan)
    assert load_plan(plan).name == "p"
    unknown = tmp_path / "u.yaml"
    unknown.write_text("kind: experimnet\nname: x\n")
    with pytest.raises(SpecError, match="unknown kind 'experimnet' \\(did you mean 'experiment'\\?\\)"):
        load_spec(unknown)


def test_the_device_is_not_part_of_a_spec_identity():
    spec = load_spec(ANALYSIS / "reference-demo.yaml")
    on_gpu = replace(spec, policy=replace(spec.policy, device="cuda"))
    assert on_gpu.hash == spec.hash
    other = replace(spec, rollouts=replace(spec.rollouts, max_steps=spec.rollouts.max_steps + 1))
    assert other.hash != spec.hash


@pytest.mark.parametrize(
    "old, new, names",
    [
        ("mazeprobe.agents.train", "mazeprobe.training.trainer", ["train", "load_config", "TrainConfig"]),
        ("mazeprobe.agents.collect", "mazeprobe.training.collect", ["CollectorPool", "expert_field"]),
        ("mazeprobe.agents.evaluate", "mazeprobe.training.evaluate", ["evaluate", "write_card"]),
        ("mazeprobe.experiments.rollout", "mazeprobe.sim", ["Roller", "maze_batch", "path_positions"]),
        ("mazeprobe.registry.resolve", "mazeprobe.registry.resolution.resolve", ["resolve_run"]),
        ("mazeprobe.registry.trust", "mazeprobe.registry.items.trust", ["Ledger"]),
        ("mazeprobe.registry.leaderboard", "mazeprobe.registry.report.leaderboard", ["Leaderboard"]),
    ],
)
def test_old_module_paths_still_import_with_a_warning(old, new, names):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)
    target = importlib.import_module(new)
    for name in names:
        assert getattr(module, name) is getattr(target, name)


@pytest.mark.parametrize(
    "package, new, name",
    [
        ("mazeprobe.registry.scoring", "mazeprobe.registry.scoring.scores", "score_table"),
        ("mazeprobe.registry.rules", "mazeprobe.registry.rules.fitted", "RULE_REGISTRY"),
    ],
)
def test_the_old_registry_modules_now_packages_still_give_their_names(package, new, name):
    module = importlib.import_module(package)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), name)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_procgen_facts_have_one_owner():
    from mazeprobe.agents import base, impala
    from mazeprobe.maze import env, geometry, levelgen, procgen, state
    from mazeprobe.training import collect

    assert levelgen.WORLD_DIM == collect.WORLD == procgen.WORLD_SIDE == 25
    assert base.N_ACTIONS == impala.N_ACTIONS == procgen.N_ACTIONS == 15
    assert env.NOOP_ACTION == base.NOOP == procgen.NOOP
    assert geometry.WALL is procgen.WALL and state.CHEESE is procgen.CHEESE


def test_demo_families_are_the_full_families_on_fewer_mazes():
    from mazeprobe.experiments.intervention_spec import family_hash

    for name in ("model-editing", "retargeting"):  # the demo runs round 2's families, as make results does
        full, demo = load_spec(ANALYSIS / f"{name}-r2.yaml"), load_spec(ANALYSIS / f"{name}-demo.yaml")
        assert demo.mazes.n < full.mazes.n and demo.hash != full.hash
        assert family_hash(demo.to_dict()) == family_hash(full.to_dict())
    other = load_spec(ANALYSIS / "model-editing.yaml")
    fewer = replace(other, interventions=other.interventions[:-1])
    assert family_hash(fewer.to_dict()) != family_hash(other.to_dict())


def test_the_cli_parser_and_the_package_fronts_import_no_heavy_library():
    """`mazeprobe --help` (every command's parser) and `import mazeprobe.stats` / `.stats.probes` load
    torch, scikit-learn, statsmodels and dask only when a command uses them (a fresh interpreter, since
    this one has them loaded)."""
    import subprocess

    code = (
        "import sys\n"
        "import mazeprobe.stats, mazeprobe.stats.probes\n"
        "from mazeprobe.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'sklearn', 'statsmodels', 'dask') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    from mazeprobe.stats.probes import PROBES, probe_run
    from mazeprobe.stats.probes.run import probe_run as owned

    assert probe_run is owned and "cheese-coords" in PROBES  # the lazy front gives the owner's objects


HEAVY = ("torch", "statsmodels", "sklearn", "scipy.stats", "dask")
# the real command (`python -m mazeprobe ARGS`), then which heavy libraries it loaded on its way
_RUN_AND_LIST = (
    "import runpy, sys\n"
    "sys.argv = ['mazeprobe', *sys.argv[1:]]\n"
    "code = 0\n"
    "try:\n    runpy.run_module('mazeprobe', run_name='__main__', alter_sys=True)\n"
    "except SystemExit as exc:\n    code = exc.code or 0\n"
    f"print('LOADED', code, sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
)


def test_light_commands_import_no_heavy_library(tmp_path):
    """`mazeprobe --help`, `sample`, `features`, `show` of a maze table and the predictions actions that
    only read or register run without torch, statsmodels, scikit-learn, scipy.stats or dask: each is run
    for real in a fresh interpreter, which then lists what it loaded."""
    import shutil
    import subprocess

    root = ANALYSIS.parent
    table = tmp_path / "m.parquet"
    predictions = tmp_path / "predictions"
    shutil.copytree(root / "predictions", predictions)
    reg = ["--analysis-dir", str(ANALYSIS)]
    commands = [
        ["--help"],
        ["sample", "--n", "5", "--seed", "3", "--out", str(table)],
        ["features", "--list"],
        ["show", str(table), "--row", "1"],
        ["predictions", "validate", str(predictions), *reg],
        ["predictions", "list", str(predictions), *reg],
        ["predictions", "forecast", str(predictions), *reg, "--forecaster", "house-test",
         "--question", "closer-cheese-dsq-euclid", "--probability", "0.6"],  # fmt: skip
        ["predictions", "register", str(predictions), *reg],
        ["predictions", "verify", str(predictions), *reg],
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    for argv in commands:
        command = [sys.executable, "-c", _RUN_AND_LIST, *argv]
        res = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
        last = res.stdout.strip().splitlines()[-1]
        assert last == "LOADED 0 []", f"mazeprobe {' '.join(argv[:2])}: {last}\n{res.stderr[-2000:]}"
    assert (predictions / "forecasts" / "house-test.yaml").is_file()  # the forecast was really written
