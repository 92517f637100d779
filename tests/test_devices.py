"""One device vocabulary (auto, cpu, cuda, cuda:N) with one resolution, read the same by every command
that runs a network, by an experiment spec and by a run's manifest."""

from __future__ import annotations

import json

import pytest

from mazeprobe import devices
from mazeprobe.cli import build_parser, main
from mazeprobe.devices import device_problem, parse_device, resolve_device, resolve_device_name
from mazeprobe.errors import UsageError
from mazeprobe.experiments.spec import load_spec
from mazeprobe.yamlio import SpecError


@pytest.mark.parametrize("text", ["auto", "cpu", "cuda", "cuda:0", "cuda:1", "cuda:12"])
def test_the_vocabulary_accepts_its_forms(text):
    assert parse_device(text) == text and device_problem(text) is None


@pytest.mark.parametrize(
    "text", ["gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cpu:0", "mps", "", " cpu", 0, None]
)
def test_the_vocabulary_refuses_anything_else_saying_what_it_takes(text):
    with pytest.raises(UsageError) as info:
        parse_device(text)
    assert str(info.value) == f"device: expected auto, cpu, cuda or cuda:N, got {text!r}"


@pytest.mark.parametrize(
    "requested, gpus, resolved",
    [
        ("auto", 0, "cpu"),
        ("auto", 2, "cuda"),
        ("cpu", 2, "cpu"),
        ("cuda", 1, "cuda"),
        ("cuda:0", 1, "cuda:0"),
        ("cuda:1", 2, "cuda:1"),  # the index is kept: the second GPU, not the first
        ("cuda:01", 2, "cuda:1"),  # one spelling in manifests
    ],
)
def test_resolution_keeps_the_gpu_index(requested, gpus, resolved):
    assert resolve_device_name(requested, gpus) == resolved


