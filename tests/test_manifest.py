"""The typed run manifest: every shape a run has written reads back and writes back byte for byte (the
registry records manifest.json's sha256), and bad fields are one clear error naming the file."""

from __future__ import annotations

import json

import pytest

from mazeprobe.experiments.manifest import Invocation, Manifest, ManifestError, ResolvedPolicy
from mazeprobe.experiments.rundir import RunDir, RunError, dump_json

VERSIONS = {"mazeprobe": "0.1.0", "numpy": "1.26.4", "python": "3.11.7"}
SPEC = {
    "name": "demo",
    "mazes": {"n": 20, "seed": 2, "placement": "natural"},
    "policy": {"checkpoint": "models/net.pth"},
    "record": {"decision_square_probs": True, "activations": {"layers": ["embedder.block2.res1.resadd_out"]}},
    "rollouts": {"per_maze": 1, "max_steps": 256, "chunk_mazes": 8, "seed": 0},
}
BASE = {
    "name": "demo",
    "spec": SPEC,
    "spec_hash": "ab" * 32,
    "spec_file": "analysis/demo.yaml",
    "n_mazes": 20,
    "versions": VERSIONS,
    "git_commit": None,
    "started_at": "2026-12-07T10:56:43Z",
    "ended_at": "2026-12-07T11:14:09Z",
    "status": "complete",
}
# before devices were recorded per invocation: the device in the policy, no scale, no invocations
OLD = {
    **BASE,
    "policy": {"name": "checkpoint", "checkpoint": "/m/net.pth", "sha256": "cd" * 32, "device": "cpu"},
}
# as runs write now (data/runs/*/manifest.json): scale, device and invocations, rankings with edits
CURRENT = {
    **BASE,
    "policy": {"name": "checkpoint", "checkpoint": "/m/net.pth", "sha256": "cd" * 32, "scale": 1},
    "device": "cuda:1",
    "invocations": [{"at": "2026-12-07T10:56:43Z", "device": "cpu"}, {"at": "2026-12-07T11:00:00Z",
                                                                       "device": "cuda:1"}],
    "rankings": {"embedder.block2.res1.resadd_out": {"cheese-channels": [29, 23],
                                                     "cheese-channels:sign": [1, -1]}},
}  # fmt: skip
# a built-in agent: its describe() with derived values, a spec file given in code (null), still running
BUILTIN = {
    **BASE,
    "spec_file": None,
    "ended_at": None,
    "status": "running",
    "policy": {"name": "shard", "b0": 0.5, "coefficients": {"euc_dist_cheese_top_right": -2.0},
               "means": {"euc_dist_cheese_top_right": 9.1}, "sds": {"euc_dist_cheese_top_right": 3.2},
               "epsilon": 0.05},  # fmt: skip
    "device": "cpu",
    "invocations": [{"at": "2026-12-07T10:56:43Z", "device": "cpu"}],
}


def _write(tmp_path, doc) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.manifest_path.write_bytes(dump_json(doc))
    return run


@pytest.mark.parametrize("doc", [OLD, CURRENT, BUILTIN], ids=["old", "current", "builtin"])
def test_every_manifest_shape_reads_and_writes_back_byte_for_byte(tmp_path, doc):
    run = _write(tmp_path, doc)
    before = run.manifest_path.read_bytes()
    manifest = run.manifest()
    assert manifest.to_dict() == doc
    run.write_manifest(manifest)
    assert run.manifest_path.read_bytes() == before


def test_typed_fields_say_what_the_string_keys_said(tmp_path):
    old = _write(tmp_path, OLD).manifest()
    # an old run computes where its policy said; it recorded no scale and no invocations
    assert old.run_device == "cpu" and old.policy.scale is None and old.invocations is None
    assert old.policy.network == "/m/net.pth" and old.complete and old.rankings is None
    current = Manifest.from_dict(CURRENT)
    assert current.run_device == "cuda:1" and current.policy.scale == 1 and current.policy.device is None
    assert current.invocations[-1] == Invocation("2026-12-07T11:00:00Z", "cuda:1")
    assert current.chunk_mazes == 8 and current.maze_seed == 2
    assert current.activation_layers == ("embedder.block2.res1.resadd_out",)
    builtin = Manifest.from_dict(BUILTIN)
    assert builtin.policy == ResolvedPolicy("shard", params={k: v for k, v in BUILTIN["policy"].items()
                                                             if k != "name"})  # fmt: skip
    assert builtin.policy.network == "shard" and not builtin.policy.is_checkpoint and not builtin.complete


