"""The IMPALA maze network: published key names, checkpoint loading and its errors, named activations."""

from __future__ import annotations

import pickle
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from mazeprobe.agents.impala import (
    CheckpointError,
    HookPoint,
    ImpalaCNN,
    activation_names,
    activation_shapes,
    count_parameters,
    expected_state_shapes,
    forward_rate,
    load_checkpoint,
    model_from_state_dict,
    obs_to_tensor,
    random_impala,
    save_checkpoint,
)
from mazeprobe.errors import MazeprobeError, UsageError


def published_keys() -> list[str]:
    """The state-dict keys of the published checkpoints, written out independently of the model code."""
    keys = []
    for b in (1, 2, 3):
        keys += [f"embedder.block{b}.conv.weight", f"embedder.block{b}.conv.bias"]
        for r in (1, 2):
            for c in (1, 2):
                keys += [f"embedder.block{b}.res{r}.conv{c}.weight", f"embedder.block{b}.res{r}.conv{c}.bias"]
    keys += ["embedder.fc.weight", "embedder.fc.bias"]
    keys += ["fc_policy.weight", "fc_policy.bias", "fc_value.weight", "fc_value.bias"]
    return keys


def param_formula(s: int) -> int:
    """Parameters by hand: conv k*k*cin*cout + cout; each block has 1 conv + 4 residual convs."""

    def conv(cin: int, cout: int) -> int:
        return 9 * cin * cout + cout

    blocks = conv(3, 16 * s) + 4 * conv(16 * s, 16 * s)
    blocks += conv(16 * s, 32 * s) + 4 * conv(32 * s, 32 * s)
    blocks += 5 * conv(32 * s, 32 * s)
    fc = 32 * s * 8 * 8 * 256 + 256
    return blocks + fc + (256 * 15 + 15) + (256 + 1)


def random_obs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def model1() -> ImpalaCNN:
    return random_impala(1, seed=0)


@pytest.fixture(scope="module")
def model4() -> ImpalaCNN:
    return random_impala(4, seed=0)


@pytest.fixture(scope="module")
def x4() -> torch.Tensor:
    return obs_to_tensor(random_obs(4))


# --- parameters and state-dict keys ---------------------------------------------------------------


@pytest.mark.parametrize("scale", [1, 4])
def test_state_dict_keys_are_the_published_ones(scale: int) -> None:
    model = ImpalaCNN(scale)
    assert sorted(model.state_dict()) == sorted(published_keys())
    assert model.state_dict()["embedder.block1.conv.weight"].shape == (16 * scale, 3, 3, 3)
    assert model.state_dict()["embedder.fc.weight"].shape == (256, 32 * scale * 64)


def test_parameter_counts() -> None:
    assert param_formula(1) == 626_256
    assert param_formula(4) == 3_653_136  # the "about 3.5M" published scale-4 network
    assert count_parameters(ImpalaCNN(1)) == 626_256
    assert count_parameters(ImpalaCNN(4)) == 3_653_136


def test_expected_state_shapes_match_a_real_model() -> None:
    real = {k: tuple(v.shape) for k, v in ImpalaCNN(2).state_dict().items()}
    assert expected_state_shapes(2) == real


@pytest.mark.parametrize("bad", [0, -1, 1.5, "4", True])
def test_bad_scale_is_a_usage_error(bad) -> None:
    with pytest.raises(UsageError, match="scale"):
        ImpalaCNN(bad)


def test_random_impala_is_deterministic_and_seed_dependent() -> None:
    a, b, c = random_impala(1, 7), random_impala(1, 7), random_impala(1, 8)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert not torch.equal(a.fc_policy.weight, c.fc_policy.weight)
    assert a.embedder.fc.bias.abs().sum() > 0  # biases are random too, so loading checks cover them


# --- checkpoints ----------------------------------------------------------------------------------


