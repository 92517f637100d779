"""The folder `mazeprobe resolve` owns: the one owner of the names of everything resolve writes.

    data/resolved/<first run's directory name>/     (the default; `resolve --out DIR` names another)
      resolutions.yaml       the outcomes, the numbers that decided them, every run read
      analyses/<plan>/       the fit of each analysis plan on the primary run (result.json, stats.*,
                             correlation.*, summary.txt: what `mazeprobe fit` writes)
      probes/<plan>.json     a probe plan's result on the run it read (with the plan's and the run's hashes)
      probes/<plan>.run      beside a result copied from a run's own folder (which names no run): that run
      pictures/              a picture of each chosen edit, drawn from its family's run

resolve reads run directories and writes only here (and the predictions directory's lock). Before it had a
folder of its own it wrote the same names into the runs: resolutions.yaml and analyses/ into the primary
run, probes/<plan>.json into the run the probe plan read. Such a run directory is read as a ResolvedDir
(`ResolvedDir(run_path)`): the proof of an old resolutions.yaml finds its fits and probe results there, and
resolve reuses a fit or probe result found there (or a fit `mazeprobe fit` wrote into RUN/analyses/) by
copying it here byte for byte, so the hashes the lock recorded still hold.
"""

from __future__ import annotations

import os
from pathlib import Path

from mazeprobe.atomic import write_bytes

DEFAULT_ROOT = Path("data/resolved")
"""Where `mazeprobe resolve` writes without --out: DEFAULT_ROOT/<the first run's directory name>/."""


class ResolvedDir:
    """The files of one resolved folder. Reading never writes; writing goes through temporary files."""

    RESOLUTIONS = "resolutions.yaml"
    ANALYSES = "analyses"
    PROBES = "probes"
    PICTURES = "pictures"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @classmethod
    def default(cls, run: str | os.PathLike) -> ResolvedDir:
        """data/resolved/<the run's directory name>: where resolve writes when no --out is given."""
        return cls(DEFAULT_ROOT / Path(run).resolve().name)

    def __repr__(self) -> str:
        return f"ResolvedDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def resolutions_path(self) -> Path:
        return self.path / self.RESOLUTIONS

    def analysis_dir(self, plan: str) -> Path:
        """The fit of analysis plan `plan` on the primary run (mazeprobe.stats.write_outputs' files)."""
        return self.path / self.ANALYSES / plan

    def fit_path(self, plan: str) -> Path:
        """The fit's result.json: what resolution events hash and the proof reads."""
        return self.analysis_dir(plan) / "result.json"

    @classmethod
    def probe_name(cls, plan: str) -> str:
        """A probe plan's result, relative to the folder: the name a source's `files` records."""
        return f"{cls.PROBES}/{plan}.json"

    def probe_path(self, plan: str) -> Path:
        return self.path / self.probe_name(plan)

    @property
    def pictures_dir(self) -> Path:
        return self.path / self.PICTURES

    def keep_fit(self, plan: str, found: Path) -> None:
        """Copy a reusable fit (the folder holding its result.json) into this folder, file by file, bytes
        unchanged: its hash, which resolution events record, stays the same."""
        target = self.analysis_dir(plan)
        if found.resolve() == target.resolve():
            return
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(found.iterdir()):
            if path.is_file():
                write_bytes(target / path.name, path.read_bytes())

    def probe_origin_path(self, plan: str) -> Path:
        """Beside a probe result copied from a run (written before resolve had a folder of its own, it
        names no run): the run it was copied from."""
        return self.path / self.PROBES / f"{plan}.run"

    def keep_probe(self, plan: str, found: Path, run: str | os.PathLike) -> None:
        """Copy a reusable probe plan result of `run` into this folder, bytes unchanged, noting the run it
        is of beside it (an older result names none; its bytes must stay as the lock hashed them)."""
        target = self.probe_path(plan)
        if found.resolve() != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(target, found.read_bytes())
            write_bytes(self.probe_origin_path(plan), f"{run}\n".encode())

    def probe_run(self, plan: str, doc: dict | None) -> str | None:
        """The run a kept probe result `doc` is of: the one it names, else (a copy of an older result) the
        one it was copied from; None when neither is known."""
        if doc and "run" in doc:
            return doc["run"]
        try:
            return self.probe_origin_path(plan).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None