def test_an_invocation_is_appended_and_unknown_keys_are_kept(tmp_path):
    doc = {**OLD, "added_later": {"x": 1}}
    manifest = Manifest.from_dict(doc)
    resumed = manifest.invoked("cuda:0", "2026-12-08T00:00:00Z").to_dict()
    assert resumed["added_later"] == {"x": 1} and resumed["device"] == "cuda:0"
    assert resumed["invocations"] == [{"at": "2026-12-08T00:00:00Z", "device": "cuda:0"}]
    assert {k: v for k, v in resumed.items() if k not in ("device", "invocations")} == doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_mazes": "20"}, "n_mazes must be int"),
        ({"n_mazes": True}, "n_mazes must be int"),
        ({"policy": ["checkpoint"]}, "policy: the resolved policy is a mapping"),
        ({"policy": {"name": "checkpoint"}}, "policy: checkpoint must be str"),
        ({"invocations": [{"at": "2026-12-07T10:56:43Z"}]}, "device must be str"),
        ({"spec_hash": None}, "spec_hash must be str"),
    ],
)
def test_a_bad_field_is_one_error_naming_the_file_and_field(tmp_path, change, message):
    run = _write(tmp_path, {**CURRENT, **change})
    with pytest.raises(RunError, match=message) as err:
        run.manifest()
    assert str(run.manifest_path) in str(err.value) and "\n" not in str(err.value)


def test_a_json_object_without_a_required_key_is_not_a_manifest(tmp_path):
    run = _write(tmp_path, {k: v for k, v in CURRENT.items() if k != "status"})
    with pytest.raises(RunError, match="not a run manifest \\(no 'status'\\)"):
        run.manifest()
    assert json.loads(run.manifest_path.read_text())["n_mazes"] == 20  # reading never writes


def _experiment_specs():
    from pathlib import Path

    from mazeprobe.experiments.spec import load_spec

    analysis = Path(__file__).resolve().parent.parent / "analysis"
    paths = sorted(p for p in analysis.glob("*.yaml") if "kind: experiment" in p.read_text())
    assert len(paths) >= 10  # behavioural, probe, editing and retargeting runs, demos and full
    return [load_spec(p) for p in paths]


def test_the_recorded_spec_reads_back_typed_as_it_was_parsed(tmp_path):
    """ExperimentSpec.from_dict inverts to_dict on what a manifest holds (JSON): for every shipped
    experiment spec the typed spec is the parsed one, and it writes back the same content and hash."""
    from mazeprobe.experiments.spec import ExperimentSpec

    for spec in _experiment_specs():
        recorded = json.loads(json.dumps(spec.to_dict()))
        typed = ExperimentSpec.from_dict(recorded, source=spec.source)
        assert typed == spec and typed.to_dict() == recorded and typed.hash == spec.hash, spec.source
        manifest = Manifest.from_dict({**CURRENT, "spec": recorded, "spec_file": spec.source})
        assert manifest.experiment == spec and manifest.to_dict()["spec"] is recorded


def test_a_spec_recorded_before_a_section_existed_reads_it_as_its_default():
    """Runs made before retargeting had `targets` (and before vfield_tv, without interventions) recorded
    no such key: the typed spec has the default, and writing it back leaves the key out as before."""
    from mazeprobe.experiments.spec import ExperimentSpec

    retargeting = next(s for s in _experiment_specs() if s.retargeting is not None).to_dict()
    retargeting = json.loads(json.dumps(retargeting))
    retargeting["retargeting"].pop("targets", None)
    typed = ExperimentSpec.from_dict(retargeting)
    assert typed.retargeting.targets == "reachable" and typed.to_dict() == retargeting
    plain = ExperimentSpec.from_dict(SPEC)  # the first manifests' spec: no actions, params or device
    assert plain.rollouts.actions == "sample" and plain.policy.device == "cpu" and plain.record.vfield_tv
    assert plain.interventions == () and plain.retargeting is None and plain.mazes.n == 20


def test_a_recorded_spec_that_is_no_spec_is_one_error_naming_the_manifest():
    manifest = Manifest.from_dict({**CURRENT, "spec": {**SPEC, "mazes": {"seed": 2}}})
    with pytest.raises(ManifestError, match=r"manifest.json: its spec is not one a run records") as err:
        _ = manifest.experiment
    assert "\n" not in str(err.value)