def published_style_file(model: ImpalaCNN, path: Path, wrapped: bool) -> Path:
    """A checkpoint as the training code wrote it: an OrderedDict state dict, optionally wrapped with
    an optimizer state and other training bookkeeping beside it."""
    state = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    if wrapped:
        opt = torch.optim.Adam(model.parameters(), lr=5e-4)
        obj = {"model_state_dict": state, "optimizer_state_dict": opt.state_dict(), "epoch": 3}
    else:
        obj = state
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("scale", [1, 4])
@pytest.mark.parametrize("wrapped", [True, False])
def test_checkpoint_loads_with_identical_logits(tmp_path, scale, wrapped, x4) -> None:
    src = random_impala(scale, seed=3)
    path = published_style_file(src, tmp_path / "model.pth", wrapped)
    loaded = load_checkpoint(path)
    assert loaded.scale == scale
    with torch.no_grad():
        la, va = src(x4)
        lb, vb = loaded(x4)
    assert torch.equal(la, lb) and torch.equal(va, vb)


def test_save_checkpoint_roundtrip_and_no_temp_left(tmp_path, model1, x4) -> None:
    path = tmp_path / "out.pth"
    assert save_checkpoint(model1, path) == path
    assert list(tmp_path.iterdir()) == [path]
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"model_state_dict"}
    with torch.no_grad():
        assert torch.equal(load_checkpoint(path)(x4)[0], model1(x4)[0])
    save_checkpoint(random_impala(1, 99), path)  # overwrite in place
    assert torch.equal(load_checkpoint(path).fc_value.weight, random_impala(1, 99).fc_value.weight)


def corrupt(model: ImpalaCNN, tmp_path: Path, edit) -> Path:
    state = dict(model.state_dict())
    edit(state)
    path = tmp_path / "bad.pth"
    torch.save({"model_state_dict": state}, path)
    return path


def test_missing_key_is_named(tmp_path, model1) -> None:
    path = corrupt(model1, tmp_path, lambda s: s.pop("embedder.block2.res1.conv2.bias"))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert str(path) in msg
    assert "missing key 'embedder.block2.res1.conv2.bias'" in msg
    assert "unexpected" not in msg


def test_extra_key_is_named(tmp_path, model1) -> None:
    path = corrupt(model1, tmp_path, lambda s: s.__setitem__("embedder.block4.conv.weight", torch.zeros(2)))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)
    assert "unexpected key 'embedder.block4.conv.weight'" in str(e.value)


def test_misshaped_key_gives_expected_and_found(tmp_path, model1) -> None:
    path = corrupt(model1, tmp_path, lambda s: s.__setitem__("fc_policy.weight", torch.zeros(14, 256)))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert str(path) in msg
    assert "mis-shaped key 'fc_policy.weight': expected (15, 256), found (14, 256)" in msg


def test_all_problems_reported_in_one_error(tmp_path, model4) -> None:
    def edit(s):
        s.pop("embedder.fc.bias")
        s.pop("fc_value.weight")
        s["extra.a"] = torch.zeros(1)
        s["embedder.block3.res2.conv1.weight"] = torch.zeros(128, 128, 5, 5)

    path = corrupt(model4, tmp_path, edit)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert "4 problem(s)" in msg
    for part in ("missing key 'embedder.fc.bias'", "missing key 'fc_value.weight'",
                 "unexpected key 'extra.a'",
                 "'embedder.block3.res2.conv1.weight': expected (128, 128, 3, 3), found (128, 128, 5, 5)"):
        assert part in msg


def test_uninferable_scale_is_reported(tmp_path, model1) -> None:
    def edit(s):
        s["embedder.block1.conv.weight"] = torch.zeros(20, 3, 3, 3)

    with pytest.raises(CheckpointError, match=r"cannot infer the scale.*\(20, 3, 3, 3\)"):
        load_checkpoint(corrupt(model1, tmp_path, edit))
    with pytest.raises(CheckpointError, match="missing key 'embedder.block1.conv.weight'"):
        load_checkpoint(corrupt(model1, tmp_path, lambda s: s.pop("embedder.block1.conv.weight")))


def test_truncated_file(tmp_path, model1) -> None:
    good = save_checkpoint(model1, tmp_path / "good.pth")
    path = tmp_path / "truncated.pth"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*not a readable PyTorch checkpoint"):
        load_checkpoint(path)


def test_garbage_bytes(tmp_path) -> None:
    path = tmp_path / "garbage.pth"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*not a readable PyTorch checkpoint"):
        load_checkpoint(path)


class _Arbitrary:
    pass


