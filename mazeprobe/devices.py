"""Where a network computes: the one vocabulary (auto, cpu, cuda, cuda:N) and its one resolution.

Every command that runs a network, an experiment spec's `policy.device` and the library functions that
load or build a network read a device through here, so that `cuda:1` means the second GPU everywhere
(a run's manifest and its worker processes included). The form is checked without torch (a spec is
validated before anything heavy is imported); resolving asks torch what there is, and only when a GPU
could be meant.
"""

from __future__ import annotations

import re

from mazeprobe.errors import UsageError

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
DEVICE_HELP = "auto (cuda when there is one, else cpu), cpu, cuda or cuda:N"
DEVICE_FORMS = "auto, cpu, cuda or cuda:N"


def device_problem(text: object) -> str | None:
    """Why `text` is not a device of the vocabulary, or None when it is one."""
    if isinstance(text, str) and DEVICE_PATTERN.fullmatch(text):
        return None
    return f"expected {DEVICE_FORMS}, got {text!r}"


def parse_device(text: object) -> str:
    """`text` when it is a device of the vocabulary; else a UsageError saying what the forms are."""
    problem = device_problem(text)
    if problem:
        raise UsageError(f"device: {problem}")
    return str(text)


def resolve_device_name(requested: str, cuda_count: int) -> str:
    """The device `requested` means on a machine with `cuda_count` GPUs (0: none, or a torch without
    CUDA): auto is cuda when there is one, else cpu; an index is kept (cuda:1 stays cuda:1); a GPU that
    is not there is a UsageError. Pure, so that what a missing GPU means is testable on any machine."""
    requested = parse_device(requested)
    if requested == "auto":
        return "cuda" if cuda_count > 0 else "cpu"
    if requested == "cpu":
        return "cpu"
    if cuda_count <= 0:
        raise UsageError(
            f"device {requested!r} requested but CUDA is not available in this torch build/machine"
        )
    index = requested.partition(":")[2]
    if index and int(index) >= cuda_count:
        have = "cuda:0" if cuda_count == 1 else f"cuda:0..cuda:{cuda_count - 1}"
        raise UsageError(f"device {requested!r} requested but this machine has {cuda_count} GPU(s): {have}")
    # cuda:01 and cuda:1 are the same GPU: one spelling in manifests
    return f"cuda:{int(index)}" if index else "cuda"


def cuda_count() -> int:
    """How many GPUs torch can use here (0 without CUDA). Imports torch."""
    import torch  # here: the form check and cpu need no torch

    # at least one when CUDA is available (what is_available means; a test may stub it alone)
    return max(torch.cuda.device_count(), 1) if torch.cuda.is_available() else 0


def resolve_device(requested: str) -> str:
    """The device `requested` means on this machine, as a string torch reads ("cpu", "cuda", "cuda:1");
    UsageError for a bad form or a GPU that is not there. cpu is answered without importing torch."""
    if parse_device(requested) == "cpu":
        return "cpu"
    return resolve_device_name(requested, cuda_count())
