"""A run's manifest as typed records: what `manifest.json` holds, read once and checked, written back with
the same keys and values (the registry records the file's sha256, so the same run writes the same bytes).

    name, spec, spec_hash, spec_file   the experiment spec as run (ExperimentSpec.to_dict) and its hash
    policy                             the resolved policy (ResolvedPolicy)
    n_mazes, versions, git_commit      how many mazes, package versions, the checkout's commit
    started_at, ended_at, status       ISO-8601 Z times; running or complete
    rankings                           per ranked layer its cheese-channel ranking (runs with interventions)
    device, invocations                this invocation's device and every invocation's (since devices were
                                       recorded per invocation; older runs kept the device in `policy`)

Keys a newer mazeprobe adds are kept as they are (`extra`), so reading and writing back never drops them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mazeprobe.errors import MazeprobeError

if TYPE_CHECKING:
    from mazeprobe.experiments.spec import ExperimentSpec

_POLICY_FIELDS = ("checkpoint", "sha256", "scale", "device")
_ALWAYS = (
    "name", "spec", "spec_hash", "spec_file", "policy", "n_mazes", "versions", "git_commit", "started_at",
    "ended_at", "status",
)  # fmt: skip
"""Keys every manifest has written since the first (some may be null: spec_file, git_commit, ended_at)."""
_OPTIONAL = ("rankings", "device", "invocations")
"""Keys written only by some runs: left out on writing when the run has none."""
REQUIRED = ("spec", "spec_hash", "policy", "n_mazes", "status")
"""Without these a JSON object is not a run manifest."""


class ManifestError(MazeprobeError):
    """A manifest whose fields do not have the types a run writes."""


def _need(doc: dict, key: str, kinds: type | tuple[type, ...], where: str, none_ok: bool = False) -> Any:
    value = doc.get(key)
    if value is None and none_ok:
        return None
    # bool is an int in Python; no manifest field that holds a number holds a truth value
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _tuple(kinds)):
        names = "/".join(k.__name__ for k in _tuple(kinds)) + (" or null" if none_ok else "")
        raise ManifestError(f"{where}: {key} must be {names}; found {value!r:.60}")
    return value


def _tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


@dataclass(frozen=True)
class ResolvedPolicy:
    """The policy a run's workers rebuild: a checkpoint (its absolute path, sha256 and the network's scale)
    or a built-in agent with its parameters (its `describe()`, derived values filled in)."""

    name: str
    checkpoint: str | None = None
    sha256: str | None = None
    """The checkpoint's sha256 when the run started (absent in the first manifests)."""
    scale: int | None = None
    """The IMPALA scale of the checkpoint's network (absent before it was recorded)."""
    device: str | None = None
    """Only in manifests from before the device was recorded per invocation."""
    params: dict[str, Any] = field(default_factory=dict)
    """A built-in agent's parameters (everything its describe() gives besides the name)."""

    @property
    def is_checkpoint(self) -> bool:
        return self.checkpoint is not None

    @property
    def network(self) -> str:
        """What the run's episodes are of: the checkpoint's path, or the built-in agent's name."""
        return self.checkpoint or self.name

    @classmethod
    def from_dict(cls, doc: Any, where: str = "policy") -> ResolvedPolicy:
        if not isinstance(doc, dict):
            raise ManifestError(f"{where}: the resolved policy is a mapping; found {type(doc).__name__}")
        name = _need(doc, "name", str, where)
        if name != "checkpoint":
            return cls(name=name, params={k: v for k, v in doc.items() if k != "name"})
        return cls(
            name=name,
            checkpoint=_need(doc, "checkpoint", str, where),
            sha256=_need(doc, "sha256", str, where, none_ok=True),
            scale=_need(doc, "scale", int, where, none_ok=True),
            device=_need(doc, "device", str, where, none_ok=True),
            params={k: v for k, v in doc.items() if k not in ("name", *_POLICY_FIELDS)},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, **self.params}
        for key in _POLICY_FIELDS:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class Invocation:
    """One `mazeprobe run` (a start or a resume) of the run: when, and on which device (cpu, cuda:N)."""

    at: str
    device: str

    def to_dict(self) -> dict[str, str]:
        return {"at": self.at, "device": self.device}