def test_arbitrary_pickle_is_refused(tmp_path) -> None:
    path = tmp_path / "objects.pth"
    torch.save({"model_state_dict": _Arbitrary()}, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value) and "weights_only=True unpickler rejected it" in str(e.value)
    # A plain (non-torch) pickle is refused the same way.
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"x": _Arbitrary()}))
    with pytest.raises(CheckpointError, match=re.escape(str(plain))):
        load_checkpoint(plain)


def test_non_dict_checkpoint_and_missing_file(tmp_path) -> None:
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="found a Tensor"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pth")


def test_checkpoint_error_is_a_mazeprobe_error() -> None:
    assert issubclass(CheckpointError, MazeprobeError)


def test_devices(tmp_path, model1) -> None:
    path = save_checkpoint(model1, tmp_path / "m.pth")
    assert load_checkpoint(path, device="cpu").device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            load_checkpoint(path, device="cuda")
    with pytest.raises(UsageError, match="device"):
        load_checkpoint(path, device="tpu-ish")


def test_model_from_state_dict_names_its_source(model1) -> None:
    state = dict(model1.state_dict())
    state.pop("fc_value.bias")
    with pytest.raises(CheckpointError, match=r"(?s)^from-memory: .*missing key 'fc_value.bias'"):
        model_from_state_dict(state, source="from-memory")


# --- observations ----------------------------------------------------------------------------------


def test_obs_to_tensor_orientation_and_scale() -> None:
    obs = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    obs[1, 5, 9, 0] = 255  # red, row 5, col 9 of the second image
    obs[0, 63, 0, 2] = 51  # blue, bottom-left of the first
    t = obs_to_tensor(obs, "cpu")
    assert t.shape == (2, 3, 64, 64) and t.dtype == torch.float32
    assert t.is_contiguous(memory_format=torch.channels_last)  # the layout the network runs in
    assert t[1, 0, 5, 9] == 1.0
    assert t[0, 2, 63, 0] == pytest.approx(0.2)
    assert t.sum() == pytest.approx(1.2)
    rand = random_obs(3)
    assert np.allclose(obs_to_tensor(rand).numpy(), rand.transpose(0, 3, 1, 2) / 255.0)


@pytest.mark.parametrize("bad", [
    np.zeros((64, 64, 3), np.uint8), np.zeros((1, 64, 64, 3), np.float32), np.zeros((1, 3, 64, 64), np.uint8),
])
def test_obs_to_tensor_rejects_wrong_layout(bad) -> None:
    with pytest.raises(UsageError, match=r"uint8 \(B, 64, 64, 3\)"):
        obs_to_tensor(bad)


def test_forward_rejects_wrong_input(model1) -> None:
    with pytest.raises(UsageError, match="shape"):
        model1(torch.zeros(1, 64, 64, 3))
    with pytest.raises(UsageError, match="dtype"):
        model1(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_action_probs(model1) -> None:
    obs = random_obs(37)
    p = model1.action_probs(obs, batch_size=16)  # 3 batches, the last one partial
    assert p.shape == (37, 15) and p.dtype == np.float64
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-12, rtol=0)
    assert (p > 0).all()
    with torch.no_grad():
        ref = torch.softmax(model1(obs_to_tensor(obs))[0].double(), dim=1).numpy()
    assert np.allclose(p, ref, atol=1e-12)
    assert model1.action_probs(obs[:0]).shape == (0, 15)


# --- named activations -----------------------------------------------------------------------------


def test_documented_names_are_the_hook_points(model1) -> None:
    assert list(model1.hook_points()) == activation_names()
    required = [f"embedder.block{b}.{n}" for b in (1, 2, 3) for n in ("conv_out", "maxpool_out")]
    required += [f"embedder.block{b}.res{r}.{p}_out" for b in (1, 2, 3) for r in (1, 2)
                 for p in ("relu1", "conv1", "relu2", "conv2", "resadd")]
    required += ["embedder.relu3_out", "embedder.flatten_out", "embedder.fc_out", "embedder.relufc_out",
                 "fc_policy_out", "fc_value_out"]
    assert sorted(activation_names()) == sorted(required)
    assert all(not list(h.parameters()) for h in model1.hook_points().values())


