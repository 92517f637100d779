"""The IMPALA CNN of the goal-misgeneralization cheese-maze policy, with named activations.

The layer layout and parameter names match the published checkpoints (`model_state_dict` of the
train-procgen-pytorch `ImpalaModel`), so those files load with `load_checkpoint` unchanged. Every
intermediate activation passes through a parameter-free `HookPoint`, TransformerLens-style, so the
state dict is identical to the plain network's while activations can be read or replaced by name.

Activation names and per-example shapes for scale s (batch dimension left out; C1 = 16s, C = 32s):

    embedder.block1.conv_out                    (C1, 64, 64)
    embedder.block1.maxpool_out                 (C1, 32, 32)
    embedder.block1.res{1,2}.{relu1,conv1,relu2,conv2,resadd}_out   (C1, 32, 32)
    embedder.block2.conv_out                    (C, 32, 32)
    embedder.block2.maxpool_out                 (C, 16, 16)
    embedder.block2.res{1,2}.*_out              (C, 16, 16)
    embedder.block3.conv_out                    (C, 16, 16)
    embedder.block3.maxpool_out                 (C, 8, 8)
    embedder.block3.res{1,2}.*_out              (C, 8, 8)
    embedder.relu3_out                          (C, 8, 8)
    embedder.flatten_out                        (C * 64,)
    embedder.fc_out, embedder.relufc_out        (256,)
    fc_policy_out                               (15,)   the action logits
    fc_value_out                                (1,)    the value, before the forward's reshape to (B,)

`activation_shapes(scale)` returns this table as a dict in forward order (it lives in
mazeprobe.agents.layers, which needs no torch).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mazeprobe import devices
from mazeprobe.agents.layers import HIDDEN, _check_scale, activation_shapes
from mazeprobe.agents.layers import activation_names as activation_names
from mazeprobe.agents.obs import _check_obs, obs_to_tensor
from mazeprobe.atomic import atomic_path
from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.maze.procgen import N_ACTIONS, OBS_SIZE
from mazeprobe.validation import check_int

# The "model_state_dict" wrapper key used by the published checkpoints (and by save_checkpoint).
STATE_KEY = "model_state_dict"

# A forward hook gets (activation, name) and may return a replacement tensor (None keeps it).
HookFn = Callable[[torch.Tensor, str], torch.Tensor | None]


class CheckpointError(MazeprobeError):
    """A file that is not a loadable IMPALA checkpoint (unreadable, or keys/shapes that do not fit)."""


class HookPoint(nn.Module):
    """Identity module marking one named activation; it has no parameters, so state dicts are unaffected."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ResidualBlock(nn.Module):
    """relu -> conv -> relu -> conv, plus the block input. Shapes: all (C, H, W) of the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.relu1_out = HookPoint()  # (C, H, W)
        self.conv1_out = HookPoint()  # (C, H, W)
        self.relu2_out = HookPoint()  # (C, H, W)
        self.conv2_out = HookPoint()  # (C, H, W)
        self.resadd_out = HookPoint()  # (C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not in place: x itself is added back at the end.
        out = self.relu1_out(F.relu(x))
        out = self.conv1_out(self.conv1(out))
        out = self.relu2_out(F.relu(out))
        out = self.conv2_out(self.conv2(out))
        return self.resadd_out(out + x)


class ImpalaBlock(nn.Module):
    """conv -> maxpool (halves H and W) -> two residual blocks."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv_out = HookPoint()  # (C_out, H, W)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.maxpool_out = HookPoint()  # (C_out, H/2, W/2)
        self.res1 = ResidualBlock(out_channels)  # all (C_out, H/2, W/2)
        self.res2 = ResidualBlock(out_channels)  # all (C_out, H/2, W/2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_out(self.conv(x))
        x = self.maxpool_out(self.maxpool(x))
        return self.res2(self.res1(x))


