"""`mazeprobe study`: the shipped study on any checkpoint, end to end on a random scale-4 network written in
the published format (--small), and the full-size study specs keeping the registered families."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import torch

from mazeprobe.agents.impala import random_impala
from mazeprobe.cli import main
from mazeprobe.experiments.intervention_spec import family_hash
from mazeprobe.experiments.spec import load_spec
from mazeprobe.experiments.study import STUDY_SPECS, planned_work, write_study_specs
from mazeprobe.provenance import file_sha256
from mazeprobe.registry.items.lock import verify

REPO = Path(__file__).resolve().parent.parent


def published_checkpoint(path: Path, scale: int = 4) -> Path:
    """A random network saved as the published training code saved its checkpoints: the state dict (an
    OrderedDict) wrapped with an optimizer state and training bookkeeping."""
    model = random_impala(scale, seed=11)
    state = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    torch.save({"model_state_dict": state, "optimizer_state_dict": opt.state_dict(), "epoch": 3}, path)
    return path


def test_full_size_study_specs_name_the_network_and_keep_the_registered_families(tmp_path) -> None:
    checkpoint = published_checkpoint(tmp_path / "model.pth")
    specs = write_study_specs(REPO / "analysis", tmp_path, checkpoint, small=False)
    assert [s.name for s in specs] == list(STUDY_SPECS)  # the probe plan finds probe-run-r2 by name
    for spec in specs:
        shipped = load_spec(REPO / "analysis" / f"{spec.name}.yaml")
        assert spec.policy.checkpoint == str(checkpoint.resolve())
        assert spec.mazes == shipped.mazes and spec.hash != shipped.hash
        if shipped.interventions:
            assert family_hash(spec.to_dict()) == family_hash(shipped.to_dict())
    # retargeting plays each maze unedited, once per target per aimed edit and the ceiling, and once more
    # to find the off-path targets; the channel ranking passes 1,000 mazes with and without the cheese
    retargeting = specs[STUDY_SPECS.index("retargeting-r2")]
    assert planned_work(retargeting, 10) == 200 * 10 * (1 + 5 * 11 + 1) + 2 * 1000


def test_study_end_to_end_on_a_random_scale_4_checkpoint(tmp_path, capsys) -> None:
    checkpoint = published_checkpoint(tmp_path / "model.pth")
    sha = file_sha256(checkpoint)
    lock = REPO / "predictions" / "registry.lock"
    shipped = lock.read_bytes()
    out, runs = tmp_path / "out", tmp_path / "runs"
    # fmt: off
    argv = ["study", checkpoint, "--small", "--out", out, "--runs", runs, "--device", "cpu", "--jobs", "1",
            "--quiet", "--predictions", REPO / "predictions", "--analysis-dir", REPO / "analysis"]
    # fmt: on
    assert main([str(a) for a in argv]) == 0
    printed = capsys.readouterr().out

    # the estimate, with its device and what it was measured from, before the first run began
    assert printed.index("estimate of the time on this machine (cpu, network scale 4") < printed.index(
        "== run behavioral-10k"
    )
    assert "an estimate: 4 mazes played at once for 4 steps by the network (scale 4) on cpu" in printed
    assert "not run: finetune-cheese-agent" in printed

    report = (out / "results.md").read_text()
    assert f"**sha256**: {sha}" in report and "## The network studied" in report
    assert "(--small)" in report
    fingerprint = json.loads((out / "model.fingerprint.json").read_text())
    assert fingerprint["sha256"] == sha and not (tmp_path / "model.fingerprint.json").exists()

    # every run is of this network, named as shipped
    for name in STUDY_SPECS:
        manifest = json.loads((runs / name / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["policy"]["sha256"] == sha
    # resolved in the scratch copy: its lock verifies and grew; the shipped lock is byte for byte the same
    scratch = out / "predictions" / "registry.lock"
    assert verify(out / "predictions") == []
    assert len(scratch.read_bytes()) > len(shipped) and scratch.read_bytes().startswith(shipped)
    assert lock.read_bytes() == shipped
    # resolve wrote into its own folder beside the runs, nothing into them
    resolutions = (runs / "resolved" / "resolutions.yaml").read_text()
    assert f"network_sha256: {sha}" in resolutions
    assert (out / "resolutions.yaml").read_text() == resolutions  # a copy beside the report
    assert f"\nout: {(runs / 'resolved').resolve()}\n" in resolutions
    for name in STUDY_SPECS:
        left = {p.name for p in (runs / name).iterdir()} & {"resolutions.yaml", "analyses", "pictures"}
        assert not left and not (runs / name / "probes").exists(), (name, left)