@pytest.mark.parametrize("scale", [1, 4])
def test_activation_shapes_match_the_table(scale, model1, model4, x4) -> None:
    model = model1 if scale == 1 else model4
    with torch.no_grad():
        _, _, cache = model.run_with_cache(x4)
    table = activation_shapes(scale)
    assert model.activation_shapes() == table
    assert set(cache) == set(table)
    for name, shape in table.items():
        assert tuple(cache[name].shape) == (4, *shape), name
    s = scale
    assert table["embedder.block1.conv_out"] == (16 * s, 64, 64)
    assert table["embedder.block1.res2.resadd_out"] == (16 * s, 32, 32)
    assert table["embedder.block2.res1.resadd_out"] == (32 * s, 16, 16)
    assert table["embedder.block3.maxpool_out"] == (32 * s, 8, 8)
    assert table["embedder.flatten_out"] == (2048 * s,)


def test_cache_values_are_consistent(model1, x4) -> None:
    with torch.no_grad():
        logits, values, cache = model1.run_with_cache(x4)
    assert torch.equal(cache["fc_policy_out"], logits)
    assert torch.equal(cache["fc_value_out"].reshape(-1), values)
    r = "embedder.block2.res1."
    assert torch.equal(cache[r + "relu1_out"], torch.relu(cache["embedder.block2.maxpool_out"]))
    assert torch.equal(cache[r + "resadd_out"], cache[r + "conv2_out"] + cache["embedder.block2.maxpool_out"])
    assert torch.equal(cache["embedder.relufc_out"], torch.relu(cache["embedder.fc_out"]))


def test_hooks_are_pass_through_and_detached(model4, x4) -> None:
    logits, values = model4(x4)
    logits_c, values_c, cache = model4.run_with_cache(x4)
    assert torch.equal(logits, logits_c) and torch.equal(values, values_c)
    assert logits_c.requires_grad  # grad mode is the caller's
    assert not any(t.requires_grad for t in cache.values())


def test_run_with_cache_selected_names(model1, x4) -> None:
    _, _, cache = model1.run_with_cache(x4, names=["embedder.block3.res2.conv1_out", "fc_value_out"])
    assert set(cache) == {"embedder.block3.res2.conv1_out", "fc_value_out"}
    _, _, cache = model1.run_with_cache(x4, names="embedder.fc_out")  # a single name, not its characters
    assert set(cache) == {"embedder.fc_out"}


def no_hooks_left(model: ImpalaCNN) -> bool:
    return all(not m._forward_hooks for m in model.modules())


def test_hooks_removed_after_success_and_after_exceptions(model1, x4) -> None:
    model1.run_with_cache(x4)
    assert no_hooks_left(model1)
    with pytest.raises(UsageError):
        model1.run_with_cache(torch.zeros(2, 3, 32, 32))  # forward raises with every hook attached
    assert no_hooks_left(model1)

    def boom(act, name):
        raise RuntimeError("inside a hook")

    with pytest.raises(RuntimeError, match="inside a hook"):
        model1.run_with_hooks(x4, [("embedder.fc_out", boom), ("fc_policy_out", lambda a, n: None)])
    assert no_hooks_left(model1)
    with pytest.raises(KeyError), model1.hooks([("embedder.block1.conv_out", lambda a, n: None)]):
        assert not no_hooks_left(model1)
        raise KeyError("raised in the with block")
    assert no_hooks_left(model1)


def test_unknown_name_lists_valid_names(model1, x4) -> None:
    with pytest.raises(UsageError) as e:
        model1.run_with_cache(x4, names=["embedder.block1.conv_out", "embedder.block9.conv_out"])
    msg = str(e.value)
    assert "'embedder.block9.conv_out'" in msg
    assert all(n in msg for n in activation_names())
    assert no_hooks_left(model1)  # nothing attached when validation fails


def test_run_with_hooks_can_patch(model1, x4) -> None:
    zero = lambda act, name: torch.zeros_like(act)  # noqa: E731
    logits, _ = model1.run_with_hooks(x4, [("embedder.relufc_out", zero)])
    assert torch.allclose(logits, model1.fc_policy.bias.expand_as(logits))


def test_hook_points_do_not_change_the_state_dict() -> None:
    model = ImpalaCNN(1)
    assert sum(isinstance(m, HookPoint) for m in model.modules()) == len(activation_names())
    assert sorted(model.state_dict()) == sorted(published_keys())


def test_forward_rate_is_positive(model1) -> None:
    assert forward_rate(model1, batch=8, seconds=0.2) > 0
    with pytest.raises(UsageError):
        forward_rate(model1, batch=0)