class ImpalaEmbedder(nn.Module):
    """Three IMPALA blocks, then relu, flatten, fc to 256, relu."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.block1 = ImpalaBlock(3, 16 * scale)  # 64x64 in, maps 32x32 after the pool
        self.block2 = ImpalaBlock(16 * scale, 32 * scale)  # maps 16x16 after the pool
        self.block3 = ImpalaBlock(32 * scale, 32 * scale)  # maps 8x8 after the pool
        self.relu3_out = HookPoint()  # (32s, 8, 8)
        self.flatten_out = HookPoint()  # (32s * 64,)
        self.fc = nn.Linear(32 * scale * 8 * 8, HIDDEN)
        self.fc_out = HookPoint()  # (256,)
        self.relufc_out = HookPoint()  # (256,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(x)))
        x = self.relu3_out(F.relu(x))
        x = self.flatten_out(x.flatten(start_dim=1))
        x = self.fc_out(self.fc(x))
        return self.relufc_out(F.relu(x))


class ImpalaCNN(nn.Module):
    """The maze policy/value network. `forward(x)` takes float32 (B, 3, 64, 64) in [0, 1] and returns
    (logits (B, 15), values (B,))."""

    def __init__(self, scale: int = 1) -> None:
        super().__init__()
        self.scale = _check_scale(scale)
        self.embedder = ImpalaEmbedder(self.scale)
        self.fc_policy = nn.Linear(HIDDEN, N_ACTIONS)
        self.fc_value = nn.Linear(HIDDEN, 1)
        self.fc_policy_out = HookPoint()  # (15,)
        self.fc_value_out = HookPoint()  # (1,)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Checked up front: a wrong shape would otherwise surface as an opaque fc size mismatch.
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, OBS_SIZE, OBS_SIZE):
            raise UsageError(f"expected input of shape (B, 3, 64, 64), got {tuple(x.shape)}")
        if not x.dtype.is_floating_point:
            raise UsageError(f"expected a float tensor in [0, 1], got dtype {x.dtype}; see obs_to_tensor()")
        hidden = self.embedder(x)
        logits = self.fc_policy_out(self.fc_policy(hidden))
        values = self.fc_value_out(self.fc_value(hidden))
        return logits, values.reshape(-1)

    # --- the forward pass in stages: what runs below and above a residual-stream point ----------------

    def _stages(self) -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
        """The forward pass as (name of the activation it ends at, step), in order; the last step runs
        from relu3 to the policy logits."""
        out: list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = []
        for b in (1, 2, 3):
            block = getattr(self.embedder, f"block{b}")
            out.append((f"embedder.block{b}.conv_out", lambda x, blk=block: blk.conv_out(blk.conv(x))))
            out.append(
                (f"embedder.block{b}.maxpool_out", lambda x, blk=block: blk.maxpool_out(blk.maxpool(x)))
            )
            out.append((f"embedder.block{b}.res1.resadd_out", block.res1))
            out.append((f"embedder.block{b}.res2.resadd_out", block.res2))
        return out

    def split_points(self) -> list[str]:
        """The activations the forward pass can be split at (forward_to / forward_from)."""
        return [name for name, _ in self._stages()]

    def _split_index(self, layer: str) -> int:
        names = self.split_points()
        if layer not in names:
            raise UsageError(
                f"the forward pass cannot be split at {layer!r}; split points: {', '.join(names)}"
            )
        return names.index(layer)

    def forward_to(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """The activation `layer` (a split point) for input x (B, 3, 64, 64), computing nothing above it."""
        end = self._split_index(layer)
        for _, step in self._stages()[: end + 1]:
            x = step(x)
        return x

    def forward_from(self, act: torch.Tensor, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, values) from the activation of `layer` (a split point) onwards, as if it had come out of
        that layer: the layers below are not run again, the hooks above it fire as usual."""
        start = self._split_index(layer)
        x = act
        for _, step in self._stages()[start + 1 :]:
            x = step(x)
        x = self.embedder.relu3_out(F.relu(x))
        x = self.embedder.flatten_out(x.flatten(start_dim=1))
        hidden = self.embedder.relufc_out(F.relu(self.embedder.fc_out(self.embedder.fc(x))))
        logits = self.fc_policy_out(self.fc_policy(hidden))
        values = self.fc_value_out(self.fc_value(hidden))
        return logits, values.reshape(-1)

    @contextlib.contextmanager
    def edited(self, edits: Any, maze: Any, renderer: Any = None) -> Iterator[ImpalaCNN]:
        """Every forward pass inside the block runs with `edits` (an Edit or a list of them, see
        mazeprobe.agents.edits) prepared for one maze (a one-row maze table): for example
        `with net.edited(CheeseVector(layer), maze): net(x)`."""
        from mazeprobe.agents.edits import prepare_edits

        prepared = prepare_edits(edits, self, maze, renderer=renderer)
        with self.hooks(prepared.hooks(None)):
            yield self

    def hook_points(self) -> dict[str, HookPoint]:
        """Every HookPoint by its dotted module path, in forward order."""
        return {name: m for name, m in self.named_modules() if isinstance(m, HookPoint)}

    def activation_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-example activation shapes for this model's scale (see `activation_shapes`)."""
        return activation_shapes(self.scale)

    def _resolve_names(self, names: Iterable[str] | str | None) -> list[str]:
        points = self.hook_points()
        if names is None:
            return list(points)
        if isinstance(names, str):  # a lone name would otherwise be iterated per character
            names = [names]
        names = list(names)
        unknown = [n for n in names if n not in points]
        if unknown:
            raise UsageError(
                f"unknown activation name(s) {', '.join(map(repr, unknown))}; valid names are: "
                + ", ".join(points)
            )
        return names

    @contextlib.contextmanager
    def hooks(self, fwd_hooks: Iterable[tuple[str, HookFn]]) -> Iterator[ImpalaCNN]:
        """Attach `fn(activation, name)` hooks for the duration of a `with` block; a hook returning a
        tensor replaces the activation. Hooks are removed on exit, also when the block raises."""
        fwd_hooks = list(fwd_hooks)
        self._resolve_names([name for name, _ in fwd_hooks])  # validate all before attaching any
        points = self.hook_points()
        handles = []
        try:
            for name, fn in fwd_hooks:
                # Bind name/fn per hook; a bare closure would see only the loop's last values.
                def _hook(_mod: nn.Module, _inp: Any, out: torch.Tensor, _n: str = name, _f: HookFn = fn):
                    return _f(out, _n)

                handles.append(points[name].register_forward_hook(_hook))
            yield self
        finally:
            for h in handles:
                h.remove()

    def run_with_hooks(
        self, x: torch.Tensor, fwd_hooks: Iterable[tuple[str, HookFn]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward pass with temporary hooks (e.g. to patch or ablate an activation)."""
        with self.hooks(fwd_hooks):
            return self(x)

    def run_with_cache(
        self, x: torch.Tensor, names: Iterable[str] | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Forward pass that also returns {name: detached activation (B, ...)} for `names` (all if None).

        Grad mode is left to the caller, so the returned logits/values can still be differentiated."""
        names = self._resolve_names(names)
        cache: dict[str, torch.Tensor] = {}

        def _store(act: torch.Tensor, name: str) -> None:
            cache[name] = act.detach()

        with self.hooks([(n, _store) for n in names]):
            logits, values = self(x)
        return logits, values, cache

    @torch.no_grad()
    def action_probs(self, obs_uint8_bhwc: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Softmax action probabilities (B, 15) float64 for procgen uint8 (B, 64, 64, 3) observations."""
        if batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {batch_size}")
        obs = _check_obs(obs_uint8_bhwc)
        out = np.empty((obs.shape[0], N_ACTIONS), dtype=np.float64)
        device = self.device
        for start in range(0, obs.shape[0], batch_size):
            logits, _ = self(obs_to_tensor(obs[start : start + batch_size], device))
            # Softmax in float64 so each row sums to 1 to float64 precision.
            out[start : start + batch_size] = torch.softmax(logits.double(), dim=1).cpu().numpy()
        return out


def expected_state_shapes(scale: int) -> dict[str, tuple[int, ...]]:
    """{state-dict key: tensor shape} of an ImpalaCNN of this scale (built on the meta device, no memory)."""
    with torch.device("meta"):
        model = ImpalaCNN(scale)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device from the one vocabulary (mazeprobe.devices: auto, cpu, cuda, cuda:N), resolved on
    this machine; a UsageError says what is wrong."""
    return torch.device(devices.resolve_device(str(device)))


def random_impala(scale: int, seed: int) -> ImpalaCNN:
    """An ImpalaCNN with deterministic random weights (same scale and seed -> same weights).

    Weights are Xavier-uniform like the original training code; biases are small and random rather than
    zero so that checks of checkpoint loading also cover the biases. The global torch RNG is untouched."""
    model = ImpalaCNN(scale)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, p in model.named_parameters():  # a fixed order, so the draw is reproducible
            if name.endswith("weight"):
                nn.init.xavier_uniform_(p, generator=gen)
            else:
                fan_in = model.get_parameter(name[: -len("bias")] + "weight")[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                p.uniform_(-bound, bound, generator=gen)
    return model


def random_weight_activations(
    obs_uint8: np.ndarray,
    layer: str,
    scale: int,
    seed: int,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """`layer`'s activations (N, ...) float32 of `random_impala(scale, seed)` on procgen uint8
    observations (N, 64, 64, 3): the random-weight control of a probe. `device`: where the network runs
    (the weights are drawn on the CPU, so they are the same on every device)."""
    shapes = activation_shapes(scale)
    if layer not in shapes:
        raise UsageError(f"unknown activation name {layer!r}; valid names are: {', '.join(shapes)}")
    batch_size = check_int(batch_size, "batch_size", 1)
    dev = resolve_device(device)
    model = random_impala(scale, check_int(seed, "seed", 0)).to(dev).eval()
    obs = np.asarray(obs_uint8)
    out = np.empty((len(obs), *shapes[layer]), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(obs), batch_size):
            _, _, cache = model.run_with_cache(obs_to_tensor(obs[start : start + batch_size], dev), [layer])
            out[start : start + batch_size] = cache[layer].float().cpu().numpy()
    return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _infer_scale(state: Mapping[str, Any]) -> int | str:
    """The scale from the first conv's output channels, or a reason it cannot be found."""
    w = state.get("embedder.block1.conv.weight")
    if not isinstance(w, torch.Tensor):
        return "cannot infer the scale: embedder.block1.conv.weight is missing or not a tensor"
    if w.ndim != 4 or w.shape[0] % 16 or w.shape[0] < 16:
        return (
            "cannot infer the scale: embedder.block1.conv.weight has shape "
            f"{tuple(w.shape)}; expected (16*s, 3, 3, 3) for an integer s >= 1"
        )
    return w.shape[0] // 16


def model_from_state_dict(
    state: Mapping[str, Any], source: str = "<state dict>", device: str | torch.device = "cpu"
) -> ImpalaCNN:
    """Build an ImpalaCNN from a state dict with the published key names, inferring the scale.

    Any mismatch raises one CheckpointError naming `source` and listing every missing, unexpected and
    mis-shaped key, so a bad file is diagnosed in one go."""
    dev = resolve_device(device)
    scale = _infer_scale(state)
    # Key names do not depend on the scale, so missing/unexpected keys are reported even without one.
    expected = expected_state_shapes(scale if isinstance(scale, int) else 1)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems: list[str] = []
    if isinstance(scale, str):
        problems.append(scale)
    for k in unexpected:
        problems.append(f"unexpected key {k!r}")
    for k in missing:
        problems.append(f"missing key {k!r}")
    for k, shape in expected.items():
        if k not in state:
            continue
        v = state[k]
        if not isinstance(v, torch.Tensor):
            problems.append(f"key {k!r} is a {type(v).__name__}, not a tensor")
        elif isinstance(scale, int) and tuple(v.shape) != shape:
            problems.append(f"mis-shaped key {k!r}: expected {shape}, found {tuple(v.shape)}")
        elif not v.dtype.is_floating_point:
            problems.append(f"key {k!r} has dtype {v.dtype}, expected a float tensor")
        elif not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            problems.append(f"key {k!r} holds {bad} NaN or infinite value(s): the weights are broken")
    if problems:
        header = f"{source}: not an IMPALA maze checkpoint ({len(problems)} problem(s)):"
        raise CheckpointError("\n  ".join([header, *problems]))
    model = ImpalaCNN(scale)  # type: ignore[arg-type]  # an int here: a str would be in problems
    model.load_state_dict(dict(state), strict=True)
    return model.to(dev)


def _summarise_load_error(e: BaseException) -> str:
    msg = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # torch colours parts of its messages
    # torch's weights_only refusals bury the cause after boilerplate; keep just the cause.
    m = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\n\s*\n\s*Check the documentation|$)", msg, re.S)
    if m:
        msg = "the weights_only=True unpickler rejected it: " + m.group(1)
    msg = " ".join(msg.split())
    return f"{type(e).__name__}: {msg[:400]}"


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> ImpalaCNN:
    """Load a maze policy checkpoint: `{'model_state_dict': ...}` (other keys ignored) or a bare state dict.

    Only tensors and plain containers are unpickled (weights_only=True), so a hostile file cannot run code."""
    path = Path(path)
    dev = resolve_device(device)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():
            # Non-torch pickles trigger this warning just before the refusal we report below.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location=dev, weights_only=True)
    except Exception as e:  # torch raises many types (UnpicklingError, RuntimeError, EOFError...)
        why = _summarise_load_error(e)
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({why})") from e
    if isinstance(obj, Mapping) and STATE_KEY in obj:
        obj = obj[STATE_KEY]
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"{path}: expected a state dict or a dict with {STATE_KEY!r}, found a {type(obj).__name__}"
        )
    return model_from_state_dict(obj, source=str(path), device=dev)


def save_checkpoint(model: ImpalaCNN, path: str | os.PathLike[str]) -> Path:
    """Write `{'model_state_dict': ...}` (CPU tensors) atomically (atomic_path: a temporary name, then a
    rename), so a crash never leaves a half-written checkpoint under `path`."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({STATE_KEY: state}, tmp)
    return path


@torch.no_grad()
def forward_rate(model: ImpalaCNN, batch: int = 256, seconds: float = 3.0) -> float:
    """Observations per second through `model` in batches of `batch`, timed for about `seconds`."""
    if batch < 1 or seconds <= 0:
        raise UsageError(f"need batch >= 1 and seconds > 0, got batch={batch}, seconds={seconds}")
    dev = model.device
    x = torch.rand((batch, 3, OBS_SIZE, OBS_SIZE), generator=torch.Generator().manual_seed(0)).to(dev)

    def sync() -> None:
        if dev.type == "cuda":  # CUDA runs asynchronously; time only finished work
            torch.cuda.synchronize(dev)

    model(x)  # warm-up: first-call allocation and kernel selection are not steady-state speed
    sync()
    n = 0
    start = time.perf_counter()
    while True:
        model(x)
        n += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n * batch / elapsed