@pytest.mark.parametrize(
    "requested, gpus, message",
    [
        ("cuda", 0, "device 'cuda' requested but CUDA is not available in this torch build/machine"),
        ("cuda:0", 0, "device 'cuda:0' requested but CUDA is not available in this torch build/machine"),
        ("cuda:1", 1, "device 'cuda:1' requested but this machine has 1 GPU(s): cuda:0"),
        ("cuda:3", 2, "device 'cuda:3' requested but this machine has 2 GPU(s): cuda:0..cuda:1"),
        ("gpu", 2, "device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
    ],
)
def test_resolution_refuses_a_gpu_that_is_not_there(requested, gpus, message):
    with pytest.raises(UsageError) as info:
        resolve_device_name(requested, gpus)
    assert str(info.value) == message


def test_cpu_resolves_without_asking_torch(monkeypatch):
    def no_torch() -> int:
        raise AssertionError("cpu asked how many GPUs there are")

    monkeypatch.setattr(devices, "cuda_count", no_torch)
    assert resolve_device("cpu") == "cpu"


def test_the_network_layer_reads_the_same_vocabulary(monkeypatch):
    from mazeprobe.agents.impala import resolve_device as torch_device

    assert str(torch_device("cpu")) == "cpu"
    monkeypatch.setattr(devices, "cuda_count", lambda: 2)
    assert str(torch_device("cuda:1")) == "cuda:1"  # a torch.device, index kept
    with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N, got 'tpu'"):
        torch_device("tpu")


LAYER = "embedder.block1.res1.resadd_out"
# every command that runs a network: (the command line without --device, the default)
NETWORK_COMMANDS = {
    "run": (["run", "spec.yaml"], None),  # None: the spec's policy.device
    "vfield": (["vfield", "--builtin", "shard", "--seed", "0", "--png", "v.png"], "auto"),
    "fingerprint": (["fingerprint", "net.pth"], "auto"),
    "train": (["train", "--out", "m.pth"], "auto"),
    "evaluate": (["evaluate", "net.pth"], "cpu"),
    "channels": (["channels", "net.pth", "--layer", LAYER, "--out", "c.parquet"], "cpu"),
    "probe": (["probe", "runs/x", "--layer", LAYER], "cpu"),
    "resolve": (["resolve", "--predictions", "p", "--run", "runs/x"], "cpu"),
}


@pytest.mark.parametrize("name", sorted(NETWORK_COMMANDS))
def test_each_network_command_takes_device(name):
    argv, default = NETWORK_COMMANDS[name]
    parser = build_parser()
    assert parser.parse_args(argv).device == default
    assert parser.parse_args([*argv, "--device", "cuda:1"]).device == "cuda:1"


@pytest.mark.parametrize("name", sorted(NETWORK_COMMANDS))
def test_each_network_command_refuses_a_bad_device_in_one_line(name, capsys):
    argv, _ = NETWORK_COMMANDS[name]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--device", "gpu"])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "argument --device: expected auto, cpu, cuda or cuda:N, got 'gpu'" in lines[0]


def _write_spec(path, policy: str):
    path.write_text(
        f"name: dev\npolicy: {policy}\nmazes: {{n: 4, seed: 1}}\nrollouts: {{max_steps: 6, chunk_mazes: 4}}\n"
    )
    return path


def test_a_spec_takes_a_gpu_index_and_refuses_other_devices(tmp_path):
    spec = load_spec(_write_spec(tmp_path / "s.yaml", "{builtin: shard, device: 'cuda:0'}"))
    assert spec.policy.device == "cuda:0"
    assert spec.hash == load_spec(_write_spec(tmp_path / "t.yaml", "{builtin: shard}")).hash
    with pytest.raises(SpecError) as info:
        load_spec(_write_spec(tmp_path / "u.yaml", "{builtin: shard, device: gpu}"))
    assert "policy.device: expected auto, cpu, cuda or cuda:N, got 'gpu'" in str(info.value)


def test_a_run_records_the_device_it_was_given(tmp_path, capsys):
    from mazeprobe.agents.impala import random_impala, save_checkpoint

    ckpt = save_checkpoint(random_impala(1, seed=2), tmp_path / "net.pth")
    # the spec asks for a GPU this machine may lack; --device cpu is what this invocation computes on
    spec = _write_spec(tmp_path / "s.yaml", f"{{checkpoint: {ckpt}, device: 'cuda:0'}}")
    runs = tmp_path / "runs"
    assert main(["run", str(spec), "--out", str(runs), "--workers", "1", "--quiet", "--device", "cpu"]) == 0
    manifest = json.loads((runs / "dev" / "manifest.json").read_text())
    assert manifest["device"] == "cpu" and [i["device"] for i in manifest["invocations"]] == ["cpu"]
    assert manifest["status"] == "complete"


def test_a_run_on_the_second_gpu_records_cuda_1(tmp_path, monkeypatch, capsys):
    """Not cuda: its workers read the manifest's device, and cuda would put them on the first GPU. A
    built-in agent computes no network, so the run finishes on a machine said to have two GPUs."""
    monkeypatch.setattr(devices, "cuda_count", lambda: 2)
    spec = _write_spec(tmp_path / "s.yaml", "{builtin: shard}")
    runs = tmp_path / "runs"
    argv = ["run", str(spec), "--out", str(runs), "--workers", "1", "--quiet"]
    assert main([*argv, "--device", "cuda:1"]) == 0
    manifest = json.loads((runs / "dev" / "manifest.json").read_text())
    assert manifest["device"] == "cuda:1" and manifest["invocations"][-1]["device"] == "cuda:1"
    monkeypatch.setattr(devices, "cuda_count", lambda: 1)
    code = main(["run", str(spec), "--out", str(runs), "--resume", "--quiet", "--device", "cuda:1"])
    assert code == 2 and "this machine has 1 GPU(s): cuda:0" in capsys.readouterr().err