@dataclass(frozen=True)
class Manifest:
    """A run's manifest.json, typed. `spec` stays the mapping the run recorded (ExperimentSpec.to_dict):
    the spec hash is computed from it, and older specs must read back as they were written; `experiment`
    is the same spec typed."""

    name: str | None
    spec: dict[str, Any]
    spec_hash: str
    spec_file: str | None
    policy: ResolvedPolicy
    n_mazes: int
    versions: dict[str, Any] | None
    git_commit: str | None
    started_at: str | None
    ended_at: str | None
    status: str
    rankings: dict[str, Any] | None = None
    device: str | None = None
    invocations: tuple[Invocation, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this version does not know, kept so that writing back changes nothing."""

    @classmethod
    def from_dict(cls, doc: dict[str, Any], where: str = "manifest.json") -> Manifest:
        for key in REQUIRED:
            if key not in doc:
                raise ManifestError(f"{where}: not a run manifest (no {key!r})")
        raw = doc.get("invocations")
        invocations = None
        if raw is not None:
            if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
                raise ManifestError(f"{where}: invocations must be a list of mappings")
            invocations = tuple(
                Invocation(_need(i, "at", str, f"{where} invocations"), _need(i, "device", str, where))
                for i in raw
            )
        return cls(
            name=_need(doc, "name", str, where, none_ok=True),
            spec=_need(doc, "spec", dict, where),
            spec_hash=_need(doc, "spec_hash", str, where),
            spec_file=_need(doc, "spec_file", str, where, none_ok=True),
            policy=ResolvedPolicy.from_dict(doc["policy"], f"{where} policy"),
            n_mazes=_need(doc, "n_mazes", int, where),
            versions=_need(doc, "versions", dict, where, none_ok=True),
            git_commit=_need(doc, "git_commit", str, where, none_ok=True),
            started_at=_need(doc, "started_at", str, where, none_ok=True),
            ended_at=_need(doc, "ended_at", str, where, none_ok=True),
            status=_need(doc, "status", str, where),
            rankings=_need(doc, "rankings", dict, where, none_ok=True),
            device=_need(doc, "device", str, where, none_ok=True),
            invocations=invocations,
            extra={k: v for k, v in doc.items() if k not in (*_ALWAYS, *_OPTIONAL)},
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as a run writes it (the same keys and values that were read)."""
        out: dict[str, Any] = {
            "name": self.name,
            "spec": self.spec,
            "spec_hash": self.spec_hash,
            "spec_file": self.spec_file,
            "policy": self.policy.to_dict(),
            "n_mazes": self.n_mazes,
            "versions": self.versions,
            "git_commit": self.git_commit,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": self.status,
            **self.extra,
        }
        if self.rankings is not None:
            out["rankings"] = self.rankings
        if self.device is not None:
            out["device"] = self.device
        if self.invocations is not None:
            out["invocations"] = [i.to_dict() for i in self.invocations]
        return out

    # --- what readers ask of it -------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def run_device(self) -> str:
        """The device this invocation computes on (older manifests kept it in the policy record)."""
        return self.device or self.policy.device or "cpu"

    @cached_property
    def experiment(self) -> ExperimentSpec:
        """The spec as run, typed (ExperimentSpec.from_dict of `spec`): what readers ask of it. `spec`
        itself stays the recorded mapping, which the hashes of the spec, its family and its designs
        are of."""
        from mazeprobe.experiments.spec import ExperimentSpec

        try:
            return ExperimentSpec.from_dict(self.spec, source=self.spec_file or "")
        except (KeyError, TypeError, ValueError, MazeprobeError) as exc:
            what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ManifestError(f"manifest.json: its spec is not one a run records ({what})") from None

    @property
    def maze_seed(self) -> int:
        return self.experiment.mazes.seed

    @property
    def chunk_mazes(self) -> int:
        return self.experiment.rollouts.chunk_mazes

    @property
    def activation_layers(self) -> tuple[str, ...]:
        acts = self.experiment.record.activations
        return acts.layers if acts is not None else ()

    @property
    def has_interventions(self) -> bool:
        # read from the mapping: the registry asks it of every run it is shown, and needs no edit built
        return bool(self.spec.get("interventions"))

    def invoked(self, device: str, at: str) -> Manifest:
        """The manifest with one more invocation on `device` (this invocation's device)."""
        return replace(self, device=device, invocations=(*(self.invocations or ()), Invocation(at, device)))
